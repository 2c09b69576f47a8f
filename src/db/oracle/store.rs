//! `ASYNC_JOBS` on Oracle: every statement the job store runs, as named constants, and the
//! functions that run them on a pooled session (always inside `spawn_blocking`).
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

use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use oracle::sql_type::{Collection, RefCursor};
use oracle::{Connection, Row};
use serde_json::Value as Json;

use crate::db::DbError;
use crate::model::{
    CancelOutcome, ClaimedJob, DeleteOutcome, Inserted, Job, JobError, JobId, JobStatus, ListFilter, NewJob, Outcome,
    Priority, ProcedureLimit, ProgressUpdate, PurgeFilter, Rescued, RoomPerProcedure,
};

use super::convert::{clob_column, varchar, varchar_opt};
use super::error::map_error;

/// The job table script (SQL*Plus syntax: PL/SQL blocks ended by `/` lines). `migrate` runs
/// its statements one by one.
pub(super) const TABLE_SCRIPT: &str = include_str!("../../../sql/oracle/create_async_jobs_table.sql");

/// The current UTC time, as stored.
macro_rules! now {
    () => {
        "SYS_EXTRACT_UTC(SYSTIMESTAMP)"
    };
}

/// `'5.02s'`: seconds since START_TIME, two decimals (the predecessor's DURATION text).
macro_rules! duration {
    () => {
        concat!(
            "TO_CHAR(ROUND(EXTRACT(DAY FROM (",
            now!(),
            " - START_TIME)) * 86400 + EXTRACT(HOUR FROM (",
            now!(),
            " - START_TIME)) * 3600 + EXTRACT(MINUTE FROM (",
            now!(),
            " - START_TIME)) * 60 + EXTRACT(SECOND FROM (",
            now!(),
            " - START_TIME)), 2), 'FM999999999990.00') || 's'"
        )
    };
}

/// ATTEMPT_HISTORY with one entry appended for the attempt ending now.
macro_rules! history_append {
    ($code:expr, $message:expr) => {
        concat!(
            "CASE WHEN DBMS_LOB.GETLENGTH(ATTEMPT_HISTORY) > 2 ",
            "THEN SUBSTR(ATTEMPT_HISTORY, 1, DBMS_LOB.GETLENGTH(ATTEMPT_HISTORY) - 1) || ',' || ",
            history_entry!($code, $message),
            " || ']' ELSE TO_CLOB('[' || ",
            history_entry!($code, $message),
            " || ']') END"
        )
    };
}

macro_rules! history_entry {
    ($code:expr, $message:expr) => {
        concat!(
            "JSON_OBJECT('attempt' VALUE ATTEMPTS, 'code' VALUE ",
            $code,
            ", 'message' VALUE ",
            $message,
            ", 'started_at' VALUE TO_CHAR(START_TIME, 'YYYY-MM-DD\"T\"HH24:MI:SS.FF6\"Z\"'), ",
            "'ended_at' VALUE TO_CHAR(",
            now!(),
            ", 'YYYY-MM-DD\"T\"HH24:MI:SS.FF6\"Z\"'), 'instance_id' VALUE INSTANCE_ID)"
        )
    };
}

macro_rules! job_columns {
    () => {
        "JOB_ID, STATUS, PROCEDURE_NAME, PARAMS, OWNER, PROGRESS, CREATED_AT, START_TIME, END_TIME, DURATION, \
         RESULT, ERROR_CODE, ERROR_MSG, ATTEMPTS, PRIORITY, MAX_ATTEMPTS, ATTEMPT_HISTORY, RUN_AT, INSTANCE_ID, \
         CANCEL_REQUESTED, OUTPUT"
    };
}

macro_rules! claimed_columns {
    () => {
        "JOB_ID, PROCEDURE_NAME, PARAMS, IS_FUNCTION, ATTEMPTS, RETRY_POLICY, TIMEOUT_MS, CAPTURE_OUTPUT"
    };
}

