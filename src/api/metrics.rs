//! Prometheus metrics over HTTP: `GET /metrics` on the API port (an admin token or
//! `METRICS_TOKEN`), or on its own listener at `METRICS_ADDR` (no token: bind it where only the
//! scraper reaches), and the middleware that counts every API request by its route pattern.

use std::future::Future;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::AuthError;
use crate::instruments;
use crate::jobs::reporter::LocalFigures;

use super::errors::ApiError;
use super::AppState;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition text, with this process's own gauges set just before.
pub fn exposition(figures: &LocalFigures) -> HttpResponse {
    figures.set_gauges();
    HttpResponse::Ok().insert_header((header::CONTENT_TYPE, CONTENT_TYPE)).body(instruments::render())
}

/// `GET /metrics` on the API port: for admin tokens and `METRICS_TOKEN`.
#[utoipa::path(
    get, path = "/metrics", tag = "operations", operation_id = "metrics", security(("bearer" = [])),
    responses(
        (status = 200, description = "The Prometheus exposition",
            content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
        (status = 401, response = super::openapi::Unauthorized),
        (status = 403, response = super::openapi::Forbidden),
    ),
)]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|h| h.to_str().ok());
    let metrics_token = state.settings.metrics_token.as_ref().is_some_and(|t| t.presented_in(authorization));
    let auth = &state.settings.auth;
    match auth.authenticate(req.peer_addr().map(|a| a.ip()), authorization) {
        Ok(caller) if caller.admin => {}
        Err(AuthError::InvalidToken) | Ok(_) if metrics_token => {}
        Ok(_) => return Err(ApiError::AdminOnly("/metrics needs an admin token or METRICS_TOKEN")),
        Err(e) => return Err(e.into()),
    }
    Ok(exposition(&state.figures))
}

/// The handler of the `METRICS_ADDR` listener.
pub async fn open_metrics(figures: web::Data<LocalFigures>) -> HttpResponse {
    exposition(&figures)
}

/// Counts each answered request by its matched route pattern (`/jobs/{id}`) and status: the
/// pattern, never the path, so ids do not become label values.
pub fn count_request<S, B>(
    req: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody,
{
    let answer = service.call(req);
    async move {
        let res = answer.await?;
        instruments::http_request(res.request().match_pattern().as_deref(), res.status().as_u16());
        Ok(res)
    }
}
