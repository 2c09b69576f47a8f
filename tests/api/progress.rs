//! Progress reported from inside the procedure (`CALL procgate_progress(...)`): visible on the job
//! while the call runs (`report`, `message`, overall `progress` mapped into 50..80), never in its
//! captured output, sane whatever the procedure sends, and coalesced: a procedure that reports in
//! a tight loop costs the job row a handful of writes.

use serde_json::{json, Value as Json};

use crate::helpers::*;

/// `PROC_TEST_PROGRESS(p_items, p_seconds)`.
fn progress(items: i64, seconds: f64) -> Json {
    json!({"name": "PROC_TEST_PROGRESS", "params": [
        {"name": "p_items", "value": items}, {"name": "p_seconds", "value": seconds}
    ]})
}

fn percent(job: &Json) -> Option<f64> {
    job["report"]["percent"].as_f64()
}

/// Cancels a running job and waits for it to end.
async fn cancel(app: &TestApp, id: &str) -> Json {
    let resp = app.post(&format!("/jobs/{id}/cancel"), ADMIN, &json!({})).await;
    assert!(resp.status().is_success(), "cancel answered {}", resp.status());
    app.wait_terminal(id).await
}

#[tokio::test]
async fn the_procedures_own_progress_is_visible_while_it_runs() {
    let app = spawn_app().await;
    let id = app.submit(&progress(20, 4.0)).await;
    // Mid-call: the procedure's own figures, and the overall progress within the running range.
    let mid =
        app.wait_for_job(&id, |j| j["status"] == "running" && percent(j).is_some_and(|p| p > 0.0 && p < 100.0)).await;
    let report = &mid["report"];
    let (processed, total) = (report["processed"].as_i64().unwrap(), report["total"].as_i64().unwrap());
    assert_eq!(total, 20, "{mid}");
    assert!((1..20).contains(&processed), "{mid}");
    assert_eq!(report["message"], format!("item {processed} of 20"), "{mid}");
    let expected_percent = processed as f64 * 100.0 / 20.0;
    assert!((percent(&mid).unwrap() - expected_percent).abs() < 0.01, "{mid}");
    let overall = mid["progress"].as_i64().unwrap();
    assert!((50..80).contains(&overall), "overall progress {overall} outside the running range: {mid}");
    assert_eq!(overall, 50 + (expected_percent * 0.3).floor() as i64, "{mid}");
    // The message column holds the latest message.
    let row = app.db.client().await.query_one("SELECT message FROM async_jobs WHERE job_id = $1", &[&id]).await;
    assert!(row.unwrap().get::<_, Option<String>>(0).is_some_and(|m| m.starts_with("item ")));

    // Monotonic across polls, 100 at the end.
    let last = std::cell::Cell::new(overall);
    let done = app
        .wait_for_job(&id, |j| {
            let now = j["progress"].as_i64().unwrap();
            assert!(now >= last.get(), "progress went down from {} to {now}: {j}", last.get());
            last.set(now);
            j["status"] != "running"
        })
        .await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["progress"], 100, "{done}");
    // The listing shows the report too.
    let list: Json = app.get("/jobs?procedure=PROC_TEST_PROGRESS", ADMIN).await.json().await.unwrap();
    assert_eq!(list["jobs"][0]["report"]["total"], 20, "{list}");
}

#[tokio::test]
async fn a_job_that_reports_nothing_has_no_report() {
    let app = spawn_app().await;
    let job = app.wait_terminal(&app.submit(&proc_test("quiet")).await).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert!(job.get("report").is_none(), "{job}");
}

#[tokio::test]
async fn bad_reports_are_clamped_or_ignored_and_never_reach_the_output() {
    let app = spawn_app().await;
    let odd = |hold: f64| json!({"name": "PROC_TEST_PROGRESS_ODD", "capture_output": true, "params": [{"name": "p_hold", "value": hold}]});
    // Held running: what was recorded, merged field by field.
    let id = app.submit(&odd(120.0)).await;
    let job = app.wait_for_job(&id, |j| j["report"]["message"].as_str().is_some_and(|m| m.starts_with('m'))).await;
    assert_eq!(job["status"], "running", "{job}");
    // 150 was clamped to 100 (overall 80), -5 to 0; NaN was ignored (the 0 stays), its message
    // taken but cut to 1000 characters; the negative counts ignored.
    assert_eq!(job["progress"], 80, "{job}");
    assert_eq!(job["report"], json!({"percent": 0.0, "message": "m".repeat(1000)}), "{job}");
    let ended = cancel(&app, &id).await;
    assert_eq!(ended["status"], "cancelled", "{ended}");

    // Run to its end: the job completes, and its output holds the ordinary notices only.
    let job = app.wait_terminal(&app.submit(&odd(0.0)).await).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["output"], json!(["before", "between", "after"]), "{job}");
}

#[tokio::test]
async fn a_synchronous_call_that_reports_progress_succeeds() {
    let app = spawn_app().await;
    let mut body = progress(5, 0.0);
    body["capture_output"] = json!(true);
    let resp = app.post("/procedure", ADMIN, &body).await;
    assert_eq!(resp.status(), 200);
    let answer: Json = resp.json().await.unwrap();
    assert_eq!(answer, json!({"status": "ok", "out": {}, "output": []}), "reports are not output lines");
}

/// A procedure reporting 100,000 times in a tight loop: every report reaches the gateway (the
/// last one is shown), yet the job row is written a handful of times. The writes are counted
/// by a row trigger on `async_jobs`, which fires once per row an UPDATE changes, in the
/// updating transaction: unlike the cumulative statistics (flushed lazily by each backend) it
/// cannot under-count, so a gateway writing each report would fail this test by a factor of
/// a thousand.
#[tokio::test]
async fn reports_are_coalesced() {
    const REPORTS: i64 = 100_000;
    let app = spawn_app().await;
    let db = app.db.client().await;
    db.batch_execute(
        "CREATE TABLE job_row_writes (job_id text NOT NULL);
         CREATE FUNCTION count_job_row_write() RETURNS trigger LANGUAGE plpgsql AS
           $$ BEGIN INSERT INTO job_row_writes VALUES (NEW.job_id); RETURN NEW; END $$;
         CREATE TRIGGER count_job_row_writes AFTER UPDATE ON async_jobs
           FOR EACH ROW EXECUTE FUNCTION count_job_row_write();",
    )
    .await
    .unwrap();
    let body = json!({"name": "PROC_TEST_PROGRESS_FLOOD", "params": [
        {"name": "p_reports", "value": REPORTS}, {"name": "p_hold", "value": 120}
    ]});
    let id = app.submit(&body).await;
    let job = app.wait_for_job(&id, |j| j["report"]["processed"] == REPORTS).await;
    assert_eq!(job["status"], "running", "{job}");
    assert_eq!(job["report"]["message"], format!("report {REPORTS}"), "{job}");
    assert_eq!(job["progress"], 80, "{job}");
    let writes: i64 =
        db.query_one("SELECT count(*) FROM job_row_writes WHERE job_id = $1", &[&id]).await.unwrap().get(0);
    // The claim, a few milestones and one write per PROGRESS_FLUSH_INTERVAL (200 ms) while the
    // reports came in.
    assert!((1..=200).contains(&writes), "{writes} writes of the job row for {REPORTS} reports");
    cancel(&app, &id).await;
}
