//! One `spawn_app()` for every API test: the real gateway on a random port, on a fresh database
//! of a real PostgreSQL. The cluster is started once per test binary (initdb + pg_ctl in a temp
//! dir, removed by its watchdog when the tests exit), or `PROCGATE_TEST_DATABASE_URL` names a
//! server to use instead (its user needs CREATEDB). Each test gets its own database, cloned
//! from a template holding the job table and the test procedures, and dropped afterwards.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use procgate::config::Settings;
use procgate::pgcluster::{load_sql, ClusterOptions, PgCluster, SQL_TABLE, SQL_TEST_PROCEDURES};
use procgate::startup::Application;
use serde_json::{json, Value as Json};

pub const ADMIN: &str = "admin-token-0001";
pub const ALICE: &str = "alice-token-0001";
pub const BOB: &str = "bob-token-00001";
const TEMPLATE: &str = "procgate_test_template";

/// How long a test waits for a job before it fails.
pub const JOB_DEADLINE: Duration = Duration::from_secs(30);

fn server_base_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    static CLUSTER: OnceLock<PgCluster> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("PROCGATE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let cluster = CLUSTER.get_or_init(|| {
                PgCluster::start(ClusterOptions { fsync: false, max_connections: 500 })
                    .expect("start a private PostgreSQL cluster for the tests")
            });
            cluster.url("postgres")
        }
    })
}

/// `url` with its database name replaced.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = url.split_once('?').map(|(b, q)| (b, Some(q))).unwrap_or((url, None));
    let base = match base.rsplit_once('/') {
        Some((head, _)) if head.contains("://") && head.len() > head.find("://").unwrap() + 3 => head,
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

async fn admin_client() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(server_base_url(), tokio_postgres::NoTls)
        .await
        .expect("connect to the test PostgreSQL");
    tokio::spawn(conn);
    client
}

async fn ensure_template() {
    static READY: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    READY
        .get_or_init(|| async {
            let admin = admin_client().await;
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")).await.unwrap();
            admin.batch_execute(&format!("CREATE DATABASE {TEMPLATE}")).await.unwrap();
            load_sql(&with_database(server_base_url(), TEMPLATE), &[SQL_TABLE, SQL_TEST_PROCEDURES])
                .await
                .expect("load the SQL scripts into the template");
        })
        .await;
}

/// A fresh database for one test, dropped when this is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        ensure_template().await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        admin_client().await.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}")).await.unwrap();
        let url = with_database(server_base_url(), &name);
        TestDatabase { name, url }
    }

    /// A direct connection, for assertions on the rows themselves.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; the cleanup gets its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let _ =
                    admin_client().await.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
            });
        })
        .join();
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

/// Each `proc_test_log` tag with how many of its calls committed.
pub async fn calls_per_tag(db: &tokio_postgres::Client) -> HashMap<String, i64> {
    db.query("SELECT tag, count(*) FROM proc_test_calls GROUP BY tag", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    stop_token: tokio_util::sync::CancellationToken,
    stopped: Option<tokio::task::JoinHandle<()>>,
    // Dropped after the app (fields drop in order).
    pub db: std::sync::Arc<TestDatabase>,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let db = std::sync::Arc::new(TestDatabase::create().await);
    spawn_on(db, overrides).await
}

/// Another gateway instance on an existing test database.
pub async fn spawn_on(db: std::sync::Arc<TestDatabase>, overrides: &[(&str, &str)]) -> TestApp {
    let app = Application::build(settings(&db.url, overrides)).await.expect("build the app");
    let address = format!("http://127.0.0.1:{}", app.port());
    let stop_token = app.stop_token();
    let stopped = tokio::spawn(async move {
        app.run_until_stopped().await.expect("app stopped cleanly");
    });
    TestApp { address, client: reqwest::Client::new(), stop_token, stopped: Some(stopped), db }
}

impl TestApp {
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
    Fut: std::future::Future<Output = Option<T>>,
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

/// The error body's `code`, asserting the `{"error": {"code", "message"}}` shape.
pub async fn error_code(resp: reqwest::Response, status: u16) -> Json {
    assert_eq!(resp.status().as_u16(), status, "unexpected status");
    let body: Json = resp.json().await.expect("a JSON error body");
    assert!(body["error"]["code"].is_string(), "no error.code in {body}");
    assert!(body["error"]["message"].is_string(), "no error.message in {body}");
    body["error"].clone()
}

/// Waits until no call of `procedure` is executing in the test database: an interrupted call
/// ends within moments (the server reports the backend idle just after the client sees the error).
pub async fn no_call_running(app: &TestApp, procedure: &str) {
    let db = app.db.client().await;
    let pattern = format!("CALL%{procedure}%");
    eventually(&format!("no {procedure} call left executing"), || async {
        let n: i64 = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND state = 'active' AND pid <> pg_backend_pid()",
                &[&pattern],
            )
            .await
            .unwrap()
            .get(0);
        (n == 0).then_some(())
    })
    .await;
}

/// Waits until the job's call is executing on the server (its session is in `pg_stat_activity`).
pub async fn call_executing(db: &tokio_postgres::Client, procedure: &str) {
    let pattern = format!("CALL%{procedure}%");
    eventually(&format!("a {procedure} call to execute"), || async {
        let n = db
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND state = 'active' AND pid <> pg_backend_pid()",
                &[&pattern],
            )
            .await
            .unwrap()
            .get::<_, i64>(0);
        (n > 0).then_some(())
    })
    .await;
}

/// The single `count(*)` a query returns.
pub async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}
