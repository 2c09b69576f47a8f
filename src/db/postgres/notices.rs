//! The messages PostgreSQL sends while a statement runs (`RAISE NOTICE`, `INFO`, `WARNING`),
//! routed to the call running on that connection.
//!
//! Each pooled connection owns one [`ConnectionNotices`], shared by two parties only: the
//! connection's driver task (which receives the server's messages, see `connect.rs`) and whoever
//! holds the connection from the pool. It is a field of the pooled object itself (`connect::
//! PooledConnection`), so no lookup is involved: the holder reaches the state of exactly the
//! connection its statements travel on.
//!
//! Why a captured line always belongs to the call that captured it:
//! - A pooled connection has one holder at a time, and the holder runs one call at a time:
//!   [`ConnectionNotices::begin_call`] before the call's statement, [`ConnectionNotices::end_call`]
//!   after its last one. In between, the connection carries nothing but this call's statements.
//! - The server sends a statement's notices before that statement's completion or error, on the
//!   same socket, and the driver hands each notice over before it reads the next message. So
//!   when the holder sees its statement end, every notice the statement raised is already in
//!   the buffer (the mutex orders the two).
//! - A call abandoned midway (its future dropped: an HTTP client that hung up on `POST
//!   /procedure`) leaves the state "in a call": its statement may still be running on the
//!   server, and its notices still coming. The pool's recycle check (`PgManager::recycle`)
//!   refuses such a connection, so it is closed, never handed to the next holder, whatever that
//!   one captures. This holds whether or not the abandoned call was capturing.
//! - Between calls, notices (from the job store's own statements, which raise none in practice)
//!   are logged, not kept.
//!
//! Progress reports travel the same way: `procgate_progress(...)` (see
//! `sql/postgres/create_async_jobs_table.sql`) raises an `INFO` with the reserved SQLSTATE
//! [`PROGRESS_SQLSTATE`] and a JSON message. Such a notice is never an output line: it goes to
//! the progress sink the call began with, so by the guarantees above it reaches the job whose
//! call sent it, while the call runs (notices are not transactional). A report that arrives
//! without a sink (a synchronous call, or between calls) is dropped.

use std::sync::{Arc, Mutex};

use serde_json::Value as Json;
use tokio_postgres::error::DbError as PgNotice;

use crate::db::output::OutputLines;
use crate::model::{ProgressReport, ProgressSink};

/// The SQLSTATE of `procgate_progress`'s notices: class `PG` is none of PostgreSQL's own, so no
/// server or extension message carries it (keep it in step with the procedure's `ERRCODE`).
pub(crate) const PROGRESS_SQLSTATE: &str = "PGPRG";

#[derive(Default)]
enum State {
    /// No call is running on the connection.
    #[default]
    Idle,
    /// A call is running.
    InCall {
        /// `Some` when it captures its lines.
        lines: Option<OutputLines>,
        /// Where its progress reports go, when anyone wants them.
        reports: Option<Arc<dyn ProgressSink>>,
    },
}

/// The notice state of one connection.
#[derive(Default)]
pub(crate) struct ConnectionNotices {
    state: Mutex<State>,
}

impl ConnectionNotices {
    /// A call starts on this connection; with `capture`, its notices are kept from now on, and
    /// its progress reports go to `reports` until [`Self::end_call`].
    pub fn begin_call(&self, capture: bool, reports: Option<Arc<dyn ProgressSink>>) {
        *self.lock() = State::InCall { lines: capture.then(OutputLines::default), reports };
    }

    /// The call has ended (its last statement has returned): the lines it wrote, if captured.
    /// Its progress sink is let go.
    pub fn end_call(&self) -> Option<Vec<String>> {
        match std::mem::take(&mut *self.lock()) {
            State::InCall { lines, .. } => lines.map(OutputLines::into_lines),
            State::Idle => None,
        }
    }

    /// No call is running, nor was one abandoned midway: the connection may serve another holder.
    pub fn is_idle(&self) -> bool {
        matches!(*self.lock(), State::Idle)
    }

    /// A notice from the server (called by the connection's driver, in arrival order).
    pub fn deliver(&self, notice: &PgNotice) {
        self.receive(notice.code().code(), notice.severity(), notice.message());
    }

    fn receive(&self, sqlstate: &str, severity: &str, message: &str) {
        if sqlstate == PROGRESS_SQLSTATE {
            return self.report(message);
        }
        if let State::InCall { lines: Some(lines), .. } = &mut *self.lock() {
            lines.push(line(severity, message));
            return;
        }
        tracing::debug!(severity, message, "PostgreSQL notice");
    }

