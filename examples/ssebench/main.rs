//! SSE benchmark: many subscribers on one gateway, each of which must see every event of the
//! jobs it follows exactly once; reports the delivery latency and (with `--gateway-pid`) the
//! gateway's memory. Run by `scripts/bench/sse.sh`; see docs/benchmarks.md.
//!
//! ```text
//! ssebench --url http://127.0.0.1:3000 --token T -s 1000 -j 200 --rate 50 --gateway-pid PID
//! ssebench ... --per-job        # each subscriber follows one job's /jobs/{id}/events
//! ssebench ... --hold-secs 600  # connect and keep reading until SIGTERM; submits nothing
//! ```
//! - Default: S subscribers on `GET /events` (every job's events; the token must be an admin's).
//!   Once all are connected (each has its 200), C clients submit J `PROC_TEST` jobs at `--rate`
//!   jobs/s. Each subscriber must then receive `accepted`, `started` and `completed` of each of
//!   the J jobs exactly once.
//! - `--per-job`: the J jobs are submitted first with `run_at` spread at `--rate` jobs/s from
//!   `--lead-secs` on; subscriber k follows job k mod J, gets its `accepted` from the history and
//!   its `started` and `completed` live; the stream ends after `completed`.
//! - `--hold-secs H` (`hold.rs`): S subscribers on `GET /events` read and count whatever arrives
//!   until SIGTERM/SIGINT or H seconds; nothing is submitted or checked per event (`--jobs`,
//!   `--rate`, `--gateway-pid` are ignored). For the load of connected subscribers while other
//!   work makes the events (`scripts/bench/memory.sh`); fails only if a stream ends early.
//!
//!
//! Latency: receive time − the event's `at` (the database's transaction timestamp, same machine
//! clock), for every (subscriber, live event). Prints one JSON object; exits non-zero when an
//! event is missing, repeated or unexpected, a stream failed, or the deadline passed.

mod hold;
mod procfs;
mod sse;
mod tally;

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use clap::Parser;
use futures_util::StreamExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::sync::CancellationToken;

use sse::SseBuffer;
use tally::{Tally, EXPECTED_TYPES, MEASURED_TYPES};

#[derive(Debug, Parser)]
#[command(about = "SSE benchmark for procgate: delivery latency and memory with many subscribers")]
struct Args {
    /// The gateway's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    url: String,
    /// API token (an admin's, for `GET /events`).
    #[arg(long, env = "SSEBENCH_TOKEN", default_value = "bench-token-123")]
    token: String,
    /// Subscribers (one HTTP connection each).
    #[arg(short, long, default_value_t = 1000)]
    subscribers: usize,
    /// Jobs to submit.
    #[arg(short, long, default_value_t = 200)]
    jobs: usize,
    /// Jobs per second (submitted, or with --per-job, due).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Concurrent submitting clients.
    #[arg(short, long, default_value_t = 4)]
    clients: usize,
    /// Each subscriber follows one job's /jobs/{id}/events instead of GET /events.
    #[arg(long)]
    per_job: bool,
    /// --per-job: the first job is due this long after the submissions (time to connect).
    #[arg(long, default_value_t = 15.0)]
    lead_secs: f64,
    /// Subscribers connecting at once.
    #[arg(long, default_value_t = 100)]
    connect_concurrency: usize,
    /// How long all subscribers stay connected and idle before the jobs (the idle RSS sample).
    #[arg(long, default_value_t = 2.0)]
    idle_secs: f64,
    /// After the last expected event, keep reading this long (a late repeat is still counted).
    #[arg(long, default_value_t = 500)]
    linger_ms: u64,
    /// The gateway's process id: report its VmRSS/VmHWM (Linux /proc).
    #[arg(long)]
    gateway_pid: Option<u32>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300)]
    deadline_secs: u64,
    /// Connect and hold: read and count until SIGTERM/SIGINT or this many seconds (see above).
    #[arg(long)]
    hold_secs: Option<f64>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    match run(&args).await {
        Ok((report, None)) => println!("{report}"),
        Ok((report, Some(failure))) => {
            println!("{report}");
            eprintln!("ssebench: {failure}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("ssebench: {e}");
            std::process::exit(1);
        }
    }
}

