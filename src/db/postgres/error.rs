//! tokio-postgres and pool errors as [`DbError`]s, keeping the SQLSTATE.

use crate::db::{DbError, DbErrorKind};

/// SQLSTATE of a statement interrupted by a cancel request. Only a cancel procgate itself asked
/// for makes a call `Cancelled` (see `call::cancellable`); a `statement_timeout` or an
/// operator's `pg_cancel_backend` is an ordinary failure.
pub(super) const QUERY_CANCELED: &str = "57014";

pub(super) fn map_error(e: tokio_postgres::Error) -> DbError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let kind = if code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300") {
            DbErrorKind::Unavailable
        } else {
            DbErrorKind::Statement
        };
        let mut message = db.message().to_string();
        if let Some(detail) = db.detail() {
            message = format!("{message} ({detail})");
        }
        return DbError::new(kind, code, message);
    }
    if e.is_closed() || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) {
        return DbError::unavailable(format!("connection to PostgreSQL lost: {e}"));
    }
    DbError::new(DbErrorKind::Statement, "driver_error", e.to_string())
}

pub(super) fn map_pool_error(e: deadpool_postgres::PoolError) -> DbError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => {
            let mut err = map_error(e);
            err.kind = DbErrorKind::Unavailable;
            err
        }
        other => DbError::unavailable(format!("no PostgreSQL connection available: {other}")),
    }
}
