//! `/jobs`: read, list, delete, cancel and retry jobs. Non-admin callers only ever see their own
//! jobs; another client's job is reported as not found, never as forbidden (that would confirm it
//! exists).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

use crate::auth::Caller;
use crate::model::listing::ListCursor;
use crate::model::{Job, JobId, JobStatus, ListFilter};

use super::audit::Audited;
use super::errors::ApiError;
use super::events;
use super::AppState;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1000;
/// About 270 years: larger values would overflow the database's date arithmetic.
const MAX_OLDER_THAN_DAYS: u32 = 100_000;

pub(super) fn parse_id(raw: &str) -> Result<JobId, ApiError> {
    // Anything that is not a job id cannot name a job.
    JobId::parse(raw).ok_or_else(ApiError::job_not_found)
}

/// `GET /jobs/{id}`; with `wait` and/or `after`, a long poll (see `events::wait_for_job`).
#[utoipa::path(
    get, path = "/jobs/{id}", tag = "jobs", operation_id = "get_job", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id: 32 hex characters", example = "68542aa8129c4b76b2547ca62d8c13de"), events::WaitQuery),
    responses(
        (status = 200, description = "The job (with `last_event_id` for a long poll)", body = super::openapi::JobBody),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn get_job(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<events::WaitQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    if let Some((wait, after)) = events::long_poll(&query, state.settings.max_wait)? {
        return events::wait_for_job(&state, &caller, &id, wait, after).await;
    }
    let job = state.queue.get(&id, caller.owner_filter()).await?;
    Ok(HttpResponse::Ok().json(job_json(&job)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// A comma list of statuses (any of them).
    #[param(
        pattern = "^(pending|running|completed|failed|cancelled)(,(pending|running|completed|failed|cancelled))*$",
        example = "completed,failed"
    )]
    status: Option<String>,
    /// The procedure's name, as stored.
    #[param(example = "PROC_TEST")]
    procedure: Option<String>,
    /// At most this many (1–1000, default 50; larger is 1000).
    #[param(value_type = Option<i64>, minimum = 0, example = 10)]
    limit: Option<String>,
    /// Skip this many (at most `MAX_LIST_OFFSET`, 10,000 by default; page further with `cursor`).
    /// With `cursor`: skipped after the cursor's position.
    #[param(value_type = Option<i64>, minimum = 0, example = 0)]
    offset: Option<String>,
    /// Admins: one owner's jobs. Others may name only themselves.
    owner: Option<String>,
    /// RFC 3339: jobs created at or after this time.
    #[param(format = DateTime, example = "2026-01-01T00:00:00Z")]
    created_after: Option<String>,
    /// RFC 3339: jobs created before this time.
    #[param(format = DateTime, example = "2036-01-01T00:00:00Z")]
    created_before: Option<String>,
    /// The `next` of the previous page: the jobs after it (opaque; a bad one is 400 `invalid_cursor`).
    #[param(example = "MTc2NzIyNTYwMDEyMzQ1Ni42ODU0MmFhODEyOWM0Yjc2YjI1NDdjYTYyZDhjMTNkZQ")]
    cursor: Option<String>,
}

fn number(name: &str, raw: Option<&str>, default: i64) -> Result<i64, ApiError> {
    match raw {
        None | Some("") => Ok(default),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| ApiError::bad_request("invalid_query", format!("{name} must be a non-negative integer"))),
    }
}

/// A text filter (`procedure=`, `owner=`): absent when empty. A NUL character is refused here
/// (400): no name holds one, and PostgreSQL would refuse the text itself.
pub(super) fn text_filter(name: &str, raw: Option<&str>) -> Result<Option<String>, ApiError> {
    match raw.filter(|v| !v.is_empty()) {
        Some(v) if v.contains('\0') => {
            Err(ApiError::bad_request("invalid_query", format!("{name} must not contain a NUL character")))
        }
        v => Ok(v.map(str::to_string)),
    }
}

fn statuses(raw: Option<&str>) -> Result<Vec<JobStatus>, ApiError> {
    JobStatus::parse_list(raw.unwrap_or_default()).map_err(|e| ApiError::bad_request("invalid_query", e))
}

