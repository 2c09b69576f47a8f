//! Queue statistics on Oracle: the unfinished jobs per procedure, capped counts of ended jobs, and
//! the instances table (`ASYNC_INSTANCES`). Oracle's answers stay exact-capped: no planner
//! estimate above the cap (its histograms would need a sample-size correction that no test here
//! could check), so `GET /stats` says "more than the cap" instead.

use std::time::Duration;

use chrono::NaiveDateTime;
use oracle::Connection;
use serde_json::Value as Json;

use crate::db::DbError;
use crate::model::stats::{ActiveCounts, InstanceReport, InstanceRow};
use crate::model::JobStatus;

use super::convert::{clob_column, varchar, varchar_opt};
use super::error::map_error;
use super::store::{statement, utc};

pub(super) const ACTIVE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/stats_active.sql"));
pub(super) const COUNT_ENDED_SQL: &str = statement(include_str!("../../../sql/oracle/queries/stats_count_ended.sql"));
pub(super) const REPORT_INSTANCE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/report_instance.sql"));
pub(super) const INSTANCES_SQL: &str = statement(include_str!("../../../sql/oracle/queries/stats_instances.sql"));

fn db(e: oracle::Error) -> DbError {
    map_error(&e)
}

pub(super) fn active_counts(conn: &Connection, owner: Option<&str>) -> Result<Vec<ActiveCounts>, DbError> {
    let mut out = Vec::new();
    for row in conn.query_named(ACTIVE_SQL, &[("owner", &varchar_opt(owner))]).map_err(db)? {
        let r = row.map_err(db)?;
        out.push(ActiveCounts {
            procedure: r.get(0).map_err(db)?,
            due: r.get::<usize, Option<i64>>(1).map_err(db)?.unwrap_or(0),
            delayed: r.get::<usize, Option<i64>>(2).map_err(db)?.unwrap_or(0),
            running: r.get::<usize, Option<i64>>(3).map_err(db)?.unwrap_or(0),
            oldest_due_seconds: r.get::<usize, Option<f64>>(4).map_err(db)?.map(|s| s.max(0.0)),
        });
    }
    Ok(out)
}

pub(super) fn count_ended(conn: &Connection, status: JobStatus, owner: Option<&str>, cap: i64) -> Result<i64, DbError> {
    let row = conn
        .query_row_named(
            COUNT_ENDED_SQL,
            &[("status", &varchar(status.as_str())), ("owner", &varchar_opt(owner)), ("cap", &cap)],
        )
        .map_err(db)?;
    row.get(0).map_err(db)
}

pub(super) fn report_instance(conn: &Connection, report: &InstanceReport) -> Result<(), DbError> {
    let counts = clob_column(conn, Some(report.counts.to_string()))?;
    conn.execute_named(
        REPORT_INSTANCE_SQL,
        &[
            ("instance_id", &varchar(&report.instance_id)),
            ("uptime", &report.uptime_seconds),
            ("workers", &report.workers),
            ("workers_busy", &report.workers_busy),
            ("counts", &counts),
        ],
    )
    .map_err(db)?;
    conn.commit().map_err(db)
}

pub(super) fn instances(conn: &Connection, within: Duration) -> Result<Vec<InstanceRow>, DbError> {
    let mut out = Vec::new();
    for row in conn.query_named(INSTANCES_SQL, &[("within", &within.as_secs_f64())]).map_err(db)? {
        let r = row.map_err(db)?;
        let counts: Option<String> = r.get(6).map_err(db)?;
        out.push(InstanceRow {
            instance_id: r.get(0).map_err(db)?,
            started_at: utc(r.get::<usize, Option<NaiveDateTime>>(1).map_err(db)?),
            heartbeat_at: utc(r.get::<usize, Option<NaiveDateTime>>(2).map_err(db)?),
            heartbeat_age_seconds: r.get::<usize, Option<f64>>(3).map_err(db)?.unwrap_or_default(),
            workers: r.get::<usize, Option<i64>>(4).map_err(db)?.unwrap_or_default(),
            workers_busy: r.get::<usize, Option<i64>>(5).map_err(db)?.unwrap_or_default(),
            counts: InstanceRow::parse_counts(&Json::String(counts.unwrap_or_default())),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_bind_by_name_and_read_through_the_status_indexes() {
        assert!(ACTIVE_SQL.contains("STATUS = 'pending' AND (:owner IS NULL OR OWNER = :owner)"));
        assert!(ACTIVE_SQL.contains("STATUS = 'running' AND (:owner IS NULL OR OWNER = :owner)"));
        assert!(COUNT_ENDED_SQL.contains("STATUS = :status") && COUNT_ENDED_SQL.contains("ROWNUM <= :cap"));
        assert!(!COUNT_ENDED_SQL.ends_with(';'), "plain SQL goes to OCI without its `;`");
        // One round trip: the merge and the removal of instances silent for an hour.
        assert!(REPORT_INSTANCE_SQL.starts_with("BEGIN") && REPORT_INSTANCE_SQL.ends_with("END;"));
        assert!(REPORT_INSTANCE_SQL.contains("MERGE INTO ASYNC_INSTANCES"));
        assert!(REPORT_INSTANCE_SQL.contains("INTERVAL '1' HOUR AND INSTANCE_ID <> :instance_id"));
        assert!(INSTANCES_SQL.contains("NUMTODSINTERVAL(:within, 'SECOND')"));
    }

    #[test]
    fn the_table_script_creates_the_instances_table_and_the_ended_index() {
        let script = super::super::store::TABLE_SCRIPT;
        assert!(script.contains("CREATE TABLE ASYNC_INSTANCES ("));
        assert!(script.contains("CREATE INDEX ASYNC_JOBS_ENDED_OWNER_IX ON ASYNC_JOBS (STATUS, OWNER)"));
    }
}
