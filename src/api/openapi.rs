//! `GET /openapi.json`: the OpenAPI 3.1 contract, derived by `utoipa` from the handlers'
//! `#[utoipa::path]` annotations and the request/response types, never written by hand. The
//! shapes of the answers that handlers build with `json!` are described here, next to the shared
//! error answers; the unit test below fails when a route of `api::ROUTES` has no operation in the
//! document or the document has one that no route serves. `scripts/api-fuzz` checks the live
//! gateway's answers against it with schemathesis.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::HttpResponse;
use serde_json::{json, Value as Json};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};

use super::{deliveries, events, health, jobs, legacy, metrics, procedures, stats, ui};
use crate::jobs::stats as queue_stats;
use crate::model::{self, delivery, retry};

/// The document: every operation, the schemas they name, the shared error answers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "procgate",
        description = "Runs database stored procedures as durable asynchronous jobs over HTTP. \
            Every error is `{\"error\": {\"code\", \"message\", ...}}` with a matching status; a path \
            that no route serves is 404 `not_found`, a method a path does not serve 405 \
            `method_not_allowed`. See docs/api.md for the behaviour behind each operation.",
        license(name = "MIT"),
    ),
    paths(
        health::health,
        health::ready,
        document,
        legacy::ping,
        legacy::docs,
        legacy::query,
        legacy::exec,
        legacy::upload,
        legacy::download,
        legacy::logs,
        procedures::call_sync,
        procedures::call_async,
        jobs::list_jobs,
        jobs::delete_jobs,
        jobs::cancel_job,
        jobs::retry_job,
        jobs::cancel_jobs,
        events::job_events,
        deliveries::job_deliveries,
        events::all_events,
        jobs::get_job,
        jobs::delete_job,
        stats::stats,
        ui::page,
        ui::page_slash,
        ui::file,
        metrics::metrics,
    ),
    components(
        schemas(
            ErrorBody, ErrorDetail, Health, Ready, Ping, Accepted, RetryAccepted, SyncAnswer, JobBody,
            CallbackBody, JobList, JobDeleted, JobsDeleted, JobsCancelled, DeliveryList, DeliveryBody,
            EventBody, SseEvent, super::request::CallRequest, super::request::CallbackRequest,
            crate::procedure::plan::RawParam, retry::RetryPolicy, retry::Backoff, model::JobStatus,
            model::Priority, model::JobError, model::ProgressReport, delivery::DeliveryStatus,
            delivery::DeliveryAttempt, queue_stats::QueueStats, queue_stats::JobCounts,
            queue_stats::EndedCount, queue_stats::Windows, queue_stats::ProcedureStats,
            queue_stats::InstanceStats,
        ),
        responses(
            BadRequest, Unauthorized, Forbidden, NotFound, Conflict, PayloadTooLarge, UnsupportedMediaType,
            Unprocessable, TooManyRequests, Unavailable, GatewayTimeout,
        ),
    ),
    modifiers(&BearerToken, &OneIdPerOperation, &RateLimitedWithToken),
    tags(
        (name = "health", description = "Liveness and readiness; no token"),
        (name = "procedures", description = "Calling stored procedures: as a job, or at once"),
        (name = "jobs", description = "Reading, listing, cancelling, retrying and deleting jobs"),
        (name = "events", description = "Job events: Server-Sent Events streams"),
        (name = "webhooks", description = "A job's webhook deliveries"),
        (name = "operations", description = "Queue figures and Prometheus metrics"),
        (name = "dashboard", description = "The embedded dashboard (`/ui`)"),
        (name = "predecessor", description = "go-oracle-api's other endpoints"),
        (name = "contract", description = "This document"),
    ),
)]
pub struct ApiDoc;

/// The `bearer` security scheme every authenticated operation names.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut scheme = Http::new(HttpAuthScheme::Bearer);
        scheme.description =
            Some("A token of API_TOKENS (or API_TOKEN) or of API_CLIENTS_FILE, or a JWT verified by API_JWT_KEYS: `Authorization: Bearer <token>`".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(scheme));
    }
}

/// A path's operations, each with its method's name.
fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", &mut item.get),
        ("post", &mut item.post),
        ("put", &mut item.put),
        ("delete", &mut item.delete),
        ("head", &mut item.head),
        ("patch", &mut item.patch),
        ("options", &mut item.options),
        ("trace", &mut item.trace),
    ]
    .into_iter()
    .filter_map(|(method, op)| op.as_mut().map(|op| (method, op)))
}

/// An operation served for several methods (`method(get, head)`) gets its method appended to
/// its id, so that every operation id is unique, as OpenAPI requires.
struct OneIdPerOperation;

