//! `async_job_events` on PostgreSQL: reading a job's history, tailing every job's new events,
//! and telling other instances (NOTIFY) that there are new ones. The rows themselves are written
//! by the job table's triggers (`create_async_jobs_table.sql`).

use tokio_postgres::Row;

use crate::db::DbError;
use crate::model::event::{EventType, JobEvent, ReportedFigures};
use crate::model::{JobError, JobId, JobStatus};

use super::connect::Object;
use super::error::map_error;

const JOB_EVENTS_SQL: &str = include_str!("../../../sql/postgres/queries/job_events.sql");
const EVENTS_SINCE_SQL: &str = include_str!("../../../sql/postgres/queries/events_since.sql");
const LAST_EVENT_ID_SQL: &str = include_str!("../../../sql/postgres/queries/last_event_id.sql");
const PURGE_DELETED_SQL: &str = include_str!("../../../sql/postgres/queries/purge_deleted_events.sql");
const ANNOUNCE_SQL: &str = include_str!("../../../sql/postgres/queries/announce_events.sql");
/// The NOTIFY channel of `announce_events.sql` (payload: the announcing instance).
pub(super) const EVENTS_CHANNEL: &str = "procgate_events";

pub(super) async fn job_events(client: &Object, id: &JobId, after: i64, limit: i64) -> Result<Vec<JobEvent>, DbError> {
    let stmt = client.prepare_cached(JOB_EVENTS_SQL).await.map_err(map_error)?;
    let rows = client.query(&stmt, &[&id.as_str(), &after, &limit]).await.map_err(map_error)?;
    rows.iter().map(event_from_row).collect()
}

pub(super) async fn events_since(
    client: &Object,
    after: i64,
    missing: &[i64],
    limit: i64,
) -> Result<Vec<JobEvent>, DbError> {
    let stmt = client.prepare_cached(EVENTS_SINCE_SQL).await.map_err(map_error)?;
    let rows = client.query(&stmt, &[&after, &missing, &limit]).await.map_err(map_error)?;
    rows.iter().map(event_from_row).collect()
}

pub(super) async fn last_event_id(client: &Object) -> Result<i64, DbError> {
    let stmt = client.prepare_cached(LAST_EVENT_ID_SQL).await.map_err(map_error)?;
    Ok(client.query_one(&stmt, &[]).await.map_err(map_error)?.get(0))
}

pub(super) async fn purge_deleted(client: &Object, age: std::time::Duration, batch: i64) -> Result<u64, DbError> {
    let stmt = client.prepare_cached(PURGE_DELETED_SQL).await.map_err(map_error)?;
    client.execute(&stmt, &[&age.as_secs_f64(), &batch]).await.map_err(map_error)
}

pub(super) async fn announce(client: &Object, instance_id: &str) -> Result<(), DbError> {
    let stmt = client.prepare_cached(ANNOUNCE_SQL).await.map_err(map_error)?;
    client.execute(&stmt, &[&instance_id]).await.map_err(map_error)?;
    Ok(())
}

fn event_from_row(r: &Row) -> Result<JobEvent, DbError> {
    let kind: String = r.get(2);
    let status: String = r.get(6);
    let invalid =
        |what: &str, v: &str| DbError::statement("bad_row", format!("async_job_events holds an unknown {what} {v:?}"));
    let error_code: Option<String> = r.get(9);
    Ok(JobEvent {
        event_id: r.get(0),
        job_id: JobId::from_db(r.get(1)),
        event_type: EventType::parse(&kind).ok_or_else(|| invalid("event type", &kind))?,
        at: r.get(3),
        owner: r.get(4),
        procedure_name: r.get(5),
        status: status.parse::<JobStatus>().map_err(|_| invalid("status", &status))?,
        progress: r.get(7),
        attempt: r.get(8),
        error: error_code.map(|code| JobError { code, message: r.get::<_, Option<String>>(10).unwrap_or_default() }),
        message: r.get(11),
        figures: ReportedFigures { percent: r.get(12), processed: r.get(13), total: r.get(14) },
        run_at: r.get(15),
    })
}
