//! The job table's array DML, without a server: each batch's bind types (fixed before its first
//! row), each row's values from a [`NewJob`] or an [`Outcome`], how a CLOB column is bound, which
//! refused rows of an insert batch are taken idempotency keys, and which outcomes changed a row.
//! `store.rs` runs the batches (the `oracle` crate's `Batch`: all rows in one execution, one
//! round trip). A batch's size is its caller's: at most 500 jobs (`jobs::inserter`) or 1000
//! outcomes (`jobs::writer`), so its buffers stay bounded.

use chrono::NaiveDateTime;
use oracle::sql_type::{OracleType, ToSql};
use oracle::Connection;

use crate::db::DbError;
use crate::model::{timeout_to_ms, JobId, NewJob, Outcome};

use super::convert::{clob, temp_lob, varchar_opt, Arg, SQL_INLINE_LOB};
use super::error::from_message;
use super::store::history_message;

/// `ORA-00001: unique constraint violated`: inserting a job with an idempotency key, the owner's
/// key is taken (unique index `ASYNC_JOBS_IDEMPOTENCY_UX`).
const UNIQUE_VIOLATION: i32 = 1;

/// A VARCHAR2 bind as wide as the longest of `values` (at least 1). The crate sizes a VARCHAR2
/// in characters (ODPI-C reserves 4 bytes each for UTF-8 and tells Oracle that maximum), so the
/// width counts characters: counting bytes would announce up to 4 times more, and Oracle takes
/// a bind announced over 4000 bytes as LONG (refused inside expressions, ORA-01461). A batch
/// allocates the width for every row and grows it, copying every row, if a value is longer.
fn varchar_width<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> OracleType {
    OracleType::Varchar2(widest_chars(values))
}

/// The character count of the longest of `values`, at least 1.
fn widest_chars<'a>(values: impl IntoIterator<Item = Option<&'a str>>) -> u32 {
    let widest = values.into_iter().flatten().map(|v| v.chars().count()).max().unwrap_or(0);
    u32::try_from(widest.max(1)).unwrap_or(u32::MAX)
}

/// [`varchar_width`] of one text field of `rows`.
fn widest<T>(rows: &[T], field: impl Fn(&T) -> Option<&str>) -> OracleType {
    varchar_width(rows.iter().map(field))
}

/// How one CLOB column of a batch is bound. A batch fixes a bind's type for all its rows, and
/// the crate binds a CLOB-typed batch column as LOB locators (`SqlValue::for_bind` always uses
/// locators): a text set into one would be written into a locator that is no LOB yet, so each
/// row's value must be a LOB of its own — a temporary LOB, created and written at a round trip or
/// two per row. So a column whose values all fit [`SQL_INLINE_LOB`] bytes (nearly always) is
/// bound as VARCHAR2, which Oracle converts into the CLOB column as the single-row statements
/// always did; only a column holding a longer value takes a temporary LOB for each of its
/// non-NULL rows. LONG binds (any length inline) are not used: Oracle takes them only as a
/// statement's last binds (ORA-24816) and `finish.sql` has WHERE binds after its LOBs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ClobBinding {
    /// VARCHAR2 this many characters wide (the values are at most [`SQL_INLINE_LOB`] bytes).
    Inline(u32),
    /// A temporary CLOB per row that is not NULL.
    TempLobs,
}

