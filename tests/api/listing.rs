//! `GET /jobs` at scale (issue 13 §4): keyset pages (`cursor`, `next`) return every job once, in
//! order, while new jobs arrive; every filter shape returns the rows its filters select, by cursor
//! and by offset; a bad cursor is 400 `invalid_cursor`; the total is exact up to
//! `LIST_TOTAL_CAP` and flagged as an estimate above it; `offset` is bounded by `MAX_LIST_OFFSET`.
//! Rows are written straight into the table (many, with shared creation instants, in every
//! status) and compared with a plain SQL query of the same filters.
//! Not in the contract suite: the estimate and the bound are the HTTP layer's and PostgreSQL's;
//! the Oracle page statements are unit-tested in src/db/oracle/store.rs.

use std::collections::HashSet;

use serde_json::Value as Json;

use crate::helpers::*;

/// Inserts `n` jobs: owners alice/bob/carol, four statuses, three procedures (one spelled in
/// lowercase), creation instants shared by groups of 7 jobs (the order's tie-break is the id).
/// Pending ones are due in a day, so no worker changes anything during the test.
async fn seed(db: &tokio_postgres::Client, n: i32) {
    db.execute(
        "INSERT INTO async_jobs (job_id, status, procedure_name, owner, created_at, run_at, end_time)
         SELECT md5(random()::text || i),
                (ARRAY['pending', 'completed', 'failed', 'cancelled'])[1 + i % 4],
                (ARRAY['PROC_A', 'proc_b', 'PROC_C'])[1 + i % 3],
                (ARRAY['alice', 'bob', 'carol'])[1 + (i / 2) % 3],
                timestamptz '2026-01-01 00:00:00Z' + (i / 7) * interval '1 minute',
                now() + interval '1 day',
                CASE WHEN i % 4 > 0 THEN now() END
           FROM generate_series(1, $1) i",
        &[&n],
    )
    .await
    .unwrap();
}

/// The ids the filters select, in the listing order: the reference the API is compared with.
async fn expected(db: &tokio_postgres::Client, filters: &Filters) -> Vec<String> {
    db.query(
        "SELECT job_id FROM async_jobs
          WHERE ($1::text[] IS NULL OR status = ANY ($1))
            AND ($2::text IS NULL OR upper(procedure_name) = upper($2))
            AND ($3::text IS NULL OR owner = $3)
            AND ($4::timestamptz IS NULL OR created_at >= $4)
            AND ($5::timestamptz IS NULL OR created_at < $5)
          ORDER BY created_at DESC, job_id",
        &[&filters.statuses, &filters.procedure, &filters.owner, &filters.after, &filters.before],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.get(0))
    .collect()
}

#[derive(Debug, Default)]
struct Filters {
    statuses: Option<Vec<String>>,
    procedure: Option<String>,
    owner: Option<String>,
    after: Option<chrono::DateTime<chrono::Utc>>,
    before: Option<chrono::DateTime<chrono::Utc>>,
}

impl Filters {
    fn query(&self) -> String {
        let mut q = Vec::new();
        if let Some(s) = &self.statuses {
            q.push(format!("status={}", s.join(",")));
        }
        if let Some(p) = &self.procedure {
            q.push(format!("procedure={p}"));
        }
        if let Some(o) = &self.owner {
            q.push(format!("owner={o}"));
        }
        let stamp = |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if let Some(t) = &self.after {
            q.push(format!("created_after={}", stamp(t)));
        }
        if let Some(t) = &self.before {
            q.push(format!("created_before={}", stamp(t)));
        }
        q.join("&")
    }
}

/// `GET /jobs?<query>` as `token`: the body, asserting 200.
async fn page(app: &App, query: &str, token: &str) -> Json {
    let resp = app.get(&format!("/jobs?{query}"), token).await;
    assert_eq!(resp.status(), 200, "/jobs?{query}");
    resp.json().await.unwrap()
}

