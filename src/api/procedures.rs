//! `POST /procedure/async` (accept a job) and `POST /procedure` (call and wait).

use actix_web::http::header;
use std::time::{Duration, Instant};

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::request::CallRequest;
use crate::config::Settings;
use crate::db::output::RESULT_TOO_LARGE;
use crate::db::{CallFailure, DbErrorKind};
use crate::jobs::control::cancel_after;
use crate::model::retry::RetryPolicy;
use crate::model::{Inserted, JobId, NewJob, Priority};
use crate::procedure::plan::ParamRequest;
use crate::procedure::quote::quoted;

use super::audit::Audited;
use super::callbacks;
use super::errors::ApiError;
use super::AppState;

/// Validates the call against the catalog, commits the job as `pending`, answers 202 (or 200
/// with the existing job when the caller's `Idempotency-Key` was used before).
#[utoipa::path(
    post, path = "/procedure/async", tag = "procedures", operation_id = "call_async", security(("bearer" = [])),
    request_body(content = CallRequest, description = "The procedure and its parameters (the predecessor's shape)",
        content_type = "application/json"),
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 200 visible ASCII characters: sent \
        again, the same job is answered (200)", pattern = "^[!-~]{1,200}$", example = "order-42")),
    responses(
        (status = 202, description = "Accepted: the job is stored as `pending`", body = super::openapi::Accepted,
            headers(("Location" = String, description = "`/jobs/<id>`"))),
        (status = 200, description = "The job this `Idempotency-Key` made before", body = super::openapi::Accepted,
            headers(("Location" = String), ("Idempotent-Replayed" = String, description = "`true`"))),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 413, response = super::openapi::PayloadTooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 429, response = super::openapi::TooManyRequests),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn call_async(
    state: web::Data<AppState>,
    caller: Audited,
    request: HttpRequest,
    body: web::Json<CallRequest>,
) -> Result<HttpResponse, ApiError> {
    let req = body.into_inner();
    caller.call(&req);
    let idempotency_key = idempotency_key(&request)?;
    let options = job_options(&req, &state.settings)?;
    let params = checked_params(&req, &state.settings)?;
    let callback = callbacks::resolve(req.callback.as_ref(), &caller.name, &state.settings.webhooks)?;
    let client_list = caller.access.procedures.as_deref();
    let prepared =
        state.catalog.prepare_within(client_list, &req.name, req.schema.as_deref(), &params, req.is_function).await?;
    let id = JobId::generate();
    state.queue.check_quota(&caller.name, caller.access.max_pending).await?;
    let inserted = state
        .queue
        .submit(NewJob {
            id: id.clone(),
            procedure_name: prepared.name.to_string(),
            params: prepared.plan.normalized_json(),
            owner: caller.name.clone(),
            is_function: req.is_function,
            priority: options.priority,
            run_at: options.run_at,
            retry: options.retry,
            timeout: options.timeout,
            idempotency_key,
            capture_output: req.capture_output,
            routine: Some(prepared.plan.signature.canonical_name()),
            callback,
            retry_of: None,
        })
        .await?;
    let (mut response, id, message) = match inserted {
        Inserted::New => (HttpResponse::Accepted(), id, "Job accepted"),
        Inserted::Existing(existing) => {
            let mut ok = HttpResponse::Ok();
            ok.insert_header(("Idempotent-Replayed", "true"));
            (ok, existing, "A job with this Idempotency-Key exists already; this is that job")
        }
    };
    caller.job(&id);
    let url = format!("/jobs/{id}");
    Ok(response.insert_header((header::LOCATION, url.clone())).json(json!({
        "status": "accepted",
        "job_id": id,
        "message": message,
        "check_status_url": url,
    })))
}

/// The job options of a request, checked.
struct JobOptions {
    priority: Priority,
    run_at: Option<DateTime<Utc>>,
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::Unprocessable { code: "invalid_option", message: message.into(), details: json!({ "field": field }) }
}

