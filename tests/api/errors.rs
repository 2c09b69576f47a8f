//! PostgreSQL-only error tests (the shared ones are in tests/contract/errors.rs): the database
//! disappears (`DROP DATABASE`) under a running gateway.

use serde_json::Value as Json;

use crate::helpers::*;

#[tokio::test]
async fn database_gone_answers_503_and_ready_says_so() {
    let app = spawn_app().await;
    assert_eq!(app.client.get(app.url("/ready")).send().await.unwrap().status(), 200);
    // Warm the signature cache so the request reaches the insert.
    app.wait_terminal(&app.submit(&proc_test("warm")).await).await;
    let admin_url = app.db.url.rsplit_once('/').unwrap().0.to_string() + "/postgres";
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    admin.batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", app.db.name)).await.unwrap();

    let err = error_code(app.client.get(app.url("/ready")).send().await.unwrap(), 503).await;
    assert_eq!(err["code"], "database_unavailable");
    let err = error_code(app.post("/procedure/async", ADMIN, &proc_test("x")).await, 503).await;
    assert_eq!(err["code"], "database_unavailable");
    let health: Json = app.client.get(app.url("/health")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
}
