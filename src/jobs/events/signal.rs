//! Knowing when this instance wrote events: every statement that changes a job goes through the
//! store, so the engine's store is wrapped once ([`SignallingStore`]) and each change wakes this
//! instance's relay and its announcer. (The call that commits a job with its completion goes
//! through the procedure backend: the runner signals that one itself.)

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::db::{DbError, JobStore, Listeners};
use crate::model::audit::AuditEntry;
use crate::model::delivery::{Delivery, DeliveryResult, DueDelivery};
use crate::model::event::JobEvent;
use crate::model::stats::{ActiveCounts, InstanceReport, InstanceRow, PoolFigures};
use crate::model::{
    CancelFilter, CancelOutcome, ClaimedJob, DeleteOutcome, Inserted, Job, JobId, JobStatus, ListFilter, NewJob,
    Outcome, ProcedureLimit, ProgressUpdate, PurgeFilter, Rescued,
};

/// Announcements to other instances are at least this far apart.
const ANNOUNCE_GAP: Duration = Duration::from_millis(50);

/// "This instance wrote events": wakes the local relay and the announcer.
#[derive(Clone, Default)]
pub struct EventSignal {
    pub(super) local: Arc<Notify>,
    pub(super) announce: Arc<Notify>,
}

impl EventSignal {
    pub fn wrote(&self) {
        self.local.notify_one();
        self.announce.notify_one();
    }
}

/// Sends one announcement (NOTIFY) after this instance wrote, at most every [`ANNOUNCE_GAP`].
pub(super) async fn announce(
    store: Arc<dyn JobStore>,
    wrote: Arc<Notify>,
    instance_id: String,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wrote.notified() => {}
        }
        if let Err(e) = store.announce_events(&instance_id).await {
            tracing::debug!(error = %e, "could not announce new events; other instances will find them by polling");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(ANNOUNCE_GAP) => {}
        }
    }
}

/// The store, signalling after each statement that may have written events.
pub struct SignallingStore {
    inner: Arc<dyn JobStore>,
    signal: EventSignal,
}

impl SignallingStore {
    pub fn wrap(inner: Arc<dyn JobStore>, signal: EventSignal) -> Arc<dyn JobStore> {
        Arc::new(SignallingStore { inner, signal })
    }

    fn signalled<T>(&self, result: Result<T, DbError>) -> Result<T, DbError> {
        if result.is_ok() {
            self.signal.wrote();
        }
        result
    }
}

#[async_trait]
impl JobStore for SignallingStore {
    async fn migrate(&self) -> Result<(), DbError> {
        self.inner.migrate().await
    }

    async fn ping(&self) -> Result<(), DbError> {
        self.inner.ping().await
    }

    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>, DbError> {
        self.signalled(self.inner.insert(jobs).await)
    }

    async fn claim(
        &self,
        instance_id: &str,
        limit: usize,
        limits: &[ProcedureLimit],
    ) -> Result<Vec<ClaimedJob>, DbError> {
        let claimed = self.inner.claim(instance_id, limit, limits).await;
        match claimed {
            Ok(jobs) if jobs.is_empty() => Ok(jobs),
            other => self.signalled(other),
        }
    }

    async fn record_progress(&self, instance_id: &str, updates: &[ProgressUpdate]) -> Result<(), DbError> {
        self.signalled(self.inner.record_progress(instance_id, updates).await)
    }

    async fn finish(&self, instance_id: &str, outcomes: &[Outcome]) -> Result<Vec<JobId>, DbError> {
        self.signalled(self.inner.finish(instance_id, outcomes).await)
    }

    async fn heartbeat(&self, instance_id: &str, running: &[JobId]) -> Result<Vec<JobId>, DbError> {
        self.inner.heartbeat(instance_id, running).await
    }

    async fn cancel(&self, id: &JobId, owner: Option<&str>) -> Result<CancelOutcome, DbError> {
        self.signalled(self.inner.cancel(id, owner).await)
    }

    async fn rescue(&self, lease: Duration, retry_orphans: bool) -> Result<Vec<Rescued>, DbError> {
        match self.inner.rescue(lease, retry_orphans).await {
            Ok(rescued) if rescued.is_empty() => Ok(rescued),
            other => self.signalled(other),
        }
    }

