//! `GET /stats` and `procgate stats`: the queue's figures, cheap at any table size.
//!
//! - Unfinished jobs (due, delayed, running; per procedure; the oldest due job's wait) are exact:
//!   the pending and running indexes bound them by the queue's depth.
//! - Ended jobs are counted exactly up to [`EXACT_CAP`] (an index range read no further than
//!   that). Above it an admin sees the database's planner estimate, flagged `"estimated": true`;
//!   where there is none (never analysed; Oracle), and for one owner (no per-owner statistics),
//!   the count is `null` with the reason.
//! - Rates (completed and failed over 1, 5 and 15 minutes) and instances come from the instances
//!   table, where each instance writes its own per-minute counts with its heartbeat
//!   (`reporter.rs`): a sum over a handful of rows, never over jobs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::db::{DbError, JobStore};
use crate::model::stats::InstanceRow;
use crate::model::JobStatus;

use super::tally::{minute_of, WINDOW_MINUTES};

/// Ended jobs are counted exactly up to this many per status.
pub const EXACT_CAP: i64 = 10_000;

/// How long an instance's row counts after its last beat: its counts cover that long.
pub const ROWS_COUNT_FOR: Duration = Duration::from_secs(WINDOW_MINUTES as u64 * 60);

/// The answer of `GET /stats` (docs/api.md, `GET /stats`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// `all` (an admin: every owner's jobs) or `owner` (the caller's own).
    #[schema(value_type = String, example = "all")]
    pub scope: &'static str,
    pub jobs: JobCounts,
    /// How long the oldest due pending job has waited since it became due.
    pub oldest_due_pending_seconds: Option<f64>,
    pub procedures: Vec<ProcedureStats>,
    pub completed: Windows,
    pub failed: Windows,
    /// The instances that beat in the last 15 minutes (admins only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<Vec<InstanceStats>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobCounts {
    /// Pending and due.
    pub pending: i64,
    /// Pending, not due yet (a delay, or a retry's backoff).
    pub delayed: i64,
    pub running: i64,
    pub completed: EndedCount,
    pub failed: EndedCount,
    pub cancelled: EndedCount,
}

/// How many jobs ended in one status: exact up to [`EXACT_CAP`], estimated above it (or `null`,
/// with the reason, where no estimate exists).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EndedCount {
    pub count: Option<i64>,
    pub estimated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl EndedCount {
    fn exact(count: i64) -> Self {
        Self { count: Some(count), estimated: false, reason: None }
    }
}

