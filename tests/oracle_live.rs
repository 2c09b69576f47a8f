//! Oracle on a live server: the contract suite (`tests/contract/`, the same scenarios the
//! PostgreSQL suite runs, on `tests/contract/oracle.rs`) and what only Oracle has: catalog
//! resolution through NAME_RESOLVE, exact Oracle type round trips, packages, DBMS_OUTPUT and ORA
//! codes.
//!
//! Everything here runs when `PROCGATE_TEST_ORACLE_URL=oracle://user:password@host:port/service`
//! is set (Oracle Instant Client installed, see docs/oracle.md), one scenario at a time, on a
//! schema of the suite's own (each scenario starts by emptying its job table). Without the
//! variable each test writes `SKIPPED: <scenario>: ...` to stderr and returns, so the output lists
//! the Oracle scenarios that would run.

#![cfg(feature = "oracle")]

use std::io::Write as _;

use procgate::procedure::name::ProcedureName;
use serde_json::{json, Value as Json};

#[path = "contract/mod.rs"]
mod contract;
#[path = "contract/oracle.rs"]
mod oracle;
#[path = "common/settings.rs"]
mod settings;

use contract::fixture::{App, Backend, ADMIN};

/// The contract suite on Oracle.
mod on_oracle {
    crate::contract::contract_suite!(crate::oracle::open);
}

/// The status and JSON body of an answer (the text itself when it is not JSON).
async fn answer(resp: reqwest::Response) -> (u16, Json) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Json::String(text)))
}

async fn post(app: &App, path: &str, body: &Json) -> (u16, Json) {
    answer(app.post(path, ADMIN, body).await).await
}

/// Posts JSON text as written (so numbers keep every digit).
async fn post_text(app: &App, path: &str, body: &str) -> (u16, Json) {
    let request = app.client.post(app.url(path)).bearer_auth(ADMIN).header("Content-Type", "application/json");
    answer(request.body(body.to_string()).send().await.unwrap()).await
}

async fn get(app: &App, path: &str) -> (u16, Json) {
    answer(app.get(path, ADMIN).await).await
}

#[tokio::test]
async fn oracle_live_catalog_resolution() {
    let Some(db) = oracle::open("oracle_live_catalog_resolution").await else { return };
    let db = db.store(8).await;
    db.store.ping().await.expect("ping");
    let describe = |name: &str| {
        let (db, name) = (db.clone(), ProcedureName::parse(name, None).unwrap());
        async move { db.routines.describe(&name).await.expect("describe") }
    };
    let sigs = describe("proc_test").await;
    assert_eq!(sigs.len(), 1);
    let names: Vec<&str> = sigs[0].args.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["P_INPUT", "P_OUTPUT"]);
    assert_eq!(sigs[0].args[0].db_type, "VARCHAR2");
    // A package's overloads, and a packaged function.
    assert_eq!(describe("PROC_TEST_PKG.DESCRIBE_IT").await.len(), 2);
    let twice = describe("proc_test_pkg.twice").await;
    assert_eq!((twice.len(), twice[0].package.as_deref()), (1, Some("PROC_TEST_PKG")));
    assert!(twice[0].returns.is_some());
    // schema.procedure resolves too; names that are not routines resolve to nothing.
    let schema = sigs[0].schema.clone();
    assert_eq!(describe(&format!("{schema}.PROC_TEST")).await.len(), 1);
    assert!(describe("PROC_TEST_DOES_NOT_EXIST").await.is_empty());
    assert!(describe("ASYNC_JOBS").await.is_empty());
    assert!(describe("\"proc_test\"").await.is_empty(), "quoted names keep their case");
    // A private synonym (created when the user may create synonyms) resolves to its target.
    let alias = describe("PROC_TEST_ALIAS").await;
    if let Some(s) = alias.first() {
        assert_eq!(s.name, "PROC_TEST");
    }
}

#[tokio::test]
async fn oracle_live_error_keeps_the_ora_code() {
    let Some(db) = oracle::open("oracle_live_error_keeps_the_ora_code").await else { return };
    let mut app = db.spawn_app_with(&[("PROCEDURE_ALLOWLIST", "PROC_TEST*,PROC_TEST_PKG.*")]).await;
    let body = json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1}]});
    let job = app.wait_terminal(&app.submit(&body).await).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "ORA-20001", "{job}");
    assert!(job["error"]["message"].as_str().unwrap().starts_with("Error intencional de prueba"), "{job}");
    assert_eq!(job["progress"], 100);

    let (status, answer) = post(&app, "/procedure", &body).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["db_code"], "ORA-20001", "{answer}");
    let ok = json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 0}]});
    assert_eq!(post(&app, "/procedure", &ok).await.0, 200);
    app.stop().await;
}