/// The report, and why the run failed if it did.
async fn run(args: &Args) -> Result<(Value, Option<String>), BoxError> {
    let base = args.url.trim_end_matches('/').to_string();
    if let Some(hold) = args.hold_secs {
        let hold = Duration::try_from_secs_f64(hold).ok().filter(|h| !h.is_zero());
        match hold {
            Some(hold) if args.subscribers > 0 => return hold::run(args, &base, hold).await,
            _ => return Err("--subscribers and --hold-secs must be positive".into()),
        }
    }
    if args.jobs == 0 || args.subscribers == 0 || args.rate <= 0.0 {
        return Err("--jobs, --subscribers and --rate must be positive".into());
    }
    let deadline = Instant::now() + Duration::from_secs(args.deadline_secs);
    let memory = |stage: &str| -> Result<Value, BoxError> {
        Ok(match args.gateway_pid {
            Some(pid) => json!({ "stage": stage, "memory": procfs::read(pid)? }),
            None => Value::Null,
        })
    };
    let stop_sampling = CancellationToken::new();
    let peak = args.gateway_pid.map(|pid| procfs::sample_peak(pid, Duration::from_millis(50), stop_sampling.clone()));
    let mut samples = vec![memory("before")?];

    // --per-job: the jobs exist before their subscribers, due from lead_secs on.
    let submitter = Submitter::new(args, &base)?;
    let mut job_ids = Vec::new();
    let mut submit_seconds = 0.0;
    if args.per_job {
        let first_due = Utc::now() + chrono::Duration::milliseconds((args.lead_secs * 1000.0) as i64);
        let t = Instant::now();
        job_ids = submitter.submit_all(None, Some(first_due)).await?;
        submit_seconds = t.elapsed().as_secs_f64();
    }

    let stop = CancellationToken::new();
    let done = Arc::new(AtomicUsize::new(0));
    let t_connect = Instant::now();
    let subscribers = connect_all(args, &base, &job_ids, &stop, &done, deadline).await?;
    let connect_seconds = t_connect.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs_f64(args.idle_secs)).await;
    samples.push(memory("connected")?);

    // Delivery is timed from here (--per-job: the first job is due lead_secs after its submission).
    let t_submit = Instant::now();
    let cpu_before = args.gateway_pid.map(procfs::cpu_seconds).transpose()?;
    let own_cpu_before = procfs::cpu_seconds(std::process::id())?;
    if !args.per_job {
        job_ids = submitter.submit_all(Some(args.rate), None).await?;
        submit_seconds = t_submit.elapsed().as_secs_f64();
    }
    let all_seen = wait_until(deadline, || done.load(Ordering::Relaxed) == args.subscribers).await;
    let delivery_seconds = t_submit.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(args.linger_ms)).await;
    samples.push(memory("peak_hwm")?);
    let cpu_run = match (args.gateway_pid, cpu_before) {
        (Some(pid), Some(before)) => Some(procfs::cpu_seconds(pid)? - before),
        _ => None,
    };
    let own_cpu_run = procfs::cpu_seconds(std::process::id())? - own_cpu_before;
    stop.cancel();
    let mut tallies = Vec::with_capacity(subscribers.len());
    for task in subscribers {
        tallies.push(task.await?);
    }
    stop_sampling.cancel();
    tokio::time::sleep(Duration::from_secs(1)).await;
    samples.push(memory("closed")?);

    let mut report = summarize(args, &job_ids, &tallies);
    report["connect_seconds"] = json!(connect_seconds);
    report["submit_seconds"] = json!(submit_seconds);
    report["delivery_seconds"] = json!(delivery_seconds);
    // This program's own CPU over the same span: it shares the machine with the gateway.
    report["client_cpu_seconds"] = json!(own_cpu_run);
    if let Some(peak) = peak {
        report["gateway_memory"] = json!({
            "samples": samples,
            "peak_sampled_rss_kib": peak.load(Ordering::Relaxed),
        });
        // From the first submission until every subscriber had everything (and the linger).
        report["gateway_cpu_seconds"] = json!(cpu_run);
    }
    let failure = failure(&report, all_seen);
    Ok((report, failure))
}

