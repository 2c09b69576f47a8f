//! Faults with real processes: a gateway killed with SIGKILL mid-flight, and PostgreSQL
//! restarted under load. Bounded in time; every process started here is stopped here.
//! Not in the contract suite: it kills processes and finds sessions in `pg_stat_activity`.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use procgate::pgcluster::{create_demo_database, ClusterOptions, PgCluster};
use serde_json::{json, Value as Json};

use crate::helpers::*;

/// A `procgate serve` child process on a free port (also used by `webhooks.rs`).
pub(crate) struct Gateway {
    pub(crate) child: Child,
    pub(crate) base: String,
}

impl Gateway {
    fn start(db_url: &str, instance: &str) -> Gateway {
        Self::start_with(db_url, instance, &[])
    }

    pub(crate) fn start_with(db_url: &str, instance: &str, env: &[(&str, &str)]) -> Gateway {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_procgate"))
            .envs(env.iter().copied())
            .arg("serve")
            .env("DATABASE_URL", db_url)
            .env("PORT", port.to_string())
            .env("API_TOKENS", format!("admin:{ADMIN}:admin"))
            .env("PROCEDURE_ALLOWLIST", "PROC_TEST*")
            .env("WORKERS", "16")
            .env("LEASE_TIMEOUT", "3s")
            .env("HEARTBEAT_INTERVAL", "1s")
            .env("RESCUE_INTERVAL", "1s")
            .env("INSTANCE_ID", instance)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start procgate serve");
        Gateway { child, base: format!("http://127.0.0.1:{port}") }
    }

