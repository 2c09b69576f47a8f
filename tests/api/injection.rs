//! Hostile names and values never reach SQL as text.

use serde_json::{json, Value as Json};

use crate::helpers::*;

async fn table_intact(app: &TestApp) {
    // The job table answers (it was not dropped).
    count(&app.db.client().await, "SELECT count(*) FROM async_jobs").await;
    let procs = count(&app.db.client().await, "SELECT count(*) FROM pg_proc WHERE proname LIKE 'proc_test%'").await;
    assert!(procs >= 6, "test procedures were dropped");
}

#[tokio::test]
async fn hostile_procedure_names_are_rejected() {
    let app = spawn_app_with(&[("PROCEDURE_ALLOWLIST", "*,*.*,*.*.*")]).await;
    for name in [
        "PROC_TEST; DROP TABLE async_jobs",
        "PROC_TEST(1); --",
        "PROC_TEST'--",
        "\"proc_test\"; select 1",
        "proc_test\" (p_input => 'x'); DROP TABLE async_jobs; --",
        "a.b.c.d",
        "",
        "proc_test/**/",
    ] {
        let resp = app.post("/procedure/async", ADMIN, &json!({"name": name, "params": []})).await;
        let status = resp.status().as_u16();
        assert!(status == 400 || status == 404, "{name:?} answered {status}");
        error_code(resp, status).await;
    }
    let resp =
        app.post("/procedure", ADMIN, &json!({"name": "proc_test", "schema": "public; DROP TABLE async_jobs"})).await;
    error_code(resp, 400).await;
    // A quoted name is an identifier, not SQL: it resolves to nothing.
    let resp = app.post("/procedure", ADMIN, &json!({"name": "\"proc_test; DROP TABLE async_jobs\""})).await;
    error_code(resp, 404).await;
    table_intact(&app).await;
}

#[tokio::test]
async fn hostile_values_are_bound_not_pasted() {
    let app = spawn_app().await;
    let evil = "x'); DROP TABLE async_jobs; --";
    let id = app.submit(&proc_test(evil)).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["result"]["p_output"], format!("Procesado: {evil}"));
    let err = error_code(
        app.post(
            "/procedure/async",
            ADMIN,
            &json!({"name": "PROC_TEST", "params": [
                {"name": "p_input => 'x'); DROP TABLE async_jobs; --", "value": "x"}
            ]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(err["code"], "invalid_parameter");
    let err = error_code(
        app.post(
            "/procedure/async",
            ADMIN,
            &json!({"name": "PROC_TEST_DEMORA", "params": [
                {"name": "segundos", "value": "1); DROP TABLE async_jobs; --"}
            ]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(err["param"], "segundos");
    // The DML procedure's table name is quoted by the procedure itself (%I).
    let id = app
        .submit(&json!({"name": "PROC_TEST_DML", "params": [{"name": "p_table_name", "value": "t; DROP TABLE async_jobs"}]}))
        .await;
    assert_eq!(app.wait_terminal(&id).await["result"]["p_rows_created"], 3);
    table_intact(&app).await;
    let body: Json = app.get("/jobs?procedure=x'%20OR%20'1'='1", ADMIN).await.json().await.unwrap();
    assert_eq!(body["total"], 0);
}
