//! HTTP only: routes, the shared state handlers see, and the body/query error handlers.
//! Nothing below this module knows about HTTP.

pub mod audit;
pub mod callbacks;
pub mod caller;
pub mod deliveries;
pub mod errors;
pub mod events;
pub mod health;
pub mod jobs;
pub mod legacy;
pub mod metrics;
pub mod parse_guard;
pub mod procedures;
pub mod request;
pub mod stats;
pub mod ui;

use std::sync::Arc;

use actix_web::web;

use crate::catalog::Catalog;
use crate::config::Settings;
use crate::jobs::queue::Queue;
use errors::ApiError;

pub struct AppState {
    pub settings: Arc<Settings>,
    /// Resolves and plans calls.
    pub catalog: Arc<Catalog>,
    /// Submits, reads, cancels and deletes jobs.
    pub queue: Queue,
    /// The database's kind, as `/ready` reports it.
    pub database: &'static str,
    /// One permit per synchronous call that may run at once (`SYNC_CONCURRENCY`).
    pub sync_calls: Arc<tokio::sync::Semaphore>,
    /// Interrupts the synchronous calls still running when shutdown ends (a branch of the
    /// engine's cancellation tree).
    pub calls_stop: tokio_util::sync::CancellationToken,
    /// Reads the queue's figures (`GET /stats`).
    pub stats: crate::jobs::stats::StatsReader,
    /// This instance's own figures, set on the gauges at each scrape of `/metrics`.
    pub figures: crate::jobs::reporter::LocalFigures,
    /// Where audited requests are recorded (`api::audit`).
    pub audit: crate::jobs::audit::AuditLog,
}

async fn method_not_allowed() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

async fn no_route() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound { code: "not_found", message: "no such endpoint".into() })
}

/// Registers every route; `max_body` bounds request bodies.
pub fn configure(cfg: &mut web::ServiceConfig, max_body: usize) {
    cfg.app_data(
        web::JsonConfig::default().limit(max_body).error_handler(move |e, _| errors::json_error(e, max_body).into()),
    )
    .app_data(web::PayloadConfig::new(max_body))
    .app_data(
        web::QueryConfig::default()
            .error_handler(|e, _| ApiError::bad_request("invalid_query", format!("invalid query string: {e}")).into()),
    )
    .app_data(
        web::PathConfig::default()
            .error_handler(|e, _| ApiError::bad_request("invalid_path", format!("invalid path: {e}")).into()),
    )
    .service(resource("/health").route(web::get().to(health::health)))
    .service(resource("/ready").route(web::get().to(health::ready)))
    // The predecessor's other endpoints (see legacy.rs).
    .service(resource("/ping").route(web::get().to(legacy::ping)))
    .service(resource("/docs").route(web::get().to(legacy::docs)))
    .service(web::resource(["/query", "/exec"]).to(legacy::raw_sql))
    .service(web::resource(["/upload", "/download"]).to(legacy::files))
    .service(web::resource("/logs").to(legacy::logs))
    .service(resource("/procedure").route(web::post().to(procedures::call_sync)))
    .service(resource("/procedure/async").route(web::post().to(procedures::call_async)))
    .service(resource("/jobs").route(web::get().to(jobs::list_jobs)).route(web::delete().to(jobs::delete_jobs)))
    .service(resource("/jobs/{id}/cancel").route(web::post().to(jobs::cancel_job)))
    .service(resource("/jobs/{id}/retry").route(web::post().to(jobs::retry_job)))
    // Before `/jobs/{id}`, which would take `cancel` for a job id.
    .service(resource("/jobs/cancel").route(web::post().to(jobs::cancel_jobs)))
    .service(resource("/jobs/{id}/events").route(web::get().to(events::job_events)))
    .service(resource("/jobs/{id}/deliveries").route(web::get().to(deliveries::job_deliveries)))
    .service(resource("/events").route(web::get().to(events::all_events)))
    .service(resource("/jobs/{id}").route(web::get().to(jobs::get_job)).route(web::delete().to(jobs::delete_job)))
    .service(resource("/stats").route(web::get().to(stats::stats)))
    .service(resource("/ui").route(web::get().to(ui::page)).route(web::head().to(ui::page)))
    .service(resource("/ui/").route(web::get().to(ui::page)).route(web::head().to(ui::page)))
    .service(resource("/ui/{file}").route(web::get().to(ui::file)).route(web::head().to(ui::file)))
    .default_service(web::to(no_route));
}

/// `GET /metrics` on the API port (when `METRICS_ADDR` is unset).
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/metrics").route(web::get().to(metrics::metrics)));
}

fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}
