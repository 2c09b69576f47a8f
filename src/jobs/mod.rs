//! The job engine, split by role as River does: the inserter accepts jobs (group commit), the
//! claimer takes due pending jobs for free workers, the runner executes one, the writer is the
//! one ordered path for a running job's state, the heartbeat keeps leases and carries cancel
//! requests, the rescuer recovers jobs of dead instances, the cleaner enforces retention, the
//! audit writer stores the audit trail. An API-only instance (`WORKERS=0`) starts no claimer,
//! runs, writer, heartbeat, rescuer, cleaner or webhook deliverer (see docs/design.md,
//! "Instance roles").

pub mod audit;
pub mod claimer;
pub mod cleaner;
pub mod control;
pub mod events;
pub mod inserter;
pub mod maintenance;
pub mod queue;
pub mod reporter;
pub mod runner;
pub mod stats;
pub mod tally;
pub mod webhooks;
pub mod writer;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::catalog::Catalog;
use crate::db::{Database, JobStore, Listeners};

use crate::model::retry::RetryableErrors;
use crate::model::{JobError, JobId, ProcedureLimit};
use claimer::Claimer;
use control::{RunningJobs, StopReason};
use events::{EventHub, EventSignal, SignallingStore};
use inserter::JobInserter;
use queue::Queue;
use reporter::{LocalFigures, Workers};
use runner::RunContext;
use stats::StatsReader;
use tally::Tally;
use writer::JobWriter;

/// What the engine needs from the configuration.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub instance_id: String,
    pub workers: usize,
    pub poll_interval: Duration,
    pub progress_flush_interval: Duration,
    pub cleanup_interval: Duration,
    pub retention_days: u32,
    pub shutdown_grace: Duration,
    pub job_timeout: Duration,
    pub lease_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub rescue_interval: Duration,
    pub retryable_errors: RetryableErrors,
    pub procedure_limits: Vec<ProcedureLimit>,
    pub cancel_wait: Duration,
    pub max_pending_per_owner: u32,
    pub event_poll_interval: Duration,
    /// Webhook deliveries from this instance (`None`: webhooks are off).
    pub webhooks: Option<webhooks::DelivererSettings>,
    /// Retention by count: the newest completed and failed jobs kept (`JOB_KEEP_*`).
    pub keep_newest: cleaner::KeepNewest,
    /// Whether audit entries are stored in `ASYNC_AUDIT` (`AUDIT`); they are logged either way.
    pub audit: bool,
    /// Audit rows older than this many days are deleted by the cleaner (0: kept forever).
    pub audit_retention_days: u32,
}

/// The running engine; `shutdown` stops it in order.
///
/// Every task it starts (inserters, listener, reporter, audit writer, event hub; and with
/// workers: claimer, job runs, writer, heartbeat, rescuer, cleaner, webhook deliverer) runs on
/// one [`TaskTracker`] and stops through one cancellation tree: `root` → `accepting` (the
/// inserters), `claiming` (the claimer), each running job's token, and `calls` (synchronous
/// calls). Shutdown cancels the branches in order and the root last.
pub struct Engine {
    /// The queue's facade over this engine: what the API and the command line call.
    pub queue: Queue,
    /// The jobs running in this instance (cancel requests stop them here at once).
    running: RunningJobs,
    /// Set once shutdown begins: new jobs are refused (503) from then on.
    draining: Arc<AtomicBool>,
    root: CancellationToken,
    accepting: CancellationToken,
    claiming: CancellationToken,
    tasks: TaskTracker,
    /// `None` on an API-only instance (`WORKERS=0`): it claims nothing.
    claimer: Option<JoinHandle<tokio::task::JoinSet<()>>>,
    writer: Option<JobWriter>,
    shutdown_grace: Duration,
    /// Reads the queue's figures (`GET /stats`).
    pub stats: StatsReader,
    /// What this instance knows of itself without the database (`/metrics` gauges).
    pub figures: LocalFigures,
    /// Where requests record their audit entries.
    pub audit: audit::AuditLog,
    /// The audit writer, for the application to wait for after the HTTP server has stopped.
    audit_writer: Option<audit::AuditWriter>,
}

