//! This instance's own counts of job attempts, per minute, owner and procedure, for the last
//! [`WINDOW_MINUTES`] minutes: kept in memory, written to the instances table with each heartbeat
//! (`reporter.rs`), summed by `GET /stats` over every instance. Every count here is also a
//! Prometheus counter (`crate::instruments`), so the runner records each outcome once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};

use crate::instruments;
use crate::model::stats::MinuteCounts;
use crate::model::{ClaimedJob, JobStatus};

/// How many minutes of counts `GET /stats` reads (its widest window).
pub const WINDOW_MINUTES: i64 = 15;

type Key = (DateTime<Utc>, String, String);

#[derive(Default, Clone, Copy)]
struct Counts {
    started: u64,
    completed: u64,
    failed: u64,
}

/// A handle to the counts (cheap to clone).
#[derive(Clone, Default)]
pub struct Tally {
    minutes: Arc<Mutex<BTreeMap<Key, Counts>>>,
}

impl Tally {
    /// An attempt of `job` starts here.
    pub fn started(&self, job: &ClaimedJob) {
        instruments::job_started(&job.procedure_name, job.waited);
        self.add(Utc::now(), job, |c| c.started += 1);
    }

    /// An attempt of `job` ended here after running `ran`; `status` is the job's status after it
    /// (`pending` when its retry policy sends it back).
    pub fn ended(&self, job: &ClaimedJob, status: JobStatus, ran: Duration) {
        instruments::job_ended(&job.procedure_name, status, ran);
        match status {
            JobStatus::Completed => self.add(Utc::now(), job, |c| c.completed += 1),
            JobStatus::Failed => self.add(Utc::now(), job, |c| c.failed += 1),
            _ => {}
        }
    }

    fn add(&self, at: DateTime<Utc>, job: &ClaimedJob, f: impl FnOnce(&mut Counts)) {
        let key = (minute_of(at), job.owner.clone(), job.procedure_name.clone());
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        f(minutes.entry(key).or_default());
    }

    /// The counts of the current minute and the [`WINDOW_MINUTES`] before it (older ones are
    /// dropped here), oldest first.
    pub fn snapshot(&self, now: DateTime<Utc>) -> Vec<MinuteCounts> {
        let oldest = minute_of(now) - TimeDelta::minutes(WINDOW_MINUTES);
        let mut minutes = self.minutes.lock().unwrap_or_else(|p| p.into_inner());
        minutes.retain(|(minute, _, _), _| *minute >= oldest);
        minutes
            .iter()
            .map(|((minute, owner, procedure), c)| MinuteCounts {
                minute: *minute,
                owner: owner.clone(),
                procedure: procedure.clone(),
                started: c.started,
                completed: c.completed,
                failed: c.failed,
            })
            .collect()
    }
}

/// The start of `at`'s minute.
pub fn minute_of(at: DateTime<Utc>) -> DateTime<Utc> {
    at.duration_trunc(TimeDelta::minutes(1)).unwrap_or(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(owner: &str, procedure: &str) -> ClaimedJob {
        ClaimedJob {
            id: crate::model::JobId::generate(),
            procedure_name: procedure.into(),
            params: serde_json::Value::Null,
            is_function: false,
            attempt: 1,
            retry: None,
            timeout: None,
            capture_output: false,
            owner: owner.into(),
            waited: Duration::ZERO,
        }
    }

    #[test]
    fn counts_by_minute_owner_and_procedure_and_forgets_old_minutes() {
        let tally = Tally::default();
        let now = Utc::now();
        let (a, b) = (job("alice", "P"), job("bob", "P"));
        tally.started(&a);
        tally.ended(&a, JobStatus::Completed, Duration::from_millis(5));
        tally.started(&a);
        tally.ended(&a, JobStatus::Failed, Duration::from_millis(5));
        tally.started(&b);
        tally.ended(&b, JobStatus::Pending, Duration::from_millis(5)); // retried: no rate
        tally.add(now - TimeDelta::minutes(WINDOW_MINUTES + 2), &a, |c| c.completed += 7);

        let snap = tally.snapshot(now);
        assert_eq!(snap.len(), 2, "{snap:?}");
        let alice = snap.iter().find(|c| c.owner == "alice").unwrap();
        assert_eq!((alice.started, alice.completed, alice.failed), (2, 1, 1));
        assert_eq!(alice.minute, minute_of(now));
        let bob = snap.iter().find(|c| c.owner == "bob").unwrap();
        assert_eq!((bob.started, bob.completed, bob.failed), (1, 0, 0));
    }
}
