//! A call's server output (`capture_output`): PostgreSQL's `RAISE NOTICE`/`INFO`/`WARNING`
//! messages, kept in the job's `output` or next to `out` in the synchronous answer — in order,
//! after a failure too, only when asked, and only ever the call's own lines, however the pool's
//! connections are shared.
//! Not in the contract suite: RAISE NOTICE and its pooled-connection leaks are PostgreSQL's;
//! Oracle's DBMS_OUTPUT has its own scenario in tests/oracle_live.rs.

use std::sync::Arc;
use std::time::Duration;

use procgate::catalog::Catalog;
use procgate::db::{ConnectOptions, Database};
use procgate::procedure::allowlist::Allowlist;
use procgate::procedure::plan::ParamRequest;
use serde_json::{json, Value as Json};
use tokio_util::sync::CancellationToken;

use crate::helpers::*;

/// `PROC_TEST_NOTICE` with `p_lines` and any further parameters.
fn notice(lines: i64, capture: bool, more: Json) -> Json {
    let mut params = vec![json!({"name": "p_lines", "value": lines})];
    params.extend(more.as_array().cloned().unwrap_or_default());
    json!({"name": "PROC_TEST_NOTICE", "capture_output": capture, "params": params})
}

/// `["<tag> 1", "<tag> 2", ...]`
fn numbered(tag: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{tag} {i}")).collect()
}

#[tokio::test]
async fn a_job_keeps_its_calls_notices_in_order() {
    let app = spawn_app().await;
    let id = app.submit(&notice(3, true, json!([{"name": "p_levels", "value": true}]))).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let mut expected = numbered("line", 3);
    expected.extend(["an info line".to_string(), "WARNING: a warning line".to_string()]);
    assert_eq!(job["output"], json!(expected), "{job}");
    assert_eq!(job["result"], json!({}));
    // The listing shows it too.
    let list: Json = app.get("/jobs?procedure=PROC_TEST_NOTICE", ADMIN).await.json().await.unwrap();
    assert_eq!(list["jobs"][0]["output"], json!(expected), "{list}");
}

#[tokio::test]
async fn the_synchronous_answer_carries_the_output_next_to_out() {
    let app = spawn_app().await;
    let resp = app.post("/procedure", ADMIN, &notice(2, true, json!([{"name": "p_tag", "value": "sync"}]))).await;
    assert_eq!(resp.status(), 200);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "out": {}, "output": ["sync 1", "sync 2"]}));

    // With OUT values: both.
    let mut body = proc_test("x");
    body["capture_output"] = json!(true);
    let answer: Json = app.post("/procedure", ADMIN, &body).await.json().await.unwrap();
    assert_eq!(answer, json!({"status": "ok", "out": {"p_output": "Procesado: x"}, "output": []}));
}

#[tokio::test]
async fn output_is_not_captured_unless_asked() {
    let app = spawn_app().await;
    let job = app.wait_terminal(&app.submit(&notice(3, false, json!([]))).await).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job.get("output"), Some(&Json::Null), "{job}");
    let body = json!({"name": "PROC_TEST_NOTICE", "params": [{"name": "p_lines", "value": 2}]});
    let answer: Json = app.post("/procedure", ADMIN, &body).await.json().await.unwrap();
    assert_eq!(answer, json!({"status": "ok", "out": {}}), "no output key when not asked");

    // Asked, but the procedure writes nothing: an empty list, not null.
    let mut body = proc_test("quiet");
    body["capture_output"] = json!(true);
    let job = app.wait_terminal(&app.submit(&body).await).await;
    assert_eq!(job["output"], json!([]), "{job}");

    // Not a boolean: the body is refused.
    let bad = json!({"name": "PROC_TEST", "capture_output": "yes", "params": []});
    error_code(app.post("/procedure/async", ADMIN, &bad).await, 400).await;
}

#[tokio::test]
async fn a_failing_call_keeps_the_lines_written_before_its_error() {
    let app = spawn_app().await;
    let failing = notice(2, true, json!([{"name": "p_fail", "value": 1}]));
    let job = app.wait_terminal(&app.submit(&failing).await).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "P0001", "{job}");
    assert_eq!(job["output"], json!(numbered("line", 2)), "{job}");

    let error = error_code(app.post("/procedure", ADMIN, &failing).await, 422).await;
    assert_eq!(error["code"], "procedure_error");
    assert_eq!(error["db_code"], "P0001");
    assert_eq!(error["output"], json!(numbered("line", 2)), "{error}");
    let mut quiet = failing.clone();
    quiet["capture_output"] = json!(false);
    let error = error_code(app.post("/procedure", ADMIN, &quiet).await, 422).await;
    assert!(error.get("output").is_none(), "{error}");
}

