//! The API's verbs beyond submit/read/cancel/delete: `POST /jobs/{id}/retry`, bulk cancel
//! (`POST /jobs/cancel`), the owner and date filters of `GET /jobs`, and retention by count
//! (`JOB_KEEP_COMPLETED`, `JOB_KEEP_FAILED`); each with its bad input. The command line's
//! `job`, `cancel`, `retry` and `jobs --watch` are in `cli_verbs.rs`.
//! Not (yet) in the contract suite: written against PostgreSQL first; the Oracle statements are
//! unit-tested in src/db/oracle/store.rs.

use std::collections::HashSet;

use procgate::model::JobStatus;
use serde_json::{json, Value as Json};

use crate::helpers::*;

#[path = "cli_verbs.rs"]
mod cli_verbs;

/// A PROC_TEST job due in an hour: pending for the whole test.
fn later(input: &str) -> Json {
    let mut body = proc_test(input);
    body["delay_seconds"] = json!(3600);
    body
}

fn failing() -> Json {
    json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1}]})
}

async fn post_empty(app: &App, path: &str, token: &str) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(token).send().await.unwrap()
}

async fn cancel_now(app: &App, id: &str, token: &str) {
    let resp = post_empty(app, &format!("/jobs/{id}/cancel"), token).await;
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
}

/// `POST /jobs/{id}/retry` as `token`: asserts 202 and the answer's shape; the new job's id.
async fn retry(app: &App, id: &str, token: &str) -> String {
    let resp = post_empty(app, &format!("/jobs/{id}/retry"), token).await;
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let body: Json = resp.json().await.unwrap();
    let new_id = body["job_id"].as_str().unwrap().to_string();
    assert_ne!(new_id, id);
    assert_eq!(body["retry_of"], id);
    assert_eq!(body["status"], "accepted");
    assert_eq!(location, format!("/jobs/{new_id}"));
    new_id
}

#[tokio::test]
async fn a_cancelled_job_is_retried_as_a_new_job_with_its_options_and_the_old_one_unchanged() {
    let app = spawn_app().await;
    let mut body = later("again");
    body["priority"] = json!("high");
    body["capture_output"] = json!(true);
    body["timeout_seconds"] = json!(60);
    body["retry"] = json!({"max_attempts": 2, "initial_delay_ms": 10});
    let old_id = app.submit_as(ALICE, &body).await;
    cancel_now(&app, &old_id, ALICE).await;
    let old = app.job(&old_id).await;
    assert_eq!(old["status"], "cancelled");

    let new_id = retry(&app, &old_id, ALICE).await;
    let new = app.wait_terminal(&new_id).await;
    assert_eq!(new["status"], "completed", "{new}");
    assert_eq!(new["retry_of"], old_id.as_str());
    assert_eq!(new["result"]["p_output"], "Procesado: again");
    // Same procedure, parameters and options; due at once (the old job's delay is not repeated).
    assert_eq!(new["procedure_name"], old["procedure_name"]);
    assert_eq!(new["params"], old["params"]);
    assert_eq!((&new["priority"], &new["max_attempts"], &new["owner"]), (&json!("high"), &json!(2), &json!("alice")));
    let row = app
        .db
        .client()
        .await
        .query_one("SELECT capture_output, timeout_ms FROM async_jobs WHERE job_id = $1", &[&new_id])
        .await
        .unwrap();
    assert_eq!((row.get::<_, bool>(0), row.get::<_, Option<i64>>(1)), (true, Some(60_000)));
    // A terminal state is final: the old job is as it was.
    assert_eq!(app.job(&old_id).await, old);
    assert_eq!(old["retry_of"], Json::Null);
}

#[tokio::test]
async fn a_failed_job_is_retried_and_an_admin_retry_keeps_the_owner() {
    let app = spawn_app().await;
    let old_id = app.submit_as(BOB, &failing()).await;
    assert_eq!(app.wait_terminal(&old_id).await["status"], "failed");
    let new_id = retry(&app, &old_id, ADMIN).await;
    let new = app.wait_terminal(&new_id).await;
    assert_eq!((&new["status"], &new["owner"], &new["retry_of"]), (&json!("failed"), &json!("bob"), &json!(old_id)));
    // A retry of a retry points to the job it retries.
    let third = retry(&app, &new_id, BOB).await;
    assert_eq!(app.job(&third).await["retry_of"], new_id.as_str());
}

