//! Shutdown reaches every task: a synchronous call still running when the grace period ends is
//! interrupted with the jobs (one cancellation tree) and answered `503 shutting_down`.

use serde_json::json;

use crate::helpers::{call_executing, error_code, spawn_app_with, ADMIN, JOB_DEADLINE};

#[tokio::test]
async fn a_sync_call_running_at_shutdown_is_interrupted_and_answered() {
    let mut app = spawn_app_with(&[("SHUTDOWN_GRACE", "1s"), ("SYNC_TIMEOUT", "120s")]).await;
    let body = json!({"name": "PROC_TEST_DEMORA", "params": [{"name": "segundos", "value": 120, "type": "NUMBER"}]});
    let call = {
        let (client, url) = (app.client.clone(), app.url("/procedure"));
        tokio::spawn(async move { client.post(url).bearer_auth(ADMIN).json(&body).send().await.unwrap() })
    };
    call_executing(&app.db.client().await, "proc_test_demora").await;
    tokio::time::timeout(JOB_DEADLINE, app.stop()).await.expect("shutdown waited for the 120 s call");
    let answer = tokio::time::timeout(JOB_DEADLINE, call).await.expect("the call was answered").unwrap();
    assert_eq!(error_code(answer, 503).await["code"], "shutting_down");
}
