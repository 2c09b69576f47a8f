//! How pooled connections are opened: always on the gateway's main runtime.
//!
//! actix-web runs each HTTP worker on its own single-threaded runtime. A connection opened from a
//! handler would have its socket and driver task on that worker's runtime, and die with it when
//! the server stops — while the job engine (on the main runtime) may still be using it during a
//! graceful shutdown. Opening every connection inside a task on the main runtime ties the
//! connections' lifetime to the engine's, wherever the pool is first asked.

use deadpool_postgres::Connect;
use futures_util::future::BoxFuture;
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, Error, NoTls};

pub(super) struct MainRuntimeConnect {
    pub runtime: Handle,
}

impl Connect for MainRuntimeConnect {
    fn connect(&self, pg_config: &Config) -> BoxFuture<'_, Result<(Client, JoinHandle<()>), Error>> {
        let config = pg_config.clone();
        let runtime = self.runtime.clone();
        Box::pin(async move {
            let opened = runtime.spawn(async move {
                let (client, connection) = config.connect(NoTls).await?;
                let driver = tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::debug!(error = %e, "PostgreSQL connection ended");
                    }
                });
                Ok((client, driver))
            });
            match opened.await {
                Ok(result) => result,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // The main runtime is shutting down: report it as the driver reports timeouts.
                Err(_) => Err(Error::__private_api_timeout()),
            }
        })
    }
}