#[tokio::test]
async fn only_failed_or_cancelled_jobs_of_ones_own_can_be_retried() {
    let app = spawn_app().await;
    let done = app.submit_as(ALICE, &proc_test("done")).await;
    app.wait_terminal(&done).await;
    let pending = app.submit_as(ALICE, &later("pending")).await;
    for id in [&done, &pending] {
        let error = error_code(post_empty(&app, &format!("/jobs/{id}/retry"), ALICE).await, 409).await;
        assert_eq!(error["code"], "job_not_retryable");
    }
    // Another owner's job is not found, as for every other verb; so is a job that never was.
    cancel_now(&app, &pending, ALICE).await;
    let error = error_code(post_empty(&app, &format!("/jobs/{pending}/retry"), BOB).await, 404).await;
    assert_eq!(error["code"], "job_not_found");
    for id in ["0".repeat(32), "not-a-job".into()] {
        let error = error_code(post_empty(&app, &format!("/jobs/{id}/retry"), ADMIN).await, 404).await;
        assert_eq!(error["code"], "job_not_found");
    }
    let resp = app.get(&format!("/jobs/{pending}/retry"), ALICE).await;
    assert_eq!(error_code(resp, 405).await["code"], "method_not_allowed");
    // Nothing was inserted by the refusals.
    let (_, jobs) = list(&app, "/jobs", ADMIN).await;
    assert_eq!(jobs.len(), 2);
}

#[tokio::test]
async fn a_retry_passes_the_submission_checks_again() {
    let app = spawn_app_with(&[("MAX_PENDING_PER_OWNER", "1")]).await;
    let old_id = app.submit_as(ALICE, &later("limited")).await;
    cancel_now(&app, &old_id, ALICE).await;
    // The allowlist of an instance that no longer allows the procedure.
    let narrower = spawn_on(app.db.clone(), &[("PROCEDURE_ALLOWLIST", "PROC_TEST_LOG")]).await;
    let error = error_code(post_empty(&narrower, &format!("/jobs/{old_id}/retry"), ALICE).await, 403).await;
    assert_eq!(error["code"], "procedure_not_allowed");
    // MAX_PENDING_PER_OWNER: alice has a pending job already.
    app.submit_as(ALICE, &later("holds the slot")).await;
    let error = error_code(post_empty(&app, &format!("/jobs/{old_id}/retry"), ALICE).await, 429).await;
    assert_eq!(error["code"], "too_many_pending_jobs");
    // A procedure dropped since is not found (asked of an instance that has not cached it).
    let failed = app.submit_as(BOB, &failing()).await;
    app.wait_terminal(&failed).await;
    app.db.client().await.batch_execute("DROP PROCEDURE proc_test_error").await.unwrap();
    let fresh = spawn_on(app.db.clone(), &[]).await;
    let error = error_code(post_empty(&fresh, &format!("/jobs/{failed}/retry"), BOB).await, 404).await;
    assert_eq!(error["code"], "procedure_not_found");
    // None of the refused retries left a job behind.
    assert_eq!(count(&app.db.client().await, "SELECT count(*) FROM async_jobs WHERE retry_of IS NOT NULL").await, 0);
}

/// `GET path` as `token`: (total, jobs).
async fn list(app: &App, path: &str, token: &str) -> (i64, Vec<Json>) {
    let resp = app.get(path, token).await;
    assert_eq!(resp.status(), 200, "{path}");
    let body: Json = resp.json().await.unwrap();
    (body["total"].as_i64().unwrap(), body["jobs"].as_array().unwrap().clone())
}

fn ids(jobs: &[Json]) -> HashSet<String> {
    jobs.iter().map(|j| j["id"].as_str().unwrap().to_string()).collect()
}

