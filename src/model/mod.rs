//! The leaf of the house (River's `rivertype`): the job as procgate knows it — ids, statuses,
//! milestones, the records the store reads and writes, outcomes, the retry policy, limits. Pure
//! values, imported by every layer; it imports nothing of procgate's but the procedure values.
//! Backend-agnostic: each backend maps these onto its `ASYNC_JOBS` rows.

pub mod audit;
pub mod callback;
pub mod delivery;
pub mod event;
pub mod listing;
pub mod retry;
pub mod stats;

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use retry::RetryPolicy;

/// 32 lowercase hex characters (a v4 UUID without dashes), as the predecessor's ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    /// Accepts exactly 32 hex characters (any case); anything else is not a job id.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| Self(s.to_ascii_lowercase()))
    }

    /// For ids read back from the database, which only ever holds ids procgate generated.
    pub fn from_db(s: String) -> Self {
        Self(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const TERMINAL: [JobStatus; 3] = [JobStatus::Completed, JobStatus::Failed, JobStatus::Cancelled];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_terminal(self) -> bool {
        Self::TERMINAL.contains(&self)
    }

    /// Parses a comma list such as `completed,failed`.
    pub fn parse_list(s: &str) -> Result<Vec<JobStatus>, String> {
        let mut out = Vec::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let st: JobStatus = part.parse()?;
            if !out.contains(&st) {
                out.push(st);
            }
        }
        Ok(out)
    }
}

impl FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "pending" => JobStatus::Pending,
            "running" => JobStatus::Running,
            "completed" => JobStatus::Completed,
            "failed" => JobStatus::Failed,
            "cancelled" | "canceled" => JobStatus::Cancelled,
            other => {
                return Err(format!(
                    "unknown status {other:?} (expected pending, running, completed, failed or cancelled)"
                ))
            }
        })
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The progress a running job reports, in the order it reaches them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Milestone {
    Claimed = 10,
    ParamsBound = 30,
    Prepared = 50,
    Executed = 80,
}

impl Milestone {
    pub fn percent(self) -> i16 {
        self as i16
    }
}

/// Where a running call reports its milestones (the runner forwards them to the store's writer).
pub trait ProgressSink: Send + Sync {
    fn reached(&self, milestone: Milestone);
    /// The call runs on this database session (PostgreSQL: the backend pid; Oracle:
    /// `SID,SERIAL#`): recorded on the job so a rescuer can end it if this instance dies.
    fn attached(&self, _session: &str) {}
    /// The procedure reported its own progress (`procgate_progress` / `PROCGATE.PROGRESS`).
    fn reported(&self, _report: ProgressReport) {}
    /// This sink as an owned handle, for reports that arrive outside the call's task (a
    /// PostgreSQL connection's driver task, an Oracle longops poller). `None`: reports are not
    /// wanted, and nobody needs to look for them.
    fn shared(&self) -> Option<std::sync::Arc<dyn ProgressSink>> {
        None
    }
}

/// A sink for calls that are not jobs (the synchronous endpoint).
pub struct NoProgress;

impl ProgressSink for NoProgress {
    fn reached(&self, _: Milestone) {}
}

/// What a procedure reported about itself while it runs: only the fields it reported. Built by
/// [`ProgressReport::new`] only, so every report is sane whatever the procedure sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ProgressReport {
    /// 0–100.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// At most [`ProgressReport::MAX_MESSAGE_CHARS`] characters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
}

impl ProgressReport {
    /// The longest message kept (longer ones are cut, on both databases).
    pub const MAX_MESSAGE_CHARS: usize = 1000;

