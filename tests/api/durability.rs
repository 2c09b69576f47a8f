//! The durability promise (issue 9): a job's call and its completion commit together; a call
//! whose attempt is no longer current is rolled back; a routine that commits by itself runs on
//! its own; the rescuer ends the sessions a dead instance left running; synchronous calls can
//! never starve the job engine's bookkeeping.

use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::helpers::*;

fn log_job(tag: &str, seconds: f64) -> Json {
    json!({"name": "PROC_TEST_LOG", "params": [{"name": "p_tag", "value": tag}, {"name": "p_seconds", "value": seconds}]})
}

#[tokio::test]
async fn a_completed_job_and_its_effects_commit_together() {
    let app = spawn_app().await;
    let id = app.submit(&log_job("together", 0.0)).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let sql = app.db.client().await;
    assert_eq!(calls_per_tag(&sql).await.get("together"), Some(&1));
    // The completion's times are its own statement's, not the transaction's start.
    let row = sql
        .query_one("SELECT end_time >= start_time, session_id IS NULL FROM async_jobs WHERE job_id = $1", &[&id])
        .await
        .unwrap();
    assert!(row.get::<_, bool>(0) && row.get::<_, bool>(1), "{job}");
}

#[tokio::test]
async fn a_call_whose_attempt_was_taken_over_is_rolled_back() {
    let app = spawn_app_with(&[("PROGRESS_FLUSH_INTERVAL", "20ms")]).await;
    let id = app.submit(&log_job("superseded", 2.0)).await;
    let sql = app.db.client().await;
    call_executing(&sql, "proc_test_log").await;
    // Another attempt now owns the job (as after a rescue and a new claim): the running call's
    // completion must find no row, and its insert must be undone.
    let moved = sql
        .execute("UPDATE async_jobs SET attempts = attempts + 1 WHERE job_id = $1 AND status = 'running'", &[&id])
        .await
        .unwrap();
    assert_eq!(moved, 1);
    no_call_running(&app, "proc_test_log").await;
    eventually("the fenced attempt to be let go", || async {
        let n: i64 = count(&sql, "SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'").await;
        (n == 0).then_some(())
    })
    .await;
    assert_eq!(calls_per_tag(&sql).await.get("superseded"), None, "the superseded call's insert was committed");
    let job = app.job(&id).await;
    assert_eq!(job["status"], "running", "a stale attempt changed the job: {job}");
}

#[tokio::test]
async fn a_failed_call_rolls_back_its_own_effects() {
    let app = spawn_app().await;
    let body = json!({"name": "PROC_TEST_LOG_THEN_FAIL", "params": [{"name": "p_tag", "value": "failing"}]});
    let job = app.wait_terminal(&app.submit(&body).await).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "P0001", "{job}");
    assert_eq!(calls_per_tag(&app.db.client().await).await.get("failing"), None, "a failed call left its insert");
}

#[tokio::test]
async fn a_routine_that_commits_by_itself_runs_on_its_own() {
    let app = spawn_app().await;
    let sql = app.db.client().await;
    for round in 0..2 {
        let tag = format!("self-commit-{round}");
        let body = json!({"name": "PROC_TEST_COMMIT", "params": [{"name": "p_tag", "value": tag}]});
        let job = app.wait_terminal(&app.submit(&body).await).await;
        assert_eq!(job["status"], "completed", "{job}");
        let calls = calls_per_tag(&sql).await;
        // The attempt inside the job's transaction failed at its COMMIT and left nothing: each
        // row exists once.
        assert_eq!(calls.get(&format!("{tag}:before")), Some(&1), "{calls:?}");
        assert_eq!(calls.get(&format!("{tag}:after")), Some(&1), "{calls:?}");
    }
}