async fn status_of(app: &App, id: &str) -> String {
    app.job(id).await["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn bulk_cancel_cancels_pending_jobs_by_filter_and_interrupts_running_ones() {
    let app = spawn_app().await;
    let mut mine = Vec::new();
    for i in 0..3 {
        mine.push(app.submit(&later(&format!("p{i}"))).await);
    }
    let other = app
        .submit(
            &json!({"name": "PROC_TEST_LOG", "params": [{"name": "p_tag", "value": "stays"}], "delay_seconds": 3600}),
        )
        .await;
    let running = app.submit(&demora(30.0)).await;
    app.wait_for_job(&running, |j| j["status"] == "running").await;

    let resp = post_empty(&app, "/jobs/cancel?status=pending&procedure=proc_test", ADMIN).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Json>().await.unwrap(), json!({"cancelled": 3, "requested": 0}));
    for id in &mine {
        let job = app.job(id).await;
        assert_eq!((&job["status"], &job["error"]["code"]), (&json!("cancelled"), &json!("cancelled")));
    }
    assert_eq!(status_of(&app, &other).await, "pending");
    assert_eq!(status_of(&app, &running).await, "running");

    let resp = post_empty(&app, "/jobs/cancel?status=running", ADMIN).await;
    assert_eq!(resp.json::<Json>().await.unwrap(), json!({"cancelled": 0, "requested": 1}));
    assert_eq!(app.wait_terminal(&running).await["status"], "cancelled");
    assert_eq!(status_of(&app, &other).await, "pending");
    // Nothing left to cancel: zero, not an error.
    let resp = post_empty(&app, "/jobs/cancel?status=running,pending&procedure=PROC_TEST", ADMIN).await;
    assert_eq!(resp.json::<Json>().await.unwrap(), json!({"cancelled": 0, "requested": 0}));
}

#[tokio::test]
async fn bulk_cancel_of_a_non_admin_touches_only_its_own_jobs() {
    let app = spawn_app().await;
    let alices = app.submit_as(ALICE, &later("alice")).await;
    let bobs = app.submit_as(BOB, &later("bob")).await;
    let resp = post_empty(&app, "/jobs/cancel?procedure=PROC_TEST", ALICE).await;
    assert_eq!(resp.json::<Json>().await.unwrap(), json!({"cancelled": 1, "requested": 0}));
    assert_eq!(status_of(&app, &alices).await, "cancelled");
    assert_eq!(status_of(&app, &bobs).await, "pending");
}

#[tokio::test]
async fn bulk_cancel_wants_a_filter_and_unended_statuses() {
    let app = spawn_app().await;
    let pending = app.submit(&later("untouched")).await;
    for (query, code) in [
        ("", "missing_filter"),
        ("?status=&procedure=", "missing_filter"),
        ("?status=completed", "invalid_query"),
        ("?status=pending,failed", "invalid_query"),
        ("?status=done", "invalid_query"),
    ] {
        let error = error_code(post_empty(&app, &format!("/jobs/cancel{query}"), ADMIN).await, 400).await;
        assert_eq!(error["code"], code, "{query}");
    }
    // A name that matches nothing (bound, never spliced in): nothing cancelled.
    let odd = format!("{}%27%3B%20DELETE%20FROM%20async_jobs%3B--", "x".repeat(2000));
    let resp = post_empty(&app, &format!("/jobs/cancel?procedure={odd}"), ADMIN).await;
    assert_eq!(resp.json::<Json>().await.unwrap(), json!({"cancelled": 0, "requested": 0}));
    let resp = app.get("/jobs/cancel", ADMIN).await;
    assert_eq!(error_code(resp, 405).await["code"], "method_not_allowed");
    let resp = app.client.post(app.url("/jobs/cancel?status=pending")).send().await.unwrap();
    assert_eq!(error_code(resp, 401).await["code"], "unauthorized");
    assert_eq!(status_of(&app, &pending).await, "pending");
}

