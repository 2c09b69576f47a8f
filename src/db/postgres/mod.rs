//! The PostgreSQL backend: tokio-postgres connections from a deadpool pool, over TLS as
//! `DATABASE_URL`'s `sslmode` says (see `tls.rs`).

mod audit;
mod call;
mod catalog;
mod connect;
pub(crate) mod decode;
mod deliveries;
mod error;
mod events;
mod notices;
mod stats;
mod store;
mod tls;

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Runtime;
use futures_util::StreamExt;
use tokio_postgres::AsyncMessage;
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

pub use connect::{Endpoint, PgConnection};
use connect::{Object, PgManager, Pool, Role};
use error::{map_error, map_pool_error};

/// Three pools that never lend to each other: the engine's bookkeeping (heartbeat, claims,
/// inserts, outcomes, rescue), API reads, and procedure calls.
pub struct PgBackend {
    engine: Pool,
    reads: Pool,
    calls: Pool,
    /// For the LISTEN connection.
    endpoint: Endpoint,
    instance_id: String,
    /// How each routine's calls commit, as learnt (see `call::RoutineHabits`).
    habits: call::RoutineHabits,
    limits: ResultLimits,
}

/// The `application_name` of an instance's sessions: how a rescuer finds what a dead
/// instance left running (PostgreSQL keeps the first 63 bytes).
pub(super) fn session_tag(instance_id: &str) -> String {
    let mut tag = format!("procgate:{instance_id}");
    while tag.len() > 63 {
        tag.pop();
    }
    tag
}

impl PgBackend {
    /// Builds the pools (call it on the main runtime) and opens the engine's first connection,
    /// so that a database that cannot be reached is reported here, by name; the other
    /// connections are opened when first needed.
    pub async fn connect(url: &str, options: &ConnectOptions) -> anyhow::Result<Self> {
        let mut endpoint = Endpoint::from_url(url)?;
        endpoint.config_mut().application_name(session_tag(&options.instance_id));
        endpoint.config_mut().keepalives(true).keepalives_idle(Duration::from_secs(30));
        let pool = |role: Role, size: usize| -> anyhow::Result<Pool> {
            let manager = PgManager { endpoint: endpoint.clone(), runtime: tokio::runtime::Handle::current(), role };
            // No create timeout of the pool's: the manager's own names the server (connect.rs).
            Ok(Pool::builder(manager)
                .max_size(size.max(1))
                .runtime(Runtime::Tokio1)
                .wait_timeout(Some(Duration::from_secs(30)))
                .recycle_timeout(Some(Duration::from_secs(5)))
                .build()?)
        };
        let engine = pool(Role::Store, ENGINE_CONNECTIONS)?;
        drop(engine.get().await.map_err(|e| anyhow::anyhow!(map_pool_error(e).message))?);
        Ok(Self {
            engine,
            reads: pool(Role::Store, options.read_connections)?,
            calls: pool(Role::Calls, options.call_connections)?,
            endpoint,
            instance_id: options.instance_id.clone(),
            habits: call::RoutineHabits::default(),
            limits: options.result_limits,
        })
    }

    /// A connection for the engine's own statements.
    async fn engine(&self) -> Result<Object, DbError> {
        self.engine.get().await.map_err(map_pool_error)
    }

    /// A connection for API reads and deletes.
    async fn client(&self) -> Result<Object, DbError> {
        self.reads.get().await.map_err(map_pool_error)
    }

    /// One LISTEN session: returns when the connection ends or `stop` fires.
    async fn listen_once(&self, to: &Listeners, stop: &CancellationToken) -> Result<(), DbError> {
        let (client, mut connection) = self.endpoint.open().await?;
        let (wake, cancels, events) = (to.wake.clone(), to.cancels.clone(), to.events.clone());
        let me = to.instance_id.clone();
        let mut driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                let AsyncMessage::Notification(n) = message else { continue };
                match n.channel() {
                    store::CANCEL_CHANNEL => {
                        if let Some(id) = JobId::parse(n.payload()) {
                            let _ = cancels.send(id);
                        }
                    }
                    events::EVENTS_CHANNEL if n.payload() != me => events.notify_one(),
                    events::EVENTS_CHANNEL => {}
                    _ => wake.notify_one(),
                }
            }
        });
        client.batch_execute(store::LISTEN_SQL).await.map_err(map_error)?;
        // Catch up on whatever arrived while not listening.
        to.wake.notify_one();
        to.events.notify_one();
        tokio::select! {
            _ = stop.cancelled() => driver.abort(),
            _ = &mut driver => {}
        }
        Ok(())
    }
}

