//! The audit trail's HTTP side: which requests are audited, and what their entry says.
//!
//! - The audited endpoints take an [`Audited`] caller instead of a plain `Caller`: once the
//!   caller is authenticated it opens the request's note (the client's name), which the handler
//!   fills in as it learns things (the procedure as requested, parameter names, the job,
//!   how many jobs a bulk action changed).
//! - The [`record`] middleware turns the note and the answer (its status, and the error's code:
//!   `procedure_not_allowed`, `timeout`, a procedure's database code such as `P0001`) into one
//!   [`AuditEntry`] per audited request, whatever the handler answered — refusals included, and
//!   bodies refused before the handler ran — and hands it to the [`AuditLog`] before the answer
//!   leaves, so an answered request is never missing from the trail.
//! - A request without a valid token (401, or 403 `ip_not_allowed`) has no client to record:
//!   it is logged (target `procgate::audit`, with the peer's address), never stored.
//!
//! Never recorded: tokens, parameter values, error messages (they may quote values).

use std::cell::RefCell;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, Service, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use chrono::Utc;

use crate::auth::Caller;
use crate::jobs::audit::AuditLog;
use crate::model::audit::{AuditAction, AuditEntry};
use crate::model::JobId;

use super::errors::ApiError;
use super::request::CallRequest;
use super::AppState;

/// What a handler learnt about its request, for its audit entry.
#[derive(Debug, Default)]
struct Note {
    client: String,
    procedure: Option<String>,
    job_id: Option<String>,
    affected: Option<i64>,
    detail: Option<String>,
}

type SharedNote = Rc<RefCell<Note>>;

/// The authenticated caller of an audited endpoint (a [`Caller`] through `Deref`), and its
/// request's audit note.
pub struct Audited {
    caller: Caller,
    note: SharedNote,
}

impl Deref for Audited {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.caller
    }
}

impl FromRequest for Audited {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let authenticated = Caller::from_request(req, payload);
        let req = req.clone();
        Box::pin(async move {
            let caller = authenticated.await?;
            let note = SharedNote::new(RefCell::new(Note { client: caller.name.clone(), ..Note::default() }));
            req.extensions_mut().insert(note.clone());
            Ok(Audited { caller, note })
        })
    }
}

impl Audited {
    /// The procedure and the parameter names (never their values) of a call request.
    pub fn call(&self, req: &CallRequest) {
        let mut note = self.note.borrow_mut();
        note.procedure = Some(match &req.schema {
            Some(schema) => format!("{schema}.{}", req.name),
            None => req.name.clone(),
        });
        if !req.params.is_empty() {
            let names: Vec<&str> = req.params.iter().map(|p| p.name.as_str()).collect();
            note.detail = Some(format!("params: {}", names.join(", ")));
        }
    }

    /// The procedure of the job acted on.
    pub fn procedure(&self, name: &str) {
        self.note.borrow_mut().procedure = Some(name.to_string());
    }

    /// The job a submit created (or found by its idempotency key).
    pub fn job(&self, id: &JobId) {
        self.note.borrow_mut().job_id = Some(id.to_string());
    }

    /// How many jobs a bulk action changed.
    pub fn affected(&self, n: u64) {
        self.note.borrow_mut().affected = Some(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// Anything else that identifies the request (no secrets).
    pub fn detail(&self, text: String) {
        self.note.borrow_mut().detail = Some(text);
    }
}

/// The audited endpoints: by method and route pattern.
fn action_of(req: &HttpRequest) -> Option<AuditAction> {
    let pattern = req.match_pattern()?;
    let action = match (req.method(), pattern.as_str()) {
        (&Method::POST, "/procedure") => AuditAction::Call,
        (&Method::POST, "/procedure/async") => AuditAction::Submit,
        (&Method::POST, "/jobs/{id}/cancel") => AuditAction::Cancel,
        (&Method::POST, "/jobs/cancel") => AuditAction::CancelBulk,
        (&Method::DELETE, "/jobs/{id}") => AuditAction::Delete,
        (&Method::DELETE, "/jobs") => AuditAction::DeleteBulk,
        (&Method::POST, "/jobs/{id}/retry") => AuditAction::Retry,
        _ => return None,
    };
    Some(action)
}

/// `ok` for a success; otherwise the error's code — for a call the procedure failed, the
/// database's own (`P0001`, `ORA-20001`).
fn outcome_of<B>(res: &ServiceResponse<B>) -> String {
    match res.response().error().and_then(|e| e.as_error::<ApiError>()) {
        Some(ApiError::Unprocessable { code: "procedure_error", details, .. }) => {
            details["db_code"].as_str().unwrap_or("procedure_error").to_string()
        }
        Some(e) => e.code().to_string(),
        None if res.status().is_success() => "ok".to_string(),
        None => format!("http_{}", res.status().as_u16()),
    }
}

/// The middleware: records every answered request of an audited endpoint (see the module header).
pub fn record<S, B>(
    req: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse<B>, actix_web::Error>> + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody,
{
    let arrived = Utc::now();
    let started = Instant::now();
    let audit: Option<AuditLog> = req.app_data::<web::Data<AppState>>().map(|s| s.audit.clone());
    let answer = service.call(req);
    async move {
        let res = answer.await?;
        let (Some(audit), Some(action)) = (audit, action_of(res.request())) else { return Ok(res) };
        let note = res.request().extensions_mut().remove::<SharedNote>();
        let outcome = outcome_of(&res);
        let http_status = res.status().as_u16();
        let Some(note) = note else {
            // No authenticated client: logged only (an unauthenticated flood must not fill the table).
            tracing::info!(
                target: "procgate::audit",
                action = action.as_str(),
                outcome = %outcome,
                http_status,
                peer = res.request().peer_addr().map(|a| a.ip().to_string()),
                "audit: request without an authenticated client (not stored)"
            );
            return Ok(res);
        };
        let note = std::mem::take(&mut *note.borrow_mut());
        let path_job = res.request().match_info().get("id").and_then(JobId::parse).map(|id| id.to_string());
        let bulk = matches!(action, AuditAction::CancelBulk | AuditAction::DeleteBulk);
        let query = res.request().query_string();
        let detail = note.detail.or_else(|| (bulk && !query.is_empty()).then(|| format!("filter: {query}")));
        let entry = AuditEntry {
            at: arrived,
            client: note.client,
            action,
            procedure: note.procedure,
            job_id: path_job.or(note.job_id),
            outcome,
            http_status,
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
            affected: note.affected,
            detail,
        };
        audit.record(entry).await;
        Ok(res)
    }
}
