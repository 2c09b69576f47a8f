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
#[utoipa::path(
    get, path = "/ping", tag = "predecessor", operation_id = "ping", security(("bearer" = [])),
    responses(
        (status = 200, description = "The token and the database are fine", body = super::openapi::Ping),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn ping(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    state.queue.ping().await.map_err(|e| ApiError::Unavailable(format!("database not reachable: {}", e.message)))?;
    Ok(HttpResponse::Ok().json(json!({ "status": "ok" })))
}

/// `GET /docs`: the README (the API reference is docs/api.md in the repository; the machine-readable
/// contract is `GET /openapi.json`, which the README's "Elsewhere" line names).
#[utoipa::path(
    get, path = "/docs", tag = "predecessor", operation_id = "docs", security(()),
    responses((status = 200, description = "The README (this document is `/openapi.json`)",
        content_type = "text/markdown; charset=utf-8", body = String)),
)]
pub async fn docs() -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CONTENT_TYPE, "text/markdown; charset=utf-8")).body(README)
}

/// `/query` (any method): raw SQL is not offered, by design.
#[utoipa::path(
    method(get, post), path = "/query", tag = "predecessor", operation_id = "query", security(()),
    responses((status = 404, description = "`raw_sql_not_offered`: there is no SQL endpoint, by design (any method)",
        body = super::openapi::ErrorBody)),
)]
pub async fn query() -> Result<HttpResponse, ApiError> {
    raw_sql()
}

/// `/exec` (any method): as `/query`.
#[utoipa::path(
    method(get, post), path = "/exec", tag = "predecessor", operation_id = "exec", security(()),
    responses((status = 404, description = "`raw_sql_not_offered` (any method)", body = super::openapi::ErrorBody)),
)]
pub async fn exec() -> Result<HttpResponse, ApiError> {
    raw_sql()
}

/// `/upload` (any method): storing files is not procgate's job.
#[utoipa::path(
    method(get, post), path = "/upload", tag = "predecessor", operation_id = "upload", security(()),
    responses((status = 404, description = "`files_not_offered` (any method)", body = super::openapi::ErrorBody)),
)]
pub async fn upload() -> Result<HttpResponse, ApiError> {
    files()
}

/// `/download` (any method): as `/upload`.
#[utoipa::path(
    method(get, post), path = "/download", tag = "predecessor", operation_id = "download", security(()),
    responses((status = 404, description = "`files_not_offered` (any method)", body = super::openapi::ErrorBody)),
)]
pub async fn download() -> Result<HttpResponse, ApiError> {
    files()
}

/// `/query` and `/exec`: raw SQL is not offered, by design.
fn raw_sql() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "raw_sql_not_offered",
        message: "procgate runs allowlisted stored procedures only: there is no endpoint that runs SQL text \
                  (the predecessor's /query and /exec handed the database account to every token holder). \
                  Wrap the statement in a procedure and allowlist it (PROCEDURE_ALLOWLIST)"
            .into(),
    })
}

/// `/upload` and `/download`: storing files is not procgate's job.
fn files() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "files_not_offered",
        message: "procgate does not store files; pass the content to a procedure that stores it (a BLOB or \
                  bytea parameter)"
            .into(),
    })
}

/// `/logs`: procgate writes its log to stderr (journald, docker logs), not to a file it serves.
#[utoipa::path(
    method(get, post), path = "/logs", tag = "predecessor", operation_id = "logs", security(()),
    responses((status = 404, description = "`logs_not_offered` (any method)", body = super::openapi::ErrorBody)),
)]
pub async fn logs() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "logs_not_offered",
        message: "procgate logs to stderr (read it with journalctl, docker logs or your log collector); \
                  job outcomes are in ASYNC_JOBS and their history in ASYNC_JOB_EVENTS"
            .into(),
    })
}
