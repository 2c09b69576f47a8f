//! The audit trail's writer. Requests hand their [`AuditEntry`] to an [`AuditLog`]; it logs the
//! entry at once (a `tracing` event, target `procgate::audit`) and queues it for one background
//! task that inserts what has gathered as one batch (`JobStore::record_audit`: one statement, one
//! commit), so a request never waits for the database on its account:
//! - back-pressure, not loss: when the queue is full the request waits for room, at most
//!   [`QUEUE_WAIT`]; past that the entry is logged as not stored (it is in the log already);
//! - a batch the database refuses is logged (each entry, no secret in any) and tried again with
//!   backoff, [`ATTEMPTS`] times in all, then dropped with an error line naming the entries;
//! - at shutdown the writer outlives the HTTP server: it ends once the last [`AuditLog`] handle
//!   is gone (the server has answered its last request) and every entry it was given is written,
//!   which [`AuditWriter::finished`] waits for; so a synchronous call interrupted at the very end
//!   of the shutdown is in the table too.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::db::JobStore;
use crate::model::audit::AuditEntry;

/// Entries waiting for the writer at most; a request finding it full waits for room.
pub const QUEUE_CAPACITY: usize = 10_000;
/// Most entries in one statement.
pub const MAX_BATCH: usize = 1000;
/// How long a request waits for room in a full queue before its entry goes to the log only.
pub const QUEUE_WAIT: Duration = Duration::from_secs(5);
/// Tries of one batch the database refuses, the first included.
pub const ATTEMPTS: u32 = 5;
/// The wait before the first retry of a refused batch; it doubles with each retry.
const FIRST_RETRY: Duration = Duration::from_millis(200);

/// A handle requests record their entries through. Cheap to clone.
#[derive(Clone)]
pub struct AuditLog {
    /// `None`: `AUDIT=off`, entries go to the log only.
    tx: Option<mpsc::Sender<AuditEntry>>,
}

/// The writer task: it ends once every [`AuditLog`] handle is dropped and the queue is written.
pub struct AuditWriter(Option<JoinHandle<()>>);

impl AuditWriter {
    /// Waits, at most `within`, for the writer to store what it was given; call it once the HTTP
    /// server has stopped (a handle still alive past `within` is reported, not waited for).
    pub async fn finished(self, within: Duration) {
        let Some(task) = self.0 else { return };
        if tokio::time::timeout(within, task).await.is_err() {
            tracing::warn!(target: "procgate::audit", waited = ?within, "the audit writer was still waiting for entries at exit");
        }
    }
}

impl AuditLog {
    /// Starts the writer (when `enabled`); it ends once every handle is dropped and everything
    /// queued before is written.
    pub fn start(store: Arc<dyn JobStore>, instance_id: String, enabled: bool) -> (Self, AuditWriter) {
        if !enabled {
            return (Self { tx: None }, AuditWriter(None));
        }
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let task = tokio::spawn(run(store, instance_id, rx));
        (Self { tx: Some(tx) }, AuditWriter(Some(task)))
    }

    /// Logs the entry and queues it for the table, waiting (bounded) for room in the queue.
    pub async fn record(&self, entry: AuditEntry) {
        let entry = entry.bounded();
        log(&entry);
        let Some(tx) = &self.tx else { return };
        match tokio::time::timeout(QUEUE_WAIT, tx.send(entry)).await {
            Ok(Ok(())) => {}
            Ok(Err(mpsc::error::SendError(entry))) => {
                tracing::warn!(target: "procgate::audit", entry = ?entry, "the audit writer has stopped (shutdown): entry not stored in ASYNC_AUDIT");
            }
            Err(_) => tracing::error!(
                target: "procgate::audit",
                waited = ?QUEUE_WAIT,
                "the audit queue stayed full (the database is slow or away): entry not stored in ASYNC_AUDIT"
            ),
        }
    }
}

/// The structured log line of one entry: named fields, never a token or a parameter's value.
pub fn log(e: &AuditEntry) {
    tracing::info!(
        target: "procgate::audit",
        client = %e.client,
        action = e.action.as_str(),
        procedure = e.procedure.as_deref(),
        job_id = e.job_id.as_deref(),
        outcome = %e.outcome,
        http_status = e.http_status,
        duration_ms = e.duration_ms,
        affected = e.affected,
        detail = e.detail.as_deref(),
        "audit"
    );
}

async fn run(store: Arc<dyn JobStore>, instance_id: String, mut rx: mpsc::Receiver<AuditEntry>) {
    // `None` once every handle is gone and the queue is empty.
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        write(&*store, &instance_id, &batch).await;
    }
}

/// Writes one batch, retrying with backoff while the database refuses it.
async fn write(store: &dyn JobStore, instance_id: &str, batch: &[AuditEntry]) {
    let mut delay = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        match store.record_audit(instance_id, batch).await {
            Ok(()) => return,
            Err(e) if attempt < ATTEMPTS => {
                tracing::warn!(target: "procgate::audit", error = %e, entries = batch.len(), attempt, retry_in = ?delay, "could not store audit entries; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => {
                tracing::error!(target: "procgate::audit", error = %e, entries = batch.len(), attempts = ATTEMPTS, "audit entries could not be stored in ASYNC_AUDIT; they are only in this log");
                for entry in batch {
                    tracing::error!(target: "procgate::audit", entry = ?entry, "audit entry not stored");
                }
            }
        }
    }
}
