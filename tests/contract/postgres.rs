//! The contract suite's PostgreSQL backend: a fresh database per scenario on a real PostgreSQL.
//! The cluster is started once per test binary (initdb + pg_ctl in a temp dir, removed by its
//! watchdog when the tests exit), or `PROCGATE_TEST_DATABASE_URL` names a server to use instead
//! (its user needs CREATEDB). Each database is cloned from a template holding the job table and
//! the test procedures, and dropped afterwards.

use std::collections::HashMap;
use std::sync::OnceLock;

use procgate::pgcluster::{load_sql, ClusterOptions, PgCluster, SQL_TABLE, SQL_TEST_PROCEDURES};
use serde_json::Value as Json;

use crate::contract::fixture::Backend;

const TEMPLATE: &str = "procgate_test_template";

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

/// The contract suite's entry point on PostgreSQL: every scenario runs, on a fresh database.
pub async fn open(_scenario: &str) -> Option<TestDatabase> {
    Some(TestDatabase::create().await)
}

/// A fresh database for one test, dropped when this is dropped.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    /// The connection the backend's questions go through, opened on first use.
    sql: tokio::sync::OnceCell<tokio_postgres::Client>,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        ensure_template().await;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        admin_client().await.batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}")).await.unwrap();
        let url = with_database(server_base_url(), &name);
        TestDatabase { name, url, sql: tokio::sync::OnceCell::new() }
    }

    /// A direct connection, for assertions on the rows themselves.
    pub async fn client(&self) -> tokio_postgres::Client {
        let (client, conn) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        client
    }

    async fn sql(&self) -> &tokio_postgres::Client {
        self.sql.get_or_init(|| self.client()).await
    }

    /// The single `count(*)` a query returns.
    async fn count(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> i64 {
        self.sql().await.query_one(sql, params).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
    }

    async fn execute(&self, sql: &str, params: &[&(dyn tokio_postgres::types::ToSql + Sync)]) -> u64 {
        self.sql().await.execute(sql, params).await.unwrap_or_else(|e| panic!("{sql}: {e}"))
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

/// A test constant used as an identifier: letters, digits and underscores only.
fn identifier(name: &str) -> &str {
    assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'), "not a plain identifier: {name}");
    name
}

impl Backend for TestDatabase {
    fn url(&self) -> &str {
        &self.url
    }

    fn raised_code(&self) -> &'static str {
        "P0001"
    }

    fn assert_raised_message(&self, message: &Json, raised: &str) {
        assert_eq!(message, raised);
    }

    fn retryable_code(&self) -> &'static str {
        "40001"
    }

    fn column(&self, name: &str) -> String {
        name.to_lowercase()
    }

    fn system_schema(&self) -> &'static str {
        "pg_catalog"
    }

    async fn calls_per_tag(&self) -> HashMap<String, i64> {
        let rows = self.sql().await.query("SELECT tag, count(*) FROM proc_test_calls GROUP BY tag", &[]).await;
        rows.unwrap().iter().map(|r| (r.get(0), r.get(1))).collect()
    }

    async fn tags_in_call_order(&self) -> Vec<String> {
        let rows = self.sql().await.query("SELECT tag FROM proc_test_calls ORDER BY called_at", &[]).await;
        rows.unwrap().iter().map(|r| r.get(0)).collect()
    }

    async fn calls_executing(&self, procedure: &str) -> i64 {
        let pattern = format!("CALL%{procedure}%");
        self.count(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND state = 'active' AND pid <> pg_backend_pid()",
            &[&pattern],
        )
        .await
    }

    async fn idle_transactions(&self) -> i64 {
        self.count("SELECT count(*) FROM pg_stat_activity WHERE state = 'idle in transaction'", &[]).await
    }

    async fn test_procedures(&self) -> i64 {
        self.count("SELECT count(*) FROM pg_proc WHERE proname LIKE 'proc_test%'", &[]).await
    }

    async fn rows_in(&self, table: &str) -> i64 {
        self.count(&format!("SELECT count(*) FROM {}", identifier(table)), &[]).await
    }

    async fn create_sequence(&self, name: &str) {
        self.execute(&format!("CREATE SEQUENCE {}", identifier(name)), &[]).await;
    }

    async fn count_jobs(&self, status: Option<&str>) -> i64 {
        self.count("SELECT count(*) FROM async_jobs WHERE status = $1 OR $1 IS NULL", &[&status]).await
    }

    async fn running_and_completed(&self, procedure: &str) -> (i64, i64) {
        let row = self
            .sql()
            .await
            .query_one(
                "SELECT count(*) FILTER (WHERE status = 'running'), count(*) FILTER (WHERE status = 'completed')
                   FROM async_jobs WHERE procedure_name = $1",
                &[&procedure],
            )
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    async fn unfinished_jobs(&self) -> Vec<String> {
        let rows = self.sql().await.query("SELECT job_id FROM async_jobs WHERE status IN ('pending', 'running')", &[]);
        rows.await.unwrap().iter().map(|r| r.get(0)).collect()
    }

    async fn max_attempts(&self) -> i64 {
        self.count("SELECT max(attempts)::int8 FROM async_jobs", &[]).await
    }

    async fn instances_that_ran_jobs(&self) -> i64 {
        self.count("SELECT count(DISTINCT instance_id) FROM async_jobs", &[]).await
    }

    async fn status_and_error(&self, id: &str) -> (String, Option<String>, Option<String>) {
        let sql = "SELECT status, error_code, error_msg FROM async_jobs WHERE job_id = $1";
        let row = self.sql().await.query_one(sql, &[&id]).await.unwrap();
        (row.get(0), row.get(1), row.get(2))
    }

    async fn stored_events(&self, id: &str) -> Vec<String> {
        let sql = "SELECT event_type FROM async_job_events WHERE job_id = $1 ORDER BY event_id";
        self.sql().await.query(sql, &[&id]).await.unwrap().iter().map(|r| r.get(0)).collect()
    }

    async fn stored_params(&self, id: &str) -> Json {
        let row = self.sql().await.query_one("SELECT params FROM async_jobs WHERE job_id = $1", &[&id]).await;
        row.unwrap().get(0)
    }

    async fn ended_after_start_and_session_cleared(&self, id: &str) -> (bool, bool) {
        let row = self
            .sql()
            .await
            .query_one("SELECT end_time >= start_time, session_id IS NULL FROM async_jobs WHERE job_id = $1", &[&id])
            .await
            .unwrap();
        (row.get(0), row.get(1))
    }

    async fn supersede_attempt(&self, id: &str) -> u64 {
        self.execute("UPDATE async_jobs SET attempts = attempts + 1 WHERE job_id = $1 AND status = 'running'", &[&id])
            .await
    }

    async fn end_days_ago(&self, ids: &[String], days: i64) {
        let days = i32::try_from(days).unwrap();
        self.execute(
            "UPDATE async_jobs SET end_time = now() - make_interval(days => $2) WHERE job_id = ANY($1)",
            &[&ids, &days],
        )
        .await;
    }

    async fn backdate_all(&self, days: i64) {
        let days = i32::try_from(days).unwrap();
        self.execute(
            "UPDATE async_jobs SET created_at = now() - make_interval(days => $1),
                                   start_time = now() - make_interval(days => $1)",
            &[&days],
        )
        .await;
    }

    async fn insert_ended_jobs(&self, n: i64, days: i64) {
        let days = i32::try_from(days).unwrap();
        self.execute(
            "INSERT INTO async_jobs (job_id, status, procedure_name, owner, progress, end_time)
             SELECT md5(g::text), 'completed', 'PROC_TEST', 'admin', 100, now() - make_interval(days => $2)
               FROM generate_series(1, $1::int8) g",
            &[&n, &days],
        )
        .await;
    }

    async fn clear_jobs(&self) {
        self.execute("DELETE FROM async_jobs", &[]).await;
    }
}
