//! The audit trail (`ASYNC_AUDIT`, issue 14 §4): every call, submit, cancel, delete and retry of
//! an authenticated client leaves one row — refused ones too — with the client, the procedure,
//! the job, the outcome and the HTTP status; never a token or a parameter's value; old rows go
//! with `AUDIT_RETENTION_DAYS`; a graceful shutdown stores every entry it was handed.
//! Not in the contract suite: the trail is written from the HTTP edge, and these tests read the
//! table with SQL on PostgreSQL (Oracle's statements are unit-tested and grammar-checked).

use serde_json::{json, Value as Json};

use crate::helpers::*;

/// One `async_audit` row, as the tests compare it.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    client: String,
    action: String,
    procedure: Option<String>,
    job_id: Option<String>,
    outcome: String,
    status: i32,
    affected: Option<i64>,
    detail: Option<String>,
}

async fn rows(db: &tokio_postgres::Client) -> Vec<Row> {
    db.query(
        "SELECT client, action, procedure_name, job_id, outcome, http_status, affected, detail, instance_id
           FROM async_audit ORDER BY audit_id",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| {
        assert!(!r.get::<_, String>(8).is_empty(), "every row names its instance");
        Row {
            client: r.get(0),
            action: r.get(1),
            procedure: r.get(2),
            job_id: r.get(3),
            outcome: r.get(4),
            status: r.get(5),
            affected: r.get(6),
            detail: r.get(7),
        }
    })
    .collect()
}

/// Waits (with a deadline) until the table holds `n` rows: the writer is asynchronous.
async fn wait_for_rows(db: &tokio_postgres::Client, n: usize) -> Vec<Row> {
    eventually(&format!("{n} audit rows"), || async {
        let rows = rows(db).await;
        assert!(rows.len() <= n, "more audit rows than requests: {rows:#?}");
        (rows.len() == n).then_some(rows)
    })
    .await
}

fn find<'a>(rows: &'a [Row], action: &str, outcome: &str) -> &'a Row {
    rows.iter()
        .find(|r| r.action == action && r.outcome == outcome)
        .unwrap_or_else(|| panic!("no {action} row with outcome {outcome} in {rows:#?}"))
}

