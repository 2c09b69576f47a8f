//! Retention: deletes terminal jobs older than `JOB_RETENTION_DAYS`, completed and failed jobs
//! beyond the newest `JOB_KEEP_COMPLETED` / `JOB_KEEP_FAILED` of each, and the `deleted` events
//! of jobs deleted more than [`DELETED_EVENTS_KEPT`] ago, at start and then every
//! `CLEANUP_INTERVAL`, in batches so no statement holds many locks for long; and the audit trail's
//! rows older than `AUDIT_RETENTION_DAYS` (0: kept forever).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::db::{DbError, JobStore};

use crate::model::{JobStatus, PurgeFilter};

/// Rows deleted per statement.
pub const PURGE_BATCH: i64 = 5000;
/// How long a deleted job's `deleted` event is kept (for readers on other instances).
pub const DELETED_EVENTS_KEPT: Duration = Duration::from_secs(24 * 3600);

/// Deletes every job matching `filter` (terminal statuses only), batch by batch.
pub async fn purge(store: &dyn JobStore, filter: &PurgeFilter) -> Result<u64, DbError> {
    in_batches(|| store.purge_batch(filter, PURGE_BATCH)).await
}

/// Runs `batch` (which changes at most [`PURGE_BATCH`] rows) until a batch falls short; the total.
pub(crate) async fn in_batches<F, Fut>(mut batch: F) -> Result<u64, DbError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u64, DbError>>,
{
    let mut total = 0;
    loop {
        let n = batch().await?;
        total += n;
        if n < PURGE_BATCH as u64 {
            return Ok(total);
        }
    }
}

/// How many of the most recently ended jobs of each status the cleaner keeps, whatever their
/// age allows (0: no limit by count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KeepNewest {
    /// `JOB_KEEP_COMPLETED`.
    pub completed: u32,
    /// `JOB_KEEP_FAILED`.
    pub failed: u32,
}

impl KeepNewest {
    /// The statuses limited by count, with how many of each are kept.
    fn limits(self) -> impl Iterator<Item = (JobStatus, i64)> {
        [(JobStatus::Completed, self.completed), (JobStatus::Failed, self.failed)]
            .into_iter()
            .filter(|(_, keep)| *keep > 0)
            .map(|(status, keep)| (status, i64::from(keep)))
    }
}

/// Deletes the jobs of each limited status beyond its newest N, batch by batch.
pub async fn purge_beyond_kept(store: &dyn JobStore, keep: KeepNewest) -> Result<u64, DbError> {
    let mut total = 0;
    for (status, n) in keep.limits() {
        total += in_batches(|| store.purge_beyond_kept(status, n, PURGE_BATCH)).await?;
    }
    Ok(total)
}

pub async fn run(
    store: Arc<dyn JobStore>,
    retention_days: u32,
    keep: KeepNewest,
    interval: Duration,
    stop: CancellationToken,
    audit_retention_days: u32,
) {
    let filter =
        PurgeFilter { statuses: JobStatus::TERMINAL.to_vec(), older_than_days: Some(retention_days), owner: None };
    loop {
        match purge(&*store, &filter).await {
            Ok(0) => tracing::debug!("cleanup: nothing to delete"),
            Ok(n) => tracing::info!(deleted = n, retention_days, "cleanup deleted old jobs"),
            Err(e) => tracing::warn!(error = %e, "cleanup failed; will try again next interval"),
        }
        match purge_beyond_kept(&*store, keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deleted = n,
                keep_completed = keep.completed,
                keep_failed = keep.failed,
                "cleanup deleted jobs beyond the newest kept"
            ),
            Err(e) => tracing::warn!(error = %e, "cleanup by count failed; will try again next interval"),
        }
        if let Err(e) = purge_deleted_events(&*store).await {
            tracing::warn!(error = %e, "cleanup of deleted jobs' events failed; will try again next interval");
        }
        match purge_audit(&*store, audit_retention_days).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, audit_retention_days, "cleanup deleted old audit entries"),
            Err(e) => tracing::warn!(error = %e, "cleanup of the audit trail failed; will try again next interval"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}

async fn purge_deleted_events(store: &dyn JobStore) -> Result<u64, DbError> {
    in_batches(|| store.purge_deleted_events(DELETED_EVENTS_KEPT, PURGE_BATCH)).await
}

/// Deletes the audit rows older than `AUDIT_RETENTION_DAYS`, batch by batch; 0 keeps them all.
pub async fn purge_audit(store: &dyn JobStore, retention_days: u32) -> Result<u64, DbError> {
    if retention_days == 0 {
        return Ok(0);
    }
    in_batches(|| store.purge_audit(retention_days, PURGE_BATCH)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_statuses_with_a_limit_are_trimmed() {
        assert_eq!(KeepNewest::default().limits().count(), 0);
        let keep = KeepNewest { completed: 0, failed: 3 };
        assert_eq!(keep.limits().collect::<Vec<_>>(), vec![(JobStatus::Failed, 3)]);
        let keep = KeepNewest { completed: 10, failed: 2 };
        assert_eq!(keep.limits().collect::<Vec<_>>(), vec![(JobStatus::Completed, 10), (JobStatus::Failed, 2)]);
    }
}
