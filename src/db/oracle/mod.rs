//! The Oracle backend: the `oracle` crate (ODPI-C, which loads Oracle Instant Client 18.1+ at run
//! time) with Oracle's own session pool (`oracle::pool::Pool`: health checks, statement cache,
//! DRCP when the connect string asks for it).
//!
//! The driver is blocking: every call runs on tokio's blocking pool (`spawn_blocking`), never on
//! the async runtime's threads. How many run at once is bounded by the engine's `WORKERS`
//! semaphore and by the pool (`DB_POOL_SIZE` sessions; a caller waits at most 30 s for one).
//!
//! - `url.rs`: `oracle://user:password@host:port/service` → credentials and Easy Connect string
//! - `catalog.rs`: name resolution (DBMS_UTILITY.NAME_RESOLVE) and signatures (ALL_ARGUMENTS)
//! - `block.rs`: the PL/SQL anonymous block for a call
//! - `convert.rs`: binds and OUT / cursor values, exactly
//! - `call.rs`: running a call, milestones, cancellation (`break_execution`)
//! - `output.rs`: the call's `DBMS_OUTPUT` lines, when the request asks for them
//! - `longops.rs`: the progress a running call reports through `V$SESSION_LONGOPS`
//! - `store.rs`: runs every `ASYNC_JOBS` statement (one file each in `sql/oracle/queries/`)
//! - `batch.rs`: the job table's array DML rows and bind types (inserts, outcomes)
//! - `events.rs`: reads `ASYNC_JOB_EVENTS` (written by the job table's trigger)
//! - `deliveries.rs`: the webhook outbox `ASYNC_JOB_DELIVERIES` (claim, record, read)
//! - `stats.rs`: queue statistics and the instances table `ASYNC_INSTANCES`
//! - `audit.rs`: the audit trail `ASYNC_AUDIT` (array DML batches, retention)
//! - `error.rs`: ORA-/DPI- codes kept; connection loss is `Unavailable`
//! - `dump.rs` (tests only): writes every statement's final text for `scripts/check-oracle-sql`

mod audit;
mod batch;
mod block;
mod call;
mod catalog;
mod convert;
mod deliveries;
#[cfg(test)]
mod dump;
mod error;
mod events;
mod longops;
mod output;
mod stats;
mod store;
pub mod url;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use oracle::pool::{GetMode, Pool, PoolBuilder};
use oracle::Connection;
use tokio_util::sync::CancellationToken;

use crate::db::{
    CallFailure, CallOutput, ConnectOptions, DbError, JobCall, JobStore, Listeners, ProcedureBackend, ResultLimits,
    ENGINE_CONNECTIONS,
};
use crate::model::audit::AuditEntry;
use crate::model::delivery::{Delivery, DeliveryResult, DueDelivery};
use crate::model::event::JobEvent;
use crate::model::stats::{ActiveCounts, InstanceReport, InstanceRow, PoolFigures};
use crate::model::{
    AttemptFence, CancelFilter, CancelOutcome, ClaimedJob, DeleteOutcome, Inserted, Job, JobId, JobStatus, ListFilter,
    NewJob, Outcome, ProcedureLimit, ProgressSink, ProgressUpdate, PurgeFilter, Rescued,
};
use crate::procedure::name::{IdentifierCase, ProcedureName};
use crate::procedure::plan::CallPlan;
use crate::procedure::signature::Signature;

use error::{connect_failure, map_error, map_pool_error};
use url::ConnectSettings;

/// How long a caller waits for a free pooled session before the database counts as unavailable.
const POOL_WAIT: Duration = Duration::from_secs(30);
/// How long startup waits for the pool's first session (an unreachable host can hang in TCP).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

/// Three session pools that never lend to each other: the engine's bookkeeping (heartbeat,
/// claims, inserts, outcomes, rescue), API reads, and procedure calls.
pub struct OracleBackend {
    engine: Arc<Pool>,
    reads: Arc<Pool>,
    calls: Arc<Pool>,
    limits: ResultLimits,
    /// How often a running job's call's longops are read (`PROGRESS_POLL_INTERVAL`).
    progress_poll: Duration,
}