impl ClobBinding {
    /// The binding a column holding `values` (one per row) needs.
    pub fn of<'a>(values: impl IntoIterator<Item = Option<&'a str>> + Clone) -> Self {
        if values.clone().into_iter().flatten().any(|v| v.len() > SQL_INLINE_LOB) {
            ClobBinding::TempLobs
        } else {
            ClobBinding::Inline(widest_chars(values))
        }
    }

    /// The bind's type, set before the first row.
    pub fn oratype(self) -> OracleType {
        match self {
            ClobBinding::Inline(width) => OracleType::Varchar2(width),
            ClobBinding::TempLobs => OracleType::CLOB,
        }
    }

    /// Whether a row's `text` goes through a temporary LOB.
    pub fn takes_lob(self, text: Option<&str>) -> bool {
        self == ClobBinding::TempLobs && text.is_some()
    }

    /// A row's value for this column (a temporary LOB must outlive the batch's execution).
    pub fn value(self, conn: &Connection, text: Option<&str>) -> Result<Arg, DbError> {
        match text {
            Some(t) if self.takes_lob(text) => temp_lob(conn, &clob(Some(t.to_string()))),
            _ => Ok(Arg::Inline(varchar_opt(text))),
        }
    }
}

/// One job's binds for `insert.sql`; `params` and `retry_policy` are the CLOB columns' texts,
/// bound per their [`ClobBinding`].
#[derive(Debug, Clone, PartialEq)]
pub(super) struct JobRow<'a> {
    pub job_id: &'a str,
    pub procedure_name: &'a str,
    pub owner: &'a str,
    pub is_function: i64,
    pub priority: i64,
    pub run_at: Option<NaiveDateTime>,
    pub max_attempts: i64,
    pub timeout_ms: Option<i64>,
    pub idempotency_key: Option<&'a str>,
    pub capture_output: i64,
    pub routine: Option<&'a str>,
    pub callback_url: Option<String>,
    pub callback_events: Option<String>,
    pub retry_of: Option<&'a str>,
    pub params: String,
    pub retry_policy: Option<String>,
}

impl<'a> JobRow<'a> {
    pub fn of(j: &'a NewJob) -> Self {
        let (callback_url, callback_events) = super::deliveries::callback_columns(j.callback.as_ref());
        JobRow {
            job_id: j.id.as_str(),
            procedure_name: &j.procedure_name,
            owner: &j.owner,
            is_function: i64::from(j.is_function),
            priority: i64::from(j.priority.as_i16()),
            run_at: j.run_at.map(|t| t.naive_utc()),
            max_attempts: i64::from(j.retry.as_ref().map_or(1, |r| r.max_attempts)),
            timeout_ms: j.timeout.map(timeout_to_ms),
            idempotency_key: j.idempotency_key.as_deref(),
            capture_output: i64::from(j.capture_output),
            routine: j.routine.as_deref(),
            callback_url,
            callback_events,
            retry_of: j.retry_of.as_ref().map(JobId::as_str),
            params: j.params.to_string(),
            retry_policy: j.retry.as_ref().and_then(|r| serde_json::to_value(r).ok()).map(|p| p.to_string()),
        }
    }
}

/// The type of every bind of `insert.sql` for a batch of `rows`.
pub(super) fn job_bind_types(
    rows: &[JobRow],
    params: ClobBinding,
    retry_policy: ClobBinding,
) -> Vec<(&'static str, OracleType)> {
    vec![
        ("job_id", widest(rows, |r| Some(r.job_id))),
        ("procedure_name", widest(rows, |r| Some(r.procedure_name))),
        ("owner", widest(rows, |r| Some(r.owner))),
        ("is_function", OracleType::Int64),
        ("priority", OracleType::Int64),
        ("run_at", OracleType::Timestamp(9)),
        ("max_attempts", OracleType::Int64),
        ("timeout_ms", OracleType::Int64),
        ("idempotency_key", widest(rows, |r| r.idempotency_key)),
        ("capture_output", OracleType::Int64),
        ("routine", widest(rows, |r| r.routine)),
        ("callback_url", widest(rows, |r| r.callback_url.as_deref())),
        ("callback_events", widest(rows, |r| r.callback_events.as_deref())),
        ("retry_of", widest(rows, |r| r.retry_of)),
        ("params", params.oratype()),
        ("retry_policy", retry_policy.oratype()),
    ]
}

