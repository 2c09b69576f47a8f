//! Every error the API returns, turned into an HTTP answer in exactly one place:
//! `{"error": {"code", "message", ...details}}` with the right status. Bad input is always a 4xx.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value as Json};

use crate::catalog::CallError;
use crate::db::{DbError, DbErrorKind};
use crate::jobs::queue::QueueError;
use crate::procedure::quote::{quoted, truncated, QUOTED_CHARS};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("this client address is not allowed (API_ALLOWED_IPS)")]
    ForbiddenIp,
    #[error("{0}")]
    Forbidden(String),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String, details: Json },
    #[error("{0}")]
    Unavailable(String),
    #[error("the gateway is shutting down and accepts no new jobs")]
    ShuttingDown,
    #[error("{message}")]
    Timeout { message: String, details: Json },
    #[error("internal error")]
    Internal(String),
    /// Every slot for this kind of work is taken: try again shortly (503 with `Retry-After`).
    #[error("{message}")]
    Busy { message: String, retry_after_secs: u32 },
    #[error("{count} parameters is more than the {limit} a request may send (MAX_PARAMS)")]
    TooManyParameters { count: usize, limit: usize },
    #[error("{message}")]
    UnknownField { field: String, message: String },
    #[error("{owner} already has {limit} pending jobs (MAX_PENDING_PER_OWNER); try again once some have started")]
    TooManyPendingJobs { owner: String, limit: u32, retry_after_secs: u64 },
    /// A non-admin caller asked for another owner's jobs (`GET /jobs?owner=`).
    #[error("only admin tokens may list other owners' jobs (owner={0:?})")]
    OwnerNotAllowed(String),
    /// A valid token that may not do this: only admins may (403).
    #[error("{0}")]
    AdminOnly(&'static str),
    /// The client is over its `rate` (clients file) on this instance (429 with `Retry-After`).
    #[error("client {client:?} is over its rate ({rate}, API_CLIENTS_FILE); retry after {retry_after_secs} s")]
    RateLimited { client: String, rate: String, retry_after_secs: u64 },
    /// The client has its `max_pending` pending jobs already (429 with `Retry-After`).
    #[error("client {client:?} already has its maximum of {limit} pending jobs (max_pending in API_CLIENTS_FILE); try again once some have started")]
    QuotaExceeded { client: String, limit: u32, retry_after_secs: u64 },
    /// A JWT that does not verify (401; `token_expired`, `token_not_yet_valid`, `invalid_token`),
    /// answered with RFC 6750's `WWW-Authenticate: Bearer error="invalid_token"`.
    #[error("{message}")]
    InvalidJwt { code: &'static str, message: String },
    /// A verified JWT whose client has no access of its own where one is required (403).
    #[error("{0}")]
    UnknownClient(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, message: message.into() }
    }

    pub fn job_not_found() -> Self {
        ApiError::NotFound { code: "job_not_found", message: "no such job".into() }
    }

    /// The `code` of the answer's body (also the audit trail's outcome).
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. }
            | ApiError::NotFound { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::ForbiddenIp => "ip_not_allowed",
            ApiError::Forbidden(_) => "procedure_not_allowed",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Unavailable(_) => "database_unavailable",
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Timeout { .. } => "timeout",
            ApiError::Internal(_) => "internal_error",
            ApiError::Busy { .. } => "busy",
            ApiError::TooManyParameters { .. } => "too_many_parameters",
            ApiError::UnknownField { .. } => "unknown_field",
            ApiError::TooManyPendingJobs { .. } => "too_many_pending_jobs",
            ApiError::OwnerNotAllowed(_) => "owner_not_allowed",
            ApiError::AdminOnly(_) => "admin_required",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::QuotaExceeded { .. } => "quota_exceeded",
            ApiError::InvalidJwt { code, .. } => code,
            ApiError::UnknownClient(_) => "unknown_client",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::ForbiddenIp | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Unavailable(_) | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyParameters { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnknownField { .. } => StatusCode::BAD_REQUEST,
            ApiError::TooManyPendingJobs { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::OwnerNotAllowed(_) => StatusCode::FORBIDDEN,
            ApiError::AdminOnly(_) => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } | ApiError::QuotaExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::InvalidJwt { .. } => StatusCode::UNAUTHORIZED,
            ApiError::UnknownClient(_) => StatusCode::FORBIDDEN,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut body = Map::new();
        body.insert("code".into(), json!(self.code()));
        let message = match self {
            ApiError::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                self.to_string()
            }
            _ => self.to_string(),
        };
        body.insert("message".into(), json!(message));
        if let ApiError::Unprocessable { details: Json::Object(extra), .. }
        | ApiError::Timeout { details: Json::Object(extra), .. } = self
        {
            body.extend(extra.clone());
        }
        if let ApiError::UnknownField { field, .. } = self {
            body.insert("field".into(), json!(field));
        }
        if let ApiError::TooManyParameters { limit, .. } = self {
            body.insert("limit".into(), json!(limit));
        }
        if let ApiError::RateLimited { retry_after_secs: s, .. } | ApiError::QuotaExceeded { retry_after_secs: s, .. } =
            self
        {
            body.insert("retry_after_seconds".into(), json!(s));
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let ApiError::InvalidJwt { message, .. } = self {
            // RFC 6750 section 3: visible ASCII but for quote and backslash.
            let description: String = message
                .chars()
                .map(|c| match c {
                    '"' | '\\' => '\'',
                    ' ' => ' ',
                    c if c.is_ascii_graphic() => c,
                    _ => '?',
                })
                .collect();
            let challenge = format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        let retry_after = match self {
            ApiError::Busy { retry_after_secs, .. } => Some(u64::from(*retry_after_secs)),
            ApiError::TooManyPendingJobs { retry_after_secs, .. } => Some(*retry_after_secs),
            ApiError::RateLimited { retry_after_secs, .. } | ApiError::QuotaExceeded { retry_after_secs, .. } => {
                Some(*retry_after_secs)
            }
            _ => None,
        };
        if let Some(retry_after_secs) = retry_after {
            response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
        }
        response.json(json!({ "error": body }))
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e.kind {
            DbErrorKind::Unavailable => ApiError::Unavailable(e.message),
            // SQLSTATE class 22, data exception: the request's data, not the gateway, is at fault.
            _ if e.code.starts_with("22") => ApiError::Unprocessable {
                code: "invalid_value",
                message: format!("the database refused a value: {}", e.message),
                details: serde_json::json!({ "db_code": e.code }),
            },
            _ => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<QueueError> for ApiError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::ShuttingDown => ApiError::ShuttingDown,
            QueueError::TooManyPending { owner, limit } => {
                ApiError::TooManyPendingJobs { owner, limit, retry_after_secs: PENDING_RETRY_AFTER_SECS }
            }
            QueueError::NotFound => ApiError::job_not_found(),
            e @ QueueError::Ended(_) => ApiError::Conflict { code: "job_ended", message: e.to_string() },
            QueueError::StillRunning(message) => ApiError::Conflict { code: "job_running", message: message.into() },
            e @ QueueError::PurgeWithoutFilter => ApiError::bad_request("missing_filter", e.to_string()),
            e @ QueueError::PurgeOfUnended(_) => ApiError::bad_request("invalid_query", e.to_string()),
            QueueError::Database(d) => d.into(),
            e @ QueueError::NotRetryable(_) => ApiError::Conflict { code: "job_not_retryable", message: e.to_string() },
            QueueError::Call(e) => e.into(),
            e @ QueueError::CancelWithoutFilter => ApiError::bad_request("missing_filter", e.to_string()),
            e @ QueueError::CancelOfEnded(_) => ApiError::bad_request("invalid_query", e.to_string()),
            QueueError::QuotaExceeded { owner, limit } => {
                ApiError::QuotaExceeded { client: owner, limit, retry_after_secs: PENDING_RETRY_AFTER_SECS }
            }
        }
    }
}

/// How long a caller at `MAX_PENDING_PER_OWNER` is told to wait (`Retry-After`).
const PENDING_RETRY_AFTER_SECS: u64 = 5;

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            // The name quoted short, whatever its length.
            CallError::InvalidName(n) => ApiError::bad_request(
                "invalid_procedure_name",
                format!("invalid procedure name {}: {}", quoted(&n.input), n.reason),
            ),
            e @ CallError::NotAllowed(_) => ApiError::Forbidden(e.to_string()),
            e @ CallError::NotFound(_) => ApiError::NotFound { code: "procedure_not_found", message: e.to_string() },
            CallError::Invalid(p) => ApiError::Unprocessable { code: p.code, details: p.details(), message: p.message },
            CallError::Database(d) => d.into(),
            e @ CallError::NotAllowedForClient(_) => ApiError::Forbidden(e.to_string()),
        }
    }
}

