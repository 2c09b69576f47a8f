//! `ASYNC_JOBS` on Oracle: the functions that run the job store's statements on a pooled session
//! (always inside `spawn_blocking`). Every statement is a file of `sql/oracle/queries/` (its
//! header comment says what it does and its binds), loaded with `include_str!` through
//! [`statement`] into a named constant; nothing is assembled at run time.
//!
//! The rules are PostgreSQL's (see docs/design.md): each state change is one conditional
//! statement (`STATUS = 'running' AND INSTANCE_ID = ... AND ATTEMPTS = ...`), progress only
//! rises, claims skip rows other claimers hold (`FOR UPDATE SKIP LOCKED`), bulk deletes go in
//! batches. Oracle differences:
//! - `FOR UPDATE` cannot be combined with `ROWNUM`/`FETCH FIRST` to lock "the first n rows", so
//!   claims and purges open a `FOR UPDATE SKIP LOCKED` cursor in a PL/SQL block and fetch at
//!   most n rows from it (`BULK COLLECT ... LIMIT`): only the fetched rows are locked.
//! - Times are `TIMESTAMP` columns (the predecessor's type) holding UTC
//!   (`SYS_EXTRACT_UTC(SYSTIMESTAMP)`).
//! - JSON (`PARAMS`, `RESULT`, `RETRY_POLICY`, `ATTEMPT_HISTORY`) is CLOB text; serde_json
//!   (with `arbitrary_precision`) writes and reads it, so numbers keep every digit.
//! - No LISTEN/NOTIFY: other instances find new jobs by polling (`POLL_INTERVAL`) and
//!   cancellation requests with their heartbeat.
//! - Strings are bound as VARCHAR2 (see `convert::varchar`) so the indexes are used.
//!
//! Round trips: a batch of n jobs takes one execution whatever n (its callers bound n: the
//! inserter 500 jobs, the writer 1000 outcomes), then one commit.
//! - `insert` and `finish_uncommitted`: array DML (the crate's `Batch`, rows and bind types in
//!   `batch.rs`); an insert adds one lookup per job whose idempotency key was taken.
//! - `record_progress`, `heartbeat`: the ids and values travel as collections
//!   (`SYS.ODCI*LIST`) into one `FORALL` block / one `UPDATE` (the heartbeat then reads the
//!   cancellations requested with one query).
//! - `claim`: one PL/SQL block locks, updates and opens a cursor on the claimed rows, which come
//!   back in fetches of up to 100 rows (the crate's fetch array size). With per-procedure
//!   limits: four statements (lock, running counts, candidates, claim), whatever n.

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use oracle::sql_type::{Collection, RefCursor};
use oracle::{Connection, Row};
use serde_json::Value as Json;

use crate::db::DbError;
use crate::model::listing::{ListPage, ListTotal};
use crate::model::{
    timeout_from_ms, CancelFilter, CancelOutcome, ClaimedJob, DeleteOutcome, Inserted, Job, JobError, JobId, JobStatus,
    ListFilter, NewJob, Outcome, Priority, ProcedureLimit, ProgressReport, ProgressUpdate, PurgeFilter, Rescued,
    RoomPerProcedure,
};

use super::batch::{
    changed_jobs, job_bind_types, job_binds, outcome_bind_types, outcome_binds, outcome_clobs, taken_key_rows,
    ClobBinding, JobRow, OutcomeRow,
};
use super::convert::{varchar, varchar_opt};
use super::error::map_error;

/// The job table script (SQL*Plus syntax: PL/SQL blocks ended by `/` lines). `migrate` runs
/// its statements one by one.
pub(super) const TABLE_SCRIPT: &str = include_str!("../../../sql/oracle/create_async_jobs_table.sql");

/// A statement file of `sql/oracle/queries/` as Oracle receives it. The file is runnable as it is
/// in SQL*Plus: `--` header lines (what it does, its binds), then the statement with its SQL*Plus
/// terminator — `;` at the end of a plain SQL statement's last line, a line holding only `/` after
/// a PL/SQL block (`BEGIN`/`DECLARE` ... `END;`) — and a final newline. Oracle gets the statement
/// without the header, the final newline and exactly that terminator: OCI refuses a `;` after plain
/// SQL, and a block keeps its `END;`. `const`, so a file without its terminator (or with the wrong
/// one for its kind, or no statement at all) fails the build.
pub(super) const fn statement(file: &str) -> &str {
    let bytes = file.as_bytes();
    let mut start = 0;
    while start + 1 < bytes.len() && bytes[start] == b'-' && bytes[start + 1] == b'-' {
        while start < bytes.len() && bytes[start] != b'\n' {
            start += 1;
        }
        if start < bytes.len() {
            start += 1;
        }
    }
    let mut end = bytes.len();
    if end > start && bytes[end - 1] == b'\n' {
        end -= 1;
    }
    if is_plsql_block(bytes, start) {
        // The terminator is the last line, `/` alone; what precedes it is the block.
        if end < start + 2 || bytes[end - 1] != b'/' || bytes[end - 2] != b'\n' {
            panic!("a PL/SQL statement file must end with a line holding only `/`");
        }
        end -= 2;
        if end == start || bytes[end - 1] != b';' {
            panic!("a PL/SQL statement file's block must end with `END;` before its `/` line");
        }
    } else {
        if end == start || bytes[end - 1] != b';' {
            panic!("a SQL statement file must end with `;` (a PL/SQL block only starts with BEGIN or DECLARE)");
        }
        end -= 1;
    }
    let mut first = start; // leading blank lines stay in the text; only checked for a statement
    while first < end && bytes[first].is_ascii_whitespace() {
        first += 1;
    }
    if first == end {
        panic!("a statement file holds no statement");
    }
    let (_, rest) = bytes.split_at(start);
    let (text, _) = rest.split_at(end - start);
    match std::str::from_utf8(text) {
        Ok(text) => text,
        Err(_) => panic!("a statement file is not UTF-8"),
    }
}

/// Whether the statement starting at `start` (after leading whitespace) is a PL/SQL block: its
/// first word is `BEGIN` or `DECLARE`, in any case.
const fn is_plsql_block(bytes: &[u8], start: usize) -> bool {
    let mut i = start;
    while i < bytes.len() && bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    starts_with_word(bytes, i, b"BEGIN") || starts_with_word(bytes, i, b"DECLARE")
}

/// Whether `bytes[at..]` opens with `word` (ASCII, any case) followed by a non-word character.
const fn starts_with_word(bytes: &[u8], at: usize, word: &[u8]) -> bool {
    if at + word.len() > bytes.len() {
        return false;
    }
    let mut k = 0;
    while k < word.len() {
        if bytes[at + k].to_ascii_uppercase() != word[k] {
            return false;
        }
        k += 1;
    }
    let next = at + word.len();
    next == bytes.len() || !(bytes[next].is_ascii_alphanumeric() || bytes[next] == b'_')
}

/// Health check.
pub(super) const PING_SQL: &str = statement(include_str!("../../../sql/oracle/queries/ping.sql"));

/// Inserts one pending job: one row of an array DML batch.
pub(super) const INSERT_SQL: &str = statement(include_str!("../../../sql/oracle/queries/insert.sql"));

/// The job holding an owner's idempotency key.
pub(super) const EXISTING_KEY_SQL: &str = statement(include_str!("../../../sql/oracle/queries/existing_key.sql"));

/// Claims due pending jobs (no per-procedure limits).
pub(super) const CLAIM_SQL: &str = statement(include_str!("../../../sql/oracle/queries/claim.sql"));

/// Serialises claimers that enforce per-procedure limits.
pub(super) const LIMITED_CLAIM_LOCK_SQL: &str =
    statement(include_str!("../../../sql/oracle/queries/limited_claim_lock.sql"));

/// Running jobs per limit key.
pub(super) const RUNNING_COUNTS_SQL: &str = statement(include_str!("../../../sql/oracle/queries/running_counts.sql"));

/// Due pending jobs of procedures below their limit, locked.
pub(super) const CANDIDATES_SQL: &str = statement(include_str!("../../../sql/oracle/queries/candidates.sql"));

/// Claims the picked candidates.
pub(super) const CLAIM_PICKED_SQL: &str = statement(include_str!("../../../sql/oracle/queries/claim_picked.sql"));

/// Raises progress and records call sessions.
pub(super) const PROGRESS_SQL: &str = statement(include_str!("../../../sql/oracle/queries/progress.sql"));

/// Whether the open transaction has written anything.
pub(super) const CALL_WROTE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/call_wrote.sql"));

/// The session a call runs on (`SID,SERIAL#`).
pub(super) const SESSION_SQL: &str = statement(include_str!("../../../sql/oracle/queries/session.sql"));

/// Ends one attempt, conditional on it still running here: one row of an array DML batch.
pub(super) const FINISH_SQL: &str = statement(include_str!("../../../sql/oracle/queries/finish.sql"));

