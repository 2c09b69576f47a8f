//! What one subscriber received: how often it saw each (job, event type), and the delivery
//! latency of every event that happened while it was connected. Checked at the end against the
//! jobs it had to see: each one's `accepted`, `started` and `completed` exactly once. `progress`
//! events (a flush of a running job's progress; PROC_TEST has one when it runs across a flush)
//! are optional: each must arrive at most once, and [`Tally::progress`] lets the caller compare
//! subscribers that should have seen the same ones.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::sse::EventData;

/// The event types every job of the benchmark has (PROC_TEST neither fails nor retries).
pub const EXPECTED_TYPES: [&str; 3] = ["accepted", "started", "completed"];
/// The types whose latency is measured: the expected ones, then `progress`.
pub const MEASURED_TYPES: [&str; 4] = ["accepted", "started", "completed", "progress"];
const PROGRESS: usize = 3;

pub struct Tally {
    /// When the stream's 200 arrived; earlier events come from the history, not live.
    connected_at: DateTime<Utc>,
    /// Expected (job, type index) pairs and how often each arrived.
    counts: HashMap<(u128, u8), u32>,
    /// Progress events' ids, and how many arrived again.
    progress_ids: HashSet<i64>,
    progress_repeats: usize,
    /// Per measured type: receive time − the event's `at`, in ms (live events only).
    pub latencies_ms: [Vec<f32>; 4],
    /// Events that happened before the stream was connected (replayed history).
    pub history: usize,
    pub delivered: usize,
    /// How many different expected (job, type) pairs arrived.
    distinct: usize,
    /// Events of another type, or with a job id that is not 32 hex characters.
    pub other_types: BTreeMap<String, usize>,
    pub error: Option<String>,
}

/// The outcome of [`Tally::check`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Check {
    pub missing: usize,
    pub repeated: usize,
    pub unexpected: usize,
}

impl Tally {
    pub fn new(connected_at: DateTime<Utc>) -> Self {
        Tally {
            connected_at,
            counts: HashMap::new(),
            progress_ids: HashSet::new(),
            progress_repeats: 0,
            latencies_ms: Default::default(),
            history: 0,
            delivered: 0,
            distinct: 0,
            other_types: BTreeMap::new(),
            error: None,
        }
    }

    /// Records an event received at `received`.
    pub fn record(&mut self, event: &EventData, received: DateTime<Utc>) {
        self.delivered += 1;
        let kind = MEASURED_TYPES.iter().position(|t| *t == event.kind);
        let (Some(kind), Ok(job)) = (kind, u128::from_str_radix(&event.job_id, 16)) else {
            *self.other_types.entry(event.kind.clone()).or_insert(0) += 1;
            return;
        };
        if kind == PROGRESS {
            if !self.progress_ids.insert(event.event_id) {
                self.progress_repeats += 1;
                return;
            }
        } else {
            let count = self.counts.entry((job, kind as u8)).or_insert(0);
            *count += 1;
            if *count > 1 {
                return;
            }
            self.distinct += 1;
        }
        if event.at < self.connected_at {
            self.history += 1;
        } else {
            let micros = (received - event.at).num_microseconds().unwrap_or(i64::MAX);
            self.latencies_ms[kind].push(micros as f32 / 1000.0);
        }
    }

    /// Different expected (job, type) pairs received so far.
    pub fn distinct(&self) -> usize {
        self.distinct
    }

    /// Different progress events received.
    pub fn progress(&self) -> usize {
        self.progress_ids.len()
    }

    /// Compares what arrived with what had to: every expected type of every job in `jobs`,
    /// once (and each progress event at most once).
    pub fn check(&self, jobs: &HashSet<u128>) -> Check {
        let mut check =
            Check { unexpected: self.other_types.values().sum(), repeated: self.progress_repeats, ..Check::default() };
        for (&(job, _), &count) in &self.counts {
            if jobs.contains(&job) {
                check.repeated += count as usize - 1;
            } else {
                check.unexpected += count as usize;
            }
        }
        for &job in jobs {
            check.missing += (0..EXPECTED_TYPES.len() as u8).filter(|k| !self.counts.contains_key(&(job, *k))).count();
        }
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, kind: &str, job: &str, at: DateTime<Utc>) -> EventData {
        EventData { event_id: id, kind: kind.into(), job_id: job.into(), at }
    }

    #[test]
    fn counts_missing_repeated_and_unexpected() {
        let t0 = Utc::now();
        let mut tally = Tally::new(t0);
        let (a, b) = ("0a", "0b");
        tally.record(&event(1, "accepted", a, t0 - chrono::Duration::seconds(1)), t0);
        tally.record(&event(2, "started", a, t0), t0);
        tally.record(&event(2, "started", a, t0), t0);
        tally.record(&event(3, "progress", a, t0), t0);
        tally.record(&event(3, "progress", a, t0), t0);
        tally.record(&event(4, "completed", a, t0), t0);
        tally.record(&event(5, "failed", b, t0), t0);
        tally.record(&event(6, "accepted", "zz", t0), t0);
        tally.record(&event(7, "accepted", "0c", t0), t0);
        let check = tally.check(&HashSet::from([0x0a, 0x0b]));
        assert_eq!((check.missing, check.repeated, check.unexpected), (3, 2, 3));
        assert_eq!((tally.distinct(), tally.progress(), tally.history, tally.delivered), (4, 1, 1, 9));
        assert_eq!(tally.latencies_ms.iter().map(Vec::len).sum::<usize>(), 4);
    }
}