#[tokio::test]
async fn an_interrupted_call_keeps_the_lines_written_before_it_stopped() {
    let app = spawn_app().await;
    let mut slow = notice(200, true, json!([{"name": "p_pause", "value": 0.02}]));
    slow["timeout_seconds"] = json!(0.5);
    let job = app.wait_terminal(&app.submit(&slow).await).await;
    assert_eq!((&job["status"], &job["error"]["code"]), (&json!("failed"), &json!("timeout")), "{job}");
    let lines = job["output"].as_array().expect("the lines so far").len();
    assert!((1..200).contains(&lines), "{job}");
    assert_eq!(job["output"], json!(numbered("line", lines)), "{job}");
}

/// Many calls, captured or not, async and sync, take turns on a pool of two connections: each
/// captured call gets exactly its own lines.
#[tokio::test]
async fn calls_sharing_pooled_connections_get_only_their_own_lines() {
    let app = spawn_app_with(&[("DB_POOL_SIZE", "3"), ("WORKERS", "1")]).await;
    let pause = json!({"name": "p_pause", "value": 0.002});
    let with_tag = |tag: &str| {
        let mut more = vec![json!({"name": "p_tag", "value": tag}), pause.clone()];
        more.push(json!({"name": "p_levels", "value": false}));
        Json::from(more)
    };
    let mut captured = Vec::new();
    for i in 0..12 {
        captured.push((i, app.submit(&notice(5, true, with_tag(&format!("job{i}")))).await));
        app.submit(&notice(5, false, with_tag(&format!("noise{i}")))).await;
    }
    let sync_calls = (0..6).map(|i| {
        let (app, body) = (&app, notice(4, i % 2 == 0, with_tag(&format!("sync{i}"))));
        async move { (i, app.post("/procedure", ADMIN, &body).await.json::<Json>().await.unwrap()) }
    });
    for (i, answer) in futures_util::future::join_all(sync_calls).await {
        let expected = if i % 2 == 0 { Some(json!(numbered(&format!("sync{i}"), 4))) } else { None };
        assert_eq!(answer.get("output").cloned(), expected, "{answer}");
    }
    for (i, id) in captured {
        let job = app.wait_terminal(&id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(job["output"], json!(numbered(&format!("job{i}"), 5)), "{job}");
    }
}

/// A call whose caller goes away (its future dropped) may still be running on the server, with
/// notices to come: its connection must not serve the next call, captured or not.
#[tokio::test]
async fn an_abandoned_call_never_leaks_lines_into_the_next_one() {
    let db = TestDatabase::create().await;
    // One connection: without the guard, the next call would get the very same one.
    let database = Database::connect(&db.url, &ConnectOptions::new("test", 1)).await.unwrap();
    let catalog = Catalog::new(database.routines.clone(), Allowlist::parse("PROC_TEST*"), Duration::ZERO);
    let plan = |params: Json, capture: bool| {
        let catalog = &catalog;
        async move {
            let params: Vec<ParamRequest> = serde_json::from_value(params).unwrap();
            let mut prepared = catalog.prepare("PROC_TEST_NOTICE", None, &params, false).await.unwrap();
            prepared.plan.capture_output = capture;
            prepared.plan
        }
    };
    let watcher = db.client().await;
    let active_calls = || async {
        let sql =
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CALL%proc_test_notice%' AND state = 'active'";
        watcher.query_one(sql, &[]).await.unwrap().get::<_, i64>(0)
    };
    for abandoned_captures in [false, true] {
        // The previous round's abandoned call ends once its connection is closed.
        eventually("no call left running", || async { (active_calls().await == 0).then_some(()) }).await;
        let slow = plan(
            json!([{"name": "p_lines", "value": 40}, {"name": "p_tag", "value": "stale"}, {"name": "p_pause", "value": 0.05}]),
            abandoned_captures,
        )
        .await;
        // Planned now, and with the same parameters (the same statement, its prepare cached): the
        // next call makes no round trip before its capture starts, which would wait behind the
        // abandoned call and so hide its notices.
        let fresh = plan(
            json!([{"name": "p_lines", "value": 3}, {"name": "p_tag", "value": "fresh"}, {"name": "p_pause", "value": 0}]),
            true,
        )
        .await;
        let backend = Arc::clone(&database.routines);
        let abandoned = tokio::spawn(async move { backend.call(&slow, &CancellationToken::new()).await.is_ok() });
        eventually("the slow call to be running", || async { (active_calls().await > 0).then_some(()) }).await;
        abandoned.abort();
        assert!(abandoned.await.is_err(), "the call was abandoned while running");

        let done = database.routines.call(&fresh, &CancellationToken::new()).await.unwrap();
        assert_eq!(done.output, Some(numbered("fresh", 3)), "abandoned call captured: {abandoned_captures}");
    }
}
