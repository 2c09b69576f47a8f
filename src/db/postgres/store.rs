//! `async_jobs` on PostgreSQL: every statement the job store runs, each state change a single
//! conditional UPDATE.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::TryFutureExt;
use serde_json::Value as Json;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};

use crate::db::DbError;
use crate::model::callback::Callback;
use crate::model::listing::{ListPage, ListTotal};
use crate::model::{
    timeout_from_ms, timeout_to_ms, AttemptFence, CancelFilter, CancelOutcome, ClaimedJob, DeleteOutcome, Inserted,
    Job, JobError, JobId, JobStatus, ListFilter, NewJob, Outcome, Priority, ProcedureLimit, ProgressReport,
    ProgressUpdate, PurgeFilter, Rescued, RoomPerProcedure,
};

use super::connect::Object;
use super::error::map_error;

/// The channels every instance LISTENs on: new jobs (`procgate_jobs`, notified by the insert)
/// and cancellation requests (`procgate_cancel`, notified by `cancel_running.sql`).
pub(super) const LISTEN_SQL: &str = include_str!("../../../sql/postgres/queries/listen.sql");

/// Creating the schema is serialised by an advisory lock, so instances starting together agree.
pub(super) const PING_SQL: &str = include_str!("../../../sql/postgres/queries/ping.sql");
pub(super) const MIGRATE_LOCK: &str = include_str!("../../../sql/postgres/queries/migrate_lock.sql");
pub(super) const TABLE_SQL: &str = include_str!("../../../sql/postgres/create_async_jobs_table.sql");

/// The channel running instances LISTEN on for cancellation requests (payload: the job id).
pub(super) const CANCEL_CHANNEL: &str = "procgate_cancel";

/// Inserts a batch and notifies listeners in the same transaction (delivered at commit, once).
/// A job whose owner already has its idempotency key is skipped.
const INSERT_SQL: &str = include_str!("../../../sql/postgres/queries/insert_jobs.sql");

const EXISTING_KEYS_SQL: &str = include_str!("../../../sql/postgres/queries/existing_idempotency_keys.sql");

/// Claims the first `$2` due pending jobs: highest priority, then oldest; rows other claimers
/// hold are skipped, never waited for.
const CLAIM_SQL: &str = include_str!("../../../sql/postgres/queries/claim.sql");

/// With per-procedure limits: due pending jobs in claim order (locked), except those of
/// procedures already at their limit; the caller picks within each procedure's room.
const CANDIDATES_SQL: &str = include_str!("../../../sql/postgres/queries/claim_candidates.sql");

/// Claims the picked candidates (already locked by this transaction).
const CLAIM_PICKED_SQL: &str = include_str!("../../../sql/postgres/queries/claim_picked.sql");

/// Claimers that enforce per-procedure limits take turns, so two never count the same free slot.
const LIMITED_CLAIM_LOCK: &str = include_str!("../../../sql/postgres/queries/limited_claim_lock.sql");
/// The claim's planner settings, for its transaction: one plan whatever the statistics say.
const CLAIM_PLAN: &str = include_str!("../../../sql/postgres/queries/claim_plan.sql");
/// A plain claim's transaction opens with its planner settings, in the same message.
const BEGIN_CLAIM: &str = concat!("BEGIN;\n", include_str!("../../../sql/postgres/queries/claim_plan.sql"));
const RUNNING_COUNTS_SQL: &str = include_str!("../../../sql/postgres/queries/running_counts.sql");

const PROGRESS_SQL: &str = include_str!("../../../sql/postgres/queries/record_progress.sql");

/// Ends attempts: terminal, or back to pending (retry) when the outcome's status is `pending`.
/// Its times are the statement's, not the transaction's: a job's completion runs in the
/// transaction of its call, which began before the call did.
/// Conditional on the job still running here, in the same attempt: a late or stale write
/// (after a rescue, a cancel, another instance's claim) changes nothing.
const FINISH_SQL: &str = include_str!("../../../sql/postgres/queries/finish.sql");
/// The transaction of a write that names its jobs opens with its planner setting (a plan made for
/// the table as it is: see by_id_plan.sql).
const BEGIN_BY_ID: &str = concat!("BEGIN;\n", include_str!("../../../sql/postgres/queries/by_id_plan.sql"));

