//! Tokens, the IP allowlist, and job ownership between clients.
//! Not in the contract suite: the HTTP edge (tokens, addresses), no database behaviour.

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

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app().await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let resp =
            app.client.get(app.url("/jobs")).header("authorization", format!("{scheme} {ALICE}")).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{scheme}");
    }
    // Another scheme, no token, or the token glued to the scheme are refused.
    for header in [format!("Token {ALICE}"), "Bearer ".to_string(), format!("Bearer{ALICE}"), ALICE.to_string()] {
        let resp = app.client.get(app.url("/jobs")).header("authorization", &header).send().await.unwrap();
        assert_eq!(error_code(resp, 401).await["code"], "unauthorized", "{header:?}");
    }
}

#[tokio::test]
async fn prefixes_and_extensions_of_a_token_are_refused() {
    let app = spawn_app().await;
    for token in [&ADMIN[..ADMIN.len() - 1], &format!("{ADMIN}0"), &ADMIN[..8], &format!("{ALICE}{BOB}")] {
        error_code(app.get("/jobs", token).await, 401).await;
    }
    // Every configured entry is found, whatever its place in API_TOKENS.
    for (token, owner) in [(ADMIN, "admin"), (ALICE, "alice"), (BOB, "bob")] {
        let id = app.submit_as(token, &proc_test("x")).await;
        let job: Json = app.get(&format!("/jobs/{id}"), ADMIN).await.json().await.unwrap();
        assert_eq!(job["owner"], owner);
    }
}

#[tokio::test]
async fn two_entries_with_the_same_token_refuse_to_start() {
    let db = TestDatabase::create().await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_procgate"))
        .args(["serve"])
        .env("DATABASE_URL", &db.url)
        .env("PORT", "0")
        .env("RUST_LOG", "warn")
        .env("API_TOKENS", "reports:shared-secret-1,ops:shared-secret-1:admin")
        .env_remove("API_TOKEN")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("API_TOKENS") && stderr.contains("\"reports\"") && stderr.contains("\"ops\""), "{stderr}");
    assert!(!stderr.contains("shared-secret-1"), "the token leaked into the message: {stderr}");
}