/// `:statuses` is a comma list of status words (procgate's own, never a client's text).
macro_rules! list_where {
    () => {
        " WHERE (:statuses IS NULL OR INSTR(',' || :statuses || ',', ',' || STATUS || ',') > 0)
   AND (:procedure IS NULL OR UPPER(PROCEDURE_NAME) = UPPER(:procedure))
   AND (:owner IS NULL OR OWNER = :owner)"
    };
}

/// The claim update, shared by both claim paths.
macro_rules! claim_set {
    () => {
        concat!(
            "UPDATE ASYNC_JOBS
       SET STATUS = 'running', PROGRESS = 10, START_TIME = ",
            now!(),
            ", INSTANCE_ID = :instance_id,
           HEARTBEAT_AT = ",
            now!(),
            ", ATTEMPTS = ATTEMPTS + 1, CANCEL_REQUESTED = 0"
        )
    };
}

pub(super) const PING_SQL: &str = "SELECT 1 FROM DUAL";

/// One job, `pending`. CLOB binds come last (Oracle wants LOB and LONG binds after all others).
/// A taken idempotency key fails with ORA-00001 (unique index
/// ASYNC_JOBS_IDEMPOTENCY_UX); the job holding it is then looked up.
pub(super) const INSERT_SQL: &str = concat!(
    "INSERT INTO ASYNC_JOBS (JOB_ID, STATUS, PROCEDURE_NAME, START_TIME, CREATED_AT, PROGRESS, OWNER, IS_FUNCTION,
                        PRIORITY, RUN_AT, MAX_ATTEMPTS, TIMEOUT_MS, IDEMPOTENCY_KEY, CAPTURE_OUTPUT, ATTEMPTS,
                        CANCEL_REQUESTED, ROUTINE, ATTEMPT_HISTORY, PARAMS, RETRY_POLICY)
VALUES (:job_id, 'pending', :procedure_name, ",
    now!(),
    ", ",
    now!(),
    ", 0, :owner, :is_function, :priority, NVL(:run_at, ",
    now!(),
    "), :max_attempts, :timeout_ms, :idempotency_key, :capture_output, 0, 0, :routine, '[]', :params, \
     :retry_policy)"
);

/// Matches the unique index's expression, so the lookup uses it.
pub(super) const EXISTING_KEY_SQL: &str = "SELECT JOB_ID FROM ASYNC_JOBS
 WHERE (CASE WHEN IDEMPOTENCY_KEY IS NOT NULL THEN OWNER END) = :owner AND IDEMPOTENCY_KEY = :idempotency_key";

/// Claims the first `:claim_limit` due pending jobs (highest priority, then oldest), skipping
/// rows other claimers hold, and returns them through the `:claimed` cursor.
pub(super) const CLAIM_SQL: &str = concat!(
    "DECLARE
    CURSOR c IS
        SELECT JOB_ID FROM ASYNC_JOBS
         WHERE STATUS = 'pending' AND RUN_AT <= ",
    now!(),
    "
         ORDER BY PRIORITY DESC, CREATED_AT
           FOR UPDATE SKIP LOCKED;
    l_ids SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
    l_claimed SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
BEGIN
    OPEN c;
    FETCH c BULK COLLECT INTO l_ids LIMIT :claim_limit;
    CLOSE c;
    FORALL i IN 1 .. l_ids.COUNT
    ",
    claim_set!(),
    "
     WHERE JOB_ID = l_ids(i) AND STATUS = 'pending'
    RETURNING JOB_ID BULK COLLECT INTO l_claimed;
    OPEN :claimed FOR
        SELECT ",
    claimed_columns!(),
    " FROM ASYNC_JOBS
         WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(l_claimed))
         ORDER BY PRIORITY DESC, CREATED_AT;
END;"
);