/// A job's completion in its call's transaction; fails with [`FENCE_LOST`] when the fence
/// matches no row.
const COMPLETE_WITH_CALL_SQL: &str = include_str!("../../../sql/postgres/queries/complete_with_call.sql");
/// What `complete_with_call.sql` fails with when the job is no longer this attempt's.
pub(super) const FENCE_LOST: &str = "22012";

const HEARTBEAT_SQL: &str = include_str!("../../../sql/postgres/queries/heartbeat.sql");
/// The state of the jobs the heartbeat skipped (their rows were held), read without locking.
const HEARTBEAT_SKIPPED_SQL: &str = include_str!("../../../sql/postgres/queries/heartbeat_skipped.sql");

const CANCEL_PENDING_SQL: &str = include_str!("../../../sql/postgres/queries/cancel_pending.sql");

const CANCEL_RUNNING_SQL: &str = include_str!("../../../sql/postgres/queries/cancel_running.sql");

/// Running jobs whose instance stopped renewing their lease: retried if attempts remain (and
/// `$2`, orphaned jobs are retryable), failed with code `orphaned` otherwise — or `cancelled` if
/// a cancellation was requested before the instance went away.
const RESCUE_LOST_SQL: &str = include_str!("../../../sql/postgres/queries/rescue_lost.sql");
const END_ORPHANED_SESSIONS_SQL: &str = include_str!("../../../sql/postgres/queries/end_orphaned_sessions.sql");

/// Logged once per process: the gateway's user may not end another session.
static NO_TERMINATE_LOGGED: AtomicBool = AtomicBool::new(false);

const RESCUE_SQL: &str = include_str!("../../../sql/postgres/queries/rescue.sql");

const GET_SQL: &str = include_str!("../../../sql/postgres/queries/get_job.sql");
const COUNT_SQL: &str = include_str!("../../../sql/postgres/queries/count_jobs.sql");
const LIST_SQL: &str = include_str!("../../../sql/postgres/queries/list_jobs.sql");
const ESTIMATE_SQL: &str = include_str!("../../../sql/postgres/queries/estimate_jobs.sql");
const STATUS_SQL: &str = include_str!("../../../sql/postgres/queries/job_status.sql");

const DELETE_SQL: &str = include_str!("../../../sql/postgres/queries/delete_job.sql");

const PURGE_SQL: &str = include_str!("../../../sql/postgres/queries/purge.sql");

pub(super) async fn insert(client: &Object, jobs: &[NewJob]) -> Result<Vec<Inserted>, DbError> {
    let mut answers: Vec<Option<Inserted>> = vec![None; jobs.len()];
    // A key whose job is deleted between the INSERT and the look-up is free again: insert anew.
    for _ in 0..3 {
        let open: Vec<usize> = (0..jobs.len()).filter(|&i| answers[i].is_none()).collect();
        if open.is_empty() {
            break;
        }
        let batch: Vec<NewJob> = open.iter().map(|&i| jobs[i].clone()).collect();
        for (i, answer) in open.into_iter().zip(insert_once(client, &batch).await?) {
            answers[i] = answer;
        }
    }
    answers
        .into_iter()
        .map(|a| a.ok_or_else(|| DbError::unavailable("an idempotency key kept changing hands; try again")))
        .collect()
}

