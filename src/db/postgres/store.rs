//! `async_jobs` on PostgreSQL: every statement the job store runs, each state change a single
//! conditional UPDATE.

use chrono::{DateTime, Utc};
use serde_json::Value as Json;
use tokio_postgres::Row;

use crate::db::DbError;
use crate::jobs::model::{
    ClaimedJob, DeleteOutcome, Job, JobError, JobId, JobStatus, ListFilter, NewJob, Outcome, PurgeFilter,
};

use super::error::map_error;

/// The channel other instances LISTEN on for new jobs.
pub(super) const JOBS_CHANNEL: &str = "procgate_jobs";

/// Creating the schema is serialised by an advisory lock, so instances starting together agree.
pub(super) const MIGRATE_LOCK: &str = "SELECT pg_advisory_xact_lock(7305825160237150001)";
pub(super) const TABLE_SQL: &str = include_str!("../../../sql/postgres/create_async_jobs_table.sql");

/// Inserts a batch and notifies listeners in the same transaction (delivered at commit).
const INSERT_SQL: &str = "
WITH ins AS (
    INSERT INTO async_jobs (job_id, status, procedure_name, params, owner, is_function, priority)
    SELECT t.id, 'pending', t.name, t.params, t.owner, t.is_function, t.priority
      FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::bool[], $6::int2[])
           AS t(id, name, params, owner, is_function, priority)
    RETURNING 1)
SELECT pg_notify('procgate_jobs', count(*)::text) FROM ins";

const CLAIM_SQL: &str = "
UPDATE async_jobs j
   SET status = 'running', progress = 10, start_time = now(), instance_id = $1,
       heartbeat_at = now(), attempts = j.attempts + 1
 WHERE j.job_id = ANY (ARRAY(
           SELECT job_id FROM async_jobs
            WHERE status = 'pending'
            ORDER BY priority DESC, created_at
            LIMIT $2
              FOR UPDATE SKIP LOCKED))
   AND j.status = 'pending'
RETURNING j.job_id, j.procedure_name, j.params, j.is_function";

const PROGRESS_SQL: &str = "
UPDATE async_jobs j SET progress = u.progress
  FROM unnest($1::text[], $2::int2[]) AS u(id, progress)
 WHERE j.job_id = u.id AND j.status = 'running' AND j.progress < u.progress";

const FINISH_SQL: &str = "
UPDATE async_jobs j
   SET status = o.status, progress = 100, end_time = now(),
       duration = round(extract(epoch FROM now() - j.start_time)::numeric, 2)::text || 's',
       result = o.result, error_code = o.code, error_msg = o.message, heartbeat_at = NULL
  FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::text[])
       AS o(id, status, result, code, message)
 WHERE j.job_id = o.id AND j.status = 'running'
RETURNING j.job_id";

const JOB_COLUMNS: &str = "job_id, status, procedure_name, params, owner, progress, created_at, start_time,
       end_time, duration, result, error_code, error_msg, attempts, priority, message";

const LIST_WHERE: &str = "
 WHERE ($1::text[] IS NULL OR status = ANY ($1))
   AND ($2::text IS NULL OR upper(procedure_name) = upper($2))
   AND ($3::text IS NULL OR owner = $3)";

const DELETE_SQL: &str = "
DELETE FROM async_jobs WHERE job_id = $1 AND ($2::text IS NULL OR owner = $2) AND status <> 'running'
RETURNING job_id";

const PURGE_SQL: &str = "
DELETE FROM async_jobs
 WHERE job_id = ANY (ARRAY(
           SELECT job_id FROM async_jobs
            WHERE status = ANY ($1)
              AND ($2::int4 IS NULL OR end_time < now() - make_interval(days => $2))
              AND ($3::text IS NULL OR owner = $3)
            LIMIT $4
              FOR UPDATE SKIP LOCKED))
   AND status = ANY ($1)";

pub(super) async fn insert(client: &deadpool_postgres::Object, jobs: &[NewJob]) -> Result<(), DbError> {
    let ids: Vec<&str> = jobs.iter().map(|j| j.id.as_str()).collect();
    let names: Vec<&str> = jobs.iter().map(|j| j.procedure_name.as_str()).collect();
    let params: Vec<&Json> = jobs.iter().map(|j| &j.params).collect();
    let owners: Vec<&str> = jobs.iter().map(|j| j.owner.as_str()).collect();
    let fns: Vec<bool> = jobs.iter().map(|j| j.is_function).collect();
    let prios: Vec<i16> = jobs.iter().map(|j| j.priority).collect();
    let stmt = client.prepare_cached(INSERT_SQL).await.map_err(map_error)?;
    client.execute(&stmt, &[&ids, &names, &params, &owners, &fns, &prios]).await.map_err(map_error)?;
    Ok(())
}

