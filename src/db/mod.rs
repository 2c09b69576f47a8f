//! The backend seam. Each database implements two traits:
//! - [`JobStore`]: the `ASYNC_JOBS` rows (insert, claim, conditional state changes, reads, deletes);
//! - [`ProcedureBackend`]: the catalog (signatures) and the call itself.
//!
//! Everything above these traits (validation, the job engine, HTTP) is shared; everything below
//! is one database's SQL. Both traits are async; a blocking driver (Oracle) runs its calls on a
//! bounded blocking pool behind them.

pub mod error;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod output;
pub mod postgres;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value as Json};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

pub use error::{DbError, DbErrorKind};
pub use output::{CallFailure, CallOutput, JobCall, ResultLimits};

use crate::model::audit::AuditEntry;
use crate::model::delivery::{Delivery, DeliveryResult, DueDelivery};
use crate::model::event::JobEvent;
use crate::model::listing::ListPage;
use crate::model::stats::{ActiveCounts, InstanceReport, InstanceRow, PoolFigures};
use crate::model::{
    AttemptFence, CancelFilter, CancelOutcome, ClaimedJob, DeleteOutcome, Inserted, Job, JobId, JobStatus, ListFilter,
    NewJob, Outcome, ProcedureLimit, ProgressSink, ProgressUpdate, PurgeFilter, Rescued,
};
use crate::procedure::name::{IdentifierCase, ProcedureName};
use crate::procedure::plan::CallPlan;
use crate::procedure::signature::Signature;