/// Polls `cond` every 10 ms until it holds (true) or `deadline` passes (false).
async fn wait_until(deadline: Instant, cond: impl Fn() -> bool) -> bool {
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// Opens every subscriber's stream; returns once all have their 200 (or fails with the first
/// that did not). Each task returns its tally when `stop` fires or its stream ends.
async fn connect_all(
    args: &Args,
    base: &str,
    job_ids: &[String],
    stop: &CancellationToken,
    done: &Arc<AtomicUsize>,
    deadline: Instant,
) -> Result<Vec<tokio::task::JoinHandle<Tally>>, BoxError> {
    // No overall timeout: it would cut the streams.
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10)).tcp_nodelay(true).build()?;
    let gate = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let (connected_tx, connected_rx) = mpsc::channel(args.subscribers);
    let mut tasks = Vec::with_capacity(args.subscribers);
    for k in 0..args.subscribers {
        let (url, expected) = match job_ids.get(k % job_ids.len().max(1)) {
            Some(id) if args.per_job => (format!("{base}/jobs/{id}/events"), EXPECTED_TYPES.len()),
            _ => (format!("{base}/events"), EXPECTED_TYPES.len() * args.jobs),
        };
        let subscriber = Subscriber {
            request: http.get(url).bearer_auth(&args.token),
            expected,
            stop: stop.clone(),
            done: done.clone(),
        };
        tasks.push(tokio::spawn(subscriber.run(gate.clone(), connected_tx.clone())));
    }
    drop(connected_tx);
    wait_connected(connected_rx, args.subscribers, deadline).await?;
    Ok(tasks)
}

/// Waits until `n` subscribers have reported their 200 on `connected`; fails with the first
/// that could not connect, or at `deadline`.
async fn wait_connected(
    mut connected: mpsc::Receiver<Result<(), String>>,
    n: usize,
    deadline: Instant,
) -> Result<(), BoxError> {
    for _ in 0..n {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(remaining, connected.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(format!("a subscriber could not connect: {e}").into()),
            Ok(None) => return Err("subscribers ended before connecting".into()),
            Err(_) => return Err("the deadline passed while subscribers connected".into()),
        }
    }
    Ok(())
}

/// Sends a subscriber's request (at most `gate`'s permits in flight) and reports on `connected`
/// whether it got a 2xx; the response if it did.
async fn open(
    request: reqwest::RequestBuilder,
    gate: Arc<Semaphore>,
    connected: &mpsc::Sender<Result<(), String>>,
) -> Result<reqwest::Response, String> {
    let permit = gate.acquire_owned().await;
    let outcome = match request.send().await {
        Ok(r) if r.status().is_success() => Ok(r),
        Ok(r) => Err(format!("answered {}", r.status())),
        Err(e) => Err(format!("request failed: {e}")),
    };
    drop(permit);
    let _ = connected.send(outcome.as_ref().map(|_| ()).map_err(String::clone)).await;
    outcome
}

struct Subscriber {
    request: reqwest::RequestBuilder,
    /// Different (job, type) pairs it must see.
    expected: usize,
    stop: CancellationToken,
    /// Counts the subscribers that have seen all they expected.
    done: Arc<AtomicUsize>,
}

