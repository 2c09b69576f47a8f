//! The backend seam. Each database implements two traits:
//! - [`JobStore`]: the `ASYNC_JOBS` rows (insert, claim, conditional state changes, reads, deletes);
//! - [`ProcedureBackend`]: the catalog (signatures) and the call itself.
//!
//! Everything above these traits (validation, the job engine, HTTP) is shared; everything below
//! is one database's SQL. Both traits are async; a blocking driver (Oracle) runs its calls on a
//! bounded blocking pool behind them.

pub mod error;
pub mod postgres;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Map, Value as Json};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use error::{DbError, DbErrorKind};

use crate::jobs::model::{
    ClaimedJob, DeleteOutcome, Job, JobId, ListFilter, NewJob, Outcome, ProgressSink, PurgeFilter,
};
use crate::procedure::name::{IdentifierCase, ProcedureName};
use crate::procedure::plan::CallPlan;
use crate::procedure::signature::Signature;

/// The OUT values of one call, by parameter name.
pub type OutValues = Map<String, Json>;

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates or upgrades the job table, idempotently.
    async fn migrate(&self) -> Result<(), DbError>;
    /// A cheap round trip: is the database reachable?
    async fn ping(&self) -> Result<(), DbError>;
    /// Inserts jobs as `pending`, committed when this returns; wakes claimers on other instances.
    async fn insert(&self, jobs: &[NewJob]) -> Result<(), DbError>;
    /// Moves up to `limit` pending jobs to `running` (progress 10), oldest first by priority,
    /// skipping rows another claimer holds.
    async fn claim(&self, instance_id: &str, limit: usize) -> Result<Vec<ClaimedJob>, DbError>;
    /// Raises running jobs' progress; never lowers it and never touches a job that is not running.
    async fn record_progress(&self, updates: &[(JobId, i16)]) -> Result<(), DbError>;
    /// Writes terminal states (progress 100, end time, duration) of jobs that are still running;
    /// returns the ids it changed.
    async fn finish(&self, outcomes: &[Outcome]) -> Result<Vec<JobId>, DbError>;
    /// One job; with `owner`, only if that caller owns it.
    async fn get(&self, id: &JobId, owner: Option<&str>) -> Result<Option<Job>, DbError>;
    /// A page of jobs, newest first, and the total count matching the filter.
    async fn list(&self, filter: &ListFilter) -> Result<(i64, Vec<Job>), DbError>;
    /// Deletes one job unless it is running.
    async fn delete(&self, id: &JobId, owner: Option<&str>) -> Result<DeleteOutcome, DbError>;
    /// Deletes at most `batch` terminal jobs matching the filter in one statement; returns how many.
    async fn purge_batch(&self, filter: &PurgeFilter, batch: i64) -> Result<u64, DbError>;
    /// Wakes `wake` whenever another instance inserts jobs (PostgreSQL LISTEN/NOTIFY). Backends
    /// without such a channel return at once; claimers then rely on polling.
    async fn listen_for_jobs(&self, wake: Arc<Notify>, stop: CancellationToken);
}

#[async_trait]
pub trait ProcedureBackend: Send + Sync {
    /// How the database folds unquoted identifiers.
    fn identifier_case(&self) -> IdentifierCase;
    /// Every routine the name resolves to (several for overloads; none when unknown).
    async fn describe(&self, name: &ProcedureName) -> Result<Vec<Signature>, DbError>;
    /// Executes a planned call and returns its OUT values. Reports milestones 30, 50 and 80 as it
    /// reaches them; interrupts the call when `cancel` fires.
    async fn call(
        &self,
        plan: &CallPlan,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<OutValues, DbError>;
}

/// A connected database: its job store and its procedures.
#[derive(Clone)]
pub struct Database {
    pub store: Arc<dyn JobStore>,
    pub procedures: Arc<dyn ProcedureBackend>,
    pub kind: &'static str,
}

impl Database {
    /// Connects to the database named by the URL's scheme.
    pub async fn connect(url: &str, pool_size: usize) -> anyhow::Result<Database> {
        let scheme = url.split("://").next().unwrap_or_default().to_ascii_lowercase();
        match scheme.as_str() {
            "postgres" | "postgresql" => {
                let pg = Arc::new(postgres::PgBackend::connect(url, pool_size).await?);
                Ok(Database { store: pg.clone(), procedures: pg, kind: "postgres" })
            }
            "oracle" => {
                anyhow::bail!("DATABASE_URL: the Oracle backend is not available in this build yet (oracle://)")
            }
            _ => anyhow::bail!("DATABASE_URL: unsupported scheme {scheme:?} (expected postgres:// or oracle://)"),
        }
    }
}
