//! What an instance tells about itself:
//! - [`report`]: with every heartbeat, one statement upserts its row of the instances table —
//!   its workers (busy and total) and its per-minute counts ([`Tally`]) — which `GET /stats`
//!   sums over every instance. A task of its own on the heartbeat's clock, so a slow write here
//!   never delays a lease renewal.
//! - [`refresh_queue_gauges`]: every [`GAUGE_REFRESH`], the queue's depth by state for
//!   `/metrics`, read with the `/stats` statements (not per scrape).
//! - [`LocalFigures`]: what this process knows without the database (workers busy, connection
//!   pools, event streams), set on the gauges at each scrape.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::db::JobStore;
use crate::instruments;
use crate::model::stats::InstanceReport;

use super::events::EventHub;
use super::stats::StatsReader;
use super::tally::Tally;

/// How often the queue-depth gauges are read from the database.
pub const GAUGE_REFRESH: Duration = Duration::from_secs(15);

/// This instance's workers: how many, and how many run a job now.
#[derive(Clone)]
pub struct Workers {
    pub total: usize,
    /// The claimer's semaphore: one permit per free worker.
    pub free: Arc<Semaphore>,
}

impl Workers {
    pub fn busy(&self) -> usize {
        self.total.saturating_sub(self.free.available_permits())
    }
}

pub async fn report(
    store: Arc<dyn JobStore>,
    tally: Tally,
    instance_id: String,
    workers: Workers,
    interval: Duration,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let mut beat = tokio::time::interval(interval);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = beat.tick() => {}
        }
        let report = InstanceReport {
            instance_id: instance_id.clone(),
            uptime_seconds: started.elapsed().as_secs_f64(),
            workers: i32::try_from(workers.total).unwrap_or(i32::MAX),
            workers_busy: i32::try_from(workers.busy()).unwrap_or(i32::MAX),
            counts: serde_json::to_value(tally.snapshot(Utc::now())).unwrap_or_default(),
        };
        if let Err(e) = store.report_instance(&report).await {
            tracing::debug!(error = %e, "could not write this instance's row of the instances table");
        }
    }
}

pub async fn refresh_queue_gauges(stats: StatsReader, stop: CancellationToken) {
    loop {
        match stats.read(None).await {
            Ok(s) => {
                instruments::queue_depth("pending", s.jobs.pending as f64);
                instruments::queue_depth("delayed", s.jobs.delayed as f64);
                instruments::queue_depth("running", s.jobs.running as f64);
                for (state, ended) in
                    [("completed", &s.jobs.completed), ("failed", &s.jobs.failed), ("cancelled", &s.jobs.cancelled)]
                {
                    if let Some(n) = ended.count {
                        instruments::queue_depth(state, n as f64);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not read the queue's figures for /metrics"),
        }
        instruments::upkeep();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(GAUGE_REFRESH) => {}
        }
    }
}

/// The figures this process knows without asking the database.
#[derive(Clone)]
pub struct LocalFigures {
    pub workers: Workers,
    pub store: Arc<dyn JobStore>,
    pub hub: Arc<EventHub>,
}

impl LocalFigures {
    /// Sets the workers, pool and event-stream gauges (at each scrape: they cost nothing).
    pub fn set_gauges(&self) {
        instruments::workers(self.workers.total, self.workers.busy());
        instruments::pools(&self.store.pool_figures());
        instruments::sse_subscribers(self.hub.subscribers());
    }
}
