//! The [`Caller`] extractor: a handler that takes a `Caller` cannot run for a request that is
//! not authenticated (see `crate::auth`), nor for a client over its rate (429 `rate_limited`).

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use crate::auth::{AuthError, Caller};
use crate::clients::rate::retry_after_secs;

use super::errors::ApiError;
use super::AppState;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered");
        let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
        let caller = state.settings.auth.authenticate(req.peer_addr().map(|a| a.ip()), header);
        ready(caller.map_err(ApiError::from).and_then(within_rate))
    }
}

/// Every authenticated request counts against its client's rate (clients file), whatever its
/// endpoint and whether or not it then succeeds.
fn within_rate(caller: Caller) -> Result<Caller, ApiError> {
    match caller.access.take_request() {
        Ok(()) => Ok(caller),
        Err(wait) => Err(ApiError::RateLimited {
            rate: caller.access.rate.as_ref().map(|r| r.rate().to_string()).unwrap_or_default(),
            client: caller.name,
            retry_after_secs: retry_after_secs(wait),
        }),
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::AddressNotAllowed => ApiError::ForbiddenIp,
            AuthError::MissingToken => ApiError::Unauthorized("missing bearer token (Authorization: Bearer <token>)"),
            AuthError::InvalidToken => ApiError::Unauthorized("invalid token"),
            AuthError::Jwt(e) => ApiError::InvalidJwt { code: e.code, message: e.message },
            e @ AuthError::UnknownClient(_) => ApiError::UnknownClient(e.to_string()),
        }
    }
}
