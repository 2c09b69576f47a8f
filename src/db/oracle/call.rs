//! Running a planned call: the block from `block`, executed on a pooled session in the blocking
//! pool, its OUT values read back, and its `DBMS_OUTPUT` lines when asked (`output`); milestones
//! relayed to the async side, and a job's own progress reports read from its session's longops
//! while it runs (`longops`); cancellation by `Connection::break_execution` from another thread.
//!
//! A job's call and the conditional UPDATE that completes it commit together (one transaction
//! on the call's session); when the UPDATE matches no row (the job was rescued or taken over
//! meanwhile) both are rolled back. A procedure that commits by itself commits its own work
//! whenever it does so: its jobs are at-least-once (see docs/oracle.md).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use oracle::conn::CloseMode;
use oracle::pool::Pool;
use oracle::Connection;
use serde_json::Map;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::db::{CallFailure, CallOutput, DbError, DbErrorKind, JobCall, OutValues, ResultLimits};
use crate::model::{AttemptFence, Milestone, NoProgress, Outcome, ProgressSink};
use crate::procedure::plan::CallPlan;

use super::block::{build_block, out_key};
use super::convert::{as_declared, is_lob, needs_temp_lob, temp_lob, Arg, OutValue, PLSQL_INLINE_LOB};
use super::error::{map_error, map_pool_error, USER_CANCEL};
use super::longops::Watcher;
use super::output;
use super::store;

/// What the blocking side reports while a call runs.
enum Event {
    Reached(Milestone),
    /// The call's session, `SID,SERIAL#`.
    Attached(String),
}

/// How a call that succeeded was committed.
enum Ran {
    /// Committed on its own (a job's call that wrote nothing: its completion is still to write).
    Alone,
    Completed,
    Fenced,
}

/// How often a break is sent again while a cancelled call has not returned (a break that
/// arrives between two round trips can be missed).
const BREAK_REPEAT: Duration = Duration::from_millis(500);

/// The session a call runs on, shared with whoever has to interrupt it.
type Running = Arc<Mutex<Option<Arc<Connection>>>>;

/// Where and how often a job's longops are read while its call runs.
pub(super) struct Watch {
    /// A bookkeeping pool, never the calls' own.
    pub pool: Arc<Pool>,
    pub every: Duration,
}

/// A synchronous call: not a job, committed on its own.
pub(super) async fn execute(
    pool: &Arc<Pool>,
    limits: ResultLimits,
    plan: &CallPlan,
    cancel: &CancellationToken,
) -> Result<CallOutput, CallFailure> {
    execute_with(pool, limits, plan, None, &NoProgress, None, cancel).await.map(|(output, _)| output)
}

/// One attempt of a job: its call and its completion commit together.
pub(super) async fn execute_job(
    pool: &Arc<Pool>,
    limits: ResultLimits,
    plan: &CallPlan,
    fence: &AttemptFence,
    progress: &dyn ProgressSink,
    watch: Watch,
    cancel: &CancellationToken,
) -> Result<JobCall, CallFailure> {
    match execute_with(pool, limits, plan, Some(fence.clone()), progress, Some(watch), cancel).await? {
        (_, Ran::Fenced) => Ok(JobCall::Fenced),
        (output, Ran::Alone) => Ok(JobCall::CompletionToWrite(output)),
        (_, Ran::Completed) => Ok(JobCall::Completed),
    }
}

