//! The jobs running in this instance, and how to stop one: each has a cancel token and the
//! first reason it was stopped for (a client's request, its timeout, the instance shutting down).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::model::JobId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `POST /jobs/{id}/cancel` or `DELETE /jobs/{id}`, from any instance.
    Requested,
    /// The job's timeout passed.
    Timeout,
    /// This instance is shutting down and the grace period is over.
    Shutdown,
}

/// One running job's handle.
#[derive(Clone)]
pub struct JobControl {
    pub token: CancellationToken,
    reason: Arc<OnceLock<StopReason>>,
}

impl JobControl {
    /// Interrupts the call; the first reason given is the one the job records.
    pub fn stop(&self, reason: StopReason) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    pub fn reason(&self) -> Option<StopReason> {
        self.reason.get().copied()
    }
}

/// Runs `stop` once `delay` has passed, unless the returned guard is dropped first: the one
/// "interrupt after a timer" of the job timeout and of `SYNC_TIMEOUT`.
#[must_use = "dropping the guard cancels the timer"]
pub fn cancel_after(delay: Duration, stop: impl FnOnce() + Send + 'static) -> TimerGuard {
    TimerGuard(tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        stop();
    }))
}

/// Cancels its timer when dropped.
pub struct TimerGuard(tokio::task::JoinHandle<()>);

impl Drop for TimerGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Registry of the jobs running here.
#[derive(Clone, Default)]
pub struct RunningJobs {
    jobs: Arc<Mutex<HashMap<JobId, JobControl>>>,
    /// Every job's token is a child of this one: cancelling it interrupts every call at once.
    parent: CancellationToken,
}

impl RunningJobs {
    /// A registry whose jobs are interrupted when `parent` is cancelled (the engine's root).
    pub fn new(parent: &CancellationToken) -> Self {
        RunningJobs { jobs: Arc::default(), parent: parent.child_token() }
    }

    pub fn register(&self, id: JobId) -> JobControl {
        let control = JobControl { token: self.parent.child_token(), reason: Arc::default() };
        self.jobs.lock().expect("running jobs lock").insert(id, control.clone());
        control
    }

    /// Forgets this run of the job — not a newer run of the same job registered since.
    pub fn remove(&self, id: &JobId, control: &JobControl) {
        let mut jobs = self.jobs.lock().expect("running jobs lock");
        if jobs.get(id).is_some_and(|c| Arc::ptr_eq(&c.reason, &control.reason)) {
            jobs.remove(id);
        }
    }

    /// Stops the job if it runs here; returns whether it did.
    pub fn stop(&self, id: &JobId, reason: StopReason) -> bool {
        let control = self.jobs.lock().expect("running jobs lock").get(id).cloned();
        control.map(|c| c.stop(reason)).is_some()
    }

    pub fn stop_all(&self, reason: StopReason) -> usize {
        let all: Vec<JobControl> = self.jobs.lock().expect("running jobs lock").values().cloned().collect();
        all.iter().for_each(|c| c.stop(reason));
        all.len()
    }

    pub fn ids(&self) -> Vec<JobId> {
        self.jobs.lock().expect("running jobs lock").keys().cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.jobs.lock().expect("running jobs lock").len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_sticks() {
        let running = RunningJobs::default();
        let id = JobId::generate();
        let control = running.register(id.clone());
        assert!(running.stop(&id, StopReason::Timeout));
        control.stop(StopReason::Requested);
        assert_eq!(control.reason(), Some(StopReason::Timeout));
        assert!(control.token.is_cancelled());
        let newer = running.register(id.clone());
        running.remove(&id, &control);
        assert!(running.stop(&id, StopReason::Requested), "removing the old run dropped the newer one");
        running.remove(&id, &newer);
        assert!(!running.stop(&id, StopReason::Requested));
        assert!(running.is_empty());
    }

    #[test]
    fn cancelling_the_parent_interrupts_every_job() {
        let root = CancellationToken::new();
        let running = RunningJobs::new(&root);
        let (a, b) = (running.register(JobId::generate()), running.register(JobId::generate()));
        assert!(!a.token.is_cancelled());
        root.cancel();
        assert!(a.token.is_cancelled() && b.token.is_cancelled());
    }
}
