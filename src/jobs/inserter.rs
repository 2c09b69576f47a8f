//! Accepting jobs with group commit: concurrent `POST /procedure/async` requests are inserted
//! together, one multi-row INSERT (one commit) for all that arrived while the previous one ran.
//! Each request still gets its answer only after its row is committed.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::db::{DbError, DbErrorKind, JobStore};

use crate::model::{Inserted, NewJob};

const MAX_BATCH: usize = 500;
/// Inserts in flight at once: one can commit while the next batch gathers.
const PARALLEL_INSERTS: usize = 2;

type Request = (NewJob, oneshot::Sender<Result<Inserted, DbError>>);

#[derive(Clone)]
pub struct JobInserter {
    tx: mpsc::Sender<Request>,
}

impl JobInserter {
    /// `wake` is notified after every committed batch (the local claimer's wake-up). Once `stop`
    /// fires, the tasks (on `tasks`) insert what was already handed to them and end; later
    /// requests are answered "shutting down".
    pub fn start(store: Arc<dyn JobStore>, wake: Arc<Notify>, tasks: &TaskTracker, stop: CancellationToken) -> Self {
        let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..PARALLEL_INSERTS {
            tasks.spawn(run(store.clone(), rx.clone(), wake.clone(), stop.clone()));
        }
        Self { tx }
    }

    /// Inserts one job as `pending`; returns once it is committed (or names the job that
    /// already holds its idempotency key).
    pub async fn insert(&self, job: NewJob) -> Result<Inserted, DbError> {
        let (done, result) = oneshot::channel();
        self.tx.send((job, done)).await.map_err(|_| DbError::unavailable("the gateway is shutting down"))?;
        result.await.map_err(|_| DbError::unavailable("the gateway is shutting down"))?
    }
}

async fn run(
    store: Arc<dyn JobStore>,
    rx: Arc<Mutex<mpsc::Receiver<Request>>>,
    wake: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let mut batch = Vec::new();
        {
            let mut rx = rx.lock().await;
            // Requests already queued win over `stop`: each is inserted before the task ends.
            let first = tokio::select! {
                biased;
                r = rx.recv() => r,
                _ = stop.cancelled() => rx.try_recv().ok(),
            };
            let Some(first) = first else { return };
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(r) => batch.push(r),
                    Err(_) => break,
                }
            }
        }
        let (jobs, waiters): (Vec<NewJob>, Vec<_>) = batch.into_iter().unzip();
        let answers = insert_isolated(&*store, &jobs).await;
        if answers.iter().any(Result::is_ok) {
            wake.notify_one();
        }
        for ((w, answer), job) in waiters.into_iter().zip(answers).zip(&jobs) {
            if matches!(answer, Ok(Inserted::New)) {
                crate::instruments::job_accepted(&job.procedure_name);
            }
            let _ = w.send(answer);
        }
    }
}

/// Inserts the batch in one statement; if the database refuses it for a reason other than being
/// unavailable, one job's data is to blame: each job is then tried on its own, so only that
/// request fails.
async fn insert_isolated(store: &dyn JobStore, jobs: &[NewJob]) -> Vec<Result<Inserted, DbError>> {
    match store.insert(jobs).await {
        Ok(answers) => answers.into_iter().map(Ok).collect(),
        Err(e) if e.kind == DbErrorKind::Unavailable || jobs.len() == 1 => vec![Err(e); jobs.len()],
        Err(_) => {
            let mut answers = Vec::with_capacity(jobs.len());
            for job in jobs {
                answers.push(store.insert(std::slice::from_ref(job)).await.map(|mut a| a.remove(0)));
            }
            answers
        }
    }
}