/// `GET /jobs`: the caller's jobs (an admin's: everyone's), newest first, filtered, paged.
#[utoipa::path(
    get, path = "/jobs", tag = "jobs", operation_id = "list_jobs", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "One page of jobs", body = super::openapi::JobList),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn list_jobs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = number("limit", query.limit.as_deref(), DEFAULT_LIMIT)?.clamp(1, MAX_LIMIT);
    let offset = number("offset", query.offset.as_deref(), 0)?;
    let max_offset = i64::from(state.settings.max_list_offset);
    if offset > max_offset {
        return Err(ApiError::bad_request(
            "offset_too_large",
            format!("offset may be at most {max_offset} (MAX_LIST_OFFSET); page further with cursor=<next>"),
        ));
    }
    let filter = ListFilter {
        statuses: statuses(query.status.as_deref())?,
        procedure: text_filter("procedure", query.procedure.as_deref())?,
        owner: owner_filter(&caller, text_filter("owner", query.owner.as_deref())?.as_deref())?,
        limit,
        offset,
        created_after: timestamp("created_after", query.created_after.as_deref())?,
        created_before: timestamp("created_before", query.created_before.as_deref())?,
        after: cursor(query.cursor.as_deref())?,
        total_cap: i64::from(state.settings.list_total_cap),
    };
    let page = state.queue.list(&filter).await?;
    // A full page may have more after it; a short one is the last.
    let next = (page.jobs.len() as i64 == filter.limit).then(|| page.jobs.last().map(ListCursor::after)).flatten();
    Ok(HttpResponse::Ok().json(json!({
        "total": page.total.count,
        "total_exact": page.total.exact,
        "jobs": page.jobs.iter().map(job_json).collect::<Vec<_>>(),
        "limit": filter.limit,
        "offset": filter.offset,
        "next": next.map(|c| c.encode()),
    })))
}

/// `cursor=`: a `next` this gateway handed out; anything else is 400 `invalid_cursor`.
fn cursor(raw: Option<&str>) -> Result<Option<ListCursor>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(v) => ListCursor::decode(v).map(Some).ok_or_else(|| {
            ApiError::bad_request("invalid_cursor", "cursor must be the `next` of a previous GET /jobs page")
        }),
    }
}

/// Whose jobs a listing shows: an admin's `owner=` (all when absent); a non-admin's own, and
/// `owner=` naming anyone else is refused (403), not silently narrowed.
fn owner_filter(caller: &Caller, asked: Option<&str>) -> Result<Option<String>, ApiError> {
    let asked = asked.filter(|o| !o.is_empty());
    match (caller.owner_filter(), asked) {
        (None, asked) => Ok(asked.map(str::to_string)),
        (Some(own), Some(other)) if other != own => Err(ApiError::OwnerNotAllowed(crate::procedure::quote::truncated(
            other,
            crate::procedure::quote::QUOTED_CHARS,
        ))),
        (Some(own), _) => Ok(Some(own.to_string())),
    }
}

fn timestamp(name: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match raw {
        None | Some("") => Ok(None),
        Some(v) => DateTime::parse_from_rfc3339(v).map(|t| Some(t.with_timezone(&Utc))).map_err(|_| {
            ApiError::bad_request(
                "invalid_query",
                format!("{name} must be an RFC 3339 timestamp such as 2024-05-01T12:00:00Z"),
            )
        }),
    }
}

/// `DELETE /jobs/{id}`: a running job is cancelled first (its call interrupted), then deleted.
#[utoipa::path(
    delete, path = "/jobs/{id}", tag = "jobs", operation_id = "delete_job", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id: 32 hex characters", example = "68542aa8129c4b76b2547ca62d8c13de")),
    responses(
        (status = 200, description = "Deleted", body = super::openapi::JobDeleted),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, response = super::openapi::Conflict),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn delete_job(
    state: web::Data<AppState>,
    caller: Audited,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    state.queue.delete(&id, caller.owner_filter()).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Job deleted", "job_id": id })))
}

