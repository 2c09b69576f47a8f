//! Job events: the history kept with each job, Server-Sent Events (one job, or every job a
//! caller may see) resumed with `Last-Event-ID`, the long poll, and events reaching another
//! instance.

use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{json, Value as Json};

use super::fixture::{demora, error_code, proc_test, App, Backend, ADMIN, ALICE, BOB, JOB_DEADLINE};

/// One Server-Sent Event.
#[derive(Debug)]
pub struct SseEvent {
    pub id: i64,
    pub event: String,
    pub data: Json,
}

/// Reads a `text/event-stream` answer event by event.
pub struct SseReader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl SseReader {
    pub async fn open(app: &App, path: &str, token: &str, last_event_id: Option<i64>) -> SseReader {
        let mut request = app.client.get(app.url(path)).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        SseReader { body: resp.bytes_stream().boxed(), buffer: String::new() }
    }

    /// The next event (keep-alive comments skipped); `None` when the server ended the stream.
    /// Fails the test at the deadline.
    pub async fn next(&mut self) -> Option<SseEvent> {
        let deadline = Instant::now() + JOB_DEADLINE;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.body.next()).await {
                Err(_) => panic!("no event within {JOB_DEADLINE:?}; buffered: {:?}", self.buffer),
                Ok(None) => return None,
                Ok(Some(chunk)) => self.buffer.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
            }
        }
    }

    /// Every event until the server ends the stream.
    pub async fn rest(&mut self) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while let Some(e) = self.next().await {
            events.push(e);
        }
        events
    }
}

/// One event block (`id: ..`, `event: ..`, `data: ..`); `None` for a comment.
pub fn parse(block: &str) -> Option<SseEvent> {
    let (mut id, mut event, mut data) = (None, None, None);
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.parse().ok();
        } else if let Some(v) = line.strip_prefix("event: ") {
            event = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(serde_json::from_str(v).expect("event data is JSON"));
        }
    }
    Some(SseEvent { id: id?, event: event?, data: data? })
}

fn types(events: &[SseEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event.as_str()).collect()
}

/// The events of a job's history that do not depend on timing: a `progress` milestone is
/// written only when the job is still running at the writer's flush (a slow machine), so a
/// quick job's history may or may not hold one between `started` and `completed`.
fn milestones_aside<'a>(types: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let types: Vec<&str> = types.into_iter().collect();
    let (first_progress, last_progress) =
        (types.iter().position(|t| *t == "progress"), types.iter().rposition(|t| *t == "progress"));
    if let (Some(first), Some(last)) = (first_progress, last_progress) {
        let started = types.iter().position(|t| *t == "started");
        let completed = types.iter().position(|t| *t == "completed");
        assert!(started.is_none_or(|s| s < first), "a progress event before the start: {types:?}");
        assert!(completed.is_none_or(|c| last < c), "a progress event after the end: {types:?}");
    }
    types.into_iter().filter(|t| *t != "progress").collect()
}

pub async fn a_jobs_history_streams_to_its_end_and_resumes_after_an_id(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app.submit(&proc_test("events")).await;
    app.wait_terminal(&id).await;
    let events = SseReader::open(&app, &format!("/jobs/{id}/events"), ADMIN, None).await.rest().await;
    assert_eq!(milestones_aside(types(&events)), ["accepted", "started", "completed"], "{events:?}");
    assert!(events.windows(2).all(|w| w[0].id < w[1].id), "ids grow: {events:?}");
    for e in &events {
        assert_eq!(e.data["job_id"], id.as_str());
        assert_eq!(e.data["type"], e.event.as_str());
        assert_eq!(e.data["event_id"], e.id);
    }
    let started = events.iter().find(|e| e.event == "started").unwrap();
    let completed = events.last().unwrap();
    assert_eq!((started.data["status"].as_str(), started.data["attempt"].as_i64()), (Some("running"), Some(1)));
    assert_eq!(
        (completed.event.as_str(), completed.data["status"].as_str(), completed.data["progress"].as_i64()),
        ("completed", Some("completed"), Some(100))
    );
    // Resumed after `started`: only what followed it, then the end.
    let rest = SseReader::open(&app, &format!("/jobs/{id}/events"), ADMIN, Some(started.id)).await.rest().await;
    assert_eq!(milestones_aside(types(&rest)), ["completed"]);
    assert_eq!(rest.last().unwrap().id, completed.id);
    // The same rows are readable in the database, and go with the job.
    let stored = db.stored_events(&id).await;
    assert_eq!(milestones_aside(stored.iter().map(String::as_str)), ["accepted", "started", "completed"]);
    assert_eq!(app.delete(&format!("/jobs/{id}"), ADMIN).await.status(), 200);
    assert_eq!(db.stored_events(&id).await, ["deleted"]);
}

