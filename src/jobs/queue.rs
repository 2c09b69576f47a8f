//! The queue as its users see it: submit, get, list, cancel, delete, purge, retry, bulk cancel.
//! The one facade the HTTP API and the command line call, so each rule — a draining instance
//! takes no job, a running job is cancelled before it is deleted, only ended jobs are purged and
//! never without a filter, only failed or cancelled jobs are retried, a caller sees only its own
//! jobs — exists once, here.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::catalog::{CallError, Catalog};
use crate::clients::ClientAccess;
use crate::db::{DbError, JobStore};
use crate::model::delivery::Delivery;
use crate::model::event::JobEvent;
use crate::model::{
    CancelFilter, CancelOutcome, DeleteOutcome, Inserted, Job, JobId, JobStatus, ListFilter, NewJob, PurgeFilter,
};
use crate::procedure::plan::ParamRequest;

use super::cleaner;
use super::control::{RunningJobs, StopReason};
use super::events::feed::{EventFeed, FeedFilter};
use super::events::watch::JobWatch;
use super::events::EventHub;
use super::inserter::JobInserter;

/// Why the queue refused a request.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the gateway is shutting down and accepts no new jobs")]
    ShuttingDown,
    #[error("{owner} already has {limit} pending jobs (MAX_PENDING_PER_OWNER)")]
    TooManyPending { owner: String, limit: u32 },
    #[error("no such job")]
    NotFound,
    #[error("the job has already ended ({0}); there is nothing to cancel")]
    Ended(JobStatus),
    #[error("{0}")]
    StillRunning(&'static str),
    #[error("give status (e.g. completed,failed) and/or older_than (days); deleting every job is not allowed")]
    PurgeWithoutFilter,
    #[error("only ended jobs (completed, failed, cancelled) can be deleted in bulk, not {0}")]
    PurgeOfUnended(JobStatus),
    #[error(transparent)]
    Database(#[from] DbError),
    #[error("only failed or cancelled jobs can be retried; this one is {0}")]
    NotRetryable(JobStatus),
    /// The retried job's procedure no longer passes the submission's checks (allowlist, catalog).
    #[error(transparent)]
    Call(#[from] CallError),
    #[error("give status (pending, running) and/or procedure; cancelling every job is not allowed")]
    CancelWithoutFilter,
    #[error("only pending and running jobs can be cancelled, not {0}")]
    CancelOfEnded(JobStatus),
    /// The client is at its own `max_pending` (clients file).
    #[error("{owner} already has {limit} pending jobs (max_pending in API_CLIENTS_FILE)")]
    QuotaExceeded { owner: String, limit: u32 },
}

/// What a bulk cancel did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BulkCancelled {
    /// Pending jobs cancelled: they will never run.
    pub cancelled: u64,
    /// Running jobs whose cancellation was requested: their calls are being interrupted.
    pub requested: u64,
}

/// How a queue accepts jobs.
#[derive(Clone)]
enum Intake {
    /// Through the engine's group-commit inserter (a serving instance).
    Batched(JobInserter),
    /// One INSERT per job, straight to the store (the command line: no engine runs there).
    Direct,
    /// Not at all (a queue that only reads, cancels and deletes).
    Closed,
}

/// A cancel's result: the job as it is now, and whether it has ended (a running call may take
/// longer than `CANCEL_WAIT` to stop).
pub struct Cancelled {
    pub job: Job,
    pub ended: bool,
}

/// The queue of one instance.
#[derive(Clone)]
pub struct Queue {
    store: Arc<dyn JobStore>,
    /// This instance's live events (`None` for the command line's queue).
    events: Option<Arc<EventHub>>,
    intake: Intake,
    running: RunningJobs,
    draining: Arc<AtomicBool>,
    cancel_wait: Duration,
    max_pending_per_owner: u32,
}

impl Queue {
    pub fn new(
        store: Arc<dyn JobStore>,
        events: Option<Arc<EventHub>>,
        inserter: JobInserter,
        running: RunningJobs,
        draining: Arc<AtomicBool>,
        cancel_wait: Duration,
        max_pending_per_owner: u32,
    ) -> Self {
        Self { store, events, intake: Intake::Batched(inserter), running, draining, cancel_wait, max_pending_per_owner }
    }

    /// A queue over the table alone: no jobs run or are accepted through it.
    pub fn read_only(store: Arc<dyn JobStore>) -> Self {
        Self {
            store,
            events: None,
            intake: Intake::Closed,
            running: RunningJobs::default(),
            draining: Arc::new(AtomicBool::new(true)),
            cancel_wait: Duration::ZERO,
            max_pending_per_owner: 0,
        }
    }

    /// The command line's queue: reads, cancels, deletes, and accepts jobs one INSERT each (a
    /// retry), within `MAX_PENDING_PER_OWNER`. No job runs here, so a running job it cancels is
    /// only flagged: the instance running it interrupts the call (PostgreSQL: at once, through
    /// NOTIFY; Oracle: at its next heartbeat).
    pub fn command_line(store: Arc<dyn JobStore>, max_pending_per_owner: u32) -> Self {
        Self {
            intake: Intake::Direct,
            draining: Arc::new(AtomicBool::new(false)),
            max_pending_per_owner,
            ..Self::read_only(store)
        }
    }

    /// Is the database reachable?
    pub async fn ping(&self) -> Result<(), DbError> {
        self.store.ping().await
    }

    /// Accepts a job (committed when this returns), unless this instance is shutting down or
    /// the owner is at `MAX_PENDING_PER_OWNER`. The count stops at the limit, so it costs at
    /// most that many rows; concurrent submissions may pass together: it is a brake on runaway
    /// clients, not an exact quota.
    pub async fn submit(&self, job: NewJob) -> Result<Inserted, QueueError> {
        if self.draining.load(Ordering::SeqCst) || matches!(self.intake, Intake::Closed) {
            return Err(QueueError::ShuttingDown);
        }
        let limit = self.max_pending_per_owner;
        if limit > 0 && self.store.count_pending(&job.owner, i64::from(limit)).await? >= i64::from(limit) {
            return Err(QueueError::TooManyPending { owner: job.owner, limit });
        }
        match &self.intake {
            Intake::Batched(inserter) => Ok(inserter.insert(job).await?),
            Intake::Direct => self.store.insert(std::slice::from_ref(&job)).await?.pop().ok_or_else(|| {
                QueueError::Database(DbError::statement("internal_error", "the insert answered for no job"))
            }),
            Intake::Closed => Err(QueueError::ShuttingDown),
        }
    }

    /// Refuses a submission by a client at its own `max_pending` (`None`: no quota of its own),
    /// counted as `MAX_PENDING_PER_OWNER` is: at most `limit` rows read; concurrent submissions
    /// may overshoot by the ones in flight. Called just before [`Queue::submit`].
    pub async fn check_quota(&self, owner: &str, max_pending: Option<u32>) -> Result<(), QueueError> {
        match max_pending {
            Some(limit) if self.store.count_pending(owner, i64::from(limit)).await? >= i64::from(limit) => {
                Err(QueueError::QuotaExceeded { owner: owner.to_string(), limit })
            }
            _ => Ok(()),
        }
    }

    /// One job; with `owner`, only if that caller owns it.
    pub async fn get(&self, id: &JobId, owner: Option<&str>) -> Result<Job, QueueError> {
        self.store.get(id, owner).await?.ok_or(QueueError::NotFound)
    }

    /// A page of jobs and their total (see [`JobStore::list`]).
    pub async fn list(&self, filter: &ListFilter) -> Result<crate::model::listing::ListPage, QueueError> {
        Ok(self.store.list(filter).await?)
    }

    fn hub(&self) -> Result<&Arc<EventHub>, QueueError> {
        self.events.as_ref().ok_or(QueueError::ShuttingDown)
    }

    /// A job's events after event `after` (0: all), then live ones until its last event; a job
    /// the caller may not see is not found.
    pub async fn watch(&self, id: &JobId, owner: Option<&str>, after: i64) -> Result<JobWatch, QueueError> {
        let hub = self.hub()?.clone();
        self.get(id, owner).await?;
        Ok(JobWatch::new(hub, id.clone(), after))
    }

    /// Every event the filter admits, from now on or after event `after`.
    pub async fn feed(&self, filter: FeedFilter, after: Option<i64>) -> Result<EventFeed, QueueError> {
        Ok(EventFeed::start(self.hub()?.clone(), filter, after).await?)
    }

    /// Long poll: waits up to `wait` for the job to have an event after `after`, then returns
    /// it as it is and its last event id (`after` when nothing happened). Holds no database
    /// connection while it waits.
    pub async fn wait_for_event(
        &self,
        id: &JobId,
        owner: Option<&str>,
        after: i64,
        wait: Duration,
    ) -> Result<(Job, i64), QueueError> {
        let mut watch = self.watch(id, owner, after).await?;
        // What is already in the table answers at once; otherwise wait for the next event.
        if watch.drain_ready().await?.is_empty() {
            if let Ok(first) = tokio::time::timeout(wait, watch.next()).await {
                if first?.is_some() {
                    watch.drain_ready().await?;
                }
            }
        }
        Ok((self.get(id, owner).await?, watch.last_event_id()))
    }

    /// A pending job is cancelled at once; a running job's call is interrupted on whichever
    /// instance runs it (here at once; elsewhere through NOTIFY or that instance's heartbeat).
    /// Waits up to `CANCEL_WAIT` for it to end.
    pub async fn cancel(&self, id: &JobId, owner: Option<&str>) -> Result<Cancelled, QueueError> {
        match self.request_cancel(id, owner).await? {
            CancelOutcome::NotFound => Err(QueueError::NotFound),
            CancelOutcome::AlreadyEnded(status) => Err(QueueError::Ended(status)),
            CancelOutcome::Cancelled | CancelOutcome::Requested => {
                let ended = self.wait_until_ended(id).await?;
                Ok(Cancelled { job: self.get(id, owner).await?, ended })
            }
        }
    }

    /// Deletes a job; a running one is cancelled first, and deleted once its call has stopped.
    pub async fn delete(&self, id: &JobId, owner: Option<&str>) -> Result<(), QueueError> {
        let mut outcome = self.store.delete(id, owner).await?;
        if outcome == DeleteOutcome::Running {
            if self.request_cancel(id, owner).await? == CancelOutcome::Requested && !self.wait_until_ended(id).await? {
                return Err(QueueError::StillRunning(
                    "cancellation requested, but the call has not stopped yet; delete again shortly",
                ));
            }
            outcome = self.store.delete(id, owner).await?;
        }
        match outcome {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(QueueError::NotFound),
            DeleteOutcome::Running => {
                Err(QueueError::StillRunning("the job started again before it could be deleted; try again"))
            }
        }
    }

    /// Deletes ended jobs in batches. At least one filter is required (deleting every job is
    /// not allowed), only ended statuses may be named, and none named means all three.
    pub async fn purge(
        &self,
        mut statuses: Vec<JobStatus>,
        older_than_days: Option<u32>,
        owner: Option<&str>,
    ) -> Result<u64, QueueError> {
        if statuses.is_empty() && older_than_days.is_none() {
            return Err(QueueError::PurgeWithoutFilter);
        }
        if let Some(s) = statuses.iter().find(|s| !s.is_terminal()) {
            return Err(QueueError::PurgeOfUnended(*s));
        }
        if statuses.is_empty() {
            statuses = JobStatus::TERMINAL.to_vec();
        }
        let filter = PurgeFilter { statuses, older_than_days, owner: owner.map(str::to_string) };
        Ok(cleaner::purge(&*self.store, &filter).await?)
    }

    async fn request_cancel(&self, id: &JobId, owner: Option<&str>) -> Result<CancelOutcome, QueueError> {
        let outcome = self.store.cancel(id, owner).await?;
        if outcome == CancelOutcome::Requested {
            self.running.stop(id, StopReason::Requested);
        }
        Ok(outcome)
    }

    /// Polls the job until it is no longer running, for at most `CANCEL_WAIT`.
    async fn wait_until_ended(&self, id: &JobId) -> Result<bool, QueueError> {
        let deadline = tokio::time::Instant::now() + self.cancel_wait;
        loop {
            match self.store.get(id, None).await? {
                Some(job) if job.status == JobStatus::Running => {}
                _ => return Ok(true),
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// A job's webhook deliveries, oldest event first; a job the caller may not see is not found.
    pub async fn deliveries(&self, id: &JobId, owner: Option<&str>) -> Result<Vec<Delivery>, QueueError> {
        self.get(id, owner).await?;
        Ok(self.store.deliveries(id).await?)
    }

    /// Runs a failed or cancelled job again, as a new job that points to it (`retry_of`); the old
    /// job never changes (a terminal state is final). The new job has the old one's procedure,
    /// parameters, options and owner, and passes the submission's checks again — the allowlist
    /// and the catalog (the procedure may have been removed since), `MAX_PENDING_PER_OWNER`, a
    /// draining instance — so `catalog` is the one submissions use — and the retrying client's
    /// own `access` (its procedure list and `max_pending`). Returns the new job's id.
    pub async fn retry(
        &self,
        id: &JobId,
        owner: Option<&str>,
        catalog: &Catalog,
        access: &ClientAccess,
    ) -> Result<JobId, QueueError> {
        let old = self.get(id, owner).await?;
        if !matches!(old.status, JobStatus::Failed | JobStatus::Cancelled) {
            return Err(QueueError::NotRetryable(old.status));
        }
        // The stored parameters are the plan's normalized list: a request the catalog plans again.
        let params: Vec<ParamRequest> = serde_json::from_value(old.params.clone())
            .map_err(|e| DbError::statement("bad_row", format!("job {id}: stored params: {e}")))?;
        let prepared = catalog
            .prepare_within(access.procedures.as_deref(), &old.procedure_name, None, &params, old.is_function)
            .await?;
        let new_id = JobId::generate();
        let job = NewJob {
            id: new_id.clone(),
            procedure_name: prepared.name.to_string(),
            params: prepared.plan.normalized_json(),
            owner: old.owner,
            is_function: old.is_function,
            priority: old.priority,
            run_at: None,
            retry: old.retry,
            timeout: old.timeout,
            // Unique per owner, and the old job holds it: a retry has none.
            idempotency_key: None,
            capture_output: old.capture_output,
            routine: Some(prepared.plan.signature.canonical_name()),
            callback: old.callback,
            retry_of: Some(old.id),
        };
        self.check_quota(&job.owner, access.max_pending).await?;
        self.submit(job).await?;
        Ok(new_id)
    }

    /// Cancels every job matching the filters: pending ones in batches (one statement each),
    /// then running ones one by one as [`Queue::cancel`] does (flagged, and interrupted here at
    /// once or on their instance), without waiting for their calls to stop. At least one filter
    /// is required, only `pending` and `running` may be named, and none named means both.
    pub async fn cancel_matching(
        &self,
        statuses: Vec<JobStatus>,
        procedure: Option<String>,
        owner: Option<&str>,
    ) -> Result<BulkCancelled, QueueError> {
        if statuses.is_empty() && procedure.is_none() {
            return Err(QueueError::CancelWithoutFilter);
        }
        if let Some(s) = statuses.iter().find(|s| s.is_terminal()) {
            return Err(QueueError::CancelOfEnded(*s));
        }
        let wanted = |s: JobStatus| statuses.is_empty() || statuses.contains(&s);
        let filter = CancelFilter { procedure, owner: owner.map(str::to_string) };
        let mut done = BulkCancelled::default();
        // Pending first: a job claimed meanwhile is running by the time the second pass looks.
        if wanted(JobStatus::Pending) {
            done.cancelled =
                cleaner::in_batches(|| self.store.cancel_pending_matching(&filter, cleaner::PURGE_BATCH)).await?;
        }
        if wanted(JobStatus::Running) {
            loop {
                let ids = self.store.running_to_cancel(&filter, cleaner::PURGE_BATCH).await?;
                for id in &ids {
                    match self.request_cancel(id, owner).await? {
                        CancelOutcome::Requested => done.requested += 1,
                        // Back to pending for its next attempt in the meantime: cancelled.
                        CancelOutcome::Cancelled if wanted(JobStatus::Pending) => done.cancelled += 1,
                        CancelOutcome::Cancelled => done.requested += 1,
                        CancelOutcome::AlreadyEnded(_) | CancelOutcome::NotFound => {}
                    }
                }
                // Each one asked is flagged or ended, so the next page holds only others.
                if (ids.len() as i64) < cleaner::PURGE_BATCH {
                    break;
                }
            }
        }
        Ok(done)
    }

    /// A job and its recorded events, oldest first (at most `limit`); a job the caller may not
    /// see is not found.
    pub async fn history(
        &self,
        id: &JobId,
        owner: Option<&str>,
        limit: i64,
    ) -> Result<(Job, Vec<JobEvent>), QueueError> {
        let job = self.get(id, owner).await?;
        Ok((job, self.store.job_events(id, 0, limit).await?))
    }
}
