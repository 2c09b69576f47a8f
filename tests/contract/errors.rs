//! Bad input always gets a 4xx with a typed JSON body, checked before a job is accepted; a
//! procedure's own error and a call past its time are told apart.

use serde_json::json;

use crate::contract::fixture::*;

pub async fn parameters_are_checked_against_the_catalog_before_accepting(db: &impl Backend) {
    let app = db.spawn_app().await;
    let cases = [
        (json!([{"name": "p_inptu", "value": "x"}]), "p_inptu"),
        (json!([{"name": "p_output", "direction": "OUT"}]), "p_input"),
        (json!([{"name": "p_input", "value": "x", "direction": "OUT"}]), "p_input"),
        (json!([{"name": "p_input", "value": "x", "type": "CURSOR"}]), "p_input"),
        (json!([{"name": "p_input", "value": "x"}, {"name": "p_input", "value": "y"}]), "p_input"),
    ];
    for (params, bad) in cases {
        let body = json!({"name": "PROC_TEST", "params": params});
        let err = error_code(app.post("/procedure/async", ADMIN, &body).await, 422).await;
        assert_eq!(err["param"], bad, "{body} → {err}");
    }
    let err = error_code(
        app.post(
            "/procedure/async",
            ADMIN,
            &json!({"name": "PROC_TEST_DEMORA", "params": [{"name": "segundos", "value": "soon"}]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(err["param"], "segundos");
    let err = error_code(
        app.post("/procedure/async", ADMIN, &json!({"name": "PROC_TEST_PARAMS", "params": [
            {"name": "p_number", "value": 1}, {"name": "p_varchar", "value": "x"}, {"name": "p_date", "value": "31/31/2024"}
        ]}))
        .await,
        422,
    )
    .await;
    assert_eq!(err["param"], "p_date");
    let err = error_code(
        app.post(
            "/procedure/async",
            ADMIN,
            &json!({"name": "PROC_TEST", "isFunction": true, "params": [{"name": "p_input", "value": "x"}]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(err["code"], "not_a_function");
    assert_eq!(db.count_jobs(None).await, 0, "no job may be stored for a rejected request");
}

pub async fn unknown_unlisted_and_malformed_procedure_names(db: &impl Backend) {
    let app = db.spawn_app().await;
    let err = error_code(app.post("/procedure/async", ADMIN, &json!({"name": "PROC_TEST_MISSING"})).await, 404).await;
    assert_eq!(err["code"], "procedure_not_found");
    let err = error_code(app.post("/procedure/async", ADMIN, &json!({"name": "hidden_proc"})).await, 403).await;
    assert_eq!(err["code"], "procedure_not_allowed");
    let err = error_code(
        app.post("/procedure/async", ADMIN, &json!({"name": "PROC_TEST", "schema": db.system_schema()})).await,
        403,
    )
    .await;
    assert_eq!(err["code"], "procedure_not_allowed");
    let err = error_code(app.post("/procedure", ADMIN, &json!({"name": "PROC TEST"})).await, 400).await;
    assert_eq!(err["code"], "invalid_procedure_name");
    assert_eq!(db.count_jobs(None).await, 0);
}

pub async fn body_errors_are_typed(db: &impl Backend) {
    let app = db.spawn_app_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let url = app.url("/procedure/async");
    let send = |body: String, content_type: &'static str| {
        app.client.post(&url).bearer_auth(ADMIN).header("content-type", content_type).body(body).send()
    };
    let err = error_code(send("{not json".into(), "application/json").await.unwrap(), 400).await;
    assert_eq!(err["code"], "invalid_json");
    let err = error_code(send(r#"{"params": []}"#.into(), "application/json").await.unwrap(), 400).await;
    assert_eq!(err["code"], "invalid_json");
    for bad in [
        r#"{"name":"PROC_TEST","params":[{"name":"p_input","direction":"SIDEWAYS"}]}"#,
        r#"{"name":"PROC_TEST","params":[{"name":"p_input","type":"VARCHAR3"}]}"#,
    ] {
        let err = error_code(send(bad.into(), "application/json").await.unwrap(), 422).await;
        assert_eq!(err["param"], "p_input", "{err}");
    }
    let err = error_code(send(proc_test("x").to_string(), "text/plain").await.unwrap(), 415).await;
    assert_eq!(err["code"], "unsupported_media_type");
    let big = json!({"name": "PROC_TEST", "params": [{"name": "p_input", "value": "x".repeat(5000)}]});
    let err = error_code(send(big.to_string(), "application/json").await.unwrap(), 413).await;
    assert_eq!(err["code"], "payload_too_large");
}

pub async fn routes_methods_and_ids(db: &impl Backend) {
    let app = db.spawn_app().await;
    let err = error_code(app.get("/nowhere", ADMIN).await, 404).await;
    assert_eq!(err["code"], "not_found");
    let err = error_code(app.client.put(app.url("/jobs")).bearer_auth(ADMIN).send().await.unwrap(), 405).await;
    assert_eq!(err["code"], "method_not_allowed");
    for id in ["0123456789abcdef0123456789abcdef", "not-a-job", "1%27%20or%20%271%27%3D%271"] {
        let err = error_code(app.get(&format!("/jobs/{id}"), ADMIN).await, 404).await;
        assert_eq!(err["code"], "job_not_found");
    }
    for q in ["?limit=-1", "?limit=ten", "?offset=x", "?status=done"] {
        let err = error_code(app.get(&format!("/jobs{q}"), ADMIN).await, 400).await;
        assert_eq!(err["code"], "invalid_query", "{q}");
    }
    error_code(app.delete("/jobs?older_than=week", ADMIN).await, 400).await;
    error_code(app.delete("/jobs?older_than=4000000000", ADMIN).await, 400).await;
}

pub async fn synchronous_calls_time_out_with_504_and_the_pool_stays_usable(db: &impl Backend) {
    let app = db.spawn_app_with(&[("SYNC_TIMEOUT", "1s"), ("DB_POOL_SIZE", "3"), ("WORKERS", "1")]).await;
    let err = error_code(app.post("/procedure", ADMIN, &demora(120.0)).await, 504).await;
    assert_eq!(err["code"], "timeout");
    // The interrupted call left no busy connection behind: both pooled connections still work.
    for _ in 0..3 {
        let resp = app.post("/procedure", ADMIN, &proc_test("after")).await;
        assert_eq!(resp.status(), 200);
    }
    db.no_call_running("proc_test_demora").await;
}

pub async fn synchronous_procedure_errors_are_422_with_the_database_code(db: &impl Backend) {
    let app = db.spawn_app().await;
    let err = error_code(
        app.post(
            "/procedure",
            ADMIN,
            &json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1}]}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(err["code"], "procedure_error");
    assert_eq!(err["db_code"], db.raised_code());
    db.assert_raised_message(&err["message"], "Error intencional de prueba");
}