/// One row's binds for `insert.sql`, by name; `params` and `retry_policy` are its CLOB values.
pub(super) fn job_binds<'r>(
    row: &'r JobRow,
    params: &'r Arg,
    retry_policy: &'r Arg,
) -> [(&'static str, &'r dyn ToSql); 16] {
    [
        ("job_id", &row.job_id),
        ("procedure_name", &row.procedure_name),
        ("owner", &row.owner),
        ("is_function", &row.is_function),
        ("priority", &row.priority),
        ("run_at", &row.run_at),
        ("max_attempts", &row.max_attempts),
        ("timeout_ms", &row.timeout_ms),
        ("idempotency_key", &row.idempotency_key),
        ("capture_output", &row.capture_output),
        ("routine", &row.routine),
        ("callback_url", &row.callback_url),
        ("callback_events", &row.callback_events),
        ("retry_of", &row.retry_of),
        ("params", params),
        ("retry_policy", retry_policy),
    ]
}

/// One refused row of a batch as a [`DbError`], its ORA- code kept.
pub(super) fn row_error(e: &oracle::DbError) -> DbError {
    let code = (e.code() != 0).then(|| format!("ORA-{:05}", e.code()));
    from_message(code, e.message())
}

/// What an insert batch's refused rows mean. ORA-00001 on a job with an idempotency key: the
/// owner holds that key already (maybe through an earlier row of this very batch, which Oracle
/// inserted first): those rows, in order, each with its refusal (the answer if the holder cannot
/// be read). Any other refusal, or ORA-00001 on a job without a key, fails the whole batch: the
/// first such row's error.
pub(super) fn taken_key_rows(errors: &[oracle::DbError], jobs: &[NewJob]) -> Result<Vec<(usize, DbError)>, DbError> {
    let mut refused: Vec<&oracle::DbError> = errors.iter().collect();
    refused.sort_by_key(|e| e.offset());
    let mut taken = Vec::with_capacity(refused.len());
    for e in refused {
        let row = e.offset() as usize;
        let has_key = jobs.get(row).is_some_and(|j| j.idempotency_key.is_some());
        if e.code() != UNIQUE_VIOLATION || !has_key {
            return Err(row_error(e));
        }
        taken.push((row, row_error(e)));
    }
    Ok(taken)
}

/// One outcome's binds for `finish.sql` (the instance's id apart, the same for every row);
/// `result`, `message` and `output` are the CLOB columns' texts, bound per their [`ClobBinding`].
#[derive(Debug, Clone, PartialEq)]
pub(super) struct OutcomeRow<'a> {
    pub job_id: &'a str,
    pub attempt: i64,
    pub status: &'static str,
    pub code: Option<&'a str>,
    pub retry_in: f64,
    pub history_message: Option<String>,
    pub result: Option<String>,
    pub message: Option<&'a str>,
    pub output: Option<String>,
}

impl<'a> OutcomeRow<'a> {
    pub fn of(o: &'a Outcome) -> Self {
        let message = o.error.as_ref().map(|e| e.message.as_str());
        OutcomeRow {
            job_id: o.id.as_str(),
            attempt: i64::from(o.attempt),
            status: o.status.as_str(),
            code: o.error.as_ref().map(|e| e.code.as_str()),
            retry_in: o.retry_in.map_or(0.0, |d| d.as_secs_f64()),
            history_message: message.map(history_message),
            result: o.result.as_ref().map(|r| r.to_string()),
            message,
            output: o.output.as_ref().and_then(|lines| serde_json::to_string(lines).ok()),
        }
    }
}

/// The CLOB bindings of an outcome batch: `result`, `message`, `output`.
pub(super) fn outcome_clobs(rows: &[OutcomeRow]) -> [ClobBinding; 3] {
    [
        ClobBinding::of(rows.iter().map(|r| r.result.as_deref())),
        ClobBinding::of(rows.iter().map(|r| r.message)),
        ClobBinding::of(rows.iter().map(|r| r.output.as_deref())),
    ]
}

