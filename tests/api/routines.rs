//! How a procedure name resolves to a routine: the allowlist applies to the routine it resolves
//! to (system schemas), per-procedure limits count the routine however it was spelled, and
//! unnamed arguments are given by position (`"$1"`).
//! Not in the contract suite: `pg_catalog` routines and unnamed arguments are PostgreSQL's.

use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::helpers::*;

fn pg_sleep(name: &str) -> Json {
    json!({"name": name, "isFunction": true, "params": [{"name": "$1", "value": 0}]})
}

/// Calls `body` on both endpoints and asserts both refuse it with 403 `procedure_not_allowed`.
async fn refused(app: &TestApp, body: &Json) {
    for path in ["/procedure", "/procedure/async"] {
        let err = error_code(app.post(path, ADMIN, body).await, 403).await;
        assert_eq!(err["code"], "procedure_not_allowed", "{path} {body}");
    }
}

#[tokio::test]
async fn star_does_not_reach_system_schemas() {
    let app = spawn_app_with(&[("PROCEDURE_ALLOWLIST", "*")]).await;
    for body in [
        pg_sleep("pg_sleep"),
        pg_sleep("PG_SLEEP"),
        pg_sleep("\"pg_sleep\""),
        pg_sleep("pg_catalog.pg_sleep"),
        json!({"name": "pg_sleep", "schema": "pg_catalog", "isFunction": true, "params": [{"name": "$1", "value": 0}]}),
        json!({"name": "pg_terminate_backend", "isFunction": true, "params": [{"name": "pid", "value": 1}]}),
        json!({"name": "set_config", "isFunction": true, "params": [
            {"name": "$1", "value": "work_mem"}, {"name": "$2", "value": "1MB"}, {"name": "$3", "value": false}
        ]}),
        json!({"name": "version", "isFunction": true}),
    ] {
        refused(&app, &body).await;
    }
    // Routines outside the system schemas still answer as before: unknown ones 404, known ones run.
    let err = error_code(app.post("/procedure", ADMIN, &pg_sleep("pg_no_such_function")).await, 404).await;
    assert_eq!(err["code"], "procedure_not_found");
    let resp = app.post("/procedure", ADMIN, &proc_test("x")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(count(&app.db.client().await, "SELECT count(*) FROM async_jobs").await, 0);
}

#[tokio::test]
async fn a_pattern_naming_the_system_schema_allows_that_routine() {
    let app = spawn_app_with(&[("PROCEDURE_ALLOWLIST", "PROC_TEST*,pg_catalog.pg_sleep")]).await;
    let resp = app.post("/procedure", ADMIN, &pg_sleep("pg_catalog.pg_sleep")).await;
    let status = resp.status();
    let body: Json = resp.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let id = app.submit(&pg_sleep("pg_catalog.pg_sleep")).await;
    assert_eq!(app.wait_terminal(&id).await["status"], "completed");
    // The pattern allows that routine only, and only as it names it.
    refused(&app, &pg_sleep("pg_sleep")).await;
    refused(&app, &json!({"name": "pg_catalog.pg_terminate_backend", "isFunction": true})).await;
    refused(&app, &json!({"name": "pg_catalog.set_config", "isFunction": true})).await;
}

#[tokio::test]
async fn unnamed_arguments_are_given_by_position() {
    let app = spawn_app().await;
    let add = json!({"name": "PROC_TEST_ADD", "isFunction": true, "params": [
        {"name": "$2", "value": 3}, {"name": "$1", "value": 2}
    ]});
    let resp = app.post("/procedure", ADMIN, &add).await;
    let status = resp.status();
    let body: Json = resp.json().await.unwrap();
    assert_eq!((status.as_u16(), &body["out"]), (200, &json!({"return": 5})), "{body}");
    let id = app.submit(&add).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!((&job["status"], &job["result"]), (&json!("completed"), &json!({"return": 5})), "{job}");

    // A procedure with an unnamed INOUT argument: its value comes back.
    let unnamed = json!({"name": "proc_test_unnamed", "params": [
        {"name": "$1", "value": 7}, {"name": "$2", "value": "x", "direction": "INOUT"}
    ]});
    let resp = app.post("/procedure", ADMIN, &unnamed).await;
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["out"], json!({"$2": "x:7"}), "an unnamed OUT value is keyed by its position: {body}");
    let id = app.submit(&unnamed).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["result"], json!({"$2": "x:7"}), "{job}");

    // By position up to the last unnamed argument, then by name; a defaulted one may be left out.
    for (params, expected) in [
        (json!([{"name": "$1", "value": 4}]), 40),
        (json!([{"name": "p_factor", "value": 2}, {"name": "$1", "value": 4}]), 8),
    ] {
        let body = json!({"name": "proc_test_scale", "isFunction": true, "params": params});
        let answer: Json = app.post("/procedure", ADMIN, &body).await.json().await.unwrap();
        assert_eq!(answer["out"]["return"], expected, "{answer}");
        let id = app.submit(&body).await;
        assert_eq!(app.wait_terminal(&id).await["result"]["return"], expected);
    }

    // A missing positional argument, and one the routine does not have, are named in the 422.
    for (params, param) in [
        (json!([{"name": "$1", "value": 1}]), "$2"),
        (json!([{"name": "$1", "value": 1}, {"name": "$2", "value": 1}, {"name": "$3", "value": 1}]), "$3"),
    ] {
        let body = json!({"name": "proc_test_add", "isFunction": true, "params": params});
        for path in ["/procedure", "/procedure/async"] {
            let err = error_code(app.post(path, ADMIN, &body).await, 422).await;
            assert_eq!((err["code"].as_str(), err["param"].as_str()), (Some("invalid_parameter"), Some(param)));
        }
    }
}

#[tokio::test]
async fn limits_count_the_routine_however_it_is_spelled() {
    let app = spawn_app_with(&[
        ("PROCEDURE_ALLOWLIST", "PROC_TEST*,public.PROC_TEST*"),
        ("PROCEDURE_CONCURRENCY", "PROC_TEST_LOG=1"),
        ("WORKERS", "4"),
        ("POLL_INTERVAL", "100ms"),
    ]);
    let app = app.await;
    let spellings = ["PROC_TEST_LOG", "\"proc_test_log\"", "public.proc_test_log"];
    let mut ids = vec![];
    for i in 0..6 {
        let body = json!({"name": spellings[i % 3], "params": [
            {"name": "p_tag", "value": format!("limit-{i}")}, {"name": "p_seconds", "value": 0.3}
        ]});
        ids.push(app.submit(&body).await);
    }
    let db = app.db.client().await;
    let routines: Vec<String> =
        db.query("SELECT DISTINCT routine FROM async_jobs", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(routines, vec!["public.proc_test_log".to_string()]);
    let start = Instant::now();
    let mut max_running = 0;
    loop {
        let row = db
            .query_one(
                "SELECT count(*) FILTER (WHERE status = 'running'), count(*) FILTER (WHERE status = 'completed')
                   FROM async_jobs",
                &[],
            )
            .await
            .unwrap();
        let (running, completed): (i64, i64) = (row.get(0), row.get(1));
        max_running = max_running.max(running);
        assert!(running <= 1, "{running} proc_test_log jobs running at once under a limit of 1");
        if completed == 6 {
            break;
        }
        assert!(start.elapsed() < JOB_DEADLINE * 2, "the jobs did not complete in time ({completed} of 6)");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(max_running, 1);
    assert_eq!(app.db.calls_per_tag().await.len(), 6);
}