#[async_trait]
impl JobStore for PgBackend {
    async fn migrate(&self) -> Result<(), DbError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(map_error)?;
        tx.batch_execute(store::MIGRATE_LOCK).await.map_err(map_error)?;
        tx.batch_execute(store::TABLE_SQL).await.map_err(map_error)?;
        tx.commit().await.map_err(map_error)
    }

    async fn ping(&self) -> Result<(), DbError> {
        self.client().await?.simple_query(store::PING_SQL).await.map_err(map_error)?;
        Ok(())
    }

    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>, DbError> {
        store::insert(&self.engine().await?, jobs).await
    }

    async fn claim(
        &self,
        instance_id: &str,
        limit: usize,
        limits: &[ProcedureLimit],
    ) -> Result<Vec<ClaimedJob>, DbError> {
        store::claim(&mut self.engine().await?, instance_id, limit, limits).await
    }

    async fn record_progress(&self, instance_id: &str, updates: &[ProgressUpdate]) -> Result<(), DbError> {
        store::record_progress(&self.engine().await?, instance_id, updates).await
    }

    async fn finish(&self, instance_id: &str, outcomes: &[Outcome]) -> Result<Vec<JobId>, DbError> {
        store::finish(&self.engine().await?, instance_id, outcomes).await
    }

    async fn heartbeat(&self, instance_id: &str, running: &[JobId]) -> Result<Vec<JobId>, DbError> {
        store::heartbeat(&self.engine().await?, instance_id, running).await
    }

    async fn cancel(&self, id: &JobId, owner: Option<&str>) -> Result<CancelOutcome, DbError> {
        store::cancel(&self.client().await?, id, owner).await
    }

    async fn rescue(&self, lease: Duration, retry_orphans: bool) -> Result<Vec<Rescued>, DbError> {
        store::rescue(&mut self.engine().await?, lease, retry_orphans).await
    }

    async fn get(&self, id: &JobId, owner: Option<&str>) -> Result<Option<Job>, DbError> {
        store::get(&self.client().await?, id, owner).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<crate::model::listing::ListPage, DbError> {
        store::list(&self.client().await?, filter).await
    }

    async fn delete(&self, id: &JobId, owner: Option<&str>) -> Result<DeleteOutcome, DbError> {
        store::delete(&self.client().await?, id, owner).await
    }

    async fn purge_batch(&self, filter: &PurgeFilter, batch: i64) -> Result<u64, DbError> {
        store::purge_batch(&self.client().await?, filter, batch).await
    }

    async fn listen(&self, to: Listeners, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match self.listen_once(&to, &stop).await {
                Ok(()) => backoff = Duration::from_millis(100),
                Err(e) => tracing::warn!(error = %e, "LISTEN connection failed; claimers fall back to polling"),
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    async fn count_pending(&self, owner: &str, cap: i64) -> Result<i64, DbError> {
        store::count_pending(&self.client().await?, owner, cap).await
    }

    async fn job_events(&self, id: &JobId, after: i64, limit: i64) -> Result<Vec<JobEvent>, DbError> {
        events::job_events(&self.client().await?, id, after, limit).await
    }

    async fn events_since(&self, after: i64, missing: &[i64], limit: i64) -> Result<Vec<JobEvent>, DbError> {
        events::events_since(&self.client().await?, after, missing, limit).await
    }

    async fn last_event_id(&self) -> Result<i64, DbError> {
        events::last_event_id(&self.client().await?).await
    }

    async fn purge_deleted_events(&self, age: Duration, batch: i64) -> Result<u64, DbError> {
        events::purge_deleted(&self.engine().await?, age, batch).await
    }

    async fn announce_events(&self, instance_id: &str) -> Result<(), DbError> {
        events::announce(&self.engine().await?, instance_id).await
    }

    // Webhook deliveries use the reads' pool: the engine's connections are one per duty.
    async fn claim_deliveries(
        &self,
        instance_id: &str,
        limit: usize,
        lease: Duration,
    ) -> Result<Vec<DueDelivery>, DbError> {
        deliveries::claim(&self.client().await?, instance_id, limit, lease).await
    }

    async fn record_delivery(&self, instance_id: &str, result: &DeliveryResult) -> Result<bool, DbError> {
        deliveries::record(&self.client().await?, instance_id, result).await
    }

    async fn deliveries(&self, id: &JobId) -> Result<Vec<Delivery>, DbError> {
        deliveries::of_job(&self.client().await?, id).await
    }

    async fn cancel_pending_matching(&self, filter: &CancelFilter, batch: i64) -> Result<u64, DbError> {
        store::cancel_pending_matching(&self.client().await?, filter, batch).await
    }

    async fn running_to_cancel(&self, filter: &CancelFilter, limit: i64) -> Result<Vec<JobId>, DbError> {
        store::running_to_cancel(&self.client().await?, filter, limit).await
    }

    async fn purge_beyond_kept(&self, status: JobStatus, keep: i64, batch: i64) -> Result<u64, DbError> {
        store::purge_beyond_kept(&self.client().await?, status, keep, batch).await
    }

    async fn active_counts(&self, owner: Option<&str>) -> Result<Vec<ActiveCounts>, DbError> {
        stats::active_counts(&self.client().await?, owner).await
    }

    async fn count_ended(&self, status: JobStatus, owner: Option<&str>, cap: i64) -> Result<i64, DbError> {
        stats::count_ended(&self.client().await?, status, owner, cap).await
    }

    async fn estimate_status(&self, status: JobStatus) -> Result<Option<i64>, DbError> {
        stats::estimate_status(&self.client().await?, status).await
    }

    // With the heartbeat's other duties: on the engine's connections.
    async fn report_instance(&self, report: &InstanceReport) -> Result<(), DbError> {
        stats::report_instance(&self.engine().await?, report).await
    }

    async fn instances(&self, within: Duration) -> Result<Vec<InstanceRow>, DbError> {
        stats::instances(&self.client().await?, within).await
    }

    fn pool_figures(&self) -> Vec<PoolFigures> {
        [("engine", &self.engine), ("reads", &self.reads), ("calls", &self.calls)]
            .into_iter()
            .map(|(pool, p)| {
                let s = p.status();
                PoolFigures { pool, in_use: s.size.saturating_sub(s.available) as u64, idle: s.available as u64 }
            })
            .collect()
    }

    // On the reads' pool, as webhook deliveries: the engine's connections are one per duty.
    async fn record_audit(&self, instance_id: &str, entries: &[AuditEntry]) -> Result<(), DbError> {
        audit::record(&self.client().await?, instance_id, entries).await
    }

    async fn purge_audit(&self, older_than_days: u32, batch: i64) -> Result<u64, DbError> {
        audit::purge(&self.client().await?, older_than_days, batch).await
    }
}

#[async_trait]
impl ProcedureBackend for PgBackend {
    fn identifier_case(&self) -> IdentifierCase {
        IdentifierCase::Lower
    }

    async fn describe(&self, name: &ProcedureName) -> Result<Vec<Signature>, DbError> {
        catalog::describe(&self.client().await?, name).await
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
        debug_assert_eq!(fence.instance_id, self.instance_id);
        call::execute_job(&self.calls, self.limits, &self.habits, plan, fence, progress, cancel).await
    }

    fn is_system_routine(&self, sig: &Signature) -> bool {
        catalog::is_system_schema(&sig.schema)
    }
}