fn ids(body: &Json) -> Vec<String> {
    body["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect()
}

/// Every page of `query` by cursor, `limit` at a time: the ids in order, and the first page's body.
async fn walk(app: &App, query: &str, limit: usize, token: &str) -> (Vec<String>, Json) {
    let first = page(app, &format!("{query}&limit={limit}"), token).await;
    let mut all = ids(&first);
    let mut next = first["next"].clone();
    let mut pages = 1;
    while let Some(cursor) = next.as_str() {
        let body = page(app, &format!("{query}&limit={limit}&cursor={cursor}"), token).await;
        let got = ids(&body);
        assert!(got.len() <= limit);
        all.extend(got);
        next = body["next"].clone();
        pages += 1;
        assert!(pages < 1000, "the cursor does not advance: {query}");
    }
    (all, first)
}

#[tokio::test]
async fn cursor_pages_return_every_job_once_in_order_while_new_jobs_arrive() {
    let app = spawn_app().await;
    let db = app.db.client().await;
    seed(&db, 300).await;
    let before = expected(&db, &Filters::default()).await;

    let mut seen = Vec::new();
    let mut body = page(&app, "limit=25", ADMIN).await;
    assert_eq!((body["total"].as_i64(), body["total_exact"].as_bool()), (Some(300), Some(true)));
    loop {
        seen.extend(ids(&body));
        // Newer jobs arrive between pages (a submit and a batch in the same instant as each
        // other); they sort before every cursor handed out so far.
        app.submit_as(ALICE, &proc_test("new")).await;
        db.execute(
            "INSERT INTO async_jobs (job_id, status, procedure_name, owner) SELECT md5(random()::text || i),
                    'completed', 'PROC_A', 'bob' FROM generate_series(1, 3) i",
            &[],
        )
        .await
        .unwrap();
        let Some(cursor) = body["next"].as_str() else { break };
        body = page(&app, &format!("limit=25&cursor={cursor}"), ADMIN).await;
    }
    assert_eq!(seen.len(), seen.iter().collect::<HashSet<_>>().len(), "a job was listed twice");
    assert_eq!(seen, before, "cursor pages differ from the jobs present at the first page");
    // The last page says it is the last: 300 is a multiple of 25, so it is empty.
    assert!(body["next"].is_null() && ids(&body).is_empty());
}

#[tokio::test]
async fn every_filter_shape_returns_the_rows_its_filters_select_by_cursor_and_by_offset() {
    let app = spawn_app().await;
    let db = app.db.client().await;
    seed(&db, 400).await;
    let t = |minutes: i64| {
        chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z").unwrap().to_utc()
            + chrono::Duration::minutes(minutes)
    };
    let strings = |v: &[&str]| Some(v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    let shapes = [
        Filters::default(),
        Filters { statuses: strings(&["failed"]), ..Default::default() },
        Filters { statuses: strings(&["failed", "pending"]), ..Default::default() },
        Filters { procedure: Some("PROC_B".into()), ..Default::default() },
        Filters { procedure: Some("proc_a".into()), ..Default::default() },
        Filters { owner: Some("carol".into()), ..Default::default() },
        Filters { owner: Some("alice".into()), statuses: strings(&["completed"]), ..Default::default() },
        Filters { owner: Some("bob".into()), procedure: Some("PROC_C".into()), ..Default::default() },
        Filters { statuses: strings(&["cancelled"]), procedure: Some("proc_b".into()), ..Default::default() },
        Filters {
            owner: Some("alice".into()),
            statuses: strings(&["pending", "failed"]),
            procedure: Some("PROC_A".into()),
            ..Default::default()
        },
        Filters { after: Some(t(20)), before: Some(t(40)), ..Default::default() },
        Filters { owner: Some("bob".into()), after: Some(t(30)), ..Default::default() },
        Filters { owner: Some("nobody".into()), ..Default::default() },
    ];
    for filters in &shapes {
        let query = filters.query();
        let want = expected(&db, filters).await;
        let (got, first) = walk(&app, &query, 9, ADMIN).await;
        assert_eq!(got, want, "by cursor: {query}");
        assert_eq!(first["total"].as_i64(), Some(want.len() as i64), "{query}");
        assert_eq!(first["total_exact"], true, "{query}");
        // The predecessor's offset pages: the same rows.
        let mut by_offset = Vec::new();
        for offset in (0..want.len() + 1).step_by(40) {
            by_offset.extend(ids(&page(&app, &format!("{query}&limit=40&offset={offset}"), ADMIN).await));
        }
        assert_eq!(by_offset, want, "by offset: {query}");
    }
    // A non-admin's listing is its own, by cursor too.
    let alice = Filters { owner: Some("alice".into()), ..Default::default() };
    let (got, _) = walk(&app, "status=", 11, ALICE).await;
    assert_eq!(got, expected(&db, &alice).await);
    // A cursor with an offset: the rows after the cursor, then skipped.
    let all = expected(&db, &Filters::default()).await;
    let cursor = page(&app, "limit=10", ADMIN).await["next"].as_str().unwrap().to_string();
    let body = page(&app, &format!("limit=5&offset=3&cursor={cursor}"), ADMIN).await;
    assert_eq!(ids(&body), all[13..18].to_vec());
}

#[tokio::test]
async fn a_bad_cursor_is_a_400_invalid_cursor() {
    let app = spawn_app().await;
    use base64::Engine;
    let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let long = "A".repeat(5000);
    let bad = [
        "x".to_string(),
        "%00".into(),
        long,
        enc("yesterday.68542aa8129c4b76b2547ca62d8c13de"),
        enc("1767225600123456.not-an-id"),
        enc("1767225600123456"),
        enc("1767225600123456.68542aa8129c4b76b2547ca62d8c13de") + "=",
    ];
    for cursor in &bad {
        let error = error_code(app.get(&format!("/jobs?cursor={cursor}"), ADMIN).await, 400).await;
        assert_eq!(error["code"], "invalid_cursor", "{cursor}");
        assert!(error["message"].as_str().unwrap().contains("next"), "{error}");
    }
    // A well-formed cursor past every job: an empty last page.
    let body = page(&app, &format!("cursor={}", enc("0.68542aa8129c4b76b2547ca62d8c13de")), ADMIN).await;
    assert_eq!((ids(&body).len(), body["next"].is_null()), (0, true));
}

#[tokio::test]
async fn the_total_is_exact_up_to_the_cap_and_an_estimate_flagged_as_such_above_it() {
    let app = spawn_app_with(&[("LIST_TOTAL_CAP", "50")]).await;
    let db = app.db.client().await;
    seed(&db, 2000).await;
    db.batch_execute("ANALYZE async_jobs").await.unwrap();

    // 2000 jobs: more than the cap, so an estimate (the planner's, about the real count).
    let body = page(&app, "limit=5", ADMIN).await;
    assert_eq!(body["total_exact"], false);
    let total = body["total"].as_i64().unwrap();
    assert!((51..=20_000).contains(&total), "estimate {total}");
    // The predecessor's shape is still there.
    assert_eq!(body["jobs"].as_array().unwrap().len(), 5);
    assert_eq!((body["limit"].as_i64(), body["offset"].as_i64()), (Some(5), Some(0)));
    // One status (500 jobs): an estimate too, of the status's rows.
    let failed = page(&app, "status=failed&limit=1", ADMIN).await;
    assert_eq!(failed["total_exact"], false);
    assert!((51..=5_000).contains(&failed["total"].as_i64().unwrap()), "{}", failed["total"]);
    // Below the cap: exact (the last 48 jobs; and about 28 of bob's PROC_A jobs).
    let last = page(&app, "created_after=2026-01-01T04:39:00Z&limit=1", ADMIN).await;
    assert_eq!((last["total"].as_i64(), last["total_exact"].as_bool()), (Some(48), Some(true)));
    let few = page(&app, "owner=bob&procedure=PROC_A&created_after=2026-01-01T04:10:00Z", ADMIN).await;
    let want = expected(
        &db,
        &Filters {
            owner: Some("bob".into()),
            procedure: Some("PROC_A".into()),
            after: Some(chrono::DateTime::parse_from_rfc3339("2026-01-01T04:10:00Z").unwrap().to_utc()),
            ..Default::default()
        },
    )
    .await;
    assert!(want.len() <= 50 && !want.is_empty(), "{}", want.len());
    assert_eq!((few["total"].as_i64(), few["total_exact"].as_bool()), (Some(want.len() as i64), Some(true)));
}

#[tokio::test]
async fn offset_is_bounded_by_max_list_offset_and_names_the_cursor() {
    let app = spawn_app_with(&[("MAX_LIST_OFFSET", "100")]).await;
    seed(&app.db.client().await, 120).await;
    let body = page(&app, "offset=100&limit=50", ADMIN).await;
    assert_eq!(ids(&body).len(), 20);
    assert!(body["next"].is_null());
    for query in ["offset=101", "offset=1000000000&limit=1", "offset=101&cursor=x"] {
        let error = error_code(app.get(&format!("/jobs?{query}"), ADMIN).await, 400).await;
        assert_eq!(error["code"], "offset_too_large", "{query}");
        assert!(error["message"].as_str().unwrap().contains("cursor"), "{error}");
    }
}
