//! The values behind queue statistics (`GET /stats`, `procgate stats`, `/metrics`): what the store
//! counts of the queue, what each instance reports of itself with its heartbeat, and the figures
//! of its connection pools.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

/// One procedure's unfinished jobs, counted exactly (bounded by the queue's depth).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActiveCounts {
    pub procedure: String,
    /// Pending jobs that are due (`run_at` reached).
    pub due: i64,
    /// Pending jobs whose `run_at` is still ahead (delays, retries waiting their backoff).
    pub delayed: i64,
    pub running: i64,
    /// How long the oldest due job has waited since it became due, in seconds.
    pub oldest_due_seconds: Option<f64>,
}

/// One instance's own counts for one minute, owner and procedure: what it keeps in memory and
/// writes (as a JSON array of these) with each heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MinuteCounts {
    /// The minute's start (UTC, seconds zero).
    pub minute: DateTime<Utc>,
    pub owner: String,
    pub procedure: String,
    /// Attempts started.
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
}

/// What an instance writes of itself with each heartbeat.
#[derive(Debug, Clone)]
pub struct InstanceReport {
    pub instance_id: String,
    /// Seconds since the instance started (the database computes `started_at` from it, by its clock).
    pub uptime_seconds: f64,
    pub workers: i32,
    pub workers_busy: i32,
    /// The per-minute counts of the last 15 minutes ([`MinuteCounts`], a JSON array).
    pub counts: Json,
}

/// An instance's row as `GET /stats` reads it.
#[derive(Debug, Clone)]
pub struct InstanceRow {
    pub instance_id: String,
    pub started_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    /// Seconds since its last beat, by the database's clock.
    pub heartbeat_age_seconds: f64,
    pub workers: i64,
    pub workers_busy: i64,
    /// Its per-minute counts; entries that do not parse are skipped.
    pub counts: Vec<MinuteCounts>,
}

impl InstanceRow {
    /// The counts column's JSON text or value, read leniently: a row written by a newer version
    /// never breaks a reader.
    pub fn parse_counts(counts: &Json) -> Vec<MinuteCounts> {
        match counts {
            Json::Array(items) => items.iter().filter_map(|c| serde_json::from_value(c.clone()).ok()).collect(),
            Json::String(text) => {
                serde_json::from_str::<Json>(text).map(|v| Self::parse_counts(&v)).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }
}

/// One connection pool's figures (`/metrics`): connections lent out, and open but free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolFigures {
    /// `engine`, `reads` or `calls`.
    pub pool: &'static str,
    pub in_use: u64,
    pub idle: u64,
}