/// Renews the lease of this instance's running jobs.
pub(super) const HEARTBEAT_SQL: &str = statement(include_str!("../../../sql/oracle/queries/heartbeat.sql"));

/// The jobs this instance must stop.
pub(super) const CANCEL_REQUESTED_SQL: &str =
    statement(include_str!("../../../sql/oracle/queries/cancel_requested.sql"));

/// Cancels a pending job.
pub(super) const CANCEL_PENDING_SQL: &str = statement(include_str!("../../../sql/oracle/queries/cancel_pending.sql"));

/// Requests the cancellation of a running job.
pub(super) const CANCEL_RUNNING_SQL: &str = statement(include_str!("../../../sql/oracle/queries/cancel_running.sql"));

/// A job's status.
pub(super) const STATUS_SQL: &str = statement(include_str!("../../../sql/oracle/queries/status.sql"));

/// Kills the calls of lost instances and retries or fails their jobs.
pub(super) const RESCUE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/rescue.sql"));

/// One job.
pub(super) const GET_SQL: &str = statement(include_str!("../../../sql/oracle/queries/get.sql"));

/// How many jobs match a list filter, counting at most a cap of them.
pub(super) const COUNT_SQL: &str = statement(include_str!("../../../sql/oracle/queries/count.sql"));

/// One page of a list with none of the filters below.
pub(super) const PAGE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/page.sql"));

/// One page of a list with an owner.
pub(super) const PAGE_OWNER_SQL: &str = statement(include_str!("../../../sql/oracle/queries/page_owner.sql"));

/// One page of a list of one status.
pub(super) const PAGE_STATUS_SQL: &str = statement(include_str!("../../../sql/oracle/queries/page_status.sql"));

/// One page of a list of one procedure.
pub(super) const PAGE_PROCEDURE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/page_procedure.sql"));

/// Deletes an ended job.
pub(super) const DELETE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/delete.sql"));

/// Deletes one batch of ended jobs.
pub(super) const PURGE_SQL: &str = statement(include_str!("../../../sql/oracle/queries/purge.sql"));

/// Longest message kept in an attempt-history entry (the full text stays in ERROR_MSG).
const HISTORY_MESSAGE_CHARS: usize = 500;

/// Logged once per process: the gateway's user may not kill another session.
static NO_KILL_LOGGED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn db(e: oracle::Error) -> DbError {
    map_error(&e)
}

/// The statements of a SQL*Plus script: blocks ended by a line holding only `/`; comment lines
/// before a statement and SQL*Plus commands between statements are left out.
pub(super) fn script_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if trimmed == "/" {
            let text = current.join("\n").trim().to_string();
            if !text.is_empty() {
                out.push(text);
            }
            current.clear();
            continue;
        }
        if current.is_empty() {
            let upper = trimmed.to_ascii_uppercase();
            let sqlplus = ["SET ", "PROMPT", "WHENEVER ", "SPOOL", "EXIT", "REM "].iter().any(|c| upper.starts_with(c));
            if trimmed.is_empty() || trimmed.starts_with("--") || sqlplus {
                continue;
            }
        }
        current.push(line);
    }
    out
}

pub(super) fn migrate(conn: &Connection) -> Result<(), DbError> {
    for statement in script_statements(TABLE_SCRIPT) {
        conn.execute(&statement, &[]).map_err(db)?;
        if let Some(warning) = conn.last_warning() {
            // e.g. ORA-24344: success with compilation error
            return Err(DbError::statement("migration_failed", format!("{warning} in: {}", first_line(&statement))));
        }
    }
    conn.commit().map_err(db)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or_default()
}

pub(super) fn ping(conn: &Connection) -> Result<(), DbError> {
    conn.query_row(PING_SQL, &[]).map_err(db)?;
    Ok(())
}

pub(super) fn utc(t: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    t.map(|t| t.and_utc())
}

fn parse_json(text: Option<String>) -> Option<Json> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(Json::String(t)))
}

/// Inserts `jobs` as one array DML batch (one round trip) and commits once. A row refused with
/// ORA-00001 does not stop the others (batch errors): its owner holds its idempotency key, maybe
/// through an earlier row of this batch, and it answers that job, as on PostgreSQL. Any other
/// refusal fails the call (the inserter then tries the jobs one by one). Answers in job order.
pub(super) fn insert(conn: &Connection, jobs: &[NewJob]) -> Result<Vec<Inserted>, DbError> {
    if jobs.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<JobRow> = jobs.iter().map(JobRow::of).collect();
    let params = ClobBinding::of(rows.iter().map(|r| Some(r.params.as_str())));
    let retry_policy = ClobBinding::of(rows.iter().map(|r| r.retry_policy.as_deref()));
    // With batch errors, rows are only sent by `execute`, all at once.
    let mut batch = conn.batch(INSERT_SQL, jobs.len()).with_batch_errors().build().map_err(db)?;
    for (name, oratype) in job_bind_types(&rows, params, retry_policy) {
        batch.set_type(name, &oratype).map_err(db)?;
    }
    let mut lobs = Vec::with_capacity(rows.len()); // temporary LOBs live until the batch has run
    for row in &rows {
        let clobs = (params.value(conn, Some(&row.params))?, retry_policy.value(conn, row.retry_policy.as_deref())?);
        batch.append_row_named(&job_binds(row, &clobs.0, &clobs.1)).map_err(db)?;
        lobs.push(clobs);
    }
    let mut out = vec![Inserted::New; jobs.len()];
    if let Err(e) = batch.execute() {
        let Some(refused) = e.batch_errors() else { return Err(db(e)) };
        for (row, refusal) in taken_key_rows(refused, jobs)? {
            out[row] = Inserted::Existing(key_holder(conn, &jobs[row], refusal)?);
        }
    }
    drop(lobs);
    conn.commit().map_err(db)?;
    Ok(out)
}

/// The job holding `job`'s idempotency key for its owner (the row this session just inserted, or
/// a committed one); `refusal` when there is none to read.
fn key_holder(conn: &Connection, job: &NewJob, refusal: DbError) -> Result<JobId, DbError> {
    let Some(key) = job.idempotency_key.as_deref() else { return Err(refusal) };
    let row = conn
        .query_row_named(EXISTING_KEY_SQL, &[("owner", &varchar(&job.owner)), ("idempotency_key", &varchar(key))])
        .map_err(|_| refusal)?;
    Ok(JobId::from_db(row.get(0).map_err(db)?))
}

fn string_list<'a>(conn: &Connection, items: impl IntoIterator<Item = &'a str>) -> Result<Collection, DbError> {
    let mut list = conn.object_type("SYS.ODCIVARCHAR2LIST").map_err(db)?.new_collection().map_err(db)?;
    for item in items {
        list.push(&item).map_err(db)?;
    }
    Ok(list)
}

fn claimed_rows(cursor: &mut RefCursor) -> Result<Vec<ClaimedJob>, DbError> {
    let mut out = Vec::new();
    for row in cursor.query().map_err(db)? {
        let r = row.map_err(db)?;
        out.push(ClaimedJob {
            id: JobId::from_db(r.get(0).map_err(db)?),
            procedure_name: r.get(1).map_err(db)?,
            params: parse_json(r.get(2).map_err(db)?).unwrap_or(Json::Null),
            is_function: r.get::<usize, Option<i64>>(3).map_err(db)?.unwrap_or(0) != 0,
            attempt: r.get::<usize, Option<i32>>(4).map_err(db)?.unwrap_or(1),
            retry: r.get::<usize, Option<String>>(5).map_err(db)?.and_then(|p| serde_json::from_str(&p).ok()),
            timeout: r.get::<usize, Option<i64>>(6).map_err(db)?.map(timeout_from_ms),
            capture_output: r.get::<usize, Option<i64>>(7).map_err(db)?.unwrap_or(0) != 0,
            owner: r.get::<usize, Option<String>>(8).map_err(db)?.unwrap_or_default(),
            waited: Duration::try_from_secs_f64(r.get::<usize, Option<f64>>(9).map_err(db)?.unwrap_or(0.0).max(0.0))
                .unwrap_or_default(),
        });
    }
    Ok(out)
}

pub(super) fn claim(
    conn: &Connection,
    instance_id: &str,
    limit: usize,
    limits: &[ProcedureLimit],
) -> Result<Vec<ClaimedJob>, DbError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let claimed = if limits.is_empty() {
        let mut stmt = conn.statement(CLAIM_SQL).build().map_err(db)?;
        stmt.execute_named(&[
            ("claim_limit", &(limit as i64)),
            ("instance_id", &varchar(instance_id)),
            ("claimed", &oracle::sql_type::OracleType::RefCursor),
        ])
        .map_err(db)?;
        let mut cursor: RefCursor = stmt.bind_value("claimed").map_err(db)?;
        claimed_rows(&mut cursor)?
    } else {
        claim_limited(conn, instance_id, limit, limits)?
    };
    conn.commit().map_err(db)?;
    Ok(claimed)
}