/// The OUT values of one call, by parameter name.
pub type OutValues = Map<String, Json>;

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates or upgrades the job table, idempotently.
    async fn migrate(&self) -> Result<(), DbError>;
    /// A cheap round trip: is the database reachable?
    async fn ping(&self) -> Result<(), DbError>;
    /// Inserts jobs as `pending`, committed when this returns; wakes claimers on other instances.
    /// A job whose owner already has one with the same idempotency key is not inserted: its
    /// answer names the existing job. Answers are in the order of `jobs`.
    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>, DbError>;
    /// Moves up to `limit` due pending jobs to `running` (progress 10, attempt + 1, this
    /// instance, a fresh heartbeat): highest priority first, then oldest; skipping rows another
    /// claimer holds; never starting more jobs of a procedure than its `limits` allow across
    /// all instances.
    async fn claim(
        &self,
        instance_id: &str,
        limit: usize,
        limits: &[ProcedureLimit],
    ) -> Result<Vec<ClaimedJob>, DbError>;
    /// Raises this instance's running jobs' progress, and records the session each call runs on;
    /// never lowers progress, never touches a job that is not running here.
    async fn record_progress(&self, instance_id: &str, updates: &[ProgressUpdate]) -> Result<(), DbError>;
    /// Ends attempts of jobs this instance is running: a terminal state (progress 100 — kept as
    /// it was for `cancelled` — end time, duration), or `pending` again at `retry_at`. Each
    /// failed attempt is appended to the job's attempt history. Returns the ids it changed.
    async fn finish(&self, instance_id: &str, outcomes: &[Outcome]) -> Result<Vec<JobId>, DbError>;
    /// Renews the lease of this instance's running jobs; returns those it must stop: their
    /// cancellation was requested, or they no longer run here (rescued after a lost lease).
    async fn heartbeat(&self, instance_id: &str, running: &[JobId]) -> Result<Vec<JobId>, DbError>;
    /// Cancels a pending job at once, or flags a running one for its instance to interrupt.
    async fn cancel(&self, id: &JobId, owner: Option<&str>) -> Result<CancelOutcome, DbError>;
    /// Ends running jobs whose heartbeat is older than `lease`: their instance is gone. First
    /// it ends the database sessions that instance left running their calls (where the
    /// gateway's user may), so no orphaned call goes on; then jobs with attempts left go back to
    /// `pending` when `retry_orphans` (the code `orphaned` is retryable), the others fail with
    /// code `orphaned`.
    async fn rescue(&self, lease: Duration, retry_orphans: bool) -> Result<Vec<Rescued>, DbError>;
    /// One job; with `owner`, only if that caller owns it.
    async fn get(&self, id: &JobId, owner: Option<&str>) -> Result<Option<Job>, DbError>;
    /// A page of jobs, newest first (after the filter's cursor), and how many match the filter:
    /// counted exactly up to its `total_cap`, estimated above it.
    async fn list(&self, filter: &ListFilter) -> Result<ListPage, DbError>;
    /// Deletes one job unless it is running.
    async fn delete(&self, id: &JobId, owner: Option<&str>) -> Result<DeleteOutcome, DbError>;
    /// Deletes at most `batch` terminal jobs matching the filter in one statement; returns how many.
    async fn purge_batch(&self, filter: &PurgeFilter, batch: i64) -> Result<u64, DbError>;
    /// Wakes `to.wake` whenever another instance inserts jobs, sends the ids of jobs whose
    /// cancellation is requested to `to.cancels`, and wakes `to.events` when another instance
    /// has written events (PostgreSQL LISTEN/NOTIFY). Backends without such a channel return at
    /// once; claimers and event readers then poll, and cancellations arrive with the heartbeat.
    async fn listen(&self, to: Listeners, stop: CancellationToken);
    /// How many pending jobs `owner` has, counting no further than `cap` (so the answer costs
    /// at most `cap` rows however many jobs are queued).
    async fn count_pending(&self, owner: &str, cap: i64) -> Result<i64, DbError>;
    /// Job `id`'s events after event `after` (0: from its first), oldest first, at most `limit`.
    async fn job_events(&self, id: &JobId, after: i64, limit: i64) -> Result<Vec<JobEvent>, DbError>;
    /// Every job's events with an id above `after` or in `missing` (ids a previous read found
    /// no row for: their transactions may not have committed then), oldest first, at most `limit`.
    async fn events_since(&self, after: i64, missing: &[i64], limit: i64) -> Result<Vec<JobEvent>, DbError>;
    /// The highest event id written so far (0 when there is none).
    async fn last_event_id(&self) -> Result<i64, DbError>;
    /// Removes at most `batch` of the `deleted` events left by jobs deleted more than `age` ago;
    /// returns how many.
    async fn purge_deleted_events(&self, age: Duration, batch: i64) -> Result<u64, DbError>;
    /// Tells the other instances that `instance_id` wrote events (PostgreSQL: NOTIFY). Backends
    /// whose instances poll for events do nothing.
    async fn announce_events(&self, instance_id: &str) -> Result<(), DbError>;
    /// Claims up to `limit` due webhook deliveries for `instance_id`, leased for `lease` (a
    /// delivery whose lease ran out — its instance died mid-attempt — is due again), oldest due
    /// first, skipping rows another deliverer holds.
    async fn claim_deliveries(
        &self,
        instance_id: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueDelivery>, DbError>;
    /// Records one attempt of a delivery `instance_id` holds (its new status, the body, the
    /// attempt appended to its log) and releases it; `false` when it is no longer held there.
    async fn record_delivery(&self, instance_id: &str, result: &DeliveryResult) -> Result<bool, DbError>;
    /// Job `id`'s webhook deliveries, oldest event first.
    async fn deliveries(&self, id: &JobId) -> Result<Vec<Delivery>, DbError>;
    /// Cancels at most `batch` pending jobs matching `filter`, in one statement, skipping rows a
    /// claimer holds; returns how many.
    async fn cancel_pending_matching(&self, filter: &CancelFilter, batch: i64) -> Result<u64, DbError>;
    /// At most `limit` running jobs matching `filter` whose cancellation is not requested yet.
    async fn running_to_cancel(&self, filter: &CancelFilter, limit: i64) -> Result<Vec<JobId>, DbError>;
    /// Deletes at most `batch` jobs of terminal `status` beyond its `keep` most recently ended
    /// ones, in one statement; returns how many.
    async fn purge_beyond_kept(&self, status: JobStatus, keep: i64, batch: i64) -> Result<u64, DbError>;
    /// The unfinished jobs per procedure (of `owner`; every owner's when `None`), counted exactly
    /// through the pending and running indexes: the cost follows the queue's depth.
    async fn active_counts(&self, owner: Option<&str>) -> Result<Vec<ActiveCounts>, DbError>;
    /// The jobs in ended status `status` (of `owner`), counting no further than `cap`.
    async fn count_ended(&self, status: JobStatus, owner: Option<&str>, cap: i64) -> Result<i64, DbError>;
    /// The database's own estimate of the jobs in `status`, from its planner statistics; `None`
    /// where it has none (never analysed) or the backend keeps to exact-capped counts.
    async fn estimate_status(&self, status: JobStatus) -> Result<Option<i64>, DbError>;
    /// Writes this instance's row of the instances table (one statement per heartbeat), and
    /// removes the rows of instances silent for an hour.
    async fn report_instance(&self, report: &InstanceReport) -> Result<(), DbError>;
    /// The instances that reported within `within`, by instance id.
    async fn instances(&self, within: Duration) -> Result<Vec<InstanceRow>, DbError>;
    /// The connection pools' figures (in use, idle, size), where the driver tells them.
    fn pool_figures(&self) -> Vec<PoolFigures>;
    /// Records audit entries written by `instance_id` in `ASYNC_AUDIT`, in one statement,
    /// committed when this returns.
    async fn record_audit(&self, instance_id: &str, entries: &[AuditEntry]) -> Result<(), DbError>;
    /// Deletes at most `batch` audit rows recorded more than `older_than_days` days ago; returns
    /// how many.
    async fn purge_audit(&self, older_than_days: u32, batch: i64) -> Result<u64, DbError>;
}