impl Modify for OneIdPerOperation {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let present: Vec<_> = operations(item).collect();
            let ids: Vec<_> = present.iter().map(|(_, op)| op.operation_id.clone()).collect();
            for (method, op) in present {
                let shared = ids.iter().filter(|id| **id == op.operation_id).count() > 1;
                if let (true, Some(id)) = (shared, op.operation_id.as_mut()) {
                    id.push('_');
                    id.push_str(method);
                }
            }
        }
    }
}

/// Every request that presents a token counts against its client's `rate` (API_CLIENTS_FILE), so
/// every operation that may answer 401 may answer 429 `rate_limited` too.
struct RateLimitedWithToken;

impl Modify for RateLimitedWithToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            for (_, op) in operations(item) {
                let answers = &mut op.responses.responses;
                if answers.contains_key("401") && !answers.contains_key("429") {
                    answers.insert("429".into(), RefOr::Ref(Ref::from_response_name("TooManyRequests")));
                }
            }
        }
    }
}

/// The document as JSON text, built once.
pub fn document_json() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serializes"))
}

/// `GET /openapi.json`: this contract; no token needed.
#[utoipa::path(
    get, path = "/openapi.json", tag = "contract", operation_id = "openapi",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json", body = Object)),
)]
pub async fn document() -> HttpResponse {
    HttpResponse::Ok().insert_header((header::CONTENT_TYPE, "application/json")).body(document_json())
}

// ---- The shapes of the answers the handlers build ------------------------------------------

/// Every error: `{"error": {"code", "message", ...}}` (see `api::errors`).
#[derive(ToSchema)]
#[schema(example = json!({"error": {"code": "job_not_found", "message": "no such job"}}))]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

/// `code` is stable (clients branch on it); `message` is for people. Some codes add fields:
/// `field` (`unknown_field`, `invalid_option`, `invalid_callback`), `limit`
/// (`too_many_parameters`), `param` (a parameter's error), `db_code`, `timing` and `output`
/// (`procedure_error`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    #[schema(example = "job_not_found")]
    code: String,
    #[schema(example = "no such job")]
    message: String,
}

/// `GET /health`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Health {
    #[schema(example = "ok")]
    status: String,
}

/// `GET /ready`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Ready {
    #[schema(example = "ready")]
    status: String,
    /// `postgres` or `oracle`.
    #[schema(example = "postgres")]
    database: String,
}

/// `GET /ping` (the predecessor's).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Ping {
    #[schema(example = "ok")]
    status: String,
}

/// `POST /procedure/async`: the job is stored; `GET /jobs/{id}` reads it.
#[derive(ToSchema)]
#[schema(example = json!({"status": "accepted", "job_id": "68542aa8129c4b76b2547ca62d8c13de",
    "message": "Job accepted", "check_status_url": "/jobs/68542aa8129c4b76b2547ca62d8c13de"}))]
#[allow(dead_code)]
pub struct Accepted {
    status: String,
    /// 32 lowercase hex characters.
    job_id: String,
    message: String,
    check_status_url: String,
}

/// `POST /jobs/{id}/retry`: the new job, pointing to the one it retries.
#[derive(ToSchema)]
#[schema(example = json!({"status": "accepted", "job_id": "9f0c3b6a2d7e4c1b8a5f6e3d2c1b0a99",
    "retry_of": "68542aa8129c4b76b2547ca62d8c13de", "message": "Job accepted (a retry)",
    "check_status_url": "/jobs/9f0c3b6a2d7e4c1b8a5f6e3d2c1b0a99"}))]
#[allow(dead_code)]
pub struct RetryAccepted {
    status: String,
    job_id: String,
    retry_of: String,
    message: String,
    check_status_url: String,
}

/// `POST /procedure`: the OUT values by parameter name (and the captured lines, when asked).
#[derive(ToSchema)]
#[schema(example = json!({"status": "ok", "out": {"p_output": "Procesado: Test"}}))]
#[allow(dead_code)]
pub struct SyncAnswer {
    status: String,
    out: serde_json::Map<String, Json>,
    output: Option<Vec<String>>,
}

/// A job's webhook callback.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CallbackBody {
    url: String,
    events: Vec<String>,
}

