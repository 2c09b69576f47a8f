//! PostgreSQL-only durability tests (the shared ones are in tests/contract/durability.rs): they
//! need PostgreSQL's own sessions (`pg_stat_activity`, `application_name`), procedures that exist
//! only there (`proc_test_commit`, `proc_test_maybe_log`) or its read-only transactions.
//! The rescuer ends the sessions a dead instance left running; a routine that commits by itself
//! runs on its own; a routine that usually writes nothing still takes effect exactly once.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_routine_that_commits_by_itself_runs_on_its_own() {
    let app = spawn_app().await;
    for round in 0..2 {
        let tag = format!("self-commit-{round}");
        let body = json!({"name": "PROC_TEST_COMMIT", "params": [{"name": "p_tag", "value": tag}]});
        let job = app.wait_terminal(&app.submit(&body).await).await;
        assert_eq!(job["status"], "completed", "{job}");
        let calls = app.db.calls_per_tag().await;
        // The attempt inside the job's transaction failed at its COMMIT and left nothing: each
        // row exists once.
        assert_eq!(calls.get(&format!("{tag}:before")), Some(&1), "{calls:?}");
        assert_eq!(calls.get(&format!("{tag}:after")), Some(&1), "{calls:?}");
    }
}

#[tokio::test]
async fn the_rescuer_ends_the_sessions_a_dead_instance_left_running() {
    let app = spawn_app_with(&[("LEASE_TIMEOUT", "3s"), ("RESCUE_INTERVAL", "1s")]).await;
    let sql = app.db.client().await;
    // A dead instance's call still executing on the server, then its job as the table holds it.
    let url = format!("{}?application_name=procgate:ghost-instance", app.db.url);
    let (orphan, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    let driver = tokio::spawn(connection);
    let sleeping = tokio::spawn(async move { orphan.batch_execute("SELECT pg_sleep(60)").await });
    eventually("the orphaned call to be executing", || async {
        let n: i64 = count(
            &sql,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'procgate:ghost-instance' AND state = 'active'",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    sql.execute(
        "INSERT INTO async_jobs (job_id, status, procedure_name, owner, instance_id, heartbeat_at, attempts, start_time)
         VALUES ('0123456789abcdef0123456789abcdef', 'running', 'PROC_TEST_DEMORA', 'admin', 'ghost-instance',
                 now() - interval '1 minute', 1, now() - interval '1 minute')",
        &[],
    )
    .await
    .unwrap();
    let job = app.wait_terminal("0123456789abcdef0123456789abcdef").await;
    assert_eq!(job["error"]["code"], "orphaned", "{job}");
    let ended = tokio::time::timeout(Duration::from_secs(10), sleeping).await.expect("the orphaned call still runs");
    assert!(ended.unwrap().is_err(), "the orphaned call was not terminated");
    let left: i64 =
        count(&sql, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'procgate:ghost-instance'").await;
    assert_eq!(left, 0);
    driver.abort();
}

#[tokio::test]
async fn a_routine_that_usually_writes_nothing_still_takes_effect_exactly_once() {
    let app = spawn_app_with(&[("WORKERS", "1")]).await;
    let sql = app.db.client().await;
    let job = |tag: &str, write: bool| json!({"name": "PROC_TEST_MAYBE_LOG", "params": [{"name": "p_tag", "value": tag}, {"name": "p_write", "value": write}]});
    // Enough calls that write nothing for the gateway to run this routine read-only...
    for i in 0..5 {
        let done = app.wait_terminal(&app.submit(&job(&format!("quiet-{i}"), false)).await).await;
        assert_eq!(done["status"], "completed", "{done}");
    }
    // ...then one that writes: refused read-only, rolled back, run again with its completion.
    for round in 0..2 {
        let tag = format!("loud-{round}");
        let done = app.wait_terminal(&app.submit(&job(&tag, true)).await).await;
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(done["attempts"], 1, "{done}");
        assert_eq!(app.db.calls_per_tag().await.get(&tag), Some(&1), "the write was lost or doubled");
    }
    assert_eq!(count(&sql, "SELECT count(*) FROM proc_test_calls WHERE tag LIKE 'quiet-%'").await, 0);
}
