//! The predecessor's (go-oracle-api) other endpoints, so its clients get an answer they can read:
//! `GET /ping` (a token, then the database: `{"status":"ok"}`), `GET /docs` (the README, as
//! markdown), and a JSON 404 that says why for what procgate does not do by design — raw SQL
//! (`/query`, `/exec`), file storage (`/upload`, `/download`) and a log file (`/logs`).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

use crate::auth::Caller;

use super::errors::ApiError;
use super::AppState;

/// The README, as the predecessor's `/docs` served its own.
const README: &str = include_str!("../../README.md");

/// `GET /ping`: the predecessor's authenticated database check (200 `{"status":"ok"}`; an
/// unreachable database is 503 `database_unavailable`, not its 500).
pub async fn ping(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    state.queue.ping().await.map_err(|e| ApiError::Unavailable(format!("database not reachable: {}", e.message)))?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ok" })))
}

/// `GET /docs`: the README (the API reference is docs/api.md in the repository).
pub async fn docs() -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CONTENT_TYPE, "text/markdown; charset=utf-8")).body(README)
}

/// `/query` and `/exec`: raw SQL is not offered, by design.
pub async fn raw_sql() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "raw_sql_not_offered",
        message: "procgate runs allowlisted stored procedures only: there is no endpoint that runs SQL text \
                  (the predecessor's /query and /exec handed the database account to every token holder). \
                  Wrap the statement in a procedure and allowlist it (PROCEDURE_ALLOWLIST)"
            .into(),
    })
}

/// `/upload` and `/download`: storing files is not procgate's job.
pub async fn files() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "files_not_offered",
        message: "procgate does not store files; pass the content to a procedure that stores it (a BLOB or \
                  bytea parameter)"
            .into(),
    })
}

/// `/logs`: procgate writes its log to stderr (journald, docker logs), not to a file it serves.
pub async fn logs() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "logs_not_offered",
        message: "procgate logs to stderr (read it with journalctl, docker logs or your log collector); \
                  job outcomes are in ASYNC_JOBS and their history in ASYNC_JOB_EVENTS"
            .into(),
    })
}
