//! Webhooks end to end: a real receiver (an actix-web server on 127.0.0.1:0 that records every
//! request, and can be told to answer 500 or to hang first) gets each subscribed event of a real
//! job, signed as Standard Webhooks says (checked here with HMAC-SHA256 computed independently);
//! a receiver error is retried; bad callbacks are refused; a delivery a killed gateway held is
//! delivered by a restarted one.
//! Not in the contract suite (yet): the kill test spawns the binary, and the outbox's rows are
//! read with PostgreSQL's SQL.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App as ActixApp, HttpRequest, HttpResponse, HttpServer};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value as Json};
use sha2::Sha256;

use crate::helpers::*;
use crate::processes::Gateway;

/// The admin token's signing secret, in Standard Webhooks' form.
const SECRET_B64: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

#[derive(Default)]
struct ReceiverState {
    received: Mutex<Vec<Received>>,
    /// Requests still to answer 500.
    fail: AtomicUsize,
    /// Requests still to leave unanswered (the sender times out or is killed meanwhile).
    hang: AtomicUsize,
}

/// A local HTTP receiver; stopped when dropped.
struct Receiver {
    port: u16,
    state: Arc<ReceiverState>,
    server: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start() -> Receiver {
        let state = Arc::new(ReceiverState::default());
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || ActixApp::new().app_data(data.clone()).default_service(web::to(record)))
            .workers(1)
            .disable_signals()
            .bind(("127.0.0.1", 0))
            .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver { port, state, server: handle }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until `n` requests have arrived.
    async fn wait_for(&self, n: usize) -> Vec<Received> {
        eventually(&format!("{n} webhook requests"), || async {
            let got = self.received();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let server = self.server.clone();
        tokio::spawn(async move { server.stop(false).await });
    }
}

async fn record(state: web::Data<ReceiverState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    state.received.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp"),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    let take = |n: &AtomicUsize| n.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |v| v.checked_sub(1)).is_ok();
    if take(&state.hang) {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    if take(&state.fail) {
        return HttpResponse::InternalServerError().body("not now");
    }
    HttpResponse::Ok().body("thanks")
}

/// The signature a receiver expects, computed here from the secret as Standard Webhooks says.
fn expected_signature(id: &str, timestamp: &str, body: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD.decode(SECRET_B64).unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes()))
}

fn webhook_env<'a>(extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut env = vec![
        ("WEBHOOK_ALLOWED_HOSTS", "127.0.0.1"),
        ("WEBHOOK_SECRETS", "admin:whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw,alice:alice-secret-0123456789"),
        ("WEBHOOK_RETRY_DELAY", "1s"),
        ("WEBHOOK_TIMEOUT", "3s"),
    ];
    env.extend_from_slice(extra);
    env
}

fn with_callback(mut job: Json, callback: Json) -> Json {
    job["callback"] = callback;
    job
}

async fn deliveries(app: &TestApp, id: &str) -> Vec<Json> {
    let resp = app.get(&format!("/jobs/{id}/deliveries"), ADMIN).await;
    assert_eq!(resp.status(), 200);
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["job_id"], id);
    body["deliveries"].as_array().unwrap().clone()
}

/// Waits until every delivery of the job has left `pending`.
async fn settled_deliveries(app: &TestApp, id: &str, n: usize) -> Vec<Json> {
    eventually("the deliveries to settle", || async {
        let d = deliveries(app, id).await;
        (d.len() == n && d.iter().all(|d| d["status"] != "pending")).then_some(d)
    })
    .await
}

#[tokio::test]
async fn each_subscribed_event_is_posted_once_signed_as_standard_webhooks_say() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(&webhook_env(&[])).await;
    let url = receiver.url("/hooks/jobs?source=procgate");
    let id =
        app.submit(&with_callback(proc_test("signed"), json!({"url": url, "events": ["started", "completed"]}))).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["status"], "completed");
    assert_eq!(job["callback"], json!({"url": url, "events": ["started", "completed"]}));

    let got = receiver.wait_for(2).await;
    let delivered = settled_deliveries(&app, &id, 2).await;
    assert_eq!(receiver.received().len(), 2, "only the subscribed events are posted");
    let now = chrono::Utc::now().timestamp();
    let mut types = Vec::new();
    for r in &got {
        assert_eq!(r.signature, expected_signature(&r.id, &r.timestamp, &r.body), "signature of {r:?}");
        let ts: i64 = r.timestamp.parse().expect("webhook-timestamp is unix seconds");
        assert!((now - 300..=now + 5).contains(&ts), "timestamp {ts} is not about now ({now})");
        let body: Json = serde_json::from_str(&r.body).unwrap();
        let event = &body["data"]["event"];
        assert_eq!(r.id, format!("{id}_{}", event["event_id"]), "webhook-id is <job>_<event>");
        assert_eq!(body["type"], format!("job.{}", event["type"].as_str().unwrap()));
        assert_eq!(event["job_id"], id);
        assert_eq!(body["data"]["job"]["id"], id);
        assert!(body["timestamp"].is_string());
        types.push(event["type"].as_str().unwrap().to_string());
    }
    types.sort();
    assert_eq!(types, ["completed", "started"]);
    for d in &delivered {
        assert_eq!(d["status"], "delivered", "{d}");
        assert_eq!(d["attempts"], 1);
        assert_eq!(d["url"], url);
        assert_eq!(d["attempt_log"][0]["status_code"], 200, "{d}");
        assert!(d["attempt_log"][0]["duration_ms"].is_u64());
        assert!(d["delivered_at"].is_string() && d["next_attempt_at"].is_null());
    }

    // Without `events`, a callback gets the job's end only.
    let id = app.submit(&with_callback(proc_test("defaults"), json!({"url": receiver.url("/end")}))).await;
    app.wait_terminal(&id).await;
    let delivered = settled_deliveries(&app, &id, 1).await;
    assert_eq!(delivered[0]["event_type"], "completed");
    assert_eq!(receiver.wait_for(3).await.len(), 3);
}

