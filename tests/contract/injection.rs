//! Hostile names never reach SQL as text.

use serde_json::json;

use crate::contract::fixture::*;

/// The job table and the test procedures are still there (nothing was dropped).
pub async fn table_intact(db: &impl Backend) {
    // The job table answers (it was not dropped).
    db.count_jobs(None).await;
    let procs = db.test_procedures().await;
    assert!(procs >= 6, "test procedures were dropped");
}

pub async fn hostile_procedure_names_are_rejected(db: &impl Backend) {
    let app = db.spawn_app_with(&[("PROCEDURE_ALLOWLIST", "*,*.*,*.*.*")]).await;
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
    table_intact(db).await;
}
