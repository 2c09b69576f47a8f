//! The contract suite's Oracle backend: the schema named by `PROCGATE_TEST_ORACLE_URL`
//! (`oracle://user:password@host:port/service`, Oracle Instant Client installed, see README,
//! Oracle). The first scenario runs the job-table migration (twice: it must be idempotent) and
//! installs `sql/oracle/create_test_procedures.sql`. Scenarios share the schema, so they take
//! turns, and each starts on an emptied job table and call log: give the suite a schema of its
//! own. The questions about running calls read `V$SESSION`/`V$TRANSACTION` (grant
//! `SELECT_CATALOG_ROLE`, or SELECT on those views).
//!
//! Without the variable `open` writes `SKIPPED: <scenario>: ...` straight to stderr (so the line
//! shows in `cargo test` output, which captures only `print!`/`eprint!`) and the scenario returns.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::Arc;

use serde_json::Value as Json;

use crate::contract::fixture::Backend;

pub const URL_VAR: &str = "PROCGATE_TEST_ORACLE_URL";

/// Tables the scenarios' procedures create, dropped before each scenario.
const SCENARIO_TABLES: &[&str] = &["DEMO_ROWS"];

/// Scenarios share one schema and take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The contract suite's entry point on Oracle: the schema, emptied, while the scenario holds its
/// turn; `None` (after saying so) when no Oracle is configured.
pub async fn open(scenario: &str) -> Option<OracleDatabase> {
    let url = match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            let _ = writeln!(std::io::stderr(), "SKIPPED: {scenario}: {URL_VAR} is not set (see docs/oracle.md)");
            return None;
        }
    };
    let turn = SERIAL.lock().await;
    install(&url).await;
    let db = OracleDatabase { conn: Arc::new(connect(&url)), url, _turn: turn };
    db.reset().await;
    Some(db)
}

fn connect(url: &str) -> oracle::Connection {
    let settings = procgate::db::oracle::url::parse(url).expect("a valid oracle:// URL");
    oracle::Connection::connect(&settings.username, &settings.password, &settings.connect_string)
        .expect("connect to the live Oracle")
}

/// The statements of a SQL*Plus script (blocks ended by `/` lines).
fn script_statements(script: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for line in script.lines() {
        if line.trim() == "/" {
            let text = current.join("\n").trim().to_string();
            if !text.is_empty() {
                out.push(text);
            }
            current.clear();
        } else if !(current.is_empty() && (line.trim().is_empty() || line.trim_start().starts_with("--"))) {
            current.push(line);
        }
    }
    out
}

/// Migrates (twice: it must be idempotent) and installs the test procedures, once per binary.
async fn install(url: &str) {
    static INSTALLED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    INSTALLED
        .get_or_init(|| async {
            let db = procgate::db::Database::connect(url, &procgate::db::ConnectOptions::new("test", 2))
                .await
                .expect("connect to the live Oracle");
            assert_eq!(db.kind, "oracle");
            db.store.migrate().await.expect("migrate");
            db.store.migrate().await.expect("migrate again");
            let url = url.to_string();
            tokio::task::spawn_blocking(move || {
                let conn = connect(&url);
                let script = include_str!("../../sql/oracle/create_test_procedures.sql");
                for statement in script_statements(script) {
                    conn.execute(&statement, &[]).unwrap_or_else(|e| panic!("{e}\n in:\n{statement}"));
                }
                conn.commit().unwrap();
            })
            .await
            .unwrap();
        })
        .await;
}

/// The suite's schema for one scenario (holding its turn until dropped).
pub struct OracleDatabase {
    pub url: String,
    /// The connection the backend's questions go through.
    conn: Arc<oracle::Connection>,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

impl OracleDatabase {
    /// Runs `work` on the backend's connection, off the async threads.
    async fn with_conn<T: Send + 'static>(&self, work: impl FnOnce(&oracle::Connection) -> T + Send + 'static) -> T {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || work(&conn)).await.expect("an Oracle statement panicked")
    }

    /// The single number a query returns.
    async fn number(&self, sql: &'static str, params: Vec<String>) -> i64 {
        self.with_conn(move |conn| {
            let binds: Vec<&dyn oracle::sql_type::ToSql> = params.iter().map(|p| p as _).collect();
            conn.query_row_as::<Option<i64>>(sql, &binds).unwrap_or_else(|e| panic!("{sql}: {e}")).unwrap_or(0)
        })
        .await
    }

    /// Runs a statement with string binds and commits; returns the rows it changed.
    async fn change(&self, sql: String, params: Vec<String>) -> u64 {
        self.with_conn(move |conn| {
            let binds: Vec<&dyn oracle::sql_type::ToSql> = params.iter().map(|p| p as _).collect();
            let done = conn.execute(&sql, &binds).unwrap_or_else(|e| panic!("{sql}: {e}"));
            let rows = done.row_count().expect("row count");
            conn.commit().expect("commit");
            rows
        })
        .await
    }

    /// Empties the job table and the call log and drops the scenarios' tables.
    async fn reset(&self) {
        self.change("DELETE FROM ASYNC_JOBS".into(), vec![]).await;
        self.change("DELETE FROM ASYNC_JOB_EVENTS".into(), vec![]).await;
        self.change("DELETE FROM PROC_TEST_CALLS".into(), vec![]).await;
        for table in SCENARIO_TABLES {
            self.change(DROP_IF_EXISTS.into(), vec!["TABLE".into(), table.to_string(), "-942".into()]).await;
        }
    }
}

