//! Live job events. The rows of `ASYNC_JOB_EVENTS` are the one source: the job table's triggers
//! write them with each state change, so every instance — and every replay — sees the same
//! history in the same order. Each instance runs:
//! - a relay (`relay.rs`) that, while anyone here listens, reads new rows ([`tail::Tail`]) and
//!   broadcasts them to this instance's subscribers. It reads when this instance has written
//!   (the store is wrapped by [`signal::SignallingStore`]), when another instance announces
//!   (PostgreSQL NOTIFY), and every `EVENT_POLL_INTERVAL` (Oracle, and a safety net);
//! - an announcer that, after this instance wrote, sends one NOTIFY (at most every 50 ms) so
//!   the other instances' relays read at once.
//!
//! Readers: [`watch::JobWatch`] (one job: history, then live, until its last event) and
//! [`feed::EventFeed`] (every job a caller may see).

pub mod feed;
mod relay;
pub mod signal;
pub mod tail;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::db::JobStore;
use crate::model::event::JobEvent;

pub use signal::{EventSignal, SignallingStore};

/// A stream of events for one reader: [`watch::JobWatch`] or [`feed::EventFeed`].
#[async_trait::async_trait]
pub trait EventReader: Send {
    /// The next event; `Ok(None)` when there will be no more.
    async fn next_event(&mut self) -> Result<Option<Arc<JobEvent>>, crate::db::DbError>;
}

#[async_trait::async_trait]
impl EventReader for watch::JobWatch {
    async fn next_event(&mut self) -> Result<Option<Arc<JobEvent>>, crate::db::DbError> {
        self.next().await
    }
}

#[async_trait::async_trait]
impl EventReader for feed::EventFeed {
    async fn next_event(&mut self) -> Result<Option<Arc<JobEvent>>, crate::db::DbError> {
        self.next().await
    }
}

/// Events buffered per subscriber before it lags (a lagging reader re-reads from the table).
const CHANNEL_CAPACITY: usize = 4096;
/// Lagging readers' table reads at once, across all of them (the rest wait their turn): they
/// use the pool the API's requests use.
const CATCH_UP_READS: usize = 2;

/// This instance's subscribers and the relay that feeds them.
pub struct EventHub {
    tx: broadcast::Sender<Arc<JobEvent>>,
    /// Wakes the relay (a subscriber arrived, this instance wrote, another one announced).
    wake: Arc<Notify>,
    store: Arc<dyn JobStore>,
    /// Cancelled when the instance stops: every stream ends.
    closed: CancellationToken,
    /// How long a quiet per-job reader waits before it looks at the table itself (the safety
    /// net for an announcement lost with the instance that was to send it).
    recheck: Duration,
    /// Permits for lagging feeds' table reads ([`CATCH_UP_READS`]).
    catch_up: tokio::sync::Semaphore,
}

impl EventHub {
    /// Starts the relay (and, for backends that announce, the announcer) on `tasks`; both end
    /// when `stop` fires. `remote` is woken by the store's LISTEN when another instance wrote.
    pub fn start(
        store: Arc<dyn JobStore>,
        signal: &EventSignal,
        remote: Arc<Notify>,
        instance_id: String,
        poll_interval: Duration,
        tasks: &TaskTracker,
        stop: CancellationToken,
    ) -> Arc<EventHub> {
        let (tx, _) = broadcast::channel(CHANNEL_CAPACITY);
        let hub = Arc::new(EventHub {
            tx,
            wake: signal.local.clone(),
            store: store.clone(),
            closed: stop.clone(),
            recheck: (poll_interval * 10).max(Duration::from_secs(20)),
            catch_up: tokio::sync::Semaphore::new(CATCH_UP_READS),
        });
        tasks.spawn(relay::run(hub.clone(), remote, poll_interval, stop.clone()));
        tasks.spawn(signal::announce(store, signal.announce.clone(), instance_id, stop));
        hub
    }

    /// A receiver of every event read from now on (the relay starts reading if it was idle).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<JobEvent>> {
        let rx = self.tx.subscribe();
        self.wake.notify_one();
        rx
    }

    /// A turn to read the table for a feed that lagged (waits while others read).
    async fn catch_up_permit(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.catch_up.acquire().await.expect("the catch-up semaphore is never closed")
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }

    fn publish(&self, event: JobEvent) {
        let _ = self.tx.send(Arc::new(event));
    }
}
