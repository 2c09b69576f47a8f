//! Every job's events a reader may see (its own jobs; all for an admin), filtered by status and
//! procedure: `GET /events`. Live from the moment it starts, or resumed after an event id
//! (`Last-Event-ID`): the rows after it are read from the table first. Never ends by itself.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::db::DbError;
use crate::model::event::JobEvent;
use crate::model::JobStatus;

use super::EventHub;

/// Rows read per statement when catching up.
const PAGE: i64 = 1000;
/// How many rows a resume reads at most before it goes live (a reader gone for days does not
/// replay everything since).
const MAX_REPLAY: usize = 10_000;
/// Ids remembered to drop repeats (the overlap of a replay and live events).
const REMEMBERED: usize = 10_000;

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
        self.owner.as_ref().map_or(true, |o| *o == e.owner)
            && (self.statuses.is_empty() || self.statuses.contains(&e.status))
            && self.procedure.as_ref().map_or(true, |p| p.eq_ignore_ascii_case(&e.procedure_name))
    }
}

pub struct EventFeed {
    hub: Arc<EventHub>,
    rx: broadcast::Receiver<Arc<JobEvent>>,
    filter: FeedFilter,
    /// Only events above this id (the start, or the resume point).
    floor: i64,
    ready: VecDeque<Arc<JobEvent>>,
    seen: HashSet<i64>,
    seen_order: VecDeque<i64>,
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
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
            replay_from,
            replayed: 0,
        })
    }

    /// The next event; `Ok(None)` when the instance is stopping.
    pub async fn next(&mut self) -> Result<Option<Arc<JobEvent>>, DbError> {
        loop {
            while let Some(event) = self.ready.pop_front() {
                if event.event_id > self.floor && self.filter.admits(&event) && self.remember(event.event_id) {
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
                    Ok(event) => self.ready.push_back(event),
                    // Fell behind: read what was missed from the table.
                    Err(RecvError::Lagged(_)) => self.replay_from = self.seen_order.back().copied().or(Some(self.floor)),
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
        self.ready.extend(rows.into_iter().map(Arc::new));
        self.ready.extend(live);
        Ok(())
    }

    /// Whether `id` is new to this feed (and remembers it).
    fn remember(&mut self, id: i64) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.seen_order.push_back(id);
        if self.seen_order.len() > REMEMBERED {
            if let Some(old) = self.seen_order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}
