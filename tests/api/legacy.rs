//! The predecessor's other endpoints: `/ping` and `/docs` answer as its clients expect; raw SQL,
//! files and its log file are refused with a JSON 404 that says why.
//! Not in the contract suite: HTTP routing only (the ping's database check is /ready's).

use serde_json::{json, Value as Json};

use crate::helpers::*;

#[tokio::test]
async fn ping_and_docs_answer_as_the_predecessor_did() {
    let app = spawn_app().await;
    let resp = app.get("/ping", ALICE).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.json::<Json>().await.unwrap(), json!({"status": "ok"}));
    error_code(app.client.get(app.url("/ping")).send().await.unwrap(), 401).await;
    let resp = app.client.get(app.url("/docs")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/markdown"));
    assert!(resp.text().await.unwrap().starts_with("# procgate"));
}

#[tokio::test]
async fn raw_sql_files_and_logs_are_refused_and_say_why() {
    let app = spawn_app().await;
    for (method, path, code) in [
        ("POST", "/query", "raw_sql_not_offered"),
        ("POST", "/exec", "raw_sql_not_offered"),
        ("GET", "/query", "raw_sql_not_offered"),
        ("POST", "/upload", "files_not_offered"),
        ("GET", "/download", "files_not_offered"),
        ("GET", "/logs", "logs_not_offered"),
    ] {
        let request = match method {
            "POST" => app.client.post(app.url(path)).json(&json!({"query": "DELETE FROM async_jobs"})),
            _ => app.client.get(app.url(path)),
        };
        let err = error_code(request.bearer_auth(ADMIN).send().await.unwrap(), 404).await;
        assert_eq!(err["code"], code, "{method} {path}");
    }
    // Nothing ran: the table still answers, and holds what it held.
    assert_eq!(app.get("/jobs", ADMIN).await.status(), 200);
}