#[tokio::test]
async fn a_receiver_error_is_retried_with_the_same_id_and_body_and_the_log_shows_both_attempts() {
    let receiver = Receiver::start().await;
    receiver.state.fail.store(1, Ordering::SeqCst);
    let app = spawn_app_with(&webhook_env(&[])).await;
    let id = app.submit(&with_callback(proc_test("retried"), json!({"url": receiver.url("/flaky")}))).await;
    app.wait_terminal(&id).await;

    let delivered = settled_deliveries(&app, &id, 1).await;
    let d = &delivered[0];
    assert_eq!(d["status"], "delivered", "{d}");
    assert_eq!(d["attempts"], 2);
    let log = d["attempt_log"].as_array().unwrap();
    assert_eq!(log.len(), 2, "{d}");
    assert_eq!((log[0]["attempt"].as_i64(), log[0]["status_code"].as_i64()), (Some(1), Some(500)));
    assert_eq!((log[1]["attempt"].as_i64(), log[1]["status_code"].as_i64()), (Some(2), Some(200)));
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!((&got[0].id, &got[0].body), (&got[1].id, &got[1].body), "a retry is the same message");
    for r in &got {
        assert_eq!(r.signature, expected_signature(&r.id, &r.timestamp, &r.body));
    }
}

#[tokio::test]
async fn attempts_stop_at_the_limit_and_the_delivery_fails() {
    let receiver = Receiver::start().await;
    receiver.state.fail.store(100, Ordering::SeqCst);
    let app = spawn_app_with(&webhook_env(&[("WEBHOOK_MAX_ATTEMPTS", "2")])).await;
    let id = app.submit(&with_callback(proc_test("given-up"), json!({"url": receiver.url("/down")}))).await;
    let d = &settled_deliveries(&app, &id, 1).await[0];
    assert_eq!((d["status"].as_str(), d["attempts"].as_i64()), (Some("failed"), Some(2)), "{d}");
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn bad_callbacks_are_refused_and_foreign_deliveries_are_not_found() {
    let receiver = Receiver::start().await;
    let default = receiver.url("/alice");
    let defaults = format!("alice={default}|failed");
    let app = spawn_app_with(&webhook_env(&[("WEBHOOK_DEFAULT_CALLBACKS", &defaults)])).await;
    let port = receiver.port.to_string();
    for (callback, field) in [
        (json!({"url": "http://elsewhere.example/hook"}), "callback.url"),
        (json!({"url": "http://localhost:1/hook"}), "callback.url"),
        (json!({"url": format!("ftp://127.0.0.1:{port}/hook")}), "callback.url"),
        (json!({"url": format!("http://user:pass@127.0.0.1:{port}/hook")}), "callback.url"),
        (json!({"url": "not a url"}), "callback.url"),
        (json!({"url": "/relative"}), "callback.url"),
        (json!({"url": receiver.url("/x"), "events": ["deleted"]}), "callback.events"),
        (json!({"url": receiver.url("/x"), "events": ["done"]}), "callback.events"),
    ] {
        let resp = app.post("/procedure/async", ADMIN, &with_callback(proc_test("bad"), callback.clone())).await;
        let error = error_code(resp, 422).await;
        assert_eq!(
            (error["code"].as_str(), error["field"].as_str()),
            (Some("invalid_callback"), Some(field)),
            "{callback}"
        );
    }
    // Bob has no signing secret: his jobs cannot have a callback.
    let resp =
        app.post("/procedure/async", BOB, &with_callback(proc_test("x"), json!({"url": receiver.url("/")}))).await;
    assert_eq!(error_code(resp, 422).await["code"], "invalid_callback");
    // A callback of the wrong shape is a bad body.
    let resp = app.post("/procedure/async", ADMIN, &with_callback(proc_test("x"), json!({"url": 5}))).await;
    assert_eq!(error_code(resp, 400).await["code"], "invalid_json");
    let resp = app
        .post("/procedure/async", ADMIN, &with_callback(proc_test("x"), json!({"url": "http://h/", "secret": 1})))
        .await;
    assert_eq!(error_code(resp, 400).await["code"], "unknown_field");
    assert_eq!(count(&app.db.client().await, "SELECT count(*) FROM async_jobs").await, 0, "a refused job was stored");

    // Alice's default callback applies unless her request says `"callback": null`.
    let with_default = app.submit_as(ALICE, &proc_test("default")).await;
    let without = app.submit_as(ALICE, &with_callback(proc_test("none"), Json::Null)).await;
    assert_eq!(app.job(&with_default).await["callback"], json!({"url": default, "events": ["failed"]}));
    assert_eq!(app.job(&without).await["callback"], Json::Null);

    // Deliveries follow GET /jobs/{id}'s rules: another client's job, or none, is not found.
    let resp = app.get(&format!("/jobs/{with_default}/deliveries"), BOB).await;
    assert_eq!(error_code(resp, 404).await["code"], "job_not_found");
    let resp = app.get("/jobs/0123456789abcdef0123456789abcdef/deliveries", ADMIN).await;
    assert_eq!(error_code(resp, 404).await["code"], "job_not_found");
    assert_eq!(error_code(app.get("/jobs/nope/deliveries", ADMIN).await, 404).await["code"], "job_not_found");
    assert_eq!(app.get(&format!("/jobs/{with_default}/deliveries"), ALICE).await.status(), 200);

    // With WEBHOOK_ALLOWED_HOSTS empty, webhooks are off: every callback is refused.
    let off = spawn_on(app.db.clone(), &[]).await;
    let resp =
        off.post("/procedure/async", ADMIN, &with_callback(proc_test("x"), json!({"url": receiver.url("/")}))).await;
    let error = error_code(resp, 422).await;
    assert!(error["message"].as_str().unwrap().contains("WEBHOOK_ALLOWED_HOSTS"), "{error}");
}

#[tokio::test]
async fn deliveries_go_with_their_job() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(&webhook_env(&[])).await;
    let id = app.submit(&with_callback(proc_test("deleted"), json!({"url": receiver.url("/")}))).await;
    settled_deliveries(&app, &id, 1).await;
    assert_eq!(app.delete(&format!("/jobs/{id}"), ADMIN).await.status(), 200);
    let sql = app.db.client().await;
    assert_eq!(count(&sql, "SELECT count(*) FROM async_job_deliveries").await, 0);
}