async fn execute_with(
    pool: &Arc<Pool>,
    limits: ResultLimits,
    plan: &CallPlan,
    fence: Option<AttemptFence>,
    progress: &dyn ProgressSink,
    watch: Option<Watch>,
    cancel: &CancellationToken,
) -> Result<(CallOutput, Ran), CallFailure> {
    let (events, mut milestones) = mpsc::unbounded_channel();
    let running: Running = Arc::default();
    let mut task = {
        let (pool, plan, cancel, running) = (pool.clone(), plan.clone(), cancel.clone(), running.clone());
        tokio::task::spawn_blocking(move || run(&pool, limits, &plan, fence.as_ref(), &events, &cancel, &running))
    };
    // Started once the call's session is known (jobs only), stopped before this returns.
    let mut watcher: Option<Watcher> = None;
    let mut report = |event: Event| match event {
        Event::Reached(m) => progress.reached(m),
        Event::Attached(session) => {
            progress.attached(&session);
            if let (Some(watch), Some(sink), None) = (&watch, progress.shared(), &watcher) {
                watcher = Watcher::start(watch.pool.clone(), &session, watch.every, sink);
            }
        }
    };
    let mut breaker: Option<tokio::time::Interval> = None;
    let joined = loop {
        tokio::select! {
            biased;
            Some(event) = milestones.recv() => report(event),
            r = &mut task => break r,
            _ = cancel.cancelled(), if breaker.is_none() => {
                breaker = Some(tokio::time::interval(BREAK_REPEAT));
            }
            _ = tick(&mut breaker), if breaker.is_some() => send_break(&running),
        }
    };
    while let Ok(event) = milestones.try_recv() {
        report(event);
    }
    if let Some(watcher) = watcher {
        watcher.stop().await;
    }
    joined.unwrap_or_else(|e| {
        tracing::error!(error = %e, "Oracle call task failed");
        Err(DbError::statement("internal_error", "the gateway failed while running this call").into())
    })
}