    async fn get(&self, id: &JobId, owner: Option<&str>) -> Result<Option<Job>, DbError> {
        self.inner.get(id, owner).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<crate::model::listing::ListPage, DbError> {
        self.inner.list(filter).await
    }

    async fn delete(&self, id: &JobId, owner: Option<&str>) -> Result<DeleteOutcome, DbError> {
        self.signalled(self.inner.delete(id, owner).await)
    }

    async fn purge_batch(&self, filter: &PurgeFilter, batch: i64) -> Result<u64, DbError> {
        self.inner.purge_batch(filter, batch).await
    }

    async fn listen(&self, to: Listeners, stop: CancellationToken) {
        self.inner.listen(to, stop).await
    }

    async fn count_pending(&self, owner: &str, cap: i64) -> Result<i64, DbError> {
        self.inner.count_pending(owner, cap).await
    }

    async fn job_events(&self, id: &JobId, after: i64, limit: i64) -> Result<Vec<JobEvent>, DbError> {
        self.inner.job_events(id, after, limit).await
    }

    async fn events_since(&self, after: i64, missing: &[i64], limit: i64) -> Result<Vec<JobEvent>, DbError> {
        self.inner.events_since(after, missing, limit).await
    }

    async fn last_event_id(&self) -> Result<i64, DbError> {
        self.inner.last_event_id().await
    }

    async fn purge_deleted_events(&self, age: Duration, batch: i64) -> Result<u64, DbError> {
        self.inner.purge_deleted_events(age, batch).await
    }

    async fn announce_events(&self, instance_id: &str) -> Result<(), DbError> {
        self.inner.announce_events(instance_id).await
    }

    // Deliveries change no job: nothing to signal.
    async fn claim_deliveries(
        &self,
        instance_id: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueDelivery>, DbError> {
        self.inner.claim_deliveries(instance_id, limit, lease).await
    }

    async fn record_delivery(&self, instance_id: &str, result: &DeliveryResult) -> Result<bool, DbError> {
        self.inner.record_delivery(instance_id, result).await
    }

    async fn deliveries(&self, id: &JobId) -> Result<Vec<Delivery>, DbError> {
        self.inner.deliveries(id).await
    }

    async fn cancel_pending_matching(&self, filter: &CancelFilter, batch: i64) -> Result<u64, DbError> {
        self.signalled(self.inner.cancel_pending_matching(filter, batch).await)
    }

    async fn running_to_cancel(&self, filter: &CancelFilter, limit: i64) -> Result<Vec<JobId>, DbError> {
        self.inner.running_to_cancel(filter, limit).await
    }

    async fn purge_beyond_kept(&self, status: JobStatus, keep: i64, batch: i64) -> Result<u64, DbError> {
        self.signalled(self.inner.purge_beyond_kept(status, keep, batch).await)
    }

    // Statistics change no job: nothing to signal.
    async fn active_counts(&self, owner: Option<&str>) -> Result<Vec<ActiveCounts>, DbError> {
        self.inner.active_counts(owner).await
    }

    async fn count_ended(&self, status: JobStatus, owner: Option<&str>, cap: i64) -> Result<i64, DbError> {
        self.inner.count_ended(status, owner, cap).await
    }

    async fn estimate_status(&self, status: JobStatus) -> Result<Option<i64>, DbError> {
        self.inner.estimate_status(status).await
    }

    async fn report_instance(&self, report: &InstanceReport) -> Result<(), DbError> {
        self.inner.report_instance(report).await
    }

    async fn instances(&self, within: Duration) -> Result<Vec<InstanceRow>, DbError> {
        self.inner.instances(within).await
    }

    fn pool_figures(&self) -> Vec<PoolFigures> {
        self.inner.pool_figures()
    }

    // The audit trail changes no job: nothing to signal.
    async fn record_audit(&self, instance_id: &str, entries: &[AuditEntry]) -> Result<(), DbError> {
        self.inner.record_audit(instance_id, entries).await
    }

    async fn purge_audit(&self, older_than_days: u32, batch: i64) -> Result<u64, DbError> {
        self.inner.purge_audit(older_than_days, batch).await
    }
}