/// The type of every bind of `finish.sql` for a batch of `rows` written by `instance_id`.
pub(super) fn outcome_bind_types(
    rows: &[OutcomeRow],
    instance_id: &str,
    [result, message, output]: [ClobBinding; 3],
) -> Vec<(&'static str, OracleType)> {
    vec![
        ("status", widest(rows, |r| Some(r.status))),
        ("code", widest(rows, |r| r.code)),
        ("retry_in", OracleType::Number(0, 0)),
        ("history_message", widest(rows, |r| r.history_message.as_deref())),
        ("result", result.oratype()),
        ("message", message.oratype()),
        ("output", output.oratype()),
        ("job_id", widest(rows, |r| Some(r.job_id))),
        ("instance_id", varchar_width([Some(instance_id)])),
        ("attempt", OracleType::Int64),
    ]
}

/// One row's binds for `finish.sql`, by name; `clobs` are its `result`, `message` and `output`.
pub(super) fn outcome_binds<'r>(
    row: &'r OutcomeRow,
    instance_id: &'r &str,
    [result, message, output]: [&'r Arg; 3],
) -> [(&'static str, &'r dyn ToSql); 10] {
    [
        ("status", &row.status),
        ("code", &row.code),
        ("retry_in", &row.retry_in),
        ("history_message", &row.history_message),
        ("result", result),
        ("message", message),
        ("output", output),
        ("job_id", &row.job_id),
        ("instance_id", instance_id),
        ("attempt", &row.attempt),
    ]
}

