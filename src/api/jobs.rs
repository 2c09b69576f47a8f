//! `/jobs`: read, list and delete jobs. Non-admin callers only ever see their own jobs; another
//! client's job is reported as not found, never as forbidden (that would confirm it exists).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

use crate::auth::Caller;
use crate::model::{Job, JobId, JobStatus, ListFilter};

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

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    procedure: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
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

fn statuses(raw: Option<&str>) -> Result<Vec<JobStatus>, ApiError> {
    JobStatus::parse_list(raw.unwrap_or_default()).map_err(|e| ApiError::bad_request("invalid_query", e))
}

pub async fn list_jobs(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = number("limit", query.limit.as_deref(), DEFAULT_LIMIT)?.clamp(1, MAX_LIMIT);
    let filter = ListFilter {
        statuses: statuses(query.status.as_deref())?,
        procedure: query.procedure.clone().filter(|p| !p.is_empty()),
        owner: caller.owner_filter().map(str::to_string),
        limit,
        offset: number("offset", query.offset.as_deref(), 0)?,
    };
    let (total, jobs) = state.queue.list(&filter).await?;
    Ok(HttpResponse::Ok().json(json!({
        "total": total,
        "jobs": jobs.iter().map(job_json).collect::<Vec<_>>(),
        "limit": filter.limit,
        "offset": filter.offset,
    })))
}

/// `DELETE /jobs/{id}`: a running job is cancelled first (its call interrupted), then deleted.
pub async fn delete_job(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    state.queue.delete(&id, caller.owner_filter()).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Job deleted", "job_id": id })))
}

/// `POST /jobs/{id}/cancel`: a pending job is cancelled at once; a running job's call is
/// interrupted on whichever instance runs it. Answers with the job once it has ended (200), or
/// 202 if the call has not stopped within `CANCEL_WAIT`.
pub async fn cancel_job(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let cancelled = state.queue.cancel(&id, caller.owner_filter()).await?;
    let mut response = if cancelled.ended { HttpResponse::Ok() } else { HttpResponse::Accepted() };
    Ok(response.json(job_json(&cancelled.job)))
}

#[derive(Debug, Deserialize)]
pub struct PurgeQuery {
    status: Option<String>,
    older_than: Option<String>,
}

/// `DELETE /jobs?status=completed,failed&older_than=7`: filters AND-combined, terminal jobs only.
pub async fn delete_jobs(
    state: web::Data<AppState>,
    caller: Caller,
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
    Ok(HttpResponse::Ok().json(json!({ "message": "Jobs deleted", "deleted": deleted })))
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