/// One INSERT; `None` for a job whose key is taken by a job that no longer exists.
async fn insert_once(client: &Object, jobs: &[NewJob]) -> Result<Vec<Option<Inserted>>, DbError> {
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    let names: Vec<&str> = jobs.iter().map(|j| j.procedure_name.as_str()).collect();
    let params: Vec<&Json> = jobs.iter().map(|j| &j.params).collect();
    let owners: Vec<&str> = jobs.iter().map(|j| j.owner.as_str()).collect();
    let fns: Vec<bool> = jobs.iter().map(|j| j.is_function).collect();
    let prios: Vec<i16> = jobs.iter().map(|j| j.priority.as_i16()).collect();
    let run_at: Vec<Option<DateTime<Utc>>> = jobs.iter().map(|j| j.run_at).collect();
    let max_attempts: Vec<i32> = jobs.iter().map(|j| j.retry.as_ref().map_or(1, |r| r.max_attempts)).collect();
    let policies: Vec<Option<Json>> =
        jobs.iter().map(|j| j.retry.as_ref().and_then(|r| serde_json::to_value(r).ok())).collect();
    let timeouts: Vec<Option<i64>> = jobs.iter().map(|j| j.timeout.map(timeout_to_ms)).collect();
    let keys: Vec<Option<&str>> = jobs.iter().map(|j| j.idempotency_key.as_deref()).collect();
    let capture: Vec<bool> = jobs.iter().map(|j| j.capture_output).collect();
    let routines: Vec<Option<&str>> = jobs.iter().map(|j| j.routine.as_deref()).collect();
    let callbacks: Vec<Option<Json>> = jobs.iter().map(|j| j.callback.as_ref().map(|c| c.to_json())).collect();
    let retry_of: Vec<Option<&str>> = jobs.iter().map(|j| j.retry_of.as_ref().map(JobId::as_str)).collect();
    let stmt = client.prepare_cached(INSERT_SQL).await.map_err(map_error)?;
    let rows = client
        .query(
            &stmt,
            &[
                &ids,
                &names,
                &params,
                &owners,
                &fns,
                &prios,
                &run_at,
                &max_attempts,
                &policies,
                &timeouts,
                &keys,
                &capture,
                &routines,
                &callbacks,
                &retry_of,
            ],
        )
        .await
        .map_err(map_error)?;
    if rows.len() == jobs.len() {
        return Ok(vec![Some(Inserted::New); jobs.len()]);
    }
    // Some keys were taken: find the jobs that hold them.
    let inserted: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
    let (key_owners, key_values): (Vec<&str>, Vec<&str>) = jobs
        .iter()
        .filter(|j| !inserted.contains(j.id.as_str()))
        .filter_map(|j| Some((j.owner.as_str(), j.idempotency_key.as_deref()?)))
        .unzip();
    let existing: HashMap<(String, String), String> = client
        .query(EXISTING_KEYS_SQL, &[&key_owners, &key_values])
        .await
        .map_err(map_error)?
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    Ok(jobs
        .iter()
        .map(|j| {
            if inserted.contains(j.id.as_str()) {
                return Some(Inserted::New);
            }
            let key = (j.owner.clone(), j.idempotency_key.clone().unwrap_or_default());
            existing.get(&key).map(|id| Inserted::Existing(JobId::from_db(id.clone())))
        })
        .collect())
}

pub(super) async fn claim(
    client: &mut Object,
    instance_id: &str,
    limit: usize,
    limits: &[ProcedureLimit],
) -> Result<Vec<ClaimedJob>, DbError> {
    if limits.is_empty() {
        let stmt = client.prepare_cached(CLAIM_SQL).await.map_err(map_error)?;
        let rows = in_transaction(
            client,
            BEGIN_CLAIM,
            client.query(&stmt, &[&instance_id, &(limit as i64)]).map_err(map_error),
        )
        .await?;
        return Ok(rows.iter().map(claimed_from_row).collect());
    }
    let tx = client.transaction().await.map_err(map_error)?;
    tx.batch_execute(LIMITED_CLAIM_LOCK).await.map_err(map_error)?;
    let running: Vec<(String, i64)> =
        tx.query(RUNNING_COUNTS_SQL, &[]).await.map_err(map_error)?.iter().map(|r| (r.get(0), r.get(1))).collect();
    let mut room = RoomPerProcedure::new(limits, &running);
    let saturated = room.saturated();
    tx.batch_execute(CLAIM_PLAN).await.map_err(map_error)?;
    // Over-fetch a little: some candidates may be over their procedure's remaining room.
    let candidates = tx.query(CANDIDATES_SQL, &[&saturated, &((limit * 2 + 8) as i64)]).await.map_err(map_error)?;
    // The picked candidates' row addresses (ctid).
    let picked: Vec<String> = candidates
        .iter()
        .filter(|r| room.take(&r.get::<_, String>(1)))
        .map(|r| r.get::<_, String>(0))
        .take(limit)
        .collect();
    let rows = tx.query(CLAIM_PICKED_SQL, &[&instance_id, &picked]).await.map_err(map_error)?;
    tx.commit().await.map_err(map_error)?;
    Ok(rows.iter().map(claimed_from_row).collect())
}