#[tokio::test]
async fn admins_filter_the_list_by_owner_and_creation_time() {
    let app = spawn_app().await;
    let alices = app.submit_as(ALICE, &later("a")).await;
    let bobs = app.submit_as(BOB, &later("b")).await;
    let (total, jobs) = list(&app, "/jobs?owner=alice", ADMIN).await;
    assert_eq!((total, ids(&jobs)), (1, HashSet::from([alices.clone()])));
    let (total, _) = list(&app, "/jobs?owner=nobody", ADMIN).await;
    assert_eq!(total, 0);

    // Backdate bob's job by a day: the date filters split the two.
    let db = app.db.client().await;
    db.execute("UPDATE async_jobs SET created_at = now() - interval '1 day' WHERE job_id = $1", &[&bobs])
        .await
        .unwrap();
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (total, jobs) = list(&app, &format!("/jobs?created_after={hour_ago}"), ADMIN).await;
    assert_eq!((total, ids(&jobs)), (1, HashSet::from([alices.clone()])));
    let (total, jobs) = list(&app, &format!("/jobs?created_before={hour_ago}&owner=bob"), ADMIN).await;
    assert_eq!((total, ids(&jobs)), (1, HashSet::from([bobs.clone()])));
    // An offset other than Z, percent-encoded as a client must send `+`.
    let (total, _) =
        list(&app, "/jobs?created_after=2000-01-01T00:00:00%2B02:00&created_before=2000-01-02T00:00:00Z", ADMIN).await;
    assert_eq!(total, 0);

    // A non-admin may name itself, and nobody else.
    let (total, jobs) = list(&app, "/jobs?owner=alice", ALICE).await;
    assert_eq!((total, ids(&jobs)), (1, HashSet::from([alices])));
    let error = error_code(app.get("/jobs?owner=bob", ALICE).await, 403).await;
    assert_eq!(error["code"], "owner_not_allowed");
    for bad in ["created_after=yesterday", "created_before=2024-13-01T00:00:00Z", "created_after=2024-05-01"] {
        let error = error_code(app.get(&format!("/jobs?{bad}"), ADMIN).await, 400).await;
        assert_eq!(error["code"], "invalid_query", "{bad}");
    }
}

/// Inserts `n` jobs of `status` that ended 1..=n minutes ago (the first the newest); their ids.
async fn ended_jobs(db: &tokio_postgres::Client, status: &str, n: i32) -> Vec<String> {
    let rows = db
        .query(
            "INSERT INTO async_jobs (job_id, status, procedure_name, owner, progress, end_time)
             SELECT md5($1::text || g::text), $1, 'PROC_TEST', 'admin', 100, now() - make_interval(mins => g)
               FROM generate_series(1, $2) g ORDER BY g RETURNING job_id",
            &[&status, &n],
        )
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

async fn job_ids(db: &tokio_postgres::Client, status: &str) -> HashSet<String> {
    let rows = db.query("SELECT job_id FROM async_jobs WHERE status = $1", &[&status]).await.unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

#[tokio::test]
async fn the_cleaner_keeps_the_newest_completed_and_failed_jobs() {
    let app =
        spawn_app_with(&[("JOB_KEEP_COMPLETED", "2"), ("JOB_KEEP_FAILED", "1"), ("CLEANUP_INTERVAL", "100ms")]).await;
    let db = app.db.client().await;
    let completed = ended_jobs(&db, "completed", 5).await;
    let failed = ended_jobs(&db, "failed", 3).await;
    let cancelled = ended_jobs(&db, "cancelled", 4).await;
    let pending = app.submit(&later("kept")).await;
    eventually("the cleaner to trim completed and failed jobs", || async {
        (job_ids(&db, "completed").await.len() == 2 && job_ids(&db, "failed").await.len() == 1).then_some(())
    })
    .await;
    assert_eq!(job_ids(&db, "completed").await, completed[..2].iter().cloned().collect());
    assert_eq!(job_ids(&db, "failed").await, HashSet::from([failed[0].clone()]));
    // No limit for the others; none for age either (they ended minutes ago).
    assert_eq!(job_ids(&db, "cancelled").await, cancelled.into_iter().collect());
    assert_eq!(status_of(&app, &pending).await, "pending");
}

#[tokio::test]
async fn retention_by_count_deletes_one_batch_per_statement() {
    let db = TestDatabase::create().await;
    let store =
        procgate::db::Database::connect(&db.url, &procgate::db::ConnectOptions::new("test", 1)).await.unwrap().store;
    store.migrate().await.unwrap();
    let client = db.client().await;
    let completed = ended_jobs(&client, "completed", 5).await;
    assert_eq!(store.purge_beyond_kept(JobStatus::Completed, 2, 2).await.unwrap(), 2);
    assert_eq!(store.purge_beyond_kept(JobStatus::Completed, 2, 2).await.unwrap(), 1);
    assert_eq!(store.purge_beyond_kept(JobStatus::Completed, 2, 2).await.unwrap(), 0);
    assert_eq!(job_ids(&client, "completed").await, completed[..2].iter().cloned().collect());
    // A running job is never counted nor deleted, whatever status is asked for.
    assert_eq!(store.purge_beyond_kept(JobStatus::Running, 0, 10).await.unwrap(), 0);
}