async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(i) => {
            i.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Interrupts the running call, from a blocking thread (a break is a round trip).
fn send_break(running: &Running) {
    let conn = running.lock().expect("running lock").clone();
    if let Some(conn) = conn {
        tokio::task::spawn_blocking(move || {
            if let Err(e) = conn.break_execution() {
                tracing::debug!(error = %e, "break_execution failed");
            }
        });
    }
}

fn cancelled() -> DbError {
    DbError::new(DbErrorKind::Cancelled, USER_CANCEL, "user requested cancel of current operation")
}

/// ORA-01013 is `Cancelled` only when procgate asked for it.
fn call_error(e: &oracle::Error, cancel: &CancellationToken) -> DbError {
    let mut err = map_error(e);
    if err.code == USER_CANCEL && cancel.is_cancelled() {
        err.kind = DbErrorKind::Cancelled;
    }
    err
}

fn run(
    pool: &Pool,
    limits: ResultLimits,
    plan: &CallPlan,
    fence: Option<&AttemptFence>,
    events: &mpsc::UnboundedSender<Event>,
    cancel: &CancellationToken,
    running: &Running,
) -> Result<(CallOutput, Ran), CallFailure> {
    if cancel.is_cancelled() {
        return Err(cancelled().into());
    }
    let asked = std::time::Instant::now();
    let conn = Arc::new(pool.get().map_err(|e| map_pool_error(&e))?);
    let waited = asked.elapsed();
    if fence.is_some() {
        match store::session_id(&conn) {
            Ok(session) => {
                let _ = events.send(Event::Attached(session));
            }
            Err(e) => tracing::debug!(error = %e, "could not read the call's session id"),
        }
    }
    // Checked once the values are read (Oracle's cursor rows are read by the conversion).
    let result = run_on(&conn, plan, events, cancel, running).and_then(|out| limits.check(&out).map(|()| out));
    running.lock().expect("running lock").take();
    // The lines are read on this same session, after a failed call too. Not after an
    // interrupted one: a break may still be pending on the session, which is dropped anyway.
    let collected = (plan.capture_output && !cancel.is_cancelled()).then(|| output::collect(&conn));
    let output_clean = collected.as_ref().is_none_or(|c| c.clean);
    let output = collected.map(|c| c.lines);
    let ended = match (&result, fence) {
        // A synchronous call's work is committed with it, as a CALL in autocommit mode would be.
        (Ok(_), None) => conn.commit().map(|()| Ran::Alone).map_err(|e| call_error(&e, cancel)),
        (Ok(values), Some(fence)) => match store::call_wrote(&conn) {
            // Nothing to commit with the completion: it joins the writer's batch instead.
            Ok(false) => conn.commit().map(|()| Ran::Alone).map_err(|e| call_error(&e, cancel)),
            Ok(true) => complete(&conn, fence, values, output.clone(), cancel),
            Err(e) => Err(e),
        },
        (Err(_), _) => conn.rollback().map(|()| Ran::Alone).map_err(|e| map_error(&e)),
    };
    if cancel.is_cancelled() || ended.is_err() || !output_clean {
        // A break may still be pending on this session, its state is unknown, or its output
        // buffer may still hold lines: it leaves the pool.
        if let Err(e) = conn.close_with_mode(CloseMode::Drop) {
            tracing::debug!(error = %e, "could not drop an interrupted Oracle session");
        }
    }
    match (result, ended) {
        (Ok(values), Ok(ran)) => Ok((CallOutput { values, output, waited }, ran)),
        (Ok(_), Err(error)) | (Err(error), _) => Err(CallFailure { error, output, waited }),
    }
}

/// Writes the job's completion in the call's transaction and commits both — or rolls both
/// back when the fence matches no row.
fn complete(
    conn: &Connection,
    fence: &AttemptFence,
    values: &OutValues,
    output: Option<Vec<String>>,
    cancel: &CancellationToken,
) -> Result<Ran, DbError> {
    let completion = Outcome::completed(fence.job_id.clone(), fence.attempt, values.clone(), output);
    match store::finish_uncommitted(conn, &fence.instance_id, &[completion]) {
        Ok(written) if !written.is_empty() => {
            conn.commit().map(|()| Ran::Completed).map_err(|e| call_error(&e, cancel))
        }
        Ok(_) => conn.rollback().map(|()| Ran::Fenced).map_err(|e| map_error(&e)),
        Err(e) => {
            let _ = conn.rollback();
            Err(if e.kind == DbErrorKind::Unavailable {
                e
            } else {
                DbError::statement(
                    "unwritable_result",
                    format!(
                        "the call ended, but its result could not be stored, so its effects were rolled back: {}",
                        e.message
                    ),
                )
            })
        }
    }
}

fn run_on(
    conn: &Arc<Connection>,
    plan: &CallPlan,
    events: &mpsc::UnboundedSender<Event>,
    cancel: &CancellationToken,
    running: &Running,
) -> Result<OutValues, DbError> {
    let block = build_block(plan)?;
    let _ = events.send(Event::Reached(Milestone::ParamsBound));
    *running.lock().expect("running lock") = Some(conn.clone());
    // A LOB value too long for an inline bind goes as a temporary LOB; the statement then binds
    // (and returns) every LOB as a locator.
    let locators = block.binds.iter().any(|b| needs_temp_lob(&b.spec, PLSQL_INLINE_LOB));
    let mut builder = conn.statement(&block.sql);
    if locators {
        builder.lob_locator();
    }
    let mut stmt = builder.build().map_err(|e| call_error(&e, cancel))?;
    for b in &block.binds {
        let arg =
            if locators && is_lob(&b.spec.oratype) { temp_lob(conn, &b.spec)? } else { Arg::Inline(b.spec.clone()) };
        stmt.bind(b.position, &arg).map_err(|e| call_error(&e, cancel))?;
    }
    let _ = events.send(Event::Reached(Milestone::Prepared));
    if cancel.is_cancelled() {
        return Err(cancelled());
    }
    stmt.execute(&[]).map_err(|e| call_error(&e, cancel))?;
    let _ = events.send(Event::Reached(Milestone::Executed));
    let mut out = Map::new();
    for b in block.binds.iter().filter(|b| b.returns) {
        let key = out_key(plan, b.slot);
        let OutValue(value) = stmt.bind_value::<usize, OutValue>(b.position).map_err(|e| call_error(&e, cancel))?;
        let value = value.map_err(|mut e| {
            if e.code == USER_CANCEL && cancel.is_cancelled() {
                e.kind = DbErrorKind::Cancelled;
            } else if e.code == "unsupported_type" {
                e.message = format!("{key}: {}", e.message);
            }
            e
        })?;
        out.insert(key, as_declared(value, b.param_type));
    }
    Ok(out)
}
