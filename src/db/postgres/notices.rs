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

use std::sync::Mutex;

use tokio_postgres::error::DbError as PgNotice;

use crate::db::output::OutputLines;

#[derive(Debug, Default)]
enum State {
    /// No call is running on the connection.
    #[default]
    Idle,
    /// A call is running; `Some` when it captures its lines.
    InCall(Option<OutputLines>),
}

/// The notice state of one connection.
#[derive(Debug, Default)]
pub(crate) struct ConnectionNotices {
    state: Mutex<State>,
}

impl ConnectionNotices {
    /// A call starts on this connection; with `capture`, its notices are kept from now on.
    pub fn begin_call(&self, capture: bool) {
        *self.lock() = State::InCall(capture.then(OutputLines::default));
    }

    /// The call has ended (its last statement has returned): the lines it wrote, if captured.
    pub fn end_call(&self) -> Option<Vec<String>> {
        match std::mem::take(&mut *self.lock()) {
            State::InCall(lines) => lines.map(OutputLines::into_lines),
            State::Idle => None,
        }
    }

    /// No call is running, nor was one abandoned midway: the connection may serve another holder.
    pub fn is_idle(&self) -> bool {
        matches!(*self.lock(), State::Idle)
    }

    /// A notice from the server (called by the connection's driver, in arrival order).
    pub fn deliver(&self, notice: &PgNotice) {
        if let State::InCall(Some(lines)) = &mut *self.lock() {
            lines.push(notice_line(notice));
            return;
        }
        tracing::debug!(severity = notice.severity(), message = notice.message(), "PostgreSQL notice");
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is replaced whole under the lock: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A notice as an output line: the message as the procedure wrote it for `NOTICE` and `INFO`
/// (PL/pgSQL's "print"), prefixed with the severity otherwise (`WARNING: ...`).
pub(crate) fn notice_line(notice: &PgNotice) -> String {
    line(notice.severity(), notice.message())
}

fn line(severity: &str, message: &str) -> String {
    match severity {
        "NOTICE" | "INFO" => message.to_string(),
        other => format!("{other}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_capture_only_when_asked_and_only_between_begin_and_end() {
        let notices = ConnectionNotices::default();
        assert!(notices.is_idle());
        assert_eq!(notices.end_call(), None);

        notices.begin_call(false);
        assert!(!notices.is_idle(), "a running call, captured or not, keeps the connection busy");
        assert_eq!(notices.end_call(), None);
        assert!(notices.is_idle());

        notices.begin_call(true);
        assert!(!notices.is_idle());
        assert_eq!(notices.end_call(), Some(vec![]));
        assert!(notices.is_idle());
    }

    #[test]
    fn severities() {
        assert_eq!(line("NOTICE", "line 1"), "line 1");
        assert_eq!(line("INFO", "x"), "x");
        assert_eq!(line("WARNING", "careful"), "WARNING: careful");
    }
}
