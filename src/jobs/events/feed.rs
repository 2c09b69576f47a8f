//! Every job's events a reader may see (its own jobs; all for an admin), filtered by status and
//! procedure: `GET /events`. Live from the moment it starts, or resumed after an event id
//! (`Last-Event-ID`): the rows after it are read from the table first. Never ends by itself.
//!
//! A reader that falls behind the live events (its client reads slower than events come) reads
//! what it missed from the table, all of it, however far behind it is. Its memory stays small
//! however many readers lag at once: a page of [`PAGE`] rows at a time, read only when the
//! previous one was sent, and what it read is remembered as a range with its gaps
//! ([`Covered`]), not id by id. The table reads of all
//! readers go through the hub's few catch-up permits, so lagging readers cannot take every
//! pooled connection from the API (1,000 lagging subscribers did: `GET /stats` waited 60 s).

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use crate::db::DbError;
use crate::model::event::JobEvent;
use crate::model::JobStatus;

use super::EventHub;

/// Rows read per statement when catching up: what one lagging reader holds at most.
const PAGE: i64 = 100;
/// How many rows a resume (`Last-Event-ID`) reads at most before it goes live: a reader gone for
/// days does not replay everything since. A reader that lagged has no such bound: it reads all
/// it missed, a page at a time, however long that takes, and loses nothing.
const MAX_REPLAY: usize = 10_000;
/// How long the ids a catch-up read are kept to drop their repeats among live events (those
/// were on their way while the table was read; the relay delivers each live event once).
const OVERLAP: std::time::Duration = std::time::Duration::from_secs(10);
/// Gaps (ids a read skipped: uncommitted then, or deleted) remembered per reader; past that the
/// oldest are forgotten, and a late event in one would be taken for a repeat.
const MAX_GAPS: usize = 64;

/// The ids a catch-up has read: every id in `(from, to]` except the gaps. A live event whose id
/// is covered was already sent from the table; one in a gap was not (its transaction committed
/// after the read).
#[derive(Debug, Default)]
struct Covered {
    from: i64,
    to: i64,
    /// Ranges `(first, last)` of ids not read, in order.
    gaps: VecDeque<(i64, i64)>,
}

impl Covered {
    fn starting_at(from: i64) -> Self {
        Covered { from, to: from, gaps: VecDeque::new() }
    }

    /// Adds a read's ids (in order, all above `to`).
    fn add(&mut self, ids: impl IntoIterator<Item = i64>) {
        for id in ids {
            if id > self.to + 1 {
                self.gaps.push_back((self.to + 1, id - 1));
                if self.gaps.len() > MAX_GAPS {
                    self.gaps.pop_front();
                }
            }
            self.to = self.to.max(id);
        }
    }

    fn contains(&self, id: i64) -> bool {
        id > self.from && id <= self.to && !self.gaps.iter().any(|&(first, last)| (first..=last).contains(&id))
    }
}

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
    /// The ids the last catch-ups read, until `overlap_until`: live events among them are repeats.
    replayed_ids: Covered,
    overlap_until: Option<Instant>,
    /// The last event handed out (where a lagging feed catches up from).
    last_sent: i64,
    /// Where a catch-up read continues (None: caught up).
    replay_from: Option<i64>,
    replayed: usize,
    /// The most a catch-up reads before it goes live: `MAX_REPLAY` for a resume, none after a lag.
    replay_limit: Option<usize>,
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
            replayed_ids: Covered::default(),
            overlap_until: None,
            last_sent: floor,
            replay_from,
            replayed: 0,
            replay_limit: Some(MAX_REPLAY),
        })
    }

    /// The next event; `Ok(None)` when the instance is stopping.
    pub async fn next(&mut self) -> Result<Option<Arc<JobEvent>>, DbError> {
        loop {
            if self.overlap_until.is_some_and(|until| Instant::now() >= until) {
                self.replayed_ids = Covered::default();
                self.overlap_until = None;
            }
            while let Some((event, replayed)) = self.ready.pop_front() {
                let repeat = !replayed && self.replayed_ids.contains(event.event_id);
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
                    Err(RecvError::Lagged(_)) => {
                        crate::instruments::sse_catch_up();
                        self.replay_from = Some(self.last_sent);
                        self.replay_limit = None;
                    }
                    Err(RecvError::Closed) => return Ok(None),
                },
            }
        }
    }

    async fn catch_up(&mut self, from: i64) -> Result<(), DbError> {
        let rows = {
            let _permit = self.hub.catch_up_permit().await;
            self.hub.store.events_since(from, &[], PAGE).await?
        };
        let full = rows.len() as i64 == PAGE;
        self.replayed += rows.len();
        self.replay_from = match rows.last() {
            Some(last) if full && self.replay_limit.is_none_or(|limit| self.replayed < limit) => Some(last.event_id),
            _ => None,
        };
        // Live events received meanwhile come after the rows read (repeats are dropped).
        let live: Vec<_> = self.ready.drain(..).collect();
        // A read that continues the last one adds to what it covered (ids sent live in between
        // count as not read: a late one among them is still sent); any other starts afresh.
        if self.overlap_until.is_none() || from < self.replayed_ids.to {
            self.replayed_ids = Covered::starting_at(from);
        }
        self.replayed_ids.add(rows.iter().map(|e| e.event_id));
        self.overlap_until = Some(Instant::now() + OVERLAP);
        self.ready.extend(rows.into_iter().map(|e| (Arc::new(e), true)));
        self.ready.extend(live);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covered_ids_are_a_range_with_its_gaps() {
        let mut covered = Covered::starting_at(10);
        covered.add([11, 12, 15, 16]);
        covered.add([17, 20]);
        // Read: 11, 12, 15, 16, 17, 20. Not read: 13, 14 (one gap), 18, 19, and nothing above 20.
        let read: Vec<i64> = (5..25).filter(|&id| covered.contains(id)).collect();
        assert_eq!(read, vec![11, 12, 15, 16, 17, 20]);
        assert_eq!(covered.gaps, VecDeque::from([(13, 14), (18, 19)]));
    }

    #[test]
    fn a_reader_remembers_a_bounded_number_of_gaps() {
        let mut covered = Covered::starting_at(0);
        covered.add((1..=1000).map(|i| i * 2)); // every odd id is a gap
        assert_eq!(covered.gaps.len(), MAX_GAPS);
        // The newest gaps are kept: a late event in one of them is still sent.
        assert!(!covered.contains(1999));
        assert!(covered.contains(1998));
        // The oldest were forgotten: a late event there is taken for a repeat.
        assert!(covered.contains(1));
    }
}
