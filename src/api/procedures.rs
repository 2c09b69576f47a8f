//! `POST /procedure/async` (accept a job) and `POST /procedure` (call and wait).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::auth::Caller;
use crate::db::DbErrorKind;
use crate::jobs::model::{JobId, NewJob, NoProgress};
use crate::procedure::CallRequest;

use super::errors::ApiError;
use super::AppState;

/// Validates the call against the catalog, commits the job as `pending`, answers 202.
pub async fn call_async(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CallRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let params = req.params()?;
    let prepared = state.procedures.prepare(&req.name, req.schema.as_deref(), &params, req.is_function).await?;
    let id = JobId::generate();
    state
        .inserter
        .insert(NewJob {
            id: id.clone(),
            procedure_name: prepared.name.to_string(),
            params: prepared.plan.normalized_json(),
            owner: caller.name,
            is_function: req.is_function,
            priority: 0,
        })
        .await?;
    let url = format!("/jobs/{id}");
    Ok(HttpResponse::Accepted().insert_header((header::LOCATION, url.clone())).json(json!({
        "status": "accepted",
        "job_id": id,
        "message": "Job accepted",
        "check_status_url": url,
    })))
}

/// Runs the call at once and waits up to `SYNC_TIMEOUT`; then interrupts it and answers 504.
pub async fn call_sync(
    state: web::Data<AppState>,
    _caller: Caller,
    body: web::Json<CallRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    let params = req.params()?;
    let prepared = state.procedures.prepare(&req.name, req.schema.as_deref(), &params, req.is_function).await?;
    let cancel = CancellationToken::new();
    let deadline = state.settings.sync_timeout;
    let timer = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            cancel.cancel();
        })
    };
    let result = state.procedures.backend().call(&prepared.plan, &NoProgress, &cancel).await;
    timer.abort();
    match result {
        Ok(out) => Ok(HttpResponse::Ok().json(json!({ "status": "ok", "out": out }))),
        Err(e) if e.kind == DbErrorKind::Cancelled => Err(ApiError::Timeout(format!(
            "the call did not finish within SYNC_TIMEOUT ({deadline:?}) and was cancelled; use POST /procedure/async for long calls"
        ))),
        Err(e) if e.kind == DbErrorKind::Unavailable => Err(e.into()),
        Err(e) => Err(ApiError::Unprocessable {
            code: "procedure_error",
            message: e.message.clone(),
            details: json!({ "db_code": e.code }),
        }),
    }
}
