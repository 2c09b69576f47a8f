//! `GET /stats`, `procgate stats` and `/metrics` on a real PostgreSQL over real HTTP.
//! Not in the contract suite: the estimate above the exact cap is PostgreSQL's planner statistics
//! (Oracle answers exact-capped counts only), and the rest reads `async_instances`, the metrics
//! recorder and the binary, which one database shows as well as two.

use std::process::Command;
use std::time::Duration;

use procgate::startup::Application;
use serde_json::{json, Value as Json};

use crate::helpers::*;

const METRICS_TOKEN: &str = "metrics-token-000001";

async fn stats_as(app: &TestApp, token: &str) -> Json {
    let resp = app.get("/stats", token).await;
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// Polls `GET /stats` as `token` until `done` holds (the instance row is written with each
/// heartbeat, so rates and busy workers show within a beat or two).
async fn stats_until(app: &TestApp, token: &str, what: &str, done: impl Fn(&Json) -> bool) -> Json {
    eventually(what, || async {
        let s = stats_as(app, token).await;
        done(&s).then_some(s)
    })
    .await
}

fn exact(n: i64) -> Json {
    json!({"count": n, "estimated": false})
}

#[tokio::test]
async fn stats_count_jobs_by_state_per_owner_with_rates_and_instances() {
    let app = spawn_app_with(&[("WORKERS", "1")]).await;
    // Alice: one completed, one failed, one pending behind the busy worker, one delayed.
    let done = app.submit_as(ALICE, &proc_test("done")).await;
    assert_eq!(app.wait_terminal(&done).await["status"], "completed");
    let error = json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1}]});
    let failed = app.submit_as(ALICE, &error).await;
    assert_eq!(app.wait_terminal(&failed).await["status"], "failed");
    // The admin's slow job takes the only worker.
    let slow = app.submit(&demora(60.0)).await;
    app.wait_for_job(&slow, |j| j["status"] == "running").await;
    let pending = app.submit_as(ALICE, &proc_test("waits")).await;
    let mut later = proc_test("later");
    later["delay_seconds"] = json!(3600);
    app.submit_as(ALICE, &later).await;
    // Bob: one cancelled while pending.
    let bobs = app.submit_as(BOB, &proc_test("bob")).await;
    assert_eq!(app.post(&format!("/jobs/{bobs}/cancel"), BOB, &json!({})).await.status(), 200);
    assert_eq!(app.job(&pending).await["status"], "pending");

    let all = stats_until(&app, ADMIN, "the instance row to show the busy worker and the rates", |s| {
        s["instances"][0]["workers_busy"] == 1 && s["completed"]["1m"] == 1 && s["failed"]["1m"] == 1
    })
    .await;
    assert_eq!(all["scope"], "all");
    let jobs = &all["jobs"];
    assert_eq!((&jobs["pending"], &jobs["delayed"], &jobs["running"]), (&json!(1), &json!(1), &json!(1)), "{all}");
    assert_eq!((&jobs["completed"], &jobs["failed"], &jobs["cancelled"]), (&exact(1), &exact(1), &exact(1)), "{all}");
    assert!(all["oldest_due_pending_seconds"].as_f64().unwrap() >= 0.0, "{all}");
    assert_eq!(all["completed"], json!({"1m": 1, "5m": 1, "15m": 1}));
    assert_eq!(all["failed"], json!({"1m": 1, "5m": 1, "15m": 1}));
    let procedures = all["procedures"].as_array().unwrap();
    let of = |name: &str| procedures.iter().find(|p| p["procedure"] == name).cloned().unwrap_or(Json::Null);
    assert_eq!(of("PROC_TEST_DEMORA")["running"], 1, "{all}");
    assert_eq!((&of("PROC_TEST")["pending"], &of("PROC_TEST")["delayed"]), (&json!(1), &json!(1)), "{all}");
    assert_eq!((&of("PROC_TEST")["completed_15m"], &of("PROC_TEST_ERROR")["failed_15m"]), (&json!(1), &json!(1)));
    let instances = all["instances"].as_array().unwrap();
    assert_eq!(instances.len(), 1, "{all}");
    assert_eq!((&instances[0]["workers"], &instances[0]["live"]), (&json!(1), &json!(true)));
    assert!(instances[0]["heartbeat_at"].is_string() && instances[0]["started_at"].is_string());
    // Readable from psql as the README says.
    let db = app.db.client().await;
    assert_eq!(count(&db, "SELECT count(*) FROM async_instances WHERE workers_busy = 1").await, 1);

    // A non-admin sees its own jobs' figures, and no instances.
    let alice = stats_as(&app, ALICE).await;
    assert_eq!(alice["scope"], "owner");
    assert!(alice.get("instances").is_none(), "{alice}");
    let a = &alice["jobs"];
    assert_eq!((&a["pending"], &a["delayed"], &a["running"]), (&json!(1), &json!(1), &json!(0)), "{alice}");
    assert_eq!((&a["completed"], &a["failed"], &a["cancelled"]), (&exact(1), &exact(1), &exact(0)), "{alice}");
    assert_eq!((&alice["completed"]["15m"], &alice["failed"]["15m"]), (&json!(1), &json!(1)));
    assert!(alice["procedures"].as_array().unwrap().iter().all(|p| p["procedure"] != "PROC_TEST_DEMORA"), "{alice}");
    let bob = stats_as(&app, BOB).await;
    let b = &bob["jobs"];
    assert_eq!((&b["pending"], &b["completed"], &b["cancelled"]), (&json!(0), &exact(0), &exact(1)), "{bob}");
    assert_eq!(bob["completed"]["15m"], 0, "{bob}");
    assert_eq!(app.get("/stats", "not-a-token-at-all").await.status(), 401);

    // Cleans up: the slow job ends now, not at the shutdown grace.
    assert_eq!(app.post(&format!("/jobs/{slow}/cancel"), ADMIN, &json!({})).await.status(), 200);
    app.wait_terminal(&slow).await;
}

