//! The claimer: whenever workers are free, claims that many pending jobs in one statement
//! (`FOR UPDATE SKIP LOCKED`, so several instances share the table) and starts them. It wakes on
//! an insert (in-process, or NOTIFY from another instance) and polls as a fallback.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::db::JobStore;
use crate::procedure::Procedures;

use super::model::JobId;
use super::runner::run_job;
use super::writer::JobWriter;

pub struct Claimer {
    pub store: Arc<dyn JobStore>,
    pub procedures: Arc<Procedures>,
    pub writer: JobWriter,
    pub instance_id: String,
    pub workers: Arc<Semaphore>,
    pub max_batch: usize,
    pub poll_interval: Duration,
    pub wake: Arc<Notify>,
    /// Cancel tokens of the jobs running here, by id.
    pub running: Arc<Mutex<HashMap<JobId, CancellationToken>>>,
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
            let claimed = match self.store.claim(&self.instance_id, permits.len()).await {
                Ok(jobs) => {
                    error_backoff = Duration::from_millis(100);
                    jobs
                }
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed; retrying");
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

    fn start(&self, tasks: &mut JoinSet<()>, job: super::model::ClaimedJob, permit: OwnedSemaphorePermit) {
        let cancel = CancellationToken::new();
        self.running.lock().expect("running lock").insert(job.id.clone(), cancel.clone());
        let (procedures, writer, running) = (self.procedures.clone(), self.writer.clone(), self.running.clone());
        tasks.spawn(async move {
            let id = job.id.clone();
            run_job(procedures, writer, job, cancel).await;
            running.lock().expect("running lock").remove(&id);
            drop(permit);
        });
    }
}