impl Engine {
    pub fn start(db: &Database, catalog: Arc<Catalog>, settings: &EngineSettings) -> Engine {
        let wake = Arc::new(Notify::new());
        let root = CancellationToken::new();
        let (accepting, claiming) = (root.child_token(), root.child_token());
        let tasks = TaskTracker::new();
        // Every statement the engine sends goes through this store: each change wakes the
        // event relay here and is announced to the other instances.
        let signal = EventSignal::default();
        let store = SignallingStore::wrap(db.store.clone(), signal.clone());
        let remote_events = Arc::new(Notify::new());
        let hub = EventHub::start(
            store.clone(),
            &signal,
            remote_events.clone(),
            settings.instance_id.clone(),
            settings.event_poll_interval,
            &tasks,
            root.clone(),
        );
        let inserter = JobInserter::start(store.clone(), wake.clone(), &tasks, accepting.clone());
        let running = RunningJobs::new(&root);
        let draining = Arc::new(AtomicBool::new(false));
        let tally = Tally::default();
        let workers = Workers { total: settings.workers, free: Arc::new(Semaphore::new(settings.workers)) };
        let (cancels_tx, cancels_rx) = mpsc::unbounded_channel();
        // The listener runs on every instance: other instances' events feed this one's streams
        // and long polls (an API-only instance ignores its wake-ups and cancel notices).
        let listeners = Listeners {
            instance_id: settings.instance_id.clone(),
            wake: wake.clone(),
            cancels: cancels_tx,
            events: remote_events,
        };
        let (listening, stop) = (store.clone(), root.clone());
        tasks.spawn(async move { listening.listen(listeners, stop).await });
        // Claiming, running and the shared upkeep belong to the instances that run jobs; an
        // API-only instance (WORKERS=0) keeps its connections for requests.
        let runs_jobs = settings.workers > 0;
        let (claimer, writer) = if runs_jobs {
            let (claimer, writer) = start_running(
                &store,
                catalog,
                &signal,
                settings,
                RunParts {
                    wake,
                    running: running.clone(),
                    workers: workers.clone(),
                    tally: tally.clone(),
                    cancels: cancels_rx,
                    claiming: claiming.clone(),
                    root: root.clone(),
                },
                &tasks,
            );
            (Some(claimer), Some(writer))
        } else {
            (None, None)
        };
        tasks.spawn(reporter::report(
            store.clone(),
            tally,
            settings.instance_id.clone(),
            workers.clone(),
            settings.heartbeat_interval,
            root.clone(),
        ));
        let stats = StatsReader::new(store.clone(), settings.lease_timeout);
        tasks.spawn(reporter::refresh_queue_gauges(stats.clone(), root.clone()));
        let figures = LocalFigures { workers, store: store.clone(), hub: hub.clone() };
        // Outlives the engine's tasks: the HTTP server answers (and records) until after them.
        let (audit, audit_writer) =
            audit::AuditLog::start(db.store.clone(), settings.instance_id.clone(), settings.audit);
        if runs_jobs {
            start_upkeep(&store, &hub, settings, &tasks, &root);
        }
        tasks.close();
        Engine {
            queue: Queue::new(
                store,
                Some(hub),
                inserter,
                running.clone(),
                draining.clone(),
                settings.cancel_wait,
                settings.max_pending_per_owner,
            ),
            running,
            draining,
            root,
            accepting,
            claiming,
            tasks,
            claimer,
            writer,
            shutdown_grace: settings.shutdown_grace,
            stats,
            figures,
            audit,
            audit_writer: Some(audit_writer),
        }
    }

    /// The audit writer, to wait for once the HTTP server has stopped (see `AuditWriter::finished`).
    pub fn take_audit_writer(&mut self) -> Option<audit::AuditWriter> {
        self.audit_writer.take()
    }

    /// The token synchronous calls are interrupted by: cancelled at the end of shutdown, after
    /// the grace period running jobs get too.
    pub fn calls_token(&self) -> CancellationToken {
        self.root.child_token()
    }

