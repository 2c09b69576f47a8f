//! `GET /openapi.json` over HTTP: served without a token, OpenAPI 3.1, and what the fuzzer
//! (`scripts/api-fuzz`) found, pinned: a 405 names the allowed methods, a NUL in a text filter is
//! a 400 before the database sees it. (The document against the routes: `api::openapi`'s unit
//! tests.)

use serde_json::Value as Json;

use crate::helpers::*;

#[tokio::test]
async fn the_contract_is_served_without_a_token() {
    let app = spawn_app().await;
    let resp = app.client.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let document: Json = resp.json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/procedure/async"]["post"]["requestBody"].is_object());
    assert_eq!(document["paths"]["/openapi.json"]["get"]["security"], serde_json::json!([{}]));
}

#[tokio::test]
async fn a_method_a_path_does_not_serve_is_405_with_allow() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        ("PUT", "/jobs", "GET, DELETE"),
        ("PATCH", "/health", "GET"),
        ("DELETE", "/query", "GET, POST"),
        ("POST", "/openapi.json", "GET"),
    ] {
        let request = app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(ADMIN);
        let resp = request.send().await.unwrap();
        assert_eq!(resp.headers().get("allow").map(|v| v.to_str().unwrap()), Some(allow), "{method} {path}");
        let err = error_code(resp, 405).await;
        assert_eq!(err["code"], "method_not_allowed");
    }
}

#[tokio::test]
async fn a_nul_in_a_text_filter_is_a_400() {
    let app = spawn_app().await;
    for query in ["/jobs?owner=%00x", "/jobs?procedure=a%00", "/jobs/cancel?procedure=%00"] {
        let resp = if query.starts_with("/jobs/cancel") {
            app.client.post(app.url(query)).bearer_auth(ADMIN).send().await.unwrap()
        } else {
            app.get(query, ADMIN).await
        };
        let err = error_code(resp, 400).await;
        assert_eq!(err["code"], "invalid_query", "{query}");
    }
}