impl Subscriber {
    async fn run(self, gate: Arc<Semaphore>, connected: mpsc::Sender<Result<(), String>>) -> Tally {
        let response = match open(self.request, gate, &connected).await {
            Ok(r) => r,
            Err(why) => {
                let mut tally = Tally::new(Utc::now());
                tally.error = Some(why);
                return tally;
            }
        };
        drop(connected);
        let mut tally = Tally::new(Utc::now());
        let mut body = response.bytes_stream();
        let mut buffer = SseBuffer::default();
        loop {
            let chunk = tokio::select! {
                _ = self.stop.cancelled() => break,
                chunk = body.next() => chunk,
            };
            let received = Utc::now();
            let events = match chunk {
                Some(Ok(bytes)) => buffer.push(&bytes),
                Some(Err(e)) => Err(format!("the stream broke: {e}")),
                None if tally.distinct() < self.expected => Err("the stream ended early".into()),
                None => break,
            };
            let before = tally.distinct();
            match events {
                Ok(events) => events.iter().for_each(|e| tally.record(e, received)),
                Err(e) => {
                    tally.error = Some(e);
                    break;
                }
            }
            if before < self.expected && tally.distinct() >= self.expected {
                self.done.fetch_add(1, Ordering::Relaxed);
            }
        }
        tally
    }
}

/// Submits `PROC_TEST` jobs from a few clients.
struct Submitter {
    http: reqwest::Client,
    endpoint: String,
    token: String,
    jobs: usize,
    clients: usize,
    rate: f64,
}

impl Submitter {
    fn new(args: &Args, base: &str) -> Result<Self, BoxError> {
        Ok(Submitter {
            http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?,
            endpoint: format!("{base}/procedure/async"),
            token: args.token.clone(),
            jobs: args.jobs,
            clients: args.clients.max(1),
            rate: args.rate,
        })
    }

    /// Submits every job, job i no sooner than i/`pace` s after the first (`None`: at once) and,
    /// with `first_due`, due (`run_at`) i/rate s after it. Returns the job ids in order.
    async fn submit_all(
        &self,
        pace: Option<f64>,
        first_due: Option<chrono::DateTime<Utc>>,
    ) -> Result<Vec<String>, BoxError> {
        let next = Arc::new(AtomicUsize::new(0));
        let t0 = tokio::time::Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..self.clients {
            let (next, http, endpoint, token) =
                (next.clone(), self.http.clone(), self.endpoint.clone(), self.token.clone());
            let (jobs, rate) = (self.jobs, self.rate);
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs {
                        return Ok::<_, String>(ids);
                    }
                    if let Some(pace) = pace {
                        tokio::time::sleep_until(t0 + Duration::from_secs_f64(i as f64 / pace)).await;
                    }
                    let mut body = json!({
                        "name": "PROC_TEST",
                        "params": [
                            {"name": "p_input", "value": format!("sse-{i}")},
                            {"name": "p_output", "direction": "OUT"},
                        ],
                    });
                    if let Some(first) = first_due {
                        let due = first + chrono::Duration::microseconds((i as f64 / rate * 1e6) as i64);
                        body["run_at"] = json!(due.to_rfc3339());
                    }
                    ids.push((i, submit(&http, &endpoint, &token, &body).await.map_err(|e| format!("job {i}: {e}"))?));
                }
            }));
        }
        let mut ids = Vec::with_capacity(self.jobs);
        for task in tasks {
            ids.extend(task.await??);
        }
        ids.sort();
        Ok(ids.into_iter().map(|(_, id)| id).collect())
    }
}

/// One `POST /procedure/async`; the job id of its 202.
async fn submit(http: &reqwest::Client, endpoint: &str, token: &str, body: &Value) -> Result<String, String> {
    let answer = http.post(endpoint).bearer_auth(token).json(body).send().await.map_err(|e| e.to_string())?;
    let status = answer.status();
    let text = answer.text().await.map_err(|e| e.to_string())?;
    if status.as_u16() != 202 {
        return Err(format!("expected 202, got {status}: {text}"));
    }
    let answer: Value = serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))?;
    answer["job_id"].as_str().map(str::to_string).ok_or_else(|| format!("no job_id in {text}"))
}

