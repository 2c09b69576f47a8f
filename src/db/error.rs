//! Database errors with the database's own code kept (SQLSTATE, ORA-nnnnn).

use crate::model::JobError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// No connection could be had, or it broke: the database is unavailable (503, retryable).
    Unavailable,
    /// The call was interrupted on request.
    Cancelled,
    /// The call raised an error or the statement failed: a job failure, not a gateway fault.
    Statement,
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DbError {
    pub kind: DbErrorKind,
    pub code: String,
    pub message: String,
}

impl DbError {
    pub fn new(kind: DbErrorKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self { kind, code: code.into(), message: message.into() }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(DbErrorKind::Unavailable, "database_unavailable", message)
    }

    pub fn statement(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(DbErrorKind::Statement, code, message)
    }

    pub fn to_job_error(&self) -> JobError {
        JobError { code: self.code.clone(), message: self.message.clone() }
    }
}
