//! Job events over HTTP: `GET /jobs/{id}/events` and `GET /events` as Server-Sent Events, and
//! the long poll `GET /jobs/{id}?wait=30s&after=N`. An event's SSE `id` is its event id, so a
//! client that reconnects with `Last-Event-ID` (browsers' EventSource do it by themselves)
//! resumes without a gap or a repeat.

use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value as Json};

use crate::auth::Caller;
use crate::config::parse_duration;
use crate::jobs::events::feed::FeedFilter;
use crate::jobs::events::EventReader;
use crate::model::event::JobEvent;
use crate::model::JobStatus;

use super::errors::ApiError;
use super::jobs::{job_json, parse_id};
use super::AppState;

/// A comment line this often keeps idle streams open through proxies.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    /// Resume after this event id (as `Last-Event-ID`).
    #[param(value_type = Option<i64>, minimum = 0, example = 0)]
    after: Option<String>,
    /// `GET /events`: jobs in these statuses only (a comma list).
    #[param(
        pattern = "^(pending|running|completed|failed|cancelled)(,(pending|running|completed|failed|cancelled))*$",
        example = "running"
    )]
    status: Option<String>,
    /// `GET /events`: this procedure's jobs only.
    #[param(example = "PROC_TEST")]
    procedure: Option<String>,
}

/// Where a stream resumes: `Last-Event-ID` (what EventSource sends on reconnect) or `?after=`.
fn resume_point(req: &HttpRequest, after: Option<&str>) -> Result<Option<i64>, ApiError> {
    let header = req.headers().get("last-event-id").map(|v| v.to_str().unwrap_or("invalid"));
    match header.or(after).map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).map(Some).ok_or_else(|| {
            ApiError::bad_request("invalid_event_id", "Last-Event-ID / after must be a non-negative event id")
        }),
    }
}

