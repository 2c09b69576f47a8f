//! `GET /health` (the process answers) and `GET /ready` (the database answers too).

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::errors::ApiError;
use super::AppState;

pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    match state.queue.ping().await {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({ "status": "ready", "database": state.database }))),
        Err(e) => Err(ApiError::Unavailable(format!("database not reachable: {}", e.message))),
    }
}
