//! The job engine's guarantees: one writer, terminal states are final, claims are never shared,
//! several instances share one table and run each job exactly once, a stopped instance leaves no
//! job running. Written against the backend traits and the HTTP API.

use std::collections::HashSet;

use procgate::model::CancelOutcome;
use procgate::model::{JobError, JobId, JobStatus, NewJob, Outcome, ProgressUpdate};
use serde_json::json;

use crate::contract::fixture::*;

fn new_job(name: &str) -> NewJob {
    NewJob::new(name, json!([]), "admin")
}

pub async fn a_terminal_job_never_changes_again(db: &impl Backend) {
    let database = db.store(4).await;
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

pub async fn progress_only_rises_and_only_while_running(db: &impl Backend) {
    let store = db.store(4).await.store;
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

pub async fn concurrent_claimers_never_share_a_job(db: &impl Backend) {
    let store = db.store(16).await.store;
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

pub async fn two_instances_run_each_job_exactly_once(db: &impl Backend) {
    let first = db.spawn_app_with(&[("WORKERS", "4")]).await;
    let second = db.spawn_app_with(&[("WORKERS", "4")]).await;
    let mut ids = vec![];
    for i in 0..200 {
        let app = if i % 2 == 0 { &first } else { &second };
        let body = json!({"name": "PROC_TEST_LOG", "params": [{"name": "p_tag", "value": format!("job-{i}")}]});
        ids.push(app.submit(&body).await);
    }
    eventually("all 200 jobs to complete", || async {
        let n: i64 = db.count_jobs(Some("completed")).await;
        (n == 200).then_some(())
    })
    .await;
    let calls = db.calls_per_tag().await;
    assert_eq!(calls.len(), 200);
    assert!(calls.iter().all(|(_, n)| *n == 1), "some job ran twice: {calls:?}");
    let attempts: i64 = db.max_attempts().await;
    assert_eq!(attempts, 1);
    let instances: i64 = db.instances_that_ran_jobs().await;
    assert!(instances >= 1);
    // Either instance answers for any job.
    assert_eq!(second.job(&ids[0]).await["status"], "completed");
}

pub async fn a_stopped_instance_leaves_no_job_running(db: &impl Backend) {
    let mut app = db.spawn_app_with(&[("WORKERS", "2"), ("SHUTDOWN_GRACE", "1s")]).await;
    let long = app.submit(&demora(30.0)).await;
    app.wait_for_job(&long, |j| j["status"] == "running").await;
    app.stop().await;
    let (status, code, message) = db.status_and_error(&long).await;
    let code = code.zip(message).map(|(code, message)| format!("{code}: {message}"));
    assert_eq!(status, "failed", "code {code:?}");
    assert!(code.unwrap().starts_with("shutdown:"));
}

pub async fn rescue_and_heartbeat_respect_cancels_and_lost_leases(db: &impl Backend) {
    let store = db.store(4).await.store;
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

pub async fn a_requested_cancel_wins_over_a_retry(db: &impl Backend) {
    let store = db.store(4).await.store;
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
