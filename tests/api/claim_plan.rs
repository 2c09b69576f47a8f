//! The claim reads only the jobs it claims, whatever the table's statistics say (issue 13 §3).
//! Left to its estimates, PostgreSQL planned the claim on a table filled seconds earlier (never
//! analyzed) as "read every pending row, sort them, keep 16", and found the claimed rows through a
//! whole listing index: a claim cost 13-20 ms at 20,000 pending jobs instead of 0.1 ms, and the
//! same benchmark drained 3× slower in the run that hit it. Here the claim statements run as
//! procgate sends them (claim_plan.sql first, in the same transaction) under
//! `EXPLAIN (ANALYZE, FORMAT JSON)`, rolled back, on the two tables that misled the planner: one
//! filled and never analyzed, and one analyzed while it held only ended jobs. No node may read
//! more rows than the claim takes (a little slack for the limited claim's over-fetch), and none
//! may sort, scan the table or build a bitmap.
//! Not in the contract suite: plans are PostgreSQL's; Oracle claims through a cursor in PL/SQL.

use serde_json::Value as Json;

use crate::helpers::*;

const CLAIM_PLAN: &str = include_str!("../../sql/postgres/queries/claim_plan.sql");
const CLAIM: &str = include_str!("../../sql/postgres/queries/claim.sql");
const CANDIDATES: &str = include_str!("../../sql/postgres/queries/claim_candidates.sql");
const PICKED: &str = include_str!("../../sql/postgres/queries/claim_picked.sql");

const PENDING: i32 = 20_000;
const TAKE: i64 = 16;

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

/// Runs `statement` (prepared as `q`) under EXPLAIN ANALYZE in the open transaction; checks that
/// no node sorts, scans the table or builds a bitmap, and that none reads more than `max_rows`.
/// Returns the node types, for the caller's own checks.
async fn assert_reads_only_what_it_claims(
    tx: &tokio_postgres::Transaction<'_>,
    execute: &str,
    max_rows: u64,
    table: &str,
) -> Vec<String> {
    let row = tx.query_one(&format!("EXPLAIN (ANALYZE, FORMAT JSON) {execute}"), &[]).await.unwrap();
    let explain: Json = row.get(0);
    let plan = &explain[0]["Plan"];
    let mut types = Vec::new();
    for node in nodes(plan) {
        let kind = node["Node Type"].as_str().unwrap_or_default().to_string();
        assert!(
            !["Sort", "Seq Scan", "Bitmap Heap Scan", "Bitmap Index Scan"].contains(&kind.as_str()),
            "{table}: the plan has a {kind} node:\n{plan:#}"
        );
        let rows = node["Actual Rows"].as_u64().unwrap_or(0) * node["Actual Loops"].as_u64().unwrap_or(1);
        assert!(rows <= max_rows, "{table}: a {kind} node read {rows} rows (at most {max_rows} wanted):\n{plan:#}");
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
    let types =
        assert_reads_only_what_it_claims(tx, &format!("EXECUTE q('plan-test', {TAKE})"), TAKE as u64, table).await;
    assert!(types.iter().any(|t| t == "Index Scan using async_jobs_pending_idx"), "{table}: {types:?}");
    assert!(types.iter().any(|t| t == "Tid Scan"), "{table}: {types:?}");
    let claimed: i64 =
        tx.query_one("SELECT count(*) FROM async_jobs WHERE instance_id = 'plan-test'", &[]).await.unwrap().get(0);
    assert_eq!(claimed, TAKE, "{table}: the claim took {claimed} jobs");
    // Dropped unfinished: rolled back.
}

/// The claim with per-procedure limits: claim_candidates.sql, then claim_picked.sql.
async fn assert_limited_claim_plan(db: &mut tokio_postgres::Client, table: &str) {
    let tx = &db.transaction().await.unwrap();
    tx.batch_execute(CLAIM_PLAN).await.unwrap();
    tx.batch_execute(&format!("PREPARE c AS {CANDIDATES}")).await.unwrap();
    let over_fetch = TAKE * 2 + 8; // as src/db/postgres/store.rs asks
    assert_reads_only_what_it_claims(
        tx,
        &format!("EXECUTE c('{{PROC_RARE}}', {over_fetch})"),
        over_fetch as u64,
        table,
    )
    .await;
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
    let types =
        assert_reads_only_what_it_claims(tx, &format!("EXECUTE p('plan-test', {array})"), TAKE as u64, table).await;
    assert!(types.iter().any(|t| t == "Tid Scan"), "{table}: {types:?}");
    // Dropped unfinished: rolled back.
}

#[tokio::test]
async fn a_table_filled_and_never_analyzed_is_claimed_through_the_pending_index() {
    let (_db, mut client) = table_without_autovacuum().await;
    insert_pending(&client, PENDING).await;
    assert_claim_plan(&mut client, "filled, never analyzed").await;
    assert_limited_claim_plan(&mut client, "filled, never analyzed").await;
}

#[tokio::test]
async fn a_table_analyzed_with_only_ended_jobs_is_claimed_through_the_pending_index() {
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
    assert_claim_plan(&mut client, "analyzed with ended jobs only").await;
    assert_limited_claim_plan(&mut client, "analyzed with ended jobs only").await;
}
