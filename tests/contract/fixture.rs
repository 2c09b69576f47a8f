//! What every contract scenario stands on: a `Backend` (one database of one kind, for one
//! scenario), the gateways it spawns over real HTTP, and the few questions a scenario asks the
//! database directly, each answered by a named method so the same scenario runs on PostgreSQL and
//! on Oracle. The implementations live in `postgres.rs` and `oracle.rs` next to this file.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use procgate::config::Settings;
use procgate::db::{ConnectOptions, Database};
use procgate::startup::Application;
use serde_json::{json, Value as Json};

pub const ADMIN: &str = "admin-token-0001";
pub const ALICE: &str = "alice-token-0001";
pub const BOB: &str = "bob-token-00001";

/// How long a test waits for a job before it fails.
pub const JOB_DEADLINE: Duration = Duration::from_secs(30);

/// One scenario's database. PostgreSQL gives each scenario a fresh database; Oracle gives it the
/// suite's schema, emptied, for as long as the scenario holds its turn.
#[allow(async_fn_in_trait)] // used by the test binaries only, never through `dyn`
pub trait Backend {
    /// The gateway's `DATABASE_URL`.
    fn url(&self) -> &str;

    /// The code of the error a test procedure raises itself (`PROC_TEST_ERROR`).
    fn raised_code(&self) -> &'static str;
    /// Asserts that `message` is the message of the error a test procedure raised with `raised`
    /// (Oracle appends the `ORA-06512` lines saying where).
    fn assert_raised_message(&self, message: &Json, raised: &str);
    /// The code of the retryable failure `PROC_TEST_FLAKY` raises.
    fn retryable_code(&self) -> &'static str;
    /// A cursor column's name as the database reports it (unquoted names fold to lower case on
    /// PostgreSQL, to upper case on Oracle).
    fn column(&self, name: &str) -> String;
    /// A system schema that the `*` allowlist must not reach.
    fn system_schema(&self) -> &'static str;

    /// Each `PROC_TEST_LOG` tag with how many of its calls committed.
    async fn calls_per_tag(&self) -> HashMap<String, i64>;
    /// The committed `PROC_TEST_LOG` tags, oldest call first.
    async fn tags_in_call_order(&self) -> Vec<String>;
    /// How many calls of `procedure` other sessions are executing right now.
    async fn calls_executing(&self, procedure: &str) -> i64;
    /// How many other sessions hold a transaction open without executing anything.
    async fn idle_transactions(&self) -> i64;
    /// How many stored procedures and functions named `PROC_TEST%` exist.
    async fn test_procedures(&self) -> i64;
    /// How many rows the table `table` (a test constant) holds.
    async fn rows_in(&self, table: &str) -> i64;
    /// Creates the sequence `name` (a test constant) for `PROC_TEST_FLAKY`.
    async fn create_sequence(&self, name: &str);

    /// How many jobs the table holds, in `status` or in any.
    async fn count_jobs(&self, status: Option<&str>) -> i64;
    /// The running and the completed jobs of `procedure`, counted in one statement.
    async fn running_and_completed(&self, procedure: &str) -> (i64, i64);
    /// The ids of the pending and running jobs.
    async fn unfinished_jobs(&self) -> Vec<String>;
    /// The highest attempt count of any job.
    async fn max_attempts(&self) -> i64;
    /// How many distinct instances ran the table's jobs.
    async fn instances_that_ran_jobs(&self) -> i64;
    /// The job's status, error code and error message, as the table holds them.
    async fn status_and_error(&self, id: &str) -> (String, Option<String>, Option<String>);
    /// The job's stored parameters, as the table holds them.
    async fn stored_params(&self, id: &str) -> Json;
    /// The types of the event rows `ASYNC_JOB_EVENTS` holds for job `id`, oldest first.
    async fn stored_events(&self, id: &str) -> Vec<String>;
    /// Whether the job's end time is not before its start time, and whether its call's session
    /// was cleared.
    async fn ended_after_start_and_session_cleared(&self, id: &str) -> (bool, bool);
    /// Moves a running job to its next attempt (as a rescue and a new claim would); returns the
    /// rows changed.
    async fn supersede_attempt(&self, id: &str) -> u64;
    /// Sets the end time of the jobs `ids` to `days` days ago.
    async fn end_days_ago(&self, ids: &[String], days: i64);
    /// Sets the creation and start times of every job to `days` days ago.
    async fn backdate_all(&self, days: i64);
    /// Inserts `n` completed jobs that ended `days` days ago, straight into the table.
    async fn insert_ended_jobs(&self, n: i64, days: i64);
    /// Deletes every job.
    async fn clear_jobs(&self);

    /// Connects to the database as a tool would (`pool` call connections).
    async fn store(&self, pool: usize) -> Database {
        Database::connect(self.url(), &ConnectOptions::new("test", pool)).await.expect("connect to the test database")
    }

    async fn spawn_app(&self) -> App {
        self.spawn_app_with(&[]).await
    }

    /// A gateway on this database; call again for another instance sharing it.
    async fn spawn_app_with(&self, overrides: &[(&str, &str)]) -> App {
        App::spawn(settings(self.url(), overrides)).await
    }