/// The jobs whose attempt an outcome batch ended: a row count of 0 means the fence (still running
/// here, this attempt) matched no row, and that job is left out. Counts are one per row, in order.
pub(super) fn changed_jobs(outcomes: &[Outcome], row_counts: &[u64]) -> Result<Vec<JobId>, DbError> {
    if row_counts.len() != outcomes.len() {
        return Err(DbError::statement(
            "driver_error",
            format!("the outcome batch reported {} row counts for {} rows", row_counts.len(), outcomes.len()),
        ));
    }
    Ok(outcomes.iter().zip(row_counts).filter(|(_, &n)| n > 0).map(|(o, _)| o.id.clone()).collect())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::model::callback::Callback;
    use crate::model::event::EventType;
    use crate::model::retry::{Backoff, RetryPolicy};
    use crate::model::{JobError, JobStatus, Priority};

    use super::super::store::tests::used_binds;
    use super::super::store::{FINISH_SQL, INSERT_SQL};

    fn names(types: &[(&'static str, OracleType)]) -> Vec<String> {
        let mut names: Vec<String> = types.iter().map(|(n, _)| n.to_string()).collect();
        names.sort();
        names
    }

    fn keyed(owner: &str, key: Option<&str>) -> NewJob {
        let mut job = NewJob::new("PROC_TEST", json!({"p_input": "x"}), owner);
        job.idempotency_key = key.map(str::to_string);
        job
    }

    /// A row refusal as the crate reports it: the row's offset in the batch and Oracle's text.
    fn refused(row: u32, code: i32, message: &str) -> oracle::DbError {
        oracle::DbError::new(code, row, message, "dpiStmt_executeMany", "execute")
    }

    #[test]
    fn the_insert_batch_types_and_binds_every_bind_of_the_statement_once() {
        let job = NewJob::new("PROC_TEST", json!({}), "alice");
        let rows = [JobRow::of(&job)];
        let types = job_bind_types(&rows, ClobBinding::Inline(2), ClobBinding::Inline(1));
        assert_eq!(names(&types), used_binds(INSERT_SQL));
        let (params, policy) = (Arg::Inline(varchar_opt(Some("{}"))), Arg::Inline(varchar_opt(None)));
        let binds = job_binds(&rows[0], &params, &policy);
        let mut bound: Vec<String> = binds.iter().map(|(n, _)| n.to_string()).collect();
        bound.sort();
        assert_eq!(bound, names(&types), "each row binds exactly the typed binds");
        // The CLOB binds stay last (insert.sql's order), typed by their binding.
        assert_eq!(&types[14..], &[("params", OracleType::Varchar2(2)), ("retry_policy", OracleType::Varchar2(1))]);
    }

    #[test]
    fn the_finish_batch_types_and_binds_every_bind_of_the_statement_once() {
        let outcome = Outcome::completed(JobId::generate(), 1, serde_json::Map::new(), None);
        let rows = [OutcomeRow::of(&outcome)];
        let clobs = outcome_clobs(&rows);
        let types = outcome_bind_types(&rows, "instance-1", clobs);
        assert_eq!(names(&types), used_binds(FINISH_SQL));
        let none = Arg::Inline(varchar_opt(None));
        let instance = "instance-1";
        let binds = outcome_binds(&rows[0], &instance, [&none, &none, &none]);
        let mut bound: Vec<String> = binds.iter().map(|(n, _)| n.to_string()).collect();
        bound.sort();
        assert_eq!(bound, names(&types));
        let typed = |name: &str| types.iter().find(|(n, _)| *n == name).map(|(_, t)| t.clone()).unwrap();
        assert_eq!(typed("instance_id"), OracleType::Varchar2(10));
        assert_eq!(typed("attempt"), OracleType::Int64);
        assert_eq!(typed("retry_in"), OracleType::Number(0, 0));
        assert_eq!(typed("status"), OracleType::Varchar2("completed".len() as u32));
        // `{}`: two bytes inline; no message and no output: NULL in a one-byte VARCHAR2.
        assert_eq!(clobs, [ClobBinding::Inline(2), ClobBinding::Inline(1), ClobBinding::Inline(1)]);
    }

    #[test]
    fn a_job_row_holds_what_the_single_row_insert_bound() {
        let mut job = NewJob::new("APP.PKG.RUN", serde_json::from_str(r#"{"n":1.50}"#).unwrap(), "alice");
        job.is_function = true;
        job.priority = Priority::High;
        let at = Utc.with_ymd_and_hms(2024, 12, 16, 15, 30, 0).unwrap();
        job.run_at = Some(at);
        job.retry =
            Some(RetryPolicy { max_attempts: 3, backoff: Backoff::Fixed, initial_delay_ms: 2000, max_delay_ms: 60000 });
        job.timeout = Some(Duration::from_millis(1500));
        job.idempotency_key = Some("order-42".into());
        job.capture_output = true;
        job.routine = Some("APP.PKG.RUN".into());
        job.callback = Some(Callback { url: "https://h/x".into(), events: vec![EventType::Completed] });
        let first = JobId::generate();
        job.retry_of = Some(first.clone());
        let row = JobRow::of(&job);
        assert_eq!(row.job_id, job.id.as_str());
        assert_eq!((row.procedure_name, row.owner), ("APP.PKG.RUN", "alice"));
        assert_eq!((row.is_function, row.priority, row.capture_output), (1, i64::from(Priority::High.as_i16()), 1));
        assert_eq!(row.run_at, Some(at.naive_utc()));
        assert_eq!((row.max_attempts, row.timeout_ms), (3, Some(1500)));
        assert_eq!((row.idempotency_key, row.routine), (Some("order-42"), Some("APP.PKG.RUN")));
        assert_eq!(row.callback_url.as_deref(), Some("https://h/x"));
        assert_eq!(row.callback_events.as_deref(), Some("completed"));
        assert_eq!(row.retry_of, Some(first.as_str()));
        assert_eq!(row.params, r#"{"n":1.50}"#, "numbers keep every digit");
        let policy: serde_json::Value = serde_json::from_str(row.retry_policy.as_deref().unwrap()).unwrap();
        assert_eq!(policy["max_attempts"], 3);

        let plain = NewJob::new("P", json!(null), "bob");
        let plain = JobRow::of(&plain);
        assert_eq!((plain.is_function, plain.max_attempts, plain.timeout_ms), (0, 1, None));
        assert_eq!((plain.run_at, plain.retry_policy, plain.idempotency_key), (None, None, None));
        assert_eq!((plain.callback_url, plain.callback_events, plain.retry_of), (None, None, None));
    }

    #[test]
    fn an_outcome_row_holds_what_the_single_row_update_bound() {
        let failed = Outcome {
            id: JobId::generate(),
            attempt: 2,
            status: JobStatus::Pending,
            result: None,
            error: Some(JobError { code: "ORA-20001".into(), message: "é".repeat(600) }),
            retry_in: Some(Duration::from_millis(2500)),
            output: Some(vec!["line 1".into(), "line \"2\"".into()]),
        };
        let row = OutcomeRow::of(&failed);
        assert_eq!((row.job_id, row.attempt, row.status), (failed.id.as_str(), 2, "pending"));
        assert_eq!((row.code, row.retry_in), (Some("ORA-20001"), 2.5));
        assert_eq!(row.message.map(|m| m.chars().count()), Some(600));
        assert_eq!(row.history_message, Some(history_message(&"é".repeat(600))));
        assert_eq!(row.output.as_deref(), Some(r#"["line 1","line \"2\""]"#));
        assert_eq!(row.result, None);

        let mut values = serde_json::Map::new();
        values.insert("p_output".into(), serde_json::from_str("12.000").unwrap());
        let done = Outcome::completed(JobId::generate(), 1, values, None);
        let row = OutcomeRow::of(&done);
        assert_eq!((row.status, row.code, row.retry_in, row.message), ("completed", None, 0.0, None));
        assert_eq!(row.result.as_deref(), Some(r#"{"p_output":12.000}"#));
        assert_eq!((row.history_message, row.output), (None, None));
    }

    #[test]
    fn a_clob_column_is_inline_text_unless_a_value_needs_a_lob() {
        let small = "x".repeat(SQL_INLINE_LOB);
        assert_eq!(ClobBinding::of([Some("ab"), None, Some(small.as_str())]), ClobBinding::Inline(4000));
        assert_eq!(ClobBinding::of([None, None]), ClobBinding::Inline(1));
        assert_eq!(ClobBinding::of(std::iter::empty()), ClobBinding::Inline(1));
        // Bytes decide (2001 two-byte characters do not fit); the width is in characters.
        let wide = "é".repeat(2001);
        assert_eq!(ClobBinding::of([Some("ab"), Some(wide.as_str())]), ClobBinding::TempLobs);
        assert_eq!(ClobBinding::of([Some(&wide[2..])]), ClobBinding::Inline(2000));
        assert_eq!(ClobBinding::Inline(7).oratype(), OracleType::Varchar2(7));
        assert_eq!(ClobBinding::TempLobs.oratype(), OracleType::CLOB);
        // In a LOB column every value is a LOB of its own; NULL stays a plain NULL.
        assert!(ClobBinding::TempLobs.takes_lob(Some("ab")));
        assert!(!ClobBinding::TempLobs.takes_lob(None));
        assert!(!ClobBinding::Inline(4000).takes_lob(Some("ab")));
    }

    #[test]
    fn text_binds_are_as_wide_as_the_batch_longest_value() {
        let rows: Vec<NewJob> = ["a", "a-longer-owner", "é"].iter().map(|o| NewJob::new("P", json!({}), *o)).collect();
        let rows: Vec<JobRow> = rows.iter().map(JobRow::of).collect();
        let types = job_bind_types(&rows, ClobBinding::Inline(2), ClobBinding::Inline(1));
        let typed = |name: &str| types.iter().find(|(n, _)| *n == name).map(|(_, t)| t.clone()).unwrap();
        assert_eq!(typed("owner"), OracleType::Varchar2(14));
        assert_eq!(typed("procedure_name"), OracleType::Varchar2(1));
        assert_eq!(typed("idempotency_key"), OracleType::Varchar2(1), "all NULL: the narrowest bind");
        assert_eq!(typed("run_at"), OracleType::Timestamp(9));
        assert_eq!(typed("job_id"), OracleType::Varchar2(rows[0].job_id.len() as u32));
        // In characters, as the crate sizes VARCHAR2 binds (4 bytes reserved each).
        let named = NewJob::new("PROC_AÑO_ÉXITO", json!({}), "a");
        let named = [JobRow::of(&named)];
        let types = job_bind_types(&named, ClobBinding::Inline(2), ClobBinding::Inline(1));
        assert_eq!(types[1], ("procedure_name", OracleType::Varchar2(14)));
    }

    #[test]
    fn taken_keys_are_answered_and_any_other_refusal_fails_the_batch() {
        // Rows 1 and 3 repeat row 0's key (Oracle inserted row 0 first); row 2 is new.
        let jobs =
            [keyed("alice", Some("k")), keyed("alice", Some("k")), keyed("alice", None), keyed("alice", Some("k"))];
        let unique = "ORA-00001: unique constraint (PROCGATE.ASYNC_JOBS_IDEMPOTENCY_UX) violated";
        // The crate does not promise the order of its batch errors.
        let errors = [refused(3, 1, unique), refused(1, 1, unique)];
        let taken = taken_key_rows(&errors, &jobs).unwrap();
        assert_eq!(taken.iter().map(|(row, _)| *row).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!((taken[0].1.code.as_str(), taken[0].1.message.as_str()), ("ORA-00001", &unique[11..]));
        assert!(taken_key_rows(&[], &jobs).unwrap().is_empty());

        // ORA-00001 on a job without a key (its JOB_ID?) is no idempotent answer.
        let err = taken_key_rows(&[refused(2, 1, unique)], &jobs).unwrap_err();
        assert_eq!(err.code, "ORA-00001");
        // Any other refusal fails the batch: the first refused row's error.
        let too_large = "ORA-12899: value too large for column \"PROCGATE\".\"ASYNC_JOBS\".\"OWNER\"";
        let err = taken_key_rows(&[refused(3, 1, unique), refused(1, 12899, too_large)], &jobs).unwrap_err();
        assert_eq!(err.code, "ORA-12899");
        assert!(err.message.starts_with("value too large"), "{}", err.message);
        // A row the batch did not have.
        assert!(taken_key_rows(&[refused(9, 1, unique)], &jobs).is_err());
    }

    #[test]
    fn a_row_error_keeps_its_code() {
        let e = row_error(&refused(0, 1400, "ORA-01400: cannot insert NULL into (\"X\")"));
        assert_eq!((e.code.as_str(), e.message.as_str()), ("ORA-01400", "cannot insert NULL into (\"X\")"));
        let e = row_error(&refused(0, 0, "no code here"));
        assert_eq!((e.code.as_str(), e.message.as_str()), ("driver_error", "no code here"));
        let e = row_error(&refused(0, 3113, "ORA-03113: end-of-file on communication channel"));
        assert_eq!(e.kind, crate::db::DbErrorKind::Unavailable);
    }

    #[test]
    fn only_outcomes_whose_fence_matched_are_changed() {
        let outcomes: Vec<Outcome> =
            (0..3).map(|_| Outcome::completed(JobId::generate(), 1, serde_json::Map::new(), None)).collect();
        let changed = changed_jobs(&outcomes, &[1, 0, 1]).unwrap();
        assert_eq!(changed, vec![outcomes[0].id.clone(), outcomes[2].id.clone()]);
        assert!(changed_jobs(&outcomes, &[0, 0, 0]).unwrap().is_empty());
        assert!(changed_jobs(&outcomes, &[1, 1]).is_err(), "a count per row, or no answer");
        assert!(changed_jobs(&[], &[]).unwrap().is_empty());
    }
}