fn claim_limited(
    conn: &Connection,
    instance_id: &str,
    limit: usize,
    limits: &[ProcedureLimit],
) -> Result<Vec<ClaimedJob>, DbError> {
    conn.execute(LIMITED_CLAIM_LOCK_SQL, &[]).map_err(db)?;
    let mut running = Vec::new();
    for row in conn.query(RUNNING_COUNTS_SQL, &[]).map_err(db)? {
        let r = row.map_err(db)?;
        running.push((r.get::<usize, String>(0).map_err(db)?, r.get::<usize, i64>(1).map_err(db)?));
    }
    let mut room = RoomPerProcedure::new(limits, &running);
    let saturated = room.saturated();
    let mut stmt = conn.statement(CANDIDATES_SQL).build().map_err(db)?;
    // Over-fetch a little: some candidates may be over their procedure's remaining room.
    stmt.execute_named(&[
        ("saturated", &string_list(conn, saturated.iter().map(String::as_str))?),
        ("candidate_limit", &((limit * 2 + 8) as i64)),
        ("candidates", &oracle::sql_type::OracleType::RefCursor),
    ])
    .map_err(db)?;
    let mut cursor: RefCursor = stmt.bind_value("candidates").map_err(db)?;
    let mut candidates = Vec::new();
    for row in cursor.query().map_err(db)? {
        let r = row.map_err(db)?;
        candidates.push((r.get::<usize, String>(0).map_err(db)?, r.get::<usize, String>(1).map_err(db)?));
    }
    let picked: Vec<&str> =
        candidates.iter().filter(|(_, name)| room.take(name)).map(|(id, _)| id.as_str()).take(limit).collect();
    if picked.is_empty() {
        return Ok(Vec::new());
    }
    let mut stmt = conn.statement(CLAIM_PICKED_SQL).build().map_err(db)?;
    stmt.execute_named(&[
        ("ids", &string_list(conn, picked)?),
        ("instance_id", &varchar(instance_id)),
        ("claimed", &oracle::sql_type::OracleType::RefCursor),
    ])
    .map_err(db)?;
    let mut cursor: RefCursor = stmt.bind_value("claimed").map_err(db)?;
    claimed_rows(&mut cursor)
}

pub(super) fn record_progress(conn: &Connection, instance_id: &str, updates: &[ProgressUpdate]) -> Result<(), DbError> {
    if updates.is_empty() {
        return Ok(());
    }
    let numbers = || conn.object_type("SYS.ODCINUMBERLIST").and_then(|t| t.new_collection()).map_err(db);
    let strings = || conn.object_type("SYS.ODCIVARCHAR2LIST").and_then(|t| t.new_collection()).map_err(db);
    let (mut progress, mut sessions) = (numbers()?, strings()?);
    let (mut percents, mut messages, mut processed, mut totals) = (numbers()?, strings()?, numbers()?, numbers()?);
    for u in updates {
        progress.push(&i64::from(u.progress)).map_err(db)?;
        sessions.push(&u.session.clone()).map_err(db)?;
        let report = u.report.clone().unwrap_or_default();
        percents.push(&report.percent).map_err(db)?;
        messages.push(&report.message).map_err(db)?;
        processed.push(&report.processed).map_err(db)?;
        totals.push(&report.total).map_err(db)?;
    }
    let ids = string_list(conn, updates.iter().map(|u| u.id.as_str()))?;
    conn.execute_named(
        PROGRESS_SQL,
        &[
            ("ids", &ids),
            ("progress", &progress),
            ("sessions", &sessions),
            ("instance_id", &varchar(instance_id)),
            ("percents", &percents),
            ("messages", &messages),
            ("processed", &processed),
            ("totals", &totals),
        ],
    )
    .map_err(db)?;
    conn.commit().map_err(db)
}

/// Whether this session's open transaction has written anything.
pub(super) fn call_wrote(conn: &Connection) -> Result<bool, DbError> {
    Ok(conn.query_row_as::<i64>(CALL_WROTE_SQL, &[]).map_err(db)? == 1)
}

/// The session this connection is, as `SID,SERIAL#`.
pub(super) fn session_id(conn: &Connection) -> Result<String, DbError> {
    conn.query_row_as::<String>(SESSION_SQL, &[]).map_err(db)
}

/// The history entry's message: at most [`HISTORY_MESSAGE_CHARS`] characters.
pub(super) fn history_message(message: &str) -> String {
    match message.char_indices().nth(HISTORY_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}...", &message[..i]),
        None => message.to_string(),
    }
}

pub(super) fn finish(conn: &Connection, instance_id: &str, outcomes: &[Outcome]) -> Result<Vec<JobId>, DbError> {
    let changed = finish_uncommitted(conn, instance_id, outcomes)?;
    conn.commit().map_err(db)?;
    Ok(changed)
}

/// Ends attempts in the session's open transaction, as one array DML batch (one round trip);
/// the caller commits (with a job's call: see `call::run`). The jobs whose fence matched.
pub(super) fn finish_uncommitted(
    conn: &Connection,
    instance_id: &str,
    outcomes: &[Outcome],
) -> Result<Vec<JobId>, DbError> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<OutcomeRow> = outcomes.iter().map(OutcomeRow::of).collect();
    let clobs = outcome_clobs(&rows);
    let [result, message, output] = clobs;
    let mut batch = conn.batch(FINISH_SQL, outcomes.len()).with_row_counts().build().map_err(db)?;
    for (name, oratype) in outcome_bind_types(&rows, instance_id, clobs) {
        batch.set_type(name, &oratype).map_err(db)?;
    }
    let mut lobs = Vec::with_capacity(rows.len()); // temporary LOBs live until the batch has run
    for row in &rows {
        let values = [
            result.value(conn, row.result.as_deref())?,
            message.value(conn, row.message)?,
            output.value(conn, row.output.as_deref())?,
        ];
        let [r, m, o] = &values;
        batch.append_row_named(&outcome_binds(row, &instance_id, [r, m, o])).map_err(db)?;
        lobs.push(values);
    }
    // The last row filled the batch, so `append_row_named` has executed it; this sends nothing more.
    batch.execute().map_err(db)?;
    let changed = changed_jobs(outcomes, &batch.row_counts().map_err(db)?);
    drop(lobs);
    changed
}

pub(super) fn heartbeat(conn: &Connection, instance_id: &str, running: &[JobId]) -> Result<Vec<JobId>, DbError> {
    if running.is_empty() {
        return Ok(Vec::new());
    }
    let ids = string_list(conn, running.iter().map(JobId::as_str))?;
    let instance = varchar(instance_id);
    conn.execute_named(HEARTBEAT_SQL, &[("ids", &ids), ("instance_id", &instance)]).map_err(db)?;
    let mut requested = Vec::new();
    for row in conn.query_named(CANCEL_REQUESTED_SQL, &[("ids", &ids), ("instance_id", &instance)]).map_err(db)? {
        requested.push(JobId::from_db(row.map_err(db)?.get(0).map_err(db)?));
    }
    conn.commit().map_err(db)?;
    Ok(requested)
}

pub(super) fn cancel(conn: &Connection, id: &JobId, owner: Option<&str>) -> Result<CancelOutcome, DbError> {
    let binds = |c: &Connection, sql: &str| -> Result<u64, DbError> {
        let stmt =
            c.execute_named(sql, &[("job_id", &varchar(id.as_str())), ("owner", &varchar_opt(owner))]).map_err(db)?;
        stmt.row_count().map_err(db)
    };
    // Each step is one conditional statement; a job that moves on between them is caught by the next.
    loop {
        if binds(conn, CANCEL_PENDING_SQL)? > 0 {
            conn.commit().map_err(db)?;
            return Ok(CancelOutcome::Cancelled);
        }
        if binds(conn, CANCEL_RUNNING_SQL)? > 0 {
            conn.commit().map_err(db)?;
            return Ok(CancelOutcome::Requested);
        }
        let row =
            conn.query_row_named(STATUS_SQL, &[("job_id", &varchar(id.as_str())), ("owner", &varchar_opt(owner))]);
        let status: String = match row {
            Ok(r) => r.get(0).map_err(db)?,
            Err(e) if e.kind() == oracle::ErrorKind::NoDataFound => return Ok(CancelOutcome::NotFound),
            Err(e) => return Err(db(e)),
        };
        match status.parse::<JobStatus>() {
            // It was claimed or released between the statements: try again from the top.
            Ok(JobStatus::Pending | JobStatus::Running) => continue,
            Ok(status) => return Ok(CancelOutcome::AlreadyEnded(status)),
            Err(e) => return Err(DbError::statement("bad_row", e)),
        }
    }
}