#[tokio::test]
async fn the_rescuer_ends_the_sessions_a_dead_instance_left_running() {
    let app = spawn_app_with(&[("LEASE_TIMEOUT", "3s"), ("RESCUE_INTERVAL", "1s")]).await;
    let sql = app.db.client().await;
    // A dead instance's call still executing on the server, then its job as the table holds it.
    let url = format!("{}?application_name=procgate:ghost-instance", app.db.url);
    let (orphan, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    let sleeping = tokio::spawn(async move { orphan.batch_execute("SELECT pg_sleep(60)").await });
    eventually("the orphaned call to be executing", || async {
        let n: i64 = count(
            &sql,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'procgate:ghost-instance' AND state = 'active'",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    sql.execute(
        "INSERT INTO async_jobs (job_id, status, procedure_name, owner, instance_id, heartbeat_at, attempts, start_time)
         VALUES ('0123456789abcdef0123456789abcdef', 'running', 'PROC_TEST_DEMORA', 'admin', 'ghost-instance',
                 now() - interval '1 minute', 1, now() - interval '1 minute')",
        &[],
    )
    .await
    .unwrap();
    let job = app.wait_terminal("0123456789abcdef0123456789abcdef").await;
    assert_eq!(job["error"]["code"], "orphaned", "{job}");
    let ended = tokio::time::timeout(Duration::from_secs(10), sleeping).await.expect("the orphaned call still runs");
    assert!(ended.unwrap().is_err(), "the orphaned call was not terminated");
    let left: i64 =
        count(&sql, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'procgate:ghost-instance'").await;
    assert_eq!(left, 0);
    driver.abort();
}

#[tokio::test]
async fn synchronous_calls_never_starve_leases_or_submits() {
    let settings: &[(&str, &str)] = &[
        ("LEASE_TIMEOUT", "3s"),
        ("HEARTBEAT_INTERVAL", "500ms"),
        ("RESCUE_INTERVAL", "500ms"),
        ("SYNC_TIMEOUT", "3s"),
        ("WORKERS", "2"),
    ];
    let flooded = spawn_app_with(&[settings, &[("INSTANCE_ID", "flooded")]].concat()).await;
    let sql = flooded.db.client().await;
    let long = flooded.submit(&log_job("long", 6.0)).await;
    let running = flooded.wait_for_job(&long, |j| j["status"] == "running").await;
    assert_eq!(running["instance_id"], "flooded", "{running}");
    // A healthy instance on the same table, ready to rescue whatever the flooded one lets lapse.
    let _rescuer =
        spawn_on(flooded.db.clone(), &[settings, &[("INSTANCE_ID", "rescuer"), ("WORKERS", "1")]].concat()).await;

    let sync_calls: Vec<_> = (0..80)
        .map(|_| {
            let (client, url) = (flooded.client.clone(), flooded.url("/procedure"));
            tokio::spawn(async move {
                let resp = client.post(url).bearer_auth(ADMIN).json(&demora(4.0)).send().await.unwrap();
                let status = resp.status().as_u16();
                let retry_after = resp.headers().get("retry-after").is_some();
                let body: Json = resp.json().await.unwrap_or(Json::Null);
                (status, retry_after, body)
            })
        })
        .collect();
    call_executing(&sql, "proc_test_demora").await;
    // While the flood runs, accepting jobs is not held up behind it: this bound is about
    // starvation (a submit used to wait 26-41 s here), not speed.
    for i in 0..5 {
        let asked = Instant::now();
        let body = json!({"name": "PROC_TEST_LOG", "params": [{"name": "p_tag", "value": format!("submit-{i}")}], "delay_seconds": 3600});
        let resp = flooded.post("/procedure/async", ADMIN, &body).await;
        let took = asked.elapsed();
        eprintln!("async submit during the flood answered in {took:?}");
        assert_eq!(resp.status(), 202);
        assert!(took < Duration::from_secs(1), "an async submit waited {took:?} behind synchronous calls");
    }
    let mut by_status = std::collections::BTreeMap::new();
    for call in sync_calls {
        let (status, retry_after, body) = call.await.unwrap();
        assert!([200, 503, 504].contains(&status), "a sync call answered {status}: {body}");
        if status == 503 {
            assert!(retry_after, "a 503 without Retry-After: {body}");
            assert_eq!(body["error"]["code"], "busy", "{body}");
        }
        *by_status.entry(status).or_insert(0) += 1;
    }
    eprintln!("sync answers by status: {by_status:?}");
    assert!(by_status.get(&503).copied().unwrap_or(0) > 0, "80 calls over SYNC_CONCURRENCY were never refused");

    let job = flooded.wait_terminal(&long).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["attempts"], 1, "the job was rescued from a live instance: {job}");
    assert_eq!(job["instance_id"], "flooded", "{job}");
    assert_eq!(calls_per_tag(&sql).await.get("long"), Some(&1));
}

fn cursor(rows: u32) -> Json {
    json!({"name": "PROC_TEST_CURSOR", "params": [
        {"name": "p_limit", "value": rows}, {"name": "p_cursor", "direction": "OUT", "type": "CURSOR"}]})
}

#[tokio::test]
async fn results_past_the_limits_fail_cleanly_sync_and_async() {
    let app = spawn_app_with(&[("MAX_CURSOR_ROWS", "1000"), ("MAX_RESULT_BYTES", "200000")]).await;
    // Within both limits: every row.
    let ok: Json = app.post("/procedure", ADMIN, &cursor(1000)).await.json().await.unwrap();
    assert_eq!(ok["out"]["p_cursor"].as_array().map(Vec::len), Some(1000), "{ok}");
    // Past the row limit (a million rows asked for: refused after the first chunk past it).
    let err = error_code(app.post("/procedure", ADMIN, &cursor(1_000_000)).await, 422).await;
    assert_eq!(err["code"], "result_too_large", "{err}");
    assert!(err["message"].as_str().unwrap().contains("MAX_CURSOR_ROWS"), "{err}");
    let job = app.wait_terminal(&app.submit(&cursor(1_000_000)).await).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "result_too_large", "{job}");
    assert_eq!(job["result"], Json::Null, "{job}");
    // Past the byte limit.
    let strict = spawn_app_with(&[("MAX_RESULT_BYTES", "20000")]).await;
    let err = error_code(strict.post("/procedure", ADMIN, &cursor(1000)).await, 422).await;
    assert!(err["message"].as_str().unwrap().contains("MAX_RESULT_BYTES"), "{err}");
    // The gateway is fine afterwards.
    assert_eq!(app.post("/procedure", ADMIN, &proc_test("after")).await.status(), 200);
}

#[tokio::test]
async fn a_routine_that_usually_writes_nothing_still_takes_effect_exactly_once() {
    let app = spawn_app_with(&[("WORKERS", "1")]).await;
    let sql = app.db.client().await;
    let job = |tag: &str, write: bool| json!({"name": "PROC_TEST_MAYBE_LOG", "params": [{"name": "p_tag", "value": tag}, {"name": "p_write", "value": write}]});
    // Enough calls that write nothing for the gateway to run this routine read-only...
    for i in 0..5 {
        let done = app.wait_terminal(&app.submit(&job(&format!("quiet-{i}"), false)).await).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
    // ...then one that writes: refused read-only, rolled back, run again with its completion.
    for round in 0..2 {
        let tag = format!("loud-{round}");
        let done = app.wait_terminal(&app.submit(&job(&tag, true)).await).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["attempts"], 1, "{done}");
        assert_eq!(calls_per_tag(&sql).await.get(&tag), Some(&1), "the write was lost or doubled");
    }
    assert_eq!(count(&sql, "SELECT count(*) FROM proc_test_calls WHERE tag LIKE 'quiet-%'").await, 0);
}
