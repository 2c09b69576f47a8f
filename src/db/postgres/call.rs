//! Executing a planned call: SQL text built from the resolved, quoted name and positional
//! binds only; every value travels as text and is cast to the catalog's declared type, so
//! numbers and times keep their exact form.
//!
//! A job's attempt runs as `BEGIN; CALL …; UPDATE async_jobs … (fenced); COMMIT` on one
//! connection: its effects are committed exactly when the job is completed, and rolled back
//! when the job is no longer this attempt's (rescued or taken over meanwhile) or the gateway
//! dies before the COMMIT.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use postgres_types::{ToSql, Type};
use serde_json::{Map, Value as Json};
use tokio_postgres::{Row, Statement};
use tokio_util::sync::CancellationToken;

use crate::db::output::ByteCounter;
use crate::db::{CallFailure, CallOutput, DbError, DbErrorKind, JobCall, OutValues, ResultLimits};
use crate::model::{AttemptFence, Milestone, NoProgress, Outcome, ProgressSink};
use crate::procedure::name::quote_identifier;
use crate::procedure::plan::{BoundArg, CallPlan};
use crate::procedure::signature::RoutineKind;
use crate::procedure::types::ParamType;

use super::connect::{Object, Pool, PooledConnection};
use super::decode::PgJson;
use super::error::{map_error, map_pool_error, QUERY_CANCELED};
use super::store;

const CALL_WROTE_SQL: &str = include_str!("../../../sql/postgres/queries/call_wrote.sql");

/// The statement for a plan and its text binds, in `$n` order.
#[derive(Debug, PartialEq)]
pub(super) struct CallStatement {
    pub sql: String,
    pub binds: Vec<Option<String>>,
}

pub(super) fn build_statement(plan: &CallPlan) -> CallStatement {
    let sig = &plan.signature;
    // A function's OUT arguments are its result columns, not call arguments.
    let call_args: Vec<_> = plan.args.iter().filter(|b| sig.in_call_list(&b.arg)).collect();
    // Unnamed arguments can only be passed by position, and positional arguments come first:
    // every argument up to the last unnamed one goes by position (the planner made sure none of
    // them was left out), the rest by name, so defaulted ones may still be omitted.
    let positional = call_args.iter().rposition(|b| b.arg.is_unnamed()).map_or(0, |i| i + 1);
    let mut binds = Vec::new();
    let mut args = Vec::new();
    for (i, b) in call_args.iter().enumerate() {
        let value = if b.arg.direction.takes_value() {
            binds.push(b.value.to_sql_text());
            format!("CAST(${} AS {})", binds.len(), b.arg.db_type)
        } else {
            format!("CAST(NULL AS {})", b.arg.db_type)
        };
        args.push(if i < positional { value } else { format!("{} => {value}", quote_identifier(&b.arg.name)) });
    }
    let call = format!("{}({})", sig.quoted_name(), args.join(", "));
    let sql = match sig.kind {
        RoutineKind::Procedure => format!("CALL {call}"),
        RoutineKind::Function if sig.returns.is_some() => format!("SELECT {call} AS \"return\""),
        // A `void` function (no return value, no OUT arguments): no column to read.
        RoutineKind::Function if !sig.args.iter().any(|a| a.direction.returns_value()) => {
            format!("SELECT FROM {call}")
        }
        RoutineKind::Function => format!("SELECT * FROM {call}"),
    };
    CallStatement { sql, binds }
}

/// SQLSTATE of a `COMMIT` inside a routine called in a transaction block.
const INVALID_TRANSACTION_TERMINATION: &str = "2D000";

/// SQLSTATE of a write inside a read-only transaction.
const READ_ONLY_SQL_TRANSACTION: &str = "25006";

/// Consecutive attempts of a routine that wrote nothing before its calls are run read-only.
const READ_ONLY_AFTER: u32 = 3;