pub(super) fn rescue(conn: &Connection, lease: Duration, retry_orphans: bool) -> Result<Vec<Rescued>, DbError> {
    let mut stmt = conn.statement(RESCUE_SQL).build().map_err(db)?;
    stmt.execute_named(&[
        ("lease_seconds", &lease.as_secs_f64()),
        ("retry_orphans", &i64::from(retry_orphans)),
        ("kill_denied", &oracle::sql_type::OracleType::Number(1, 0)),
        ("rescued", &oracle::sql_type::OracleType::RefCursor),
    ])
    .map_err(db)?;
    let kill_denied: i64 = stmt.bind_value("kill_denied").map_err(db)?;
    if kill_denied == 1 && !NO_KILL_LOGGED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "the rescuer cannot kill the sessions dead instances left behind (grant ALTER SYSTEM to the gateway's \
             user): their calls run on until Oracle notices the lost client (SQLNET.EXPIRE_TIME), but their \
             effects are rolled back, never committed"
        );
    }
    let mut cursor: RefCursor = stmt.bind_value("rescued").map_err(db)?;
    let mut out = Vec::new();
    for row in cursor.query().map_err(db)? {
        let r = row.map_err(db)?;
        let status = r.get::<usize, String>(1).map_err(db)?.parse::<JobStatus>();
        let status = status.map_err(|e| DbError::statement("bad_row", e))?;
        out.push(Rescued { id: JobId::from_db(r.get(0).map_err(db)?), status });
    }
    conn.commit().map_err(db)?;
    Ok(out)
}

pub(super) fn get(conn: &Connection, id: &JobId, owner: Option<&str>) -> Result<Option<Job>, DbError> {
    let row = conn.query_row_named(GET_SQL, &[("job_id", &varchar(id.as_str())), ("owner", &varchar_opt(owner))]);
    match row {
        Ok(r) => job_from_row(&r).map(Some),
        Err(e) if e.kind() == oracle::ErrorKind::NoDataFound => Ok(None),
        Err(e) => Err(db(e)),
    }
}

/// `completed,failed`: the status words of a filter (procgate's own words only).
pub(super) fn status_list(statuses: &[JobStatus]) -> Option<String> {
    (!statuses.is_empty()).then(|| statuses.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","))
}

/// The page statement for a filter: the one whose leading predicate is an equality on the
/// narrowest index the filter allows (Oracle plans the bound statement once for every value, so
/// the statement itself names the index's column). All take the same binds and return the same rows.
pub(super) fn page_statement(f: &ListFilter) -> &'static str {
    if f.owner.is_some() {
        PAGE_OWNER_SQL
    } else if f.statuses.len() == 1 {
        PAGE_STATUS_SQL
    } else if f.procedure.is_some() {
        PAGE_PROCEDURE_SQL
    } else {
        PAGE_SQL
    }
}

/// A page and its total. Above the cap Oracle's total is the capped count itself (a lower
/// bound, flagged as not exact): no estimate is asked of the optimizer.
pub(super) fn list(conn: &Connection, f: &ListFilter) -> Result<ListPage, DbError> {
    let statuses = status_list(&f.statuses);
    let statuses = varchar_opt(statuses.as_deref());
    let procedure = varchar_opt(f.procedure.as_deref());
    let owner = varchar_opt(f.owner.as_deref());
    let after = f.created_after.map(|t| t.naive_utc());
    let before = f.created_before.map(|t| t.naive_utc());
    let after_created = f.after.as_ref().map(|c| c.created_at.naive_utc());
    let after_id = varchar_opt(f.after.as_ref().map(|c| c.job_id.as_str()));
    let counted_up_to = f.total_cap.saturating_add(1);
    let counted: i64 = conn
        .query_row_as_named(
            COUNT_SQL,
            &[
                ("statuses", &statuses),
                ("procedure", &procedure),
                ("owner", &owner),
                ("created_after", &after),
                ("created_before", &before),
                ("cap", &counted_up_to),
            ],
        )
        .map_err(db)?;
    let rows = conn
        .query_named(
            page_statement(f),
            &[
                ("statuses", &statuses),
                ("procedure", &procedure),
                ("owner", &owner),
                ("created_after", &after),
                ("created_before", &before),
                ("after_created", &after_created),
                ("after_id", &after_id),
                ("row_offset", &f.offset),
                ("row_limit", &f.limit),
            ],
        )
        .map_err(db)?;
    let mut jobs = Vec::new();
    for row in rows {
        jobs.push(job_from_row(&row.map_err(db)?)?);
    }
    Ok(ListPage { total: ListTotal::from_capped(counted, f.total_cap, None), jobs })
}

pub(super) fn delete(conn: &Connection, id: &JobId, owner: Option<&str>) -> Result<DeleteOutcome, DbError> {
    let binds: [(&str, &dyn oracle::sql_type::ToSql); 2] =
        [("job_id", &varchar(id.as_str())), ("owner", &varchar_opt(owner))];
    let deleted = conn.execute_named(DELETE_SQL, &binds).map_err(db)?.row_count().map_err(db)?;
    conn.commit().map_err(db)?;
    if deleted > 0 {
        return Ok(DeleteOutcome::Deleted);
    }
    match conn.query_row_named(STATUS_SQL, &binds) {
        Ok(_) => Ok(DeleteOutcome::Running),
        Err(e) if e.kind() == oracle::ErrorKind::NoDataFound => Ok(DeleteOutcome::NotFound),
        Err(e) => Err(db(e)),
    }
}

pub(super) fn purge_batch(conn: &Connection, f: &PurgeFilter, batch: i64) -> Result<u64, DbError> {
    let terminal: Vec<JobStatus> = f.statuses.iter().copied().filter(|s| s.is_terminal()).collect();
    let Some(statuses) = status_list(&terminal) else { return Ok(0) };
    let mut stmt = conn.statement(PURGE_SQL).build().map_err(db)?;
    stmt.execute_named(&[
        ("statuses", &varchar(&statuses)),
        ("days", &f.older_than_days.map(i64::from)),
        ("owner", &varchar_opt(f.owner.as_deref())),
        ("batch", &batch.max(1)),
        ("deleted", &oracle::sql_type::OracleType::Number(0, 0)),
    ])
    .map_err(db)?;
    let deleted: i64 = stmt.bind_value("deleted").map_err(db)?;
    conn.commit().map_err(db)?;
    Ok(deleted.max(0) as u64)
}

fn job_from_row(r: &Row) -> Result<Job, DbError> {
    let text = |i: usize| r.get::<usize, Option<String>>(i).map_err(db);
    let time = |i: usize| r.get::<usize, Option<NaiveDateTime>>(i).map(utc).map_err(db);
    let number = |i: usize| r.get::<usize, Option<i64>>(i).map_err(db);
    let status = text(1)?.unwrap_or_default();
    let status = status.parse::<JobStatus>().map_err(|e| DbError::statement("bad_row", e))?;
    let error = match (text(11)?, text(12)?) {
        (None, None) => None,
        (code, message) => {
            Some(JobError { code: code.unwrap_or_else(|| "error".into()), message: message.unwrap_or_default() })
        }
    };
    let start_time = time(7)?;
    let created_at = time(6)?.or(start_time).unwrap_or_else(Utc::now);
    Ok(Job {
        id: JobId::from_db(text(0)?.unwrap_or_default()),
        status,
        procedure_name: text(2)?.unwrap_or_default(),
        params: parse_json(text(3)?).unwrap_or(Json::Null),
        owner: text(4)?.unwrap_or_else(|| "default".into()),
        progress: number(5)?.unwrap_or(0).clamp(0, 100) as i16,
        created_at,
        start_time: start_time.filter(|_| status != JobStatus::Pending),
        end_time: time(8)?,
        duration: text(9)?,
        result: parse_json(text(10)?),
        error,
        attempts: number(13)?.unwrap_or(0) as i32,
        priority: Priority::from_i16(number(14)?.unwrap_or(0).clamp(-1, 1) as i16),
        max_attempts: number(15)?.unwrap_or(1) as i32,
        attempt_history: parse_json(text(16)?).unwrap_or_else(|| Json::Array(vec![])),
        run_at: time(17)?.unwrap_or(created_at),
        instance_id: text(18)?,
        cancel_requested: number(19)?.unwrap_or(0) != 0,
        output: parse_json(text(20)?).and_then(|o| serde_json::from_value(o).ok()),
        report: ProgressReport::new(r.get::<usize, Option<f64>>(21).map_err(db)?, text(22)?, number(23)?, number(24)?),
        callback: super::deliveries::callback_from_columns(text(25)?, text(26)?),
        is_function: number(27)?.unwrap_or(0) != 0,
        retry: text(28)?.and_then(|p| serde_json::from_str(&p).ok()),
        timeout: number(29)?.map(timeout_from_ms),
        capture_output: number(30)?.unwrap_or(0) != 0,
        retry_of: text(31)?.map(JobId::from_db),
    })
}

/// A caller's pending jobs, counted up to a cap.
pub(super) const COUNT_PENDING_SQL: &str = statement(include_str!("../../../sql/oracle/queries/count_pending.sql"));

