//! PostgreSQL-only engine tests (the shared ones are in tests/contract/engine.rs): they rest on
//! LISTEN/NOTIFY, on rows written with PostgreSQL's SQL and on its `cleanup_old_async_jobs`
//! procedure. Wake-ups need no polling, retention deletes exactly the old ended jobs, a storm of
//! cancel notifications does not starve the heartbeat.

use std::sync::Arc;

use procgate::db::{ConnectOptions, Database};
use procgate::model::NewJob;
use serde_json::json;

use crate::helpers::*;

fn new_job(name: &str) -> NewJob {
    NewJob::new(name, json!([]), "admin")
}

#[tokio::test]
async fn another_instance_wakes_on_notify_without_polling() {
    // The gateway polls once an hour: only LISTEN/NOTIFY can tell it about jobs that another
    // process inserts. Its LISTEN session catches up once when it starts; so after the first
    // job, every further job can only have been noticed through NOTIFY.
    let app = spawn_app_with(&[("POLL_INTERVAL", "1h")]).await;
    let db = app.db.client().await;
    eventually("the gateway's LISTEN session", || async {
        let n: i64 = count(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%LISTEN procgate_jobs;%' AND pid <> pg_backend_pid()",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    let other_process = Database::connect(&app.db.url, &ConnectOptions::new("test", 2)).await.unwrap().store;
    for i in 0..3 {
        let mut job = new_job("PROC_TEST");
        job.params = json!([{"name": "p_input", "value": format!("n{i}")}]);
        other_process.insert(std::slice::from_ref(&job)).await.unwrap();
        let done = app.wait_terminal(job.id.as_str()).await;
        assert_eq!(done["result"]["p_output"], format!("Procesado: n{i}"), "{done}");
    }
}

#[tokio::test]
async fn cleanup_deletes_exactly_the_old_ended_jobs() {
    let db = Arc::new(TestDatabase::create().await);
    let client = db.client().await;
    // Rows straight into the table, as a long-running installation would have them.
    client
        .batch_execute(
            "INSERT INTO async_jobs (job_id, status, procedure_name, owner, progress, start_time, end_time, created_at) VALUES
             ('00000000000000000000000000000001', 'completed', 'PROC_TEST', 'a', 100, now() - interval '9 days', now() - interval '8 days', now() - interval '9 days'),
             ('00000000000000000000000000000002', 'failed',    'PROC_TEST', 'a', 100, now() - interval '9 days', now() - interval '8 days', now() - interval '9 days'),
             ('00000000000000000000000000000003', 'cancelled', 'PROC_TEST', 'a', 100, now() - interval '9 days', now() - interval '8 days', now() - interval '9 days'),
             ('00000000000000000000000000000004', 'completed', 'PROC_TEST', 'a', 100, now() - interval '9 days', now() - interval '6 days', now() - interval '9 days'),
             ('00000000000000000000000000000005', 'pending',   'PROC_TEST', 'a', 0,   now() - interval '30 days', NULL, now() - interval '30 days'),
             ('00000000000000000000000000000006', 'completed', 'PROC_TEST', 'a', 100, now() - interval '1 hour', now(), now() - interval '1 hour')",
        )
        .await
        .unwrap();
    // Keep the pending one from running: nothing is allowed.
    let _app = spawn_on(db.clone(), &[("JOB_RETENTION_DAYS", "7"), ("PROCEDURE_ALLOWLIST", "NOTHING")]).await;
    let left: Vec<String> = eventually("the first cleanup run", || async {
        let rows = client.query("SELECT job_id FROM async_jobs ORDER BY job_id", &[]).await.unwrap();
        let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
        (ids.len() <= 3).then_some(ids)
    })
    .await;
    let expect: Vec<String> = ["4", "5", "6"].iter().map(|n| format!("{:0>32}", n)).collect();
    assert_eq!(left, expect);

    // The predecessor's SQL procedure does the same from psql.
    client
        .batch_execute("UPDATE async_jobs SET end_time = now() - interval '3 days' WHERE job_id LIKE '%4'")
        .await
        .unwrap();
    let deleted = client.simple_query("CALL cleanup_old_async_jobs(2, NULL)").await.unwrap();
    let value = deleted.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    });
    assert_eq!(value.as_deref(), Some("1"));
    let n: i64 = count(&client, "SELECT count(*) FROM async_jobs").await;
    assert_eq!(n, 2);
}

#[tokio::test]
async fn a_storm_of_cancel_notifications_does_not_starve_the_heartbeat() {
    let app =
        spawn_app_with(&[("LEASE_TIMEOUT", "3s"), ("HEARTBEAT_INTERVAL", "1s"), ("RESCUE_INTERVAL", "500ms")]).await;
    let id = app.submit(&demora(5.0)).await;
    app.wait_for_job(&id, |j| j["status"] == "running").await;
    let db = app.db.client().await;
    // Cancels for other jobs, every 100 ms, for longer than the lease.
    let storm = tokio::spawn(async move {
        for _ in 0..60 {
            db.execute("SELECT pg_notify('procgate_cancel', md5(random()::text))", &[]).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    });
    let job = app.wait_terminal(&id).await;
    storm.abort();
    assert_eq!(job["status"], "completed", "a live job was taken for an orphan: {job}");
}
