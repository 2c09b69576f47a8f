//! The connection pool: how pooled connections are opened, driven and recycled.
//!
//! - Opened on the gateway's main runtime. actix-web runs each HTTP worker on its own
//!   single-threaded runtime. A connection opened from a handler would have its socket and
//!   driver task on that worker's runtime, and die with it when the server stops — while the job
//!   engine (on the main runtime) may still be using it during a graceful shutdown. Opening
//!   every connection inside a task on the main runtime ties the connections' lifetime to the
//!   engine's, wherever the pool is first asked.
//! - Driven by a task that polls the connection's messages and hands each notice to the
//!   connection's [`ConnectionNotices`] (see `notices.rs` for why that routing is exact).
//! - Pooled as a [`PooledConnection`]: deadpool-postgres' `ClientWrapper` (statement cache and
//!   all) plus that notice state. A pooled object carries no extra data of its own, and a
//!   client has no stable identity to look state up by (it moves in and out of the pool's
//!   slots, so its address changes; its backend pid is private), so this manager creates the
//!   pair together and deadpool hands out both as one object. It does what
//!   `deadpool_postgres::Manager` does with `RecyclingMethod::Fast`, and one more check.
//! - Call connections (the pool calls run on, never the job store's) ask the server to watch
//!   for a vanished client while a statement runs (`client_connection_check_interval`,
//!   PostgreSQL 14+) and to send TCP keepalives, so the call of a gateway that died is
//!   stopped by the server itself; each knows its backend pid, which a running job records so
//!   a rescuer can end the session (see `store::rescue`).

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use deadpool::managed::{Manager, Metrics, RecycleError, RecycleResult};
use deadpool_postgres::ClientWrapper;
use tokio::runtime::Handle;
use tokio_postgres::{AsyncMessage, Config, Error, NoTls};

use super::notices::ConnectionNotices;

pub(super) type Pool = deadpool::managed::Pool<PgManager>;
pub(super) type Object = deadpool::managed::Object<PgManager>;

/// A pooled connection: the client (with its statement cache), its notice state and its
/// server process id.
pub(super) struct PooledConnection {
    client: ClientWrapper,
    pub notices: Arc<ConnectionNotices>,
    pub backend_pid: i32,
}

impl Deref for PooledConnection {
    type Target = ClientWrapper;
    fn deref(&self) -> &ClientWrapper {
        &self.client
    }
}

impl DerefMut for PooledConnection {
    fn deref_mut(&mut self) -> &mut ClientWrapper {
        &mut self.client
    }
}

/// What a pool's connections are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The job store's statements: short, never a procedure call.
    Store,
    /// Procedure calls, which may run for hours.
    Calls,
}

/// Asked once per new call connection; PostgreSQL 13 and older do not know the first setting.
const CALL_SESSION_SQL: &str = include_str!("../../../sql/postgres/queries/call_session.sql");
const BACKEND_PID_SQL: &str = include_str!("../../../sql/postgres/queries/backend_pid.sql");

pub(super) struct PgManager {
    pub config: Config,
    pub runtime: Handle,
    pub role: Role,
}

/// Logged once per process: this server cannot stop an orphaned call by itself.
static NO_CLIENT_CHECK_LOGGED: AtomicBool = AtomicBool::new(false);

impl Manager for PgManager {
    type Type = PooledConnection;
    type Error = Error;

    async fn create(&self) -> Result<PooledConnection, Error> {
        let (config, role) = (self.config.clone(), self.role);
        let opened = self.runtime.spawn(async move {
            let (client, mut connection) = config.connect(NoTls).await?;
            let notices = Arc::new(ConnectionNotices::default());
            let driver = {
                let notices = notices.clone();
                tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                            Some(Ok(AsyncMessage::Notice(notice))) => notices.deliver(&notice),
                            Some(Ok(_)) => {} // notifications: pooled connections do not LISTEN
                            Some(Err(e)) => {
                                tracing::debug!(error = %e, "PostgreSQL connection ended");
                                break;
                            }
                            None => break,
                        }
                    }
                })
            };
            let backend_pid = client.query_one(BACKEND_PID_SQL, &[]).await?.get(0);
            if role == Role::Calls {
                if let Err(e) = client.batch_execute(CALL_SESSION_SQL).await {
                    if !NO_CLIENT_CHECK_LOGGED.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            error = %e,
                            "this PostgreSQL cannot watch for a vanished client during a call \
                             (client_connection_check_interval needs PostgreSQL 14+): the call of a gateway \
                             that dies runs to its end, but its effects are rolled back, never committed"
                        );
                    }
                }
            }
            Ok(PooledConnection { client: ClientWrapper::new(client, driver), notices, backend_pid })
        });
        match opened.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // The main runtime is shutting down: report it as the driver reports timeouts.
            Err(_) => Err(Error::__private_api_timeout()),
        }
    }

    async fn recycle(&self, conn: &mut PooledConnection, _: &Metrics) -> RecycleResult<Error> {
        if conn.is_closed() {
            return Err(RecycleError::message("connection closed"));
        }
        if !conn.notices.is_idle() {
            // Its holder dropped it in the middle of a call: the statement may still be running
            // and sending notices. Closing it is the only way to be sure none reaches another call.
            return Err(RecycleError::message("a call on this connection was abandoned while running"));
        }
        Ok(())
    }
}
