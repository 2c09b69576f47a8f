//! Retention: deletes terminal jobs older than `JOB_RETENTION_DAYS`, and the `deleted` events
//! of jobs deleted more than [`DELETED_EVENTS_KEPT`] ago, at start and then every
//! `CLEANUP_INTERVAL`, in batches so no statement holds many locks for long.

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

/// Runs `batch` (which deletes at most [`PURGE_BATCH`] rows) until a batch falls short; the total.
async fn in_batches<F, Fut>(mut batch: F) -> Result<u64, DbError>
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

pub async fn run(store: Arc<dyn JobStore>, retention_days: u32, interval: Duration, stop: CancellationToken) {
    let filter =
        PurgeFilter { statuses: JobStatus::TERMINAL.to_vec(), older_than_days: Some(retention_days), owner: None };
    loop {
        match purge(&*store, &filter).await {
            Ok(0) => tracing::debug!("cleanup: nothing to delete"),
            Ok(n) => tracing::info!(deleted = n, retention_days, "cleanup deleted old jobs"),
            Err(e) => tracing::warn!(error = %e, "cleanup failed; will try again next interval"),
        }
        if let Err(e) = purge_deleted_events(&*store).await {
            tracing::warn!(error = %e, "cleanup of deleted jobs' events failed; will try again next interval");
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
