//! Prometheus metrics: the recorder (the `metrics` facade with `metrics-exporter-prometheus`,
//! installed once per process), every metric's name and help text, and the bounded label values.
//! The engine and the HTTP layer record through the functions here; `GET /metrics` renders.
//!
//! Cardinality is bounded: procedure names come from the allowlist, and at most
//! [`MAX_LABEL_VALUES`] distinct ones are kept per label (the rest are counted as `other`); HTTP
//! requests are labelled by their matched route pattern (`/jobs/{id}`), never the raw path.

use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::model::stats::PoolFigures;
use crate::model::JobStatus;

/// Most distinct values one label keeps; later ones are folded into [`OTHER`].
pub const MAX_LABEL_VALUES: usize = 200;
/// The label value standing for every value past the cap.
pub const OTHER: &str = "other";

/// Histogram buckets, in seconds: from a quick call to an hour-long job.
const BUCKETS: &[f64] =
    &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process's recorder (once; later calls return the same handle). `None` when
/// another recorder was installed first (metrics are then not exported by procgate).
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets(BUCKETS).expect("non-empty buckets");
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot install the Prometheus recorder: /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// The exposition text of every metric (Prometheus text format 0.0.4).
pub fn render() -> String {
    install().map(PrometheusHandle::render).unwrap_or_default()
}

/// Drains the histograms' pending samples (bounded memory when nobody scrapes).
pub fn upkeep() {
    if let Some(handle) = install() {
        handle.run_upkeep();
    }
}

fn describe() {
    describe_counter!("procgate_jobs_accepted_total", "Jobs accepted (inserted as pending), by procedure.");
    describe_counter!("procgate_jobs_started_total", "Job attempts started on this instance, by procedure.");
    describe_counter!("procgate_jobs_completed_total", "Job attempts completed on this instance, by procedure.");
    describe_counter!("procgate_jobs_failed_total", "Job attempts that failed the job on this instance, by procedure.");
    describe_counter!(
        "procgate_jobs_cancelled_total",
        "Running jobs cancelled on request on this instance, by procedure."
    );
    describe_counter!(
        "procgate_jobs_retried_total",
        "Failed attempts sent back to pending by their retry policy on this instance, by procedure."
    );
    describe_histogram!(
        "procgate_job_queue_wait_seconds",
        Unit::Seconds,
        "How long a job waited between becoming due (accepted, or its run_at) and its attempt's start."
    );
    describe_histogram!("procgate_job_duration_seconds", Unit::Seconds, "How long a job attempt's call ran.");
    describe_gauge!(
        "procgate_queue_jobs",
        "Jobs by state across every instance (pending = due, delayed, running; ended: capped or estimated), \
         refreshed every 15 s."
    );
    describe_gauge!("procgate_workers", "Workers of this instance.");
    describe_gauge!("procgate_workers_busy", "Workers of this instance running a job.");
    describe_gauge!("procgate_pool_connections_in_use", "Database connections lent out, by pool.");
    describe_gauge!("procgate_pool_connections_idle", "Database connections open and free, by pool.");
    describe_gauge!("procgate_sse_subscribers", "Open event streams (GET /jobs/{id}/events, GET /events).");
    describe_counter!(
        "procgate_sse_catch_ups_total",
        "Times a GET /events stream fell behind the live events (its client read too slowly) and re-read \
         what it missed from the event table."
    );
    describe_counter!("procgate_http_requests_total", "HTTP requests answered, by route pattern and status.");
}

/// The set of values one label has kept so far.
pub struct BoundedLabel {
    seen: Mutex<BTreeSet<String>>,
}

impl BoundedLabel {
    pub const fn new() -> Self {
        Self { seen: Mutex::new(BTreeSet::new()) }
    }

    /// `value` itself while fewer than [`MAX_LABEL_VALUES`] values were kept (or it is one of
    /// them), [`OTHER`] after.
    pub fn get(&self, value: &str) -> String {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(value) {
            return value.to_string();
        }
        if seen.len() < MAX_LABEL_VALUES {
            seen.insert(value.to_string());
            return value.to_string();
        }
        OTHER.to_string()
    }
}

impl Default for BoundedLabel {
    fn default() -> Self {
        Self::new()
    }
}

static PROCEDURES: BoundedLabel = BoundedLabel::new();
static ROUTES: BoundedLabel = BoundedLabel::new();

fn procedure(name: &str) -> String {
    PROCEDURES.get(name)
}

pub fn job_accepted(procedure_name: &str) {
    counter!("procgate_jobs_accepted_total", "procedure" => procedure(procedure_name)).increment(1);
}

pub fn job_started(procedure_name: &str, waited: Duration) {
    let p = procedure(procedure_name);
    counter!("procgate_jobs_started_total", "procedure" => p.clone()).increment(1);
    histogram!("procgate_job_queue_wait_seconds", "procedure" => p).record(waited.as_secs_f64());
}

/// An attempt ended here: `status` is the job's status after it (`pending`: retried).
pub fn job_ended(procedure_name: &str, status: JobStatus, ran: Duration) {
    let p = procedure(procedure_name);
    histogram!("procgate_job_duration_seconds", "procedure" => p.clone()).record(ran.as_secs_f64());
    let name = match status {
        JobStatus::Completed => "procgate_jobs_completed_total",
        JobStatus::Failed => "procgate_jobs_failed_total",
        JobStatus::Cancelled => "procgate_jobs_cancelled_total",
        JobStatus::Pending => "procgate_jobs_retried_total",
        JobStatus::Running => return,
    };
    counter!(name, "procedure" => p).increment(1);
}

/// The queue's depth by state (`pending`, `delayed`, `running`, and the ended states).
pub fn queue_depth(state: &'static str, jobs: f64) {
    gauge!("procgate_queue_jobs", "state" => state).set(jobs);
}

pub fn workers(total: usize, busy: usize) {
    gauge!("procgate_workers").set(total as f64);
    gauge!("procgate_workers_busy").set(busy as f64);
}

pub fn pools(figures: &[PoolFigures]) {
    for f in figures {
        gauge!("procgate_pool_connections_in_use", "pool" => f.pool).set(f.in_use as f64);
        gauge!("procgate_pool_connections_idle", "pool" => f.pool).set(f.idle as f64);
    }
}

pub fn sse_subscribers(n: usize) {
    gauge!("procgate_sse_subscribers").set(n as f64);
}

/// A `GET /events` stream fell behind the live events and catches up from the table.
pub fn sse_catch_up() {
    counter!("procgate_sse_catch_ups_total").increment(1);
}

/// One answered HTTP request; `route` is the matched pattern (`None`: no route matched).
pub fn http_request(route: Option<&str>, status: u16) {
    let route = route.map_or_else(|| "unmatched".to_string(), |r| ROUTES.get(r));
    counter!("procgate_http_requests_total", "route" => route, "status" => status.to_string()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_keeps_its_first_values_and_folds_the_rest() {
        let label = BoundedLabel::new();
        for i in 0..MAX_LABEL_VALUES {
            assert_eq!(label.get(&format!("P{i}")), format!("P{i}"));
        }
        assert_eq!(label.get("P0"), "P0", "a kept value stays itself");
        assert_eq!(label.get("ONE_TOO_MANY"), OTHER);
        assert_eq!(label.get("ANOTHER"), OTHER);
    }
}
