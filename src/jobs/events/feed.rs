//! Every job's events a reader may see (its own jobs; all for an admin), filtered by status and
//! procedure: `GET /events`. Live from the moment it starts, or resumed after an event id
//! (`Last-Event-ID`): the rows after it are read from the table first. Never ends by itself.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use crate::db::DbError;
use crate::model::event::JobEvent;
use crate::model::JobStatus;

use super::EventHub;

/// Rows read per statement when catching up.
const PAGE: i64 = 1000;
/// How many rows a resume reads at most before it goes live (a reader gone for days does not
/// replay everything since).
const MAX_REPLAY: usize = 10_000;
/// How long the ids a catch-up read are kept to drop their repeats among live events (those
/// were on their way while the table was read; the relay delivers each live event once).
const OVERLAP: std::time::Duration = std::time::Duration::from_secs(10);

/// What a feed lets through.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    /// `Some`: only this owner's jobs.
    pub owner: Option<String>,
    /// Empty: any status (the job's status after the event).
    pub statuses: Vec<JobStatus>,
    /// Case-insensitive procedure name.
    pub procedure: Option<String>,
}

impl FeedFilter {
    pub fn admits(&self, e: &JobEvent) -> bool {
        self.owner.as_ref().is_none_or(|o| *o == e.owner)
            && (self.statuses.is_empty() || self.statuses.contains(&e.status))
            && self.procedure.as_ref().is_none_or(|p| p.eq_ignore_ascii_case(&e.procedure_name))
    }
}

pub struct EventFeed {
    hub: Arc<EventHub>,
    rx: broadcast::Receiver<Arc<JobEvent>>,
    filter: FeedFilter,
    /// Only events above this id (the start, or the resume point).
    floor: i64,
    /// Events to hand out, each marked whether it was read from the table (a replay).
    ready: VecDeque<(Arc<JobEvent>, bool)>,
    /// The ids the last catch-up read, until `overlap_until`: live events among them are repeats.
    replayed_ids: HashSet<i64>,
    overlap_until: Option<Instant>,
    /// The last event handed out (where a lagging feed catches up from).
    last_sent: i64,
    /// Where a catch-up read continues (None: caught up).
    replay_from: Option<i64>,
    replayed: usize,
}

impl EventFeed {
    /// A feed from now on (`after` None) or resumed after event `after`.
    pub async fn start(hub: Arc<EventHub>, filter: FeedFilter, after: Option<i64>) -> Result<Self, DbError> {
        let rx = hub.subscribe();
        let (floor, replay_from) = match after {
            Some(id) => (id, Some(id)),
            None => (hub.store.last_event_id().await?, None),
        };
        Ok(EventFeed {
            hub,
            rx,
            filter,
            floor,
            ready: VecDeque::new(),
            replayed_ids: HashSet::new(),
            overlap_until: None,
            last_sent: floor,
            replay_from,
            replayed: 0,
        })
    }

    /// The next event; `Ok(None)` when the instance is stopping.
    pub async fn next(&mut self) -> Result<Option<Arc<JobEvent>>, DbError> {
        loop {
            if self.overlap_until.is_some_and(|until| Instant::now() >= until) {
                self.replayed_ids = HashSet::new();
                self.overlap_until = None;
            }
            while let Some((event, replayed)) = self.ready.pop_front() {
                let repeat = !replayed && self.replayed_ids.contains(&event.event_id);
                if event.event_id > self.floor && !repeat && self.filter.admits(&event) {
                    self.last_sent = self.last_sent.max(event.event_id);
                    return Ok(Some(event));
                }
            }
            if self.hub.closed.is_cancelled() {
                return Ok(None);
            }
            if let Some(from) = self.replay_from {
                self.catch_up(from).await?;
                continue;
            }
            tokio::select! {
                _ = self.hub.closed.cancelled() => return Ok(None),
                received = self.rx.recv() => match received {
                    Ok(event) => self.ready.push_back((event, false)),
                    // Fell behind: read what was missed from the table.
                    Err(RecvError::Lagged(_)) => self.replay_from = Some(self.last_sent),
                    Err(RecvError::Closed) => return Ok(None),
                },
            }
        }
    }

    async fn catch_up(&mut self, from: i64) -> Result<(), DbError> {
        let rows = self.hub.store.events_since(from, &[], PAGE).await?;
        let full = rows.len() as i64 == PAGE;
        self.replayed += rows.len();
        self.replay_from = match rows.last() {
            Some(last) if full && self.replayed < MAX_REPLAY => Some(last.event_id),
            _ => None,
        };
        // Live events received meanwhile come after the rows read (repeats are dropped).
        let live: Vec<_> = self.ready.drain(..).collect();
        self.replayed_ids.extend(rows.iter().map(|e| e.event_id));
        self.overlap_until = Some(Instant::now() + OVERLAP);
        self.ready.extend(rows.into_iter().map(|e| (Arc::new(e), true)));
        self.ready.extend(live);
        Ok(())
    }
}
