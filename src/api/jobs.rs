//! `/jobs`: read, list and delete jobs. Non-admin callers only ever see their own jobs; another
//! client's job is reported as not found, never as forbidden (that would confirm it exists).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json};

use crate::auth::Caller;
use crate::jobs::cleaner;
use crate::jobs::control::StopReason;
use crate::jobs::model::{CancelOutcome, DeleteOutcome, Job, JobId, JobStatus, ListFilter, PurgeFilter};

use super::errors::ApiError;
use super::AppState;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1000;
/// About 270 years: larger values would overflow the database's date arithmetic.
const MAX_OLDER_THAN_DAYS: u32 = 100_000;

fn parse_id(raw: &str) -> Result<JobId, ApiError> {
    // Anything that is not a job id cannot name a job.
    JobId::parse(raw).ok_or_else(ApiError::job_not_found)
}

pub async fn get_job(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path)?;
    let job = state.db.store.get(&id, caller.owner_filter()).await?.ok_or_else(ApiError::job_not_found)?;
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
    let (total, jobs) = state.db.store.list(&filter).await?;
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
    let owner = caller.owner_filter();
    let mut outcome = state.db.store.delete(&id, owner).await?;
    if outcome == DeleteOutcome::Running {
        if request_cancel(&state, &id, owner).await? == CancelOutcome::Requested
            && !wait_until_ended(&state, &id).await?
        {
            return Err(ApiError::Conflict {
                code: "job_running",
                message: "cancellation requested, but the call has not stopped yet; delete again shortly".into(),
            });
        }
        outcome = state.db.store.delete(&id, owner).await?;
    }
    match outcome {
        DeleteOutcome::Deleted => Ok(HttpResponse::Ok().json(json!({ "message": "Job deleted", "job_id": id }))),
        DeleteOutcome::NotFound => Err(ApiError::job_not_found()),
        DeleteOutcome::Running => Err(ApiError::Conflict {
            code: "job_running",
            message: "the job started again before it could be deleted; try again".into(),
        }),
    }
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
    let owner = caller.owner_filter();
    match request_cancel(&state, &id, owner).await? {
        CancelOutcome::NotFound => Err(ApiError::job_not_found()),
        CancelOutcome::AlreadyEnded(status) => Err(ApiError::Conflict {
            code: "job_ended",
            message: format!("the job has already ended ({status}); there is nothing to cancel"),
        }),
        CancelOutcome::Cancelled | CancelOutcome::Requested => {
            let ended = wait_until_ended(&state, &id).await?;
            let job = state.db.store.get(&id, owner).await?.ok_or_else(ApiError::job_not_found)?;
            let mut response = if ended { HttpResponse::Ok() } else { HttpResponse::Accepted() };
            Ok(response.json(job_json(&job)))
        }
    }
}

async fn request_cancel(state: &AppState, id: &JobId, owner: Option<&str>) -> Result<CancelOutcome, ApiError> {
    let outcome = state.db.store.cancel(id, owner).await?;
    if outcome == CancelOutcome::Requested {
        // Running here: interrupt now. Elsewhere: NOTIFY or the heartbeat tells its instance.
        state.running.stop(id, StopReason::Requested);
    }
    Ok(outcome)
}

/// Polls the job until it is no longer running, for at most `CANCEL_WAIT`.
async fn wait_until_ended(state: &AppState, id: &JobId) -> Result<bool, ApiError> {
    let deadline = tokio::time::Instant::now() + state.settings.cancel_wait;
    loop {
        match state.db.store.get(id, None).await? {
            Some(job) if job.status == JobStatus::Running => {}
            _ => return Ok(true),
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
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
    let mut statuses = statuses(query.status.as_deref())?;
    let older_than = match query.older_than.as_deref() {
        None | Some("") => None,
        Some(v) => Some(v.parse::<u32>().ok().filter(|d| *d <= MAX_OLDER_THAN_DAYS).ok_or_else(|| {
            ApiError::bad_request("invalid_query", "older_than must be a whole number of days (at most 100000)")
        })?),
    };
    if statuses.is_empty() && older_than.is_none() {
        return Err(ApiError::bad_request(
            "missing_filter",
            "give status (e.g. completed,failed) and/or older_than (days); deleting every job is not allowed",
        ));
    }
    if let Some(s) = statuses.iter().find(|s| !s.is_terminal()) {
        return Err(ApiError::bad_request(
            "invalid_query",
            format!("only ended jobs (completed, failed, cancelled) can be deleted in bulk, not {s}"),
        ));
    }
    if statuses.is_empty() {
        statuses = JobStatus::TERMINAL.to_vec();
    }
    let filter =
        PurgeFilter { statuses, older_than_days: older_than, owner: caller.owner_filter().map(str::to_string) };
    let deleted = cleaner::purge(&*state.db.store, &filter).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": "Jobs deleted", "deleted": deleted })))
}

/// The job as the predecessor's clients read it, plus procgate's fields.
pub fn job_json(job: &Job) -> Json {
    let duration_ms = match (job.start_time, job.end_time) {
        (Some(s), Some(e)) => Some((e - s).num_milliseconds()),
        _ => None,
    };
    json!({
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
    })
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