/// What this instance has learnt about how each routine's calls commit (by quoted name), so
/// each job's call runs the cheapest way that keeps its guarantee:
/// - a routine that commits by itself cannot run inside the job's transaction (its `COMMIT`
///   fails with 2D000 and everything it did is rolled back): it runs on its own from then on,
///   and its jobs are at-least-once;
/// - a routine whose last calls wrote nothing runs in a `READ ONLY` transaction, sent in one
///   round trip with its COMMIT, and its completion joins the writer's batch. Should it write
///   after all, PostgreSQL refuses the write (25006) and rolls the call back, and it runs again
///   with its completion — so its effect stays exactly-once;
/// - any other runs with its completion, in one transaction.
#[derive(Default)]
pub(super) struct RoutineHabits(Mutex<HashMap<String, Habit>>);

#[derive(Debug, Clone, Copy, Default)]
struct Habit {
    commits_itself: bool,
    /// Consecutive attempts that wrote nothing.
    calls_without_writes: u32,
}

/// How a job's call is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    OnItsOwn,
    ReadOnly,
    WithCompletion,
}

impl RoutineHabits {
    fn mode(&self, routine: &str) -> Mode {
        let habit = self.0.lock().expect("routine habits lock").get(routine).copied().unwrap_or_default();
        if habit.commits_itself {
            Mode::OnItsOwn
        } else if habit.calls_without_writes >= READ_ONLY_AFTER {
            Mode::ReadOnly
        } else {
            Mode::WithCompletion
        }
    }

    fn update(&self, routine: &str, change: impl FnOnce(&mut Habit)) {
        let mut habits = self.0.lock().expect("routine habits lock");
        if habits.len() > 10_000 && !habits.contains_key(routine) {
            habits.clear();
        }
        change(habits.entry(routine.to_string()).or_default());
    }
}

/// How a call's work is committed.
#[derive(Clone, Copy)]
enum Commit<'a> {
    /// On its own: autocommit, or one transaction when it returns cursors (a cursor lives
    /// only until its transaction ends).
    Alone,
    /// In one transaction with the job's completion, which is fenced on the attempt.
    WithJob(&'a AttemptFence),
    /// In a `READ ONLY` transaction: a job's call that is expected to write nothing.
    ReadOnly,
}

/// How a call that succeeded was committed.
enum Ran {
    /// On its own (or, for a job's call that wrote nothing, with nothing to commit): a job's
    /// completion is still to be written.
    Alone,
    /// Its effects and the job's completion are committed; `call_wrote`: whether the call
    /// itself wrote anything.
    Completed { call_wrote: bool },
    /// The fence matched no row: its effects were rolled back.
    Fenced,
}

/// A synchronous call: not a job, committed on its own.
pub(super) async fn execute(
    pool: &Pool,
    limits: ResultLimits,
    plan: &CallPlan,
    cancel: &CancellationToken,
) -> Result<CallOutput, CallFailure> {
    execute_with(pool, limits, plan, &NoProgress, cancel, Commit::Alone).await.map(|(output, _)| output)
}

/// One attempt of a job: its call and its completion commit together (see `Commit::WithJob`),
/// unless the routine commits by itself or is expected to write nothing (see `RoutineHabits`).
pub(super) async fn execute_job(
    pool: &Pool,
    limits: ResultLimits,
    habits: &RoutineHabits,
    plan: &CallPlan,
    fence: &AttemptFence,
    progress: &dyn ProgressSink,
    cancel: &CancellationToken,
) -> Result<JobCall, CallFailure> {
    let routine = plan.signature.quoted_name();
    let mut mode = habits.mode(&routine);
    if mode == Mode::ReadOnly {
        match execute_with(pool, limits, plan, progress, cancel, Commit::ReadOnly).await {
            Ok((output, _)) => return Ok(JobCall::CompletionToWrite(output)),
            Err(f) if f.error.code == READ_ONLY_SQL_TRANSACTION && !cancel.is_cancelled() => {
                tracing::debug!(routine = %routine, "a call expected to write nothing wrote: running it again with its completion");
                habits.update(&routine, |h| h.calls_without_writes = 0);
                mode = Mode::WithCompletion;
            }
            Err(f) => return Err(f),
        }
    }
    if mode == Mode::WithCompletion {
        match execute_with(pool, limits, plan, progress, cancel, Commit::WithJob(fence)).await {
            Ok((output, ran)) => {
                let wrote = match ran {
                    Ran::Alone => false,
                    Ran::Completed { call_wrote } => call_wrote,
                    Ran::Fenced => true,
                };
                habits
                    .update(&routine, |h| h.calls_without_writes = if wrote { 0 } else { h.calls_without_writes + 1 });
                return Ok(match ran {
                    Ran::Fenced => JobCall::Fenced,
                    Ran::Alone => JobCall::CompletionToWrite(output),
                    Ran::Completed { .. } => JobCall::Completed,
                });
            }
            Err(f) if f.error.code == INVALID_TRANSACTION_TERMINATION && !cancel.is_cancelled() => {
                tracing::info!(
                    routine = %routine,
                    "this routine commits by itself: it runs outside the job's transaction from now on, \
                     and its jobs are at-least-once"
                );
                habits.update(&routine, |h| h.commits_itself = true);
            }
            Err(f) => return Err(f),
        }
    }
    let (output, _) = execute_with(pool, limits, plan, progress, cancel, Commit::Alone).await?;
    Ok(JobCall::CompletionToWrite(output))
}

