//! PostgreSQL-only injection test (the shared one is in tests/contract/injection.rs): its DML
//! procedure quotes any table name (`%I`), where Oracle's refuses what is not a plain name.
//! Hostile values never reach SQL as text.

use serde_json::{json, Value as Json};

use crate::helpers::*;

async fn table_intact(app: &TestApp) {
    crate::contract::injection::table_intact(&*app.db).await;
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
