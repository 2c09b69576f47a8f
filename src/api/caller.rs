//! The [`Caller`] extractor: a handler that takes a `Caller` cannot run for a request that is
//! not authenticated (see `crate::auth`).

use std::future::{ready, Ready};

use actix_web::{dev::Payload, web, FromRequest, HttpRequest};

use crate::auth::{AuthError, Caller};

use super::errors::ApiError;
use super::AppState;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered");
        let header = req.headers().get(actix_web::http::header::AUTHORIZATION).and_then(|h| h.to_str().ok());
        ready(state.settings.auth.authenticate(req.peer_addr().map(|a| a.ip()), header).map_err(ApiError::from))
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::AddressNotAllowed => ApiError::ForbiddenIp,
            AuthError::MissingToken => ApiError::Unauthorized("missing bearer token (Authorization: Bearer <token>)"),
            AuthError::InvalidToken => ApiError::Unauthorized("invalid token"),
        }
    }
}
