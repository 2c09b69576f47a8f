//! Every example of the predecessor's documentation (seed 003), as written.

use serde_json::{json, Value as Json};

use crate::contract::fixture::*;

pub async fn proc_test_job_completes_with_its_output(db: &impl Backend) {
    let app = db.spawn_app().await;
    let resp = app.post("/procedure/async", ADMIN, &proc_test("Test")).await;
    assert_eq!(resp.status(), 202);
    let location = resp.headers()["location"].to_str().unwrap().to_string();
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["status"], "accepted");
    let id = body["job_id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(body["check_status_url"], format!("/jobs/{id}"));
    assert_eq!(location, format!("/jobs/{id}"));
    assert!(body["message"].is_string());

    let job = app.wait_terminal(id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["result"], json!({"p_output": "Procesado: Test"}));
    assert_eq!(job["progress"], 100);
    assert_eq!(job["procedure_name"], "PROC_TEST");
    assert_eq!(job["params"], json!({"p_input": "Test"}));
    assert_eq!(job["error"], Json::Null);
    let duration = job["duration"].as_str().unwrap();
    assert!(duration.ends_with('s') && duration.trim_end_matches('s').parse::<f64>().is_ok(), "{duration}");
    assert!(job["duration_ms"].as_i64().unwrap() >= 0);
    for field in ["start_time", "end_time", "created_at"] {
        let t = job[field].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(t).is_ok(), "{field}: {t}");
    }
}

pub async fn demora_shows_progress_while_running_then_completes(db: &impl Backend) {
    let app = db.spawn_app_with(&[("PROGRESS_FLUSH_INTERVAL", "50ms")]).await;
    let id = app.submit(&demora(2.0)).await;
    let running = app.wait_for_job(&id, |j| j["status"] == "running" && j["progress"].as_i64().unwrap() >= 50).await;
    assert!(running["progress"].as_i64().unwrap() < 100);
    assert!(running["start_time"].is_string());
    assert_eq!(running["end_time"], Json::Null);
    let done = app.wait_terminal(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 100);
    assert!(done["duration_ms"].as_i64().unwrap() >= 2000, "{done}");
}

pub async fn progress_never_goes_backwards(db: &impl Backend) {
    let app = db.spawn_app_with(&[("PROGRESS_FLUSH_INTERVAL", "20ms")]).await;
    let id = app.submit(&demora(1.0)).await;
    let mut seen = vec![];
    loop {
        let job = app.job(&id).await;
        seen.push(job["progress"].as_i64().unwrap());
        if job["status"] == "completed" {
            break;
        }
        assert!(seen.len() < 3000, "job never completed");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "progress went backwards: {seen:?}");
    assert!(seen.iter().all(|p| [0, 10, 30, 50, 80, 100].contains(p)), "{seen:?}");
    assert_eq!(*seen.last().unwrap(), 100);
}

pub async fn error_procedure_fails_with_its_message(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app
        .submit(
            &json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1, "type": "NUMBER"}]}),
        )
        .await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["status"], "failed");
    assert_eq!(job["progress"], 100);
    assert_eq!(job["error"]["code"], db.raised_code());
    db.assert_raised_message(&job["error"]["message"], "Error intencional de prueba");
    assert_eq!(job["result"], Json::Null);

    let ok = app.submit(&json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 0}]})).await;
    assert_eq!(app.wait_terminal(&ok).await["status"], "completed");
}

pub async fn cursor_procedure_returns_rows(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app
        .submit(&json!({"name": "PROC_TEST_CURSOR", "params": [
            {"name": "p_limit", "value": 5, "direction": "IN", "type": "NUMBER"},
            {"name": "p_cursor", "direction": "OUT", "type": "CURSOR"}
        ]}))
        .await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let rows = job["result"]["p_cursor"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let (id, nombre, fecha) = (db.column("id"), db.column("nombre"), db.column("fecha"));
    assert_eq!(rows[0], json!({id: 1, nombre.clone(): "Item 1", fecha: "2024-12-17T15:30:00"}));
    assert_eq!(rows[4][nombre], "Item 5");
}

pub async fn params_procedure_takes_number_text_and_date(db: &impl Backend) {
    let app = db.spawn_app().await;
    for (date, shown) in [
        ("16/12/2024", "2024-12-16 00:00:00"),
        ("2024-12-16T15:30:45", "2024-12-16 15:30:45"),
        ("2024-12-16 08:05", "2024-12-16 08:05:00"),
    ] {
        let id = app
            .submit(&json!({"name": "PROC_TEST_PARAMS", "params": [
                {"name": "p_number", "value": 42.5, "type": "NUMBER"},
                {"name": "p_varchar", "value": "hola", "type": "STRING"},
                {"name": "p_date", "value": date, "type": "DATE"},
                {"name": "p_result", "direction": "OUT"}
            ]}))
            .await;
        let job = app.wait_terminal(&id).await;
        assert_eq!(job["status"], "completed", "{job}");
        assert_eq!(
            job["result"]["p_result"],
            format!("Number: 42.5, Varchar: hola, Date: {shown}"),
            "date given as {date}"
        );
    }
}

pub async fn dml_procedure_reports_rows_created(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app
        .submit(&json!({"name": "PROC_TEST_DML", "params": [
            {"name": "p_table_name", "value": "demo_rows"},
            {"name": "p_rows_created", "direction": "OUT", "type": "NUMBER"}
        ]}))
        .await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["result"], json!({"p_rows_created": 3}), "{job}");
    let n: i64 = db.rows_in("demo_rows").await;
    assert_eq!(n, 3);
}

pub async fn synchronous_call_answers_with_out_values(db: &impl Backend) {
    let app = db.spawn_app().await;
    let resp = app.post("/procedure", ADMIN, &proc_test("Test")).await;
    assert_eq!(resp.status(), 200);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body, json!({"status": "ok", "out": {"p_output": "Procesado: Test"}}));
}