#[tokio::test]
async fn every_audited_request_leaves_a_row_with_its_client_procedure_and_outcome() {
    let app = spawn_app().await;
    let db = app.db.client().await;
    let secret = "s3cret-param-value";

    // A synchronous call, and one the procedure fails (its own SQLSTATE is the outcome).
    assert_eq!(app.post("/procedure", ALICE, &proc_test(secret)).await.status(), 200);
    let failing = json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1}]});
    error_code(app.post("/procedure", ALICE, &failing).await, 422).await;
    // An async submit.
    let job = app.submit_as(ALICE, &proc_test(secret)).await;
    // Refused: a procedure outside the allowlist, an unknown parameter, a body that is not JSON.
    let denied = json!({"name": "NOT_ALLOWED_PROC", "params": [{"name": "p", "value": secret}]});
    error_code(app.post("/procedure", BOB, &denied).await, 403).await;
    let bad = json!({"name": "PROC_TEST", "params": [{"name": "p_nope", "value": secret}]});
    let resp = app.post("/procedure/async", BOB, &bad).await;
    let bad_status = i32::from(resp.status().as_u16());
    assert!(resp.status().is_client_error(), "{bad_status}");
    let bad_code = resp.json::<Json>().await.unwrap()["error"]["code"].clone();
    let resp = app
        .client
        .post(app.url("/procedure"))
        .bearer_auth(BOB)
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{secret}\""))
        .send()
        .await
        .unwrap();
    error_code(resp, 400).await;
    // No valid token: logged, not stored (there is no client to record).
    error_code(app.post("/procedure", "wrong-token-123", &proc_test(secret)).await, 401).await;
    // Cancel a running job, retry it, then delete ended jobs in bulk and one job.
    let slow = app.submit_as(ALICE, &demora(30.0)).await;
    app.wait_for_job(&slow, |j| j["status"] == "running").await;
    assert_eq!(app.post(&format!("/jobs/{slow}/cancel"), ALICE, &json!({})).await.status(), 200);
    let retried = app.post(&format!("/jobs/{slow}/retry"), ALICE, &json!({})).await;
    assert_eq!(retried.status(), 202);
    let new_job = retried.json::<Json>().await.unwrap()["job_id"].as_str().unwrap().to_string();
    app.post(&format!("/jobs/{new_job}/cancel"), ALICE, &json!({})).await;
    app.wait_terminal(&job).await;
    let purged = app.delete("/jobs?status=completed", ALICE).await;
    assert_eq!(purged.json::<Json>().await.unwrap()["deleted"], 1);
    assert_eq!(app.delete(&format!("/jobs/{slow}"), ALICE).await.status(), 200);

    let rows = wait_for_rows(&db, 12).await;
    let call = find(&rows, "call", "ok");
    assert_eq!((call.client.as_str(), call.procedure.as_deref(), call.status), ("alice", Some("PROC_TEST"), 200));
    assert_eq!(call.detail.as_deref(), Some("params: p_input, p_output"), "names only");
    let failed = find(&rows, "call", "P0001");
    assert_eq!((failed.procedure.as_deref(), failed.status), (Some("PROC_TEST_ERROR"), 422));
    let submit = rows.iter().find(|r| r.action == "submit" && r.job_id.as_deref() == Some(&job)).unwrap();
    assert_eq!((submit.client.as_str(), submit.outcome.as_str(), submit.status), ("alice", "ok", 202));
    let refused = find(&rows, "call", "procedure_not_allowed");
    assert_eq!(
        (refused.client.as_str(), refused.procedure.as_deref(), refused.status),
        ("bob", Some("NOT_ALLOWED_PROC"), 403)
    );
    let bad_params = find(&rows, "submit", bad_code.as_str().unwrap());
    assert_eq!((bad_params.client.as_str(), bad_params.status), ("bob", bad_status));
    let bad_body = find(&rows, "call", "invalid_json");
    assert_eq!((bad_body.client.as_str(), bad_body.status, &bad_body.procedure), ("bob", 400, &None));
    let cancel = rows.iter().find(|r| r.action == "cancel" && r.job_id.as_deref() == Some(&slow)).unwrap();
    assert_eq!((cancel.outcome.as_str(), cancel.procedure.as_deref()), ("ok", Some("PROC_TEST_DEMORA")));
    let retry = find(&rows, "retry", "ok");
    assert_eq!((retry.job_id.as_deref(), retry.status), (Some(slow.as_str()), 202));
    assert_eq!(retry.detail.as_deref(), Some(format!("new job: {new_job}").as_str()));
    let bulk = find(&rows, "delete_bulk", "ok");
    assert_eq!((bulk.client.as_str(), bulk.affected), ("alice", Some(1)));
    assert_eq!(bulk.detail.as_deref(), Some("filter: status=completed"));
    let delete = find(&rows, "delete", "ok");
    assert_eq!(delete.job_id.as_deref(), Some(slow.as_str()));
    // Exactly the 12 requests above: the unauthenticated one left nothing.
    assert!(rows.iter().all(|r| r.client == "alice" || r.client == "bob"), "{rows:#?}");

    // Nothing of a parameter's value or a token is in the table.
    for needle in [secret, ALICE, BOB, "wrong-token-123"] {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM async_audit
                  WHERE concat_ws('|', instance_id, client, action, procedure_name, job_id, outcome, detail)
                        LIKE '%' || $1 || '%'",
                &[&needle],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{needle} appears in async_audit");
    }
}

#[tokio::test]
async fn the_cleaner_deletes_audit_rows_older_than_the_retention() {
    let first = spawn_app().await;
    let db = first.db.client().await;
    db.batch_execute(
        "INSERT INTO async_audit (occurred_at, instance_id, client, action, outcome, http_status)
         SELECT now() - make_interval(days => d), 'old-instance', 'alice', 'call', 'ok', 200
           FROM generate_series(1, 40) d",
    )
    .await
    .unwrap();
    // A second instance's cleaner runs at its start: rows older than 30 days go, the others stay.
    let _second = spawn_on(first.db.clone(), &[("AUDIT_RETENTION_DAYS", "30")]).await;
    eventually("audit rows older than 30 days deleted", || async {
        (count(&db, "SELECT count(*) FROM async_audit WHERE instance_id = 'old-instance'").await == 29).then_some(())
    })
    .await;
    assert_eq!(count(&db, "SELECT count(*) FROM async_audit WHERE occurred_at < now() - interval '30 days'").await, 0);
}

