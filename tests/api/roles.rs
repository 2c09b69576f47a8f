//! Instance roles (issue 13 §1): an API-only instance (`procgate serve` with `WORKERS=0`) and a
//! worker-only one (`procgate work`) sharing one PostgreSQL database over real HTTP. The
//! API-only instance accepts, reads, cancels (pending jobs itself, running ones on the worker
//! through `NOTIFY procgate_cancel`), streams events and answers synchronous calls, and claims
//! nothing; the worker-only one runs the jobs and serves no job API. Settings that make no sense
//! for a role stop the binary with the setting's name.
//! Here rather than in the contract suite: it is the HTTP edge and process roles, the same on
//! every database (the engine's choice of tasks is above the store).

use std::sync::Arc;

use procgate::config::Role;
use serde_json::{json, Value as Json};

use crate::contract::events::SseReader;
use crate::helpers::*;

/// A worker-only instance (`procgate work`) on `db`.
async fn spawn_worker(db: &TestDatabase, overrides: &[(&str, &str)]) -> App {
    let mut settings = settings(&db.url, overrides);
    settings.role = Role::Work;
    App::spawn(settings).await
}

/// The `GET /stats` instance rows, by instance id, once every id in `ids` is listed.
async fn instances(app: &App, ids: &[&str]) -> Vec<Json> {
    eventually("every instance to report itself in /stats", || async {
        let stats: Json = app.get("/stats", ADMIN).await.json().await.unwrap();
        let rows = stats["instances"].as_array().cloned().unwrap_or_default();
        let listed = |id: &&str| rows.iter().any(|r| r["instance_id"] == *id);
        ids.iter().all(listed).then_some(rows)
    })
    .await
}

fn row<'a>(rows: &'a [Json], id: &str) -> &'a Json {
    rows.iter().find(|r| r["instance_id"] == id).unwrap()
}

#[tokio::test]
async fn an_api_only_instance_accepts_cancels_and_streams_while_a_worker_only_one_runs_the_jobs() {
    let db = Arc::new(TestDatabase::create().await);
    let api = spawn_on(db.clone(), &[("WORKERS", "0"), ("INSTANCE_ID", "api-only")]).await;
    let sql = db.client().await;

    // Accepted while no instance runs jobs, and followed live from the API-only instance.
    let queued = api.submit(&proc_test("queued")).await;
    let mut stream = SseReader::open(&api, &format!("/jobs/{queued}/events"), ADMIN, None).await;
    assert_eq!(stream.next().await.unwrap().event, "accepted");
    // A pending job is cancelled by the API-only instance itself.
    let doomed = api.submit(&proc_test("doomed")).await;
    let resp = api.post(&format!("/jobs/{doomed}/cancel"), ADMIN, &json!({})).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Json>().await.unwrap()["status"], "cancelled");
    // Synchronous calls are requests, not jobs: they run here (SYNC_CONCURRENCY, DB_POOL_SIZE).
    let resp = api.post("/procedure", ADMIN, &proc_test("sync")).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Json>().await.unwrap()["out"]["p_output"], "Procesado: sync");

    // Nothing claims: a second after the job was accepted (a claimer is woken by the insert
    // itself, and polls every POLL_INTERVAL), as the instance's own later beat shows, it is
    // still pending and unclaimed.
    eventually("the API-only instance to beat a second after the job was accepted", || async {
        let later = "SELECT count(*) FROM async_instances i, async_jobs j
                      WHERE i.instance_id = 'api-only' AND j.job_id = $1
                        AND i.heartbeat_at >= j.created_at + interval '1 second'";
        let n: i64 = sql.query_one(later, &[&queued]).await.unwrap().get(0);
        (n == 1).then_some(())
    })
    .await;
    let job = api.job(&queued).await;
    assert_eq!(
        (&job["status"], &job["instance_id"], &job["start_time"]),
        (&json!("pending"), &Json::Null, &Json::Null)
    );

    // The worker-only instance runs it; the API-only instance's stream sees it to its end.
    let mut worker = spawn_worker(&db, &[("INSTANCE_ID", "worker-only"), ("WORKERS", "2")]).await;
    let events: Vec<String> = stream.rest().await.into_iter().map(|e| e.event).collect();
    assert_eq!(events, ["started", "completed"]);
    let job = api.wait_terminal(&queued).await;
    assert_eq!((&job["status"], &job["instance_id"]), (&json!("completed"), &json!("worker-only")), "{job}");

    // A running job held by the worker is cancelled through the API-only instance: the cancel
    // request reaches the worker, which interrupts the call.
    let slow = api.submit(&demora(60.0)).await;
    api.wait_for_job(&slow, |j| j["status"] == "running").await;
    db.call_executing("proc_test_demora").await;
    let resp = api.post(&format!("/jobs/{slow}/cancel"), ADMIN, &json!({})).await;
    assert_eq!(resp.status(), 200, "the call stops within CANCEL_WAIT");
    let job = api.job(&slow).await;
    assert_eq!((&job["status"], &job["error"]["code"]), (&json!("cancelled"), &json!("cancelled")), "{job}");
    assert_eq!(job["instance_id"], "worker-only");
    db.no_call_running("proc_test_demora").await;

    // Both report themselves, with their workers: 0 of 0 here, 2 there.
    let rows = instances(&api, &["api-only", "worker-only"]).await;
    let (a, w) = (row(&rows, "api-only"), row(&rows, "worker-only"));
    assert_eq!((&a["workers"], &a["workers_busy"], &a["live"]), (&json!(0), &json!(0), &json!(true)), "{a}");
    assert_eq!((&w["workers"], &w["live"]), (&json!(2), &json!(true)), "{w}");

    // The worker-only instance serves health, readiness and metrics, and no job API.
    assert_eq!(worker.client.get(worker.url("/health")).send().await.unwrap().status(), 200);
    assert_eq!(worker.client.get(worker.url("/ready")).send().await.unwrap().status(), 200);
    assert_eq!(worker.get("/metrics", ADMIN).await.status(), 200);
    for resp in [
        worker.get("/jobs", ADMIN).await,
        worker.get(&format!("/jobs/{queued}"), ADMIN).await,
        worker.post("/procedure/async", ADMIN, &proc_test("nope")).await,
        worker.post("/procedure", ADMIN, &proc_test("nope")).await,
    ] {
        let error = error_code(resp, 404).await;
        assert_eq!(error["code"], "not_found");
        assert!(error["message"].as_str().unwrap().contains("procgate serve"), "{error}");
    }
    assert_eq!(count(&sql, "SELECT count(*) FROM async_jobs").await, 3, "the worker accepted nothing");
    worker.stop().await;
}