/// A job (`api::jobs::job_json`); the long poll adds `last_event_id`.
#[derive(ToSchema)]
#[schema(example = json!({"id": "68542aa8129c4b76b2547ca62d8c13de", "status": "completed",
    "procedure_name": "PROC_TEST", "params": {"p_input": "Test"}, "start_time": "2026-11-24T00:51:42.413981Z",
    "end_time": "2026-11-24T00:51:42.434493Z", "duration": "0.02s", "duration_ms": 20,
    "result": {"p_output": "Procesado: Test"}, "error": null, "output": null, "progress": 100,
    "created_at": "2026-11-24T00:51:42.413081Z", "attempts": 1, "max_attempts": 1, "attempt_history": [],
    "priority": "normal", "run_at": "2026-11-24T00:51:42.413081Z", "cancel_requested": false,
    "instance_id": "myhost-4242-1f0c9a2b", "owner": "demo", "callback": null, "retry_of": null}))]
#[allow(dead_code)]
pub struct JobBody {
    id: String,
    status: model::JobStatus,
    procedure_name: String,
    /// `{name: value}` of the values sent.
    params: serde_json::Map<String, Json>,
    start_time: Option<chrono::DateTime<chrono::Utc>>,
    end_time: Option<chrono::DateTime<chrono::Utc>>,
    duration: Option<String>,
    duration_ms: Option<i64>,
    /// The OUT values by name, once completed.
    #[schema(value_type = Option<Object>)]
    result: Option<Json>,
    error: Option<model::JobError>,
    output: Option<Vec<String>>,
    /// 0–100.
    progress: i16,
    created_at: chrono::DateTime<chrono::Utc>,
    attempts: i32,
    max_attempts: i32,
    /// The failed attempts before this one.
    attempt_history: Vec<Json>,
    priority: model::Priority,
    run_at: chrono::DateTime<chrono::Utc>,
    cancel_requested: bool,
    instance_id: Option<String>,
    owner: String,
    callback: Option<CallbackBody>,
    retry_of: Option<String>,
    /// The procedure's own latest progress report, when it sent one.
    #[schema(required = false)]
    report: Option<model::ProgressReport>,
    /// The long poll's (`wait`/`after`): the `after` of the next poll.
    #[schema(required = false)]
    last_event_id: Option<i64>,
}

/// `GET /jobs`: newest first.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct JobList {
    /// How many jobs match the filters: exact up to `LIST_TOTAL_CAP` (1,000 by default), an
    /// estimate above it (`total_exact` false).
    total: i64,
    jobs: Vec<JobBody>,
    limit: i64,
    offset: i64,
    /// Whether `total` is an exact count.
    total_exact: bool,
    /// The `cursor` of the next page; null on the last page.
    next: Option<String>,
}

/// `DELETE /jobs/{id}`.
#[derive(ToSchema)]
#[schema(example = json!({"message": "Job deleted", "job_id": "68542aa8129c4b76b2547ca62d8c13de"}))]
#[allow(dead_code)]
pub struct JobDeleted {
    message: String,
    job_id: String,
}

/// `DELETE /jobs`.
#[derive(ToSchema)]
#[schema(example = json!({"message": "Jobs deleted", "deleted": 3}))]
#[allow(dead_code)]
pub struct JobsDeleted {
    message: String,
    deleted: u64,
}

/// `POST /jobs/cancel`: pending jobs cancelled, running ones asked to stop.
#[derive(ToSchema)]
#[schema(example = json!({"cancelled": 2, "requested": 1}))]
#[allow(dead_code)]
pub struct JobsCancelled {
    cancelled: u64,
    requested: u64,
}

/// One webhook delivery of a job's event.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeliveryBody {
    /// `<job id>_<event id>` (the `webhook-id` header).
    id: String,
    event_id: i64,
    event_type: String,
    url: String,
    status: delivery::DeliveryStatus,
    attempts: i32,
    created_at: chrono::DateTime<chrono::Utc>,
    next_attempt_at: Option<chrono::DateTime<chrono::Utc>>,
    delivered_at: Option<chrono::DateTime<chrono::Utc>>,
    attempt_log: Vec<delivery::DeliveryAttempt>,
}

/// `GET /jobs/{id}/deliveries`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct DeliveryList {
    job_id: String,
    deliveries: Vec<DeliveryBody>,
}

/// One Server-Sent Event as a client reads it: `id` the event id, `event` its type (`error`: the
/// stream ends), `data` an [`EventBody`] as JSON text.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct SseEvent {
    #[schema(required = false)]
    id: Option<String>,
    #[schema(required = false)]
    event: Option<String>,
    data: String,
}