pub(super) fn count_pending(conn: &Connection, owner: &str, cap: i64) -> Result<i64, DbError> {
    conn.query_row_as_named(COUNT_PENDING_SQL, &[("owner", &varchar(owner)), ("cap", &cap)]).map_err(db)
}

/// Bulk cancel: one batch of pending jobs.
pub(super) const CANCEL_PENDING_MATCHING_SQL: &str =
    statement(include_str!("../../../sql/oracle/queries/cancel_pending_matching.sql"));

/// Bulk cancel: running jobs not yet flagged.
pub(super) const RUNNING_TO_CANCEL_SQL: &str =
    statement(include_str!("../../../sql/oracle/queries/running_to_cancel.sql"));

/// Retention by count: one batch beyond the newest N of a status.
pub(super) const PURGE_BEYOND_KEPT_SQL: &str =
    statement(include_str!("../../../sql/oracle/queries/purge_beyond_kept.sql"));

pub(super) fn cancel_pending_matching(conn: &Connection, f: &CancelFilter, batch: i64) -> Result<u64, DbError> {
    let binds: [(&str, &dyn oracle::sql_type::ToSql); 3] = [
        ("procedure", &varchar_opt(f.procedure.as_deref())),
        ("owner", &varchar_opt(f.owner.as_deref())),
        ("batch", &batch.max(1)),
    ];
    let cancelled = conn.execute_named(CANCEL_PENDING_MATCHING_SQL, &binds).map_err(db)?.row_count().map_err(db)?;
    conn.commit().map_err(db)?;
    Ok(cancelled)
}

pub(super) fn running_to_cancel(conn: &Connection, f: &CancelFilter, limit: i64) -> Result<Vec<JobId>, DbError> {
    let rows = conn
        .query_named(
            RUNNING_TO_CANCEL_SQL,
            &[
                ("procedure", &varchar_opt(f.procedure.as_deref())),
                ("owner", &varchar_opt(f.owner.as_deref())),
                ("row_limit", &limit.max(1)),
            ],
        )
        .map_err(db)?;
    let mut ids = Vec::new();
    for row in rows {
        ids.push(JobId::from_db(row.map_err(db)?.get(0).map_err(db)?));
    }
    Ok(ids)
}

