//! The job table's hot statements read only the jobs they change, whatever the table's statistics
//! say (issue 13 §3). Left to its estimates, PostgreSQL planned the claim on a table filled seconds
//! earlier (never analyzed) as "read every pending row, sort them, keep 16", and the outcome
//! writer's UPDATE as "read every running job through async_jobs_running_idx" (a bitmap scan,
//! which never marks dead entries, so each write read more than the last): a claim cost 13-20 ms
//! at 20,000 pending jobs instead of 0.1 ms, a write 2.5 ms and 1,000 buffers, and the same
//! benchmark drained up to 3× slower in the runs that hit it. Here the statements run as procgate
//! sends them (the claim after claim_plan.sql, in the same transaction) under
//! `EXPLAIN (ANALYZE, FORMAT JSON)`, rolled back, on the two tables that misled the planner: one
//! filled and never analyzed, and one analyzed while it held only ended jobs; and with plans made
//! while the table was empty (PostgreSQL may keep a plan made then). No scan may look at more rows
//! (returned, or dropped by its filter or recheck) than the statement changes, with a little slack
//! for the limited claim's over-fetch and for the dead row versions a primary-key lookup meets;
//! none may scan the whole table; a write by id reads through the primary key only, and the claim
//! may neither sort nor build a bitmap.
//! Not in the contract suite: plans are PostgreSQL's; Oracle claims through a cursor in PL/SQL.

use serde_json::Value as Json;

use crate::helpers::*;

const CLAIM_PLAN: &str = include_str!("../../sql/postgres/queries/claim_plan.sql");
const CLAIM: &str = include_str!("../../sql/postgres/queries/claim.sql");
const CANDIDATES: &str = include_str!("../../sql/postgres/queries/claim_candidates.sql");
const PICKED: &str = include_str!("../../sql/postgres/queries/claim_picked.sql");
const FINISH: &str = include_str!("../../sql/postgres/queries/finish.sql");
const BY_ID_PLAN: &str = include_str!("../../sql/postgres/queries/by_id_plan.sql");
const COMPLETE_WITH_CALL: &str = include_str!("../../sql/postgres/queries/complete_with_call.sql");
const PROGRESS: &str = include_str!("../../sql/postgres/queries/record_progress.sql");
const HEARTBEAT: &str = include_str!("../../sql/postgres/queries/heartbeat.sql");
const HEARTBEAT_SKIPPED: &str = include_str!("../../sql/postgres/queries/heartbeat_skipped.sql");

const PENDING: i32 = 20_000;
const TAKE: i64 = 16;
/// Jobs running on this instance and on another one, when the writes by id are planned.
const RUNNING_HERE: i32 = 5_000;
const RUNNING_ELSEWHERE: i32 = 5_000;
/// The jobs each write by id changes.
const WRITE: usize = 7;
const INSTANCE: &str = "plan-test";

/// A fresh database whose job table autovacuum leaves alone during the test, so its statistics
/// are what the test made them, and a connection to it.
async fn table_without_autovacuum() -> (TestDatabase, tokio_postgres::Client) {
    let db = TestDatabase::create().await;
    let client = db.client().await;
    client.batch_execute("ALTER TABLE async_jobs SET (autovacuum_enabled = false)").await.unwrap();
    (db, client)
}

async fn insert_pending(db: &tokio_postgres::Client, n: i32) {
    db.execute(
        "INSERT INTO async_jobs (job_id, status, procedure_name, params, owner)
         SELECT md5('pending' || i), 'pending', 'PROC_TEST', '[]', 'bench' FROM generate_series(1, $1) i",
        &[&n],
    )
    .await
    .unwrap();
}

/// Every plan node, depth first.
fn nodes(plan: &Json) -> Vec<&Json> {
    let mut out = vec![plan];
    for child in plan["Plans"].as_array().into_iter().flatten() {
        out.extend(nodes(child));
    }
    out
}

