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

use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use deadpool::managed::{Manager, Metrics, RecycleError, RecycleResult};
use deadpool_postgres::ClientWrapper;
use tokio::runtime::Handle;
use tokio_postgres::{AsyncMessage, Config, Error, NoTls};

use super::notices::ConnectionNotices;

pub(super) type Pool = deadpool::managed::Pool<PgManager>;
pub(super) type Object = deadpool::managed::Object<PgManager>;

/// A pooled connection: the client (with its statement cache) and its notice state.
pub(super) struct PooledConnection {
    client: ClientWrapper,
    pub notices: Arc<ConnectionNotices>,
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

pub(super) struct PgManager {
    pub config: Config,
    pub runtime: Handle,
}

impl Manager for PgManager {
    type Type = PooledConnection;
    type Error = Error;

    async fn create(&self) -> Result<PooledConnection, Error> {
        let config = self.config.clone();
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
            Ok(PooledConnection { client: ClientWrapper::new(client, driver), notices })
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