/// Claimers that enforce per-procedure limits take turns (this empty table's lock is held until
/// commit), so two never count the same free slot.
pub(super) const LIMITED_CLAIM_LOCK_SQL: &str = "LOCK TABLE ASYNC_JOBS_LOCK IN EXCLUSIVE MODE";

/// What per-procedure limits count a job by: its resolved routine, or for a row written before
/// `ROUTINE` existed, its name as written (see `RoomPerProcedure`).
macro_rules! limit_key {
    () => {
        "NVL(ROUTINE, UPPER(PROCEDURE_NAME))"
    };
}

pub(super) const RUNNING_COUNTS_SQL: &str =
    concat!("SELECT ", limit_key!(), ", COUNT(*) FROM ASYNC_JOBS WHERE STATUS = 'running' GROUP BY ", limit_key!());

/// Due pending jobs in claim order (locked as fetched), except those of procedures at their
/// limit (`:saturated`, a SYS.ODCIVARCHAR2LIST); the caller picks within each one's room.
pub(super) const CANDIDATES_SQL: &str = concat!(
    "DECLARE
    CURSOR c IS
        SELECT JOB_ID FROM ASYNC_JOBS
         WHERE STATUS = 'pending' AND RUN_AT <= ",
    now!(),
    "
           AND ",
    limit_key!(),
    " NOT IN (SELECT COLUMN_VALUE FROM TABLE(:saturated))
         ORDER BY PRIORITY DESC, CREATED_AT
           FOR UPDATE SKIP LOCKED;
    l_ids SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
BEGIN
    OPEN c;
    FETCH c BULK COLLECT INTO l_ids LIMIT :candidate_limit;
    CLOSE c;
    OPEN :candidates FOR
        SELECT JOB_ID, ",
    limit_key!(),
    " FROM ASYNC_JOBS
         WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(l_ids))
         ORDER BY PRIORITY DESC, CREATED_AT;
END;"
);

/// Claims the picked candidates (already locked by this transaction).
pub(super) const CLAIM_PICKED_SQL: &str = concat!(
    "DECLARE
    l_claimed SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
BEGIN
    ",
    claim_set!(),
    "
     WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(:ids)) AND STATUS = 'pending'
    RETURNING JOB_ID BULK COLLECT INTO l_claimed;
    OPEN :claimed FOR
        SELECT ",
    claimed_columns!(),
    " FROM ASYNC_JOBS
         WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(l_claimed))
         ORDER BY PRIORITY DESC, CREATED_AT;
END;"
);

/// Raises progress; only this instance's running jobs, never lowering it.
/// Raises progress and records the call's session (`SID,SERIAL#`, when known: `:sessions` holds
/// NULL otherwise) of jobs still running on this instance.
pub(super) const PROGRESS_SQL: &str = "DECLARE
    l_ids SYS.ODCIVARCHAR2LIST := :ids;
    l_progress SYS.ODCINUMBERLIST := :progress;
    l_sessions SYS.ODCIVARCHAR2LIST := :sessions;
BEGIN
    FORALL i IN 1 .. l_ids.COUNT
        UPDATE ASYNC_JOBS SET PROGRESS = GREATEST(NVL(PROGRESS, 0), l_progress(i)),
                              SESSION_ID = NVL(l_sessions(i), SESSION_ID)
         WHERE JOB_ID = l_ids(i) AND STATUS = 'running' AND INSTANCE_ID = :instance_id
           AND (NVL(PROGRESS, 0) < l_progress(i) OR l_sessions(i) IS NOT NULL);
END;";

/// Whether the call wrote anything in its transaction (Oracle starts a transaction at the first
/// change): a job's call that wrote nothing has no effect to commit with its completion.
pub(super) const CALL_WROTE_SQL: &str =
    "SELECT CASE WHEN DBMS_TRANSACTION.LOCAL_TRANSACTION_ID IS NULL THEN 0 ELSE 1 END FROM DUAL";

