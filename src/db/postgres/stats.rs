//! Queue statistics on PostgreSQL: the unfinished jobs per procedure, capped counts and planner
//! estimates of ended jobs, and the instances table (`async_instances`). The counting statements
//! are sent unprepared (planned with their values each time), so an owner's count always uses
//! the `(status, owner)` index prefix rather than a generic plan made for every owner.

use std::time::Duration;

use serde_json::Value as Json;

use crate::db::DbError;
use crate::model::stats::{ActiveCounts, InstanceReport, InstanceRow};
use crate::model::JobStatus;

use super::connect::Object;
use super::error::map_error;

const ACTIVE_SQL: &str = include_str!("../../../sql/postgres/queries/stats_active.sql");
const COUNT_ENDED_SQL: &str = include_str!("../../../sql/postgres/queries/stats_count_ended.sql");
const ESTIMATE_SQL: &str = include_str!("../../../sql/postgres/queries/stats_estimate_ended.sql");
const REPORT_INSTANCE_SQL: &str = include_str!("../../../sql/postgres/queries/report_instance.sql");
const INSTANCES_SQL: &str = include_str!("../../../sql/postgres/queries/stats_instances.sql");

pub(super) async fn active_counts(client: &Object, owner: Option<&str>) -> Result<Vec<ActiveCounts>, DbError> {
    let rows = client.query(ACTIVE_SQL, &[&owner]).await.map_err(map_error)?;
    Ok(rows
        .iter()
        .map(|r| ActiveCounts {
            procedure: r.get(0),
            due: r.get::<_, Option<i64>>(1).unwrap_or(0),
            delayed: r.get::<_, Option<i64>>(2).unwrap_or(0),
            running: r.get::<_, Option<i64>>(3).unwrap_or(0),
            oldest_due_seconds: r.get::<_, Option<f64>>(4).map(|s| s.max(0.0)),
        })
        .collect())
}

pub(super) async fn count_ended(
    client: &Object,
    status: JobStatus,
    owner: Option<&str>,
    cap: i64,
) -> Result<i64, DbError> {
    let row = client.query_one(COUNT_ENDED_SQL, &[&status.as_str(), &owner, &cap]).await.map_err(map_error)?;
    Ok(row.get(0))
}

pub(super) async fn estimate_status(client: &Object, status: JobStatus) -> Result<Option<i64>, DbError> {
    let row = client.query_opt(ESTIMATE_SQL, &[&status.as_str()]).await.map_err(map_error)?;
    Ok(row.and_then(|r| r.get::<_, Option<i64>>(0)))
}

pub(super) async fn report_instance(client: &Object, report: &InstanceReport) -> Result<(), DbError> {
    let stmt = client.prepare_cached(REPORT_INSTANCE_SQL).await.map_err(map_error)?;
    client
        .execute(
            &stmt,
            &[&report.instance_id, &report.uptime_seconds, &report.workers, &report.workers_busy, &report.counts],
        )
        .await
        .map_err(map_error)?;
    Ok(())
}

pub(super) async fn instances(client: &Object, within: Duration) -> Result<Vec<InstanceRow>, DbError> {
    let stmt = client.prepare_cached(INSTANCES_SQL).await.map_err(map_error)?;
    let rows = client.query(&stmt, &[&within.as_secs_f64()]).await.map_err(map_error)?;
    Ok(rows
        .iter()
        .map(|r| InstanceRow {
            instance_id: r.get(0),
            started_at: r.get(1),
            heartbeat_at: r.get(2),
            heartbeat_age_seconds: r.get::<_, Option<f64>>(3).unwrap_or_default(),
            workers: r.get::<_, i32>(4).into(),
            workers_busy: r.get::<_, i32>(5).into(),
            counts: InstanceRow::parse_counts(&r.get::<_, Json>(6)),
        })
        .collect())
}
