//! One job's events for one reader: its history from the table first, then live events as the
//! relay reads them, each exactly once and in order, until the job's last event (completed,
//! failed, cancelled, deleted). A reader that falls behind, or has heard nothing for a while,
//! reads the table again from its last event, so nothing is lost to a full channel, a missed
//! announcement or an instance that died before announcing.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use crate::db::DbError;
use crate::model::event::JobEvent;
use crate::model::JobId;

use super::EventHub;

/// Rows read per statement.
const PAGE: i64 = 500;

pub struct JobWatch {
    hub: Arc<EventHub>,
    rx: broadcast::Receiver<Arc<JobEvent>>,
    id: JobId,
    /// The last event handed out (0: none yet).
    last: i64,
    ready: VecDeque<Arc<JobEvent>>,
    /// Read the table before waiting (at the start, after a lag, after a quiet spell).
    reread: bool,
    /// When a quiet watch reads the table anyway (a missed announcement costs at most this).
    next_recheck: Instant,
    ended: bool,
}

impl JobWatch {
    /// Watches job `id` from just after event `after` (0: its whole history). The caller has
    /// checked that the job exists and may be seen.
    pub fn new(hub: Arc<EventHub>, id: JobId, after: i64) -> Self {
        // Subscribed before the history is read: nothing falls between the two.
        let rx = hub.subscribe();
        let next_recheck = Instant::now() + hub.recheck;
        JobWatch { hub, rx, id, last: after, ready: VecDeque::new(), reread: true, next_recheck, ended: false }
    }

    /// The last event handed out.
    pub fn last_event_id(&self) -> i64 {
        self.last
    }

    /// The next event; `Ok(None)` once the job's last event was handed out, or the instance is
    /// stopping. Waits as long as it takes: callers bound it.
    pub async fn next(&mut self) -> Result<Option<Arc<JobEvent>>, DbError> {
        loop {
            if let Some(event) = self.pop_ready() {
                return Ok(Some(event));
            }
            if self.ended || self.hub.closed.is_cancelled() {
                return Ok(None);
            }
            if self.reread {
                self.read_table().await?;
                continue;
            }
            tokio::select! {
                _ = self.hub.closed.cancelled() => return Ok(None),
                received = self.rx.recv() => match received {
                    Ok(event) if event.job_id == self.id => self.ready.push_back(event),
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.reread = true,
                    Err(RecvError::Closed) => return Ok(None),
                },
                _ = tokio::time::sleep_until(self.next_recheck) => self.reread = true,
            }
        }
    }

    /// What is available now without waiting: every event already read or in the table.
    pub async fn drain_ready(&mut self) -> Result<Vec<Arc<JobEvent>>, DbError> {
        let mut out = Vec::new();
        loop {
            while let Ok(event) = self.rx.try_recv() {
                if event.job_id == self.id {
                    self.ready.push_back(event);
                }
            }
            while let Some(event) = self.pop_ready() {
                out.push(event);
            }
            if self.ended || !self.reread {
                return Ok(out);
            }
            self.read_table().await?;
        }
    }

    fn pop_ready(&mut self) -> Option<Arc<JobEvent>> {
        while let Some(event) = self.ready.pop_front() {
            if event.event_id > self.last && !self.ended {
                self.last = event.event_id;
                self.ended = event.event_type.is_final();
                return Some(event);
            }
        }
        None
    }

    async fn read_table(&mut self) -> Result<(), DbError> {
        self.next_recheck = Instant::now() + self.hub.recheck;
        let rows = self.hub.store.job_events(&self.id, self.last, PAGE).await?;
        let full = rows.len() as i64 == PAGE;
        if rows.is_empty() && !self.ended && self.hub.store.get(&self.id, None).await?.is_none() {
            // Deleted without a `deleted` event (a bulk delete of ended jobs): nothing will follow.
            self.ended = true;
        }
        self.ready.extend(rows.into_iter().map(Arc::new));
        // Live events may already wait here: hand everything out in id order (repeats are dropped).
        self.ready.make_contiguous().sort_by_key(|e| e.event_id);
        self.reread = full;
        Ok(())
    }
}
