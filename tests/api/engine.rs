//! The job engine's guarantees: one writer, terminal states are final, several instances share
//! one table and run each job exactly once, wake-ups need no polling, retention deletes exactly
//! the old ended jobs. Written against the backend traits and the HTTP API.

use std::collections::HashSet;
use std::sync::Arc;

use procgate::db::{ConnectOptions, Database};
use procgate::model::CancelOutcome;
use procgate::model::{JobError, JobId, JobStatus, NewJob, Outcome, ProgressUpdate};
use serde_json::json;

use crate::helpers::*;

fn new_job(name: &str) -> NewJob {
    NewJob::new(name, json!([]), "admin")
}

#[tokio::test]
async fn a_terminal_job_never_changes_again() {
    let db = TestDatabase::create().await;
    let database = Database::connect(&db.url, &ConnectOptions::new("test", 4)).await.unwrap();
    let store = &database.store;
    let job = new_job("PROC_TEST");
    store.insert(std::slice::from_ref(&job)).await.unwrap();
    let claimed = store.claim("instance-a", 10, &[]).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(store.get(&job.id, None).await.unwrap().unwrap().progress, 10);
    store.record_progress("instance-a", &[ProgressUpdate::new(job.id.clone(), 50)]).await.unwrap();
    let done = Outcome {
        id: job.id.clone(),
        attempt: 1,
        status: JobStatus::Completed,
        result: Some(json!({"p": 1})),
        error: None,
        retry_in: None,
        output: Some(vec!["kept".into()]),
    };
    // Another instance, or an earlier attempt, cannot end it.
    assert!(store.finish("instance-b", std::slice::from_ref(&done)).await.unwrap().is_empty());
    assert!(store.finish("instance-a", &[Outcome { attempt: 0, ..done.clone() }]).await.unwrap().is_empty());
    assert_eq!(store.finish("instance-a", std::slice::from_ref(&done)).await.unwrap(), vec![job.id.clone()]);

    // Late writes of every kind: a stale milestone, a second outcome, a retry, a rescue, a cancel.
    store.record_progress("instance-a", &[ProgressUpdate::new(job.id.clone(), 80)]).await.unwrap();
    let late = Outcome {
        id: job.id.clone(),
        attempt: 1,
        status: JobStatus::Failed,
        result: None,
        error: Some(JobError { code: "late".into(), message: "late".into() }),
        retry_in: None,
        output: Some(vec!["late".into()]),
    };
    assert!(
        store.finish("instance-a", std::slice::from_ref(&late)).await.unwrap().is_empty(),
        "a second outcome was written"
    );
    let retry = Outcome { status: JobStatus::Pending, retry_in: Some(std::time::Duration::ZERO), ..late };
    assert!(store.finish("instance-a", &[retry]).await.unwrap().is_empty(), "a completed job went back to pending");
    assert!(store.rescue(std::time::Duration::ZERO, true).await.unwrap().is_empty());
    assert_eq!(store.cancel(&job.id, None).await.unwrap(), CancelOutcome::AlreadyEnded(JobStatus::Completed));
    assert!(store.claim("instance-b", 10, &[]).await.unwrap().is_empty(), "a completed job was claimed again");
    let row = store.get(&job.id, None).await.unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Completed);
    assert_eq!(row.progress, 100);
    assert_eq!(row.result, Some(json!({"p": 1})));
    assert_eq!(row.output, Some(vec!["kept".to_string()]), "the output is written with the outcome, once");
    assert_eq!(row.error, None);
    assert_eq!(row.attempts, 1);
}

#[tokio::test]
async fn progress_only_rises_and_only_while_running() {
    let db = TestDatabase::create().await;
    let store = Database::connect(&db.url, &ConnectOptions::new("test", 4)).await.unwrap().store;
    let job = new_job("PROC_TEST");
    store.insert(std::slice::from_ref(&job)).await.unwrap();
    store.record_progress("a", &[ProgressUpdate::new(job.id.clone(), 50)]).await.unwrap();
    assert_eq!(store.get(&job.id, None).await.unwrap().unwrap().progress, 0, "pending job got progress");
    store.claim("a", 1, &[]).await.unwrap();
    store.record_progress("a", &[ProgressUpdate::new(job.id.clone(), 80)]).await.unwrap();
    store.record_progress("a", &[ProgressUpdate::new(job.id.clone(), 30)]).await.unwrap();
    store.record_progress("b", &[ProgressUpdate::new(job.id.clone(), 90)]).await.unwrap();
    assert_eq!(store.get(&job.id, None).await.unwrap().unwrap().progress, 80);
}