/// Waits for a call connection, unless `cancel` fires first.
async fn connection(pool: &Pool, cancel: &CancellationToken) -> Result<Object, DbError> {
    tokio::select! {
        biased;
        _ = cancel.cancelled() => {
            Err(DbError::new(DbErrorKind::Cancelled, "cancelled", "cancelled while waiting for a free connection"))
        }
        client = pool.get() => client.map_err(map_pool_error),
    }
}

async fn execute_with(
    pool: &Pool,
    limits: ResultLimits,
    plan: &CallPlan,
    progress: &dyn ProgressSink,
    cancel: &CancellationToken,
    commit: Commit<'_>,
) -> Result<(CallOutput, Ran), CallFailure> {
    let asked = Instant::now();
    let client = connection(pool, cancel).await?;
    let waited = asked.elapsed();
    progress.attached(&client.backend_pid.to_string());
    let stmt = build_statement(plan);
    progress.reached(Milestone::ParamsBound);
    let types = vec![Type::TEXT; stmt.binds.len()];
    let prepared = client.prepare_typed_cached(&stmt.sql, &types).await.map_err(|e| CallFailure {
        error: map_error(e),
        output: None,
        waited,
    })?;
    progress.reached(Milestone::Prepared);
    let params: Vec<&(dyn ToSql + Sync)> = stmt.binds.iter().map(|b| b as &(dyn ToSql + Sync)).collect();

    let (result, output, reusable) = run(&client, limits, plan, &prepared, &params, progress, cancel, commit).await;
    // A connection in an unknown state is not handed back to the pool; neither is one a cancel
    // request was sent for: the request travels on its own connection and may land after the
    // statement ended on its own, cancelling whatever the next holder runs.
    if !reusable || cancel.is_cancelled() {
        let _ = Object::take(client);
    }
    match result {
        Ok((values, ran)) => Ok((CallOutput { values, output, waited }, ran)),
        Err(error) => Err(CallFailure { error, output, waited }),
    }
}