fn claimed_from_row(r: &Row) -> ClaimedJob {
    ClaimedJob {
        id: JobId::from_db(r.get(0)),
        procedure_name: r.get(1),
        params: r.get::<_, Option<Json>>(2).unwrap_or(Json::Null),
        is_function: r.get(3),
        attempt: r.get(4),
        retry: r.get::<_, Option<Json>>(5).and_then(|p| serde_json::from_value(p).ok()),
        timeout: r.get::<_, Option<i64>>(6).map(timeout_from_ms),
        capture_output: r.get(7),
        owner: r.get(8),
        waited: Duration::try_from_secs_f64(r.get::<_, Option<f64>>(9).unwrap_or(0.0).max(0.0)).unwrap_or_default(),
    }
}

pub(super) async fn record_progress(
    client: &Object,
    instance_id: &str,
    updates: &[ProgressUpdate],
) -> Result<(), DbError> {
    let ids: Vec<&str> = updates.iter().map(|u| u.id.as_str()).collect();
    let progress: Vec<i16> = updates.iter().map(|u| u.progress).collect();
    let sessions: Vec<Option<&str>> = updates.iter().map(|u| u.session.as_deref()).collect();
    let reports: Vec<Option<&ProgressReport>> = updates.iter().map(|u| u.report.as_ref()).collect();
    let percents: Vec<Option<f64>> = reports.iter().map(|r| r.and_then(|r| r.percent)).collect();
    let messages: Vec<Option<&str>> = reports.iter().map(|r| r.and_then(|r| r.message.as_deref())).collect();
    let processed: Vec<Option<i64>> = reports.iter().map(|r| r.and_then(|r| r.processed)).collect();
    let totals: Vec<Option<i64>> = reports.iter().map(|r| r.and_then(|r| r.total)).collect();
    let stmt = client.prepare_cached(PROGRESS_SQL).await.map_err(map_error)?;
    let params: [&(dyn ToSql + Sync); 8] =
        [&ids, &progress, &instance_id, &sessions, &percents, &messages, &processed, &totals];
    in_transaction(client, BEGIN_BY_ID, client.execute(&stmt, &params).map_err(map_error)).await?;
    Ok(())
}

pub(super) async fn finish(client: &Object, instance_id: &str, outcomes: &[Outcome]) -> Result<Vec<JobId>, DbError> {
    let ids: Vec<&str> = outcomes.iter().map(|o| o.id.as_str()).collect();
    let statuses: Vec<&str> = outcomes.iter().map(|o| o.status.as_str()).collect();
    let results: Vec<Option<&Json>> = outcomes.iter().map(|o| o.result.as_ref()).collect();
    let codes: Vec<Option<&str>> = outcomes.iter().map(|o| o.error.as_ref().map(|e| e.code.as_str())).collect();
    let messages: Vec<Option<&str>> = outcomes.iter().map(|o| o.error.as_ref().map(|e| e.message.as_str())).collect();
    let retry_in: Vec<f64> = outcomes.iter().map(|o| o.retry_in.map_or(0.0, |d| d.as_secs_f64())).collect();
    let attempts: Vec<i32> = outcomes.iter().map(|o| o.attempt).collect();
    let output: Vec<Option<Json>> =
        outcomes.iter().map(|o| o.output.as_ref().and_then(|lines| serde_json::to_value(lines).ok())).collect();
    let stmt = client.prepare_cached(FINISH_SQL).await.map_err(map_error)?;
    let params: [&(dyn ToSql + Sync); 9] =
        [&ids, &statuses, &results, &codes, &messages, &retry_in, &attempts, &instance_id, &output];
    let rows = in_transaction(client, BEGIN_BY_ID, client.query(&stmt, &params).map_err(map_error)).await?;
    Ok(rows.iter().map(|r| JobId::from_db(r.get(0))).collect())
}

