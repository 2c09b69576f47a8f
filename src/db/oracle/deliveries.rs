//! `ASYNC_JOB_DELIVERIES` on Oracle, the webhook outbox: claiming due deliveries (leased),
//! recording each attempt, reading a job's delivery log. The rows are written by the job table's
//! trigger (`create_async_jobs_table.sql`, step 8) with the events. A job's callback is kept in
//! two plain columns, `CALLBACK_URL` and `CALLBACK_EVENTS` (a comma list), so the trigger can
//! test an event type with `INSTR` and needs no JSON function.

use std::time::Duration;

use chrono::NaiveDateTime;
use oracle::sql_type::RefCursor;
use oracle::{Connection, Row};

use crate::db::DbError;
use crate::model::callback::Callback;
use crate::model::delivery::{Delivery, DeliveryResult, DeliveryStatus, DueDelivery};
use crate::model::event::EventType;
use crate::model::JobId;

use super::convert::{clob_column, varchar};
use super::error::map_error;
use super::store::{statement, utc};

pub(super) const CLAIM_DELIVERIES_SQL: &str =
    statement(include_str!("../../../sql/oracle/queries/claim_deliveries.sql"));
pub(super) const RECORD_DELIVERY_SQL: &str = statement(include_str!("../../../sql/oracle/queries/record_delivery.sql"));
pub(super) const JOB_DELIVERIES_SQL: &str = statement(include_str!("../../../sql/oracle/queries/job_deliveries.sql"));

fn db(e: oracle::Error) -> DbError {
    map_error(&e)
}

/// The job's callback as the two columns hold it: (`CALLBACK_URL`, `CALLBACK_EVENTS`).
pub(super) fn callback_columns(callback: Option<&Callback>) -> (Option<String>, Option<String>) {
    match callback {
        None => (None, None),
        Some(c) => {
            let events: Vec<&str> = c.events.iter().map(|e| e.as_str()).collect();
            (Some(c.url.clone()), Some(events.join(",")))
        }
    }
}

/// The two columns read back.
pub(super) fn callback_from_columns(url: Option<String>, events: Option<String>) -> Option<Callback> {
    let url = url?;
    let events = events.unwrap_or_default().split(',').filter_map(|e| EventType::parse(e.trim())).collect();
    Some(Callback { url, events })
}

pub(super) fn claim(
    conn: &Connection,
    instance_id: &str,
    limit: usize,
    lease: Duration,
) -> Result<Vec<DueDelivery>, DbError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.statement(CLAIM_DELIVERIES_SQL).build().map_err(db)?;
    stmt.execute_named(&[
        ("claim_limit", &(limit as i64)),
        ("instance_id", &varchar(instance_id)),
        ("lease_seconds", &lease.as_secs_f64()),
        ("claimed", &oracle::sql_type::OracleType::RefCursor),
    ])
    .map_err(db)?;
    let mut cursor: RefCursor = stmt.bind_value("claimed").map_err(db)?;
    let mut out = Vec::new();
    for row in cursor.query().map_err(db)? {
        let r = row.map_err(db)?;
        out.push(DueDelivery {
            event_id: r.get(0).map_err(db)?,
            job_id: JobId::from_db(r.get(1).map_err(db)?),
            event_type: event_type(r.get(2).map_err(db)?)?,
            url: r.get(3).map_err(db)?,
            owner: r.get(4).map_err(db)?,
            attempts: r.get::<usize, Option<i32>>(5).map_err(db)?.unwrap_or(0),
            body: r.get(6).map_err(db)?,
        });
    }
    conn.commit().map_err(db)?;
    Ok(out)
}

pub(super) fn record(conn: &Connection, instance_id: &str, result: &DeliveryResult) -> Result<bool, DbError> {
    let attempt = serde_json::to_string(&result.attempt).map_err(|e| DbError::statement("bad_row", e.to_string()))?;
    let mut stmt = conn.statement(RECORD_DELIVERY_SQL).lob_locator().build().map_err(db)?;
    stmt.execute_named(&[
        ("status", &varchar(result.status.as_str())),
        ("retry_in", &result.retry_in.as_secs_f64()),
        ("attempt", &varchar(&attempt)),
        ("body", &clob_column(conn, Some(result.body.clone()))?),
        ("event_id", &result.event_id),
        ("instance_id", &varchar(instance_id)),
    ])
    .map_err(db)?;
    let changed = stmt.row_count().map_err(db)? > 0;
    conn.commit().map_err(db)?;
    Ok(changed)
}

