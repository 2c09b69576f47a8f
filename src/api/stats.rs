//! `GET /stats`: the queue's figures (docs/api.md, `GET /stats`). An admin sees every owner's
//! jobs and the instances; any other caller its own jobs' figures.

use actix_web::{web, HttpResponse};

use crate::auth::Caller;

use super::errors::ApiError;
use super::AppState;

pub async fn stats(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let stats = state.stats.read(caller.owner_filter()).await?;
    Ok(HttpResponse::Ok().json(stats))
}
