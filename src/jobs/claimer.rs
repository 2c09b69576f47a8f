//! The claimer: whenever workers are free, claims that many due pending jobs in one statement
//! (`FOR UPDATE SKIP LOCKED`, so several instances share the table; per-procedure limits are
//! enforced by the claim) and starts them. It wakes on an insert (in-process, or NOTIFY from
//! another instance) and polls as a fallback (delayed jobs and retries become due that way).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::db::JobStore;

use super::control::RunningJobs;
use super::runner::{run_job, RunContext};
use crate::model::{ClaimedJob, ProcedureLimit};

pub struct Claimer {
    pub store: Arc<dyn JobStore>,
    pub run: Arc<RunContext>,
    pub instance_id: String,
    pub workers: Arc<Semaphore>,
    pub max_batch: usize,
    pub limits: Vec<ProcedureLimit>,
    pub poll_interval: Duration,
    pub wake: Arc<Notify>,
    pub running: RunningJobs,
}

impl Claimer {
    /// Claims and starts jobs until `stop` fires; returns the set of jobs still running.
    pub async fn run(self, stop: CancellationToken) -> JoinSet<()> {
        let mut tasks = JoinSet::new();
        let mut error_backoff = Duration::from_millis(100);
        loop {
            while tasks.try_join_next().is_some() {}
            let permits = tokio::select! {
                _ = stop.cancelled() => break,
                p = self.free_workers() => p,
            };
            let claimed = match self.store.claim(&self.instance_id, permits.len(), &self.limits).await {
                Ok(jobs) => {
                    error_backoff = Duration::from_millis(100);
                    jobs
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?error_backoff, "claiming jobs failed");
                    drop(permits);
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(error_backoff) => {}
                    }
                    error_backoff = (error_backoff * 2).min(Duration::from_secs(5));
                    continue;
                }
            };
            let full = claimed.len() == permits.len();
            let idle = claimed.is_empty();
            for (job, permit) in claimed.into_iter().zip(permits) {
                self.start(&mut tasks, job, permit);
            }
            if full {
                continue; // there may be more waiting
            }
            if idle {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.poll_interval) => {}
                }
            }
        }
        tasks
    }

    /// Waits for one free worker, then takes as many more as are free (up to the batch size).
    async fn free_workers(&self) -> Vec<OwnedSemaphorePermit> {
        let first = self.workers.clone().acquire_owned().await.expect("worker semaphore closed");
        let mut permits = vec![first];
        while permits.len() < self.max_batch {
            match self.workers.clone().try_acquire_owned() {
                Ok(p) => permits.push(p),
                Err(_) => break,
            }
        }
        permits
    }

    fn start(&self, tasks: &mut JoinSet<()>, job: ClaimedJob, permit: OwnedSemaphorePermit) {
        let control = self.running.register(job.id.clone());
        let (run, running) = (self.run.clone(), self.running.clone());
        tasks.spawn(async move {
            let id = job.id.clone();
            // The permit goes with the job: freed once its outcome is written or handed over.
            run_job(run, job, control.clone(), permit).await;
            running.remove(&id, &control);
        });
    }
}
