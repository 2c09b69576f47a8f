//! Builds the application (database, job engine, HTTP server) and runs it until a shutdown
//! signal, then stops it in order: no new requests, then the engine (see `jobs::Engine::shutdown`).
//! A worker-only instance (`procgate work`, `Role::Work`) serves `/health`, `/ready` and
//! `/metrics` only; an API-only one (`WORKERS=0`) is an engine that claims nothing.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_http::HttpService;
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::{AppConfig, Server, ServerHandle};
use actix_web::middleware::{NormalizePath, TrailingSlash};
use actix_web::{web, App};
use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::api::parse_guard::ParseGuard;
use crate::api::{self, AppState};
use crate::catalog::Catalog;
use crate::config::{Role, Settings};
use crate::db::{ConnectOptions, Database, ResultLimits};
use crate::jobs::webhooks::DelivererSettings;
use crate::jobs::{Engine, EngineSettings};

pub struct Application {
    port: u16,
    server: Server,
    handle: ServerHandle,
    engine: Engine,
    stop: CancellationToken,
    /// The `METRICS_ADDR` listener, when set, and its port.
    metrics: Option<(Server, u16)>,
}

impl Application {
    /// Connects, creates the job table if needed, starts the engine and binds the listener
    /// (`PORT=0` picks a free port; see [`Application::port`]).
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        settings.check_can_serve()?;
        // Before anything counts: the process's one Prometheus recorder.
        crate::instruments::install();
        let url = settings.database_url.clone().context(
            "DATABASE_URL is not set (or run `procgate demo` for a private PostgreSQL with demo procedures)",
        )?;
        let db = Database::connect(
            &url,
            &ConnectOptions {
                instance_id: settings.instance_id.clone(),
                call_connections: settings.db_pool_size,
                read_connections: settings.db_read_pool_size,
                result_limits: ResultLimits {
                    max_bytes: settings.max_result_bytes,
                    max_cursor_rows: settings.max_cursor_rows,
                },
                progress_poll_interval: settings.progress_poll_interval,
            },
        )
        .await?;
        db.store.migrate().await.map_err(|e| anyhow::anyhow!("cannot prepare the ASYNC_JOBS table: {e}"))?;
        if settings.auth.no_auth {
            tracing::warn!("API_NO_AUTH=1: every caller is an admin without a token. For local work only!");
        }
        if settings.procedure_allowlist.is_empty() {
            tracing::warn!("PROCEDURE_ALLOWLIST is empty: every procedure call will be refused (403)");
        }
        // API_CLIENTS_FILE: reloaded on SIGHUP and when it changes, for as long as we serve.
        settings.auth.clients.watch(settings.clients_poll);
        if let Some(jwt) = &settings.auth.jwt {
            jwt.watch();
        }
        let catalog = Arc::new(Catalog::new(
            db.routines.clone(),
            settings.procedure_allowlist.clone(),
            settings.catalog_cache_ttl,
        ));
        let engine = Engine::start(
            &db,
            catalog.clone(),
            &EngineSettings {
                instance_id: settings.instance_id.clone(),
                workers: settings.workers,
                poll_interval: settings.poll_interval,
                progress_flush_interval: settings.progress_flush_interval,
                cleanup_interval: settings.cleanup_interval,
                retention_days: settings.job_retention_days,
                shutdown_grace: settings.shutdown_grace,
                job_timeout: settings.job_timeout,
                lease_timeout: settings.lease_timeout,
                heartbeat_interval: settings.heartbeat_interval,
                rescue_interval: settings.rescue_interval,
                retryable_errors: settings.retryable_errors.clone(),
                procedure_limits: settings.procedure_limits.clone(),
                cancel_wait: settings.cancel_wait,
                max_pending_per_owner: settings.max_pending_per_owner,
                event_poll_interval: settings.event_poll_interval,
                webhooks: deliverer_settings(&settings),
                keep_newest: crate::jobs::cleaner::KeepNewest {
                    completed: settings.job_keep_completed,
                    failed: settings.job_keep_failed,
                },
                audit: settings.audit,
                audit_retention_days: settings.audit_retention_days,
            },
        );
        let listener = TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("cannot listen on {}:{} (HOST/PORT)", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let max_body = settings.max_body_bytes;
        let sync_calls = Arc::new(tokio::sync::Semaphore::new(settings.sync_concurrency));
        let metrics = match settings.metrics_addr {
            Some(addr) => Some(metrics_server(addr, engine.figures.clone())?),
            None => None,
        };
        let metrics_on_api_port = metrics.is_none();
        let (role, role_name) = (settings.role, settings.role_name());
        let state = web::Data::new(AppState {
            settings: Arc::new(settings),
            catalog,
            queue: engine.queue.clone(),
            database: db.kind,
            sync_calls,
            calls_stop: engine.calls_token(),
            stats: engine.stats.clone(),
            figures: engine.figures.clone(),
            audit: engine.audit.clone(),
        });
        let server = match role {
            Role::Serve => http_server(listener, move || {
                App::new()
                    .app_data(state.clone())
                    .wrap_fn(api::metrics::count_request)
                    .wrap_fn(api::audit::record)
                    .wrap(NormalizePath::new(TrailingSlash::Trim))
                    .configure(|cfg| {
                        if metrics_on_api_port {
                            api::configure_metrics(cfg);
                        }
                        api::configure(cfg, max_body)
                    })
            })?,
            // No job API: health, readiness and metrics for the orchestrator and the scraper.
            Role::Work => http_server(listener, move || {
                App::new()
                    .app_data(state.clone())
                    .wrap_fn(api::metrics::count_request)
                    .wrap(NormalizePath::new(TrailingSlash::Trim))
                    .configure(|cfg| {
                        if metrics_on_api_port {
                            api::configure_metrics(cfg);
                        }
                        api::configure_worker(cfg)
                    })
            })?,
        };
        let handle = server.handle();
        tracing::info!(port, database = db.kind, role = role_name, "procgate listening");
        Ok(Application { port, server, handle, engine, stop: CancellationToken::new(), metrics })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The `METRICS_ADDR` listener's port (`None`: `/metrics` is on the API port).
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(_, port)| *port)
    }

    /// A token that starts the same orderly shutdown as a signal (used by tests).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Serves until Ctrl-C, SIGTERM or the stop token, then shuts down in order: new jobs are
    /// refused (503) while running jobs finish or are interrupted (see `Engine::shutdown`),
    /// then the HTTP server stops.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let Application { server, handle, mut engine, stop, metrics, .. } = self;
        let audit_writer = engine.take_audit_writer();
        let metrics = metrics.map(|(m, _)| (m.handle(), tokio::spawn(m)));
        let mut server = tokio::spawn(server);
        tokio::select! {
            _ = shutdown_signal() => tracing::info!("shutdown signal received"),
            _ = stop.cancelled() => tracing::info!("shutdown requested"),
            served = &mut server => {
                engine.shutdown().await;
                if let Some((metrics, _)) = &metrics {
                    metrics.stop(true).await;
                }
                if let Some(writer) = audit_writer {
                    writer.finished(AUDIT_FLUSH_WAIT).await;
                }
                return served.map_err(anyhow::Error::from)?.map_err(Into::into);
            }
        }
        tracing::info!("refusing new jobs, finishing running ones (a second Ctrl-C or SIGTERM stops at once)");
        tokio::select! {
            _ = engine.shutdown() => {}
            _ = shutdown_signal() => {
                // As after a kill: the database rolls back the calls cut off, and the rescuer of
                // a live instance (or of the next start) settles their jobs once the lease is over.
                tracing::warn!("second shutdown signal: stopping now; running jobs are left to the rescuer");
                handle.stop(false).await;
                return Ok(());
            }
        }
        handle.stop(true).await;
        if let Some((metrics, task)) = metrics {
            metrics.stop(true).await;
            let _ = task.await;
        }
        let served = server.await;
        // The server has answered its last request: the audit trail can be written out.
        if let Some(writer) = audit_writer {
            writer.finished(AUDIT_FLUSH_WAIT).await;
        }
        tracing::info!("procgate stopped");
        served.map_err(anyhow::Error::from)?.map_err(Into::into)
    }
}