fn job_options(req: &CallRequest, settings: &Settings) -> Result<JobOptions, ApiError> {
    let priority = match req.priority.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("normal") => Priority::Normal,
        Some("high") => Priority::High,
        Some("low") => Priority::Low,
        Some(other) => {
            return Err(invalid("priority", format!("priority {}: expected high, normal or low", quoted(other))))
        }
    };
    // RUN_AT_HORIZON bounds how far ahead a job may wait; a past run_at runs at once.
    let horizon = settings.run_at_horizon;
    let latest = Utc::now() + chrono::Duration::from_std(horizon).unwrap_or(chrono::Duration::MAX);
    let run_at = match (&req.run_at, req.delay_seconds) {
        (Some(_), Some(_)) => return Err(invalid("run_at", "give run_at or delay_seconds, not both")),
        (Some(t), None) => {
            let at = DateTime::parse_from_rfc3339(t)
                .map_err(|_| invalid("run_at", format!("run_at {} is not an RFC 3339 timestamp", quoted(t))))?
                .with_timezone(&Utc);
            if at > latest {
                return Err(invalid(
                    "run_at",
                    format!("run_at is further ahead than RUN_AT_HORIZON ({})", humantime::format_duration(horizon)),
                ));
            }
            Some(at)
        }
        (None, Some(d)) if d >= 0.0 && d <= horizon.as_secs_f64() => {
            Some(Utc::now() + chrono::Duration::milliseconds((d * 1000.0) as i64))
        }
        (None, Some(_)) => {
            return Err(invalid(
                "delay_seconds",
                format!("delay_seconds must be between 0 and {} (RUN_AT_HORIZON)", horizon.as_secs_f64()),
            ))
        }
        (None, None) => None,
    };
    if let Some(policy) = &req.retry {
        policy.validate().map_err(|m| invalid("retry", m))?;
    }
    let timeout = match req.timeout_seconds {
        None => None,
        Some(t) if t > 0.0 && t.is_finite() => {
            // Capped, as documented: a request cannot outlast MAX_JOB_TIMEOUT.
            let asked = Duration::try_from_secs_f64(t).unwrap_or(Duration::MAX);
            Some(asked.clamp(Duration::from_millis(1), settings.max_job_timeout))
        }
        Some(_) => return Err(invalid("timeout_seconds", "timeout_seconds must be greater than 0")),
    };
    Ok(JobOptions { priority, run_at, retry: req.retry.clone(), timeout })
}

/// The request's parameters, refused with 413 when there are more than `MAX_PARAMS` (before
/// any per-parameter work), then with their direction and type words checked.
fn checked_params(req: &CallRequest, settings: &Settings) -> Result<Vec<ParamRequest>, ApiError> {
    if req.params.len() > settings.max_params {
        return Err(ApiError::TooManyParameters { count: req.params.len(), limit: settings.max_params });
    }
    Ok(req.params()?)
}

/// `Idempotency-Key`: 1 to 200 visible ASCII characters.
fn idempotency_key(request: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(value) = request.headers().get("idempotency-key") else { return Ok(None) };
    match value.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 200 && k.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(k.to_string())),
        _ => Err(ApiError::bad_request("invalid_header", "Idempotency-Key must be 1 to 200 visible ASCII characters")),
    }
}