    /// A report as the procedure sent it, made sane: a percent outside 0–100 is clamped, a NaN
    /// or infinite one ignored; the message cut to [`Self::MAX_MESSAGE_CHARS`]; negative counts
    /// ignored. `None` when nothing usable is left: a bad report is never an error for the job.
    pub fn new(
        percent: Option<f64>,
        message: Option<String>,
        processed: Option<i64>,
        total: Option<i64>,
    ) -> Option<Self> {
        let report = Self {
            percent: percent.filter(|p| p.is_finite()).map(|p| p.clamp(0.0, 100.0)),
            message: message.map(|m| match m.char_indices().nth(Self::MAX_MESSAGE_CHARS) {
                Some((cut, _)) => m[..cut].to_string(),
                None => m,
            }),
            processed: processed.filter(|n| *n >= 0),
            total: total.filter(|n| *n >= 0),
        };
        (report != Self::default()).then_some(report)
    }

    /// A newer report on top of this one: each field it reports replaces this one's, the others
    /// stay (a message alone keeps the last percent).
    pub fn merge(&mut self, newer: ProgressReport) {
        self.percent = newer.percent.or(self.percent);
        self.message = newer.message.or(self.message.take());
        self.processed = newer.processed.or(self.processed);
        self.total = newer.total.or(self.total);
    }

    /// The job's overall progress this report stands for: the reported percent mapped into the
    /// running range, from [`Milestone::Prepared`] (50) to [`Milestone::Executed`] (80).
    pub fn overall_progress(&self) -> Option<i16> {
        let (from, to) = (f64::from(Milestone::Prepared.percent()), f64::from(Milestone::Executed.percent()));
        self.percent.map(|p| (from + p * (to - from) / 100.0).floor() as i16)
    }
}

/// `{"code", "message"}`: the database's own code (SQLSTATE, ORA-nnnnn) or procgate's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"code": "P0001", "message": "Error intencional de prueba"}))]
pub struct JobError {
    pub code: String,
    pub message: String,
}

/// Claim order: higher first, then oldest first (seed 000's `high | normal | low`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
}

impl Priority {
    pub fn as_i16(self) -> i16 {
        match self {
            Priority::Low => -1,
            Priority::Normal => 0,
            Priority::High => 1,
        }
    }

    pub fn from_i16(v: i16) -> Self {
        match v {
            v if v > 0 => Priority::High,
            v if v < 0 => Priority::Low,
            _ => Priority::Normal,
        }
    }
}

/// A job row as read back.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub status: JobStatus,
    pub procedure_name: String,
    pub params: Json,
    pub owner: String,
    pub progress: i16,
    pub created_at: DateTime<Utc>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub duration: Option<String>,
    pub result: Option<Json>,
    pub error: Option<JobError>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub attempt_history: Json,
    pub priority: Priority,
    pub run_at: DateTime<Utc>,
    pub instance_id: Option<String>,
    pub cancel_requested: bool,
    /// The lines its latest attempt wrote, when the request asked for them (`capture_output`).
    pub output: Option<Vec<String>>,
    /// The procedure's own latest progress report, when it sent one.
    pub report: Option<ProgressReport>,
    /// Where its events are POSTed (webhooks), if anywhere.
    pub callback: Option<callback::Callback>,
    /// The options it was accepted with, which a retry (`POST /jobs/{id}/retry`) submits again.
    pub is_function: bool,
    pub retry: Option<RetryPolicy>,
    pub timeout: Option<Duration>,
    pub capture_output: bool,
    /// The failed or cancelled job this one retries (`POST /jobs/{id}/retry`), if any.
    pub retry_of: Option<JobId>,
}

/// A job to insert as `pending`.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub procedure_name: String,
    pub params: Json,
    pub owner: String,
    pub is_function: bool,
    pub priority: Priority,
    /// Not claimed before this time (`run_at` / `delay_seconds`); `None`: at once.
    pub run_at: Option<DateTime<Utc>>,
    /// The retry policy (None: one attempt only).
    pub retry: Option<RetryPolicy>,
    /// Per-job timeout (None: `JOB_TIMEOUT`); stored in whole milliseconds.
    pub timeout: Option<Duration>,
    /// The client's `Idempotency-Key`, unique per owner.
    pub idempotency_key: Option<String>,
    /// Capture the lines the call writes into the job's `output`.
    pub capture_output: bool,
    /// The routine `procedure_name` resolved to ([`Signature::canonical_name`]): what
    /// per-procedure limits count, whatever the spelling. `None`: the name as written counts.
    ///
    /// [`Signature::canonical_name`]: crate::procedure::signature::Signature::canonical_name
    pub routine: Option<String>,
    /// Where to POST which of its events (webhooks); `None`: nowhere.
    pub callback: Option<callback::Callback>,
    /// The job this one retries (`POST /jobs/{id}/retry`); `None`: a new submission.
    pub retry_of: Option<JobId>,
}

