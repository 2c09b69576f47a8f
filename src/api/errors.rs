//! Every error the API returns, turned into an HTTP answer in exactly one place:
//! `{"error": {"code", "message", ...details}}` with the right status. Bad input is always a 4xx.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value as Json};

use crate::db::{DbError, DbErrorKind};
use crate::procedure::CallError;

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
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest { code, message: message.into() }
    }

    pub fn job_not_found() -> Self {
        ApiError::NotFound { code: "job_not_found", message: "no such job".into() }
    }

    fn code(&self) -> &'static str {
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
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthorized(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let ApiError::Busy { retry_after_secs, .. } = self {
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

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::InvalidName(n) => ApiError::bad_request("invalid_procedure_name", n.to_string()),
            e @ CallError::NotAllowed(_) => ApiError::Forbidden(e.to_string()),
            e @ CallError::NotFound(_) => ApiError::NotFound { code: "procedure_not_found", message: e.to_string() },
            CallError::Invalid(p) => ApiError::Unprocessable { code: p.code, details: p.details(), message: p.message },
            CallError::Database(d) => d.into(),
        }
    }
}

/// Maps actix's JSON body errors onto typed answers (415, 413, 400).
pub fn json_error(err: actix_web::error::JsonPayloadError, limit: usize) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::ContentType => ApiError::UnsupportedMediaType,
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::PayloadTooLarge { limit },
        E::Deserialize(e) => ApiError::bad_request("invalid_json", format!("invalid request body: {e}")),
        other => ApiError::bad_request("invalid_body", format!("could not read the request body: {other}")),
    }
}