/// Runs the prepared call — with the job's completion when `commit` says so — and reads its OUT
/// values and the lines it wrote. Also says whether the connection may go back to the pool.
#[allow(clippy::too_many_arguments)]
async fn run(
    client: &Object,
    limits: ResultLimits,
    plan: &CallPlan,
    prepared: &Statement,
    params: &[&(dyn ToSql + Sync)],
    progress: &dyn ProgressSink,
    cancel: &CancellationToken,
    commit: Commit<'_>,
) -> (Result<(OutValues, Ran), DbError>, Option<Vec<String>>, bool) {
    if let Commit::WithJob(fence) = commit {
        if returns_nothing(plan) {
            return run_in_one_trip(client, prepared, params, progress, cancel, fence).await;
        }
    }
    let in_transaction = !matches!(commit, Commit::Alone) || plan.has_cursor_output();
    // A read-only call without cursors is sent with its BEGIN and its COMMIT: one round trip.
    let one_trip = matches!(commit, Commit::ReadOnly) && !plan.has_cursor_output();
    // From here to `end_call` the connection carries this call's statements only (see notices.rs).
    client.notices.begin_call(plan.capture_output, progress.shared());
    let called = async {
        let call = cancellable(client, cancel, client.query(prepared, params));
        let (rows, wrote) = match commit {
            Commit::Alone if !in_transaction => (call.await?, true),
            Commit::Alone => {
                // BEGIN and the call travel together: one round trip.
                let (begun, rows) = tokio::join!(biased; client.batch_execute("BEGIN"), call);
                begun.map_err(map_error)?;
                (rows?, true)
            }
            Commit::ReadOnly if one_trip => {
                (store::in_transaction(client, "BEGIN TRANSACTION READ ONLY", call).await?, false)
            }
            Commit::ReadOnly => {
                let (begun, rows) = tokio::join!(biased; client.batch_execute("BEGIN TRANSACTION READ ONLY"), call);
                begun.map_err(map_error)?;
                (rows?, false)
            }
            Commit::WithJob(_) => {
                let wrote = client.prepare_cached(CALL_WROTE_SQL).await.map_err(map_error)?;
                // BEGIN, the call and the question whether it wrote: one round trip.
                let (begun, rows, wrote) =
                    tokio::join!(biased; client.batch_execute("BEGIN"), call, client.query_one(&wrote, &[]));
                begun.map_err(map_error)?;
                let rows = rows?;
                (rows, wrote.map_err(map_error)?.get::<_, bool>(0))
            }
        };
        progress.reached(Milestone::Executed);
        let mut out = row_values(plan, rows.first())?;
        drop(rows);
        fetch_cursors(client, limits, plan, &mut out, cancel).await?;
        limits.check(&out)?;
        Ok((out, wrote))
    }
    .await;
    let output = client.notices.end_call();
    // Autocommit, or a read-only call whose COMMIT went with it (a failed call's transaction
    // was rolled back by that COMMIT): nothing is left open.
    if !in_transaction || one_trip {
        return (called.map(|(values, _)| (values, Ran::Alone)), output, true);
    }
    let (values, wrote) = match called {
        Ok(called) => called,
        Err(e) => return (Err(e), output, end(client, "ROLLBACK").await.is_ok()),
    };
    // A job's call that wrote nothing has nothing to commit with its completion: ending its
    // transaction costs no WAL flush, and the completion joins the writer's batch.
    let (Commit::WithJob(fence), true) = (commit, wrote) else {
        let committed = end(client, "COMMIT").await;
        let reusable = committed.is_ok();
        return (committed.map(|()| (values, Ran::Alone)), output, reusable);
    };
    // The completion and the COMMIT travel together: one round trip (see complete_with_call.sql).
    // The values go into the completion (nobody reads them after it); the lines stay with the
    // attempt in case the completion fails.
    let completion = Outcome::completed(fence.job_id.clone(), fence.attempt, values, output.clone());
    let stmt = match store::prepare_complete_with_call(client).await {
        Ok(stmt) => stmt,
        Err(e) => return (Err(e), output, end(client, "ROLLBACK").await.is_ok()),
    };
    let (completed, committed) =
        tokio::join!(biased; store::complete_with_call(client, &stmt, fence, &completion), end(client, "COMMIT"));
    let reusable = committed.is_ok();
    (settled(completed, committed, true).map(|ran| (Map::new(), ran)), output, reusable)
}

/// A procedure with no OUT value, whose lines are not captured: its completion is known before
/// it runs (`result = {}`).
fn returns_nothing(plan: &CallPlan) -> bool {
    plan.signature.kind == RoutineKind::Procedure
        && !plan.capture_output
        && !plan.args.iter().any(|b| b.arg.direction.returns_value())
}