/// Runs `statement` in a transaction of its own, opened by `begin` (`BEGIN`, `BEGIN TRANSACTION
/// READ ONLY`, with the statement's `SET LOCAL`s when it has any), sent together with its
/// `COMMIT`: one round trip. The statement's future must not have been polled yet: each request
/// is sent at its future's first poll, and `biased` polls them in the order written. Should the
/// statement fail, the `COMMIT` ends the failed transaction as a rollback. All three are sent at
/// the first poll, so a caller that dropped this future after it would still commit what the
/// statement did: the claimer, the writer and a call await it to the end.
pub(super) async fn in_transaction<T>(
    client: &Object,
    begin: &str,
    statement: impl std::future::Future<Output = Result<T, DbError>>,
) -> Result<T, DbError> {
    let (begun, result, committed) =
        tokio::join!(biased; client.batch_execute(begin), statement, client.batch_execute("COMMIT"));
    begun.map_err(map_error)?;
    let result = result?;
    committed.map_err(map_error)?;
    Ok(result)
}

/// The statement that completes a job in the open transaction of its call (see
/// `complete_with_call.sql`), prepared before it is sent: the caller pipelines it with the
/// COMMIT, which must not overtake it.
pub(super) async fn prepare_complete_with_call(client: &Object) -> Result<Statement, DbError> {
    client.prepare_cached(COMPLETE_WITH_CALL_SQL).await.map_err(map_error)
}

/// Sends the completion (its request is queued at the first poll, before any later one).
pub(super) async fn complete_with_call(
    client: &Object,
    stmt: &Statement,
    fence: &AttemptFence,
    outcome: &Outcome,
) -> Result<(), DbError> {
    let output: Option<Json> = outcome.output.as_ref().and_then(|lines| serde_json::to_value(lines).ok());
    client
        .query_one(stmt, &[&fence.job_id.as_str(), &fence.instance_id, &fence.attempt, &outcome.result, &output])
        .await
        .map_err(map_error)?;
    Ok(())
}

pub(super) async fn heartbeat(client: &Object, instance_id: &str, running: &[JobId]) -> Result<Vec<JobId>, DbError> {
    let ids: Vec<&str> = running.iter().map(JobId::as_str).collect();
    let stmt = client.prepare_cached(HEARTBEAT_SQL).await.map_err(map_error)?;
    let mut rows =
        in_transaction(client, BEGIN_BY_ID, client.query(&stmt, &[&instance_id, &ids]).map_err(map_error)).await?;
    if rows.len() < ids.len() {
        // Skipped (held by another transaction) or no longer ours: ask which without waiting.
        let renewed: HashSet<String> = rows.iter().map(|r| r.get(0)).collect();
        let skipped: Vec<&str> = ids.iter().copied().filter(|id| !renewed.contains(*id)).collect();
        let stmt = client.prepare_cached(HEARTBEAT_SKIPPED_SQL).await.map_err(map_error)?;
        rows.extend(
            in_transaction(client, BEGIN_BY_ID, client.query(&stmt, &[&instance_id, &skipped]).map_err(map_error))
                .await?,
        );
    }
    // Still ours and not to be cancelled: every other job must stop here.
    let keep: HashSet<String> = rows.iter().filter(|r| !r.get::<_, bool>(1)).map(|r| r.get(0)).collect();
    Ok(running.iter().filter(|id| !keep.contains(id.as_str())).cloned().collect())
}