/// The session a call runs on, without any grant (V$SESSION needs one).
pub(super) const SESSION_SQL: &str =
    "SELECT DBMS_DEBUG_JDWP.CURRENT_SESSION_ID || ',' || DBMS_DEBUG_JDWP.CURRENT_SESSION_SERIAL FROM DUAL";

/// Ends one attempt: terminal, or back to pending (retry) when `:status` is `pending`.
/// Conditional on the job still running here, in the same attempt: a late or stale write
/// changes nothing. `:result`, `:message` and `:output` (the captured lines, JSON) are assigned
/// whole, as the last binds before the small WHERE binds (LOB values may be temporary LOBs); the
/// history entry gets a shortened `:history_message`.
/// A retry (`:status` = 'pending') of a job whose cancellation was requested meanwhile ends it
/// `cancelled` instead: a requested cancel always wins over a retry.
pub(super) const FINISH_SQL: &str = concat!(
    "UPDATE ASYNC_JOBS
   SET STATUS = (CASE WHEN :status = 'pending' AND CANCEL_REQUESTED = 1 THEN 'cancelled' ELSE :status END),
       PROGRESS = CASE (CASE WHEN :status = 'pending' AND CANCEL_REQUESTED = 1 THEN 'cancelled' ELSE :status END) WHEN 'pending' THEN 0 WHEN 'cancelled' THEN PROGRESS ELSE 100 END,
       END_TIME = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN NULL ELSE ",
    now!(),
    " END,
       DURATION = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN NULL ELSE ",
    duration!(),
    " END,
       ERROR_CODE = CASE WHEN :status = 'pending' AND CANCEL_REQUESTED = 1 THEN 'cancelled' ELSE :code END,
       RUN_AT = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN ",
    now!(),
    " + NUMTODSINTERVAL(:retry_in, 'SECOND') ELSE RUN_AT END,
       ATTEMPT_HISTORY = CASE WHEN :code IS NULL THEN ATTEMPT_HISTORY ELSE ",
    history_append!(":code", ":history_message"),
    " END,
       INSTANCE_ID = CASE WHEN (:status = 'pending' AND CANCEL_REQUESTED = 0) THEN NULL ELSE INSTANCE_ID END,
       HEARTBEAT_AT = NULL, CANCEL_REQUESTED = 0, SESSION_ID = NULL,
       RESULT = :result, ERROR_MSG = :message, OUTPUT = :output
 WHERE JOB_ID = :job_id AND STATUS = 'running' AND INSTANCE_ID = :instance_id AND ATTEMPTS = :attempt"
);

pub(super) const HEARTBEAT_SQL: &str = concat!(
    "UPDATE ASYNC_JOBS SET HEARTBEAT_AT = ",
    now!(),
    "
 WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(:ids)) AND STATUS = 'running' AND INSTANCE_ID = :instance_id"
);

/// Read in the heartbeat's transaction, after its update has locked the rows: the jobs this
/// instance must stop — cancellation requested, or no longer running here (rescued, re-claimed).
pub(super) const CANCEL_REQUESTED_SQL: &str = "SELECT COLUMN_VALUE FROM TABLE(:ids)
 WHERE COLUMN_VALUE NOT IN (SELECT JOB_ID FROM ASYNC_JOBS
                             WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(:ids)) AND STATUS = 'running'
                               AND INSTANCE_ID = :instance_id AND CANCEL_REQUESTED = 0)";

pub(super) const CANCEL_PENDING_SQL: &str = concat!(
    "UPDATE ASYNC_JOBS SET STATUS = 'cancelled', END_TIME = ",
    now!(),
    ", ERROR_CODE = 'cancelled',
       ERROR_MSG = 'cancelled by request before it ran'
 WHERE JOB_ID = :job_id AND (:owner IS NULL OR OWNER = :owner) AND STATUS = 'pending'"
);

