//! The `callback` of `POST /procedure/async`: the request's own (checked against
//! `WEBHOOK_ALLOWED_HOSTS`: http(s) only, no credentials, an allowed host), or else the caller's
//! default (`WEBHOOK_DEFAULT_CALLBACKS`); `"callback": null` opts out of the default. A caller
//! without a signing secret (`WEBHOOK_SECRETS`) cannot have one: deliveries are always signed.

use serde_json::json;

use crate::config::WebhookSettings;
use crate::model::callback::{Callback, CallbackError};

use super::errors::ApiError;
use super::request::CallbackRequest;

/// The callback the job will carry.
pub fn resolve(
    requested: Option<&Option<CallbackRequest>>,
    owner: &str,
    settings: &WebhookSettings,
) -> Result<Option<Callback>, ApiError> {
    let wanted = match requested {
        None => return Ok(settings.default_callbacks.get(owner).cloned()),
        Some(None) => return Ok(None),
        Some(Some(wanted)) => wanted,
    };
    let url = settings.allowed_hosts.check(&wanted.url).map_err(invalid)?;
    let events = Callback::events_from(wanted.events.iter().map(String::as_str)).map_err(invalid)?;
    if settings.secrets.for_owner(owner).is_none() {
        return Err(invalid(CallbackError {
            field: "callback",
            message: format!("no signing secret is configured for {owner:?} (WEBHOOK_SECRETS)"),
        }));
    }
    Ok(Some(Callback { url: url.to_string(), events }))
}

fn invalid(e: CallbackError) -> ApiError {
    ApiError::Unprocessable { code: "invalid_callback", message: e.message, details: json!({ "field": e.field }) }
}