pub(super) async fn claim(
    client: &deadpool_postgres::Object,
    instance_id: &str,
    limit: usize,
) -> Result<Vec<ClaimedJob>, DbError> {
    let stmt = client.prepare_cached(CLAIM_SQL).await.map_err(map_error)?;
    let rows = client.query(&stmt, &[&instance_id, &(limit as i64)]).await.map_err(map_error)?;
    Ok(rows
        .iter()
        .map(|r| ClaimedJob {
            id: JobId::from_db(r.get(0)),
            procedure_name: r.get(1),
            params: r.get::<_, Option<Json>>(2).unwrap_or(Json::Null),
            is_function: r.get(3),
        })
        .collect())
}

pub(super) async fn record_progress(
    client: &deadpool_postgres::Object,
    updates: &[(JobId, i16)],
) -> Result<(), DbError> {
    let ids: Vec<&str> = updates.iter().map(|(id, _)| id.as_str()).collect();
    let progress: Vec<i16> = updates.iter().map(|(_, p)| *p).collect();
    let stmt = client.prepare_cached(PROGRESS_SQL).await.map_err(map_error)?;
    client.execute(&stmt, &[&ids, &progress]).await.map_err(map_error)?;
    Ok(())
}

pub(super) async fn finish(client: &deadpool_postgres::Object, outcomes: &[Outcome]) -> Result<Vec<JobId>, DbError> {
    let ids: Vec<&str> = outcomes.iter().map(|o| o.id.as_str()).collect();
    let statuses: Vec<&str> = outcomes.iter().map(|o| o.status.as_str()).collect();
    let results: Vec<Option<&Json>> = outcomes.iter().map(|o| o.result.as_ref()).collect();
    let codes: Vec<Option<&str>> = outcomes.iter().map(|o| o.error.as_ref().map(|e| e.code.as_str())).collect();
    let messages: Vec<Option<&str>> = outcomes.iter().map(|o| o.error.as_ref().map(|e| e.message.as_str())).collect();
    let stmt = client.prepare_cached(FINISH_SQL).await.map_err(map_error)?;
    let rows = client.query(&stmt, &[&ids, &statuses, &results, &codes, &messages]).await.map_err(map_error)?;
    Ok(rows.iter().map(|r| JobId::from_db(r.get(0))).collect())
}

pub(super) async fn get(
    client: &deadpool_postgres::Object,
    id: &JobId,
    owner: Option<&str>,
) -> Result<Option<Job>, DbError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM async_jobs WHERE job_id = $1 AND ($2::text IS NULL OR owner = $2)");
    let stmt = client.prepare_cached(&sql).await.map_err(map_error)?;
    let row = client.query_opt(&stmt, &[&id.as_str(), &owner]).await.map_err(map_error)?;
    row.as_ref().map(job_from_row).transpose()
}

pub(super) async fn list(client: &deadpool_postgres::Object, f: &ListFilter) -> Result<(i64, Vec<Job>), DbError> {
    let statuses: Option<Vec<&str>> = (!f.statuses.is_empty()).then(|| f.statuses.iter().map(|s| s.as_str()).collect());
    let count_sql = format!("SELECT count(*) FROM async_jobs {LIST_WHERE}");
    let page_sql = format!(
        "SELECT {JOB_COLUMNS} FROM async_jobs {LIST_WHERE} ORDER BY created_at DESC, job_id LIMIT $4 OFFSET $5"
    );
    let count_stmt = client.prepare_cached(&count_sql).await.map_err(map_error)?;
    let page_stmt = client.prepare_cached(&page_sql).await.map_err(map_error)?;
    let total: i64 =
        client.query_one(&count_stmt, &[&statuses, &f.procedure, &f.owner]).await.map_err(map_error)?.get(0);
    let rows =
        client.query(&page_stmt, &[&statuses, &f.procedure, &f.owner, &f.limit, &f.offset]).await.map_err(map_error)?;
    let jobs = rows.iter().map(job_from_row).collect::<Result<_, _>>()?;
    Ok((total, jobs))
}

pub(super) async fn delete(
    client: &deadpool_postgres::Object,
    id: &JobId,
    owner: Option<&str>,
) -> Result<DeleteOutcome, DbError> {
    let deleted = client.query_opt(DELETE_SQL, &[&id.as_str(), &owner]).await.map_err(map_error)?;
    if deleted.is_some() {
        return Ok(DeleteOutcome::Deleted);
    }
    let still = client
        .query_opt(
            "SELECT status FROM async_jobs WHERE job_id = $1 AND ($2::text IS NULL OR owner = $2)",
            &[&id.as_str(), &owner],
        )
        .await
        .map_err(map_error)?;
    Ok(match still {
        Some(_) => DeleteOutcome::Running,
        None => DeleteOutcome::NotFound,
    })
}

pub(super) async fn purge_batch(
    client: &deadpool_postgres::Object,
    f: &PurgeFilter,
    batch: i64,
) -> Result<u64, DbError> {
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
        priority: r.get(14),
        message: r.get(15),
    })
}
