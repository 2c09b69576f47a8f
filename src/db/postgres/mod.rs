//! The PostgreSQL backend: tokio-postgres connections from a deadpool pool.

mod call;
mod catalog;
mod connect;
pub(crate) mod decode;
mod error;
mod notices;
mod store;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::Runtime;
use futures_util::StreamExt;
use tokio::sync::{mpsc, Notify};
use tokio_postgres::{AsyncMessage, NoTls};
use tokio_util::sync::CancellationToken;

use crate::db::{CallFailure, CallOutput, DbError, JobStore, ProcedureBackend};
use crate::jobs::model::{
    CancelOutcome, ClaimedJob, DeleteOutcome, Inserted, Job, JobId, ListFilter, NewJob, Outcome, ProcedureLimit,
    ProgressSink, PurgeFilter, Rescued,
};
use crate::procedure::name::{IdentifierCase, ProcedureName};
use crate::procedure::plan::CallPlan;
use crate::procedure::signature::Signature;

use connect::{Object, PgManager, Pool};
use error::{map_error, map_pool_error};

pub struct PgBackend {
    pool: Pool,
    config: tokio_postgres::Config,
}

impl PgBackend {
    /// Builds the pool (call it on the main runtime). Connections are opened lazily; the first
    /// query tells whether the database is reachable.
    pub async fn connect(url: &str, pool_size: usize) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL: {e}"))?;
        if config.get_application_name().is_none() {
            config.application_name("procgate");
        }
        config.connect_timeout(Duration::from_secs(10));
        let manager = PgManager { config: config.clone(), runtime: tokio::runtime::Handle::current() };
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()?;
        Ok(Self { pool, config })
    }

    async fn client(&self) -> Result<Object, DbError> {
        self.pool.get().await.map_err(map_pool_error)
    }

    /// One LISTEN session: returns when the connection ends or `stop` fires.
    async fn listen_once(
        &self,
        wake: &Arc<Notify>,
        cancels: &mpsc::UnboundedSender<JobId>,
        stop: &CancellationToken,
    ) -> Result<(), DbError> {
        let (client, mut connection) = self.config.connect(NoTls).await.map_err(map_error)?;
        let (notify, cancels) = (wake.clone(), cancels.clone());
        let mut driver = tokio::spawn(async move {
            let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(message)) = messages.next().await {
                let AsyncMessage::Notification(n) = message else { continue };
                if n.channel() == store::CANCEL_CHANNEL {
                    if let Some(id) = JobId::parse(n.payload()) {
                        let _ = cancels.send(id);
                    }
                } else {
                    notify.notify_one();
                }
            }
        });
        let listen = format!("LISTEN {}; LISTEN {}", store::JOBS_CHANNEL, store::CANCEL_CHANNEL);
        client.batch_execute(&listen).await.map_err(map_error)?;
        wake.notify_one(); // catch up on whatever arrived while not listening
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
        tx.batch_execute("SET LOCAL client_min_messages = warning").await.map_err(map_error)?;
        tx.batch_execute(store::MIGRATE_LOCK).await.map_err(map_error)?;
        tx.batch_execute(store::TABLE_SQL).await.map_err(map_error)?;
        tx.commit().await.map_err(map_error)
    }

    async fn ping(&self) -> Result<(), DbError> {
        self.client().await?.simple_query("SELECT 1").await.map_err(map_error)?;
        Ok(())
    }

    async fn insert(&self, jobs: &[NewJob]) -> Result<Vec<Inserted>, DbError> {
        store::insert(&self.client().await?, jobs).await
    }

    async fn claim(
        &self,
        instance_id: &str,
        limit: usize,
        limits: &[ProcedureLimit],
    ) -> Result<Vec<ClaimedJob>, DbError> {
        store::claim(&mut self.client().await?, instance_id, limit, limits).await
    }

    async fn record_progress(&self, instance_id: &str, updates: &[(JobId, i16)]) -> Result<(), DbError> {
        store::record_progress(&self.client().await?, instance_id, updates).await
    }

    async fn finish(&self, instance_id: &str, outcomes: &[Outcome]) -> Result<Vec<JobId>, DbError> {
        store::finish(&self.client().await?, instance_id, outcomes).await
    }

    async fn heartbeat(&self, instance_id: &str, running: &[JobId]) -> Result<Vec<JobId>, DbError> {
        store::heartbeat(&self.client().await?, instance_id, running).await
    }

    async fn cancel(&self, id: &JobId, owner: Option<&str>) -> Result<CancelOutcome, DbError> {
        store::cancel(&self.client().await?, id, owner).await
    }

    async fn rescue(&self, lease: Duration, retry_orphans: bool) -> Result<Vec<Rescued>, DbError> {
        store::rescue(&self.client().await?, lease, retry_orphans).await
    }

    async fn get(&self, id: &JobId, owner: Option<&str>) -> Result<Option<Job>, DbError> {
        store::get(&self.client().await?, id, owner).await
    }

    async fn list(&self, filter: &ListFilter) -> Result<(i64, Vec<Job>), DbError> {
        store::list(&self.client().await?, filter).await
    }

    async fn delete(&self, id: &JobId, owner: Option<&str>) -> Result<DeleteOutcome, DbError> {
        store::delete(&self.client().await?, id, owner).await
    }

    async fn purge_batch(&self, filter: &PurgeFilter, batch: i64) -> Result<u64, DbError> {
        store::purge_batch(&self.client().await?, filter, batch).await
    }

    async fn listen(&self, wake: Arc<Notify>, cancels: mpsc::UnboundedSender<JobId>, stop: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match self.listen_once(&wake, &cancels, &stop).await {
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
}

#[async_trait]
impl ProcedureBackend for PgBackend {
    fn identifier_case(&self) -> IdentifierCase {
        IdentifierCase::Lower
    }

    async fn describe(&self, name: &ProcedureName) -> Result<Vec<Signature>, DbError> {
        catalog::describe(&self.client().await?, name).await
    }

    async fn call(
        &self,
        plan: &CallPlan,
        progress: &dyn ProgressSink,
        cancel: &CancellationToken,
    ) -> Result<CallOutput, CallFailure> {
        call::execute(&self.pool, plan, progress, cancel).await
    }
}