#[tokio::test]
async fn requests_do_not_wait_for_the_table_and_a_graceful_shutdown_stores_every_entry() {
    let mut app = spawn_app().await;
    let db = app.db.client().await;
    // Hold the table so no entry can be inserted: the calls must be answered all the same.
    let mut locker = app.db.client().await;
    let lock = locker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE async_audit IN SHARE MODE").await.unwrap();
    let calls = (0..40).map(|i| {
        let app = &app;
        async move { app.post("/procedure", ALICE, &proc_test(&format!("call {i}"))).await.status().as_u16() }
    });
    let statuses = futures_util::future::join_all(calls).await;
    // SYNC_CONCURRENCY (8) refuses some with 503 busy: refused calls are audited too.
    assert!(statuses.iter().all(|s| *s == 200 || *s == 503), "{statuses:?}");
    assert_eq!(count(&db, "SELECT count(*) FROM async_audit").await, 0, "the table is held");
    // Shut down while the entries wait; once it refuses new jobs, let the writer through.
    app.begin_stop();
    let refused = std::cell::Cell::new(0);
    eventually("the gateway to refuse new jobs", || async {
        let status = app.post("/procedure/async", ALICE, &proc_test("late")).await.status();
        refused.set(refused.get() + 1);
        (status == 503).then_some(())
    })
    .await;
    lock.commit().await.unwrap();
    app.stop().await;
    // Once stopped, no polling: every answered request's entry is in the table.
    let rows = rows(&db).await;
    assert_eq!(rows.len(), 40 + refused.get(), "{rows:#?}");
    let busy = statuses.iter().filter(|s| **s == 503).count();
    assert_eq!(rows.iter().filter(|r| r.outcome == "busy").count(), busy);
    assert!(rows.iter().any(|r| r.action == "submit" && r.outcome == "shutting_down" && r.status == 503));
}

#[tokio::test]
async fn audit_off_stores_nothing() {
    let app = spawn_app_with(&[("AUDIT", "off")]).await;
    let db = app.db.client().await;
    assert_eq!(app.post("/procedure", ALICE, &proc_test("x")).await.status(), 200);
    let job = app.submit_as(ALICE, &proc_test("y")).await;
    app.wait_terminal(&job).await;
    assert_eq!(count(&db, "SELECT count(*) FROM async_audit").await, 0);
}

#[tokio::test]
async fn a_sync_call_cut_off_at_the_end_of_the_shutdown_is_in_the_table() {
    // The answer to a call interrupted by the shutdown leaves after the engine's tasks have
    // ended: the audit writer must outlive them and store it.
    let mut app = spawn_app_with(&[("SHUTDOWN_GRACE", "1s"), ("SYNC_TIMEOUT", "120s")]).await;
    let db = app.db.client().await;
    let body = json!({"name": "PROC_TEST_DEMORA", "params": [{"name": "segundos", "value": 120, "type": "NUMBER"}]});
    let call = {
        let (client, url) = (app.client.clone(), app.url("/procedure"));
        tokio::spawn(async move { client.post(url).bearer_auth(ALICE).json(&body).send().await.unwrap() })
    };
    eventually("the call to run", || async {
        let running = count(&db, "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE '%proc_test_demora%' AND state = 'active' AND pid <> pg_backend_pid()").await;
        (running > 0).then_some(())
    })
    .await;
    app.stop().await;
    let answer = call.await.unwrap();
    assert_eq!(answer.status(), 503);
    // Stopped: no polling. The cut-off call's entry is there.
    let rows = rows(&db).await;
    let cut = rows.iter().find(|r| r.action == "call").unwrap_or_else(|| panic!("no call row: {rows:#?}"));
    assert_eq!((cut.client.as_str(), cut.outcome.as_str(), cut.status), ("alice", "shutting_down", 503), "{rows:#?}");
}
