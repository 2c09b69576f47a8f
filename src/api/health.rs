//! `GET /health` (the process answers) and `GET /ready` (the database answers too).

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::errors::ApiError;
use super::AppState;

/// The process answers (no token, no database).
#[utoipa::path(
    get, path = "/health", tag = "health", operation_id = "health", security(()),
    responses((status = 200, description = "The process answers", body = super::openapi::Health)),
)]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// The database answers too (no token).
#[utoipa::path(
    get, path = "/ready", tag = "health", operation_id = "ready", security(()),
    responses(
        (status = 200, description = "The database answers", body = super::openapi::Ready),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.queue.ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({ "status": "ready", "database": state.database }))),
        Err(e) => Err(ApiError::Unavailable(format!("database not reachable: {}", e.message))),
    }
}
