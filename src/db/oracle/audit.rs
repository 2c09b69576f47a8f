//! `ASYNC_AUDIT` on Oracle: a batch of entries as array DML (the `oracle` crate's `Batch`: one
//! execute, one round trip and one commit for the whole batch), and retention in batches. The
//! table is created by `create_async_jobs_table.sql` (step 11).

use oracle::sql_type::OracleType;
use oracle::Connection;

use crate::db::DbError;
use crate::model::audit::{AuditEntry, MAX_CLIENT_BYTES, MAX_DETAIL_BYTES, MAX_OUTCOME_BYTES, MAX_PROCEDURE_BYTES};

use super::error::map_error;
use super::store::statement;

pub(super) const INSERT_SQL: &str = statement(include_str!("../../../sql/oracle/queries/audit_insert.sql"));
pub(super) const PURGE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/audit_purge.sql"));

fn db(e: oracle::Error) -> DbError {
    map_error(&e)
}

/// Each bind's type, fixed before the first row: a NULL in the first entry must not decide it,
/// and the widths are the columns' (entries are cut to them by `AuditEntry::bounded`).
const BIND_TYPES: [(&str, OracleType); 11] = [
    ("occurred_at", OracleType::Timestamp(6)),
    ("instance_id", OracleType::Varchar2(64)),
    ("client", OracleType::Varchar2(MAX_CLIENT_BYTES as u32)),
    ("action", OracleType::Varchar2(20)),
    ("procedure_name", OracleType::Varchar2(MAX_PROCEDURE_BYTES as u32)),
    ("job_id", OracleType::Varchar2(32)),
    ("outcome", OracleType::Varchar2(MAX_OUTCOME_BYTES as u32)),
    ("http_status", OracleType::Int64),
    ("duration_ms", OracleType::Int64),
    ("affected", OracleType::Int64),
    ("detail", OracleType::Varchar2(MAX_DETAIL_BYTES as u32)),
];

/// Inserts `entries` in one array DML execution and commits.
pub(super) fn record(conn: &Connection, instance_id: &str, entries: &[AuditEntry]) -> Result<(), DbError> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut batch = conn.batch(INSERT_SQL, entries.len()).build().map_err(db)?;
    for (name, oratype) in &BIND_TYPES {
        batch.set_type(*name, oratype).map_err(db)?;
    }
    for e in entries {
        batch
            .append_row_named(&[
                ("occurred_at", &e.at.naive_utc()),
                ("instance_id", &instance_id),
                ("client", &e.client.as_str()),
                ("action", &e.action.as_str()),
                ("procedure_name", &e.procedure.as_deref()),
                ("job_id", &e.job_id.as_deref()),
                ("outcome", &e.outcome.as_str()),
                ("http_status", &i64::from(e.http_status)),
                ("duration_ms", &e.duration_ms),
                ("affected", &e.affected),
                ("detail", &e.detail.as_deref()),
            ])
            .map_err(db)?;
    }
    // The last row filled the batch, so `append_row_named` has executed it already.
    conn.commit().map_err(db)
}

/// Deletes one batch of rows older than `older_than_days`; how many.
pub(super) fn purge(conn: &Connection, older_than_days: u32, batch: i64) -> Result<u64, DbError> {
    let deleted = conn
        .execute_named(PURGE_SQL, &[("days", &i64::from(older_than_days)), ("row_limit", &batch.max(1))])
        .map_err(db)?
        .row_count()
        .map_err(db)?;
    conn.commit().map_err(db)?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_insert_binds_every_column_by_name_once() {
        assert!(INSERT_SQL.starts_with("INSERT INTO ASYNC_AUDIT (OCCURRED_AT, INSTANCE_ID, CLIENT, ACTION,"));
        assert!(!INSERT_SQL.ends_with(';'), "plain SQL goes to OCI without its `;`");
        for (name, _) in &BIND_TYPES {
            assert_eq!(
                INSERT_SQL.matches(&format!(":{name},")).count() + INSERT_SQL.matches(&format!(":{name})")).count(),
                1,
                "{name}"
            );
        }
        assert_eq!(INSERT_SQL.matches(':').count(), BIND_TYPES.len(), "no other bind");
    }

    #[test]
    fn the_purge_deletes_old_rows_a_batch_at_a_time() {
        assert!(PURGE_SQL.starts_with("DELETE FROM ASYNC_AUDIT"));
        assert!(PURGE_SQL.contains("OCCURRED_AT < SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(:days, 'DAY')"));
        assert!(PURGE_SQL.ends_with("AND ROWNUM <= :row_limit"));
    }

    #[test]
    fn the_table_script_creates_the_audit_table_and_its_indexes() {
        let script = super::super::store::TABLE_SCRIPT;
        assert!(script.contains("CREATE TABLE ASYNC_AUDIT ("));
        assert!(script.contains("AUDIT_ID         NUMBER GENERATED ALWAYS AS IDENTITY PRIMARY KEY"));
        assert!(script.contains("CREATE INDEX ASYNC_AUDIT_TIME_IX ON ASYNC_AUDIT (OCCURRED_AT)"));
        assert!(script.contains("CREATE INDEX ASYNC_AUDIT_CLIENT_IX ON ASYNC_AUDIT (CLIENT, OCCURRED_AT)"));
        // Idempotent: created only where missing.
        assert!(script.contains("WHERE TABLE_NAME = 'ASYNC_AUDIT'"));
    }
}
