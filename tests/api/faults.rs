//! PostgreSQL-only fault tests (the shared ones are in tests/contract/faults.rs): they drop the
//! test database under a running gateway, or need `proc_test_bad_json` and PostgreSQL's refusal of
//! NUL characters.

use serde_json::{json, Value as Json};

use crate::helpers::*;

#[tokio::test]
async fn shutdown_does_not_hang_when_the_database_is_gone() {
    let mut app =
        spawn_app_with(&[("SHUTDOWN_GRACE", "1s"), ("LEASE_TIMEOUT", "3s"), ("HEARTBEAT_INTERVAL", "1s")]).await;
    let id = app.submit(&demora(120.0)).await;
    app.wait_for_job(&id, |j| j["status"] == "running").await;
    let admin_url = app.db.url.rsplit_once('/').unwrap().0.to_string() + "/postgres";
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    admin.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", app.db.name)).await.unwrap();
    // The outcome cannot be written; the writer gives up once the lease has passed.
    tokio::time::timeout(JOB_DEADLINE, app.stop()).await.expect("shutdown hung on the unreachable database");
}

#[tokio::test]
async fn one_bad_value_fails_only_its_own_job() {
    let app = spawn_app().await;
    // A NUL character is refused before the job is accepted.
    let err = error_code(app.post("/procedure/async", ADMIN, &proc_test("a\u{0}b")).await, 422).await;
    assert_eq!(err["param"], "p_input");
    let mut huge = proc_test("x");
    huge["retry"] = json!({"max_attempts": 2, "initial_delay_ms": 10_000_000_000_000_000_000u64,
                           "max_delay_ms": 10_000_000_000_000_000_000u64});
    let err = error_code(app.post("/procedure/async", ADMIN, &huge).await, 422).await;
    assert_eq!(err["field"], "retry");
    // A result the database cannot store fails that job, and only that job.
    let bad = app.submit(&json!({"name": "PROC_TEST_BAD_JSON"})).await;
    let bodies: Vec<Json> = (0..10).map(|i| proc_test(&format!("ok-{i}"))).collect();
    let good: Vec<String> = futures_util::future::join_all(bodies.iter().map(|b| app.submit(b))).await;
    let job = app.wait_terminal(&bad).await;
    assert_eq!(
        (job["status"].as_str(), job["error"]["code"].as_str()),
        (Some("failed"), Some("unwritable_result")),
        "{job}"
    );
    for id in good {
        assert_eq!(app.wait_terminal(&id).await["status"], "completed");
    }
}