/// Counts over the last 1, 5 and 15 minutes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Windows {
    #[serde(rename = "1m")]
    pub m1: u64,
    #[serde(rename = "5m")]
    pub m5: u64,
    #[serde(rename = "15m")]
    pub m15: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProcedureStats {
    pub procedure: String,
    pub pending: i64,
    pub delayed: i64,
    pub running: i64,
    pub completed_15m: u64,
    pub failed_15m: u64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InstanceStats {
    pub instance_id: String,
    pub workers: i64,
    pub workers_busy: i64,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    /// Whether it beat within the lease timeout (an instance silent longer has stopped, or lost
    /// the database; its counts still count for 15 minutes).
    pub live: bool,
}

/// Reads the figures through a job store (the API's, or the command line's).
#[derive(Clone)]
pub struct StatsReader {
    store: Arc<dyn JobStore>,
    /// An instance that beat within this is live (`LEASE_TIMEOUT`: what the rescuer goes by).
    live_within: Duration,
}

impl StatsReader {
    pub fn new(store: Arc<dyn JobStore>, live_within: Duration) -> Self {
        Self { store, live_within }
    }

    /// The figures every owner's jobs make (`owner` `None`: an admin), or one owner's.
    pub async fn read(&self, owner: Option<&str>) -> Result<QueueStats, DbError> {
        let active = self.store.active_counts(owner).await?;
        let rows = self.store.instances(ROWS_COUNT_FOR).await?;
        let rates = Rates::sum(&rows, owner, Utc::now());
        let mut procedures: BTreeMap<String, ProcedureStats> = BTreeMap::new();
        let (mut pending, mut delayed, mut running, mut oldest) = (0, 0, 0, None::<f64>);
        for a in active {
            pending += a.due;
            delayed += a.delayed;
            running += a.running;
            if let Some(s) = a.oldest_due_seconds {
                oldest = Some(oldest.map_or(s, |o| o.max(s)));
            }
            let p = procedures.entry(a.procedure.clone()).or_default();
            (p.pending, p.delayed, p.running) = (a.due, a.delayed, a.running);
        }
        for (procedure, (completed, failed)) in &rates.by_procedure {
            let p = procedures.entry(procedure.clone()).or_default();
            (p.completed_15m, p.failed_15m) = (*completed, *failed);
        }
        let procedures = procedures.into_iter().map(|(name, p)| ProcedureStats { procedure: name, ..p }).collect();
        let jobs = JobCounts {
            pending,
            delayed,
            running,
            completed: self.ended(JobStatus::Completed, owner).await?,
            failed: self.ended(JobStatus::Failed, owner).await?,
            cancelled: self.ended(JobStatus::Cancelled, owner).await?,
        };
        let instances = owner.is_none().then(|| rows.iter().map(|r| self.instance(r)).collect());
        Ok(QueueStats {
            scope: if owner.is_none() { "all" } else { "owner" },
            jobs,
            oldest_due_pending_seconds: oldest,
            procedures,
            completed: rates.completed,
            failed: rates.failed,
            instances,
        })
    }

    async fn ended(&self, status: JobStatus, owner: Option<&str>) -> Result<EndedCount, DbError> {
        let counted = self.store.count_ended(status, owner, EXACT_CAP + 1).await?;
        if counted <= EXACT_CAP {
            return Ok(EndedCount::exact(counted));
        }
        if owner.is_some() {
            return Ok(EndedCount {
                count: None,
                estimated: false,
                reason: Some(format!(
                    "more than {EXACT_CAP}: one owner's ended jobs are counted exactly up to {EXACT_CAP} only"
                )),
            });
        }
        Ok(match self.store.estimate_status(status).await? {
            // The estimate may lag behind the table: never below what was just counted.
            Some(estimate) => EndedCount { count: Some(estimate.max(counted)), estimated: true, reason: None },
            None => EndedCount {
                count: None,
                estimated: false,
                reason: Some(format!(
                    "more than {EXACT_CAP}, and the database has no statistics to estimate from \
                     (PostgreSQL: ANALYZE async_jobs; Oracle counts exactly up to {EXACT_CAP} only)"
                )),
            },
        })
    }

    fn instance(&self, r: &InstanceRow) -> InstanceStats {
        InstanceStats {
            instance_id: r.instance_id.clone(),
            workers: r.workers,
            workers_busy: r.workers_busy,
            heartbeat_at: r.heartbeat_at,
            started_at: r.started_at,
            live: r.heartbeat_age_seconds <= self.live_within.as_secs_f64(),
        }
    }
}

/// The instances' per-minute counts summed into windows.
#[derive(Debug, Default, PartialEq)]
pub struct Rates {
    pub completed: Windows,
    pub failed: Windows,
    /// Per procedure: completed and failed over 15 minutes.
    pub by_procedure: BTreeMap<String, (u64, u64)>,
}

impl Rates {
    /// Sums `rows`' counts (only `owner`'s, when given). A window of k minutes takes the current
    /// minute and the k before it: counts are per whole minute, so it covers between k and k + 1
    /// minutes, never less.
    pub fn sum(rows: &[InstanceRow], owner: Option<&str>, now: DateTime<Utc>) -> Rates {
        let current = minute_of(now);
        let since = |k: i64| current - TimeDelta::minutes(k);
        let mut r = Rates::default();
        for c in rows.iter().flat_map(|row| &row.counts) {
            if owner.is_some_and(|o| o != c.owner) || c.minute < since(WINDOW_MINUTES) {
                continue;
            }
            for (k, completed, failed) in [
                (1, &mut r.completed.m1, &mut r.failed.m1),
                (5, &mut r.completed.m5, &mut r.failed.m5),
                (WINDOW_MINUTES, &mut r.completed.m15, &mut r.failed.m15),
            ] {
                if c.minute >= since(k) {
                    *completed += c.completed;
                    *failed += c.failed;
                }
            }
            if c.completed + c.failed > 0 {
                let p = r.by_procedure.entry(c.procedure.clone()).or_default();
                p.0 += c.completed;
                p.1 += c.failed;
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::stats::MinuteCounts;

    fn counts(
        minutes_ago: i64,
        owner: &str,
        procedure: &str,
        completed: u64,
        failed: u64,
        now: DateTime<Utc>,
    ) -> MinuteCounts {
        MinuteCounts {
            minute: minute_of(now) - TimeDelta::minutes(minutes_ago),
            owner: owner.into(),
            procedure: procedure.into(),
            started: completed + failed,
            completed,
            failed,
        }
    }

    fn row(counts: Vec<MinuteCounts>) -> InstanceRow {
        InstanceRow {
            instance_id: "i".into(),
            started_at: None,
            heartbeat_at: None,
            heartbeat_age_seconds: 0.0,
            workers: 4,
            workers_busy: 0,
            counts,
        }
    }

    #[test]
    fn windows_sum_every_instance_by_minute_and_owner() {
        let now = Utc::now();
        let rows = [
            row(vec![counts(0, "alice", "P", 1, 0, now), counts(3, "alice", "P", 10, 1, now)]),
            row(vec![
                counts(1, "bob", "Q", 100, 2, now),
                counts(15, "bob", "Q", 1000, 3, now),
                counts(16, "bob", "Q", 9999, 9, now), // older than every window
            ]),
        ];
        let all = Rates::sum(&rows, None, now);
        assert_eq!(all.completed, Windows { m1: 101, m5: 111, m15: 1111 });
        assert_eq!(all.failed, Windows { m1: 2, m5: 3, m15: 6 });
        assert_eq!(all.by_procedure["P"], (11, 1));
        assert_eq!(all.by_procedure["Q"], (1100, 5));

        let alice = Rates::sum(&rows, Some("alice"), now);
        assert_eq!(alice.completed, Windows { m1: 1, m5: 11, m15: 11 });
        assert_eq!(alice.failed, Windows { m1: 0, m5: 1, m15: 1 });
        assert!(!alice.by_procedure.contains_key("Q"));
    }

    #[test]
    fn ended_counts_serialize_with_their_reason_only_when_there_is_one() {
        let exact = serde_json::to_value(EndedCount::exact(3)).unwrap();
        assert_eq!(exact, serde_json::json!({"count": 3, "estimated": false}));
        let w = serde_json::to_value(Windows { m1: 1, m5: 2, m15: 3 }).unwrap();
        assert_eq!(w, serde_json::json!({"1m": 1, "5m": 2, "15m": 3}));
    }
}