/// A job's call whose completion is known before it runs: BEGIN, the call, "did it write?", the
/// completion and the COMMIT, all in one round trip. A failed call aborts the transaction, so
/// the completion fails with it and the COMMIT rolls back; a lost fence does the same (see
/// complete_with_call.sql).
async fn run_in_one_trip(
    client: &Object,
    prepared: &Statement,
    params: &[&(dyn ToSql + Sync)],
    progress: &dyn ProgressSink,
    cancel: &CancellationToken,
    fence: &AttemptFence,
) -> (Result<(OutValues, Ran), DbError>, Option<Vec<String>>, bool) {
    let statements = async {
        let wrote = client.prepare_cached(CALL_WROTE_SQL).await.map_err(map_error)?;
        Ok::<_, DbError>((wrote, store::prepare_complete_with_call(client).await?))
    };
    let (wrote_stmt, complete_stmt) = match statements.await {
        Ok(prepared) => prepared,
        Err(e) => return (Err(e), None, true),
    };
    // Checked once, here: the completion below must never be sent without the call before it.
    if cancel.is_cancelled() {
        return (Err(cancelled_before_start()), None, true);
    }
    let completion = Outcome::completed(fence.job_id.clone(), fence.attempt, Map::new(), None);
    client.notices.begin_call(false, progress.shared());
    let (begun, called, wrote, completed, committed) = tokio::join!(
        biased;
        client.batch_execute("BEGIN"),
        interruptible(client, cancel, client.query(prepared, params)),
        client.query_one(&wrote_stmt, &[]),
        store::complete_with_call(client, &complete_stmt, fence, &completion),
        end(client, "COMMIT"),
    );
    client.notices.end_call();
    let reusable = committed.is_ok();
    if let Err(e) = begun {
        return (Err(map_error(e)), None, false);
    }
    if let Err(e) = called {
        return (Err(e), None, reusable);
    }
    progress.reached(Milestone::Executed);
    let call_wrote = wrote.map(|row| row.get::<_, bool>(0)).unwrap_or(true);
    (settled(completed, committed, call_wrote).map(|ran| (Map::new(), ran)), None, reusable)
}

/// What a completion sent with its COMMIT came to. When the COMMIT itself failed, whether it
/// took effect is unknown: the caller does not reuse the connection.
fn settled(completed: Result<(), DbError>, committed: Result<(), DbError>, call_wrote: bool) -> Result<Ran, DbError> {
    match (completed, committed) {
        (Ok(()), Ok(())) => Ok(Ran::Completed { call_wrote }),
        (Err(e), Ok(())) if e.code == store::FENCE_LOST => Ok(Ran::Fenced),
        (Err(e), Ok(())) => Err(unwritable(e)),
        (_, Err(e)) => Err(e),
    }
}

/// Ends the call's transaction.
async fn end(client: &Object, statement: &str) -> Result<(), DbError> {
    client.batch_execute(statement).await.map_err(map_error)
}

/// The call ended but the job's completion could not be written (a result the database cannot
/// store): the attempt fails, and the call's effects were rolled back with it.
fn unwritable(e: DbError) -> DbError {
    if e.kind == DbErrorKind::Unavailable {
        return e;
    }
    DbError::statement(
        "unwritable_result",
        format!("the call ended, but its result could not be stored, so its effects were rolled back: {}", e.message),
    )
}

