//! What one subscriber received: how often it saw each (job, event type), and the delivery
//! latency of every event that happened while it was connected. Checked at the end against the
//! jobs it had to see: each one's `accepted`, `started` and `completed` exactly once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::sse::EventData;

/// The events every job of the benchmark has (PROC_TEST neither fails nor retries).
pub const EXPECTED_TYPES: [&str; 3] = ["accepted", "started", "completed"];
/// The type index of any other event type.
const OTHER: u8 = u8::MAX;

pub struct Tally {
    /// When the stream's 200 arrived; earlier events come from the history, not live.
    connected_at: DateTime<Utc>,
    counts: HashMap<(u128, u8), u32>,
    /// Per expected type: receive time − the event's `at`, in ms (live events only).
    pub latencies_ms: [Vec<f32>; 3],
    /// Events that happened before the stream was connected (replayed history).
    pub history: usize,
    pub delivered: usize,
    /// How many different expected (job, type) pairs arrived.
    distinct: usize,
    /// A job id that is not 32 hex characters (never expected).
    malformed_ids: usize,
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
            latencies_ms: Default::default(),
            history: 0,
            delivered: 0,
            distinct: 0,
            malformed_ids: 0,
            error: None,
        }
    }

    /// Records an event received at `received`.
    pub fn record(&mut self, event: &EventData, received: DateTime<Utc>) {
        self.delivered += 1;
        let Ok(job) = u128::from_str_radix(&event.job_id, 16) else {
            self.malformed_ids += 1;
            return;
        };
        let kind = EXPECTED_TYPES.iter().position(|t| *t == event.kind).map_or(OTHER, |i| i as u8);
        let count = self.counts.entry((job, kind)).or_insert(0);
        *count += 1;
        if kind == OTHER {
            return;
        }
        if *count == 1 {
            self.distinct += 1;
        }
        if event.at < self.connected_at {
            self.history += 1;
        } else {
            let micros = (received - event.at).num_microseconds().unwrap_or(i64::MAX);
            self.latencies_ms[kind as usize].push(micros as f32 / 1000.0);
        }
    }

    /// Different expected (job, type) pairs received so far.
    pub fn distinct(&self) -> usize {
        self.distinct
    }

    /// Compares what arrived with what had to: every type of every job in `jobs`, once.
    pub fn check(&self, jobs: &HashSet<u128>) -> Check {
        let mut check = Check { unexpected: self.malformed_ids, ..Check::default() };
        for (&(job, kind), &count) in &self.counts {
            if kind == OTHER || !jobs.contains(&job) {
                check.unexpected += count as usize;
            } else {
                check.repeated += count as usize - 1;
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

    fn event(kind: &str, job: &str, at: DateTime<Utc>) -> EventData {
        EventData { kind: kind.into(), job_id: job.into(), at }
    }

    #[test]
    fn counts_missing_repeated_and_unexpected() {
        let t0 = Utc::now();
        let mut tally = Tally::new(t0);
        let (a, b) = ("0a", "0b");
        tally.record(&event("accepted", a, t0 - chrono::Duration::seconds(1)), t0);
        tally.record(&event("started", a, t0), t0);
        tally.record(&event("started", a, t0), t0);
        tally.record(&event("completed", a, t0), t0);
        tally.record(&event("failed", b, t0), t0);
        tally.record(&event("accepted", "zz", t0), t0);
        let check = tally.check(&HashSet::from([0x0a, 0x0b]));
        assert_eq!((check.missing, check.repeated, check.unexpected), (3, 1, 2));
        assert_eq!((tally.distinct(), tally.history, tally.delivered), (3, 1, 6));
        assert_eq!(tally.latencies_ms.iter().map(Vec::len).sum::<usize>(), 3);
    }
}