pub(super) async fn cancel(client: &Object, id: &JobId, owner: Option<&str>) -> Result<CancelOutcome, DbError> {
    // Each step is one conditional statement; a job that moves on between them is caught by the next.
    if client.query_opt(CANCEL_PENDING_SQL, &[&id.as_str(), &owner]).await.map_err(map_error)?.is_some() {
        return Ok(CancelOutcome::Cancelled);
    }
    if client.query_opt(CANCEL_RUNNING_SQL, &[&id.as_str(), &owner]).await.map_err(map_error)?.is_some() {
        return Ok(CancelOutcome::Requested);
    }
    let row = client.query_opt(STATUS_SQL, &[&id.as_str(), &owner]).await.map_err(map_error)?;
    Ok(match row {
        None => CancelOutcome::NotFound,
        Some(r) => match r.get::<_, String>(0).parse::<JobStatus>() {
            // It was claimed or released between the statements: try again from the top.
            Ok(JobStatus::Pending | JobStatus::Running) => return Box::pin(cancel(client, id, owner)).await,
            Ok(status) => CancelOutcome::AlreadyEnded(status),
            Err(e) => return Err(DbError::statement("bad_row", e)),
        },
    })
}

/// Ends the sessions of dead instances, then their jobs, in one transaction: the lost jobs
/// stay locked until they are failed or re-queued.
pub(super) async fn rescue(client: &mut Object, lease: Duration, retry_orphans: bool) -> Result<Vec<Rescued>, DbError> {
    let lease = lease.as_secs_f64();
    let tx = client.transaction().await.map_err(map_error)?;
    let lost = tx.query(RESCUE_LOST_SQL, &[&lease]).await.map_err(map_error)?;
    if lost.is_empty() {
        tx.commit().await.map_err(map_error)?;
        return Ok(Vec::new());
    }
    let mut dead_tags = HashSet::new();
    let mut alive_tags = HashSet::new();
    let mut pids = Vec::new();
    let mut ids = Vec::new();
    for row in &lost {
        ids.push(row.get::<_, String>(0));
        let Some(instance) = row.get::<_, Option<String>>(1) else { continue };
        if row.get::<_, bool>(3) {
            alive_tags.insert(super::session_tag(&instance));
            pids.extend(row.get::<_, Option<String>>(2).and_then(|s| s.parse::<i32>().ok()));
        } else {
            dead_tags.insert(super::session_tag(&instance));
        }
    }
    end_orphaned_sessions(&tx, dead_tags.into_iter().collect(), pids, alive_tags.into_iter().collect()).await?;
    let rows = tx.query(RESCUE_SQL, &[&lease, &retry_orphans, &ids]).await.map_err(map_error)?;
    tx.commit().await.map_err(map_error)?;
    rows.iter()
        .map(|r| {
            let status = r.get::<_, String>(1).parse::<JobStatus>().map_err(|e| DbError::statement("bad_row", e))?;
            Ok(Rescued { id: JobId::from_db(r.get(0)), status })
        })
        .collect()
}

/// Terminates what dead instances left running, in a savepoint: without the privilege the
/// rescue goes on (the fence in the job's transaction still keeps the orphan's effects out).
async fn end_orphaned_sessions(
    tx: &tokio_postgres::Transaction<'_>,
    dead_tags: Vec<String>,
    pids: Vec<i32>,
    alive_tags: Vec<String>,
) -> Result<(), DbError> {
    tx.batch_execute("SAVEPOINT end_orphaned_sessions").await.map_err(map_error)?;
    match tx.query(END_ORPHANED_SESSIONS_SQL, &[&dead_tags, &pids, &alive_tags]).await {
        Ok(ended) => {
            for row in ended {
                tracing::warn!(pid = row.get::<_, i32>(0), "ended a database session a dead instance left running");
            }
            tx.batch_execute("RELEASE SAVEPOINT end_orphaned_sessions").await.map_err(map_error)
        }
        Err(e) => {
            if !NO_TERMINATE_LOGGED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    error = %map_error(e),
                    "the rescuer cannot end the sessions dead instances left behind (grant pg_signal_backend to \
                     the gateway's user): their calls run on until the server notices, but their effects are \
                     rolled back, never committed"
                );
            }
            tx.batch_execute("ROLLBACK TO SAVEPOINT end_orphaned_sessions").await.map_err(map_error)
        }
    }
}