    /// Waits until a call of `procedure` is executing on the server.
    async fn call_executing(&self, procedure: &str) {
        eventually(&format!("a {procedure} call to execute"), || async {
            (self.calls_executing(procedure).await > 0).then_some(())
        })
        .await;
    }

    /// Waits until no call of `procedure` is executing: an interrupted call ends within moments
    /// (the server reports the session idle just after the client sees the error).
    async fn no_call_running(&self, procedure: &str) {
        eventually(&format!("no {procedure} call left executing"), || async {
            (self.calls_executing(procedure).await == 0).then_some(())
        })
        .await;
    }
}

/// Settings every test app starts from; `overrides` change or add any of them.
pub fn settings(db_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let tokens = format!("admin:{ADMIN}:admin,alice:{ALICE},bob:{BOB}");
    let defaults = [
        ("DATABASE_URL", db_url),
        ("HOST", "127.0.0.1"),
        ("PORT", "0"),
        ("WORKERS", "4"),
        ("API_TOKENS", tokens.as_str()),
        ("PROCEDURE_ALLOWLIST", "PROC_TEST*"),
        ("POLL_INTERVAL", "1s"),
        ("SHUTDOWN_GRACE", "5s"),
    ];
    crate::settings::settings_from(&defaults, overrides)
}

/// A running gateway: the real `Application` on a random port, spoken to over HTTP.
pub struct App {
    pub address: String,
    pub client: reqwest::Client,
    stop_token: tokio_util::sync::CancellationToken,
    stopped: Option<tokio::task::JoinHandle<()>>,
}

impl App {
    pub async fn spawn(settings: Settings) -> App {
        let app = Application::build(settings).await.expect("build the app");
        let address = format!("http://127.0.0.1:{}", app.port());
        let stop_token = app.stop_token();
        let stopped = tokio::spawn(async move {
            app.run_until_stopped().await.expect("app stopped cleanly");
        });
        App { address, client: reqwest::Client::new(), stop_token, stopped: Some(stopped) }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn post(&self, path: &str, token: &str, body: &Json) -> reqwest::Response {
        self.client.post(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    pub async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    pub async fn delete(&self, path: &str, token: &str) -> reqwest::Response {
        self.client.delete(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// Submits a job as `token`, asserts 202, returns its id.
    pub async fn submit_as(&self, token: &str, body: &Json) -> String {
        let resp = self.post("/procedure/async", token, body).await;
        let status = resp.status();
        let body: Json = resp.json().await.unwrap();
        assert_eq!(status, 202, "submit answered {body}");
        body["job_id"].as_str().unwrap().to_string()
    }

    pub async fn submit(&self, body: &Json) -> String {
        self.submit_as(ADMIN, body).await
    }

    pub async fn job(&self, id: &str) -> Json {
        let resp = self.get(&format!("/jobs/{id}"), ADMIN).await;
        assert_eq!(resp.status(), 200);
        resp.json().await.unwrap()
    }

    /// Polls the job until it is in a terminal state (or the deadline passes).
    pub async fn wait_terminal(&self, id: &str) -> Json {
        self.wait_for_job(id, |j| ["completed", "failed", "cancelled"].contains(&j["status"].as_str().unwrap())).await
    }

    pub async fn wait_for_job(&self, id: &str, done: impl Fn(&Json) -> bool) -> Json {
        let start = Instant::now();
        loop {
            let job = self.job(id).await;
            if done(&job) {
                return job;
            }
            assert!(start.elapsed() < JOB_DEADLINE, "job {id} did not get there in time: {job}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the orderly shutdown (as SIGTERM does) without waiting for it.
    pub fn begin_stop(&self) {
        self.stop_token.cancel();
    }

    /// Stops the engine (running jobs finish or are interrupted) and then the server.
    pub async fn stop(&mut self) {
        self.stop_token.cancel();
        if let Some(task) = self.stopped.take() {
            let _ = task.await;
        }
    }
}

/// Polls `check` until it returns Some, or fails the test at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < JOB_DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn proc_test(input: &str) -> Json {
    json!({"name": "PROC_TEST", "params": [
        {"name": "p_input", "value": input, "direction": "IN"},
        {"name": "p_output", "direction": "OUT", "type": "STRING"}
    ]})
}

pub fn demora(seconds: f64) -> Json {
    json!({"name": "PROC_TEST_DEMORA", "params": [{"name": "segundos", "value": seconds, "direction": "IN", "type": "NUMBER"}]})
}

/// A `PROC_TEST_LOG` job: records `tag` after sleeping `seconds`.
pub fn log_job(tag: &str, seconds: f64) -> Json {
    json!({"name": "PROC_TEST_LOG", "params": [{"name": "p_tag", "value": tag}, {"name": "p_seconds", "value": seconds}]})
}

/// The error body's `code`, asserting the `{"error": {"code", "message"}}` shape.
pub async fn error_code(resp: reqwest::Response, status: u16) -> Json {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    let body: Json = resp.json().await.expect("a JSON error body");
    assert!(body["error"]["code"].is_string(), "no error.code in {body}");
    assert!(body["error"]["message"].is_string(), "no error.message in {body}");
    body["error"].clone()
}