impl OracleBackend {
    /// Loads the Oracle Client library and opens the session pool with its first session, so a
    /// missing Instant Client or an unreachable database is reported here, at startup, with the fix.
    pub async fn connect(url: &str, options: &ConnectOptions) -> anyhow::Result<Self> {
        let settings = url::parse(url).map_err(|e| anyhow::anyhow!("DATABASE_URL is not a valid Oracle URL: {e}"))?;
        let sizes = [ENGINE_CONNECTIONS, options.read_connections.max(1), options.call_connections.max(1)];
        let build = {
            let settings = settings.clone();
            tokio::task::spawn_blocking(move || -> oracle::Result<Vec<Pool>> {
                sizes.iter().map(|&n| build_pool(&settings, u32::try_from(n).unwrap_or(u32::MAX))).collect()
            })
        };
        let mut pools = match tokio::time::timeout(CONNECT_TIMEOUT, build).await {
            Ok(Ok(Ok(pools))) => pools.into_iter().map(Arc::new),
            Ok(Ok(Err(e))) => anyhow::bail!(connect_failure(&map_error(&e), &settings)),
            Ok(Err(e)) => anyhow::bail!("opening the Oracle session pool failed: {e}"),
            Err(_) => anyhow::bail!(
                "cannot connect to Oracle at {}: no answer within {} s (check the host, port and firewall)",
                settings.connect_string,
                CONNECT_TIMEOUT.as_secs()
            ),
        };
        let (engine, reads, calls) = match (pools.next(), pools.next(), pools.next()) {
            (Some(e), Some(r), Some(c)) => (e, r, c),
            _ => anyhow::bail!("opening the Oracle session pools failed"),
        };
        tracing::info!(connect = %settings.connect_string, user = %settings.username, ?sizes, "Oracle session pools open");
        Ok(Self { engine, reads, calls, limits: options.result_limits, progress_poll: options.progress_poll_interval })
    }

    /// Runs `f` on a session of the engine's pool.
    async fn with_engine<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        with_session(self.engine.clone(), f).await
    }

    /// Runs `f` on a session of the reads' pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
    {
        with_session(self.reads.clone(), f).await
    }
}

/// Runs `f` on a session of `pool` in the blocking pool. A failed `f` rolls back whatever it
/// left uncommitted before the session goes back to the pool.
async fn with_session<T, F>(pool: Arc<Pool>, f: F) -> Result<T, DbError>
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, DbError> + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let conn = pool.get().map_err(|e| map_pool_error(&e))?;
        let result = f(&conn);
        if result.is_err() {
            let _ = conn.rollback();
        }
        result
    })
    .await
    .unwrap_or_else(|e| {
        tracing::error!(error = %e, "Oracle task failed");
        Err(DbError::statement("internal_error", "the gateway failed while talking to Oracle"))
    })
}

fn build_pool(settings: &ConnectSettings, size: u32) -> oracle::Result<Pool> {
    let mut builder = PoolBuilder::new(&settings.username, &settings.password, &settings.connect_string);
    builder
        .min_connections(1)
        .max_connections(size)
        .connection_increment(1)
        .get_mode(GetMode::TimedWait(POOL_WAIT))
        .stmt_cache_size(64)
        .driver_name(concat!("procgate : ", env!("CARGO_PKG_VERSION")));
    builder.build()
}

#[async_trait]
impl JobStore for OracleBackend {
    async fn migrate(&self) -> Result<(), DbError> {
        self.with_conn(store::migrate).await
    }

    async fn ping(&self) -> Result<(), DbError> {
        self.with_conn(store::ping).await
    }

    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>, DbError> {
        let jobs = jobs.to_vec();
        self.with_engine(move |c| store::insert(c, &jobs)).await
    }

    async fn claim(
        &self,
        instance_id: &str,
        limit: usize,
        limits: &[ProcedureLimit],
    ) -> Result<Vec<ClaimedJob>, DbError> {
        let (instance_id, limits) = (instance_id.to_string(), limits.to_vec());
        self.with_engine(move |c| store::claim(c, &instance_id, limit, &limits)).await
    }

    async fn record_progress(&self, instance_id: &str, updates: &[ProgressUpdate]) -> Result<(), DbError> {
        let (instance_id, updates) = (instance_id.to_string(), updates.to_vec());
        self.with_engine(move |c| store::record_progress(c, &instance_id, &updates)).await
    }