impl NewJob {
    /// A job with a fresh id and every option at its default: normal priority, due now, one
    /// attempt, `JOB_TIMEOUT`, no idempotency key, no output capture, no resolved routine, no
    /// callback, retrying no job.
    pub fn new(procedure_name: impl Into<String>, params: Json, owner: impl Into<String>) -> Self {
        NewJob {
            id: JobId::generate(),
            procedure_name: procedure_name.into(),
            params,
            owner: owner.into(),
            is_function: false,
            priority: Priority::Normal,
            run_at: None,
            retry: None,
            timeout: None,
            idempotency_key: None,
            capture_output: false,
            routine: None,
            callback: None,
            retry_of: None,
        }
    }
}

/// What inserting one job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// The owner already has a job with this idempotency key: that job, unchanged.
    Existing(JobId),
}

/// What a worker needs from a job it has claimed.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    pub id: JobId,
    pub procedure_name: String,
    pub params: Json,
    pub is_function: bool,
    /// This attempt's number (1 for the first run).
    pub attempt: i32,
    pub retry: Option<RetryPolicy>,
    pub timeout: Option<Duration>,
    pub capture_output: bool,
    /// Who submitted it (`/stats` counts per owner).
    pub owner: String,
    /// How long it waited since it was due (`run_at`: its acceptance, its delay or its retry time).
    pub waited: Duration,
}

/// The end of one attempt, written once by the store's writer: a terminal state, or back to
/// `pending` for another attempt at `retry_at`.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub id: JobId,
    /// The attempt this outcome ends: a late write for an earlier attempt changes nothing.
    pub attempt: i32,
    pub status: JobStatus,
    pub result: Option<Json>,
    pub error: Option<JobError>,
    /// Set (with status `pending`) when the job will be tried again after this wait.
    pub retry_in: Option<std::time::Duration>,
    /// The lines this attempt wrote, when captured; written with the outcome.
    pub output: Option<Vec<String>>,
}

impl Outcome {
    /// The attempt completed with these OUT values (and captured lines).
    pub fn completed(
        id: JobId,
        attempt: i32,
        values: serde_json::Map<String, Json>,
        output: Option<Vec<String>>,
    ) -> Self {
        Outcome {
            id,
            attempt,
            status: JobStatus::Completed,
            result: Some(Json::Object(values)),
            error: None,
            retry_in: None,
            output,
        }
    }
}

/// A running job's progress as the writer records it, with the session its call runs on once
/// known.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgressUpdate {
    pub id: JobId,
    pub progress: i16,
    pub session: Option<String>,
    /// The procedure's own latest report, when it sent one since the last write.
    pub report: Option<ProgressReport>,
}

impl ProgressUpdate {
    /// Progress alone, the session unknown.
    pub fn new(id: JobId, progress: i16) -> Self {
        Self { id, progress, session: None, report: None }
    }
}

/// Which attempt a call belongs to: its completion is written only while the job is still
/// `running` on this instance in this attempt. Anything else (a rescue, another instance's
/// claim) makes the write match no row, and the call's effects are rolled back.
#[derive(Debug, Clone)]
pub struct AttemptFence {
    pub job_id: JobId,
    pub instance_id: String,
    pub attempt: i32,
}

/// A per-procedure cap on running jobs, across all instances (`PROCEDURE_CONCURRENCY`).
#[derive(Debug, Clone)]
pub struct ProcedureLimit {
    pub pattern: crate::procedure::allowlist::Allowlist,
    pub text: String,
    pub max_running: i64,
}