pub(super) async fn get(client: &Object, id: &JobId, owner: Option<&str>) -> Result<Option<Job>, DbError> {
    let stmt = client.prepare_cached(GET_SQL).await.map_err(map_error)?;
    let row = client.query_opt(&stmt, &[&id.as_str(), &owner]).await.map_err(map_error)?;
    row.as_ref().map(job_from_row).transpose()
}

/// A page and its total. Both statements are sent unprepared (each listing planned with its own
/// values, so it uses the index of the filters it has) and pipelined on the one connection; the
/// planner's estimate is asked for only when more than the cap match.
pub(super) async fn list(client: &Object, f: &ListFilter) -> Result<ListPage, DbError> {
    let statuses: Option<Vec<&str>> = (!f.statuses.is_empty()).then(|| f.statuses.iter().map(|s| s.as_str()).collect());
    let (after, before) = (&f.created_after, &f.created_before);
    let cursor_at = f.after.as_ref().map(|c| c.created_at);
    let cursor_id = f.after.as_ref().map(|c| c.job_id.as_str());
    let counted_up_to = f.total_cap.saturating_add(1);
    let count_params: [&(dyn ToSql + Sync); 6] = [&statuses, &f.procedure, &f.owner, after, before, &counted_up_to];
    let page_params: [&(dyn ToSql + Sync); 9] =
        [&statuses, &f.procedure, &f.owner, &f.limit, &f.offset, after, before, &cursor_at, &cursor_id];
    let (counted, rows) =
        tokio::try_join!(client.query_one(COUNT_SQL, &count_params), client.query(LIST_SQL, &page_params))
            .map_err(map_error)?;
    let counted: i64 = counted.get(0);
    let estimate = if counted > f.total_cap {
        let plan = client.query_one(ESTIMATE_SQL, &[&statuses, &f.procedure, &f.owner, after, before]).await;
        plan_rows(&plan.map_err(map_error)?.get::<_, serde_json::Value>(0))
    } else {
        None
    };
    let jobs = rows.iter().map(job_from_row).collect::<Result<_, _>>()?;
    Ok(ListPage { total: ListTotal::from_capped(counted, f.total_cap, estimate), jobs })
}

/// The rows the top node of an `EXPLAIN (FORMAT JSON)` plan expects.
fn plan_rows(plan: &serde_json::Value) -> Option<i64> {
    plan.get(0)?.get("Plan")?.get("Plan Rows")?.as_f64().map(|rows| rows as i64)
}

pub(super) async fn delete(client: &Object, id: &JobId, owner: Option<&str>) -> Result<DeleteOutcome, DbError> {
    let deleted = client.query_opt(DELETE_SQL, &[&id.as_str(), &owner]).await.map_err(map_error)?;
    if deleted.is_some() {
        return Ok(DeleteOutcome::Deleted);
    }
    let still = client.query_opt(STATUS_SQL, &[&id.as_str(), &owner]).await.map_err(map_error)?;
    Ok(match still {
        Some(_) => DeleteOutcome::Running,
        None => DeleteOutcome::NotFound,
    })
}

pub(super) async fn purge_batch(client: &Object, f: &PurgeFilter, batch: i64) -> Result<u64, DbError> {
    let statuses: Vec<&str> = f.statuses.iter().filter(|s| s.is_terminal()).map(|s| s.as_str()).collect();
    let days = f.older_than_days.map(|d| d.min(i32::MAX as u32) as i32);
    client.execute(PURGE_SQL, &[&statuses, &days, &f.owner, &batch]).await.map_err(map_error)
}