/// One event, the `data` of an SSE `event:` (`api::events::event_json`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventBody {
    event_id: i64,
    /// `created`, `started`, `progress`, `retrying`, `completed`, `failed`, `cancelled`, ...
    r#type: String,
    job_id: String,
    at: chrono::DateTime<chrono::Utc>,
    status: model::JobStatus,
    progress: i16,
    attempt: i32,
    procedure_name: String,
    owner: String,
    #[schema(required = false)]
    error: Option<model::JobError>,
    #[schema(required = false)]
    message: Option<String>,
    #[schema(required = false)]
    report: Option<model::ProgressReport>,
    #[schema(required = false)]
    retry_at: Option<chrono::DateTime<chrono::Utc>>,
}

// ---- The error answers, shared by the operations --------------------------------------------

/// An error answer with one example per code it may carry, and the headers it sets.
fn error_answer(description: &str, examples: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
    let examples = examples.iter().map(|(code, message)| {
        let value = json!({ "error": { "code": code, "message": message } });
        (code.to_string(), ExampleBuilder::new().summary(*code).value(Some(value)).build())
    });
    let content = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).examples_from_iter(examples);
    let mut response = ResponseBuilder::new().description(description).content("application/json", content.build());
    for (name, description) in headers {
        response = response.header(*name, HeaderBuilder::new().description(Some(*description)).build());
    }
    response.build()
}

/// A unit type per shared error answer, named in the operations as `response = ...`.
macro_rules! error_answers {
    ($($name:ident: $description:literal, [$(($code:literal, $message:literal)),+ $(,)?] $(, $header:literal = $header_description:literal)?;)+) => {
        $(
            #[doc = $description]
            pub struct $name;

            impl<'r> ToResponse<'r> for $name {
                fn response() -> (&'r str, RefOr<Response>) {
                    let examples = [$(($code, $message)),+];
                    let headers: &[(&str, &str)] = &[$(($header, $header_description))?];
                    (stringify!($name), error_answer($description, &examples, headers).into())
                }
            }
        )+
    };
}

