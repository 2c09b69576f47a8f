//! `ASYNC_JOB_EVENTS` on Oracle: reading a job's history and tailing every job's new events.
//! The rows are written by the job table's trigger (`create_async_jobs_table.sql`, step 8).
//! Oracle has no NOTIFY procgate uses: instances find other instances' events by polling
//! (`EVENT_POLL_INTERVAL`), so announcing is not needed.

use chrono::NaiveDateTime;
use oracle::{Connection, Row};

use crate::db::DbError;
use crate::model::event::{EventType, JobEvent, ReportedFigures};
use crate::model::{JobError, JobId, JobStatus};

use super::convert::varchar;
use super::error::map_error;
use super::store::{statement, utc};

pub(super) const JOB_EVENTS_SQL: &str = statement(include_str!("../../../sql/oracle/queries/job_events.sql"));
pub(super) const EVENTS_SINCE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/events_since.sql"));
pub(super) const PURGE_DELETED_SQL: &str =
    statement(include_str!("../../../sql/oracle/queries/purge_deleted_events.sql"));
pub(super) const LAST_EVENT_ID_SQL: &str = statement(include_str!("../../../sql/oracle/queries/last_event_id.sql"));

pub(super) fn job_events(conn: &Connection, id: &JobId, after: i64, limit: i64) -> Result<Vec<JobEvent>, DbError> {
    let rows = conn
        .query_named(JOB_EVENTS_SQL, &[("job_id", &varchar(id.as_str())), ("after_id", &after), ("row_limit", &limit)])
        .map_err(db)?;
    rows.map(|r| event_from_row(&r.map_err(db)?)).collect()
}

pub(super) fn events_since(
    conn: &Connection,
    after: i64,
    missing: &[i64],
    limit: i64,
) -> Result<Vec<JobEvent>, DbError> {
    let (lowest, list) = missing_binds(missing);
    let rows = conn
        .query_named(
            EVENTS_SINCE_SQL,
            &[("after_id", &after), ("lowest_missing", &lowest), ("missing", &varchar(&list)), ("row_limit", &limit)],
        )
        .map_err(db)?;
    rows.map(|r| event_from_row(&r.map_err(db)?)).collect()
}

pub(super) fn last_event_id(conn: &Connection) -> Result<i64, DbError> {
    conn.query_row_as::<i64>(LAST_EVENT_ID_SQL, &[]).map_err(db)
}

pub(super) fn purge_deleted(conn: &Connection, age: std::time::Duration, batch: i64) -> Result<u64, DbError> {
    let deleted = conn
        .execute_named(PURGE_DELETED_SQL, &[("age_seconds", &age.as_secs_f64()), ("row_limit", &batch)])
        .map_err(db)?
        .row_count()
        .map_err(db)?;
    conn.commit().map_err(db)?;
    Ok(deleted)
}

/// `:lowest_missing` and `:missing` (a comma list that fits a VARCHAR2(4000): the lowest ids
/// first; the others wait for the next read).
fn missing_binds(missing: &[i64]) -> (i64, String) {
    let mut ids: Vec<i64> = missing.to_vec();
    ids.sort_unstable();
    let mut list = String::new();
    for id in &ids {
        let item = id.to_string();
        if list.len() + item.len() + 1 > 4000 {
            break;
        }
        if !list.is_empty() {
            list.push(',');
        }
        list.push_str(&item);
    }
    // With nothing missing, the range is empty (lowest > any :after_id).
    (ids.first().copied().unwrap_or(i64::MAX), list)
}

fn db(e: oracle::Error) -> DbError {
    map_error(&e)
}

fn event_from_row(r: &Row) -> Result<JobEvent, DbError> {
    let text = |i: usize| r.get::<usize, Option<String>>(i).map_err(db);
    let number = |i: usize| r.get::<usize, Option<i64>>(i).map_err(db);
    let time = |i: usize| r.get::<usize, Option<NaiveDateTime>>(i).map(utc).map_err(db);
    let invalid =
        |what: &str, v: &str| DbError::statement("bad_row", format!("ASYNC_JOB_EVENTS holds an unknown {what} {v:?}"));
    let kind = text(2)?.unwrap_or_default();
    let error = match text(9)? {
        Some(code) => Some(JobError { code, message: text(10)?.unwrap_or_default() }),
        None => None,
    };
    let status = text(6)?.unwrap_or_default();
    Ok(JobEvent {
        event_id: number(0)?.unwrap_or(0),
        job_id: JobId::from_db(text(1)?.unwrap_or_default()),
        event_type: EventType::parse(&kind).ok_or_else(|| invalid("event type", &kind))?,
        at: time(3)?.unwrap_or_default(),
        owner: text(4)?.unwrap_or_default(),
        procedure_name: text(5)?.unwrap_or_default(),
        status: status.parse::<JobStatus>().map_err(|_| invalid("status", &status))?,
        progress: number(7)?.unwrap_or(0).clamp(0, 100) as i16,
        attempt: number(8)?.unwrap_or(0) as i32,
        error,
        message: text(11)?,
        figures: ReportedFigures {
            percent: r.get::<usize, Option<f64>>(12).map_err(db)?,
            processed: number(13)?,
            total: number(14)?,
        },
        run_at: time(15)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ids_become_a_bounded_comma_list() {
        assert_eq!(missing_binds(&[]), (i64::MAX, String::new()));
        assert_eq!(missing_binds(&[12, 7, 9]), (7, "7,9,12".to_string()));
        let many: Vec<i64> = (1_000_000_000..1_000_001_000).collect();
        let (lowest, list) = missing_binds(&many);
        assert_eq!(lowest, 1_000_000_000);
        assert!(list.len() <= 4000 && list.starts_with("1000000000,1000000001"));
    }
}
