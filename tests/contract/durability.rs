//! The durability promise (issue 9): a job's call and its completion commit together; a call
//! whose attempt is no longer current is rolled back; a failed call rolls back its own effects;
//! synchronous calls can never starve the job engine's bookkeeping; results past the limits fail
//! cleanly.

use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::contract::fixture::*;

fn cursor(rows: u32) -> Json {
    json!({"name": "PROC_TEST_CURSOR", "params": [
        {"name": "p_limit", "value": rows}, {"name": "p_cursor", "direction": "OUT", "type": "CURSOR"}]})
}

pub async fn a_completed_job_and_its_effects_commit_together(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app.submit(&log_job("together", 0.0)).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(db.calls_per_tag().await.get("together"), Some(&1));
    // The completion's times are its own statement's, not the transaction's start.
    let (ordered, cleared) = db.ended_after_start_and_session_cleared(&id).await;
    assert!(ordered && cleared, "{job}");
}

pub async fn a_call_whose_attempt_was_taken_over_is_rolled_back(db: &impl Backend) {
    let app = db.spawn_app_with(&[("PROGRESS_FLUSH_INTERVAL", "20ms")]).await;
    let id = app.submit(&log_job("superseded", 2.0)).await;
    db.call_executing("proc_test_log").await;
    // Another attempt now owns the job (as after a rescue and a new claim): the running call's
    // completion must find no row, and its insert must be undone.
    let moved = db.supersede_attempt(&id).await;
    assert_eq!(moved, 1);
    db.no_call_running("proc_test_log").await;
    eventually("the fenced attempt to be let go", || async {
        let n: i64 = db.idle_transactions().await;
        (n == 0).then_some(())
    })
    .await;
    assert_eq!(db.calls_per_tag().await.get("superseded"), None, "the superseded call's insert was committed");
    let job = app.job(&id).await;
    assert_eq!(job["status"], "running", "a stale attempt changed the job: {job}");
}

pub async fn a_failed_call_rolls_back_its_own_effects(db: &impl Backend) {
    let app = db.spawn_app().await;
    let body = json!({"name": "PROC_TEST_LOG_THEN_FAIL", "params": [{"name": "p_tag", "value": "failing"}]});
    let job = app.wait_terminal(&app.submit(&body).await).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], db.raised_code(), "{job}");
    assert_eq!(db.calls_per_tag().await.get("failing"), None, "a failed call left its insert");
}

pub async fn synchronous_calls_never_starve_leases_or_submits(db: &impl Backend) {
    let settings: &[(&str, &str)] = &[
        ("LEASE_TIMEOUT", "3s"),
        ("HEARTBEAT_INTERVAL", "500ms"),
        ("RESCUE_INTERVAL", "500ms"),
        ("SYNC_TIMEOUT", "3s"),
        ("WORKERS", "2"),
    ];
    let flooded = db.spawn_app_with(&[settings, &[("INSTANCE_ID", "flooded")]].concat()).await;
    let long = flooded.submit(&log_job("long", 6.0)).await;
    let running = flooded.wait_for_job(&long, |j| j["status"] == "running").await;
    assert_eq!(running["instance_id"], "flooded", "{running}");
    // A healthy instance on the same table, ready to rescue whatever the flooded one lets lapse.
    let _rescuer = db.spawn_app_with(&[settings, &[("INSTANCE_ID", "rescuer"), ("WORKERS", "1")]].concat()).await;

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
    db.call_executing("proc_test_demora").await;
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
    assert_eq!(db.calls_per_tag().await.get("long"), Some(&1));
}

pub async fn results_past_the_limits_fail_cleanly_sync_and_async(db: &impl Backend) {
    let app = db.spawn_app_with(&[("MAX_CURSOR_ROWS", "1000"), ("MAX_RESULT_BYTES", "200000")]).await;
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
    let strict = db.spawn_app_with(&[("MAX_RESULT_BYTES", "20000")]).await;
    let err = error_code(strict.post("/procedure", ADMIN, &cursor(1000)).await, 422).await;
    assert!(err["message"].as_str().unwrap().contains("MAX_RESULT_BYTES"), "{err}");
    // The gateway is fine afterwards.
    assert_eq!(app.post("/procedure", ADMIN, &proc_test("after")).await.status(), 200);
}