pub(super) fn purge_beyond_kept(conn: &Connection, status: JobStatus, keep: i64, batch: i64) -> Result<u64, DbError> {
    let binds: [(&str, &dyn oracle::sql_type::ToSql); 3] =
        [("status", &varchar(status.as_str())), ("keep", &keep.max(0)), ("batch", &batch.max(1))];
    let deleted = conn.execute_named(PURGE_BEYOND_KEPT_SQL, &binds).map_err(db)?.row_count().map_err(db)?;
    conn.commit().map_err(db)?;
    Ok(deleted)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    #[test]
    fn claim_skips_locked_rows_and_fetches_at_most_the_limit() {
        assert!(CLAIM_SQL.contains(
            "WHERE STATUS = 'pending' AND RUN_AT <= SYS_EXTRACT_UTC(SYSTIMESTAMP)
         ORDER BY PRIORITY DESC, CREATED_AT
           FOR UPDATE SKIP LOCKED;"
        ));
        assert!(CLAIM_SQL.contains("FETCH c BULK COLLECT INTO l_ids LIMIT :claim_limit;"));
        // The update re-checks the status of every fetched row, and is the only way to running.
        assert!(CLAIM_SQL.contains("WHERE JOB_ID = l_ids(i) AND STATUS = 'pending'"));
        assert!(CLAIM_SQL.contains(
            "SET STATUS = 'running', PROGRESS = 10, START_TIME = SYS_EXTRACT_UTC(SYSTIMESTAMP), INSTANCE_ID = :instance_id"
        ));
        assert!(CLAIM_SQL.contains("ATTEMPTS = ATTEMPTS + 1, CANCEL_REQUESTED = 0"));
        assert!(!CLAIM_SQL.contains("ROWNUM") && !CLAIM_SQL.contains("FETCH FIRST"));
        assert!(
            CLAIM_PICKED_SQL.contains("WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(:ids)) AND STATUS = 'pending'")
        );
        assert!(CANDIDATES_SQL.contains("NOT IN (SELECT COLUMN_VALUE FROM TABLE(:saturated))"));
        assert!(
            CANDIDATES_SQL.contains("FOR UPDATE SKIP LOCKED;") && CANDIDATES_SQL.contains("LIMIT :candidate_limit;")
        );
    }

    #[test]
    fn state_changes_are_conditional() {
        assert!(PROGRESS_SQL.contains(
            "WHERE JOB_ID = l_ids(i) AND STATUS = 'running' AND INSTANCE_ID = :instance_id
           AND (NVL(PROGRESS, 0) < l_progress(i) OR l_sessions(i) IS NOT NULL"
        ));
        assert!(PROGRESS_SQL.contains("SET PROGRESS = GREATEST(NVL(PROGRESS, 0), l_progress(i))"));
        assert!(FINISH_SQL.ends_with(
            "WHERE JOB_ID = :job_id AND STATUS = 'running' AND INSTANCE_ID = :instance_id AND ATTEMPTS = :attempt"
        ));
        assert!(FINISH_SQL.contains(
            "PROGRESS = CASE (CASE WHEN :status = 'pending' AND CANCEL_REQUESTED = 1 THEN 'cancelled' ELSE :status END) \
             WHEN 'pending' THEN 0 WHEN 'cancelled' THEN PROGRESS ELSE 100 END"
        ));
        // A requested cancel wins over a retry.
        assert!(FINISH_SQL.contains("END_TIME = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN NULL"));
        // LOB binds last, then only the small WHERE binds.
        assert!(
            FINISH_SQL.contains("RESULT = :result, ERROR_MSG = :message, OUTPUT = :output\n WHERE JOB_ID = :job_id")
        );
        assert!(INSERT_SQL.ends_with(":params, :retry_policy)"));
        assert!(HEARTBEAT_SQL.contains("AND STATUS = 'running' AND INSTANCE_ID = :instance_id"));
        assert!(CANCEL_PENDING_SQL.ends_with("AND STATUS = 'pending'"));
        assert!(CANCEL_RUNNING_SQL.ends_with("AND STATUS = 'running'"));
        assert!(RESCUE_SQL.contains("WHERE JOB_ID = l_ids(i) AND STATUS = 'running'"));
        assert!(RESCUE_SQL.contains("FOR UPDATE SKIP LOCKED;"));
        // Orphaned calls are killed before their jobs are settled, and only by a checked id.
        let kill = RESCUE_SQL.find("ALTER SYSTEM KILL SESSION").unwrap();
        assert!(kill < RESCUE_SQL.find("FORALL").unwrap());
        assert!(RESCUE_SQL.contains("IF REGEXP_LIKE(l_sessions(i), '^[0-9]+,[0-9]+$') THEN"));
        assert!(RESCUE_SQL.contains("SESSION_ID = NULL") && FINISH_SQL.contains("SESSION_ID = NULL"));
    }

    #[test]
    fn output_columns_are_inserted_claimed_written_and_read() {
        assert!(INSERT_SQL.contains(
            ":idempotency_key, :capture_output, 0, 0, :routine, :callback_url, :callback_events, :retry_of, '[]', \
             :params, :retry_policy)"
        ));
        for claim in [CLAIM_SQL, CLAIM_PICKED_SQL] {
            assert!(claim.contains("RETRY_POLICY, TIMEOUT_MS, CAPTURE_OUTPUT,\n"), "{claim}");
            // The owner and the wait since the job was due, for /stats and /metrics.
            assert!(claim.contains("OWNER, (CAST(START_TIME AS DATE) - CAST(RUN_AT AS DATE)) * 86400 FROM ASYNC_JOBS"));
        }
        // Written by the outcome's own statement, as a LOB bind before the WHERE binds.
        assert!(FINISH_SQL.contains("ERROR_MSG = :message, OUTPUT = :output\n WHERE"));
        assert!(GET_SQL.contains("CANCEL_REQUESTED, OUTPUT, REPORT_PERCENT") && PAGE_SQL.contains("OUTPUT, REPORT"));
    }

    #[test]
    fn reports_are_recorded_field_by_field_and_read_back() {
        // Only while running here; each field only when reported (NULL keeps the one before).
        for set in [
            "REPORT_PERCENT = NVL(l_percents(i), REPORT_PERCENT)",
            "MESSAGE = CASE WHEN l_messages(i) IS NULL THEN MESSAGE ELSE TO_CLOB(l_messages(i)) END",
            "REPORT_PROCESSED = NVL(l_processed(i), REPORT_PROCESSED)",
            "REPORT_TOTAL = NVL(l_totals(i), REPORT_TOTAL)",
        ] {
            assert!(PROGRESS_SQL.contains(set), "{set}");
        }
        assert!(PROGRESS_SQL.contains(
            "OR l_percents(i) IS NOT NULL OR l_messages(i) IS NOT NULL
                OR l_processed(i) IS NOT NULL OR l_totals(i) IS NOT NULL);"
        ));
        for read in [GET_SQL, PAGE_SQL] {
            assert!(read.contains("OUTPUT, REPORT_PERCENT, MESSAGE, REPORT_PROCESSED, REPORT_TOTAL, CALLBACK_URL"));
        }
        // The columns come with the table, and are added to an older one; so does the package.
        let all = script_statements(TABLE_SCRIPT).join("\n");
        for column in ["REPORT_PERCENT", "REPORT_PROCESSED", "REPORT_TOTAL"] {
            assert!(all.contains(&format!("add_column('{column}'")), "{column}");
        }
        assert!(
            all.contains("CREATE OR REPLACE PACKAGE PROCGATE AS")
                && all.contains("CREATE OR REPLACE PACKAGE BODY PROCGATE AS")
        );
        assert!(all.contains(
            "DBMS_APPLICATION_INFO.SET_SESSION_LONGOPS(rindex => g_rindex, slno => g_slno, op_name => 'procgate'"
        ));
        assert!(all.contains("target_desc => SUBSTRB(p_message, 1, 32), units => g_units"));
        assert!(all.contains("g_sofar := LEAST(GREATEST(p_percent, 0), 100);"));
        assert!(GET_SQL.contains("REPORT_TOTAL, CALLBACK_URL, CALLBACK_EVENTS, IS_FUNCTION"));
        assert!(PAGE_SQL.contains("REPORT_TOTAL, CALLBACK_URL, CALLBACK_EVENTS, IS_FUNCTION"));
    }

    #[test]
    fn statement_drops_the_header_and_the_sqlplus_terminator_only() {
        // Plain SQL: the `;` ending its last line (and the final newline) go; OCI refuses a `;`.
        assert_eq!(statement("-- what\n-- Binds: x NUMBER\nSELECT :x FROM DUAL;\n"), "SELECT :x FROM DUAL");
        assert_eq!(statement("SELECT 1 FROM DUAL;"), "SELECT 1 FROM DUAL");
        // A PL/SQL block: the `/` line goes, its `END;` stays; in any case, DECLARE too.
        assert_eq!(statement("BEGIN NULL; END;\n/\n"), "BEGIN NULL; END;");
        assert_eq!(statement("-- h\nbegin\n  null;\nend;\n/"), "begin\n  null;\nend;");
        assert_eq!(
            statement("DECLARE\n  n NUMBER;\nBEGIN\n  n := 1;\nEND;\n/\n"),
            "DECLARE\n  n NUMBER;\nBEGIN\n  n := 1;\nEND;"
        );
        // `;` inside a literal, a comment or the statement's middle is the statement's own.
        assert_eq!(statement("SELECT ';' FROM DUAL WHERE 'a;' = 'a;';\n"), "SELECT ';' FROM DUAL WHERE 'a;' = 'a;'");
        assert_eq!(statement("SELECT 1 -- one;\nFROM DUAL;\n"), "SELECT 1 -- one;\nFROM DUAL");
        assert_eq!(statement("BEGIN x(';'); END;\n/\n"), "BEGIN x(';'); END;");
        // A blank line after the header, comments inside and a last line's spaces are the statement's.
        assert_eq!(statement("-- h\n\nSELECT 1 -- one\nFROM DUAL ;\n"), "\nSELECT 1 -- one\nFROM DUAL ");
        assert_eq!(statement("BEGIN\n  -- c\n  NULL;\nEND;\n/\n"), "BEGIN\n  -- c\n  NULL;\nEND;");
        // Words that only start like BEGIN/DECLARE are SQL.
        assert_eq!(statement("BEGINNING;\n"), "BEGINNING");
    }

    #[test]
    #[should_panic(expected = "must end with `;`")]
    fn statement_refuses_sql_without_its_semicolon() {
        statement("-- h\nSELECT 1 FROM DUAL\n");
    }

    #[test]
    #[should_panic(expected = "must end with `;`")]
    fn statement_refuses_sql_ended_by_a_slash_line() {
        statement("SELECT 1 FROM DUAL\n/\n");
    }

    #[test]
    #[should_panic(expected = "holding only `/`")]
    fn statement_refuses_a_block_without_its_slash_line() {
        // Stripping its `;` instead would send `END` without `;`.
        statement("BEGIN NULL; END;\n");
    }

    #[test]
    #[should_panic(expected = "holding only `/`")]
    fn statement_refuses_a_slash_that_is_not_alone_on_its_line() {
        statement("BEGIN NULL; END; /\n");
    }

    #[test]
    #[should_panic(expected = "`END;` before its `/` line")]
    fn statement_refuses_a_block_not_ended_by_end_semicolon() {
        statement("BEGIN NULL; END\n/\n");
    }

    #[test]
    #[should_panic(expected = "holds no statement")]
    fn statement_refuses_a_file_with_only_a_header() {
        statement("-- nothing\n;\n");
    }

    /// The statement files: (file name, text).
    fn statement_files() -> Vec<(String, String)> {
        let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        let dir = std::path::Path::new(&root).join("sql/oracle/queries");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .expect("sql/oracle/queries")
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
            .collect();
        files.sort();
        files
    }

    #[test]
    fn every_statement_file_is_used_by_the_code_and_documented() {
        let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
        let code: String = std::fs::read_dir(std::path::Path::new(&root).join("src/db/oracle"))
            .expect("src/db/oracle")
            .map(|e| std::fs::read_to_string(e.expect("directory entry").path()).unwrap_or_default())
            .collect();
        let files = statement_files();
        assert!(files.len() >= 28, "only {} statement files", files.len());
        for (name, text) in &files {
            let include = format!("statement(include_str!(\"../../../sql/oracle/queries/{name}\"))");
            assert!(code.contains(&include), "sql/oracle/queries/{name} is not used (through statement())");
            assert!(text.starts_with("-- "), "sql/oracle/queries/{name} has no header comment");
            assert!(text.ends_with('\n') && !text.ends_with("\n\n"), "sql/oracle/queries/{name}: one final newline");
            let sent = statement(text);
            assert!(!sent.starts_with("--") && !sent.trim().is_empty(), "{name}");
            assert_eq!(declared_binds(text), used_binds(sent), "sql/oracle/queries/{name}: its `-- Binds:` line");
        }
    }

    /// The bind names a file's `-- Binds: name TYPE, ...` header line (continued on `--   ` lines)
    /// declares, sorted; `none` for none.
    fn declared_binds(file: &str) -> Vec<String> {
        let mut listed = String::new();
        for line in file.lines().take_while(|l| l.starts_with("--")) {
            if let Some(rest) = line.strip_prefix("-- Binds:") {
                listed.push_str(rest);
            } else if !listed.is_empty() && line.starts_with("--   ") {
                listed.push_str(&line[2..]);
            }
        }
        let listed = listed.trim().trim_end_matches('.');
        assert!(!listed.is_empty(), "no `-- Binds:` line in:\n{file}");
        let mut names: Vec<String> = listed
            .split(", ")
            .filter(|b| *b != "none")
            .map(|b| b.split_whitespace().next().unwrap_or_default().to_string())
            .collect();
        names.sort();
        names
    }

    /// The distinct `:name` binds of a statement (literals and comments left out), sorted.
    pub(crate) fn used_binds(sql: &str) -> Vec<String> {
        let code = lex_check(sql).expect("lexically sound");
        let mut names: Vec<String> = code
            .split(':')
            .skip(1)
            .map(|b| b.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>())
            .filter(|w| !w.is_empty())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    #[test]
    fn duration_is_the_predecessors_text() {
        let d = "TO_CHAR(ROUND(EXTRACT(DAY FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 86400 \
                 + EXTRACT(HOUR FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 3600 \
                 + EXTRACT(MINUTE FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 60 \
                 + EXTRACT(SECOND FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)), 2), 'FM999999999990.00') || 's'";
        assert!(FINISH_SQL.contains(&format!(
            "DURATION = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN NULL ELSE {d} END"
        )));
        assert!(RESCUE_SQL.contains(&format!("THEN NULL ELSE {d} END")));
        // Both copies of the attempt-history entry (appended, or the first) in each statement.
        let entry = |code: &str, message: &str| {
            format!(
                "JSON_OBJECT('attempt' VALUE ATTEMPTS, 'code' VALUE {code}, 'message' VALUE {message}, \
                 'started_at' VALUE TO_CHAR(START_TIME, 'YYYY-MM-DD\"T\"HH24:MI:SS.FF6\"Z\"'), \
                 'ended_at' VALUE TO_CHAR(SYS_EXTRACT_UTC(SYSTIMESTAMP), 'YYYY-MM-DD\"T\"HH24:MI:SS.FF6\"Z\"'), \
                 'instance_id' VALUE INSTANCE_ID)"
            )
        };
        for (sql, entry) in
            [(FINISH_SQL, entry(":code", ":history_message")), (RESCUE_SQL, entry("'orphaned'", "'no heartbeat'"))]
        {
            assert!(
                sql.contains(&format!("DBMS_LOB.GETLENGTH(ATTEMPT_HISTORY) - 1) || ',' || {entry} || ']'")),
                "{sql}"
            );
            assert!(sql.contains(&format!("ELSE TO_CLOB('[' || {entry} || ']') END")), "{sql}");
        }
        assert_eq!(history_message("short"), "short");
        let long = "é".repeat(600);
        assert_eq!(history_message(&long).chars().count(), 503);
    }

    #[test]
    fn deletes_never_touch_running_jobs() {
        assert!(DELETE_SQL.ends_with("AND STATUS <> 'running'"));
        assert!(PURGE_SQL.contains("FETCH c BULK COLLECT INTO l_rowids LIMIT :batch;"));
        assert!(PURGE_SQL.contains("FOR UPDATE SKIP LOCKED;"));
        assert!(PURGE_SQL
            .contains("WHERE ROWID = l_rowids(i) AND INSTR(',' || :statuses || ',', ',' || STATUS || ',') > 0;"));
        assert!(PURGE_SQL.contains("END_TIME < SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(:days, 'DAY')"));
        assert_eq!(status_list(&[JobStatus::Completed, JobStatus::Failed]).as_deref(), Some("completed,failed"));
        assert_eq!(status_list(&[]), None);
    }

    #[test]
    fn listing_and_reads() {
        assert!(PAGE_SQL
            .ends_with("ORDER BY CREATED_AT DESC, JOB_ID OFFSET :row_offset ROWS FETCH NEXT :row_limit ROWS ONLY"));
        assert!(COUNT_SQL.contains("UPPER(PROCEDURE_NAME) = UPPER(:procedure)"));
        assert!(GET_SQL.starts_with("SELECT JOB_ID, STATUS, PROCEDURE_NAME, PARAMS, OWNER, PROGRESS"));
        assert!(INSERT_SQL.contains("VALUES (:job_id, 'pending', :procedure_name, SYS_EXTRACT_UTC(SYSTIMESTAMP),"));
        assert!(EXISTING_KEY_SQL.contains("(CASE WHEN IDEMPOTENCY_KEY IS NOT NULL THEN OWNER END) = :owner"));
    }

    #[test]
    fn script_splits_into_idempotent_statements() {
        let statements = script_statements(TABLE_SCRIPT);
        assert!(statements.len() >= 5, "{statements:?}");
        for s in &statements {
            assert!(!s.starts_with("--") && !s.ends_with('/'), "{s}");
            assert!(s.starts_with("DECLARE") || s.starts_with("BEGIN"), "{s}");
            assert!(s.ends_with("END;"), "{s}");
            let upper = s.to_ascii_uppercase();
            assert!(!upper.contains("DROP TABLE") && !upper.contains("TRUNCATE"), "{s}");
        }
        let all = statements.join("\n");
        for column in [
            "OWNER",
            "IS_FUNCTION",
            "PRIORITY",
            "ATTEMPTS",
            "ERROR_CODE",
            "MESSAGE",
            "INSTANCE_ID",
            "HEARTBEAT_AT",
            "CANCEL_REQUESTED",
            "RUN_AT",
            "MAX_ATTEMPTS",
            "RETRY_POLICY",
            "TIMEOUT_MS",
            "ATTEMPT_HISTORY",
            "IDEMPOTENCY_KEY",
            "CAPTURE_OUTPUT",
            "OUTPUT",
            "ROUTINE",
            "RETRY_OF",
        ] {
            assert!(all.contains(&format!("add_column('{column}'")), "{column} is not added to an old table");
        }
        assert!(all.contains("CLEANUP_OLD_ASYNC_JOBS(p_days_old IN NUMBER DEFAULT 7, p_deleted_count OUT NUMBER)"));
        assert!(all.contains("ASYNC_JOBS_LOCK"));
        let sqlplus = "SET SERVEROUTPUT ON\n-- c\nBEGIN\n  NULL;\nEND;\n/\nPROMPT done\n\nBEGIN NULL; END;\n/\n";
        assert_eq!(script_statements(sqlplus), vec!["BEGIN\n  NULL;\nEND;", "BEGIN NULL; END;"]);
    }

    /// A lexical check of SQL/PL-SQL text (no server can parse it here): every string literal,
    /// q-quoted literal and comment is closed, parentheses balance outside them, and nothing but
    /// binds, words and punctuation remains. Returns the text with literals and comments blanked.
    pub(crate) fn lex_check(sql: &str) -> Result<String, String> {
        let chars: Vec<char> = sql.chars().collect();
        let (mut i, mut depth, mut code) = (0, 0i32, String::new());
        while i < chars.len() {
            let c = chars[i];
            let next = chars.get(i + 1).copied();
            if c == '-' && next == Some('-') {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            if c == '/' && next == Some('*') {
                let end = (i + 2..chars.len().saturating_sub(1)).find(|&j| chars[j] == '*' && chars[j + 1] == '/');
                i = end.ok_or("unterminated /* comment")? + 2;
                continue;
            }
            if (c == 'q' || c == 'Q') && next == Some('\'') && i + 2 < chars.len() {
                let open = chars[i + 2];
                let close = match open {
                    '[' => ']',
                    '{' => '}',
                    '(' => ')',
                    '<' => '>',
                    other => other,
                };
                let end = (i + 3..chars.len().saturating_sub(1)).find(|&j| chars[j] == close && chars[j + 1] == '\'');
                i = end.ok_or(format!("unterminated q'{open} literal"))? + 2;
                code.push_str(" 'q' ");
                continue;
            }
            if c == '\'' {
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => return Err("unterminated string literal".into()),
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => j += 2,
                        Some('\'') => break,
                        _ => j += 1,
                    }
                }
                i = j + 1;
                code.push_str(" 's' ");
                continue;
            }
            if c == '"' {
                let end = (i + 1..chars.len()).find(|&j| chars[j] == '"').ok_or("unterminated quoted identifier")?;
                i = end + 1;
                code.push_str(" ident ");
                continue;
            }
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return Err("unbalanced )".into());
            }
            code.push(c);
            i += 1;
        }
        if depth != 0 {
            return Err("unbalanced (".into());
        }
        Ok(code)
    }

    /// BEGIN/END (and CASE/END, IF/END IF, LOOP/END LOOP) pairs in PL/SQL text.
    fn blocks_balance(code: &str) -> bool {
        let upper = code.to_ascii_uppercase();
        let words: Vec<&str> =
            upper.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).collect();
        let mut depth = 0i32;
        for (k, w) in words.iter().enumerate() {
            match *w {
                "BEGIN" | "CASE" => depth += 1,
                // CREATE [OR REPLACE] PACKAGE [BODY] name AS ... END name; has no BEGIN.
                "PACKAGE" if k > 0 && matches!(words[k - 1], "REPLACE" | "CREATE") => depth += 1,
                "IF" | "LOOP" if k == 0 || words[k - 1] != "END" => depth += 1,
                "END" => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                return false;
            }
        }
        depth == 0
    }

    #[test]
    fn every_statement_is_lexically_sound() {
        let statements = [
            ("PING", PING_SQL),
            ("INSERT", INSERT_SQL),
            ("EXISTING_KEY", EXISTING_KEY_SQL),
            ("CLAIM", CLAIM_SQL),
            ("LIMITED_CLAIM_LOCK", LIMITED_CLAIM_LOCK_SQL),
            ("RUNNING_COUNTS", RUNNING_COUNTS_SQL),
            ("CANDIDATES", CANDIDATES_SQL),
            ("CLAIM_PICKED", CLAIM_PICKED_SQL),
            ("PROGRESS", PROGRESS_SQL),
            ("FINISH", FINISH_SQL),
            ("HEARTBEAT", HEARTBEAT_SQL),
            ("CANCEL_REQUESTED", CANCEL_REQUESTED_SQL),
            ("CANCEL_PENDING", CANCEL_PENDING_SQL),
            ("CANCEL_RUNNING", CANCEL_RUNNING_SQL),
            ("STATUS", STATUS_SQL),
            ("RESCUE", RESCUE_SQL),
            ("GET", GET_SQL),
            ("COUNT", COUNT_SQL),
            ("PAGE", PAGE_SQL),
            ("PAGE_OWNER", PAGE_OWNER_SQL),
            ("PAGE_STATUS", PAGE_STATUS_SQL),
            ("PAGE_PROCEDURE", PAGE_PROCEDURE_SQL),
            ("DELETE", DELETE_SQL),
            ("PURGE", PURGE_SQL),
            ("CANCEL_PENDING_MATCHING", CANCEL_PENDING_MATCHING_SQL),
            ("RUNNING_TO_CANCEL", RUNNING_TO_CANCEL_SQL),
            ("PURGE_BEYOND_KEPT", PURGE_BEYOND_KEPT_SQL),
            ("DESCRIBE", super::super::catalog::DESCRIBE_SQL),
            ("RESOLVE", super::super::catalog::RESOLVE_SQL),
            ("READ_OUTPUT", super::super::output::READ_LINES_SQL),
            ("DISABLE_OUTPUT", super::super::output::DISABLE_OUTPUT_SQL),
            ("LONGOPS", super::super::longops::LONGOPS_SQL),
        ];
        for (name, sql) in statements {
            let code = lex_check(sql).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(blocks_balance(&code), "{name}: BEGIN/CASE/IF/LOOP and END do not pair up");
            let plsql = code.trim_start().starts_with("DECLARE") || code.trim_start().starts_with("BEGIN");
            // SQL statements end without a semicolon (OCI refuses one); PL/SQL blocks end with END;
            assert_eq!(plsql, code.trim_end().ends_with("END;"), "{name}");
            assert!(plsql || !code.contains(';'), "{name}: a semicolon in a SQL statement");
            // Only named binds, each a plain word.
            for bind in code.split(':').skip(1) {
                let word: String = bind.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                assert!(!word.is_empty() || bind.starts_with('='), "{name}: a bare ':'");
            }
        }
        let scripts = [TABLE_SCRIPT, include_str!("../../../sql/oracle/create_test_procedures.sql")];
        for script in scripts {
            for statement in script_statements(script) {
                let code = lex_check(&statement).unwrap_or_else(|e| panic!("{e} in:\n{statement}"));
                assert!(blocks_balance(&code), "BEGIN/END do not pair up in:\n{statement}");
                assert!(!code.contains('&'), "SQL*Plus would prompt for a substitution variable in:\n{statement}");
            }
        }
        assert!(lex_check("SELECT 'x FROM DUAL").is_err());
        assert!(lex_check("q'[a]' || q'~b~'").is_ok());
        assert!(!blocks_balance("BEGIN NULL; END; END;") && !blocks_balance("BEGIN IF x THEN NULL; END;"));
        assert!(lex_check("SELECT (1 FROM DUAL").is_err());
    }

    #[test]
    fn procedure_limits_count_resolved_routines() {
        for sql in [RUNNING_COUNTS_SQL, CANDIDATES_SQL] {
            assert!(sql.contains("NVL(ROUTINE, UPPER(PROCEDURE_NAME))"), "{sql}");
            assert!(!sql.contains(" UPPER(PROCEDURE_NAME) NOT IN"), "{sql}");
        }
        assert!(CANDIDATES_SQL
            .contains("NVL(ROUTINE, UPPER(PROCEDURE_NAME)) NOT IN (SELECT COLUMN_VALUE FROM TABLE(:saturated))"));
        assert!(
            INSERT_SQL.contains("CANCEL_REQUESTED, ROUTINE, CALLBACK_URL")
                && INSERT_SQL.contains("0, 0, :routine, :callback_url")
        );
    }

    #[test]
    fn pending_count_stops_at_the_cap() {
        let code = lex_check(COUNT_PENDING_SQL).unwrap();
        assert!(blocks_balance(&code) && !code.contains(';'));
        assert!(COUNT_PENDING_SQL.contains("OWNER = :owner AND STATUS = 'pending' AND ROWNUM <= :cap"));
        assert!(COUNT_PENDING_SQL.starts_with("SELECT COUNT(*) FROM (SELECT 1 FROM ASYNC_JOBS"));
    }

    #[test]
    fn bulk_cancel_and_retention_by_count() {
        // Pending jobs: one conditional UPDATE per batch, never a running one.
        assert!(CANCEL_PENDING_MATCHING_SQL.starts_with("UPDATE ASYNC_JOBS SET STATUS = 'cancelled'"));
        assert!(CANCEL_PENDING_MATCHING_SQL.contains(" WHERE STATUS = 'pending'"));
        assert!(CANCEL_PENDING_MATCHING_SQL.ends_with("AND ROWNUM <= :batch"));
        for sql in [CANCEL_PENDING_MATCHING_SQL, RUNNING_TO_CANCEL_SQL] {
            assert!(sql.contains("(:procedure IS NULL OR UPPER(PROCEDURE_NAME) = UPPER(:procedure))"), "{sql}");
            assert!(sql.contains("(:owner IS NULL OR OWNER = :owner)"), "{sql}");
        }
        assert!(RUNNING_TO_CANCEL_SQL.contains("WHERE STATUS = 'running' AND CANCEL_REQUESTED = 0"));
        // Beyond the newest :keep of one ended status, newest by end time; running jobs never.
        assert!(PURGE_BEYOND_KEPT_SQL.contains("ROW_NUMBER() OVER (ORDER BY END_TIME DESC, JOB_ID DESC) AS rn"));
        assert!(PURGE_BEYOND_KEPT_SQL.contains("WHERE rn > :keep AND rn <= :keep + :batch"));
        assert!(PURGE_BEYOND_KEPT_SQL.contains("STATUS = :status AND STATUS IN ('completed', 'failed', 'cancelled')"));
        assert!(PURGE_BEYOND_KEPT_SQL.ends_with("AND STATUS = :status"));
    }

    #[test]
    fn retries_and_list_filters() {
        assert!(
            INSERT_SQL.contains("CALLBACK_EVENTS, RETRY_OF, ATTEMPT_HISTORY") && INSERT_SQL.contains(":retry_of, '[]'")
        );
        let options =
            "CALLBACK_EVENTS, IS_FUNCTION, RETRY_POLICY, TIMEOUT_MS, CAPTURE_OUTPUT, RETRY_OF FROM ASYNC_JOBS";
        assert!(GET_SQL.contains(options) && PAGE_SQL.contains(options));
        for sql in [COUNT_SQL, PAGE_SQL, PAGE_OWNER_SQL, PAGE_STATUS_SQL, PAGE_PROCEDURE_SQL] {
            assert!(sql.contains("(:created_after IS NULL OR CREATED_AT >= :created_after)"), "{sql}");
            assert!(sql.contains("(:created_before IS NULL OR CREATED_AT < :created_before)"), "{sql}");
        }
    }

    /// Every page statement: the same binds, rows and order; the keyset bound as a range the index
    /// scan can start from; each led by its own equality (the others optional).
    #[test]
    fn page_statements_by_filter() {
        let pages = [PAGE_SQL, PAGE_OWNER_SQL, PAGE_STATUS_SQL, PAGE_PROCEDURE_SQL];
        for sql in pages {
            assert!(sql.starts_with("SELECT JOB_ID, STATUS, PROCEDURE_NAME"), "{sql}");
            assert!(
                sql.ends_with(
                    "ORDER BY CREATED_AT DESC, JOB_ID OFFSET :row_offset ROWS FETCH NEXT :row_limit ROWS ONLY"
                ),
                "{sql}"
            );
            assert!(sql.contains("AND (:after_created IS NULL OR CREATED_AT <= :after_created)"), "{sql}");
            assert!(
                sql.contains("AND (:after_created IS NULL OR CREATED_AT < :after_created OR JOB_ID > :after_id)"),
                "{sql}"
            );
            for bind in [":statuses", ":procedure", ":owner", ":created_after", ":created_before", ":row_offset"] {
                assert!(sql.contains(bind), "{bind}: {sql}");
            }
        }
        assert!(PAGE_OWNER_SQL.contains("AND OWNER = :owner\n") && !PAGE_OWNER_SQL.contains(":owner IS NULL"));
        assert!(PAGE_STATUS_SQL.contains("WHERE STATUS = :statuses\n"));
        assert!(PAGE_PROCEDURE_SQL.contains("AND UPPER(PROCEDURE_NAME) = UPPER(:procedure)\n"));
        assert!(!PAGE_PROCEDURE_SQL.contains(":procedure IS NULL"));
        assert!(COUNT_SQL.ends_with("AND ROWNUM <= :cap)"));

        let filter = |owner: Option<&str>, statuses: Vec<JobStatus>, procedure: Option<&str>| ListFilter {
            owner: owner.map(str::to_string),
            statuses,
            procedure: procedure.map(str::to_string),
            ..Default::default()
        };
        let (one, two) = (vec![JobStatus::Failed], vec![JobStatus::Failed, JobStatus::Cancelled]);
        assert_eq!(page_statement(&filter(Some("ana"), one.clone(), Some("P"))), PAGE_OWNER_SQL);
        assert_eq!(page_statement(&filter(None, one, Some("P"))), PAGE_STATUS_SQL);
        assert_eq!(page_statement(&filter(None, two.clone(), Some("P"))), PAGE_PROCEDURE_SQL);
        assert_eq!(page_statement(&filter(None, two, None)), PAGE_SQL);
        assert_eq!(page_statement(&filter(None, vec![], None)), PAGE_SQL);
    }
}