    pub(crate) async fn wait_ready(&self, client: &reqwest::Client) {
        eventually("the gateway to be ready", || async {
            let r = client.get(format!("{}/ready", self.base)).send().await.ok()?;
            (r.status() == 200).then_some(())
        })
        .await;
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn after_kill_9_and_a_restart_no_job_stays_running_or_runs_twice() {
    let db = TestDatabase::create().await;
    let client = reqwest::Client::new();
    let mut first = Gateway::start(&db.url, "killed-instance");
    first.wait_ready(&client).await;

    // 200 jobs: every fourth slow (1–2 s), every third allowed to retry.
    let mut jobs: HashMap<String, (String, bool)> = HashMap::new();
    for i in 0..200 {
        let tag = format!("job-{i}");
        let seconds = if i % 4 == 0 { 1.0 + (i % 3) as f64 * 0.5 } else { 0.0 };
        let retry = i % 3 == 0;
        let mut body = json!({"name": "PROC_TEST_LOG", "params": [
            {"name": "p_tag", "value": tag}, {"name": "p_seconds", "value": seconds}
        ]});
        if retry {
            body["retry"] = json!({"max_attempts": 3, "initial_delay_ms": 100});
        }
        let resp =
            client.post(format!("{}/procedure/async", first.base)).bearer_auth(ADMIN).json(&body).send().await.unwrap();
        assert_eq!(resp.status(), 202);
        let id = resp.json::<Json>().await.unwrap()["job_id"].as_str().unwrap().to_string();
        jobs.insert(id, (tag, retry));
    }
    let sql = db.client().await;
    eventually("slow jobs to be running", || async {
        let n: i64 = count(&sql, "SELECT count(*) FROM async_jobs WHERE status = 'running'").await;
        (n >= 8).then_some(())
    })
    .await;
    first.child.kill().unwrap(); // SIGKILL: no shutdown of any kind
    first.child.wait().unwrap();
    let orphaned: i64 = count(&sql, "SELECT count(*) FROM async_jobs WHERE status = 'running'").await;
    assert!(orphaned > 0, "the killed instance left no running job behind; the test proves nothing");

    let second = Gateway::start(&db.url, "second-instance");
    second.wait_ready(&client).await;
    eventually("every job to end", || async {
        let n: i64 = count(&sql, "SELECT count(*) FROM async_jobs WHERE status IN ('pending', 'running')").await;
        (n == 0).then_some(())
    })
    .await;

    let calls = db.calls_per_tag().await;
    let rows = sql.query("SELECT job_id, status, error_code, attempts FROM async_jobs", &[]).await.unwrap();
    assert_eq!(rows.len(), 200, "a job was lost");
    for r in rows {
        let (id, status, code, attempts): (String, String, Option<String>, i32) =
            (r.get(0), r.get(1), r.get(2), r.get(3));
        let (tag, retry) = &jobs[&id];
        let ran = calls.get(tag).copied().unwrap_or(0);
        if !retry {
            assert!(ran <= 1, "{tag} ran {ran} times without a retry policy");
            assert!(attempts <= 1, "{tag}: {attempts} attempts without a retry policy");
        }
        match status.as_str() {
            "completed" => assert!(ran >= 1, "{tag} completed but never ran"),
            "failed" => {
                assert_eq!(code.as_deref(), Some("orphaned"), "{tag} failed with {code:?}");
                assert!(!retry || attempts == 3, "{tag} could have been retried");
            }
            other => panic!("{tag} ended {other}"),
        }
    }
    let retried: i64 = count(&sql, "SELECT count(*) FROM async_jobs WHERE attempts > 1 AND status = 'completed'").await;
    let failed: i64 = count(&sql, "SELECT count(*) FROM async_jobs WHERE error_code = 'orphaned'").await;
    assert!(retried + failed >= orphaned, "{orphaned} orphaned jobs, {retried} retried, {failed} failed as orphaned");
}

/// Sessions of an instance, by its `application_name` tag.
async fn sessions_of(sql: &tokio_postgres::Client, instance: &str) -> i64 {
    let tag = format!("procgate:{instance}");
    sql.query_one("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", &[&tag]).await.unwrap().get(0)
}

/// Submits a PROC_TEST_LOG job that inserts its row, then sleeps `seconds`; retried on `orphaned`.
/// With `capture_output` its completion is only known once the call returns, so it is sent after
/// the call (the gateway's second round trip), not with it.
async fn submit_logged(client: &reqwest::Client, gateway: &Gateway, tag: &str, seconds: f64) -> String {
    submit_logged_with(client, gateway, tag, seconds, false).await
}

async fn submit_logged_with(
    client: &reqwest::Client,
    gateway: &Gateway,
    tag: &str,
    seconds: f64,
    capture_output: bool,
) -> String {
    let body = json!({"name": "PROC_TEST_LOG",
        "params": [{"name": "p_tag", "value": tag}, {"name": "p_seconds", "value": seconds}],
        "retry": {"max_attempts": 3, "initial_delay_ms": 100}, "capture_output": capture_output});
    let resp =
        client.post(format!("{}/procedure/async", gateway.base)).bearer_auth(ADMIN).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    resp.json::<Json>().await.unwrap()["job_id"].as_str().unwrap().to_string()
}

/// Runs a second instance until the job ends; returns the job's (status, attempts).
async fn settle_on_a_second_instance(db: &TestDatabase, client: &reqwest::Client, id: &str) -> (String, i32) {
    let second = Gateway::start(&db.url, "second-instance");
    second.wait_ready(client).await;
    let sql = db.client().await;
    eventually("the job to end on the second instance", || async {
        let row = sql.query_one("SELECT status, attempts FROM async_jobs WHERE job_id = $1", &[&id]).await.unwrap();
        let status: String = row.get(0);
        ["completed", "failed", "cancelled"].contains(&status.as_str()).then(|| (status, row.get(1)))
    })
    .await
}

#[tokio::test]
async fn a_killed_gateways_call_is_stopped_and_its_job_takes_effect_once() {
    let db = TestDatabase::create().await;
    let client = reqwest::Client::new();
    let sql = db.client().await;
    let mut first = Gateway::start(&db.url, "killed-mid-call");
    first.wait_ready(&client).await;
    // The call inserts its row, then sleeps past the lease (3 s).
    let id = submit_logged(&client, &first, "orphan", 8.0).await;
    db.call_executing("proc_test_log").await;
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    let killed = std::time::Instant::now();

    // Lease (3 s) + 10 s: nothing of the dead instance is left on the server — the server stops
    // the orphaned call itself (client_connection_check_interval); the rescuer would end it too.
    let left = loop {
        let n = sessions_of(&sql, "killed-mid-call").await;
        if n == 0 || killed.elapsed() > Duration::from_secs(13) {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("fault figures: the dead instance's sessions were gone {:?} after the kill", killed.elapsed());
    assert_eq!(left, 0, "sessions of the dead instance still exist {:?} after the kill", killed.elapsed());

    let (status, attempts) = settle_on_a_second_instance(&db, &client, &id).await;
    eprintln!("fault figures: the orphaned job was retried and completed {:?} after the kill", killed.elapsed());
    assert_eq!(status, "completed");
    assert_eq!(attempts, 2, "the job was not retried after its instance died");
    assert_eq!(db.calls_per_tag().await.get("orphan"), Some(&1), "the orphaned attempt's insert was committed too");
}

#[tokio::test]
async fn a_gateway_killed_after_the_call_but_before_its_commit_leaves_no_effect() {
    let db = TestDatabase::create().await;
    let client = reqwest::Client::new();
    let sql = db.client().await;
    let mut first = Gateway::start(&db.url, "killed-before-commit");
    first.wait_ready(&client).await;
    // Captured output: the completion goes after the call, so there is a moment between them.
    // The call sleeps 5 s: time enough, even on a loaded machine, to take the lock below first.
    let id = submit_logged_with(&client, &first, "uncommitted", 5.0, true).await;
    db.call_executing("proc_test_log").await;
    // Hold the job table: when the call returns (its insert done, uncommitted), the gateway
    // prepares the job's completion — and preparing a statement on async_jobs waits for this
    // lock. That is the moment after the call and before its completion and COMMIT are sent.
    let mut holder = db.client().await;
    let lock = holder.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE async_jobs IN ACCESS EXCLUSIVE MODE").await.unwrap();
    eventually("the gateway to wait between the call and its COMMIT", || async {
        let n: i64 = count(
            &sql,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'procgate:killed-before-commit'
                AND state = 'active' AND wait_event_type = 'Lock' AND backend_xid IS NOT NULL
                AND query LIKE '%Completes job $1 inside the transaction of its call%'",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    first.child.kill().unwrap(); // SIGKILL between the call and its COMMIT
    first.child.wait().unwrap();
    lock.rollback().await.unwrap();

    let (status, attempts) = settle_on_a_second_instance(&db, &client, &id).await;
    assert_eq!(status, "completed");
    assert_eq!(attempts, 2, "the killed attempt was not retried");
    assert_eq!(db.calls_per_tag().await.get("uncommitted"), Some(&1), "the uncommitted attempt took effect");
}

#[tokio::test]
async fn a_gateway_killed_while_its_completion_waits_takes_effect_once() {
    let db = TestDatabase::create().await;
    let client = reqwest::Client::new();
    let sql = db.client().await;
    let mut first = Gateway::start(&db.url, "killed-completing");
    first.wait_ready(&client).await;
    let id = submit_logged_with(&client, &first, "completing", 5.0, true).await;
    eventually("the job to be running", || async {
        let n: i64 =
            count(&sql, &format!("SELECT count(*) FROM async_jobs WHERE job_id = '{id}' AND status = 'running'")).await;
        (n == 1).then_some(())
    })
    .await;
    // Hold the job's row: the completion, sent with its COMMIT, waits on it.
    let mut holder = db.client().await;
    let lock = holder.transaction().await.unwrap();
    lock.execute("SELECT 1 FROM async_jobs WHERE job_id = $1 FOR UPDATE", &[&id]).await.unwrap();
    eventually("the completion to wait on the job's row", || async {
        let n: i64 = count(
            &sql,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'procgate:killed-completing'
                AND wait_event_type = 'Lock' AND query LIKE '%Completes job $1 inside the transaction of its call%'",
        )
        .await;
        (n == 1).then_some(())
    })
    .await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    lock.rollback().await.unwrap();

    let (status, attempts) = settle_on_a_second_instance(&db, &client, &id).await;
    // The COMMIT was already on its way with the completion: the job completed in its first
    // attempt, or was rolled back and retried. Either way its effect exists exactly once.
    eprintln!("fault figures: a gateway killed while its completion waited: job {status} after {attempts} attempt(s)");
    assert_eq!(status, "completed");
    assert_eq!(db.calls_per_tag().await.get("completing"), Some(&1), "the effect was lost or doubled");
}

#[tokio::test]
async fn postgres_restart_under_load_loses_nothing() {
    let cluster =
        tokio::task::spawn_blocking(|| PgCluster::start(ClusterOptions { fsync: false, max_connections: 100 }))
            .await
            .unwrap()
            .expect("a private cluster for this test");
    let url = create_demo_database(&cluster, "restart").await.unwrap();
    let app = Application_spawn(&url).await;

    // Load: one client submitting jobs back to back; readiness sampled alongside.
    let stop = Arc::new(AtomicBool::new(false));
    let accepted = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(0u32));
    let ready_seen = Arc::new(Mutex::new(Vec::<u16>::new()));
    let load = {
        let (stop, accepted, refused, base) = (stop.clone(), accepted.clone(), refused.clone(), app.address.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let body = proc_test(&format!("load-{i}"));
                match client.post(format!("{base}/procedure/async")).bearer_auth(ADMIN).json(&body).send().await {
                    Ok(r) if r.status() == 202 => {
                        let id = r.json::<Json>().await.unwrap()["job_id"].as_str().unwrap().to_string();
                        accepted.lock().unwrap().push(id);
                    }
                    Ok(r) => {
                        assert_eq!(r.status(), 503, "only 503 is acceptable while the database is down");
                        *refused.lock().unwrap() += 1;
                    }
                    Err(e) => panic!("the gateway stopped answering: {e}"),
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let probe = {
        let (stop, seen, base) = (stop.clone(), ready_seen.clone(), app.address.clone());
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while !stop.load(Ordering::SeqCst) {
                let status = client.get(format!("{base}/ready")).send().await.unwrap().status().as_u16();
                {
                    let mut seen = seen.lock().unwrap();
                    if seen.last() != Some(&status) {
                        seen.push(status);
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    eventually("some jobs accepted before the restart", || async {
        (accepted.lock().unwrap().len() > 20).then_some(())
    })
    .await;
    // Stop the server long enough for the gateway to notice, then start it again.
    let cluster = Arc::new(cluster);
    {
        let cluster = cluster.clone();
        tokio::task::spawn_blocking(move || cluster.restart()).await.unwrap().expect("pg_ctl restart");
    }
    let before = accepted.lock().unwrap().len();
    eventually("jobs accepted after the restart", || async {
        (accepted.lock().unwrap().len() > before + 20).then_some(())
    })
    .await;
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap();
    probe.await.unwrap();

    let ids = accepted.lock().unwrap().clone();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    eventually("every accepted job to end", || async {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM async_jobs WHERE job_id = ANY($1) AND status IN ('completed', 'failed')",
                &[&ids],
            )
            .await
            .unwrap()
            .get(0);
        (n as usize == ids.len()).then_some(())
    })
    .await;
    let completed: i64 = client
        .query_one("SELECT count(*) FROM async_jobs WHERE job_id = ANY($1) AND status = 'completed'", &[&ids])
        .await
        .unwrap()
        .get(0);
    assert!(completed as usize >= ids.len() - 16, "only {completed} of {} completed", ids.len());
    let seen = ready_seen.lock().unwrap().clone();
    eprintln!("readiness seen: {seen:?}; refused while down: {}", refused.lock().unwrap());
    assert_eq!(seen.first(), Some(&200));
    assert!(seen.contains(&503), "/ready never reported the outage: {seen:?}");
    assert_eq!(seen.last(), Some(&200));
    drop(app);
}

/// The gateway in-process on the given database (not a per-test clone).
#[allow(non_snake_case)]
async fn Application_spawn(url: &str) -> InProcess {
    let settings = settings(url, &[("WORKERS", "4"), ("POLL_INTERVAL", "200ms")]);
    let app = procgate::startup::Application::build(settings).await.unwrap();
    let address = format!("http://127.0.0.1:{}", app.port());
    let stop = app.stop_token();
    let task = tokio::spawn(async move { app.run_until_stopped().await });
    InProcess { address, stop, _task: task }
}

struct InProcess {
    address: String,
    stop: tokio_util::sync::CancellationToken,
    _task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[tokio::test]
async fn a_second_shutdown_signal_stops_at_once_and_the_job_is_rescued_later() {
    let db = TestDatabase::create().await;
    let client = reqwest::Client::new();
    let mut gateway = Gateway::start_with(&db.url, "stopped-twice", &[("SHUTDOWN_GRACE", "120s")]);
    gateway.wait_ready(&client).await;
    let body = json!({"name": "PROC_TEST_DEMORA", "params": [{"name": "segundos", "value": 120}]});
    let resp = client.post(format!("{}/procedure/async", gateway.base)).bearer_auth(ADMIN).json(&body).send().await;
    let id = resp.unwrap().json::<Json>().await.unwrap()["job_id"].as_str().unwrap().to_string();
    let sql = db.client().await;
    eventually("the job to run", || async {
        let row = sql.query_one("SELECT status FROM async_jobs WHERE job_id = $1", &[&id]).await.ok()?;
        (row.get::<_, String>(0) == "running").then_some(())
    })
    .await;
    let pid = gateway.child.id().to_string();
    let signal = |name: &str| Command::new("kill").args([format!("-{name}"), pid.clone()]).status().unwrap();
    assert!(signal("TERM").success());
    // The first signal waits for the 120 s call (SHUTDOWN_GRACE); the second one does not.
    eventually("the gateway to begin its graceful shutdown", || async {
        let r = client.post(format!("{}/procedure/async", gateway.base)).bearer_auth(ADMIN).json(&body).send().await;
        r.ok().filter(|r| r.status() == 503).map(|_| ())
    })
    .await;
    assert!(signal("TERM").success());
    let exited = {
        let child = std::sync::Mutex::new(&mut gateway.child);
        eventually("the gateway to exit on the second signal", || async { child.lock().unwrap().try_wait().unwrap() })
            .await
    };
    assert!(exited.success(), "{exited:?}");
    // Its job is left as after a kill: running, until a rescuer (here, a new instance) settles it.
    let row = sql.query_one("SELECT status FROM async_jobs WHERE job_id = $1", &[&id]).await.unwrap();
    assert_eq!(row.get::<_, String>(0), "running");
    let _next = Gateway::start(&db.url, "rescuer");
    eventually("the rescuer to settle the orphaned job", || async {
        let row = sql.query_one("SELECT status, error_code FROM async_jobs WHERE job_id = $1", &[&id]).await.ok()?;
        (row.get::<_, String>(0) == "failed")
            .then(|| assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("orphaned")))
    })
    .await;
}
