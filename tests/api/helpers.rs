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