/// Runs the call at once and waits up to `SYNC_TIMEOUT`, counted from the request's arrival;
/// then interrupts it and answers 504. At most `SYNC_CONCURRENCY` run at once on an instance:
/// past that the answer is an immediate 503 with `Retry-After`, never a queue. The answer says
/// how long the call waited for a connection and how long it took in all (the `Server-Timing`
/// header; and `timing` in the body of an error).
#[utoipa::path(
    post, path = "/procedure", tag = "procedures", operation_id = "call_sync", security(("bearer" = [])),
    request_body(content = CallRequest, description = "The procedure and its parameters (the predecessor's shape)",
        content_type = "application/json"),
    responses(
        (status = 200, description = "The call's OUT values", body = super::openapi::SyncAnswer,
            headers(("Server-Timing" = String, description = "`wait;dur=..., total;dur=...` (ms)"))),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 413, response = super::openapi::PayloadTooLarge),
        (status = 415, response = super::openapi::UnsupportedMediaType),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 503, response = super::openapi::Unavailable),
        (status = 504, response = super::openapi::GatewayTimeout),
    ),
)]
pub async fn call_sync(
    state: web::Data<AppState>,
    caller: Audited,
    body: web::Json<CallRequest>,
) -> Result<HttpResponse, ApiError> {
    let arrived = Instant::now();
    caller.call(&body);
    let Ok(_slot) = state.sync_calls.clone().try_acquire_owned() else {
        return Err(ApiError::Busy {
            message: format!(
                "this instance is running its maximum of {} synchronous calls (SYNC_CONCURRENCY); try again \
                 shortly, or use POST /procedure/async",
                state.settings.sync_concurrency
            ),
            retry_after_secs: 1,
        });
    };
    let req = body.into_inner();
    let params = checked_params(&req, &state.settings)?;
    let client_list = caller.access.procedures.as_deref();
    let mut prepared =
        state.catalog.prepare_within(client_list, &req.name, req.schema.as_deref(), &params, req.is_function).await?;
    prepared.plan.capture_output = req.capture_output;
    let deadline = state.settings.sync_timeout;
    let cancel = state.calls_stop.child_token();
    let timer = {
        let cancel = cancel.clone();
        cancel_after(deadline.saturating_sub(arrived.elapsed()), move || cancel.cancel())
    };
    let result = state.catalog.backend().call(&prepared.plan, &cancel).await;
    drop(timer);
    let waited = match &result {
        Ok(done) => done.waited,
        Err(failure) => failure.waited,
    };
    let timing = Timing { total: arrived.elapsed(), waited };
    match result {
        Ok(done) => {
            // The predecessor's shape; the time spent is in the `Server-Timing` header.
            let mut answer = json!({ "status": "ok", "out": done.values });
            if let Some(output) = done.output {
                answer["output"] = json!(output);
            }
            Ok(HttpResponse::Ok().insert_header(timing.header()).json(answer))
        }
        Err(CallFailure { error: e, .. }) if e.kind == DbErrorKind::Cancelled && state.calls_stop.is_cancelled() => {
            Err(ApiError::ShuttingDown)
        }
        Err(CallFailure { error: e, .. }) if e.kind == DbErrorKind::Cancelled => Err(ApiError::Timeout {
            message: format!(
                "the call did not finish within SYNC_TIMEOUT ({deadline:?}, of which {} ms waiting for a free \
                 connection) and was cancelled; use POST /procedure/async for long calls",
                waited.as_millis()
            ),
            details: json!({ "timing": timing.json() }),
        }),
        Err(CallFailure { error: e, .. }) if e.kind == DbErrorKind::Unavailable => Err(e.into()),
        Err(CallFailure { error: e, .. }) if e.code == RESULT_TOO_LARGE => Err(ApiError::Unprocessable {
            code: RESULT_TOO_LARGE,
            message: e.message,
            details: json!({ "timing": timing.json() }),
        }),
        Err(CallFailure { error: e, output, .. }) => {
            let mut details = json!({ "db_code": e.code, "timing": timing.json() });
            if let Some(output) = output {
                details["output"] = json!(output);
            }
            Err(ApiError::Unprocessable { code: "procedure_error", message: e.message.clone(), details })
        }
    }
}

/// Where a synchronous call's time went.
struct Timing {
    /// From the request's arrival to the answer.
    total: Duration,
    /// Waiting for a free call connection.
    waited: Duration,
}

impl Timing {
    fn json(&self) -> serde_json::Value {
        json!({ "total_ms": self.total.as_millis() as u64, "waited_ms": self.waited.as_millis() as u64 })
    }

    fn header(&self) -> (&'static str, String) {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        ("Server-Timing", format!("wait;dur={:.1}, total;dur={:.1}", ms(self.waited), ms(self.total)))
    }
}
