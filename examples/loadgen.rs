//! HTTP load generator for procgate's benchmarks (`scripts/bench.sh`, `scripts/peer-system/run`).
//!
//! ```text
//! loadgen accept --url http://127.0.0.1:3000 --token T -n 20000 -c 16
//! loadgen e2e    --url ... --token T --database-url postgres://... -n 20000 -c 16
//! loadgen drain  --database-url postgres://... -n 20000
//! ```
//! - `accept`: C clients submit N jobs (`POST /procedure/async`), one request per job; every answer
//!   must be 202. Prints `{"seconds","p50_ms","p99_ms","n"}` (seconds: first submit → last answer).
//! - `e2e`: the same, then waits until all N jobs are completed (counted in the database with
//!   `--database-url`, else through `GET /jobs?status=completed&limit=1`). Seconds: first submit →
//!   last completion seen (polled every 20 ms).
//! - `drain`: submits nothing; waits until N jobs are completed (an instance that runs jobs,
//!   `procgate work` or `serve`, was started on N pending jobs just before). Seconds: from this
//!   program's start. Needs `--database-url`.
//!
//! With `--database-url`, `accept` also reports how many jobs were no longer pending after the last
//! answer (`claimed_during_accept`): 0 on an API-only gateway (`WORKERS=0`), which is how
//! `scripts/bench.sh` measures accepting alone.
//!
//! Any job that ends failed or cancelled, a non-202 answer or the deadline makes it exit non-zero.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    Accept,
    E2e,
    Drain,
}

#[derive(Debug, Parser)]
#[command(about = "Load generator for procgate: accept rate, end-to-end rate, drain rate")]
struct Args {
    #[arg(value_enum)]
    mode: Mode,
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// API token (sent as `Authorization: Bearer`).
    #[arg(long, env = "LOADGEN_TOKEN", default_value = "bench-token-123")]
    token: String,
    /// The job table's database; completions are counted there (cheaper than HTTP).
    #[arg(long, env = "LOADGEN_DATABASE_URL")]
    database_url: Option<String>,
    /// Jobs to submit (or to wait for, in drain mode).
    #[arg(short, default_value_t = 20000)]
    n: usize,
    /// Concurrent HTTP clients.
    #[arg(short, default_value_t = 16)]
    c: usize,
    /// The procedure each job calls; it takes `p_input` (text) and returns `p_output`.
    #[arg(long, default_value = "PROC_TEST")]
    procedure: String,
    /// How `p_output` is declared in the request (OUT for PROC_TEST, INOUT for peer_bench.proc_test).
    #[arg(long, default_value = "OUT")]
    out_direction: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    deadline_secs: u64,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match run(&args).await {
        Ok(mut report) => {
            report["mode"] = json!(format!("{:?}", args.mode).to_lowercase());
            report["n"] = json!(args.n);
            println!("{report}");
        }
        Err(e) => {
            eprintln!("loadgen {:?}: {e}", args.mode);
            std::process::exit(1);
        }
    }
}

async fn run(args: &Args) -> Result<Value, BoxError> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.deadline_secs);
    let db = match &args.database_url {
        Some(url) => Some(connect(url).await?),
        None => None,
    };
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(args.c.max(1) * 2)
        .timeout(Duration::from_secs(60))
        .build()?;
    match args.mode {
        Mode::Accept => {
            let t0 = Instant::now();
            let latencies = submit_all(args, &http).await?;
            let seconds = t0.elapsed().as_secs_f64();
            let mut report = latency_report(seconds, latencies);
            if let Some(db) = &db {
                let row = db.query_one("SELECT count(*) FROM async_jobs WHERE status <> 'pending'", &[]).await?;
                let claimed: i64 = row.get(0);
                report["claimed_during_accept"] = json!(claimed);
            }
            Ok(report)
        }
        Mode::E2e => {
            let t0 = Instant::now();
            let latencies = submit_all(args, &http).await?;
            let accepted = t0.elapsed().as_secs_f64();
            wait_completed(args, db.as_ref(), &http, deadline).await?;
            let mut report = latency_report(t0.elapsed().as_secs_f64(), latencies);
            report["accept_seconds"] = json!(accepted);
            Ok(report)
        }
        Mode::Drain => {
            let db = db.as_ref().ok_or("drain mode needs --database-url")?;
            // Counted after the gateway has started: some may already be running or completed.
            let row = db.query_one("SELECT count(*) FROM async_jobs", &[]).await?;
            let queued: i64 = row.get(0);
            if queued < args.n as i64 {
                return Err(format!("only {queued} jobs are in the table, expected {}", args.n).into());
            }
            wait_completed(args, Some(db), &http, deadline).await?;
            let seconds = started.elapsed().as_secs_f64();
            let row = db
                .query_one(
                    "SELECT extract(epoch FROM max(end_time) - min(start_time))::float8 FROM async_jobs
                      WHERE status = 'completed'",
                    &[],
                )
                .await?;
            let claim_to_last: Option<f64> = row.get(0);
            Ok(json!({
                "seconds": seconds,
                "jobs_at_start": queued,
                "first_claim_to_last_completion_s": claim_to_last,
            }))
        }
    }
}

async fn connect(url: &str) -> Result<tokio_postgres::Client, BoxError> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("loadgen: database connection: {e}");
        }
    });
    Ok(client)
}

