//! The PostgreSQL-only tests' `spawn_app()`: the contract fixture's gateway on a fresh database
//! of a real PostgreSQL (`contract/postgres.rs`), kept next to the app so a test can reach the
//! database itself (`app.db`) for what only PostgreSQL has.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

pub use crate::contract::fixture::*;
pub use crate::postgres::TestDatabase;

/// A gateway and the test database it runs on.
pub struct TestApp {
    app: App,
    // Dropped after the app (fields drop in order).
    pub db: Arc<TestDatabase>,
}

impl Deref for TestApp {
    type Target = App;
    fn deref(&self) -> &App {
        &self.app
    }
}

impl DerefMut for TestApp {
    fn deref_mut(&mut self) -> &mut App {
        &mut self.app
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let db = Arc::new(TestDatabase::create().await);
    spawn_on(db, overrides).await
}

/// Another gateway instance on an existing test database.
pub async fn spawn_on(db: Arc<TestDatabase>, overrides: &[(&str, &str)]) -> TestApp {
    TestApp { app: db.spawn_app_with(overrides).await, db }
}

/// The single `count(*)` a query returns.
pub async fn count(db: &tokio_postgres::Client, sql: &str) -> i64 {
    db.query_one(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).get(0)
}

/// Runs the `procgate` binary with `args` against `db_url` (no API tokens in its environment,
/// plus `env`); whether it succeeded, and its stdout then stderr.
pub fn procgate_cli(db_url: &str, args: &[&str], env: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_procgate"))
        .args(args)
        .env("DATABASE_URL", db_url)
        .env("RUST_LOG", "warn")
        .env_remove("API_TOKENS")
        .env_remove("API_TOKEN")
        .envs(env.iter().copied())
        .output()
        .expect("run procgate");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}
