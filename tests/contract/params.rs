//! Parameters the catalog completes: functions return under the first OUT parameter, and types
//! and directions left out come from the routine's signature.

use serde_json::{json, Value as Json};

use crate::contract::fixture::*;

pub async fn functions_return_under_the_first_out_parameter(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app
        .submit(&json!({"name": "PROC_TEST_FUNC", "isFunction": true, "params": [
            {"name": "resultado", "direction": "OUT", "type": "NUMBER"},
            {"name": "p_a", "value": 40},
            {"name": "p_b", "value": "2.5"}
        ]}))
        .await;
    assert_eq!(app.wait_terminal(&id).await["result"], json!({"resultado": 42.5}));
    // p_b has a default: it may be left out; without an OUT slot the value is `return`.
    let resp = app
        .post("/procedure", ADMIN, &json!({"name": "proc_test_func", "params": [{"name": "p_a", "value": 1}]}))
        .await;
    let body: Json = resp.json().await.unwrap();
    assert_eq!(body["out"], json!({"return": 2}));
}

pub async fn omitted_types_and_directions_come_from_the_catalog(db: &impl Backend) {
    let app = db.spawn_app().await;
    let id = app.submit(&json!({"name": "proc_test", "params": [{"name": "P_INPUT", "value": 5}]})).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["result"], json!({"p_output": "Procesado: 5"}));
    let stored: Json = db.stored_params(&id).await;
    assert_eq!(stored, json!([{"name": "P_INPUT", "value": 5, "direction": "IN", "type": "STRING"}]));
}
