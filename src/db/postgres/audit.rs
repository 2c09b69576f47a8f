//! `async_audit` on PostgreSQL: a batch of entries in one `INSERT ... SELECT FROM unnest(...)`
//! (one round trip, one commit, however many entries), and retention in batches.

use chrono::{DateTime, Utc};

use crate::db::DbError;
use crate::model::audit::AuditEntry;

use super::connect::Object;
use super::error::map_error;

const INSERT_SQL: &str = include_str!("../../../sql/postgres/queries/audit_insert.sql");
const PURGE_SQL: &str = include_str!("../../../sql/postgres/queries/audit_purge.sql");

/// Inserts `entries` (already cut to their columns' widths) as one statement.
pub(super) async fn record(client: &Object, instance_id: &str, entries: &[AuditEntry]) -> Result<(), DbError> {
    if entries.is_empty() {
        return Ok(());
    }
    let at: Vec<DateTime<Utc>> = entries.iter().map(|e| e.at).collect();
    let clients: Vec<&str> = entries.iter().map(|e| e.client.as_str()).collect();
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    let procedures: Vec<Option<&str>> = entries.iter().map(|e| e.procedure.as_deref()).collect();
    let job_ids: Vec<Option<&str>> = entries.iter().map(|e| e.job_id.as_deref()).collect();
    let outcomes: Vec<&str> = entries.iter().map(|e| e.outcome.as_str()).collect();
    let statuses: Vec<i32> = entries.iter().map(|e| i32::from(e.http_status)).collect();
    let durations: Vec<i64> = entries.iter().map(|e| e.duration_ms).collect();
    let affected: Vec<Option<i64>> = entries.iter().map(|e| e.affected).collect();
    let details: Vec<Option<&str>> = entries.iter().map(|e| e.detail.as_deref()).collect();
    let stmt = client.prepare_cached(INSERT_SQL).await.map_err(map_error)?;
    client
        .execute(
            &stmt,
            &[
                &instance_id,
                &at,
                &clients,
                &actions,
                &procedures,
                &job_ids,
                &outcomes,
                &statuses,
                &durations,
                &affected,
                &details,
            ],
        )
        .await
        .map_err(map_error)?;
    Ok(())
}

/// Deletes one batch of rows older than `older_than_days`; how many.
pub(super) async fn purge(client: &Object, older_than_days: u32, batch: i64) -> Result<u64, DbError> {
    let days = i32::try_from(older_than_days).unwrap_or(i32::MAX);
    let stmt = client.prepare_cached(PURGE_SQL).await.map_err(map_error)?;
    client.execute(&stmt, &[&days, &batch]).await.map_err(map_error)
}
