//! The body of `POST /procedure` and `POST /procedure/async`, as it arrives.

use serde::Deserialize;

use crate::catalog::CallError;
use crate::procedure::plan::{parse_params, ParamRequest, RawParam};

/// The body of `POST /procedure` and `POST /procedure/async` (the predecessor's shape).
/// Unknown fields are refused: a misspelt `"delay"` must not run a job at once.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "PROC_TEST", "params": [{"name": "p_input", "value": "Test"}, {"name": "p_output", "direction": "OUT"}]}))]
pub struct CallRequest {
    /// `[schema.][package.]name`, checked against `PROCEDURE_ALLOWLIST`.
    pub name: String,
    #[serde(default)]
    pub schema: Option<String>,
    /// The routine is a function: its return value comes back under the first OUT parameter
    /// that names no argument, else `return`. `is_function` is accepted too.
    #[serde(default, rename = "isFunction", alias = "is_function")]
    pub is_function: bool,
    #[serde(default)]
    pub params: Vec<RawParam>,
    /// Job options (`POST /procedure/async`): `high`, `normal` (default) or `low`.
    #[serde(default)]
    #[schema(example = "high")]
    pub priority: Option<String>,
    /// Not before this time (RFC 3339).
    #[serde(default)]
    pub run_at: Option<String>,
    /// Not before this many seconds from now.
    #[serde(default)]
    pub delay_seconds: Option<f64>,
    /// This job's timeout (capped by `MAX_JOB_TIMEOUT`; default `JOB_TIMEOUT`).
    #[serde(default)]
    pub timeout_seconds: Option<f64>,
    /// Retry policy; none: one attempt.
    #[serde(default)]
    pub retry: Option<crate::model::retry::RetryPolicy>,
    /// Capture the lines the call writes (`DBMS_OUTPUT`, `RAISE NOTICE`) into the job's
    /// `output` (or the synchronous answer's).
    #[serde(default)]
    pub capture_output: bool,
    /// Webhooks (`POST /procedure/async`): absent, the caller's default callback if it has one;
    /// `null`, none.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<CallbackRequest>)]
    pub callback: Option<Option<CallbackRequest>>,
}

/// `{"url": ..., "events": [...]}` as it arrives (checked by `api::callbacks`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CallbackRequest {
    pub url: String,
    #[serde(default)]
    pub events: Vec<String>,
}

/// A field that is present deserializes to `Some` (`Some(None)` for `null`); `default` gives
/// `None` when it is absent.
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl CallRequest {
    /// The parameters with their direction and type words checked.
    pub fn params(&self) -> Result<Vec<ParamRequest>, CallError> {
        Ok(parse_params(&self.params)?)
    }
}
