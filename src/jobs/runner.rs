//! Runs one claimed job: re-checks and plans the call (the procedure may have changed since it
//! was accepted), executes it through the backend under the job's timeout — a successful call
//! commits with the job's completion — and hands any other end of the attempt to the writer:
//! failed, or pending again when its retry policy allows.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;

use crate::catalog::{CallError, Catalog};
use crate::db::{CallFailure, DbErrorKind, JobCall, OutValues};
use crate::procedure::plan::ParamRequest;

use super::control::{cancel_after, JobControl, StopReason};
use super::events::EventSignal;
use super::tally::Tally;
use super::writer::JobWriter;
use crate::model::retry::RetryableErrors;
use crate::model::{AttemptFence, ClaimedJob, JobError, JobStatus, Outcome};

/// What every run shares.
pub struct RunContext {
    pub catalog: Arc<Catalog>,
    pub writer: JobWriter,
    /// Told when a call committed with its job's completion (that statement bypasses the store).
    pub events: EventSignal,
    pub instance_id: String,
    pub default_timeout: Duration,
    pub retryable: RetryableErrors,
    /// Counts each attempt's start and end (`/stats` rates, `/metrics` counters).
    pub tally: Tally,
}

/// How one attempt ended.
enum Ended {
    /// Its call and the job's completion were committed together.
    Committed,
    /// The job stopped being this attempt's while the call ran: the call's effects were rolled
    /// back, and the job is someone else's to settle.
    Fenced,
    /// The call succeeded and its effects, if any, are committed (a routine that commits by
    /// itself, or a call that wrote nothing): the completion is still to be written.
    Ran(OutValues, Option<Vec<String>>),
    /// The call failed (its effects rolled back), with the lines it wrote when asked.
    Failed(JobError, Option<Vec<String>>),
}

/// Runs `job` on the worker `slot`, which is freed when the attempt's end is written with the
/// call, or handed to the writer (which waits while it is `WORKERS` outcomes behind: the table
/// never holds more than twice `WORKERS` of this instance's jobs `running`).
pub async fn run_job(ctx: Arc<RunContext>, job: ClaimedJob, control: JobControl, slot: OwnedSemaphorePermit) {
    let id = job.id.clone();
    ctx.tally.started(&job);
    let began = std::time::Instant::now();
    let timeout = job.timeout.unwrap_or(ctx.default_timeout);
    let timer = {
        let control = control.clone();
        cancel_after(timeout, move || control.stop(StopReason::Timeout))
    };
    // The call runs in its own task so that even a panic below ends the job honestly.
    let task = {
        let (ctx, job, token) = (ctx.clone(), job.clone(), control.token.clone());
        tokio::spawn(async move { attempt(&ctx, &job, &token).await })
    };
    let ended = task.await.unwrap_or_else(|e| {
        tracing::error!(job_id = %id, error = %e, "job task panicked");
        Ended::Failed(error("internal_error", "the gateway failed while running this job".into()), None)
    });
    drop(timer);
    let outcome = match ended {
        Ended::Committed => {
            ctx.tally.ended(&job, JobStatus::Completed, began.elapsed());
            ctx.events.wrote();
            return ctx.writer.done(&id);
        }
        Ended::Fenced => {
            tracing::warn!(job_id = %id, attempt = job.attempt, "the job was taken over while its call ran: the call's effects were rolled back");
            return ctx.writer.done(&id);
        }
        Ended::Ran(values, output) => Outcome::completed(id, job.attempt, values, output),
        Ended::Failed(err, output) => {
            let requested = control.reason() == Some(StopReason::Requested);
            let ended = explain_stop(err, control.reason(), timeout);
            Outcome { output, ..failed_attempt(&ctx, &job, ended, requested) }
        }
    };
    ctx.tally.ended(&job, outcome.status, began.elapsed());
    if let Some(e) = &outcome.error {
        tracing::info!(job_id = %outcome.id, status = %outcome.status, code = %e.code, attempt = job.attempt, "job attempt ended");
    }
    ctx.writer.finish(outcome).await;
    drop(slot);
}

