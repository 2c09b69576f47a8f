//! The one writer of running jobs' state. Runners send milestones and outcomes here; this task
//! applies them in arrival order through the store's conditional UPDATEs:
//! - outcomes are written at once, many per statement (group commit), each exactly once;
//! - milestones are coalesced: a job still running at a flush shows its latest one, and a job
//!   that finishes before the flush never writes its intermediate milestones at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::db::{DbError, DbErrorKind, JobStore};

use crate::model::{JobError, JobId, JobStatus, Milestone, Outcome, ProgressSink, ProgressUpdate};

/// Most outcomes written by one statement.
const MAX_BATCH: usize = 1000;

enum Op {
    Progress(JobId, i16),
    /// The session a job's call runs on.
    Attached(JobId, String),
    Finish(Outcome),
    /// The job's completion was committed with its call: forget what is pending for it.
    Done(JobId),
}

/// A handle to the writer task.
#[derive(Clone)]
pub struct JobWriter {
    tx: mpsc::UnboundedSender<Op>,
}

impl JobWriter {
    /// Starts the writer on `tasks`; it ends once every handle is dropped and all it was sent
    /// is written. `give_up_after`: how long an outcome is retried while the database is
    /// unreachable. Past the lease, the job belongs to the rescuer anyway (and this write would
    /// be refused).
    pub fn start(
        store: Arc<dyn JobStore>,
        instance_id: String,
        flush_interval: Duration,
        give_up_after: Duration,
        tasks: &TaskTracker,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.spawn(run(Target { store, instance_id, give_up_after }, rx, flush_interval));
        Self { tx }
    }

    pub fn progress(&self, id: &JobId, milestone: Milestone) {
        let _ = self.tx.send(Op::Progress(id.clone(), milestone.percent()));
    }

    /// The job's attempt ended and its completion is already committed (with its call).
    pub fn done(&self, id: &JobId) {
        let _ = self.tx.send(Op::Done(id.clone()));
    }

    pub fn finish(&self, outcome: Outcome) {
        if self.tx.send(Op::Finish(outcome)).is_err() {
            tracing::error!("job writer stopped before an outcome could be written");
        }
    }

    /// A progress sink bound to one job.
    pub fn sink_for(&self, id: JobId) -> JobProgress {
        JobProgress { writer: self.clone(), id }
    }
}

pub struct JobProgress {
    writer: JobWriter,
    id: JobId,
}

impl ProgressSink for JobProgress {
    fn reached(&self, milestone: Milestone) {
        self.writer.progress(&self.id, milestone);
    }

    fn attached(&self, session: &str) {
        let _ = self.writer.tx.send(Op::Attached(self.id.clone(), session.to_string()));
    }
}

/// What is waiting to be written for one running job.
#[derive(Default)]
struct Pending {
    progress: i16,
    session: Option<String>,
}

/// Where the writer writes: this instance's rows in the store.
struct Target {
    store: Arc<dyn JobStore>,
    instance_id: String,
    give_up_after: Duration,
}

async fn run(store: Target, mut rx: mpsc::UnboundedReceiver<Op>, flush_interval: Duration) {
    let mut pending_progress: HashMap<JobId, Pending> = HashMap::new();
    let mut next_flush = Instant::now() + flush_interval;
    loop {
        let first = if pending_progress.is_empty() {
            rx.recv().await
        } else {
            tokio::select! {
                op = rx.recv() => op,
                _ = tokio::time::sleep_until(next_flush) => {
                    flush_progress(&store, &mut pending_progress).await;
                    next_flush = Instant::now() + flush_interval;
                    continue;
                }
            }
        };
        let Some(first) = first else { break };
        let mut outcomes = Vec::new();
        let mut op = Some(first);
        while let Some(o) = op.take() {
            match o {
                Op::Progress(id, p) => {
                    let slot = pending_progress.entry(id).or_default();
                    slot.progress = slot.progress.max(p);
                }
                Op::Attached(id, session) => pending_progress.entry(id).or_default().session = Some(session),
                Op::Done(id) => {
                    pending_progress.remove(&id);
                }
                Op::Finish(outcome) => {
                    pending_progress.remove(&outcome.id);
                    outcomes.push(outcome);
                }
            }
            if outcomes.len() < MAX_BATCH {
                op = rx.try_recv().ok();
            }
        }
        if !outcomes.is_empty() {
            write_outcomes(&store, &outcomes).await;
        }
        if Instant::now() >= next_flush && !pending_progress.is_empty() {
            flush_progress(&store, &mut pending_progress).await;
            next_flush = Instant::now() + flush_interval;
        }
    }
    flush_progress(&store, &mut pending_progress).await;
}

async fn flush_progress(target: &Target, pending: &mut HashMap<JobId, Pending>) {
    if pending.is_empty() {
        return;
    }
    let updates: Vec<ProgressUpdate> =
        pending.drain().map(|(id, p)| ProgressUpdate { id, progress: p.progress, session: p.session }).collect();
    // Progress is advisory: a failed flush is logged, not retried (the outcome will follow).
    if let Err(e) = target.store.record_progress(&target.instance_id, &updates).await {
        tracing::warn!(error = %e, jobs = updates.len(), "could not record job progress");
    }
}

/// Writes outcomes, retrying while the database is unavailable — until the jobs' lease has
/// passed: from then on the rescuer settles them (retried or failed `orphaned`), so a shutdown
/// never hangs on a database that is gone. A batch the database refuses for another reason
/// (one job's result it cannot store) is written job by job, so the others are not held back.
async fn write_outcomes(target: &Target, outcomes: &[Outcome]) {
    let started = Instant::now();
    let mut delay = Duration::from_millis(50);
    loop {
        match target.store.finish(&target.instance_id, outcomes).await {
            Ok(written) => {
                if written.len() < outcomes.len() {
                    tracing::debug!(
                        skipped = outcomes.len() - written.len(),
                        "outcomes for jobs no longer running here were not written"
                    );
                }
                return;
            }
            Err(e @ DbError { kind: DbErrorKind::Unavailable, .. }) => {
                if started.elapsed() >= target.give_up_after {
                    let ids: Vec<String> = outcomes.iter().map(|o| o.id.to_string()).collect();
                    tracing::error!(error = %e, jobs = ?ids, "job outcomes could not be written; the rescuer will settle these jobs");
                    return;
                }
                tracing::warn!(error = %e, retry_in = ?delay, "could not write job outcomes; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) if outcomes.len() > 1 => {
                tracing::warn!(error = %e, jobs = outcomes.len(), "outcome batch refused; writing one by one");
                for outcome in outcomes {
                    Box::pin(write_outcomes(target, std::slice::from_ref(outcome))).await;
                }
                return;
            }
            Err(e) if outcomes[0].result.is_some() || outcomes[0].output.is_some() => {
                // The database cannot store this job's result or output: end the job honestly.
                let o = &outcomes[0];
                tracing::error!(job_id = %o.id, error = %e, "job result could not be stored");
                let failed = Outcome {
                    status: JobStatus::Failed,
                    result: None,
                    output: None,
                    retry_in: None,
                    error: Some(JobError {
                        code: "unwritable_result".into(),
                        message: format!("the call ended, but its result could not be stored: {}", e.message),
                    }),
                    ..o.clone()
                };
                Box::pin(write_outcomes(target, std::slice::from_ref(&failed))).await;
                return;
            }
            Err(e) => {
                tracing::error!(job_id = %outcomes[0].id, error = %e, "job outcome refused by the database");
                return;
            }
        }
    }
}
