//! Tokens, the IP allowlist, and job ownership between clients.

use serde_json::Value as Json;

use crate::helpers::*;

#[tokio::test]
async fn missing_or_wrong_tokens_are_401() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/jobs")).send().await.unwrap();
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    let err = error_code(resp, 401).await;
    assert_eq!(err["code"], "unauthorized");
    error_code(app.get("/jobs", "wrong-token-123").await, 401).await;
    error_code(app.post("/procedure/async", "wrong-token-123", &proc_test("x")).await, 401).await;
    let resp = app.client.get(app.url("/jobs")).header("authorization", format!("Basic {ADMIN}")).send().await.unwrap();
    error_code(resp, 401).await;
    // Health probes need no token.
    assert_eq!(app.client.get(app.url("/health")).send().await.unwrap().status(), 200);
    assert_eq!(app.client.get(app.url("/ready")).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn ip_allowlist_refuses_other_addresses() {
    let outside = spawn_app_with(&[("API_ALLOWED_IPS", "10.0.0.0/8, 192.168.1.7")]).await;
    let err = error_code(outside.get("/jobs", ADMIN).await, 403).await;
    assert_eq!(err["code"], "ip_not_allowed");
    let local = spawn_app_with(&[("API_ALLOWED_IPS", "10.0.0.0/8,localhost")]).await;
    assert_eq!(local.get("/jobs", ADMIN).await.status(), 200);
    let cidr = spawn_app_with(&[("API_ALLOWED_IPS", "127.0.0.0/24")]).await;
    assert_eq!(cidr.get("/jobs", ADMIN).await.status(), 200);
}

#[tokio::test]
async fn clients_see_only_their_own_jobs_admins_see_all() {
    let app = spawn_app().await;
    let alices = app.submit_as(ALICE, &proc_test("alice")).await;
    let bobs = app.submit_as(BOB, &proc_test("bob")).await;
    app.wait_terminal(&alices).await;
    app.wait_terminal(&bobs).await;

    assert_eq!(app.get(&format!("/jobs/{alices}"), ALICE).await.status(), 200);
    let err = error_code(app.get(&format!("/jobs/{alices}"), BOB).await, 404).await;
    assert_eq!(err["code"], "job_not_found");
    error_code(app.delete(&format!("/jobs/{alices}"), BOB).await, 404).await;

    let bob_list: Json = app.get("/jobs", BOB).await.json().await.unwrap();
    assert_eq!(bob_list["total"], 1);
    assert_eq!(bob_list["jobs"][0]["id"], bobs.as_str());
    let admin_list: Json = app.get("/jobs", ADMIN).await.json().await.unwrap();
    assert_eq!(admin_list["total"], 2);
    let job: Json = app.get(&format!("/jobs/{alices}"), ADMIN).await.json().await.unwrap();
    assert_eq!(job["owner"], "alice");

    // Bulk delete by Bob removes only Bob's jobs.
    let body: Json = app.delete("/jobs?status=completed", BOB).await.json().await.unwrap();
    assert_eq!(body["deleted"], 1);
    assert_eq!(app.get(&format!("/jobs/{alices}"), ALICE).await.status(), 200);
    assert_eq!(app.delete(&format!("/jobs/{alices}"), ALICE).await.status(), 200);
}

#[tokio::test]
async fn predecessor_single_token_is_an_admin() {
    let app = spawn_app_with(&[("API_TOKENS", ""), ("API_TOKEN", "legacy-token-1")]).await;
    let id = app.submit_as("legacy-token-1", &proc_test("x")).await;
    let job: Json = app.get(&format!("/jobs/{id}"), "legacy-token-1").await.json().await.unwrap();
    assert_eq!(job["owner"], "default");
}