/// One attempt: plan the call again, run it with the job's completion.
async fn attempt(ctx: &RunContext, job: &ClaimedJob, token: &tokio_util::sync::CancellationToken) -> Ended {
    let params: Vec<ParamRequest> = match serde_json::from_value(job.params.clone()) {
        Ok(p) => p,
        Err(e) => {
            return Ended::Failed(error("invalid_params", format!("stored parameters are unreadable: {e}")), None)
        }
    };
    let mut prepared = match ctx.catalog.prepare(&job.procedure_name, None, &params, job.is_function).await {
        Ok(p) => p,
        Err(e) => return Ended::Failed(error(call_error_code(&e), e.to_string()), None),
    };
    prepared.plan.capture_output = job.capture_output;
    let sink = ctx.writer.sink_for(job.id.clone());
    let fence = AttemptFence { job_id: job.id.clone(), instance_id: ctx.instance_id.clone(), attempt: job.attempt };
    match ctx.catalog.backend().call_job(&prepared.plan, &fence, &sink, token).await {
        Ok(JobCall::Completed) => Ended::Committed,
        Ok(JobCall::Fenced) => Ended::Fenced,
        Ok(JobCall::CompletionToWrite(done)) => Ended::Ran(done.values, done.output),
        Err(CallFailure { error: e, output, .. }) if e.kind == DbErrorKind::Cancelled => {
            Ended::Failed(JobError { code: "cancelled".into(), message: e.message }, output)
        }
        Err(failure) => Ended::Failed(failure.error.to_job_error(), failure.output),
    }
}

/// An interrupted call's error says why it was interrupted.
fn explain_stop(err: JobError, reason: Option<StopReason>, timeout: Duration) -> (JobStatus, JobError) {
    if err.code != "cancelled" {
        return (JobStatus::Failed, err);
    }
    match reason {
        Some(StopReason::Requested) | None => {
            (JobStatus::Cancelled, error("cancelled", "cancelled by request while running".into()))
        }
        Some(StopReason::Timeout) => (
            JobStatus::Failed,
            error("timeout", format!("the call ran longer than its timeout ({timeout:?}) and was interrupted")),
        ),
        Some(StopReason::Shutdown) => (
            JobStatus::Failed,
            error("shutdown", "the gateway shut down while the call ran; the call was interrupted".into()),
        ),
    }
}

/// A failed attempt ends the job, or sends it back to `pending` when its policy allows another.
/// A job whose cancellation was requested is never retried, whatever its last error.
fn failed_attempt(
    ctx: &RunContext,
    job: &ClaimedJob,
    (status, err): (JobStatus, JobError),
    cancel_requested: bool,
) -> Outcome {
    let retry_in = match (&job.retry, status) {
        (Some(policy), JobStatus::Failed)
            if !cancel_requested && job.attempt < policy.max_attempts && ctx.retryable.contains(&err) =>
        {
            let jitter = uuid::Uuid::new_v4().as_u128() as f64 / u128::MAX as f64;
            Some(policy.delay_before(job.attempt + 1, jitter))
        }
        _ => None,
    };
    Outcome {
        id: job.id.clone(),
        attempt: job.attempt,
        status: if retry_in.is_some() { JobStatus::Pending } else { status },
        result: None,
        error: Some(err),
        retry_in,
        output: None,
    }
}

fn error(code: &str, message: String) -> JobError {
    JobError { code: code.into(), message }
}

fn call_error_code(e: &CallError) -> &'static str {
    match e {
        CallError::InvalidName(_) => "invalid_procedure_name",
        CallError::NotAllowed(_) | CallError::NotAllowedForClient(_) => "procedure_not_allowed",
        CallError::NotFound(_) => "procedure_not_found",
        CallError::Invalid(p) => p.code,
        CallError::Database(_) => "database_unavailable",
    }
}