/// Node types the claim may not have: it reads the pending index in claim order and stops.
const NOT_IN_A_CLAIM: &[&str] = &["Sort", "Seq Scan", "Bitmap Heap Scan", "Bitmap Index Scan"];
/// Node types a write by job id may not have (a bitmap of a few primary-key entries, or a sort of
/// the rows it names, is fine: the scans' row counts are checked).
const NOT_IN_A_WRITE_BY_ID: &[&str] = &["Seq Scan"];

/// Runs `execute` under EXPLAIN ANALYZE in the open transaction; checks that the plan has none of
/// the `forbidden` node types and that no scan of a table or an index reads more than `max_rows`.
/// Returns the node types ("Index Scan using async_jobs_pkey"), for the caller's own checks.
async fn assert_reads_only(
    tx: &tokio_postgres::Transaction<'_>,
    execute: &str,
    forbidden: &[&str],
    max_rows: u64,
    table: &str,
) -> Vec<String> {
    let row = tx.query_one(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {execute}"), &[]).await.unwrap();
    let explain: Json = row.get(0);
    let plan = &explain[0]["Plan"];
    let mut types = Vec::new();
    for node in nodes(plan) {
        let kind = node["Node Type"].as_str().unwrap_or_default().to_string();
        assert!(!forbidden.contains(&kind.as_str()), "{table}: {execute}: the plan has a {kind} node:\n{plan:#}");
        let scans = node.get("Relation Name").is_some() || node.get("Index Name").is_some();
        // Every row the node looked at: those it returned and those its filter or recheck dropped.
        let looked_at = ["Actual Rows", "Rows Removed by Filter", "Rows Removed by Index Recheck"]
            .iter()
            .map(|k| node[*k].as_u64().unwrap_or(0))
            .sum::<u64>();
        let rows = looked_at * node["Actual Loops"].as_u64().unwrap_or(1);
        assert!(
            !scans || rows <= max_rows,
            "{table}: {execute}: a {kind} node read {rows} rows (at most {max_rows} wanted):\n{plan:#}"
        );
        if let Some(index) = node["Index Name"].as_str() {
            types.push(format!("{kind} using {index}"));
        } else {
            types.push(kind);
        }
    }
    types
}

/// The plain claim (no per-procedure limits): claim_plan.sql, then claim.sql.
async fn assert_claim_plan(db: &mut tokio_postgres::Client, table: &str) {
    let tx = &db.transaction().await.unwrap();
    tx.batch_execute(CLAIM_PLAN).await.unwrap();
    tx.batch_execute(&format!("PREPARE q AS {CLAIM}")).await.unwrap();
    let execute = format!("EXECUTE q('{INSTANCE}', {TAKE})");
    let types = assert_reads_only(tx, &execute, NOT_IN_A_CLAIM, TAKE as u64, table).await;
    assert!(types.iter().any(|t| t == "Index Scan using async_jobs_pending_idx"), "{table}: {types:?}");
    assert!(types.iter().any(|t| t == "Tid Scan"), "{table}: {types:?}");
    let claimed: i64 =
        tx.query_one("SELECT count(*) FROM async_jobs WHERE instance_id = $1", &[&INSTANCE]).await.unwrap().get(0);
    assert_eq!(claimed, TAKE, "{table}: the claim took {claimed} jobs");
    // Dropped unfinished: rolled back.
}

/// The claim with per-procedure limits: claim_candidates.sql, then claim_picked.sql.
async fn assert_limited_claim_plan(db: &mut tokio_postgres::Client, table: &str) {
    let tx = &db.transaction().await.unwrap();
    tx.batch_execute(CLAIM_PLAN).await.unwrap();
    tx.batch_execute(&format!("PREPARE c AS {CANDIDATES}")).await.unwrap();
    let over_fetch = TAKE * 2 + 8; // as src/db/postgres/store.rs asks
    let execute = format!("EXECUTE c('{{PROC_RARE}}', {over_fetch})");
    assert_reads_only(tx, &execute, NOT_IN_A_CLAIM, over_fetch as u64, table).await;
    let picked: Vec<String> = tx
        .query(&format!("EXECUTE c('{{PROC_RARE}}', {over_fetch})"), &[])
        .await
        .unwrap()
        .iter()
        .take(TAKE as usize)
        .map(|r| r.get(0))
        .collect();
    assert_eq!(picked.len(), TAKE as usize, "{table}: candidates");
    tx.batch_execute(&format!("PREPARE p AS {PICKED}")).await.unwrap();
    let array = format!("ARRAY[{}]", picked.iter().map(|t| format!("'{t}'")).collect::<Vec<_>>().join(","));
    let execute = format!("EXECUTE p('{INSTANCE}', {array})");
    let types = assert_reads_only(tx, &execute, NOT_IN_A_CLAIM, TAKE as u64, table).await;
    assert!(types.iter().any(|t| t == "Tid Scan"), "{table}: {types:?}");
    // Dropped unfinished: rolled back.
}

/// Puts jobs to run: the first RUNNING_ELSEWHERE pending ones on another instance, the next
/// RUNNING_HERE on this one (attempt 1). Returns ids of this instance's running jobs.
async fn start_running(db: &tokio_postgres::Client) -> Vec<String> {
    db.batch_execute(&format!(
        "UPDATE async_jobs SET status = 'running', instance_id = 'elsewhere', attempts = 1, start_time = now(),
                heartbeat_at = now()
          WHERE job_id IN (SELECT job_id FROM async_jobs WHERE status = 'pending' ORDER BY created_at, job_id
                            LIMIT {RUNNING_ELSEWHERE});
         UPDATE async_jobs SET status = 'running', instance_id = '{INSTANCE}', attempts = 1, start_time = now(),
                heartbeat_at = now()
          WHERE job_id IN (SELECT job_id FROM async_jobs WHERE status = 'pending' ORDER BY created_at, job_id
                            LIMIT {RUNNING_HERE})"
    ))
    .await
    .unwrap();
    db.query("SELECT job_id FROM async_jobs WHERE instance_id = $1 ORDER BY job_id LIMIT 20", &[&INSTANCE])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// A write by id reads async_jobs through its primary key only: an index led by another column
/// can answer `job_id = ...` too, by reading all of it (job_id is the listing indexes' second
/// column), which returns few rows but reads every entry.
fn assert_by_primary_key(types: &[String], what: &str) {
    let indexes: Vec<_> = types.iter().filter(|t| t.contains(" using ")).collect();
    assert!(!indexes.is_empty(), "{what}: no index read: {types:?}");
    assert!(indexes.iter().all(|t| t.ends_with(" using async_jobs_pkey")), "{what}: {types:?}");
}

/// `ids` as a text[] literal.
fn id_array(ids: &[String]) -> String {
    format!("'{{{}}}'::text[]", ids.join(","))
}

/// A write by id as procgate sends it, for the plan checks.
struct Write {
    name: &'static str,
    /// Sent first in the statement's transaction ("" when procgate sends none).
    settings: &'static str,
    statement: &'static str,
    /// How many of the running jobs it names.
    names: usize,
    /// Its EXECUTE arguments for the jobs `ids`.
    args: fn(&[String]) -> String,
    /// A count that must equal `ids.len()` once it has run.
    check: fn(&[String]) -> String,
    /// It fails when no job matches its fence (complete_with_call.sql, on purpose).
    fails_when_none_match: bool,
}

/// Every write that addresses running jobs by id: the outcome writer's, progress records, the
/// heartbeat and its unlocked read, a completion with its call.
fn writes() -> [Write; 5] {
    [
        Write {
            name: "finish.sql",
            settings: BY_ID_PLAN,
            statement: FINISH,
            names: WRITE,
            args: |ids| {
                let n = ids.len();
                format!(
                    "{}, array_fill('completed'::text, ARRAY[{n}]), array_fill(NULL::jsonb, ARRAY[{n}]),
                     array_fill(NULL::text, ARRAY[{n}]), array_fill(NULL::text, ARRAY[{n}]),
                     array_fill(0::float8, ARRAY[{n}]), array_fill(1, ARRAY[{n}]), '{INSTANCE}',
                     array_fill(NULL::jsonb, ARRAY[{n}])",
                    id_array(ids)
                )
            },
            check: |ids| {
                format!(
                    "SELECT count(*) FROM async_jobs WHERE job_id = ANY ({}) AND status = 'completed'",
                    id_array(ids)
                )
            },
            fails_when_none_match: false,
        },
        Write {
            name: "record_progress.sql",
            settings: BY_ID_PLAN,
            statement: PROGRESS,
            names: WRITE,
            args: |ids| {
                let n = ids.len();
                format!(
                    "{}, array_fill(30::int2, ARRAY[{n}]), '{INSTANCE}', array_fill(NULL::text, ARRAY[{n}]),
                     array_fill(NULL::float8, ARRAY[{n}]), array_fill(NULL::text, ARRAY[{n}]),
                     array_fill(NULL::int8, ARRAY[{n}]), array_fill(NULL::int8, ARRAY[{n}])",
                    id_array(ids)
                )
            },
            check: |ids| {
                format!("SELECT count(*) FROM async_jobs WHERE job_id = ANY ({}) AND progress = 30", id_array(ids))
            },
            fails_when_none_match: false,
        },
        Write {
            name: "heartbeat.sql",
            settings: BY_ID_PLAN,
            statement: HEARTBEAT,
            names: WRITE,
            args: |ids| format!("'{INSTANCE}', {}", id_array(ids)),
            check: |ids| {
                format!(
                    "SELECT count(*) FROM async_jobs WHERE job_id = ANY ({}) AND heartbeat_at = now()
                        AND status = 'running'",
                    id_array(ids)
                )
            },
            fails_when_none_match: false,
        },
        Write {
            name: "heartbeat_skipped.sql",
            settings: BY_ID_PLAN,
            statement: HEARTBEAT_SKIPPED,
            names: WRITE,
            args: |ids| format!("'{INSTANCE}', {}", id_array(ids)),
            check: |ids| {
                format!("SELECT count(*) FROM async_jobs WHERE job_id = ANY ({}) AND status = 'running'", id_array(ids))
            },
            fails_when_none_match: false,
        },
        Write {
            name: "complete_with_call.sql",
            settings: "",
            statement: COMPLETE_WITH_CALL,
            names: 1,
            args: |ids| format!("'{}', '{INSTANCE}', 1, NULL, NULL", ids[0]),
            check: |ids| {
                format!("SELECT count(*) FROM async_jobs WHERE job_id = '{}' AND status = 'completed'", ids[0])
            },
            fails_when_none_match: true,
        },
    ]
}

/// Write `i` runs as procgate sends it, prepared as `w{i}`, under EXPLAIN ANALYZE in a transaction
/// rolled back, on the jobs `ids`: it reads them through the primary key only, a few entries per
/// job at most, and does what it is for.
async fn assert_write_plan(db: &mut tokio_postgres::Client, i: usize, write: &Write, ids: &[String], table: &str) {
    let tx = db.transaction().await.unwrap();
    tx.batch_execute(write.settings).await.unwrap();
    let execute = format!("EXECUTE w{i}({})", (write.args)(ids));
    let types = assert_reads_only(&tx, &execute, NOT_IN_A_WRITE_BY_ID, 4 * ids.len() as u64, table).await;
    assert_by_primary_key(&types, &format!("{table}: {}", write.name));
    let done: i64 = tx.query_one((write.check)(ids).as_str(), &[]).await.unwrap().get(0);
    assert_eq!(done, ids.len() as i64, "{table}: {}: {}", write.name, (write.check)(ids));
    // Dropped unfinished: rolled back.
}

/// Every write by id, prepared and checked on `running` (this instance's running jobs).
async fn assert_writes_by_id_plans(db: &mut tokio_postgres::Client, running: &[String], table: &str) {
    for (i, write) in writes().iter().enumerate() {
        db.batch_execute(&format!("PREPARE w{i} AS {}", write.statement)).await.unwrap();
        assert_write_plan(db, i, write, &running[..write.names], table).await;
        // A prepared statement outlives the transaction.
        db.batch_execute(&format!("DEALLOCATE w{i}")).await.unwrap();
    }
}

/// On a table of PENDING pending jobs: both claims, then (jobs started) every write by id.
async fn assert_every_plan(client: &mut tokio_postgres::Client, table: &str) {
    assert_claim_plan(client, table).await;
    assert_limited_claim_plan(client, table).await;
    let running = start_running(client).await;
    assert_writes_by_id_plans(client, &running, table).await;
}

#[tokio::test]
async fn a_table_filled_and_never_analyzed_is_claimed_in_order_and_written_by_primary_key() {
    let (_db, mut client) = table_without_autovacuum().await;
    insert_pending(&client, PENDING).await;
    assert_every_plan(&mut client, "filled, never analyzed").await;
}

#[tokio::test]
async fn a_table_analyzed_with_only_ended_jobs_is_claimed_in_order_and_written_by_primary_key() {
    let (_db, mut client) = table_without_autovacuum().await;
    client
        .execute(
            "INSERT INTO async_jobs (job_id, status, procedure_name, params, owner, end_time, created_at)
             SELECT md5('ended' || i), 'completed', 'PROC_TEST', '[]', 'bench', now() - interval '1 day',
                    now() - interval '2 days' + i * interval '1 ms'
               FROM generate_series(1, 200000) i",
            &[],
        )
        .await
        .unwrap();
    client.batch_execute("ANALYZE async_jobs").await.unwrap();
    insert_pending(&client, PENDING).await;
    assert_every_plan(&mut client, "analyzed with ended jobs only").await;
}

/// The claim keeps one generic plan per connection (claim_plan.sql); the writes by id get a plan
/// for each run (by_id_plan.sql), except complete_with_call.sql, left to PostgreSQL's plan cache,
/// which keeps a generic plan once it has made five custom ones and found the generic one no
/// dearer. Here every statement is prepared and run ten times while the table is empty, as on the
/// first claims and writes of a fresh deployment, then checked once the table holds 20,000 jobs:
/// each must still read only the jobs it takes or names, not a whole table or index.
#[tokio::test]
async fn plans_made_on_an_empty_table_read_only_their_jobs_once_the_table_has_grown() {
    let (_db, mut client) = table_without_autovacuum().await;
    let nobody = vec!["0".repeat(32); WRITE];
    client.batch_execute(&format!("PREPARE q AS {CLAIM}")).await.unwrap();
    for (i, write) in writes().iter().enumerate() {
        client.batch_execute(&format!("PREPARE w{i} AS {}", write.statement)).await.unwrap();
    }
    // More runs than PostgreSQL makes custom plans before it weighs a generic one (5).
    for _ in 0..10 {
        let tx = client.transaction().await.unwrap();
        tx.batch_execute(CLAIM_PLAN).await.unwrap();
        assert!(tx.query(&format!("EXECUTE q('{INSTANCE}', {TAKE})"), &[]).await.unwrap().is_empty());
        tx.commit().await.unwrap();
        for (i, write) in writes().iter().enumerate() {
            let tx = client.transaction().await.unwrap();
            tx.batch_execute(write.settings).await.unwrap();
            let ran = tx.query(&format!("EXECUTE w{i}({})", (write.args)(&nobody[..write.names])), &[]).await;
            match ran {
                Ok(rows) => assert!(!write.fails_when_none_match && rows.is_empty(), "{}", write.name),
                Err(e) => assert!(write.fails_when_none_match, "{}: {e}", write.name),
            }
            // Dropped: rolled back.
        }
    }
    insert_pending(&client, PENDING).await;
    let table = "planned empty, grown to 20,000 jobs";
    {
        let tx = client.transaction().await.unwrap();
        tx.batch_execute(CLAIM_PLAN).await.unwrap();
        let execute = format!("EXECUTE q('{INSTANCE}', {TAKE})");
        let types = assert_reads_only(&tx, &execute, NOT_IN_A_CLAIM, TAKE as u64, table).await;
        assert!(types.iter().any(|t| t == "Index Scan using async_jobs_pending_idx"), "{table}: {types:?}");
        // Dropped unfinished: rolled back.
    }
    let running = start_running(&client).await;
    for (i, write) in writes().iter().enumerate() {
        assert_write_plan(&mut client, i, write, &running[..write.names], table).await;
    }
}
