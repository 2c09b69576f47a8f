//! Reading every job's new events in order, without missing one whose transaction commits late.
//!
//! Event ids are allocated when a row is inserted, but transactions commit in their own order:
//! a read of "ids above the last one seen" can find 101 and 103 while 102 is still uncommitted.
//! The tail remembers such gaps and asks for them again on its next reads; a gap that stays
//! empty for [`GAP_PATIENCE`] was a rolled-back insert (or a skipped sequence value) and is
//! forgotten. Gaps wider than [`MAX_GAP`] are sequence jumps (a cache lost at restart), not
//! transactions in flight.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::model::event::JobEvent;

/// How long a missing id is asked for again.
pub const GAP_PATIENCE: Duration = Duration::from_secs(10);
/// Wider gaps are not tracked id by id.
const MAX_GAP: i64 = 1000;
/// Most ids tracked at once (the oldest are dropped first).
const MAX_MISSING: usize = 10_000;

#[derive(Debug, Default)]
pub struct Tail {
    /// The highest id read so far.
    after: i64,
    /// Ids below `after` that were not there when read, with when they were first missed.
    missing: BTreeMap<i64, Instant>,
}

impl Tail {
    /// A tail that starts after `after` (events up to it are taken as read).
    pub fn starting_after(after: i64) -> Self {
        Tail { after, missing: BTreeMap::new() }
    }

    pub fn after(&self) -> i64 {
        self.after
    }

    /// The ids to ask for again (expired ones are forgotten first).
    pub fn missing(&mut self, now: Instant) -> Vec<i64> {
        self.missing.retain(|_, since| now.duration_since(*since) < GAP_PATIENCE);
        self.missing.keys().copied().collect()
    }

    pub fn has_gaps(&self) -> bool {
        !self.missing.is_empty()
    }

    /// Takes a read's rows (ordered by id); returns those not seen before, in order.
    pub fn take(&mut self, rows: Vec<JobEvent>, now: Instant) -> Vec<JobEvent> {
        let mut fresh = Vec::with_capacity(rows.len());
        for event in rows {
            let id = event.event_id;
            if id > self.after {
                if id - self.after > 1 && id - self.after <= MAX_GAP {
                    for gap in self.after + 1..id {
                        self.missing.insert(gap, now);
                    }
                }
                self.after = id;
                fresh.push(event);
            } else if self.missing.remove(&id).is_some() {
                fresh.push(event);
            }
        }
        while self.missing.len() > MAX_MISSING {
            self.missing.pop_first();
        }
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::event::{EventType, ReportedFigures};
    use crate::model::{JobId, JobStatus};

    fn event(id: i64) -> JobEvent {
        JobEvent {
            event_id: id,
            job_id: JobId::generate(),
            event_type: EventType::Accepted,
            at: chrono::Utc::now(),
            owner: "o".into(),
            procedure_name: "P".into(),
            status: JobStatus::Pending,
            progress: 0,
            attempt: 0,
            error: None,
            message: None,
            figures: ReportedFigures::default(),
            run_at: None,
        }
    }

    fn ids(events: &[JobEvent]) -> Vec<i64> {
        events.iter().map(|e| e.event_id).collect()
    }

    #[test]
    fn a_late_commit_is_delivered_once_when_it_appears() {
        let now = Instant::now();
        let mut tail = Tail::starting_after(100);
        assert_eq!(ids(&tail.take(vec![event(101), event(103)], now)), [101, 103]);
        assert_eq!(tail.missing(now), [102]);
        // 102 commits; the next read returns it with anything newer.
        assert_eq!(ids(&tail.take(vec![event(102), event(104)], now)), [102, 104]);
        assert!(!tail.has_gaps());
        // Read again (overlap): nothing is delivered twice.
        assert!(tail.take(vec![event(102), event(103), event(104)], now).is_empty());
    }

    #[test]
    fn a_gap_that_never_fills_is_forgotten() {
        let now = Instant::now();
        let mut tail = Tail::starting_after(0);
        tail.take(vec![event(1), event(3)], now);
        assert_eq!(tail.missing(now + GAP_PATIENCE / 2), [2]);
        assert!(tail.missing(now + GAP_PATIENCE).is_empty());
    }

    #[test]
    fn sequence_jumps_are_not_tracked_id_by_id() {
        let now = Instant::now();
        let mut tail = Tail::starting_after(5);
        assert_eq!(ids(&tail.take(vec![event(50_000)], now)), [50_000]);
        assert!(!tail.has_gaps());
        assert_eq!(tail.after(), 50_000);
    }
}
