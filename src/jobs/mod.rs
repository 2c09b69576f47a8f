//! The job engine, split by role as River does: the inserter accepts jobs (group commit), the
//! claimer takes pending jobs for free workers, the runner executes one, the writer is the one
//! ordered path for a running job's state, the cleaner enforces retention.

pub mod claimer;
pub mod cleaner;
pub mod inserter;
pub mod model;
pub mod runner;
pub mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::db::Database;
use crate::procedure::Procedures;

use claimer::Claimer;
use inserter::JobInserter;
use model::JobId;
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
}

/// The running engine; `shutdown` stops it in order.
pub struct Engine {
    pub inserter: JobInserter,
    stop_claiming: CancellationToken,
    stop_maintenance: CancellationToken,
    claimer: JoinHandle<tokio::task::JoinSet<()>>,
    writer: Option<JobWriter>,
    writer_task: JoinHandle<()>,
    running: Arc<Mutex<HashMap<JobId, CancellationToken>>>,
    shutdown_grace: Duration,
}

impl Engine {
    pub fn start(db: &Database, procedures: Arc<Procedures>, settings: &EngineSettings) -> Engine {
        let wake = Arc::new(Notify::new());
        let stop_claiming = CancellationToken::new();
        let stop_maintenance = CancellationToken::new();
        let (writer, writer_task) = JobWriter::start(db.store.clone(), settings.progress_flush_interval);
        let inserter = JobInserter::start(db.store.clone(), wake.clone());
        let running = Arc::new(Mutex::new(HashMap::new()));
        let claimer = Claimer {
            store: db.store.clone(),
            procedures,
            writer: writer.clone(),
            instance_id: settings.instance_id.clone(),
            workers: Arc::new(Semaphore::new(settings.workers)),
            max_batch: settings.workers.clamp(1, 100),
            poll_interval: settings.poll_interval,
            wake: wake.clone(),
            running: running.clone(),
        };
        let claimer = tokio::spawn(claimer.run(stop_claiming.clone()));
        let store = db.store.clone();
        let stop = stop_maintenance.clone();
        tokio::spawn(async move { store.listen_for_jobs(wake, stop).await });
        tokio::spawn(cleaner::run(
            db.store.clone(),
            settings.retention_days,
            settings.cleanup_interval,
            stop_maintenance.clone(),
        ));
        Engine {
            inserter,
            stop_claiming,
            stop_maintenance,
            claimer,
            writer: Some(writer),
            writer_task,
            running,
            shutdown_grace: settings.shutdown_grace,
        }
    }

    /// Stops claiming, lets running calls finish within the grace period, cancels the rest, and
    /// waits until every outcome is written.
    pub async fn shutdown(mut self) {
        self.stop_claiming.cancel();
        self.stop_maintenance.cancel();
        let mut tasks = self.claimer.await.unwrap_or_default();
        if !tasks.is_empty() {
            tracing::info!(running = tasks.len(), grace = ?self.shutdown_grace, "waiting for running jobs");
        }
        let drained =
            tokio::time::timeout(self.shutdown_grace, async { while tasks.join_next().await.is_some() {} }).await;
        if drained.is_err() {
            let tokens: Vec<CancellationToken> = self.running.lock().expect("running lock").values().cloned().collect();
            tracing::warn!(jobs = tokens.len(), "grace period over: cancelling running calls");
            tokens.iter().for_each(CancellationToken::cancel);
            while tasks.join_next().await.is_some() {}
        }
        drop(self.writer.take());
        drop(self.inserter);
        let _ = self.writer_task.await;
    }
}
