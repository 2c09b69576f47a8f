//! Runs one claimed job: re-checks and plans the call (the procedure may have changed since it
//! was accepted), executes it through the backend, and hands the outcome to the writer.

use std::sync::Arc;

use serde_json::Value as Json;
use tokio_util::sync::CancellationToken;

use crate::db::DbErrorKind;
use crate::procedure::plan::ParamRequest;
use crate::procedure::{CallError, Procedures};

use super::model::{ClaimedJob, JobError, JobStatus, Outcome};
use super::writer::JobWriter;

pub async fn run_job(procedures: Arc<Procedures>, writer: JobWriter, job: ClaimedJob, cancel: CancellationToken) {
    let id = job.id.clone();
    let sink = writer.sink_for(id.clone());
    // The call runs in its own task so that even a panic below ends the job honestly.
    let task = tokio::spawn(async move {
        let params: Vec<ParamRequest> = match serde_json::from_value(job.params.clone()) {
            Ok(p) => p,
            Err(e) => return failed("invalid_params", format!("stored parameters are unreadable: {e}")),
        };
        let prepared = match procedures.prepare(&job.procedure_name, None, &params, job.is_function).await {
            Ok(p) => p,
            Err(e) => return failed(call_error_code(&e), e.to_string()),
        };
        match procedures.backend().call(&prepared.plan, &sink, &cancel).await {
            Ok(out) => (JobStatus::Completed, Some(Json::Object(out)), None),
            Err(e) if e.kind == DbErrorKind::Cancelled => (JobStatus::Cancelled, None, Some(e.to_job_error())),
            Err(e) => (JobStatus::Failed, None, Some(e.to_job_error())),
        }
    });
    let (status, result, error) = match task.await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(job_id = %id, error = %e, "job task panicked");
            failed("internal_error", "the gateway failed while running this job".into())
        }
    };
    if let Some(err) = &error {
        tracing::info!(job_id = %id, status = %status, code = %err.code, "job ended");
    } else {
        tracing::debug!(job_id = %id, "job completed");
    }
    writer.finish(Outcome { id, status, result, error });
}

type Ending = (JobStatus, Option<Json>, Option<JobError>);

fn failed(code: &str, message: String) -> Ending {
    (JobStatus::Failed, None, Some(JobError { code: code.into(), message }))
}

fn call_error_code(e: &CallError) -> &'static str {
    match e {
        CallError::InvalidName(_) => "invalid_procedure_name",
        CallError::NotAllowed(_) => "procedure_not_allowed",
        CallError::NotFound(_) => "procedure_not_found",
        CallError::Invalid(p) => p.code,
        CallError::Database(_) => "database_unavailable",
    }
}
