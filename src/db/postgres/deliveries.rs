//! `async_job_deliveries` on PostgreSQL, the webhook outbox: claiming due deliveries (leased),
//! recording each attempt, reading a job's delivery log. The rows themselves are written by the
//! event table's trigger (`create_async_jobs_table.sql`), with the events.

use std::time::Duration;

use tokio_postgres::Row;

use crate::db::DbError;
use crate::model::delivery::{Delivery, DeliveryResult, DeliveryStatus, DueDelivery};
use crate::model::event::EventType;
use crate::model::JobId;

use super::connect::Object;
use super::error::map_error;

const CLAIM_SQL: &str = include_str!("../../../sql/postgres/queries/claim_deliveries.sql");
const RECORD_SQL: &str = include_str!("../../../sql/postgres/queries/record_delivery.sql");
const JOB_DELIVERIES_SQL: &str = include_str!("../../../sql/postgres/queries/job_deliveries.sql");

pub(super) async fn claim(
    client: &Object,
    instance_id: &str,
    limit: usize,
    lease: Duration,
) -> Result<Vec<DueDelivery>, DbError> {
    let stmt = client.prepare_cached(CLAIM_SQL).await.map_err(map_error)?;
    let rows = client.query(&stmt, &[&instance_id, &lease.as_secs_f64(), &(limit as i64)]).await.map_err(map_error)?;
    rows.iter()
        .map(|r| {
            Ok(DueDelivery {
                event_id: r.get(0),
                job_id: JobId::from_db(r.get(1)),
                event_type: event_type(r.get(2))?,
                url: r.get(3),
                owner: r.get(4),
                attempts: r.get(5),
                body: r.get(6),
            })
        })
        .collect()
}

pub(super) async fn record(client: &Object, instance_id: &str, result: &DeliveryResult) -> Result<bool, DbError> {
    let attempt = serde_json::to_value(&result.attempt).map_err(|e| DbError::statement("bad_row", e.to_string()))?;
    let stmt = client.prepare_cached(RECORD_SQL).await.map_err(map_error)?;
    let row = client
        .query_opt(
            &stmt,
            &[
                &result.event_id,
                &instance_id,
                &result.status.as_str(),
                &result.retry_in.as_secs_f64(),
                &result.body,
                &attempt,
            ],
        )
        .await
        .map_err(map_error)?;
    Ok(row.is_some())
}

pub(super) async fn of_job(client: &Object, id: &JobId) -> Result<Vec<Delivery>, DbError> {
    let stmt = client.prepare_cached(JOB_DELIVERIES_SQL).await.map_err(map_error)?;
    let rows = client.query(&stmt, &[&id.as_str()]).await.map_err(map_error)?;
    rows.iter().map(delivery_from_row).collect()
}

fn delivery_from_row(r: &Row) -> Result<Delivery, DbError> {
    let status: String = r.get(4);
    let status = DeliveryStatus::parse(&status)
        .ok_or_else(|| DbError::statement("bad_row", format!("async_job_deliveries holds a status {status:?}")))?;
    Ok(Delivery {
        event_id: r.get(0),
        job_id: JobId::from_db(r.get(1)),
        event_type: event_type(r.get(2))?,
        url: r.get(3),
        status,
        attempts: r.get(5),
        created_at: r.get(6),
        next_attempt_at: Some(r.get(7)).filter(|_| status == DeliveryStatus::Pending),
        delivered_at: r.get(8),
        attempt_log: r.get(9),
    })
}

fn event_type(kind: String) -> Result<EventType, DbError> {
    EventType::parse(&kind)
        .ok_or_else(|| DbError::statement("bad_row", format!("async_job_deliveries holds an event type {kind:?}")))
}