#[tokio::test]
async fn concurrent_claimers_never_share_a_job() {
    let db = TestDatabase::create().await;
    let store = Database::connect(&db.url, &ConnectOptions::new("test", 16)).await.unwrap().store;
    let jobs: Vec<NewJob> = (0..300).map(|_| new_job("PROC_TEST")).collect();
    store.insert(&jobs).await.unwrap();
    let mut tasks = vec![];
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = vec![];
            loop {
                let got = store.claim(&format!("claimer-{i}"), 7, &[]).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|j| j.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        for id in t.await.unwrap() {
            assert!(seen.insert(id.clone()), "job {id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 300);
}

#[tokio::test]
async fn two_instances_run_each_job_exactly_once() {
    let first = spawn_app_with(&[("WORKERS", "4")]).await;
    let second = spawn_on(first.db.clone(), &[("WORKERS", "4")]).await;
    let mut ids = vec![];
    for i in 0..200 {
        let app = if i % 2 == 0 { &first } else { &second };
        let body = json!({"name": "PROC_TEST_LOG", "params": [{"name": "p_tag", "value": format!("job-{i}")}]});
        ids.push(app.submit(&body).await);
    }
    let db = first.db.client().await;
    eventually("all 200 jobs to complete", || async {
        let n: i64 = count(&db, "SELECT count(*) FROM async_jobs WHERE status = 'completed'").await;
        (n == 200).then_some(())
    })
    .await;
    let calls = calls_per_tag(&db).await;
    assert_eq!(calls.len(), 200);
    assert!(calls.iter().all(|(_, n)| *n == 1), "some job ran twice: {calls:?}");
    let attempts: i64 = db.query_one("SELECT max(attempts)::int8 FROM async_jobs", &[]).await.unwrap().get(0);
    assert_eq!(attempts, 1);
    let instances: i64 = db.query_one("SELECT count(DISTINCT instance_id) FROM async_jobs", &[]).await.unwrap().get(0);
    assert!(instances >= 1);
    // Either instance answers for any job.
    assert_eq!(second.job(&ids[0]).await["status"], "completed");
}

#[tokio::test]
async fn another_instance_wakes_on_notify_without_polling() {
    // The gateway polls once an hour: only LISTEN/NOTIFY can tell it about jobs that another
    // process inserts. Its LISTEN session catches up once when it starts; so after the first
    // job, every further job can only have been noticed through NOTIFY.
    let app = spawn_app_with(&[("POLL_INTERVAL", "1h")]).await;
    let db = app.db.client().await;
    eventually("the gateway's LISTEN session", || async {
        let n: i64 = count(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%LISTEN procgate_jobs;%' AND pid <> pg_backend_pid()",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    let other_process = Database::connect(&app.db.url, &ConnectOptions::new("test", 2)).await.unwrap().store;
    for i in 0..3 {
        let mut job = new_job("PROC_TEST");
        job.params = json!([{"name": "p_input", "value": format!("n{i}")}]);
        other_process.insert(std::slice::from_ref(&job)).await.unwrap();
        let done = app.wait_terminal(job.id.as_str()).await;
        assert_eq!(done["result"]["p_output"], format!("Procesado: n{i}"), "{done}");
    }
}

#[tokio::test]
async fn cleanup_deletes_exactly_the_old_ended_jobs() {
    let db = Arc::new(TestDatabase::create().await);
    let client = db.client().await;
    // Rows straight into the table, as a long-running installation would have them.
    client
        .batch_execute(
            "INSERT INTO async_jobs (job_id, status, procedure_name, owner, progress, start_time, end_time, created_at) VALUES
             ('00000000000000000000000000000001', 'completed', 'PROC_TEST', 'a', 100, now() - interval '9 days', now() - interval '8 days', now() - interval '9 days'),
             ('00000000000000000000000000000002', 'failed',    'PROC_TEST', 'a', 100, now() - interval '9 days', now() - interval '8 days', now() - interval '9 days'),
             ('00000000000000000000000000000003', 'cancelled', 'PROC_TEST', 'a', 100, now() - interval '9 days', now() - interval '8 days', now() - interval '9 days'),
             ('00000000000000000000000000000004', 'completed', 'PROC_TEST', 'a', 100, now() - interval '9 days', now() - interval '6 days', now() - interval '9 days'),
             ('00000000000000000000000000000005', 'pending',   'PROC_TEST', 'a', 0,   now() - interval '30 days', NULL, now() - interval '30 days'),
             ('00000000000000000000000000000006', 'completed', 'PROC_TEST', 'a', 100, now() - interval '1 hour', now(), now() - interval '1 hour')",
        )
        .await
        .unwrap();
    // Keep the pending one from running: nothing is allowed.
    let _app = spawn_on(db.clone(), &[("JOB_RETENTION_DAYS", "7"), ("PROCEDURE_ALLOWLIST", "NOTHING")]).await;
    let left: Vec<String> = eventually("the first cleanup run", || async {
        let rows = client.query("SELECT job_id FROM async_jobs ORDER BY job_id", &[]).await.unwrap();
        let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        (ids.len() <= 3).then_some(ids)
    })
    .await;
    let expect: Vec<String> = ["4", "5", "6"].iter().map(|n| format!("{:0>32}", n)).collect();
    assert_eq!(left, expect);

    // The predecessor's SQL procedure does the same from psql.
    client
        .batch_execute("UPDATE async_jobs SET end_time = now() - interval '3 days' WHERE job_id LIKE '%4'")
        .await
        .unwrap();
    let deleted = client.simple_query("CALL cleanup_old_async_jobs(2, NULL)").await.unwrap();
    let value = deleted.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some("1"));
    let n: i64 = count(&client, "SELECT count(*) FROM async_jobs").await;
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_stopped_instance_leaves_no_job_running() {
    let mut app = spawn_app_with(&[("WORKERS", "2"), ("SHUTDOWN_GRACE", "1s")]).await;
    let long = app.submit(&demora(30.0)).await;
    app.wait_for_job(&long, |j| j["status"] == "running").await;
    app.stop().await;
    let db = app.db.client().await;
    let (status, code): (String, Option<String>) = {
        let r = db
            .query_one("SELECT status, error_code || ': ' || error_msg FROM async_jobs WHERE job_id = $1", &[&long])
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(status, "failed", "code {code:?}");
    assert!(code.unwrap().starts_with("shutdown:"));
}

#[tokio::test]
async fn rescue_and_heartbeat_respect_cancels_and_lost_leases() {
    let db = TestDatabase::create().await;
    let store = Database::connect(&db.url, &ConnectOptions::new("test", 4)).await.unwrap().store;
    let retry = procgate::model::retry::RetryPolicy {
        max_attempts: 3,
        backoff: procgate::model::retry::Backoff::Fixed,
        initial_delay_ms: 10,
        max_delay_ms: 10,
    };
    let mut cancelled = new_job("PROC_TEST");
    cancelled.retry = Some(retry.clone());
    let mut lost = new_job("PROC_TEST");
    lost.retry = Some(retry);
    store.insert(&[cancelled.clone(), lost.clone()]).await.unwrap();
    assert_eq!(store.claim("gone", 10, &[]).await.unwrap().len(), 2);
    assert_eq!(store.cancel(&cancelled.id, None).await.unwrap(), CancelOutcome::Requested);
    // The heartbeat tells the instance to stop the job whose cancel was requested.
    assert_eq!(
        store.heartbeat("gone", &[lost.id.clone(), cancelled.id.clone()]).await.unwrap(),
        vec![cancelled.id.clone()]
    );
    let rescued = store.rescue(std::time::Duration::ZERO, true).await.unwrap();
    assert_eq!(rescued.len(), 2);
    let status = |id: &JobId| {
        let store = store.clone();
        let id = id.clone();
        async move { store.get(&id, None).await.unwrap().unwrap().status }
    };
    // A requested cancel is not undone by a retry.
    assert_eq!(status(&cancelled.id).await, JobStatus::Cancelled);
    assert_eq!(status(&lost.id).await, JobStatus::Pending);
    // The instance that lost its lease learns it at its next heartbeat.
    assert_eq!(store.heartbeat("gone", std::slice::from_ref(&lost.id)).await.unwrap(), vec![lost.id.clone()]);
}

#[tokio::test]
async fn a_storm_of_cancel_notifications_does_not_starve_the_heartbeat() {
    let app =
        spawn_app_with(&[("LEASE_TIMEOUT", "3s"), ("HEARTBEAT_INTERVAL", "1s"), ("RESCUE_INTERVAL", "500ms")]).await;
    let id = app.submit(&demora(5.0)).await;
    app.wait_for_job(&id, |j| j["status"] == "running").await;
    let db = app.db.client().await;
    // Cancels for other jobs, every 100 ms, for longer than the lease.
    let storm = tokio::spawn(async move {
        for _ in 0..60 {
            db.execute("SELECT pg_notify('procgate_cancel', md5(random()::text))", &[]).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let job = app.wait_terminal(&id).await;
    storm.abort();
    assert_eq!(job["status"], "completed", "a live job was taken for an orphan: {job}");
}

#[tokio::test]
async fn a_requested_cancel_wins_over_a_retry() {
    let db = TestDatabase::create().await;
    let store = Database::connect(&db.url, &ConnectOptions::new("test", 4)).await.unwrap().store;
    let mut job = new_job("PROC_TEST");
    job.retry = Some(procgate::model::retry::RetryPolicy {
        max_attempts: 3,
        backoff: procgate::model::retry::Backoff::Fixed,
        initial_delay_ms: 10,
        max_delay_ms: 10,
    });
    store.insert(std::slice::from_ref(&job)).await.unwrap();
    store.claim("a", 1, &[]).await.unwrap();
    assert_eq!(store.cancel(&job.id, None).await.unwrap(), CancelOutcome::Requested);
    // The attempt ends with a retryable error before the instance heard of the cancel.
    let retry = Outcome {
        id: job.id.clone(),
        attempt: 1,
        status: JobStatus::Pending,
        result: None,
        error: Some(JobError { code: "40001".into(), message: "serialization failure".into() }),
        retry_in: Some(std::time::Duration::ZERO),
        output: None,
    };
    assert_eq!(store.finish("a", &[retry]).await.unwrap(), vec![job.id.clone()]);
    let row = store.get(&job.id, None).await.unwrap().unwrap();
    assert_eq!(row.status, JobStatus::Cancelled);
    assert_eq!(row.error.unwrap().code, "cancelled");
    assert!(store.claim("b", 1, &[]).await.unwrap().is_empty(), "the cancelled job was claimed again");
}