#[tokio::test]
async fn ended_counts_above_the_cap_are_the_planners_estimate() {
    let app = spawn_app().await;
    app.db.insert_ended_jobs(12_000, 1).await;
    let db = app.db.client().await;
    db.batch_execute("ANALYZE async_jobs").await.unwrap();
    let all = stats_as(&app, ADMIN).await;
    let completed = &all["jobs"]["completed"];
    assert_eq!(completed["estimated"], true, "{all}");
    let n = completed["count"].as_i64().unwrap();
    assert!((10_001..=24_000).contains(&n), "an estimate of 12,000 rows within a sane factor: {n}");
    assert_eq!(all["jobs"]["failed"], exact(0), "below the cap: exact");

    // One owner's count stops at the cap: no per-owner statistics to estimate from.
    db.batch_execute("UPDATE async_jobs SET owner = 'alice'").await.unwrap();
    let alice = stats_as(&app, ALICE).await;
    let completed = &alice["jobs"]["completed"];
    assert!(completed["count"].is_null(), "{alice}");
    assert!(completed["reason"].as_str().unwrap().contains("more than 10000"), "{alice}");

    // A rare status is counted through the index, not by a scan of every ended job (a common
    // one may be read sequentially: the LIMIT stops that scan after the cap).
    db.batch_execute("ANALYZE async_jobs").await.unwrap();
    for sql in [
        "EXPLAIN SELECT count(*) FROM (SELECT 1 FROM async_jobs WHERE status = 'cancelled' LIMIT 10001) t",
        "EXPLAIN SELECT count(*) FROM (SELECT 1 FROM async_jobs WHERE status = 'failed' AND owner = 'bob' LIMIT 10001) t",
        "EXPLAIN SELECT count(*) FROM async_jobs WHERE status = 'pending'",
        "EXPLAIN SELECT count(*) FROM async_jobs WHERE status = 'running'",
    ] {
        let plan: Vec<String> = db.query(sql, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
        assert!(!plan.join("\n").contains("Seq Scan"), "{sql}: {plan:#?}");
    }
}

fn procgate(db_url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_procgate"))
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run procgate");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test]
async fn procgate_stats_prints_the_same_figures() {
    let app = spawn_app().await;
    let done = app.submit_as(ALICE, &proc_test("cli")).await;
    app.wait_terminal(&done).await;
    stats_until(&app, ADMIN, "the completion in the instance row", |s| s["completed"]["15m"] == 1).await;

    let (ok, out) = procgate(&app.db.url, &["stats"]);
    assert!(ok, "{out}");
    for header in ["PENDING", "COMPLETED", "PROCEDURE", "COMPLETED_15M", "INSTANCE", "BUSY/WORKERS"] {
        assert!(out.contains(header), "{header} missing in:\n{out}");
    }
    assert!(out.lines().any(|l| l.starts_with("PROC_TEST ") && l.split_whitespace().nth(4) == Some("1")), "{out}");
    let (ok, out) = procgate(&app.db.url, &["stats", "--owner", "bob", "--json"]);
    assert!(ok, "{out}");
    let bob: Json = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!((&bob["scope"], &bob["jobs"]["completed"]), (&json!("owner"), &exact(0)));
    let (ok, out) = procgate(&app.db.url, &["stats", "--json"]);
    assert!(ok, "{out}");
    let all: Json = serde_json::from_str(&out).unwrap();
    assert_eq!(all["jobs"]["completed"], exact(1));
}

/// Checks the Prometheus text format line by line: `# HELP`/`# TYPE` comments, and samples
/// `name{label="value",...} number`. Returns the samples.
fn parse_exposition(text: &str) -> Vec<(String, f64)> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(comment.starts_with("HELP ") || comment.starts_with("TYPE "), "bad comment: {line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("bad value: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            check_labels(&series[name_end..]).unwrap_or_else(|e| panic!("{e}: {line}"));
        }
        samples.push((series.to_string(), value));
    }
    samples
}