pub async fn live_events_arrive_while_the_job_runs_and_a_delete_ends_the_stream(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app.submit(&demora(1.0)).await;
    let mut stream = SseReader::open(&app, &format!("/jobs/{id}/events"), ADMIN, None).await;
    let mut seen = Vec::new();
    while let Some(e) = stream.next().await {
        if e.event == "started" {
            // Live: the stream reports the start while the call is still running.
            assert_eq!(app.job(&id).await["status"], "running");
        }
        seen.push(e.event);
    }
    assert_eq!(seen.first().map(String::as_str), Some("accepted"));
    assert!(seen.contains(&"started".to_string()), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("completed"), "{seen:?}");

    // A job deleted while someone watches it: `deleted` is its last event.
    let mut later = demora(0.1);
    later["delay_seconds"] = json!(3600);
    let id = app.submit(&later).await;
    let mut stream = SseReader::open(&app, &format!("/jobs/{id}/events"), ADMIN, None).await;
    assert_eq!(stream.next().await.unwrap().event, "accepted");
    assert_eq!(app.delete(&format!("/jobs/{id}"), ADMIN).await.status(), 200);
    let rest = stream.rest().await;
    assert_eq!(types(&rest), ["deleted"]);
    assert_eq!(rest[0].data["status"], "pending", "the status it had when deleted");
}

pub async fn events_follow_ownership_and_bad_resume_points_are_refused(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app.submit_as(ALICE, &proc_test("mine")).await;
    error_code(app.get(&format!("/jobs/{id}/events"), BOB).await, 404).await;
    error_code(app.get("/jobs/0123456789abcdef0123456789abcdef/events", ADMIN).await, 404).await;
    let resp = app
        .client
        .get(app.url(&format!("/jobs/{id}/events")))
        .bearer_auth(ALICE)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(resp, 400).await["code"], "invalid_event_id");
    error_code(app.get(&format!("/jobs/{id}/events?after=-1"), ALICE).await, 400).await;
    error_code(app.get("/events?status=sleeping", ALICE).await, 400).await;
}

pub async fn the_long_poll_answers_at_the_next_event_or_at_its_deadline(db: &impl Backend) {
    let app = db.spawn_app_with(&[("MAX_WAIT", "20s")]).await;
    let mut later = proc_test("long-poll");
    later["delay_seconds"] = json!(3600);
    let id = app.submit(&later).await;
    // `after` alone answers at once, with the id to wait after.
    let now: Json = app.get(&format!("/jobs/{id}?after=0"), ADMIN).await.json().await.unwrap();
    let accepted = now["last_event_id"].as_i64().expect("last_event_id");
    assert!(accepted > 0 && now["status"] == "pending", "{now}");
    // Nothing happens: the answer comes at the deadline, with the same id.
    let quiet: Json = app.get(&format!("/jobs/{id}?wait=1s&after={accepted}"), ADMIN).await.json().await.unwrap();
    assert_eq!((quiet["last_event_id"].as_i64(), quiet["status"].as_str()), (Some(accepted), Some("pending")));
    // Something happens: a poll held across it answers with the change.
    let poll = {
        let (client, url) = (app.client.clone(), app.url(&format!("/jobs/{id}?wait=20s&after={accepted}")));
        tokio::spawn(async move { client.get(url).bearer_auth(ADMIN).send().await.unwrap().json::<Json>().await })
    };
    let cancelled = app.post(&format!("/jobs/{id}/cancel"), ADMIN, &json!({})).await;
    assert_eq!(cancelled.status(), 200);
    let changed = tokio::time::timeout(JOB_DEADLINE, poll).await.expect("the poll answered").unwrap().unwrap();
    assert_eq!(changed["status"], "cancelled", "{changed}");
    assert!(changed["last_event_id"].as_i64().unwrap() > accepted);
    // Bad parameters.
    for bad in ["wait=21s", "wait=soon", "after=x", "wait=5s&after=-3"] {
        error_code(app.get(&format!("/jobs/{id}?{bad}"), ADMIN).await, 400).await;
    }
    error_code(app.get(&format!("/jobs/{id}?wait=1s"), BOB).await, 404).await;
}

pub async fn the_feed_shows_each_caller_its_own_jobs_filtered_and_resumable(db: &impl Backend) {
    let app = db.spawn_app().await;
    let mut alice = SseReader::open(&app, "/events", ALICE, None).await;
    let mut admin_done = SseReader::open(&app, "/events?status=completed&procedure=proc_test", ADMIN, None).await;
    let bobs = app.submit_as(BOB, &proc_test("bob")).await;
    let alices = app.submit_as(ALICE, &proc_test("alice")).await;
    app.wait_terminal(&bobs).await;
    app.wait_terminal(&alices).await;
    let mut mine = Vec::new();
    while mine.last().map(|e: &SseEvent| e.event.as_str()) != Some("completed") {
        let e = alice.next().await.expect("the feed stays open");
        assert_eq!(e.data["job_id"], alices.as_str(), "alice sees only her job: {e:?}");
        mine.push(e);
    }
    assert_eq!(milestones_aside(types(&mine)), ["accepted", "started", "completed"]);
    let mut completed = vec![admin_done.next().await.unwrap(), admin_done.next().await.unwrap()];
    completed.sort_by_key(|e| e.id);
    assert!(completed.iter().all(|e| e.event == "completed"), "{completed:?}");
    let mut jobs: Vec<&str> = completed.iter().map(|e| e.data["job_id"].as_str().unwrap()).collect();
    jobs.sort_unstable();
    let mut expected = [bobs.as_str(), alices.as_str()];
    expected.sort_unstable();
    assert_eq!(jobs, expected);
    // Resumed after alice's first event: the two that followed, then live.
    let mut resumed = SseReader::open(&app, "/events", ALICE, Some(mine[0].id)).await;
    let again = [resumed.next().await.unwrap(), resumed.next().await.unwrap()];
    assert_eq!([again[0].id, again[1].id], [mine[1].id, mine[2].id]);
}