/// C tasks share one counter and one pooled client; returns every request's latency in ms.
async fn submit_all(args: &Args, http: &reqwest::Client) -> Result<Vec<f64>, BoxError> {
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let endpoint = format!("{}/procedure/async", args.url.trim_end_matches('/'));
    let mut tasks = Vec::new();
    for _ in 0..args.c.max(1) {
        let (next, failed, http, endpoint) = (next.clone(), failed.clone(), http.clone(), endpoint.clone());
        let (n, token, procedure, dir) =
            (args.n, args.token.clone(), args.procedure.clone(), args.out_direction.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n / 8 + 1);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || failed.load(Ordering::Relaxed) {
                    return Ok::<_, String>(lat);
                }
                let body = json!({
                    "name": procedure,
                    "params": [
                        {"name": "p_input", "value": format!("job-{i}")},
                        {"name": "p_output", "direction": dir},
                    ],
                });
                let t = Instant::now();
                let answer = http.post(&endpoint).bearer_auth(&token).json(&body).send().await;
                let result = match answer {
                    Ok(r) if r.status().as_u16() == 202 => {
                        // Read the body so the connection goes back to the pool.
                        r.bytes().await.map(|_| ()).map_err(|e| format!("job {i}: reading the answer: {e}"))
                    }
                    Ok(r) => {
                        let status = r.status();
                        let text = r.text().await.unwrap_or_default();
                        Err(format!("job {i}: expected 202, got {status}: {text}"))
                    }
                    Err(e) => Err(format!("job {i}: request failed: {e}")),
                };
                if let Err(e) = result {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                lat.push(t.elapsed().as_secs_f64() * 1e3);
            }
        }));
    }
    let mut all = Vec::with_capacity(args.n);
    let mut first_error = None;
    for t in tasks {
        match t.await? {
            Ok(lat) => all.extend(lat),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(all),
    }
}

fn latency_report(seconds: f64, mut lat: Vec<f64>) -> Value {
    lat.sort_by(f64::total_cmp);
    let q = |p: f64| lat.get(((p * lat.len() as f64) as usize).min(lat.len().saturating_sub(1))).copied();
    let round = |v: Option<f64>| v.map(|v| (v * 1000.0).round() / 1000.0);
    json!({ "seconds": seconds, "p50_ms": round(q(0.5)), "p99_ms": round(q(0.99)) })
}

/// Polls every 20 ms until `args.n` jobs are completed; fails at once if one failed. With the
/// database, each poll asks only whether a job is left unfinished (and whether one failed): the
/// first entry of the pending and running indexes, a constant cost. Counting them instead read
/// every unfinished job 50 times a second — first the whole table (a tenth of the database's CPU
/// in the end-to-end figure), then the status index (still 3.3 s of PostgreSQL's CPU in an 11 s
/// drain of 20,000 jobs, charged to procgate). The session's planner settings keep those scans
/// on the indexes whatever a fresh table's statistics say. Once none is left, the completed ones
/// are counted once.
async fn wait_completed(
    args: &Args,
    db: Option<&tokio_postgres::Client>,
    http: &reqwest::Client,
    deadline: Instant,
) -> Result<(), BoxError> {
    let left_sql = "SELECT EXISTS (SELECT FROM async_jobs WHERE status = 'pending')
                           OR EXISTS (SELECT FROM async_jobs WHERE status = 'running'),
                           EXISTS (SELECT FROM async_jobs WHERE status IN ('failed', 'cancelled'))";
    let left_stmt = match db {
        Some(db) => {
            db.batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off; SET jit = off").await?;
            Some(db.prepare(left_sql).await?)
        }
        None => None,
    };
    loop {
        let (completed, failed) = match (db, &left_stmt) {
            (Some(db), Some(stmt)) => {
                let row = db.query_one(stmt, &[]).await?;
                let (unfinished, failed) = (row.get::<_, bool>(0), row.get::<_, bool>(1));
                let completed = if !unfinished && !failed {
                    db.query_one("SELECT count(*) FROM async_jobs WHERE status = 'completed'", &[]).await?.get(0)
                } else {
                    0
                };
                (completed, failed)
            }
            _ => (http_total(args, http, "completed").await?, false),
        };
        if failed {
            let why = match db {
                Some(db) => db
                    .query_opt(
                        "SELECT coalesce(error_code, '') || ': ' || coalesce(error_msg, '') FROM async_jobs
                          WHERE status IN ('failed', 'cancelled') LIMIT 1",
                        &[],
                    )
                    .await?
                    .map(|r| r.get::<_, String>(0))
                    .unwrap_or_default(),
                None => String::new(),
            };
            return Err(format!("a job failed or was cancelled, e.g. {why}").into());
        }
        if completed >= args.n as i64 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "deadline ({} s) passed with {completed} of {} jobs completed",
                args.deadline_secs, args.n
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /jobs?status=..&limit=1` → `total`.
async fn http_total(args: &Args, http: &reqwest::Client, status: &str) -> Result<i64, BoxError> {
    let url = format!("{}/jobs?status={status}&limit=1", args.url.trim_end_matches('/'));
    let r = http.get(&url).bearer_auth(&args.token).send().await?;
    if !r.status().is_success() {
        return Err(format!("GET /jobs answered {}", r.status()).into());
    }
    let body: Value = r.json().await?;
    body["total"].as_i64().ok_or_else(|| format!("GET /jobs: no total in {body}").into())
}