pub(super) const CANCEL_RUNNING_SQL: &str = "UPDATE ASYNC_JOBS SET CANCEL_REQUESTED = 1
 WHERE JOB_ID = :job_id AND (:owner IS NULL OR OWNER = :owner) AND STATUS = 'running'";

pub(super) const STATUS_SQL: &str =
    "SELECT STATUS FROM ASYNC_JOBS WHERE JOB_ID = :job_id AND (:owner IS NULL OR OWNER = :owner)";

/// Running jobs whose instance stopped renewing their lease: first the sessions their calls
/// run on are killed (`ALTER SYSTEM KILL SESSION ... IMMEDIATE`, where the gateway's user has
/// ALTER SYSTEM; `:kill_denied` = 1 tells that it has not: the dead session's rollback and the
/// completion's fence still keep its effects out); then they are retried if attempts remain
/// (and `:retry_orphans` = 1), failed with code `orphaned` otherwise. Returned through
/// `:rescued`. A session id is checked to be two numbers before it is used.
pub(super) const RESCUE_SQL: &str = concat!(
    "DECLARE
    CURSOR c IS
        SELECT JOB_ID, SESSION_ID FROM ASYNC_JOBS
         WHERE STATUS = 'running' AND HEARTBEAT_AT < ",
    now!(),
    " - NUMTODSINTERVAL(:lease_seconds, 'SECOND')
           FOR UPDATE SKIP LOCKED;
    l_ids SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
    l_sessions SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
    l_done SYS.ODCIVARCHAR2LIST := SYS.ODCIVARCHAR2LIST();
    insufficient_privileges EXCEPTION;
    PRAGMA EXCEPTION_INIT(insufficient_privileges, -1031);
BEGIN
    :kill_denied := 0;
    OPEN c;
    FETCH c BULK COLLECT INTO l_ids, l_sessions LIMIT 10000;
    CLOSE c;
    FOR i IN 1 .. l_sessions.COUNT LOOP
        IF REGEXP_LIKE(l_sessions(i), '^[0-9]+,[0-9]+$') THEN
            BEGIN
                EXECUTE IMMEDIATE 'ALTER SYSTEM KILL SESSION ''' || l_sessions(i) || ''' IMMEDIATE';
            EXCEPTION
                WHEN insufficient_privileges THEN :kill_denied := 1;
                WHEN OTHERS THEN NULL; -- ORA-00030: the session is gone already
            END;
        END IF;
    END LOOP;
    FORALL i IN 1 .. l_ids.COUNT
        UPDATE ASYNC_JOBS
           SET STATUS = CASE WHEN CANCEL_REQUESTED = 1 THEN 'cancelled'
                             WHEN ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1 THEN 'pending' ELSE 'failed' END,
               PROGRESS = CASE WHEN CANCEL_REQUESTED = 1 THEN PROGRESS
                               WHEN ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1 THEN 0 ELSE 100 END,
               END_TIME = CASE WHEN CANCEL_REQUESTED = 0 AND ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1 THEN NULL ELSE ",
    now!(),
    " END,
               DURATION = CASE WHEN CANCEL_REQUESTED = 0 AND ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1 THEN NULL ELSE ",
    duration!(),
    " END,
               RUN_AT = ",
    now!(),
    ",
               ERROR_CODE = CASE WHEN CANCEL_REQUESTED = 1 THEN 'cancelled' ELSE 'orphaned' END,
               ERROR_MSG = 'the instance running this job (' || NVL(INSTANCE_ID, '?')
                           || ') stopped: no heartbeat for ' || :lease_seconds || ' s',
               ATTEMPT_HISTORY = ",
    history_append!("'orphaned'", "'no heartbeat'"),
    ",
               INSTANCE_ID = CASE WHEN CANCEL_REQUESTED = 0 AND ATTEMPTS < MAX_ATTEMPTS AND :retry_orphans = 1
                                  THEN NULL ELSE INSTANCE_ID END,
               HEARTBEAT_AT = NULL, CANCEL_REQUESTED = 0, SESSION_ID = NULL
         WHERE JOB_ID = l_ids(i) AND STATUS = 'running'
        RETURNING JOB_ID BULK COLLECT INTO l_done;
    OPEN :rescued FOR
        SELECT JOB_ID, STATUS FROM ASYNC_JOBS WHERE JOB_ID IN (SELECT COLUMN_VALUE FROM TABLE(l_done));
END;"
);

pub(super) const GET_SQL: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM ASYNC_JOBS WHERE JOB_ID = :job_id AND (:owner IS NULL OR OWNER = :owner)"
);

pub(super) const COUNT_SQL: &str = concat!("SELECT COUNT(*) FROM ASYNC_JOBS", list_where!());

pub(super) const PAGE_SQL: &str = concat!(
    "SELECT ",
    job_columns!(),
    " FROM ASYNC_JOBS",
    list_where!(),
    "
 ORDER BY CREATED_AT DESC, JOB_ID OFFSET :row_offset ROWS FETCH NEXT :row_limit ROWS ONLY"
);

pub(super) const DELETE_SQL: &str = "DELETE FROM ASYNC_JOBS
 WHERE JOB_ID = :job_id AND (:owner IS NULL OR OWNER = :owner) AND STATUS <> 'running'";

/// Deletes at most `:batch` ended jobs matching the filter, skipping rows others hold, and
/// re-checking the status of each row it deletes. `:deleted` is how many.
pub(super) const PURGE_SQL: &str = concat!(
    "DECLARE
    CURSOR c IS
        SELECT ROWID FROM ASYNC_JOBS
         WHERE INSTR(',' || :statuses || ',', ',' || STATUS || ',') > 0
           AND (:days IS NULL OR END_TIME < ",
    now!(),
    " - NUMTODSINTERVAL(:days, 'DAY'))
           AND (:owner IS NULL OR OWNER = :owner)
           FOR UPDATE SKIP LOCKED;
    TYPE t_rowids IS TABLE OF ROWID;
    l_rowids t_rowids := t_rowids();
BEGIN
    OPEN c;
    FETCH c BULK COLLECT INTO l_rowids LIMIT :batch;
    CLOSE c;
    FORALL i IN 1 .. l_rowids.COUNT
        DELETE FROM ASYNC_JOBS
         WHERE ROWID = l_rowids(i) AND INSTR(',' || :statuses || ',', ',' || STATUS || ',') > 0;
    :deleted := SQL%ROWCOUNT;
END;"
);

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

fn json_text(v: &Json) -> String {
    v.to_string()
}

fn utc(t: Option<NaiveDateTime>) -> Option<DateTime<Utc>> {
    t.map(|t| t.and_utc())
}

fn parse_json(text: Option<String>) -> Option<Json> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(Json::String(t)))
}

pub(super) fn insert(conn: &Connection, jobs: &[NewJob]) -> Result<Vec<Inserted>, DbError> {
    let mut stmt = conn.statement(INSERT_SQL).lob_locator().build().map_err(db)?;
    let mut out = Vec::with_capacity(jobs.len());
    for j in jobs {
        let policy = j.retry.as_ref().and_then(|r| serde_json::to_value(r).ok()).map(|p| json_text(&p));
        let run_at = j.run_at.map(|t| t.naive_utc());
        let result = stmt.execute_named(&[
            ("job_id", &varchar(j.id.as_str())),
            ("procedure_name", &varchar(&j.procedure_name)),
            ("params", &clob_column(conn, Some(json_text(&j.params)))?),
            ("owner", &varchar(&j.owner)),
            ("is_function", &i64::from(j.is_function)),
            ("priority", &i64::from(j.priority.as_i16())),
            ("run_at", &run_at),
            ("max_attempts", &i64::from(j.retry.as_ref().map_or(1, |r| r.max_attempts))),
            ("retry_policy", &clob_column(conn, policy)?),
            ("timeout_ms", &j.timeout_ms),
            ("idempotency_key", &varchar_opt(j.idempotency_key.as_deref())),
            ("capture_output", &i64::from(j.capture_output)),
            ("routine", &varchar_opt(j.routine.as_deref())),
        ]);
        match result {
            Ok(()) => out.push(Inserted::New),
            Err(e) => {
                let err = db(e);
                let Some(key) = j.idempotency_key.as_deref().filter(|_| err.code == "ORA-00001") else {
                    return Err(err);
                };
                // The owner has a job with this key (maybe from this very batch): that job.
                let row = conn
                    .query_row_named(
                        EXISTING_KEY_SQL,
                        &[("owner", &varchar(&j.owner)), ("idempotency_key", &varchar(key))],
                    )
                    .map_err(|_| err.clone())?;
                out.push(Inserted::Existing(JobId::from_db(row.get(0).map_err(db)?)));
            }
        }
    }
    conn.commit().map_err(db)?;
    Ok(out)
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
            timeout_ms: r.get(6).map_err(db)?,
            capture_output: r.get::<usize, Option<i64>>(7).map_err(db)?.unwrap_or(0) != 0,
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
    let mut progress = conn.object_type("SYS.ODCINUMBERLIST").map_err(db)?.new_collection().map_err(db)?;
    let mut sessions = conn.object_type("SYS.ODCIVARCHAR2LIST").map_err(db)?.new_collection().map_err(db)?;
    for u in updates {
        progress.push(&i64::from(u.progress)).map_err(db)?;
        sessions.push(&u.session.clone()).map_err(db)?;
    }
    let ids = string_list(conn, updates.iter().map(|u| u.id.as_str()))?;
    conn.execute_named(
        PROGRESS_SQL,
        &[("ids", &ids), ("progress", &progress), ("sessions", &sessions), ("instance_id", &varchar(instance_id))],
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

/// Ends attempts in the session's open transaction; the caller commits (with a job's call:
/// see `call::run`).
pub(super) fn finish_uncommitted(
    conn: &Connection,
    instance_id: &str,
    outcomes: &[Outcome],
) -> Result<Vec<JobId>, DbError> {
    let mut stmt = conn.statement(FINISH_SQL).lob_locator().build().map_err(db)?;
    let mut changed = Vec::new();
    for o in outcomes {
        let code = o.error.as_ref().map(|e| e.code.as_str());
        let message = o.error.as_ref().map(|e| e.message.clone());
        let short = message.as_deref().map(history_message);
        stmt.execute_named(&[
            ("status", &varchar(o.status.as_str())),
            ("result", &clob_column(conn, o.result.as_ref().map(json_text))?),
            ("code", &varchar_opt(code)),
            ("message", &clob_column(conn, message)?),
            ("output", &clob_column(conn, o.output.as_ref().and_then(|lines| serde_json::to_string(lines).ok()))?),
            ("retry_in", &o.retry_in.map_or(0.0, |d| d.as_secs_f64())),
            ("history_message", &varchar_opt(short.as_deref())),
            ("job_id", &varchar(o.id.as_str())),
            ("instance_id", &varchar(instance_id)),
            ("attempt", &i64::from(o.attempt)),
        ])
        .map_err(db)?;
        if stmt.row_count().map_err(db)? > 0 {
            changed.push(o.id.clone());
        }
    }
    Ok(changed)
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

pub(super) fn list(conn: &Connection, f: &ListFilter) -> Result<(i64, Vec<Job>), DbError> {
    let statuses = status_list(&f.statuses);
    let statuses = varchar_opt(statuses.as_deref());
    let procedure = varchar_opt(f.procedure.as_deref());
    let owner = varchar_opt(f.owner.as_deref());
    let total: i64 = conn
        .query_row_as_named(COUNT_SQL, &[("statuses", &statuses), ("procedure", &procedure), ("owner", &owner)])
        .map_err(db)?;
    let rows = conn
        .query_named(
            PAGE_SQL,
            &[
                ("statuses", &statuses),
                ("procedure", &procedure),
                ("owner", &owner),
                ("row_offset", &f.offset),
                ("row_limit", &f.limit),
            ],
        )
        .map_err(db)?;
    let mut jobs = Vec::new();
    for row in rows {
        jobs.push(job_from_row(&row.map_err(db)?)?);
    }
    Ok((total, jobs))
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
    })
}

/// A caller's pending jobs, at most `:cap` of them counted (ROWNUM stops the scan there).
pub(super) const COUNT_PENDING_SQL: &str = "SELECT COUNT(*) FROM (SELECT 1 FROM ASYNC_JOBS
 WHERE OWNER = :owner AND STATUS = 'pending' AND ROWNUM <= :cap)";

pub(super) fn count_pending(conn: &Connection, owner: &str, cap: i64) -> Result<i64, DbError> {
    conn.query_row_as_named(COUNT_PENDING_SQL, &[("owner", &varchar(owner)), ("cap", &cap)]).map_err(db)
}

#[cfg(test)]
mod tests {
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
           AND (NVL(PROGRESS, 0) < l_progress(i) OR l_sessions(i) IS NOT NULL);"
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
        assert!(INSERT_SQL.contains(":idempotency_key, :capture_output, 0, 0, :routine, '[]', :params, :retry_policy)"));
        for claim in [CLAIM_SQL, CLAIM_PICKED_SQL] {
            assert!(claim.contains("RETRY_POLICY, TIMEOUT_MS, CAPTURE_OUTPUT FROM ASYNC_JOBS"), "{claim}");
        }
        // Written by the outcome's own statement, as a LOB bind before the WHERE binds.
        assert!(FINISH_SQL.contains("ERROR_MSG = :message, OUTPUT = :output\n WHERE"));
        assert!(GET_SQL.contains("CANCEL_REQUESTED, OUTPUT FROM ASYNC_JOBS") && PAGE_SQL.contains("OUTPUT FROM"));
    }

    #[test]
    fn duration_is_the_predecessors_text() {
        let d = duration!();
        assert!(d.starts_with("TO_CHAR(ROUND(EXTRACT(DAY FROM (SYS_EXTRACT_UTC(SYSTIMESTAMP) - START_TIME)) * 86400"));
        assert!(d.ends_with(", 2), 'FM999999999990.00') || 's'"));
        assert!(FINISH_SQL.contains(d) && RESCUE_SQL.contains(d));
        let entry = history_entry!(":code", ":history_message");
        assert!(entry.contains("'code' VALUE :code, 'message' VALUE :history_message"));
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
            ("DELETE", DELETE_SQL),
            ("PURGE", PURGE_SQL),
            ("DESCRIBE", super::super::catalog::DESCRIBE_SQL),
            ("RESOLVE", super::super::catalog::RESOLVE_SQL),
            ("READ_OUTPUT", super::super::output::READ_LINES_SQL),
            ("DISABLE_OUTPUT", super::super::output::DISABLE_OUTPUT_SQL),
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
            INSERT_SQL.contains("CANCEL_REQUESTED, ROUTINE, ATTEMPT_HISTORY")
                && INSERT_SQL.contains("0, 0, :routine, '[]'")
        );
    }

    #[test]
    fn pending_count_stops_at_the_cap() {
        let code = lex_check(COUNT_PENDING_SQL).unwrap();
        assert!(blocks_balance(&code) && !code.contains(';'));
        assert!(COUNT_PENDING_SQL.contains("OWNER = :owner AND STATUS = 'pending' AND ROWNUM <= :cap"));
        assert!(COUNT_PENDING_SQL.starts_with("SELECT COUNT(*) FROM (SELECT 1 FROM ASYNC_JOBS"));
    }
}