pub async fn events_written_by_one_instance_reach_readers_on_another(db: &impl Backend) {
    let reader = db.spawn_app_with(&[("WORKERS", "1")]).await;
    let writer = db.spawn_app().await;
    let mut feed = SseReader::open(&reader, "/events", ADMIN, None).await;
    // Accepted by the writer instance: only its announcement (or the poll) tells the reader.
    let mut later = proc_test("elsewhere");
    later["delay_seconds"] = json!(3600);
    let id = writer.submit(&later).await;
    let e = feed.next().await.expect("the event reaches the other instance");
    assert_eq!((e.event.as_str(), e.data["job_id"].as_str()), ("accepted", Some(id.as_str())));
    let cancelled = writer.post(&format!("/jobs/{id}/cancel"), ADMIN, &json!({})).await;
    assert_eq!(cancelled.status(), 200);
    let e = feed.next().await.unwrap();
    assert_eq!((e.event.as_str(), e.data["job_id"].as_str()), ("cancelled", Some(id.as_str())));
}

pub async fn the_procedures_own_progress_streams_live_with_its_figures(db: &impl Backend) {
    let app = db.spawn_app_with(&[("PROGRESS_FLUSH_INTERVAL", "50ms")]).await;
    let body = json!({"name": "PROC_TEST_PROGRESS", "params": [
        {"name": "p_items", "value": 20}, {"name": "p_seconds", "value": 4}
    ]});
    let id = app.submit(&body).await;
    let mut stream = SseReader::open(&app, &format!("/jobs/{id}/events"), ADMIN, None).await;
    let mut reports = Vec::new();
    let mut last = None;
    while let Some(e) = stream.next().await {
        if e.event == "progress" {
            if let Some(percent) = e.data["report"]["percent"].as_f64() {
                reports.push((percent, e.data["progress"].as_i64().unwrap(), e.data.clone()));
            }
        }
        last = Some(e.event);
    }
    assert_eq!(last.as_deref(), Some("completed"));
    let (percent, overall, mid) =
        reports.iter().find(|(p, _, _)| *p > 0.0 && *p < 100.0).expect("a report from the middle of the call");
    assert_eq!(mid["status"], "running", "{mid}");
    assert!((50..=80).contains(overall), "overall progress maps the report into 50..80: {mid}");
    assert_eq!(mid["report"]["total"], 20, "{mid}");
    let processed = mid["report"]["processed"].as_i64().unwrap();
    assert!((1..20).contains(&processed), "{mid}");
    assert_eq!(mid["report"]["message"], format!("item {processed} of 20"), "{mid}");
    assert!(*percent <= 100.0);
    let overall: Vec<i64> = reports.iter().map(|r| r.1).collect();
    assert!(overall.windows(2).all(|w| w[0] <= w[1]), "overall progress never goes back: {overall:?}");
}

pub async fn a_long_poll_sees_the_procedures_progress_mid_call(db: &impl Backend) {
    let app = db.spawn_app_with(&[("PROGRESS_FLUSH_INTERVAL", "50ms")]).await;
    let body = json!({"name": "PROC_TEST_PROGRESS", "params": [
        {"name": "p_items", "value": 20}, {"name": "p_seconds", "value": 4}
    ]});
    let id = app.submit(&body).await;
    let mut after = 0;
    let deadline = Instant::now() + JOB_DEADLINE;
    loop {
        let job: Json = app.get(&format!("/jobs/{id}?wait=10s&after={after}"), ADMIN).await.json().await.unwrap();
        let next = job["last_event_id"].as_i64().expect("last_event_id");
        assert!(next >= after, "last_event_id never goes back: {job}");
        after = next;
        let percent = job["report"]["percent"].as_f64();
        if job["status"] == "running" && percent.is_some_and(|p| p > 0.0 && p < 100.0) {
            assert!(job["message"].is_string() || job["report"]["message"].is_string(), "{job}");
            break;
        }
        assert!(job["status"] != "completed", "the job ended before a poll saw its progress: {job}");
        assert!(Instant::now() < deadline, "no progress seen: {job}");
    }
}
