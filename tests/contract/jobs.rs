//! Listing and deleting jobs: filters, pagination, single and bulk deletes.

use serde_json::{json, Value as Json};

use crate::contract::fixture::*;

async fn list(app: &App, query: &str, token: &str) -> Json {
    let resp = app.get(&format!("/jobs{query}"), token).await;
    assert_eq!(resp.status(), 200, "GET /jobs{query}");
    resp.json().await.unwrap()
}

fn ids(body: &Json) -> Vec<String> {
    body["jobs"].as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_string()).collect()
}

/// Completed/failed jobs with chosen end times (days ago), plus one pending job.
async fn seed_ended_jobs(db: &impl Backend, app: &App) -> (Vec<String>, Vec<String>, Vec<String>, Vec<String>) {
    let (mut old_done, mut new_done, mut old_failed, mut new_failed) = (vec![], vec![], vec![], vec![]);
    for i in 0..3 {
        old_done.push(app.submit(&proc_test(&format!("old{i}"))).await);
        new_done.push(app.submit(&proc_test(&format!("new{i}"))).await);
        let fail = json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1}]});
        old_failed.push(app.submit(&fail).await);
        new_failed.push(app.submit(&fail).await);
    }
    for id in old_done.iter().chain(&new_done).chain(&old_failed).chain(&new_failed) {
        app.wait_terminal(id).await;
    }
    let old: Vec<String> = old_done.iter().chain(&old_failed).cloned().collect();
    db.end_days_ago(&old, 10).await;
    (old_done, new_done, old_failed, new_failed)
}

async fn remaining(app: &App) -> Vec<String> {
    let mut ids = ids(&list(app, "?limit=1000", ADMIN).await);
    ids.sort();
    ids
}

fn sorted(parts: &[&Vec<String>]) -> Vec<String> {
    let mut v: Vec<String> = parts.iter().flat_map(|p| p.iter().cloned()).collect();
    v.sort();
    v
}

pub async fn list_is_newest_first_with_filters_and_pages(db: &impl Backend) {
    let app = db.spawn_app().await;
    let mut created = vec![];
    for i in 0..5 {
        created.push(app.submit(&proc_test(&format!("n{i}"))).await);
    }
    let failed =
        app.submit(&json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1}]})).await;
    for id in created.iter().chain([&failed]) {
        app.wait_terminal(id).await;
    }

    let all = list(&app, "", ADMIN).await;
    assert_eq!(all["total"], 6);
    assert_eq!(all["limit"], 50);
    assert_eq!(all["offset"], 0);
    let mut expected: Vec<String> = created.iter().rev().cloned().collect();
    expected.insert(0, failed.clone());
    assert_eq!(ids(&all), expected, "newest first");

    let only_failed = list(&app, "?status=failed", ADMIN).await;
    assert_eq!((only_failed["total"].clone(), ids(&only_failed)), (json!(1), vec![failed.clone()]));
    let both = list(&app, "?status=completed,failed", ADMIN).await;
    assert_eq!(both["total"], 6);
    let by_proc = list(&app, "?procedure=proc_test", ADMIN).await;
    assert_eq!(by_proc["total"], 5);

    let page = list(&app, "?limit=2&offset=1", ADMIN).await;
    assert_eq!(page["total"], 6);
    assert_eq!(ids(&page), expected[1..3].to_vec());
    let capped = list(&app, "?limit=5000", ADMIN).await;
    assert_eq!(capped["limit"], 1000);
    // The predecessor redirected /jobs/ (307); here both forms answer.
    assert_eq!(app.get("/jobs/", ADMIN).await.status(), 200);
}

/// Keyset pages (`cursor`, `next`) of every filter shape return the rows of one full page, in
/// order, each once (on Oracle: each of its page statements); totals are exact up to the cap and
/// flagged above it.
pub async fn cursor_pages_of_every_filter_shape_match_the_full_list(db: &impl Backend) {
    let app = db.spawn_app_with(&[("LIST_TOTAL_CAP", "3")]).await;
    let fail = json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1}]});
    let mut all = vec![];
    for (i, token) in [ALICE, BOB, ALICE, ALICE, BOB, ALICE, BOB].iter().enumerate() {
        all.push(app.submit_as(token, &if i % 3 == 1 { fail.clone() } else { proc_test(&format!("c{i}")) }).await);
    }
    for id in &all {
        app.wait_terminal(id).await;
    }
    for query in [
        "",
        "owner=alice",
        "status=failed",
        "status=completed,failed",
        "procedure=proc_test",
        "owner=bob&status=completed",
        "status=completed&procedure=PROC_TEST",
    ] {
        let whole = list(&app, &format!("?{query}&limit=1000"), ADMIN).await;
        assert!(whole["next"].is_null(), "{query}");
        let mut paged = vec![];
        let mut body = list(&app, &format!("?{query}&limit=2"), ADMIN).await;
        loop {
            paged.extend(ids(&body));
            let Some(next) = body["next"].as_str() else { break };
            body = list(&app, &format!("?{query}&limit=2&cursor={next}"), ADMIN).await;
        }
        assert_eq!(paged, ids(&whole), "{query}");
        let n = paged.len() as i64;
        assert_eq!(whole["total_exact"], n <= 3, "{query}");
        if n <= 3 {
            assert_eq!(whole["total"], n, "{query}");
        } else {
            assert!(whole["total"].as_i64().unwrap() >= 4, "{query}: {}", whole["total"]);
        }
    }
    // A non-admin's own jobs, by cursor.
    let own = list(&app, "?limit=1000", ALICE).await;
    assert_eq!(own["jobs"].as_array().unwrap().len(), 4);
    let second = list(
        &app,
        &format!("?limit=2&cursor={}", list(&app, "?limit=2", ALICE).await["next"].as_str().unwrap()),
        ALICE,
    )
    .await;
    assert_eq!(ids(&second), ids(&own)[2..4].to_vec());
}