/// Drops the object of type :1 named :2 (checked by DBMS_ASSERT); ignores the error code :3
/// (it does not exist).
const DROP_IF_EXISTS: &str = "BEGIN
    EXECUTE IMMEDIATE 'DROP ' || DBMS_ASSERT.SIMPLE_SQL_NAME(:1) || ' ' || DBMS_ASSERT.SIMPLE_SQL_NAME(:2);
EXCEPTION
    WHEN OTHERS THEN
        IF SQLCODE != TO_NUMBER(:3) THEN
            RAISE;
        END IF;
END;";

/// A test constant used as an identifier: letters, digits and underscores only.
fn identifier(name: &str) -> &str {
    assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "not a plain identifier: {name}");
    name
}

/// An Oracle interval expression for `:n` days before now, in UTC as the job table keeps time.
fn days_ago(bind: usize) -> String {
    format!("SYS_EXTRACT_UTC(SYSTIMESTAMP) - NUMTODSINTERVAL(TO_NUMBER(:{bind}), 'DAY')")
}

impl Backend for OracleDatabase {
    fn url(&self) -> &str {
        &self.url
    }

    fn raised_code(&self) -> &'static str {
        "ORA-20001"
    }

    fn assert_raised_message(&self, message: &Json, raised: &str) {
        // RAISE_APPLICATION_ERROR's text, then the ORA-06512 lines saying where it was raised.
        let message = message.as_str().unwrap_or_else(|| panic!("not a message: {message}"));
        assert!(message == raised || message.starts_with(&format!("{raised}\nORA-06512")), "{message:?}");
    }

    fn retryable_code(&self) -> &'static str {
        "ORA-00060"
    }

    fn column(&self, name: &str) -> String {
        name.to_uppercase()
    }

    fn system_schema(&self) -> &'static str {
        "SYS"
    }

    async fn calls_per_tag(&self) -> HashMap<String, i64> {
        self.with_conn(|conn| {
            let rows = conn.query_as::<(String, i64)>("SELECT TAG, COUNT(*) FROM PROC_TEST_CALLS GROUP BY TAG", &[]);
            rows.expect("calls per tag").map(|r| r.expect("a row")).collect()
        })
        .await
    }

    async fn tags_in_call_order(&self) -> Vec<String> {
        self.with_conn(|conn| {
            let rows = conn.query_as::<String>("SELECT TAG FROM PROC_TEST_CALLS ORDER BY CALLED_AT", &[]);
            rows.expect("tags").map(|r| r.expect("a row")).collect()
        })
        .await
    }

    async fn calls_executing(&self, procedure: &str) -> i64 {
        // The outermost PL/SQL unit a session runs names the procedure, whatever SQL it is in.
        self.number(
            "SELECT COUNT(*) FROM V$SESSION s JOIN USER_OBJECTS o ON o.OBJECT_ID = s.PLSQL_ENTRY_OBJECT_ID
              WHERE s.STATUS = 'ACTIVE' AND o.OBJECT_NAME = UPPER(:1)
                AND s.SID <> TO_NUMBER(SYS_CONTEXT('USERENV', 'SID'))",
            vec![procedure.to_string()],
        )
        .await
    }

    async fn idle_transactions(&self) -> i64 {
        self.number(
            "SELECT COUNT(*) FROM V$SESSION s JOIN V$TRANSACTION t ON t.ADDR = s.TADDR
              WHERE s.USERNAME = USER AND s.STATUS = 'INACTIVE'
                AND s.SID <> TO_NUMBER(SYS_CONTEXT('USERENV', 'SID'))",
            vec![],
        )
        .await
    }

    async fn test_procedures(&self) -> i64 {
        self.number(
            "SELECT COUNT(*) FROM USER_OBJECTS WHERE OBJECT_TYPE IN ('PROCEDURE', 'FUNCTION') AND OBJECT_NAME LIKE 'PROC_TEST%'",
            vec![],
        )
        .await
    }

    async fn rows_in(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {}", identifier(table));
        self.with_conn(move |conn| conn.query_row_as::<i64>(&sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"))).await
    }

    async fn create_sequence(&self, name: &str) {
        // The schema outlives the scenario: a sequence of an earlier run starts over.
        self.change(DROP_IF_EXISTS.into(), vec!["SEQUENCE".into(), name.to_string(), "-2289".into()]).await;
        self.change(format!("CREATE SEQUENCE {}", identifier(name)), vec![]).await;
    }

    async fn count_jobs(&self, status: Option<&str>) -> i64 {
        match status {
            Some(status) => {
                self.number("SELECT COUNT(*) FROM ASYNC_JOBS WHERE STATUS = :1", vec![status.to_string()]).await
            }
            None => self.number("SELECT COUNT(*) FROM ASYNC_JOBS", vec![]).await,
        }
    }

    async fn running_and_completed(&self, procedure: &str) -> (i64, i64) {
        let procedure = procedure.to_string();
        self.with_conn(move |conn| {
            conn.query_row_as::<(i64, i64)>(
                "SELECT COUNT(CASE WHEN STATUS = 'running' THEN 1 END), COUNT(CASE WHEN STATUS = 'completed' THEN 1 END)
                   FROM ASYNC_JOBS WHERE PROCEDURE_NAME = :1",
                &[&procedure],
            )
            .expect("running and completed")
        })
        .await
    }

    async fn unfinished_jobs(&self) -> Vec<String> {
        self.with_conn(|conn| {
            let rows =
                conn.query_as::<String>("SELECT JOB_ID FROM ASYNC_JOBS WHERE STATUS IN ('pending', 'running')", &[]);
            rows.expect("unfinished jobs").map(|r| r.expect("a row")).collect()
        })
        .await
    }

    async fn max_attempts(&self) -> i64 {
        self.number("SELECT MAX(ATTEMPTS) FROM ASYNC_JOBS", vec![]).await
    }

    async fn instances_that_ran_jobs(&self) -> i64 {
        self.number("SELECT COUNT(DISTINCT INSTANCE_ID) FROM ASYNC_JOBS", vec![]).await
    }

    async fn status_and_error(&self, id: &str) -> (String, Option<String>, Option<String>) {
        let id = id.to_string();
        self.with_conn(move |conn| {
            let sql = "SELECT STATUS, ERROR_CODE, ERROR_MSG FROM ASYNC_JOBS WHERE JOB_ID = :1";
            conn.query_row_as::<(String, Option<String>, Option<String>)>(sql, &[&id]).expect("the job's status")
        })
        .await
    }

    async fn stored_events(&self, id: &str) -> Vec<String> {
        let id = id.to_string();
        self.with_conn(move |conn| {
            let sql = "SELECT EVENT_TYPE FROM ASYNC_JOB_EVENTS WHERE JOB_ID = :1 ORDER BY EVENT_ID";
            let rows = conn.query_as::<String>(sql, &[&id]).expect("the job's events");
            rows.map(|r| r.expect("an event type")).collect()
        })
        .await
    }

    async fn stored_params(&self, id: &str) -> Json {
        let id = id.to_string();
        let text = self
            .with_conn(move |conn| {
                conn.query_row_as::<String>("SELECT PARAMS FROM ASYNC_JOBS WHERE JOB_ID = :1", &[&id]).expect("params")
            })
            .await;
        serde_json::from_str(&text).expect("the stored params are JSON")
    }

    async fn ended_after_start_and_session_cleared(&self, id: &str) -> (bool, bool) {
        let id = id.to_string();
        let (ordered, cleared) = self
            .with_conn(move |conn| {
                conn.query_row_as::<(i64, i64)>(
                    "SELECT CASE WHEN END_TIME >= START_TIME THEN 1 ELSE 0 END, CASE WHEN SESSION_ID IS NULL THEN 1 ELSE 0 END
                       FROM ASYNC_JOBS WHERE JOB_ID = :1",
                    &[&id],
                )
                .expect("the job's times")
            })
            .await;
        (ordered == 1, cleared == 1)
    }

    async fn supersede_attempt(&self, id: &str) -> u64 {
        let sql = "UPDATE ASYNC_JOBS SET ATTEMPTS = ATTEMPTS + 1 WHERE JOB_ID = :1 AND STATUS = 'running'";
        self.change(sql.into(), vec![id.to_string()]).await
    }

    async fn end_days_ago(&self, ids: &[String], days: i64) {
        for id in ids {
            let sql = format!("UPDATE ASYNC_JOBS SET END_TIME = {} WHERE JOB_ID = :2", days_ago(1));
            self.change(sql, vec![days.to_string(), id.clone()]).await;
        }
    }

    async fn backdate_all(&self, days: i64) {
        let sql = format!("UPDATE ASYNC_JOBS SET CREATED_AT = {}, START_TIME = {}", days_ago(1), days_ago(2));
        self.change(sql, vec![days.to_string(), days.to_string()]).await;
    }

    async fn insert_ended_jobs(&self, n: i64, days: i64) {
        let sql = format!(
            "INSERT INTO ASYNC_JOBS (JOB_ID, STATUS, PROCEDURE_NAME, OWNER, PROGRESS, START_TIME, END_TIME)
             SELECT LPAD(TO_CHAR(LEVEL), 32, '0'), 'completed', 'PROC_TEST', 'admin', 100, {}, {}
               FROM DUAL CONNECT BY LEVEL <= TO_NUMBER(:3)",
            days_ago(1),
            days_ago(2)
        );
        self.change(sql, vec![days.to_string(), days.to_string(), n.to_string()]).await;
    }

    async fn clear_jobs(&self) {
        self.change("DELETE FROM ASYNC_JOBS".into(), vec![]).await;
    }
}