/// `{name="value",...}`: names of word characters, values quoted with `\\`, `\"` and `\n` escaped.
fn check_labels(labels: &str) -> Result<(), &'static str> {
    let mut chars = labels.strip_prefix('{').ok_or("no {")?.chars().peekable();
    loop {
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err("bad label name");
        }
        if chars.next() != Some('"') {
            return Err("unquoted label value");
        }
        loop {
            match chars.next().ok_or("unterminated label value")? {
                // An escape: the guard takes the escaped character.
                '\\' if !matches!(chars.next(), Some('\\' | '"' | 'n')) => return Err("bad escape"),
                '"' => break,
                '\n' => return Err("raw newline"),
                _ => {}
            }
        }
        match chars.next() {
            Some(',') if chars.peek() == Some(&'}') => {
                chars.next();
            }
            Some(',') => continue,
            Some('}') => {}
            _ => return Err("bad separator"),
        }
        return if chars.next().is_none() { Ok(()) } else { Err("text after the labels") };
    }
}

fn sample(samples: &[(String, f64)], series: &str) -> f64 {
    samples.iter().find(|(s, _)| s == series).map_or(0.0, |(_, v)| *v)
}

async fn scrape(app: &TestApp, token: &str) -> Vec<(String, f64)> {
    let resp = app.get("/metrics", token).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/plain; version=0.0.4"));
    parse_exposition(&resp.text().await.unwrap())
}

#[tokio::test]
async fn metrics_on_the_api_port_need_an_admin_token_or_the_metrics_token() {
    let app = spawn_app_with(&[("METRICS_TOKEN", METRICS_TOKEN)]).await;
    let resp = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let resp = app.get("/metrics", ALICE).await;
    assert_eq!(resp.status(), 403);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "admin_required");
    assert_eq!(app.get("/metrics", "wrong-metrics-token-01").await.status(), 401);
    // The metrics token opens /metrics only.
    assert_eq!(app.get("/jobs", METRICS_TOKEN).await.status(), 401);

    // Counters only grow, and other tests in this process run PROC_TEST too: compare before/after.
    let before = scrape(&app, METRICS_TOKEN).await;
    let id = app.submit(&proc_test("metrics")).await;
    app.wait_terminal(&id).await;
    let after = scrape(&app, ADMIN).await;
    for counter in ["procgate_jobs_accepted_total", "procgate_jobs_started_total", "procgate_jobs_completed_total"] {
        let series = format!("{counter}{{procedure=\"PROC_TEST\"}}");
        assert!(sample(&after, &series) >= sample(&before, &series) + 1.0, "{series} did not move");
    }
    let duration = "procgate_job_duration_seconds_count{procedure=\"PROC_TEST\"}";
    assert!(sample(&after, duration) >= 1.0, "no duration histogram");
    assert!(after.iter().any(|(s, _)| s.starts_with("procgate_job_queue_wait_seconds_bucket{")), "no wait buckets");
    let requests = "procgate_http_requests_total{route=\"/jobs/{id}\",status=\"200\"}";
    assert!(sample(&after, requests) >= 1.0, "requests are counted by route pattern: {after:?}");
    assert!(after.iter().all(|(s, _)| !s.contains(&id)), "a job id became a label value");
    for gauge in ["procgate_workers", "procgate_workers_busy", "procgate_sse_subscribers"] {
        assert!(after.iter().any(|(s, _)| s == gauge), "{gauge} missing");
    }
    assert!(after.iter().any(|(s, _)| s == "procgate_pool_connections_idle{pool=\"engine\"}"), "no pool gauges");
    assert!(after.iter().any(|(s, _)| s.starts_with("procgate_queue_jobs{state=")), "no queue depth gauges");
}

#[tokio::test]
async fn metrics_addr_is_a_separate_listener_without_a_token() {
    let db = TestDatabase::create().await;
    let settings = settings(&db.url, &[("METRICS_ADDR", "127.0.0.1:0")]);
    let app = Application::build(settings).await.expect("build the app");
    let (api_port, metrics_port) = (app.port(), app.metrics_port().expect("a metrics listener"));
    let stop = app.stop_token();
    let running = tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();

    let resp = client.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let samples = parse_exposition(&resp.text().await.unwrap());
    assert!(samples.iter().any(|(s, _)| s == "procgate_workers"), "{samples:?}");
    let resp = client.get(format!("http://127.0.0.1:{metrics_port}/jobs")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    // Not on the API port then, even for an admin.
    let resp = client.get(format!("http://127.0.0.1:{api_port}/metrics")).bearer_auth(ADMIN).send().await.unwrap();
    assert_eq!(resp.status(), 404);

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(30), running).await.expect("stopped").unwrap().unwrap();
    assert!(client.get(format!("http://127.0.0.1:{metrics_port}/metrics")).send().await.is_err(), "still listening");
}