/// How many more jobs of each limited routine may start, for a claim that enforces
/// `PROCEDURE_CONCURRENCY`. Keys are what the stores count running jobs by: the job's resolved
/// routine (`routine`), or for rows written before it existed the name as written, upper-cased.
/// A key's limit is the first whose pattern matches it ([`Allowlist::matches_routine`]).
///
/// [`Allowlist::matches_routine`]: crate::procedure::allowlist::Allowlist::matches_routine
pub struct RoomPerProcedure<'a> {
    limits: &'a [ProcedureLimit],
    running: HashMap<String, i64>,
}

impl<'a> RoomPerProcedure<'a> {
    /// `running`: how many jobs of each key are running now.
    pub fn new(limits: &'a [ProcedureLimit], running: &[(String, i64)]) -> Self {
        Self { limits, running: running.iter().cloned().collect() }
    }

    fn cap(&self, key: &str) -> Option<i64> {
        self.limits.iter().find(|l| l.pattern.matches_routine(key)).map(|l| l.max_running)
    }

    /// The keys already at their limit, sorted: claims skip their jobs without looking.
    pub fn saturated(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .running
            .iter()
            .filter(|(k, c)| self.cap(k).is_some_and(|cap| **c >= cap))
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort();
        keys
    }

    /// Takes one slot for `key` if its limit (if any) leaves room.
    pub fn take(&mut self, key: &str) -> bool {
        let Some(cap) = self.cap(key) else { return true };
        let count = self.running.entry(key.to_string()).or_insert(0);
        if *count >= cap {
            return false;
        }
        *count += 1;
        true
    }
}

/// What `POST /jobs/{id}/cancel` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// It was pending: it is now cancelled and will never run.
    Cancelled,
    /// It is running: its instance has been asked to interrupt the call.
    Requested,
    /// It had already ended with this status.
    AlreadyEnded(JobStatus),
    NotFound,
}

/// A job the rescuer found without a live instance.
#[derive(Debug, Clone)]
pub struct Rescued {
    pub id: JobId,
    pub status: JobStatus,
}

/// `GET /jobs` filters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<JobStatus>,
    pub procedure: Option<String>,
    pub owner: Option<String>,
    pub limit: i64,
    pub offset: i64,
    /// Only jobs created at or after this time.
    pub created_after: Option<DateTime<Utc>>,
    /// Only jobs created before this time.
    pub created_before: Option<DateTime<Utc>>,
    /// Only jobs after this position in the listing order (the previous page's `next`).
    pub after: Option<listing::ListCursor>,
    /// Count matching jobs exactly up to this many; above it, the total is an estimate.
    pub total_cap: i64,
}

/// Bulk-delete filters. Only terminal statuses are ever listed here.
#[derive(Debug, Clone)]
pub struct PurgeFilter {
    pub statuses: Vec<JobStatus>,
    pub older_than_days: Option<u32>,
    pub owner: Option<String>,
}

/// Bulk-cancel filters (`POST /jobs/cancel`): the statuses themselves are the queue's choice.
#[derive(Debug, Clone, Default)]
pub struct CancelFilter {
    /// The procedure's name as written, case-insensitive (`None`: any).
    pub procedure: Option<String>,
    /// Only this caller's jobs (`None`: anyone's).
    pub owner: Option<String>,
}

/// What `DELETE /jobs/{id}` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    Deleted,
    Running,
    NotFound,
}