/// The report: delivery counts, checks and latency percentiles over every subscriber.
fn summarize(args: &Args, job_ids: &[String], tallies: &[Tally]) -> Value {
    let parsed: Vec<u128> = job_ids.iter().filter_map(|id| u128::from_str_radix(id, 16).ok()).collect();
    let all: HashSet<u128> = parsed.iter().copied().collect();
    let (mut missing, mut repeated, mut unexpected, mut delivered, mut history) = (0, 0, 0, 0, 0);
    let mut errors = Vec::new();
    let mut other_types = std::collections::BTreeMap::<String, usize>::new();
    let mut by_type: [Vec<f32>; 4] = Default::default();
    for (k, tally) in tallies.iter().enumerate() {
        let check =
            if args.per_job { tally.check(&HashSet::from([parsed[k % parsed.len()]])) } else { tally.check(&all) };
        missing += check.missing;
        repeated += check.repeated;
        unexpected += check.unexpected;
        delivered += tally.delivered;
        history += tally.history;
        errors.extend(tally.error.iter().map(|e| format!("subscriber {k}: {e}")));
        for (kind, n) in &tally.other_types {
            *other_types.entry(kind.clone()).or_insert(0) += n;
        }
        for (into, from) in by_type.iter_mut().zip(&tally.latencies_ms) {
            into.extend_from_slice(from);
        }
    }
    let mut overall: Vec<f32> = by_type.iter().flatten().copied().collect();
    let types: serde_json::Map<String, Value> =
        MEASURED_TYPES.iter().zip(by_type.iter_mut()).map(|(name, lat)| (name.to_string(), percentiles(lat))).collect();
    let per_subscriber = if args.per_job { EXPECTED_TYPES.len() } else { EXPECTED_TYPES.len() * args.jobs };
    json!({
        "mode": if args.per_job { "per-job" } else { "feed" },
        "subscribers": args.subscribers,
        "jobs": args.jobs,
        "rate": args.rate,
        "events_expected": per_subscriber * args.subscribers,
        "events_delivered": delivered,
        "history_events": history,
        "latency_ms": percentiles(&mut overall),
        "latency_ms_by_type": types,
        "missing": missing,
        "progress_events": tallies.iter().map(Tally::progress).sum::<usize>(),
        "progress_missing": progress_missing(args, parsed.len(), tallies),
        "repeated": repeated,
        "unexpected": unexpected,
        "unexpected_types": other_types,
        "subscriber_errors": errors.len(),
        "first_errors": errors.iter().take(3).collect::<Vec<_>>(),
    })
}

/// Progress events are optional, but subscribers that follow the same jobs must see the same
/// ones: how many fewer than the most any of them saw (each has at most one of each).
fn progress_missing(args: &Args, jobs: usize, tallies: &[Tally]) -> usize {
    let group = |k: usize| if args.per_job { k % jobs.max(1) } else { 0 };
    let mut most = std::collections::HashMap::<usize, usize>::new();
    for (k, t) in tallies.iter().enumerate() {
        let m = most.entry(group(k)).or_insert(0);
        *m = (*m).max(t.progress());
    }
    tallies.iter().enumerate().map(|(k, t)| most[&group(k)] - t.progress()).sum()
}

/// Nearest-rank percentiles of the live latencies (ms), and how many there were.
fn percentiles(values: &mut [f32]) -> Value {
    if values.is_empty() {
        return json!({ "n": 0 });
    }
    values.sort_by(f32::total_cmp);
    let at = |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    json!({
        "n": values.len(),
        "p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": values[values.len() - 1],
    })
}

/// Why the run failed, if it did.
fn failure(report: &Value, all_seen: bool) -> Option<String> {
    let count = |k: &str| report[k].as_u64().unwrap_or(0);
    if count("subscriber_errors") > 0 {
        return Some(format!("{} subscriber(s) failed, e.g. {}", count("subscriber_errors"), report["first_errors"]));
    }
    if count("missing") + count("progress_missing") + count("repeated") + count("unexpected") > 0 || !all_seen {
        return Some(format!(
            "events missing {} (and progress {}), repeated {}, unexpected {}{}",
            count("missing"),
            count("progress_missing"),
            count("repeated"),
            count("unexpected"),
            if all_seen { "" } else { " (the deadline passed)" }
        ));
    }
    None
}