/// `GET /jobs/{id}/events`: the job's history, then its live events; ends after its last one.
#[utoipa::path(
    get, path = "/jobs/{id}/events", tag = "events", operation_id = "job_events", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id: 32 hex characters", example = "68542aa8129c4b76b2547ca62d8c13de"),
        ("after" = Option<i64>, Query, description = "Resume after this event id (as `Last-Event-ID`)", minimum = 0),
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id", minimum = 0)),
    responses(
        (status = 200, description = "Server-Sent Events: `id:` the event id, `event:` its type, `data:` an `EventBody` \
            (`#/components/schemas/EventBody`); a `: keep-alive` comment when quiet; `event: error` if the database fails",
            content_type = "text/event-stream", body = super::openapi::SseEvent),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn job_events(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    req: HttpRequest,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let after = resume_point(&req, query.after.as_deref())?.unwrap_or(0);
    let watch = state.queue.watch(&id, caller.owner_filter(), after).await?;
    Ok(sse_response().streaming(sse_stream(watch)))
}

/// `GET /events?status=..&procedure=..`: every event of the caller's jobs (every job's for an
/// admin) from now on, or after `Last-Event-ID`. Ends only when the client or the server goes.
#[utoipa::path(
    get, path = "/events", tag = "events", operation_id = "all_events", security(("bearer" = [])),
    params(StreamQuery,
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this event id", minimum = 0)),
    responses(
        (status = 200, description = "Server-Sent Events: `id:` the event id, `event:` its type, `data:` an `EventBody` \
            (`#/components/schemas/EventBody`); a `: keep-alive` comment when quiet; `event: error` if the database fails",
            content_type = "text/event-stream", body = super::openapi::SseEvent),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn all_events(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    query: web::Query<StreamQuery>,
) -> Result<HttpResponse, ApiError> {
    let after = resume_point(&req, query.after.as_deref())?;
    let statuses = JobStatus::parse_list(query.status.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request("invalid_query", e))?;
    let filter = FeedFilter {
        owner: caller.owner_filter().map(str::to_string),
        statuses,
        procedure: super::jobs::text_filter("procedure", query.procedure.as_deref())?,
    };
    let feed = state.queue.feed(filter, after).await?;
    Ok(sse_response().streaming(sse_stream(feed)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// A long poll: wait up to this long (`30s`, `500ms`; at most MAX_WAIT) for an event.
    #[param(example = "1s")]
    wait: Option<String>,
    /// A long poll: for an event after this one.
    #[param(value_type = Option<i64>, minimum = 0, example = 0)]
    after: Option<String>,
}

/// The long poll's parameters, when given: how long to wait (capped by `MAX_WAIT`) and after
/// which event.
pub fn long_poll(query: &WaitQuery, max_wait: Duration) -> Result<Option<(Duration, i64)>, ApiError> {
    if query.wait.is_none() && query.after.is_none() {
        return Ok(None);
    }
    let wait = match query.wait.as_deref().map(str::trim).filter(|w| !w.is_empty()) {
        None => Duration::ZERO,
        Some(w) => parse_duration(w).map_err(|e| ApiError::bad_request("invalid_wait", e))?,
    };
    if wait > max_wait {
        return Err(ApiError::bad_request(
            "invalid_wait",
            format!("wait must be at most {} (MAX_WAIT)", humantime::format_duration(max_wait)),
        ));
    }
    let after = match query.after.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        None => 0,
        Some(a) => a
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::bad_request("invalid_query", "after must be a non-negative event id"))?,
    };
    Ok(Some((wait, after)))
}

/// `GET /jobs/{id}?wait=30s&after=N`: answers as soon as the job has an event after `N` (or
/// when `wait` is over) with the job and `last_event_id`, the `after` of the next poll.
pub async fn wait_for_job(
    state: &AppState,
    caller: &Caller,
    id: &crate::model::JobId,
    wait: Duration,
    after: i64,
) -> Result<HttpResponse, ApiError> {
    let (job, last) = state.queue.wait_for_event(id, caller.owner_filter(), after, wait).await?;
    let mut body = job_json(&job);
    body["last_event_id"] = json!(last);
    Ok(HttpResponse::Ok().json(body))
}

/// A reader's events as an SSE body: one event each, a keep-alive comment when it is quiet, an
/// `error` event (and the end) if the database fails under it.
fn sse_stream<R: EventReader + 'static>(
    reader: R,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(Some(reader), |reader| async move {
        let mut reader = reader?;
        let chunk = match tokio::time::timeout(KEEP_ALIVE, reader.next_event()).await {
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
            Ok(Ok(Some(event))) => sse_event(&event),
            Ok(Ok(None)) => return None,
            Ok(Err(e)) => return Some((Ok(sse_error(&e.to_string())), None)),
        };
        Some((Ok(chunk), Some(reader)))
    })
}

fn sse_response() -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, "text/event-stream"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"));
    response
}

fn sse_event(event: &Arc<JobEvent>) -> Bytes {
    Bytes::from(format!("id: {}\nevent: {}\ndata: {}\n\n", event.event_id, event.event_type, event_json(event)))
}

fn sse_error(message: &str) -> Bytes {
    let data = json!({ "error": { "code": "database_unavailable", "message": message } });
    Bytes::from(format!("event: error\ndata: {data}\n\n"))
}

/// An event as clients read it (SSE `data`, webhook bodies).
pub fn event_json(e: &JobEvent) -> Json {
    let mut body = json!({
        "event_id": e.event_id,
        "type": e.event_type.as_str(),
        "job_id": e.job_id,
        "at": e.at,
        "status": e.status,
        "progress": e.progress,
        "attempt": e.attempt,
        "procedure_name": e.procedure_name,
        "owner": e.owner,
    });
    if let Some(error) = &e.error {
        body["error"] = json!(error);
    }
    if let Some(message) = &e.message {
        body["message"] = json!(message);
    }
    let f = &e.figures;
    if f.percent.is_some() || f.processed.is_some() || f.total.is_some() || e.message.is_some() {
        let mut report = serde_json::Map::new();
        if let Some(p) = f.percent {
            report.insert("percent".into(), json!(p));
        }
        if let Some(m) = &e.message {
            report.insert("message".into(), json!(m));
        }
        if let Some(n) = f.processed {
            report.insert("processed".into(), json!(n));
        }
        if let Some(n) = f.total {
            report.insert("total".into(), json!(n));
        }
        body["report"] = Json::Object(report);
    }
    if let Some(at) = e.run_at {
        body["retry_at"] = json!(at);
    }
    body
}
