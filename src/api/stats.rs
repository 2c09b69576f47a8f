//! `GET /stats`: the queue's figures (docs/api.md, `GET /stats`). An admin sees every owner's
//! jobs and the instances; any other caller its own jobs' figures.

use actix_web::{web, HttpResponse};

use crate::auth::Caller;

use super::errors::ApiError;
use super::AppState;

/// `GET /stats`.
#[utoipa::path(
    get, path = "/stats", tag = "operations", operation_id = "stats", security(("bearer" = [])),
    responses(
        (status = 200, description = "The queue's figures", body = crate::jobs::stats::QueueStats),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn stats(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let stats = state.stats.read(caller.owner_filter()).await?;
    Ok(HttpResponse::Ok().json(stats))
}