/// Runs `query`; when `cancel` fires, asks the server to cancel it and waits for the statement
/// to end, so the connection goes back to the pool idle. A cancel request that reaches the
/// server before the statement starts executing is a no-op there, so it is repeated until the
/// statement ends; a statement is not started at all once `cancel` has fired.
async fn cancellable<T>(
    client: &PooledConnection,
    cancel: &CancellationToken,
    query: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, DbError> {
    if cancel.is_cancelled() {
        return Err(cancelled_before_start());
    }
    interruptible(client, cancel, query).await
}

fn cancelled_before_start() -> DbError {
    DbError::new(DbErrorKind::Cancelled, "cancelled", "cancelled before the call started")
}

/// Runs `query` to its end — it is always sent, so statements pipelined after it see it run —
/// asking the server to cancel it if `cancel` fires meanwhile.
async fn interruptible<T>(
    client: &PooledConnection,
    cancel: &CancellationToken,
    query: impl std::future::Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, DbError> {
    tokio::pin!(query);
    let result = tokio::select! {
        biased;
        r = &mut query => r,
        _ = cancel.cancelled() => loop {
            client.cancel_query().await;
            tokio::select! {
                r = &mut query => break r,
                _ = tokio::time::sleep(std::time::Duration::from_millis(250)) => {}
            }
        },
    };
    result.map_err(|e| {
        let mut err = map_error(e);
        if err.code == QUERY_CANCELED && cancel.is_cancelled() {
            err.kind = DbErrorKind::Cancelled;
        }
        err
    })
}

/// The OUT values from the call's result row, by argument name.
fn row_values(plan: &CallPlan, row: Option<&Row>) -> Result<OutValues, DbError> {
    let mut out = Map::new();
    let Some(row) = row else { return Ok(out) };
    let returning: Vec<&BoundArg> = plan.args.iter().filter(|b| b.arg.direction.returns_value()).collect();
    for (i, col) in row.columns().iter().enumerate() {
        let value = row
            .try_get::<_, PgJson>(i)
            .map_err(|e| DbError::statement("unsupported_type", format!("OUT parameter {}: {e}", col.name())))?
            .0;
        let key = match (&plan.return_key, col.name()) {
            (Some(k), "return") if plan.signature.returns.is_some() => k.clone(),
            // An unnamed OUT argument comes back as `column1`…: key it by its position, `$n`.
            (_, name) => plan
                .args
                .iter()
                .find(|b| b.arg.name == name)
                .or_else(|| returning.get(i).filter(|b| b.arg.is_unnamed()).copied())
                .map(|b| b.arg.name.clone())
                .unwrap_or_else(|| name.to_string()),
        };
        out.insert(key, value);
    }
    Ok(out)
}

/// Replaces each refcursor OUT value (a portal name) with its rows as objects (a call without
/// cursors costs nothing here).
/// Rows fetched from a cursor per round trip: memory stays bounded by the limits, never by the
/// cursor's size.
const FETCH_CHUNK: usize = 1000;

async fn fetch_cursors(
    client: &PooledConnection,
    limits: ResultLimits,
    plan: &CallPlan,
    out: &mut OutValues,
    cancel: &CancellationToken,
) -> Result<(), DbError> {
    let mut bytes = 0;
    for b in plan.args.iter().filter(|b| b.arg.param_type == ParamType::Cursor) {
        let Some(Json::String(portal)) = out.get(&b.arg.name).cloned() else { continue };
        let sql = format!("FETCH {FETCH_CHUNK} FROM {}", quote_identifier(&portal));
        let mut list = Vec::new();
        loop {
            let rows = cancellable(client, cancel, client.query(&sql, &[])).await?;
            let fetched = rows.len();
            for row in &rows {
                if list.len() >= limits.max_cursor_rows {
                    return Err(limits.too_many_rows(&b.arg.name));
                }
                let mut obj = Map::new();
                for (i, col) in row.columns().iter().enumerate() {
                    let v = row.try_get::<_, PgJson>(i).map_err(|e| {
                        DbError::statement("unsupported_type", format!("cursor column {}: {e}", col.name()))
                    })?;
                    obj.insert(col.name().to_string(), v.0);
                }
                let row = Json::Object(obj);
                let mut counter = ByteCounter(0);
                let _ = serde_json::to_writer(&mut counter, &row);
                bytes += counter.0 + 1;
                if bytes > limits.max_bytes {
                    return Err(limits.too_many_bytes());
                }
                list.push(row);
            }
            if fetched < FETCH_CHUNK {
                break;
            }
        }
        out.insert(b.arg.name.clone(), Json::Array(list));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::procedure::plan::BoundArg;
    use crate::procedure::signature::{Argument, Signature};
    use crate::procedure::types::Direction;
    use crate::procedure::value::Value;

    fn arg(name: &str, direction: Direction, db_type: &str) -> Argument {
        Argument {
            name: name.into(),
            direction,
            param_type: ParamType::String,
            db_type: db_type.into(),
            has_default: false,
        }
    }

    fn plan(kind: RoutineKind, args: Vec<BoundArg>, returns: bool) -> CallPlan {
        CallPlan {
            signature: Arc::new(Signature {
                schema: "public".into(),
                package: None,
                name: "Proc\"X".into(),
                kind,
                args: args.iter().map(|b| b.arg.clone()).collect(),
                returns: returns.then(|| arg("return", Direction::Out, "numeric")),
            }),
            args,
            return_key: None,
            normalized: vec![],
            capture_output: false,
        }
    }

    #[test]
    fn procedure_statement_uses_binds_and_quoted_names() {
        let p = plan(
            RoutineKind::Procedure,
            vec![
                BoundArg {
                    arg: arg("p_input", Direction::In, "character varying"),
                    value: Value::Text("x'; DROP".into()),
                },
                BoundArg { arg: arg("p_output", Direction::Out, "character varying"), value: Value::Null },
            ],
            false,
        );
        let s = build_statement(&p);
        assert_eq!(
            s.sql,
            "CALL \"public\".\"Proc\"\"X\"(\"p_input\" => CAST($1 AS character varying), \"p_output\" => CAST(NULL AS character varying))"
        );
        assert_eq!(s.binds, vec![Some("x'; DROP".to_string())]);
    }

    #[test]
    fn function_statements() {
        let a = BoundArg { arg: arg("a", Direction::In, "numeric"), value: Value::Number("1.5".into()) };
        let s = build_statement(&plan(RoutineKind::Function, vec![a.clone()], true));
        assert_eq!(s.sql, "SELECT \"public\".\"Proc\"\"X\"(\"a\" => CAST($1 AS numeric)) AS \"return\"");
        let o = BoundArg { arg: arg("o", Direction::Out, "numeric"), value: Value::Null };
        let s = build_statement(&plan(RoutineKind::Function, vec![a, o], false));
        assert_eq!(s.sql, "SELECT * FROM \"public\".\"Proc\"\"X\"(\"a\" => CAST($1 AS numeric))");
    }

    #[test]
    fn void_functions_select_no_column() {
        let a = BoundArg { arg: arg("$1", Direction::In, "double precision"), value: Value::Text("0".into()) };
        let s = build_statement(&plan(RoutineKind::Function, vec![a], false));
        assert_eq!(s.sql, "SELECT FROM \"public\".\"Proc\"\"X\"(CAST($1 AS double precision))");
    }

    #[test]
    fn unnamed_arguments_go_by_position_then_named_ones_by_name() {
        let bound = |name: &str, direction, value: Value| BoundArg { arg: arg(name, direction, "integer"), value };
        // proc(int, INOUT text): every argument by position, OUT slots as typed NULLs.
        let p = plan(
            RoutineKind::Procedure,
            vec![
                bound("$1", Direction::In, Value::Text("1".into())),
                bound("$2", Direction::InOut, Value::Null),
                bound("$3", Direction::Out, Value::Null),
            ],
            false,
        );
        let s = build_statement(&p);
        assert_eq!(
            s.sql,
            "CALL \"public\".\"Proc\"\"X\"(CAST($1 AS integer), CAST($2 AS integer), CAST(NULL AS integer))"
        );
        assert_eq!(s.binds, vec![Some("1".to_string()), None]);
        // f(int, b int, c int DEFAULT ...) called with $1 and c: by position up to $1, then by name.
        let f = plan(
            RoutineKind::Function,
            vec![
                bound("$1", Direction::In, Value::Text("1".into())),
                bound("b", Direction::In, Value::Text("2".into())),
                bound("c", Direction::In, Value::Text("3".into())),
            ],
            true,
        );
        assert_eq!(
            build_statement(&f).sql,
            "SELECT \"public\".\"Proc\"\"X\"(CAST($1 AS integer), \"b\" => CAST($2 AS integer), \"c\" => CAST($3 AS integer)) AS \"return\""
        );
        // A function's unnamed OUT argument is a result column, not part of the call.
        let g = plan(
            RoutineKind::Function,
            vec![bound("a", Direction::In, Value::Text("1".into())), bound("$2", Direction::Out, Value::Null)],
            false,
        );
        assert_eq!(build_statement(&g).sql, "SELECT * FROM \"public\".\"Proc\"\"X\"(\"a\" => CAST($1 AS integer))");
    }
}