    /// Refuses new jobs, stops claiming, lets running calls finish within the grace period,
    /// interrupts the rest (they are retried where their policy allows, else fail with code
    /// `shutdown`), and waits until every outcome is written. Nothing is left `running`.
    pub async fn shutdown(mut self) {
        self.draining.store(true, Ordering::SeqCst);
        self.accepting.cancel();
        self.claiming.cancel();
        let mut tasks = match self.claimer.take() {
            Some(claimer) => claimer.await.unwrap_or_default(),
            None => tokio::task::JoinSet::new(),
        };
        if !tasks.is_empty() {
            tracing::info!(running = tasks.len(), grace = ?self.shutdown_grace, "waiting for running jobs");
        }
        let drained =
            tokio::time::timeout(self.shutdown_grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            let n = self.running.stop_all(StopReason::Shutdown);
            tracing::warn!(jobs = n, "grace period over: interrupting running calls");
            while tasks.join_next().await.is_some() {}
        }
        // The heartbeat keeps leases alive until here, so no rescuer takes these jobs early.
        self.root.cancel();
        // The writer ends once its last handle is gone and everything it was sent is written.
        drop(self.writer.take());
        self.tasks.wait().await;
    }
}

/// What the running side shares with the rest of the engine.
struct RunParts {
    /// Wakes the claimer (inserts here, and NOTIFY from other instances).
    wake: Arc<Notify>,
    running: RunningJobs,
    workers: Workers,
    tally: Tally,
    /// Cancel requests notified by other instances, for the heartbeat.
    cancels: mpsc::UnboundedReceiver<JobId>,
    /// Stops the claimer (first in shutdown); the root stops the heartbeat last.
    claiming: CancellationToken,
    root: CancellationToken,
}

/// Starts what runs jobs: the writer, the claimer (which starts each run) and the heartbeat
/// (leases of the jobs running here, and the cancel requests that reach them).
fn start_running(
    store: &Arc<dyn JobStore>,
    catalog: Arc<Catalog>,
    signal: &EventSignal,
    settings: &EngineSettings,
    shared: RunParts,
    tasks: &TaskTracker,
) -> (JoinHandle<tokio::task::JoinSet<()>>, JobWriter) {
    let writer = JobWriter::start(
        store.clone(),
        settings.instance_id.clone(),
        settings.progress_flush_interval,
        settings.lease_timeout,
        settings.workers,
        tasks,
    );
    let claimer = Claimer {
        store: store.clone(),
        run: Arc::new(RunContext {
            catalog,
            writer: writer.clone(),
            events: signal.clone(),
            instance_id: settings.instance_id.clone(),
            default_timeout: settings.job_timeout,
            retryable: settings.retryable_errors.clone(),
            tally: shared.tally,
        }),
        instance_id: settings.instance_id.clone(),
        workers: shared.workers.free.clone(),
        max_batch: settings.workers.clamp(1, 100),
        limits: settings.procedure_limits.clone(),
        poll_interval: settings.poll_interval,
        wake: shared.wake,
        running: shared.running.clone(),
    };
    let claimer = tasks.spawn(claimer.run(shared.claiming));
    tasks.spawn(maintenance::heartbeat(
        store.clone(),
        settings.instance_id.clone(),
        shared.running,
        settings.heartbeat_interval,
        shared.cancels,
        shared.root,
    ));
    (claimer, writer)
}

/// Starts the upkeep every job-running instance shares (each safe in several instances at
/// once): the rescuer of dead instances' jobs, the cleaner and the webhook deliverer.
fn start_upkeep(
    store: &Arc<dyn JobStore>,
    hub: &Arc<EventHub>,
    settings: &EngineSettings,
    tasks: &TaskTracker,
    root: &CancellationToken,
) {
    let retry_orphans =
        settings.retryable_errors.contains(&JobError { code: "orphaned".into(), message: String::new() });
    tasks.spawn(maintenance::rescuer(
        store.clone(),
        settings.lease_timeout,
        retry_orphans,
        settings.rescue_interval,
        root.clone(),
    ));
    tasks.spawn(cleaner::run(
        store.clone(),
        settings.retention_days,
        settings.keep_newest,
        settings.cleanup_interval,
        root.clone(),
        settings.audit_retention_days,
    ));
    if let Some(deliveries) = &settings.webhooks {
        let id = settings.instance_id.clone();
        webhooks::start(store.clone(), hub, id, deliveries.clone(), tasks, root.clone());
    }
}
