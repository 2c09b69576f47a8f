//! The audit trail's writer. Requests hand their [`AuditEntry`] to an [`AuditLog`]; it logs the
//! entry at once (a `tracing` event, target `procgate::audit`) and queues it for one background
//! task that inserts what has gathered as one batch (`JobStore::record_audit`: one statement, one
//! commit), so a request never waits for the database on its account:
//! - back-pressure, not loss: when the queue is full the request waits for room, at most
//!   [`QUEUE_WAIT`]; past that the entry is logged as not stored (it is in the log already);
//! - a batch the database refuses is logged (each entry, no secret in any) and tried again with
//!   backoff, [`ATTEMPTS`] times in all, then dropped with an error line naming the entries;
//! - at shutdown (`stop`) the writer stops taking entries, writes every entry it was given, and
//!   ends; it runs on the engine's `TaskTracker`, so the pools outlive it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

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

impl AuditLog {
    /// Starts the writer on `tasks` (when `enabled`); it ends once `stop` fires and everything
    /// queued before is written.
    pub fn start(
        store: Arc<dyn JobStore>,
        instance_id: String,
        enabled: bool,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Self {
        if !enabled {
            return Self { tx: None };
        }
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        tasks.spawn(run(store, instance_id, rx, stop));
        Self { tx: Some(tx) }
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

async fn run(
    store: Arc<dyn JobStore>,
    instance_id: String,
    mut rx: mpsc::Receiver<AuditEntry>,
    stop: CancellationToken,
) {
    let mut stopping = false;
    loop {
        let first = if stopping {
            rx.recv().await
        } else {
            tokio::select! {
                biased;
                entry = rx.recv() => entry,
                _ = stop.cancelled() => {
                    // No new entries from here on; what is queued is still received, then None.
                    rx.close();
                    stopping = true;
                    continue;
                }
            }
        };
        let Some(first) = first else { return };
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