    /// A progress report: to the running call's sink, outside the lock (the sink may take its own).
    fn report(&self, message: &str) {
        let sink = match &*self.lock() {
            State::InCall { reports: Some(sink), .. } => sink.clone(),
            _ => return,
        };
        if let Some(report) = parse_report(message) {
            sink.reported(report);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is replaced whole under the lock: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A notice as an output line: the message as the procedure wrote it for `NOTICE` and `INFO`
/// (PL/pgSQL's "print"), prefixed with the severity otherwise (`WARNING: ...`).
fn line(severity: &str, message: &str) -> String {
    match severity {
        "NOTICE" | "INFO" => message.to_string(),
        other => format!("{other}: {message}"),
    }
}

/// `{"percent": .., "message": .., "processed": .., "total": ..}` as `procgate_progress` sends it.
/// Anything unreadable is left out (a numeric NaN arrives as the string `"NaN"`): a bad report is
/// never an error for the call.
fn parse_report(message: &str) -> Option<ProgressReport> {
    let json: Json = serde_json::from_str(message).ok()?;
    let count = |key: &str| json.get(key).and_then(Json::as_i64);
    ProgressReport::new(
        json.get("percent").and_then(Json::as_f64),
        json.get("message").and_then(Json::as_str).map(str::to_string),
        count("processed"),
        count("total"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_capture_only_when_asked_and_only_between_begin_and_end() {
        let notices = ConnectionNotices::default();
        assert!(notices.is_idle());
        assert_eq!(notices.end_call(), None);

        notices.begin_call(false, None);
        assert!(!notices.is_idle(), "a running call, captured or not, keeps the connection busy");
        assert_eq!(notices.end_call(), None);
        assert!(notices.is_idle());

        notices.begin_call(true, None);
        assert!(!notices.is_idle());
        assert_eq!(notices.end_call(), Some(vec![]));
        assert!(notices.is_idle());
    }

    /// A sink that keeps what it is given.
    #[derive(Default)]
    struct Kept(Mutex<Vec<ProgressReport>>);

    impl ProgressSink for Kept {
        fn reached(&self, _: crate::model::Milestone) {}
        fn reported(&self, report: ProgressReport) {
            self.0.lock().unwrap().push(report);
        }
    }

    #[test]
    fn progress_reports_go_to_the_calls_sink_never_to_its_lines() {
        let notices = ConnectionNotices::default();
        let kept = Arc::new(Kept::default());
        notices.begin_call(true, Some(kept.clone()));
        notices.receive("00000", "NOTICE", "an ordinary line");
        notices.receive(
            PROGRESS_SQLSTATE,
            "INFO",
            r#"{"percent": 42.5, "message": "step 2", "processed": null, "total": 10}"#,
        );
        notices.receive(PROGRESS_SQLSTATE, "INFO", "not json");
        notices.receive("01000", "WARNING", "careful");
        assert_eq!(notices.end_call(), Some(vec!["an ordinary line".to_string(), "WARNING: careful".to_string()]));
        let expected = ProgressReport::new(Some(42.5), Some("step 2".into()), None, Some(10));
        assert_eq!(*kept.0.lock().unwrap(), vec![expected.unwrap()]);

        // After the call, and in a call without a sink, reports go nowhere (and hold nothing).
        notices.receive(PROGRESS_SQLSTATE, "INFO", r#"{"percent": 1}"#);
        notices.begin_call(true, None);
        notices.receive(PROGRESS_SQLSTATE, "INFO", r#"{"percent": 2}"#);
        assert_eq!(notices.end_call(), Some(vec![]));
        assert_eq!(kept.0.lock().unwrap().len(), 1);
        assert_eq!(Arc::strong_count(&kept), 1, "end_call lets the sink go");
    }

    #[test]
    fn reports_are_read_leniently() {
        let r = parse_report(r#"{"percent": "NaN", "message": "m", "processed": -1, "total": 5}"#).unwrap();
        assert_eq!(r, ProgressReport::new(None, Some("m".into()), None, Some(5)).unwrap());
        assert_eq!(parse_report(r#"{"percent": 250}"#).unwrap().percent, Some(100.0));
        assert_eq!(parse_report(r#"{"percent": null, "message": null}"#), None);
        assert_eq!(parse_report("[1]"), None);
    }

    #[test]
    fn severities() {
        assert_eq!(line("NOTICE", "line 1"), "line 1");
        assert_eq!(line("INFO", "x"), "x");
        assert_eq!(line("WARNING", "careful"), "WARNING: careful");
    }
}