/// `POST /jobs/{id}/cancel`: a pending job is cancelled at once; a running job's call is
/// interrupted on whichever instance runs it. Answers with the job once it has ended (200), or
/// 202 if the call has not stopped within `CANCEL_WAIT`.
#[utoipa::path(
    post, path = "/jobs/{id}/cancel", tag = "jobs", operation_id = "cancel_job", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id: 32 hex characters", example = "68542aa8129c4b76b2547ca62d8c13de")),
    responses(
        (status = 200, description = "The job, cancelled", body = super::openapi::JobBody),
        (status = 202, description = "The job, still stopping after CANCEL_WAIT", body = super::openapi::JobBody),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, response = super::openapi::Conflict),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn cancel_job(
    state: web::Data<AppState>,
    caller: Audited,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let cancelled = state.queue.cancel(&id, caller.owner_filter()).await?;
    caller.procedure(&cancelled.job.procedure_name);
    let mut response = if cancelled.ended { HttpResponse::Ok() } else { HttpResponse::Accepted() };
    Ok(response.json(job_json(&cancelled.job)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PurgeQuery {
    /// Ended statuses only: `completed`, `failed`, `cancelled` (a comma list).
    #[param(pattern = "^(completed|failed|cancelled)(,(completed|failed|cancelled))*$", example = "completed,failed")]
    status: Option<String>,
    /// Ended at least this many days ago (0–100000).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 100000, example = 7)]
    older_than: Option<String>,
}

/// `DELETE /jobs?status=completed,failed&older_than=7`: filters AND-combined, terminal jobs only.
#[utoipa::path(
    delete, path = "/jobs", tag = "jobs", operation_id = "delete_jobs", security(("bearer" = [])),
    params(PurgeQuery),
    responses(
        (status = 200, description = "How many were deleted", body = super::openapi::JobsDeleted),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn delete_jobs(
    state: web::Data<AppState>,
    caller: Audited,
    query: web::Query<PurgeQuery>,
) -> Result<HttpResponse, ApiError> {
    let statuses = statuses(query.status.as_deref())?;
    let older_than = match query.older_than.as_deref() {
        None | Some("") => None,
        Some(v) => Some(v.parse::<u32>().ok().filter(|d| *d <= MAX_OLDER_THAN_DAYS).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "older_than must be a whole number of days (at most 100000)")
        })?),
    };
    let deleted = state.queue.purge(statuses, older_than, caller.owner_filter()).await?;
    caller.affected(deleted);
    Ok(HttpResponse::Ok().json(json!({ "message": "Jobs deleted", "deleted": deleted })))
}

/// `POST /jobs/{id}/retry`: a failed or cancelled job runs again as a new job pointing to it
/// (`retry_of`); the old job is unchanged. Answers 202 as `POST /procedure/async` does.
#[utoipa::path(
    post, path = "/jobs/{id}/retry", tag = "jobs", operation_id = "retry_job", security(("bearer" = [])),
    params(("id" = String, Path, description = "The job id: 32 hex characters", example = "68542aa8129c4b76b2547ca62d8c13de")),
    responses(
        (status = 202, description = "The new job", body = super::openapi::RetryAccepted,
            headers(("Location" = String, description = "`/jobs/<new id>`"))),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
        (status = 409, response = super::openapi::Conflict),
        (status = 422, response = super::openapi::Unprocessable),
        (status = 429, response = super::openapi::TooManyRequests),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn retry_job(
    state: web::Data<AppState>,
    caller: Audited,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let new_id = state.queue.retry(&id, caller.owner_filter(), &state.catalog, &caller.access).await?;
    caller.detail(format!("new job: {new_id}"));
    let url = format!("/jobs/{new_id}");
    Ok(HttpResponse::Accepted().insert_header((header::LOCATION, url.clone())).json(json!({
        "status": "accepted",
        "job_id": new_id,
        "retry_of": id,
        "message": "Job accepted (a retry)",
        "check_status_url": url,
    })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CancelQuery {
    /// `pending` and/or `running` (a comma list).
    #[param(pattern = "^(pending|running)(,(pending|running))*$", example = "pending,running")]
    status: Option<String>,
    #[param(example = "PROC_TEST_DEMORA")]
    procedure: Option<String>,
}

/// `POST /jobs/cancel?status=pending,running&procedure=..`: filters AND-combined, at least one.
/// Answers at once with how many pending jobs were cancelled and how many running ones were
/// asked to stop (their calls are interrupted; they end `cancelled` moments later).
#[utoipa::path(
    post, path = "/jobs/cancel", tag = "jobs", operation_id = "cancel_jobs", security(("bearer" = [])),
    params(CancelQuery),
    responses(
        (status = 200, description = "How many were cancelled or asked to stop", body = super::openapi::JobsCancelled),
        (status = 400, response = super::openapi::BadRequest),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
        (status = 503, response = super::openapi::Unavailable),
    ),
)]
pub async fn cancel_jobs(
    state: web::Data<AppState>,
    caller: Audited,
    query: web::Query<CancelQuery>,
) -> Result<HttpResponse, ApiError> {
    let statuses = statuses(query.status.as_deref())?;
    let procedure = text_filter("procedure", query.procedure.as_deref())?;
    let done = state.queue.cancel_matching(statuses, procedure, caller.owner_filter()).await?;
    caller.affected(done.cancelled + done.requested);
    Ok(HttpResponse::Ok().json(json!({ "cancelled": done.cancelled, "requested": done.requested })))
}

/// The job as the predecessor's clients read it, plus procgate's fields.
pub fn job_json(job: &Job) -> Json {
    let duration_ms = match (job.start_time, job.end_time) {
        (Some(s), Some(e)) => Some((e - s).num_milliseconds()),
        _ => None,
    };
    let mut json = json!({
        "id": job.id,
        "status": job.status,
        "procedure_name": job.procedure_name,
        "params": params_map(&job.params),
        "start_time": job.start_time,
        "end_time": job.end_time,
        "duration": job.duration,
        "duration_ms": duration_ms,
        "result": job.result,
        "error": job.error,
        "output": job.output,
        "progress": job.progress,
        "created_at": job.created_at,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "attempt_history": job.attempt_history,
        "priority": job.priority,
        "run_at": job.run_at,
        "cancel_requested": job.cancel_requested,
        "instance_id": job.instance_id,
        "owner": job.owner,
        "callback": job.callback.as_ref().map(|c| c.to_json()),
        "retry_of": job.retry_of,
    });
    // The procedure's own figures, only when it reported any.
    if let Some(report) = &job.report {
        json["report"] = json!(report);
    }
    json
}

/// Stored params are the normalized list; clients see `{name: value}` for the values sent.
fn params_map(params: &Json) -> Json {
    let mut map = Map::new();
    for p in params.as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (p.get("name").and_then(Json::as_str), p.get("value")) {
            map.insert(name.to_string(), value.clone());
        }
    }
    Json::Object(map)
}