#[tokio::test]
async fn oracle_live_exact_values_round_trip() {
    let Some(db) = oracle::open("oracle_live_exact_values_round_trip").await else { return };
    let mut app = db.spawn_app_with(&[("PROCEDURE_ALLOWLIST", "PROC_TEST*,PROC_TEST_PKG.*")]).await;
    let (status, ready) = get(&app, "/ready").await;
    assert_eq!((status, ready["database"].as_str()), (200, Some("oracle")), "{ready}");
    let body = r#"{"name": "PROC_TEST_ECHO", "params": [
        {"name": "p_number", "value": 12345678901234567890.123456789},
        {"name": "p_ts", "value": "2024-12-16T15:30:00.25+02:00"},
        {"name": "p_local", "value": "2024-12-16T15:30:05.5"},
        {"name": "p_day", "value": "16/12/2024 10:11:12"},
        {"name": "p_flag", "value": true},
        {"name": "p_doc", "value": "a CLOB"},
        {"name": "p_count", "value": 42},
        {"name": "p_float", "value": 1.5},
        {"name": "p_bin", "value": "AQL/"}]}"#;
    let (status, answer) = post_text(&app, "/procedure", body).await;
    assert_eq!(status, 200, "{answer}");
    let out = &answer["out"];
    assert_eq!(out["O_NUMBER"].to_string(), "12345678901234567890.123456789", "{answer}");
    assert_eq!(out["O_TS"], "2024-12-16T15:30:00.250+02:00");
    assert_eq!(out["O_LOCAL"], "2024-12-16T15:30:05.500");
    assert_eq!(out["O_DAY"], "2024-12-16T10:11:12");
    assert_eq!(out["O_FLAG"], true);
    assert_eq!(out["O_DOC"], "a CLOB");
    assert_eq!(out["O_COUNT"].to_string(), "42");
    assert_eq!(out["O_FLOAT"].to_string(), "1.5");
    assert_eq!(out["O_BIN"], "AQL/");

    let inout = json!({"name": "PROC_TEST_INOUT", "params": [
        {"name": "p_value", "value": 21, "direction": "INOUT"}, {"name": "p_text", "value": "hi", "direction": "INOUT"}]});
    let (status, answer) = post(&app, "/procedure", &inout).await;
    assert_eq!((status, &answer["out"]), (200, &json!({"p_value": 42, "p_text": "hi!"})), "{answer}");

    let (status, answer) = post_text(
        &app,
        "/procedure",
        r#"{"name": "PROC_TEST_FUNC", "isFunction": true, "params": [
                {"name": "total", "direction": "OUT"}, {"name": "p_a", "value": "12345678901234567890.123456789"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["out"]["total"].to_string(), "12345678901234567891.123456789");

    // Packages: overloads chosen by parameter names; a packaged function.
    for (param, value, expected) in [("p_text", json!("a"), "text: a"), ("p_number", json!(5), "number: 5")] {
        let (status, answer) = post(
            &app,
            "/procedure",
            &json!({"name": "PROC_TEST_PKG.DESCRIBE_IT", "params": [{"name": param, "value": value}]}),
        )
        .await;
        assert_eq!((status, answer["out"]["P_OUT"].as_str()), (200, Some(expected)), "{answer}");
    }
    let twice = json!({"name": "PROC_TEST_PKG.TWICE", "params": [
        {"name": "r", "direction": "OUT"}, {"name": "p_n", "value": 4}]});
    let (status, answer) = post(&app, "/procedure", &twice).await;
    assert_eq!((status, answer["out"]["r"].to_string()), (200, "8".to_string()), "{answer}");

    // The JSON type, where the database has it (21c+).
    let (status, answer) = post_text(
        &app,
        "/procedure",
        r#"{"name": "PROC_TEST_JSON", "params": [{"name": "p_doc", "value": {"n": 1.10, "s": "x"}}]}"#,
    )
    .await;
    match status {
        200 => assert_eq!(answer["out"]["O_DOC"]["s"], "x", "{answer}"),
        _ => {
            let _ = writeln!(std::io::stderr(), "note: PROC_TEST_JSON not usable here (no JSON type?): {answer}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn oracle_live_dbms_output_is_captured_when_asked() {
    let Some(db) = oracle::open("oracle_live_dbms_output_is_captured_when_asked").await else { return };
    let mut app = db.spawn_app_with(&[("PROCEDURE_ALLOWLIST", "PROC_TEST*,PROC_TEST_PKG.*")]).await;
    let notice = |lines: i64, fail: i64, capture: bool| {
        json!({"name": "PROC_TEST_NOTICE", "capture_output": capture,
               "params": [{"name": "p_lines", "value": lines}, {"name": "p_fail", "value": fail}]})
    };
    let numbered = |n: usize| Json::from((1..=n).map(|i| format!("line {i}")).collect::<Vec<_>>());

    // A job: the lines in the order written.
    let job = app.wait_terminal(&app.submit(&notice(3, 0, true)).await).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["output"], numbered(3), "{job}");
    // Not asked: null (and the session's buffer is left empty for the next caller).
    let job = app.wait_terminal(&app.submit(&notice(2, 0, false)).await).await;
    assert_eq!((&job["status"], &job["output"]), (&json!("completed"), &Json::Null), "{job}");

    // Synchronous: next to `out` when asked, absent otherwise.
    let (status, answer) = post(&app, "/procedure", &notice(2, 0, true)).await;
    assert_eq!((status, &answer["output"]), (200, &numbered(2)), "{answer}");
    let (status, answer) = post(&app, "/procedure", &notice(2, 0, false)).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer.get("output").is_none(), "{answer}");

    // A failing call keeps the lines it wrote before its error.
    let job = app.wait_terminal(&app.submit(&notice(2, 1, true)).await).await;
    assert_eq!((&job["status"], &job["error"]["code"]), (&json!("failed"), &json!("ORA-20002")), "{job}");
    assert_eq!(job["output"], numbered(2), "{job}");
    let (status, answer) = post(&app, "/procedure", &notice(2, 1, true)).await;
    assert_eq!((status, &answer["error"]["db_code"]), (422, &json!("ORA-20002")), "{answer}");
    assert_eq!(answer["error"]["output"], numbered(2), "{answer}");

    // More lines than one GET_LINES round trip reads, still in order.
    let (status, answer) = post(&app, "/procedure", &notice(2500, 0, true)).await;
    assert_eq!((status, &answer["output"]), (200, &numbered(2500)), "{answer}");
    app.stop().await;
}