pub async fn delete_one_job(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app.submit(&proc_test("x")).await;
    app.wait_terminal(&id).await;
    let resp = app.delete(&format!("/jobs/{id}"), ADMIN).await;
    assert_eq!(resp.status(), 200);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["job_id"], id.as_str());
    assert!(body["message"].is_string());
    error_code(app.get(&format!("/jobs/{id}"), ADMIN).await, 404).await;
    error_code(app.delete(&format!("/jobs/{id}"), ADMIN).await, 404).await;
}

pub async fn pending_job_is_deleted_running_job_is_cancelled_then_deleted(db: &impl Backend) {
    let app = db.spawn_app_with(&[("WORKERS", "1")]).await;
    let running = app.submit(&demora(120.0)).await;
    app.wait_for_job(&running, |j| j["status"] == "running").await;
    let pending = app.submit(&proc_test("waiting")).await;
    assert_eq!(app.job(&pending).await["status"], "pending");
    assert_eq!(app.job(&pending).await["start_time"], Json::Null);

    let resp = app.delete(&format!("/jobs/{pending}"), ADMIN).await;
    assert_eq!(resp.status(), 200);
    error_code(app.get(&format!("/jobs/{pending}"), ADMIN).await, 404).await;

    let resp = app.delete(&format!("/jobs/{running}"), ADMIN).await;
    assert_eq!(resp.status(), 200, "deleting a running job cancels it first");
    error_code(app.get(&format!("/jobs/{running}"), ADMIN).await, 404).await;
    db.no_call_running("proc_test_demora").await;
}

pub async fn bulk_delete_honours_each_filter_and_both(db: &impl Backend) {
    // status only
    let app = db.spawn_app().await;
    let (od, nd, of, nf) = seed_ended_jobs(db, &app).await;
    let resp = app.delete("/jobs?status=completed", ADMIN).await;
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["deleted"], 6);
    assert!(body["message"].is_string());
    assert_eq!(remaining(&app).await, sorted(&[&of, &nf]));
    drop((od, nd));

    // older_than only: every ended status, by end time
    db.clear_jobs().await;
    let app = db.spawn_app().await;
    let (od, nd, of, nf) = seed_ended_jobs(db, &app).await;
    let body: Json = app.delete("/jobs?older_than=7", ADMIN).await.json().await.unwrap();
    assert_eq!(body["deleted"], 6);
    assert_eq!(remaining(&app).await, sorted(&[&nd, &nf]));
    drop((od, of));

    // both, AND-combined (the predecessor ignored older_than here)
    db.clear_jobs().await;
    let app = db.spawn_app().await;
    let (od, nd, of, nf) = seed_ended_jobs(db, &app).await;
    let body: Json = app.delete("/jobs?status=completed,failed&older_than=7", ADMIN).await.json().await.unwrap();
    assert_eq!(body["deleted"], 6);
    assert_eq!(remaining(&app).await, sorted(&[&nd, &nf]));
    let body: Json = app.delete("/jobs?status=failed&older_than=0", ADMIN).await.json().await.unwrap();
    assert_eq!(body["deleted"], 3);
    assert_eq!(remaining(&app).await, sorted(&[&nd]));
    drop((od, of));
}

pub async fn bulk_delete_never_touches_unfinished_jobs(db: &impl Backend) {
    let app = db.spawn_app_with(&[("WORKERS", "1")]).await;
    let running = app.submit(&demora(2.0)).await;
    app.wait_for_job(&running, |j| j["status"] == "running").await;
    let pending = app.submit(&proc_test("p")).await;
    db.backdate_all(30).await;
    let body: Json = app.delete("/jobs?older_than=0", ADMIN).await.json().await.unwrap();
    assert_eq!(body["deleted"], 0);
    let err = error_code(app.delete("/jobs?status=running", ADMIN).await, 400).await;
    assert_eq!(err["code"], "invalid_query");
    error_code(app.delete("/jobs?status=pending,completed", ADMIN).await, 400).await;
    let err = error_code(app.delete("/jobs", ADMIN).await, 400).await;
    assert_eq!(err["code"], "missing_filter");
    assert_eq!(app.job(&pending).await["id"], pending.as_str());
    app.wait_terminal(&running).await;
}

pub async fn bulk_delete_of_many_jobs_goes_in_batches(db: &impl Backend) {
    let app = db.spawn_app().await;
    // 12,000 ended rows straight into the table: more than two purge batches.
    db.insert_ended_jobs(12000, 8).await;
    let body: Json = app.delete("/jobs?status=completed&older_than=7", ADMIN).await.json().await.unwrap();
    assert_eq!(body["deleted"], 12000);
    let n: i64 = db.count_jobs(None).await;
    assert_eq!(n, 0);
}