/// Where [`JobStore::listen`] delivers what other instances announce.
pub struct Listeners {
    /// This instance: its own event announcements are not delivered back to it.
    pub instance_id: String,
    /// New jobs were inserted.
    pub wake: Arc<Notify>,
    /// A job's cancellation was requested.
    pub cancels: mpsc::UnboundedSender<JobId>,
    /// Another instance wrote events.
    pub events: Arc<Notify>,
}

#[async_trait]
pub trait ProcedureBackend: Send + Sync {
    /// How the database folds unquoted identifiers.
    fn identifier_case(&self) -> IdentifierCase;
    /// Every routine the name resolves to (several for overloads; none when unknown).
    async fn describe(&self, name: &ProcedureName) -> Result<Vec<Signature>, DbError>;
    /// Executes a planned call (the synchronous endpoint: not a job) and returns its OUT values,
    /// and the lines it wrote when `plan.capture_output` (on failure too, as far as it got).
    /// Interrupts the call when `cancel` fires, also while it waits for a connection.
    async fn call(&self, plan: &CallPlan, cancel: &CancellationToken) -> Result<CallOutput, CallFailure>;

    /// Runs one attempt of a job: in one transaction, the call and the conditional UPDATE that
    /// completes the job (fenced by `fence`: still `running`, on this instance, in this
    /// attempt), committed together — or rolled back together when the fence no longer holds.
    /// A failed call's effects are rolled back before it returns; its outcome is the caller's to
    /// write. A routine that commits by itself cannot run inside the transaction: it runs on
    /// its own (see [`JobCall::CompletionToWrite`]). Reports the session it runs on and milestones 30,
    /// 50 and 80 to `progress`; interrupts the call when `cancel` fires.
    async fn call_job(
        &self,
        plan: &CallPlan,
        fence: &AttemptFence,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<JobCall, CallFailure>;
    /// Whether a resolved routine is the database's own (a system schema): callable only when
    /// an allowlist pattern names its schema (see `procedure::allowlist`).
    fn is_system_routine(&self, sig: &Signature) -> bool;
}

/// How an instance connects: its name in the database's session list, and how many
/// connections its pools may open. Calls (async and sync) and the job store never share a
/// pool, so a flood of calls cannot delay a heartbeat, a claim, an insert or an outcome.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub instance_id: String,
    /// Connections for procedure calls: workers and synchronous calls (`DB_POOL_SIZE`).
    pub call_connections: usize,
    /// Connections for API reads and deletes (`DB_READ_POOL_SIZE`).
    pub read_connections: usize,
    /// How large a call's result may be.
    pub result_limits: ResultLimits,
    /// How often a running job's progress is read where the database does not push it (Oracle's
    /// longops: `PROGRESS_POLL_INTERVAL`).
    pub progress_poll_interval: Duration,
}

impl ConnectOptions {
    /// For tools and tests: `calls` call connections and two for reads.
    pub fn new(instance_id: impl Into<String>, calls: usize) -> Self {
        Self {
            instance_id: instance_id.into(),
            call_connections: calls,
            read_connections: 2,
            result_limits: ResultLimits::default(),
            progress_poll_interval: Duration::from_secs(1),
        }
    }
}

/// Connections reserved for the engine's own statements: heartbeat, claimer, writer, the two
/// inserters and the rescuer/cleaner, one each.
pub const ENGINE_CONNECTIONS: usize = 6;

/// A connected database: its job store, and its routines (their signatures, and the calls).
#[derive(Clone)]
pub struct Database {
    pub store: Arc<dyn JobStore>,
    pub routines: Arc<dyn ProcedureBackend>,
    pub kind: &'static str,
}

impl Database {
    /// Connects to the database named by the URL's scheme.
    pub async fn connect(url: &str, options: &ConnectOptions) -> anyhow::Result<Database> {
        let scheme = url.split("://").next().unwrap_or_default().to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => {
                let pg = Arc::new(postgres::PgBackend::connect(url, options).await?);
                Ok(Database { store: pg.clone(), routines: pg, kind: "postgres" })
            }
            #[cfg(feature = "oracle")]
            "oracle" => {
                let ora = Arc::new(oracle::OracleBackend::connect(url, options).await?);
                Ok(Database { store: ora.clone(), routines: ora, kind: "oracle" })
            }
            #[cfg(not(feature = "oracle"))]
            "oracle" => anyhow::bail!(
                "DATABASE_URL: this procgate was built without the Oracle backend (cargo feature \"oracle\"); \
                 rebuild with default features or --features oracle"
            ),
            _ => anyhow::bail!("DATABASE_URL: unsupported scheme {scheme:?} (expected postgres:// or oracle://)"),
        }
    }
}
