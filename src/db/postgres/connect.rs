//! The connection pool: how pooled connections are opened, driven and recycled.
//!
//! - Opened through the [`Endpoint`], as every connection procgate makes: the server(s) of
//!   `DATABASE_URL`, its TLS connector (see `tls.rs`), and a failure that names the server.
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
use std::time::Duration;

use deadpool::managed::{Manager, Metrics, RecycleError, RecycleResult};
use deadpool_postgres::ClientWrapper;
use tokio::runtime::Handle;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{AsyncMessage, Client, Config, Connection, Socket};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::error::{addresses, connect_failure, map_error};
use super::notices::ConnectionNotices;
use super::tls::{self, SslMode};
use crate::db::{DbError, DbErrorKind};

/// A connection's driver half: poll it (or spawn it) for the client to work.
pub type PgConnection = Connection<Socket, <MakeRustlsConnect as MakeTlsConnect<Socket>>::Stream>;

/// The TCP connect, per address tried.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The whole opening of a pooled connection: connect, TLS, authentication, session setup.
const OPEN_TIMEOUT: Duration = Duration::from_secs(15);

/// Where and how to connect: `DATABASE_URL` parsed once, with its TLS connector.
#[derive(Clone)]
pub struct Endpoint {
    config: Config,
    tls: MakeRustlsConnect,
    sslmode: SslMode,
    /// `host:port`, for messages.
    addresses: Arc<str>,
}

impl Endpoint {
    /// Reads a `postgres://` URL, libpq's `sslmode` and `sslrootcert` included (see `tls.rs`).
    /// A bad URL or an unusable root certificate file is an error here, before any connection.
    pub fn from_url(url: &str) -> anyhow::Result<Endpoint> {
        let invalid = |e: String| anyhow::anyhow!("DATABASE_URL is not a valid PostgreSQL URL: {e}");
        let (url, options) = tls::split_url(url).map_err(invalid)?;
        // The driver's text alone ("invalid connection string") would not say what is wrong.
        let mut config: Config =
            url.parse().map_err(|e: tokio_postgres::Error| match std::error::Error::source(&e) {
                Some(cause) => invalid(format!("{e}: {cause}")),
                None => invalid(e.to_string()),
            })?;
        config.ssl_mode(options.mode.for_driver());
        config.connect_timeout(CONNECT_TIMEOUT);
        let tls = tls::connector(&options).map_err(|e| anyhow::anyhow!("DATABASE_URL: {e}"))?;
        Ok(Endpoint { addresses: addresses(&config).into(), config, tls, sslmode: options.mode })
    }

    /// The driver's settings, for what the URL does not say (session name, keepalives).
    pub(super) fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Opens one connection; a failure names the server (see `error::connect_failure`).
    pub async fn open(&self) -> Result<(Client, PgConnection), DbError> {
        self.config.connect(self.tls.clone()).await.map_err(|e| connect_failure(&self.addresses, self.sslmode, &e))
    }

    /// The connector cancel requests go through: they open a connection of their own.
    pub(super) fn tls(&self) -> &MakeRustlsConnect {
        &self.tls
    }

    fn open_timed_out(&self) -> DbError {
        DbError::unavailable(format!(
            "cannot connect to PostgreSQL at {}: no session within {} s",
            self.addresses,
            OPEN_TIMEOUT.as_secs()
        ))
    }
}

pub(super) type Pool = deadpool::managed::Pool<PgManager>;
pub(super) type Object = deadpool::managed::Object<PgManager>;

/// A pooled connection: the client (with its statement cache), its notice state, its server
/// process id, and the TLS connector its cancel requests need.
pub(super) struct PooledConnection {
    client: ClientWrapper,
    pub notices: Arc<ConnectionNotices>,
    pub backend_pid: i32,
    tls: MakeRustlsConnect,
}

impl PooledConnection {
    /// Asks the server to cancel this connection's running statement (over a connection of its
    /// own, TLS as the URL says); a request that cannot be sent is dropped: the caller repeats it.
    pub async fn cancel_query(&self) {
        let _ = self.cancel_token().cancel_query(self.tls.clone()).await;
    }
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
    pub endpoint: Endpoint,
    pub runtime: Handle,
    pub role: Role,
}

/// Logged once per process: this server cannot stop an orphaned call by itself.
static NO_CLIENT_CHECK_LOGGED: AtomicBool = AtomicBool::new(false);

impl Manager for PgManager {
    type Type = PooledConnection;
    type Error = DbError;

    async fn create(&self) -> Result<PooledConnection, DbError> {
        let (endpoint, role) = (self.endpoint.clone(), self.role);
        let opened = self.runtime.spawn(async move {
            match tokio::time::timeout(OPEN_TIMEOUT, open_pooled(&endpoint, role)).await {
                Ok(opened) => opened,
                Err(_) => Err(endpoint.open_timed_out()),
            }
        });
        match opened.await {
            Ok(result) => result,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(DbError::unavailable("the gateway is shutting down: no new PostgreSQL connection")),
        }
    }

    async fn recycle(&self, conn: &mut PooledConnection, _: &Metrics) -> RecycleResult<DbError> {
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

/// Opens, drives and sets up one pooled connection (on the main runtime, see above).
async fn open_pooled(endpoint: &Endpoint, role: Role) -> Result<PooledConnection, DbError> {
    let (client, mut connection) = endpoint.open().await?;
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
    // The connection is open: what fails from here on is an open connection's error.
    let opened_but = |e: tokio_postgres::Error| DbError { kind: DbErrorKind::Unavailable, ..map_error(e) };
    let backend_pid = client.query_one(BACKEND_PID_SQL, &[]).await.map_err(opened_but)?.get(0);
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
    let tls = endpoint.tls().clone();
    Ok(PooledConnection { client: ClientWrapper::new(client, driver), notices, backend_pid, tls })
}