#[tokio::test]
async fn a_delivery_held_by_a_killed_gateway_is_delivered_after_a_restart() {
    let db = TestDatabase::create().await;
    let client = reqwest::Client::new();
    let sql = db.client().await;
    let receiver = Receiver::start().await;
    // The first request hangs: the first gateway is killed while it holds the delivery.
    receiver.state.hang.store(1, Ordering::SeqCst);
    // Its lease is 2 x WEBHOOK_TIMEOUT + 5 s = 15 s; the kill comes well before the 5 s attempt ends.
    let env = webhook_env(&[("WEBHOOK_TIMEOUT", "5s")]);
    let mut first = Gateway::start_with(&db.url, "killed-while-delivering", &env);
    first.wait_ready(&client).await;
    let body = with_callback(proc_test("durable"), json!({"url": receiver.url("/durable")}));
    let resp =
        client.post(format!("{}/procedure/async", first.base)).bearer_auth(ADMIN).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), 202);
    let id = resp.json::<Json>().await.unwrap()["job_id"].as_str().unwrap().to_string();
    receiver.wait_for(1).await;
    let held: i64 = count(
        &sql,
        "SELECT count(*) FROM async_job_deliveries WHERE instance_id = 'killed-while-delivering' AND attempts = 0",
    )
    .await;
    assert_eq!(held, 1, "the first gateway should hold the delivery, unanswered");
    first.child.kill().unwrap(); // SIGKILL: the attempt is never recorded
    first.child.wait().unwrap();

    // The restarted gateway takes the delivery once the dead instance's lease has run out.
    let second = Gateway::start_with(&db.url, "restarted", &webhook_env(&[]));
    second.wait_ready(&client).await;
    let row = eventually("the delivery to be delivered by the restarted gateway", || async {
        let row = sql
            .query_one("SELECT status, attempts, attempt_log FROM async_job_deliveries WHERE job_id = $1", &[&id])
            .await
            .unwrap();
        (row.get::<_, String>(0) == "delivered").then_some(row)
    })
    .await;
    assert_eq!(row.get::<_, i32>(1), 1, "the killed attempt left no record; the restart's is the first");
    let got = receiver.received();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].id, got[1].id, "the redelivery carries the same webhook-id");
    assert_eq!(got[1].signature, expected_signature(&got[1].id, &got[1].timestamp, &got[1].body));
}
