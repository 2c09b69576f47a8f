//! The relay: while this instance has subscribers, reads the event rows it has not seen yet
//! and broadcasts them. Idle (no subscriber), it reads nothing; when one arrives it starts a
//! little before the newest row, so an event whose transaction was still committing is not
//! missed (subscribers drop what they already have).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::tail::Tail;
use super::EventHub;

/// Rows read per statement.
const PAGE: i64 = 1000;
/// How far before the newest row a fresh start reads.
const LOOK_BACK: i64 = 1000;
/// Reads are at least this far apart (a burst of writes becomes one read).
const MIN_GAP: Duration = Duration::from_millis(20);
/// How soon a read is repeated while ids are missing (transactions still committing).
const GAP_RETRY: Duration = Duration::from_millis(100);

pub(super) async fn run(hub: Arc<EventHub>, remote: Arc<Notify>, poll: Duration, stop: CancellationToken) {
    let mut tail: Option<Tail> = None;
    let mut error_backoff = Duration::from_millis(100);
    loop {
        let wait = if tail.as_ref().is_some_and(Tail::has_gaps) { GAP_RETRY } else { poll };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = hub.wake.notified() => {}
            _ = remote.notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        if hub.subscribers() == 0 {
            tail = None;
            continue;
        }
        match read(&hub, &mut tail).await {
            Ok(()) => error_backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?error_backoff, "reading job events failed");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(error_backoff) => {}
                }
                error_backoff = (error_backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(MIN_GAP) => {}
        }
    }
}

/// Reads every new row (page by page) and publishes it.
async fn read(hub: &EventHub, tail: &mut Option<Tail>) -> Result<(), crate::db::DbError> {
    let tail = match tail {
        Some(t) => t,
        None => {
            let newest = hub.store.last_event_id().await?;
            tail.insert(Tail::starting_after(newest.saturating_sub(LOOK_BACK)))
        }
    };
    loop {
        let missing = tail.missing(std::time::Instant::now());
        let rows = hub.store.events_since(tail.after(), &missing, PAGE).await?;
        let full = rows.len() as i64 == PAGE;
        for event in tail.take(rows, std::time::Instant::now()) {
            hub.publish(event);
        }
        if !full {
            return Ok(());
        }
    }
}