    async fn finish(&self, instance_id: &str, outcomes: &[Outcome]) -> Result<Vec<JobId>, DbError> {
        let (instance_id, outcomes) = (instance_id.to_string(), outcomes.to_vec());
        self.with_engine(move |c| store::finish(c, &instance_id, &outcomes)).await
    }

    async fn heartbeat(&self, instance_id: &str, running: &[JobId]) -> Result<Vec<JobId>, DbError> {
        let (instance_id, running) = (instance_id.to_string(), running.to_vec());
        self.with_engine(move |c| store::heartbeat(c, &instance_id, &running)).await
    }

    async fn cancel(&self, id: &JobId, owner: Option<&str>) -> Result<CancelOutcome, DbError> {
        let (id, owner) = (id.clone(), owner.map(str::to_string));
        self.with_conn(move |c| store::cancel(c, &id, owner.as_deref())).await
    }

    async fn rescue(&self, lease: Duration, retry_orphans: bool) -> Result<Vec<Rescued>, DbError> {
        self.with_engine(move |c| store::rescue(c, lease, retry_orphans)).await
    }

    async fn get(&self, id: &JobId, owner: Option<&str>) -> Result<Option<Job>, DbError> {
        let (id, owner) = (id.clone(), owner.map(str::to_string));
        self.with_conn(move |c| store::get(c, &id, owner.as_deref())).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<crate::model::listing::ListPage, DbError> {
        let filter = filter.clone();
        self.with_conn(move |c| store::list(c, &filter)).await
    }

    async fn delete(&self, id: &JobId, owner: Option<&str>) -> Result<DeleteOutcome, DbError> {
        let (id, owner) = (id.clone(), owner.map(str::to_string));
        self.with_conn(move |c| store::delete(c, &id, owner.as_deref())).await
    }

    async fn purge_batch(&self, filter: &PurgeFilter, batch: i64) -> Result<u64, DbError> {
        let filter = filter.clone();
        self.with_conn(move |c| store::purge_batch(c, &filter, batch)).await
    }

    /// Oracle has no LISTEN/NOTIFY channel procgate uses: returns at once. Claimers poll
    /// (`POLL_INTERVAL`), event readers poll (`EVENT_POLL_INTERVAL`) and cancellation requests
    /// arrive with the heartbeat.
    async fn listen(&self, _to: Listeners, _stop: CancellationToken) {}

    async fn count_pending(&self, owner: &str, cap: i64) -> Result<i64, DbError> {
        let owner = owner.to_string();
        self.with_conn(move |c| store::count_pending(c, &owner, cap)).await
    }

    async fn job_events(&self, id: &JobId, after: i64, limit: i64) -> Result<Vec<JobEvent>, DbError> {
        let id = id.clone();
        self.with_conn(move |c| events::job_events(c, &id, after, limit)).await
    }

    async fn events_since(&self, after: i64, missing: &[i64], limit: i64) -> Result<Vec<JobEvent>, DbError> {
        let missing = missing.to_vec();
        self.with_conn(move |c| events::events_since(c, after, &missing, limit)).await
    }

    async fn last_event_id(&self) -> Result<i64, DbError> {
        self.with_conn(events::last_event_id).await
    }

    async fn purge_deleted_events(&self, age: Duration, batch: i64) -> Result<u64, DbError> {
        self.with_conn(move |c| events::purge_deleted(c, age, batch)).await
    }

    /// Instances poll for each other's events (`EVENT_POLL_INTERVAL`): nothing to announce.
    async fn announce_events(&self, _instance_id: &str) -> Result<(), DbError> {
        Ok(())
    }

    // Webhook deliveries use the reads' pool: the engine's sessions are one per duty.
    async fn claim_deliveries(
        &self,
        instance_id: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueDelivery>, DbError> {
        let instance_id = instance_id.to_string();
        self.with_conn(move |c| deliveries::claim(c, &instance_id, limit, lease)).await
    }

    async fn record_delivery(&self, instance_id: &str, result: &DeliveryResult) -> Result<bool, DbError> {
        let (instance_id, result) = (instance_id.to_string(), result.clone());
        self.with_conn(move |c| deliveries::record(c, &instance_id, &result)).await
    }

    async fn deliveries(&self, id: &JobId) -> Result<Vec<Delivery>, DbError> {
        let id = id.clone();
        self.with_conn(move |c| deliveries::of_job(c, &id)).await
    }

    async fn cancel_pending_matching(&self, filter: &CancelFilter, batch: i64) -> Result<u64, DbError> {
        let filter = filter.clone();
        self.with_conn(move |c| store::cancel_pending_matching(c, &filter, batch)).await
    }

    async fn running_to_cancel(&self, filter: &CancelFilter, limit: i64) -> Result<Vec<JobId>, DbError> {
        let filter = filter.clone();
        self.with_conn(move |c| store::running_to_cancel(c, &filter, limit)).await
    }

    async fn purge_beyond_kept(&self, status: JobStatus, keep: i64, batch: i64) -> Result<u64, DbError> {
        self.with_conn(move |c| store::purge_beyond_kept(c, status, keep, batch)).await
    }

    async fn active_counts(&self, owner: Option<&str>) -> Result<Vec<ActiveCounts>, DbError> {
        let owner = owner.map(str::to_string);
        self.with_conn(move |c| stats::active_counts(c, owner.as_deref())).await
    }

    async fn count_ended(&self, status: JobStatus, owner: Option<&str>, cap: i64) -> Result<i64, DbError> {
        let owner = owner.map(str::to_string);
        self.with_conn(move |c| stats::count_ended(c, status, owner.as_deref(), cap)).await
    }

    /// Exact-capped counts only on Oracle (see `stats.rs`).
    async fn estimate_status(&self, _status: JobStatus) -> Result<Option<i64>, DbError> {
        Ok(None)
    }

    async fn report_instance(&self, report: &InstanceReport) -> Result<(), DbError> {
        let report = report.clone();
        self.with_engine(move |c| stats::report_instance(c, &report)).await
    }

    async fn instances(&self, within: Duration) -> Result<Vec<InstanceRow>, DbError> {
        self.with_conn(move |c| stats::instances(c, within)).await
    }

    fn pool_figures(&self) -> Vec<PoolFigures> {
        [("engine", &self.engine), ("reads", &self.reads), ("calls", &self.calls)]
            .into_iter()
            .map(|(pool, p)| {
                let open = u64::from(p.open_count().unwrap_or(0));
                let busy = u64::from(p.busy_count().unwrap_or(0));
                PoolFigures { pool, in_use: busy, idle: open.saturating_sub(busy) }
            })
            .collect()
    }

    // On the reads' pool, as webhook deliveries: the engine's sessions are one per duty.
    async fn record_audit(&self, instance_id: &str, entries: &[AuditEntry]) -> Result<(), DbError> {
        let (instance_id, entries) = (instance_id.to_string(), entries.to_vec());
        self.with_conn(move |c| audit::record(c, &instance_id, &entries)).await
    }

    async fn purge_audit(&self, older_than_days: u32, batch: i64) -> Result<u64, DbError> {
        self.with_conn(move |c| audit::purge(c, older_than_days, batch)).await
    }
}

#[async_trait]
impl ProcedureBackend for OracleBackend {
    fn identifier_case(&self) -> IdentifierCase {
        IdentifierCase::Upper
    }

    async fn describe(&self, name: &ProcedureName) -> Result<Vec<Signature>, DbError> {
        let name = name.clone();
        self.with_conn(move |c| catalog::describe(c, &name)).await
    }

    async fn call(&self, plan: &CallPlan, cancel: &CancellationToken) -> Result<CallOutput, CallFailure> {
        call::execute(&self.calls, self.limits, plan, cancel).await
    }

    async fn call_job(
        &self,
        plan: &CallPlan,
        fence: &AttemptFence,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<JobCall, CallFailure> {
        let watch = call::Watch { pool: self.engine.clone(), every: self.progress_poll };
        call::execute_job(&self.calls, self.limits, plan, fence, progress, watch, cancel).await
    }

    fn is_system_routine(&self, sig: &Signature) -> bool {
        catalog::is_system_schema(&sig.schema)
    }
}