/// Longest message made from a parser's error text, which may quote the input.
const MAX_PARSER_MESSAGE_CHARS: usize = 240;

/// Maps actix's JSON body errors onto typed answers (415, 413, 400). An unknown field is its own
/// `400 unknown_field` naming it; parser messages quote input, so they are cut short.
pub fn json_error(err: actix_web::error::JsonPayloadError, limit: usize) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    let bounded = |m: String| truncated(&m, MAX_PARSER_MESSAGE_CHARS);
    match err {
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::PayloadTooLarge { limit },
        E::Deserialize(e) => {
            let text = e.to_string();
            match unknown_field(&text) {
                Some(field) => ApiError::UnknownField {
                    message: format!("unknown field {} in the request body", quoted(field)),
                    field: truncated(field, QUOTED_CHARS),
                },
                None => ApiError::bad_request("invalid_json", bounded(format!("invalid request body: {text}"))),
            }
        }
        other => ApiError::bad_request("invalid_body", bounded(format!("could not read the request body: {other}"))),
    }
}

/// The field serde's `deny_unknown_fields` names: "unknown field `x`, expected one of ...".
fn unknown_field(serde_message: &str) -> Option<&str> {
    let rest = serde_message.strip_prefix("unknown field `")?;
    let end = rest.rfind("`, expected").or_else(|| rest.rfind("`, there are no fields"))?;
    Some(&rest[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_are_read_from_serde_messages() {
        assert_eq!(
            unknown_field("unknown field `delay`, expected one of `name`, `schema` at line 1 column 9"),
            Some("delay")
        );
        assert_eq!(unknown_field("unknown field `a`, b`, there are no fields"), Some("a`, b"));
        assert_eq!(unknown_field("missing field `name` at line 1 column 2"), None);
    }
}