#[tokio::test]
async fn the_rescue_of_a_dead_workers_jobs_belongs_to_the_instances_that_run_jobs() {
    let db = Arc::new(TestDatabase::create().await);
    let fast_rescue = [("LEASE_TIMEOUT", "3s"), ("RESCUE_INTERVAL", "1s")];
    let api =
        spawn_on(db.clone(), &[&fast_rescue[..], &[("WORKERS", "0"), ("INSTANCE_ID", "api-only")]].concat()).await;
    let sql = db.client().await;
    // A job a dead worker left running: its lease ran out a minute ago.
    const ORPHAN: &str = "0123456789abcdef0123456789abcdef";
    sql.execute(
        "INSERT INTO async_jobs (job_id, status, procedure_name, owner, instance_id, heartbeat_at, attempts, start_time)
         VALUES ($1, 'running', 'PROC_TEST', 'admin', 'dead-worker', now() - interval '1 minute', 1,
                 now() - interval '1 minute')",
        &[&ORPHAN],
    )
    .await
    .unwrap();
    let inserted_at: chrono::DateTime<chrono::Utc> = sql.query_one("SELECT now()", &[]).await.unwrap().get(0);
    // The API-only instance leaves it alone: two rescue intervals later (as its own beats show)
    // it is still running.
    eventually("the API-only instance to beat two seconds after the orphan appeared", || async {
        let beat = "SELECT count(*) FROM async_instances WHERE instance_id = 'api-only'
                       AND heartbeat_at >= $1::timestamptz + interval '2 seconds'";
        let n: i64 = sql.query_one(beat, &[&inserted_at]).await.unwrap().get(0);
        (n == 1).then_some(())
    })
    .await;
    assert_eq!(db.status_and_error(ORPHAN).await.0, "running");
    // An instance that runs jobs rescues it.
    let _worker = spawn_worker(&db, &[&fast_rescue[..], &[("INSTANCE_ID", "worker-only")]].concat()).await;
    let job = api.wait_terminal(ORPHAN).await;
    assert_eq!((&job["status"], &job["error"]["code"]), (&json!("failed"), &json!("orphaned")), "{job}");
}

#[test]
fn settings_that_make_no_sense_for_a_role_name_the_setting() {
    let url = "postgres://nobody@127.0.0.1:1/none";
    let token = [("API_TOKENS", "ops:an-ops-token-0001:admin")];
    let with = |extra: &[(&'static str, &'static str)]| [&token[..], extra].concat();
    for (args, env, setting) in [
        (&["work"][..], with(&[("WORKERS", "0")]), "WORKERS"),
        (&["demo"][..], with(&[("WORKERS", "0")]), "WORKERS"),
        (&["serve"][..], with(&[("WORKERS", "0"), ("DB_POOL_SIZE", "0")]), "DB_POOL_SIZE"),
        (&["serve"][..], with(&[("WORKERS", "1025")]), "WORKERS"),
    ] {
        let (ok, out) = procgate_cli(url, args, &env);
        assert!(!ok, "{args:?} {env:?} started: {out}");
        assert!(out.contains(&format!("{setting}:")), "{args:?} {env:?}: {out}");
    }
    // `work` is in the help, saying what it serves.
    let (ok, out) = procgate_cli(url, &["--help"], &[]);
    assert!(ok && out.contains("work") && out.contains("Run jobs only"), "{out}");
}
