//! Webhooks over HTTP: `GET /jobs/{id}/deliveries` (a job's delivery log: every attempt, its
//! status code or error, its duration) and the body each delivery carries (the event and the job,
//! as `GET /jobs/{id}/events` and `GET /jobs/{id}` show them).

use actix_web::{web, HttpResponse};
use serde_json::{json, Value as Json};

use crate::auth::Caller;
use crate::model::delivery::{webhook_id, Delivery};
use crate::model::event::JobEvent;
use crate::model::Job;

use super::errors::ApiError;
use super::events::event_json;
use super::jobs::{job_json, parse_id};
use super::AppState;

/// `GET /jobs/{id}/deliveries`: same ownership rule as `GET /jobs/{id}` (a foreign job is 404).
#[utoipa::path(
    get, path = "/jobs/{id}/deliveries", tag = "webhooks", operation_id = "job_deliveries",
    security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id: 32 hex characters", example = "68542aa8129c4b76b2547ca62d8c13de")),
    responses(
        (status = 200, description = "The job's deliveries", body = super::openapi::DeliveryList),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn job_deliveries(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let deliveries = state.queue.deliveries(&id, caller.owner_filter()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "job_id": id,
        "deliveries": deliveries.iter().map(delivery_json).collect::<Vec<_>>(),
    })))
}

fn delivery_json(d: &Delivery) -> Json {
    json!({
        "id": webhook_id(&d.job_id, d.event_id),
        "event_id": d.event_id,
        "event_type": d.event_type.as_str(),
        "url": d.url,
        "status": d.status,
        "attempts": d.attempts,
        "created_at": d.created_at,
        "next_attempt_at": d.next_attempt_at,
        "delivered_at": d.delivered_at,
        "attempt_log": d.attempt_log,
    })
}

/// The `data` of a delivery's body: the event, and the job as it was at the first attempt
/// (`null` if it was deleted meanwhile).
pub fn webhook_data(event: &JobEvent, job: Option<&Job>) -> Json {
    json!({ "event": event_json(event), "job": job.map(job_json) })
}
