//! The one writer of running jobs' state. Runners send milestones and outcomes here; this task
//! applies them in arrival order through the store's conditional UPDATEs:
//! - outcomes are written at once, many per statement (group commit), each exactly once; at
//!   most `max_unwritten` wait at a time: [`JobWriter::finish`] waits for a place, so a runner
//!   that ended keeps its worker slot while the writer is that far behind, and an instance never
//!   claims far ahead of what it has written (a slow write stops the claims, instead of jobs
//!   piling up as `running` in the table and outcomes in memory);
//! - milestones are coalesced: a job still running at a flush shows its latest one, and a job
//!   that finishes before the flush never writes its intermediate milestones at all;
//! - so are the procedure's own progress reports: each job's latest (merged field by field) is
//!   written at the next flush, however many arrived meanwhile. They are coalesced at the source
//!   too: a job's sink keeps one report slot and signals the writer only when the slot fills, so
//!   a procedure reporting in a tight loop puts at most one message per job in the channel.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::db::{DbError, DbErrorKind, JobStore};

use crate::model::{JobError, JobId, JobStatus, Milestone, Outcome, ProgressReport, ProgressSink, ProgressUpdate};

/// Most outcomes written by one statement.
const MAX_BATCH: usize = 1000;

enum Op {
    Progress(JobId, i16),
    /// The session a job's call runs on.
    Attached(JobId, String),
    /// An outcome and its place among the unwritten ones (freed once it is written).
    Finish(Outcome, OwnedSemaphorePermit),
    /// The job's completion was committed with its call: forget what is pending for it.
    Done(JobId),
    /// The job's report slot was filled: take what it holds.
    Reported(JobId, ReportSlot),
}

/// A job's reports not yet taken by the writer (see the module header).
type ReportSlot = Arc<Mutex<Option<Reports>>>;

/// Reports merged into one, and the highest overall progress any of them stood for: progress is
/// the same however the reports were coalesced.
struct Reports {
    latest: ProgressReport,
    progress: Option<i16>,
}

impl Reports {
    fn new(report: ProgressReport) -> Self {
        Self { progress: report.overall_progress(), latest: report }
    }

    fn add(&mut self, newer: Reports) {
        self.progress = self.progress.max(newer.progress);
        self.latest.merge(newer.latest);
    }
}

/// A handle to the writer task.
#[derive(Clone)]
pub struct JobWriter {
    tx: mpsc::UnboundedSender<Op>,
    /// Places for outcomes not yet written.
    unwritten: Arc<Semaphore>,
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
        max_unwritten: usize,
        tasks: &TaskTracker,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tasks.spawn(run(Target { store, instance_id, give_up_after }, rx, flush_interval));
        Self { tx, unwritten: Arc::new(Semaphore::new(max_unwritten.max(1))) }
    }

    pub fn progress(&self, id: &JobId, milestone: Milestone) {
        let _ = self.tx.send(Op::Progress(id.clone(), milestone.percent()));
    }

    /// The job's attempt ended and its completion is already committed (with its call).
    pub fn done(&self, id: &JobId) {
        let _ = self.tx.send(Op::Done(id.clone()));
    }

    /// Hands `outcome` to the writer once it has a place among the unwritten ones (waits while
    /// `max_unwritten` are waiting to be written).
    pub async fn finish(&self, outcome: Outcome) {
        let place = self.unwritten.clone().acquire_owned().await.expect("the writer's semaphore is never closed");
        if self.tx.send(Op::Finish(outcome, place)).is_err() {
            tracing::error!("job writer stopped before an outcome could be written");
        }
    }

    /// A progress sink bound to one job.
    pub fn sink_for(&self, id: JobId) -> JobProgress {
        JobProgress { writer: self.clone(), id, report: ReportSlot::default() }
    }
}

#[derive(Clone)]
pub struct JobProgress {
    writer: JobWriter,
    id: JobId,
    report: ReportSlot,
}

impl ProgressSink for JobProgress {
    fn reached(&self, milestone: Milestone) {
        self.writer.progress(&self.id, milestone);
    }

    fn attached(&self, session: &str) {
        let _ = self.writer.tx.send(Op::Attached(self.id.clone(), session.to_string()));
    }

    fn reported(&self, report: ProgressReport) {
        let mut slot = self.report.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match slot.as_mut() {
            // The writer has not taken the previous one yet: it will take this one with it.
            Some(waiting) => waiting.add(Reports::new(report)),
            None => {
                *slot = Some(Reports::new(report));
                let _ = self.writer.tx.send(Op::Reported(self.id.clone(), self.report.clone()));
            }
        }
    }

    fn shared(&self) -> Option<Arc<dyn ProgressSink>> {
        Some(Arc::new(self.clone()))
    }
}

/// What is waiting to be written for one running job.
#[derive(Default)]
struct Pending {
    progress: i16,
    session: Option<String>,
    report: Option<ProgressReport>,
}

impl Pending {
    fn add_reports(&mut self, reports: Reports) {
        self.progress = self.progress.max(reports.progress.unwrap_or(0));
        match &mut self.report {
            Some(pending) => pending.merge(reports.latest),
            None => self.report = Some(reports.latest),
        }
    }
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
        let mut places = Vec::new();
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
                Op::Reported(id, slot) => {
                    let taken = slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
                    if let Some(reports) = taken {
                        pending_progress.entry(id).or_default().add_reports(reports);
                    }
                }
                Op::Finish(outcome, place) => {
                    pending_progress.remove(&outcome.id);
                    outcomes.push(outcome);
                    places.push(place);
                }
            }
            if outcomes.len() < MAX_BATCH {
                op = rx.try_recv().ok();
            }
        }
        if !outcomes.is_empty() {
            // In job id order: every batch locks its rows in one order, so two cannot deadlock.
            outcomes.sort_unstable_by(|a, b| a.id.as_str().cmp(b.id.as_str()));
            write_outcomes(&store, &outcomes).await;
            drop(places); // written (or left to the rescuer): room for more
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
    let updates: Vec<ProgressUpdate> = pending
        .drain()
        .map(|(id, p)| ProgressUpdate { id, progress: p.progress, session: p.session, report: p.report })
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tight_loop_of_reports_sends_the_writer_one_message() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let sink = JobWriter { tx, unwritten: Arc::new(Semaphore::new(1)) }.sink_for(JobId::generate());
        for i in 0..=1000 {
            let percent = if i == 500 { 100.0 } else { 10.0 };
            sink.reported(ProgressReport::new(Some(percent), Some(format!("report {i}")), Some(i), None).unwrap());
        }
        let Ok(Op::Reported(_, slot)) = rx.try_recv() else { panic!("no report message") };
        assert!(rx.try_recv().is_err(), "one message for the whole loop");
        let mut pending = Pending::default();
        pending.add_reports(slot.lock().unwrap().take().unwrap());
        // The latest figures, and the highest overall progress any report stood for.
        let expected = ProgressReport::new(Some(10.0), Some("report 1000".into()), Some(1000), None);
        assert_eq!((pending.report, pending.progress), (expected, 80));
        // Once taken, the next report sends a new message.
        sink.reported(ProgressReport::new(None, Some("again".into()), None, None).unwrap());
        assert!(matches!(rx.try_recv(), Ok(Op::Reported(..))));
    }
}