pub(super) fn of_job(conn: &Connection, id: &JobId) -> Result<Vec<Delivery>, DbError> {
    let rows = conn.query_named(JOB_DELIVERIES_SQL, &[("job_id", &varchar(id.as_str()))]).map_err(db)?;
    rows.map(|r| delivery_from_row(&r.map_err(db)?)).collect()
}

fn delivery_from_row(r: &Row) -> Result<Delivery, DbError> {
    let time = |i: usize| r.get::<usize, Option<NaiveDateTime>>(i).map(utc).map_err(db);
    let status: String = r.get(4).map_err(db)?;
    let status = DeliveryStatus::parse(&status)
        .ok_or_else(|| DbError::statement("bad_row", format!("ASYNC_JOB_DELIVERIES holds a status {status:?}")))?;
    let log: Option<String> = r.get(9).map_err(db)?;
    Ok(Delivery {
        event_id: r.get(0).map_err(db)?,
        job_id: JobId::from_db(r.get(1).map_err(db)?),
        event_type: event_type(r.get(2).map_err(db)?)?,
        url: r.get(3).map_err(db)?,
        status,
        attempts: r.get::<usize, Option<i32>>(5).map_err(db)?.unwrap_or(0),
        created_at: time(6)?.unwrap_or_default(),
        next_attempt_at: time(7)?.filter(|_| status == DeliveryStatus::Pending),
        delivered_at: time(8)?,
        attempt_log: log.and_then(|l| serde_json::from_str(&l).ok()).unwrap_or_else(|| serde_json::json!([])),
    })
}

fn event_type(kind: String) -> Result<EventType, DbError> {
    EventType::parse(&kind)
        .ok_or_else(|| DbError::statement("bad_row", format!("ASYNC_JOB_DELIVERIES holds an event type {kind:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_leased_skip_locked_rows_and_fetch_at_most_the_limit() {
        let sql = CLAIM_DELIVERIES_SQL;
        assert!(sql.contains("FOR UPDATE SKIP LOCKED;") && sql.contains("LIMIT :claim_limit;"));
        assert!(sql.contains("(LEASE_UNTIL IS NULL OR LEASE_UNTIL < SYS_EXTRACT_UTC(SYSTIMESTAMP))"));
        assert!(sql.contains("NUMTODSINTERVAL(:lease_seconds, 'SECOND')"));
        assert!(sql.contains("WHERE EVENT_ID = l_ids(i) AND STATUS = 'pending'"));
        assert!(!sql.contains("ROWNUM") && !sql.contains("FETCH FIRST"));
    }

    #[test]
    fn attempts_are_recorded_only_by_the_holder() {
        let sql = RECORD_DELIVERY_SQL;
        assert!(sql.ends_with("WHERE EVENT_ID = :event_id AND INSTANCE_ID = :instance_id AND STATUS = 'pending'"));
        // The body is fixed by the first attempt; the LOB bind comes after the other SET binds.
        assert!(sql.contains("BODY = NVL(BODY, :body)\n WHERE"));
        assert!(sql.contains("|| ',' || :attempt || ']'") && sql.contains("INSTANCE_ID = NULL, LEASE_UNTIL = NULL"));
        assert!(JOB_DELIVERIES_SQL.contains("WHERE JOB_ID = :job_id\n ORDER BY EVENT_ID"));
    }

    #[test]
    fn the_trigger_writes_deliveries_with_their_events_and_deletes_them_with_the_job() {
        let script = super::super::store::TABLE_SCRIPT;
        assert!(script.contains("RETURNING EVENT_ID INTO l_event_id;"));
        assert!(script.contains("INSTR(',' || :NEW.CALLBACK_EVENTS || ',', ',' || l_type || ',') > 0"));
        assert!(script.contains("VALUES (l_event_id, :NEW.JOB_ID, l_type, :NEW.CALLBACK_URL, :NEW.OWNER);"));
        assert!(script.contains("DELETE FROM ASYNC_JOB_DELIVERIES WHERE JOB_ID = :OLD.JOB_ID;"));
        // The outbox exists before the trigger that writes it is compiled.
        assert!(script.find("CREATE TABLE ASYNC_JOB_DELIVERIES") < script.find("CREATE OR REPLACE TRIGGER"));
    }

    #[test]
    fn callback_columns_round_trip() {
        let cb = Callback { url: "http://h/x".into(), events: vec![EventType::Completed, EventType::Started] };
        let (url, events) = callback_columns(Some(&cb));
        assert_eq!(events.as_deref(), Some("completed,started"));
        assert_eq!(callback_from_columns(url, events), Some(cb));
        assert_eq!(callback_columns(None), (None, None));
        assert_eq!(callback_from_columns(None, Some("failed".into())), None);
    }
}