/// How long a stopping instance waits for its audit writer to store the last entries.
const AUDIT_FLUSH_WAIT: Duration = Duration::from_secs(10);

/// The webhook deliverer's settings, when webhooks are on (`WEBHOOK_ALLOWED_HOSTS` set).
fn deliverer_settings(settings: &Settings) -> Option<DelivererSettings> {
    let w = &settings.webhooks;
    w.enabled().then(|| DelivererSettings {
        allowed_hosts: w.allowed_hosts.clone(),
        secrets: w.secrets.clone(),
        max_attempts: w.max_attempts,
        retry_delay: w.retry_delay,
        timeout: w.timeout,
        concurrency: w.concurrency,
        poll_interval: settings.poll_interval,
        body: api::deliveries::webhook_data,
    })
}

/// The `METRICS_ADDR` listener: `GET /metrics` only, no token (bind it where only the scraper
/// reaches). A plain actix server: it parses nothing a client could abuse beyond one route.
fn metrics_server(
    addr: std::net::SocketAddr,
    figures: crate::jobs::reporter::LocalFigures,
) -> anyhow::Result<(Server, u16)> {
    let figures = web::Data::new(figures);
    let server = actix_web::HttpServer::new(move || {
        App::new()
            .app_data(figures.clone())
            .route("/metrics", web::get().to(api::metrics::open_metrics))
            .default_service(web::to(|| async {
                actix_web::HttpResponse::NotFound().json(serde_json::json!({
                    "error": {"code": "not_found", "message": "this listener serves GET /metrics only"}
                }))
            }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(addr)
    .with_context(|| format!("cannot listen on {addr} (METRICS_ADDR)"))?;
    let port = server.addrs().first().map_or(addr.port(), |a| a.port());
    tracing::info!(%addr, port, "metrics listening");
    Ok((server.run(), port))
}

/// How long a client may take to send its first request head (actix's default).
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(5);

/// What `actix_web::HttpServer` builds, with one difference: every connection passes through
/// [`ParseGuard`] before actix's HTTP/1 parser, so requests that parser refuses get a JSON answer
/// too (`HttpServer` accepts only plain TCP streams). Settings are `HttpServer`'s defaults; the
/// first request's head timeout is the guard's. The app sees the default `AppConfig` (its
/// host and address are not used by procgate).
fn http_server<A, F>(listener: TcpListener, app: F) -> std::io::Result<Server>
where
    F: Fn() -> App<A> + Send + Clone + 'static,
    A: actix_service::ServiceFactory<
            actix_web::dev::ServiceRequest,
            Config = (),
            Response = actix_web::dev::ServiceResponse,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
{
    let builder = Server::build().disable_signals().shutdown_timeout(10);
    let shutdown = builder.graceful_shutdown_signal();
    let local_addr = listener.local_addr()?;
    Ok(builder
        .listen("procgate-http", listener, move || {
            let shutdown = shutdown.clone();
            let http = HttpService::build()
                .graceful_shutdown_signal(move || {
                    let shutdown = shutdown.clone();
                    async move { shutdown.notified().await }
                })
                .client_request_timeout(Duration::ZERO)
                .client_disconnect_timeout(Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .local_addr(local_addr)
                .h1(map_config(
                    app().into_factory().map_err(|e: actix_web::Error| e.as_response_error().error_response()),
                    |_| AppConfig::default(),
                ));
            let parser_config = actix_http::ServiceConfig::default();
            fn_service(move |io: tokio::net::TcpStream| {
                let peer = io.peer_addr().ok();
                let guarded = ParseGuard::new(io, peer, REQUEST_HEAD_TIMEOUT, parser_config.clone());
                std::future::ready(Ok((guarded, peer)))
            })
            .and_then(http)
        })?
        .run())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