fn job_from_row(r: &Row) -> Result<Job, DbError> {
    let status: String = r.get(1);
    let status = status.parse::<JobStatus>().map_err(|e| DbError::statement("bad_row", e))?;
    let code: Option<String> = r.get(11);
    let message: Option<String> = r.get(12);
    let error = match (code, message) {
        (None, None) => None,
        (code, message) => {
            Some(JobError { code: code.unwrap_or_else(|| "error".into()), message: message.unwrap_or_default() })
        }
    };
    Ok(Job {
        id: JobId::from_db(r.get(0)),
        status,
        procedure_name: r.get(2),
        params: r.get::<_, Option<Json>>(3).unwrap_or(Json::Null),
        owner: r.get(4),
        progress: r.get(5),
        created_at: r.get::<_, DateTime<Utc>>(6),
        start_time: (status != JobStatus::Pending).then(|| r.get::<_, DateTime<Utc>>(7)),
        end_time: r.get(8),
        duration: r.get(9),
        result: r.get(10),
        error,
        attempts: r.get(13),
        priority: Priority::from_i16(r.get(14)),
        max_attempts: r.get(15),
        attempt_history: r.get(16),
        run_at: r.get(17),
        instance_id: r.get(18),
        cancel_requested: r.get(19),
        output: r.get::<_, Option<Json>>(20).and_then(|o| serde_json::from_value(o).ok()),
        report: ProgressReport::new(r.get(21), r.get(22), r.get(23), r.get(24)),
        callback: r.get::<_, Option<Json>>(25).as_ref().and_then(Callback::from_json),
        is_function: r.get(26),
        retry: r.get::<_, Option<Json>>(27).and_then(|p| serde_json::from_value(p).ok()),
        timeout: r.get::<_, Option<i64>>(28).map(timeout_from_ms),
        capture_output: r.get(29),
        retry_of: r.get::<_, Option<String>>(30).map(JobId::from_db),
    })
}

/// A caller's pending jobs, at most `$2` of them counted.
const COUNT_PENDING_SQL: &str = include_str!("../../../sql/postgres/queries/count_pending.sql");

pub(super) async fn count_pending(client: &Object, owner: &str, cap: i64) -> Result<i64, DbError> {
    let stmt = client.prepare_cached(COUNT_PENDING_SQL).await.map_err(map_error)?;
    Ok(client.query_one(&stmt, &[&owner, &cap]).await.map_err(map_error)?.get(0))
}

/// Bulk cancel: one batch of pending jobs.
const CANCEL_PENDING_MATCHING_SQL: &str = include_str!("../../../sql/postgres/queries/cancel_pending_matching.sql");
/// Bulk cancel: running jobs not yet flagged.
const RUNNING_TO_CANCEL_SQL: &str = include_str!("../../../sql/postgres/queries/running_to_cancel.sql");
/// Retention by count: one batch beyond the newest N of a status.
const PURGE_BEYOND_KEPT_SQL: &str = include_str!("../../../sql/postgres/queries/purge_beyond_kept.sql");

pub(super) async fn cancel_pending_matching(client: &Object, f: &CancelFilter, batch: i64) -> Result<u64, DbError> {
    let stmt = client.prepare_cached(CANCEL_PENDING_MATCHING_SQL).await.map_err(map_error)?;
    client.execute(&stmt, &[&f.procedure, &f.owner, &batch]).await.map_err(map_error)
}

pub(super) async fn running_to_cancel(client: &Object, f: &CancelFilter, limit: i64) -> Result<Vec<JobId>, DbError> {
    let stmt = client.prepare_cached(RUNNING_TO_CANCEL_SQL).await.map_err(map_error)?;
    let rows = client.query(&stmt, &[&f.procedure, &f.owner, &limit]).await.map_err(map_error)?;
    Ok(rows.iter().map(|r| JobId::from_db(r.get(0))).collect())
}

pub(super) async fn purge_beyond_kept(
    client: &Object,
    status: JobStatus,
    keep: i64,
    batch: i64,
) -> Result<u64, DbError> {
    let stmt = client.prepare_cached(PURGE_BEYOND_KEPT_SQL).await.map_err(map_error)?;
    client.execute(&stmt, &[&status.as_str(), &keep, &batch]).await.map_err(map_error)
}
