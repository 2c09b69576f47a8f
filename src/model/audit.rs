//! One audit entry: who did what to which procedure or job, with which outcome, when — what the
//! `ASYNC_AUDIT` table and the `procgate::audit` log record. Never a token, never a parameter's
//! value: parameters may hold secrets, so at most their names are kept (in `detail`).

use chrono::{DateTime, Utc};

/// What an audited request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditAction {
    /// `POST /procedure`: a synchronous call.
    Call,
    /// `POST /procedure/async`: a job submitted.
    Submit,
    /// `POST /jobs/{id}/cancel`.
    Cancel,
    /// `POST /jobs/cancel`.
    CancelBulk,
    /// `DELETE /jobs/{id}`.
    Delete,
    /// `DELETE /jobs`.
    DeleteBulk,
    /// `POST /jobs/{id}/retry`.
    Retry,
}

impl AuditAction {
    /// The word stored in `ASYNC_AUDIT.ACTION`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Call => "call",
            AuditAction::Submit => "submit",
            AuditAction::Cancel => "cancel",
            AuditAction::CancelBulk => "cancel_bulk",
            AuditAction::Delete => "delete",
            AuditAction::DeleteBulk => "delete_bulk",
            AuditAction::Retry => "retry",
        }
    }
}

/// The widest text each column holds, in bytes (Oracle's `VARCHAR2(n)` counts bytes); longer
/// values are cut at a character boundary before they are stored.
pub const MAX_CLIENT_BYTES: usize = 128;
pub const MAX_PROCEDURE_BYTES: usize = 512;
pub const MAX_OUTCOME_BYTES: usize = 64;
pub const MAX_DETAIL_BYTES: usize = 1000;

/// One audited request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When the request arrived.
    pub at: DateTime<Utc>,
    /// The client (the token's or client's name).
    pub client: String,
    pub action: AuditAction,
    /// The procedure as the request named it (calls, submits) or the job's (cancel).
    pub procedure: Option<String>,
    /// The job acted on, or the job a submit created (or found by its idempotency key).
    pub job_id: Option<String>,
    /// `ok`, or the error's code (`procedure_not_allowed`, `timeout`, a database code such as
    /// `P0001` or `ORA-20001` for a synchronous call the procedure failed).
    pub outcome: String,
    pub http_status: u16,
    /// From the request's arrival to its answer.
    pub duration_ms: i64,
    /// Bulk actions: the jobs deleted, or cancelled and asked to stop.
    pub affected: Option<i64>,
    /// What else identifies the request: parameter names (never values), a bulk action's
    /// filters, a retry's new job.
    pub detail: Option<String>,
}

impl AuditEntry {
    /// The entry with every text cut to its column's width.
    pub fn bounded(mut self) -> Self {
        cut(&mut self.client, MAX_CLIENT_BYTES);
        cut(&mut self.outcome, MAX_OUTCOME_BYTES);
        if let Some(p) = &mut self.procedure {
            cut(p, MAX_PROCEDURE_BYTES);
        }
        if let Some(d) = &mut self.detail {
            cut(d, MAX_DETAIL_BYTES);
        }
        if let Some(j) = &mut self.job_id {
            cut(j, 32);
        }
        self
    }
}

/// Shortens `s` to at most `max` bytes, at a character boundary.
fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_to_their_columns_at_a_character_boundary() {
        let entry = AuditEntry {
            at: Utc::now(),
            client: "é".repeat(100),
            action: AuditAction::Call,
            procedure: Some("p".repeat(600)),
            job_id: None,
            outcome: "ok".into(),
            http_status: 200,
            duration_ms: 1,
            affected: None,
            detail: Some("d".repeat(2000)),
        }
        .bounded();
        assert_eq!(entry.client.len(), 128);
        assert_eq!(entry.client.chars().count(), 64);
        assert_eq!(entry.procedure.unwrap().len(), MAX_PROCEDURE_BYTES);
        assert_eq!(entry.detail.unwrap().len(), MAX_DETAIL_BYTES);
        assert_eq!(entry.outcome, "ok");
    }
}