error_answers! {
    BadRequest: "The request is malformed: a query parameter, a header, the JSON body, a name", [
        ("invalid_query", "limit must be a non-negative integer"),
        ("invalid_json", "invalid request body: expected value at line 1 column 1"),
        ("unknown_field", "unknown field \"delay\" in the request body"),
        ("invalid_procedure_name", "invalid procedure name \"a b\": unexpected character ' '"),
        ("missing_filter", "give status and/or older_than"),
        ("invalid_header", "Idempotency-Key must be 1 to 200 visible ASCII characters"),
        ("invalid_event_id", "Last-Event-ID / after must be a non-negative event id"),
        ("invalid_wait", "wait must be at most 1m (MAX_WAIT)"),
    ];
    Unauthorized: "No token, or not a valid one (an opaque token, or a JWT with API_JWT_KEYS)", [
        ("unauthorized", "missing bearer token (Authorization: Bearer <token>)"),
        ("invalid_token", "the token's algorithm \"HS256\" is not that of its key \"rsa-1\" (RS256)"),
        ("token_expired", "the token has expired (exp)"),
        ("token_not_yet_valid", "the token is not valid yet (nbf)"),
    ], "WWW-Authenticate" = "`Bearer`; for a JWT, `Bearer error=\"invalid_token\", error_description=\"...\"` (RFC 6750)";
    Forbidden: "The token or the client address may not do this", [
        ("ip_not_allowed", "this client address is not allowed (API_ALLOWED_IPS)"),
        ("procedure_not_allowed", "procedure \"PROC_X\" is not allowed (PROCEDURE_ALLOWLIST)"),
        ("owner_not_allowed", "only admin tokens may list other owners' jobs (owner=\"bob\")"),
        ("admin_required", "/metrics needs an admin token or METRICS_TOKEN"),
        ("unknown_client", "client \"etl\" is neither in API_CLIENTS_FILE nor given procedures by its token"),
    ];
    NotFound: "No such job (another client's job is not found either), procedure or file", [
        ("job_not_found", "no such job"),
        ("procedure_not_found", "procedure \"PROC_TEST_NOPE\" not found"),
        ("not_found", "no such endpoint"),
    ];
    Conflict: "The job is not in a state that allows this", [
        ("job_ended", "the job has ended (completed)"),
        ("job_running", "the job is running"),
        ("job_not_retryable", "only failed or cancelled jobs can be retried"),
    ];
    PayloadTooLarge: "The body is larger than MAX_BODY_BYTES, or has more than MAX_PARAMS parameters", [
        ("payload_too_large", "request body larger than 1048576 bytes"),
        ("too_many_parameters", "1001 parameters is more than the 1000 a request may send (MAX_PARAMS)"),
    ];
    UnsupportedMediaType: "The body is not `application/json`", [
        ("unsupported_media_type", "expected Content-Type: application/json"),
    ];
    Unprocessable: "Well-formed, but refused: a parameter, an option, a callback, or the procedure's own error", [
        ("invalid_option", "priority \"urgent\": expected high, normal or low"),
        ("unknown_parameter", "parameter \"p_x\" is not a parameter of proc_test"),
        ("invalid_value", "the database refused a value: invalid input syntax for type numeric"),
        ("invalid_callback", "webhooks are off (WEBHOOK_ALLOWED_HOSTS is empty)"),
        ("procedure_error", "Error intencional de prueba"),
    ];
    TooManyRequests: "The client is over its rate, or has its quota of pending jobs (API_CLIENTS_FILE, MAX_PENDING_PER_OWNER)", [
        ("rate_limited", "client \"reports\" is over its rate (50/s, API_CLIENTS_FILE); retry after 1 s"),
        ("quota_exceeded", "client \"reports\" already has its maximum of 1000 pending jobs (max_pending in API_CLIENTS_FILE); try again once some have started"),
        ("too_many_pending_jobs", "demo already has 1000 pending jobs (MAX_PENDING_PER_OWNER); try again once some have started"),
    ], "Retry-After" = "Seconds to wait";
    Unavailable: "The database is unreachable, the gateway is shutting down, or every slot is busy", [
        ("database_unavailable", "database not reachable: connection refused"),
        ("shutting_down", "the gateway is shutting down and accepts no new jobs"),
        ("busy", "this instance is running its maximum of 8 synchronous calls (SYNC_CONCURRENCY)"),
    ], "Retry-After" = "Seconds to wait (`busy`)";
    GatewayTimeout: "The synchronous call did not finish within SYNC_TIMEOUT and was cancelled", [
        ("timeout", "the call did not finish within SYNC_TIMEOUT (30s, of which 0 ms waiting for a free connection) and was cancelled"),
    ];
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Every `(path, method)` the document describes.
    fn documented() -> BTreeSet<(String, String)> {
        let document: Json = serde_json::from_str(document_json()).unwrap();
        let mut out = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                out.insert((path.clone(), method.clone()));
            }
        }
        out
    }

    /// What `configure` and `configure_metrics` register.
    fn served() -> BTreeSet<(String, String)> {
        let routes = super::super::ROUTES.iter().chain([&super::super::METRICS_ROUTE]);
        routes.map(|(path, method)| (path.to_string(), method.to_string())).collect()
    }

    #[test]
    fn every_route_is_documented_and_every_operation_is_served() {
        let (documented, served) = (documented(), served());
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(undocumented.is_empty(), "routes missing from the OpenAPI document: {undocumented:?}");
        assert!(unserved.is_empty(), "operations no route serves: {unserved:?}");
    }

    #[test]
    fn the_document_is_openapi_3_1_with_the_bearer_scheme_and_typed_errors() {
        let document: Json = serde_json::from_str(document_json()).unwrap();
        assert_eq!(document["openapi"], "3.1.0");
        assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        let job = &document["paths"]["/jobs/{id}"]["get"];
        assert_eq!(job["security"], json!([{ "bearer": [] }]));
        assert_eq!(job["responses"]["404"]["$ref"], "#/components/responses/NotFound");
        // A token's client may be over its rate on any operation that takes a token.
        assert_eq!(job["responses"]["429"]["$ref"], "#/components/responses/TooManyRequests");
        assert_eq!(document["paths"]["/health"]["get"]["security"], json!([{}]));
        assert!(document["paths"]["/health"]["get"]["responses"].get("429").is_none());
        let not_found = &document["components"]["responses"]["NotFound"]["content"]["application/json"];
        assert_eq!(not_found["schema"]["$ref"], "#/components/schemas/ErrorBody");
        assert_eq!(not_found["examples"]["job_not_found"]["value"]["error"]["code"], "job_not_found");
    }

    #[test]
    fn every_operation_has_an_id_a_tag_and_an_answer() {
        let document: Json = serde_json::from_str(document_json()).unwrap();
        let mut ids = BTreeSet::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path}: no operationId"));
                assert!(ids.insert(id.to_string()), "{method} {path}: operationId {id} twice");
                assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{method} {path}: no tag");
                // The predecessor's endpoints refused by design answer only 404.
                let refused = op["tags"] == json!(["predecessor"]) && op["responses"].get("404").is_some();
                let responses = op["responses"].as_object().unwrap();
                assert!(refused || responses.keys().any(|s| s.starts_with('2')), "{method} {path}: no 2xx answer");
            }
        }
    }
}