/// A job timeout as the `TIMEOUT_MS` column stores it (at least 1 ms).
pub fn timeout_to_ms(timeout: Duration) -> i64 {
    i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// A `TIMEOUT_MS` column value as a timeout (a value below 1 ms counts as 1 ms).
pub fn timeout_from_ms(ms: i64) -> Duration {
    Duration::from_millis(ms.max(1) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids() {
        let id = JobId::generate();
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(JobId::parse(id.as_str()), Some(id.clone()));
        assert!(JobId::parse("../../etc/passwd").is_none());
        assert!(JobId::parse(&"g".repeat(32)).is_none());
        assert_eq!(JobId::parse(&"A".repeat(32)).unwrap().as_str(), "a".repeat(32));
    }

    #[test]
    fn procedure_limits_count_routines_however_spelled() {
        use crate::procedure::allowlist::Allowlist;
        let limits = vec![ProcedureLimit {
            pattern: Allowlist::parse("PROC_TEST_DEMORA"),
            text: "PROC_TEST_DEMORA=2".into(),
            max_running: 2,
        }];
        let mut room = RoomPerProcedure::new(&limits, &[("public.proc_test_demora".into(), 1), ("OTHER".into(), 5)]);
        assert!(room.saturated().is_empty());
        assert!(room.take("public.proc_test_demora"));
        assert!(!room.take("public.proc_test_demora"));
        assert!(room.take("OTHER"));
        assert_eq!(room.saturated(), vec!["public.proc_test_demora".to_string()]);
        // An older row, counted by its name as written, and a routine in a package.
        let mut room = RoomPerProcedure::new(&limits, &[("PROC_TEST_DEMORA".into(), 2)]);
        assert_eq!(room.saturated(), vec!["PROC_TEST_DEMORA".to_string()]);
        assert!(!room.take("PROC_TEST_DEMORA") && room.take("APP.PKG.PROC_TEST_DEMORA"));
    }

    #[test]
    fn status_lists() {
        assert_eq!(
            JobStatus::parse_list("completed, failed,completed").unwrap(),
            vec![JobStatus::Completed, JobStatus::Failed]
        );
        assert!(JobStatus::parse_list("done").is_err());
        assert!(Milestone::Claimed < Milestone::Executed);
    }

    #[test]
    fn reports_are_made_sane() {
        let r = ProgressReport::new(Some(150.0), Some("x".into()), Some(-1), Some(10)).unwrap();
        assert_eq!((r.percent, r.processed, r.total), (Some(100.0), None, Some(10)));
        assert_eq!(ProgressReport::new(Some(-3.0), None, None, None).unwrap().percent, Some(0.0));
        // NaN is ignored, the message still taken; nothing usable: no report at all.
        let r = ProgressReport::new(Some(f64::NAN), Some("still here".into()), None, None).unwrap();
        assert_eq!((r.percent, r.message.as_deref()), (None, Some("still here")));
        assert_eq!(ProgressReport::new(Some(f64::INFINITY), None, Some(-5), Some(-5)), None);
        let long = ProgressReport::new(None, Some("é".repeat(1500)), None, None).unwrap();
        assert_eq!(long.message.unwrap().chars().count(), ProgressReport::MAX_MESSAGE_CHARS);
    }

    #[test]
    fn reports_merge_field_by_field_and_map_into_the_running_range() {
        let mut r = ProgressReport::new(Some(40.0), Some("a".into()), Some(4), Some(10)).unwrap();
        r.merge(ProgressReport::new(None, Some("b".into()), None, None).unwrap());
        assert_eq!(r, ProgressReport::new(Some(40.0), Some("b".into()), Some(4), Some(10)).unwrap());
        assert_eq!(r.overall_progress(), Some(62));
        let at = |p: f64| ProgressReport::new(Some(p), None, None, None).unwrap().overall_progress();
        assert_eq!((at(0.0), at(99.9), at(100.0)), (Some(50), Some(79), Some(80)));
        assert_eq!(ProgressReport::new(None, Some("m".into()), None, None).unwrap().overall_progress(), None);
        let json = serde_json::to_value(ProgressReport::new(Some(5.0), None, Some(1), None).unwrap()).unwrap();
        assert_eq!(json, serde_json::json!({"percent": 5.0, "processed": 1}));
    }

    #[test]
    fn timeouts_round_trip_in_whole_milliseconds() {
        assert_eq!(timeout_to_ms(Duration::from_micros(10)), 1);
        assert_eq!(timeout_to_ms(Duration::from_secs(2)), 2000);
        assert_eq!(timeout_from_ms(0), Duration::from_millis(1));
        assert_eq!(timeout_from_ms(1500), Duration::from_millis(1500));
    }
}
