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
pub mod openapi;
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

/// 405 with the `Allow` header RFC 9110 asks for: the methods `allow` lists.
fn method_not_allowed(allow: &'static str) -> actix_web::HttpResponse {
    use actix_web::ResponseError;
    let mut response = ApiError::MethodNotAllowed.error_response();
    response
        .headers_mut()
        .insert(actix_web::http::header::ALLOW, actix_web::http::header::HeaderValue::from_static(allow));
    response
}

async fn no_route() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound { code: "not_found", message: "no such endpoint".into() })
}

/// Declares every route once: `register` adds them to actix in this order, and `ROUTES` lists
/// them, so the OpenAPI document (`openapi.rs`) is checked against exactly what is served.
macro_rules! routes {
    ($($path:literal => [$($method:ident: $handler:path),+ $(,)?]),+ $(,)?) => {
        fn register(cfg: &mut web::ServiceConfig) {
            $(cfg.service(
                resource($path, concat!($(methods::$method!(), ", "),+))$(.route(web::$method().to($handler)))+,
            );)+
        }

        /// Every `(path, method)` that `configure` registers.
        pub const ROUTES: &[(&str, &str)] = &[$($(($path, stringify!($method))),+),+];
    };
}

/// The methods' names as `Allow` lists them (`methods::get!()` is `"GET"`).
mod methods {
    macro_rules! get {
        () => {
            "GET"
        };
    }
    macro_rules! post {
        () => {
            "POST"
        };
    }
    macro_rules! delete {
        () => {
            "DELETE"
        };
    }
    macro_rules! head {
        () => {
            "HEAD"
        };
    }
    pub(super) use {delete, get, head, post};
}

routes! {
    "/health" => [get: health::health],
    "/ready" => [get: health::ready],
    "/openapi.json" => [get: openapi::document],
    // The predecessor's other endpoints (see legacy.rs).
    "/ping" => [get: legacy::ping],
    "/docs" => [get: legacy::docs],
    "/query" => [get: legacy::query, post: legacy::query],
    "/exec" => [get: legacy::exec, post: legacy::exec],
    "/upload" => [get: legacy::upload, post: legacy::upload],
    "/download" => [get: legacy::download, post: legacy::download],
    "/logs" => [get: legacy::logs, post: legacy::logs],
    "/procedure" => [post: procedures::call_sync],
    "/procedure/async" => [post: procedures::call_async],
    "/jobs" => [get: jobs::list_jobs, delete: jobs::delete_jobs],
    "/jobs/{id}/cancel" => [post: jobs::cancel_job],
    "/jobs/{id}/retry" => [post: jobs::retry_job],
    // Before `/jobs/{id}`, which would take `cancel` for a job id.
    "/jobs/cancel" => [post: jobs::cancel_jobs],
    "/jobs/{id}/events" => [get: events::job_events],
    "/jobs/{id}/deliveries" => [get: deliveries::job_deliveries],
    "/events" => [get: events::all_events],
    "/jobs/{id}" => [get: jobs::get_job, delete: jobs::delete_job],
    "/stats" => [get: stats::stats],
    "/ui" => [get: ui::page, head: ui::page],
    "/ui/" => [get: ui::page_slash, head: ui::page_slash],
    "/ui/{file}" => [get: ui::file, head: ui::file],
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
    );
    register(cfg);
    cfg.default_service(web::to(no_route));
}

/// The route `configure_metrics` registers (the OpenAPI document lists it too).
pub const METRICS_ROUTE: (&str, &str) = ("/metrics", "get");

/// `GET /metrics` on the API port (when `METRICS_ADDR` is unset).
pub fn configure_metrics(cfg: &mut web::ServiceConfig) {
    cfg.service(resource(METRICS_ROUTE.0, "GET").route(web::get().to(metrics::metrics)));
}

/// A path whose other methods answer 405 with `Allow: <allow>` (a trailing `, ` is dropped).
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    let allow = allow.trim_end_matches(", ");
    web::resource(path).default_service(web::to(move || async move { method_not_allowed(allow) }))
}

/// A worker-only instance's routes (`procgate work`): `/health` and `/ready`, and `/metrics`
/// through [`configure_metrics`]; every other path is `404 not_found`, saying where the job API is.
pub fn configure_worker(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/health", "GET").route(web::get().to(health::health)))
        .service(resource("/ready", "GET").route(web::get().to(health::ready)))
        .default_service(web::to(not_on_a_worker));
}

async fn not_on_a_worker() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound {
        code: "not_found",
        message: "this instance only runs jobs (procgate work): the job API is served by `procgate serve` instances"
            .into(),
    })
}
