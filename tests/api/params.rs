//! PostgreSQL-only parameter tests (the shared ones are in tests/contract/params.rs; Oracle's
//! type round trips are in tests/oracle_live.rs): `proc_test_echo` and numeric scale are
//! PostgreSQL's own. Exact numbers, times with their time of day and offset, JSON and booleans,
//! INOUT.

use serde_json::{json, Value as Json};

use crate::helpers::*;

fn echo(number: Json) -> Json {
    let doc: Json = serde_json::from_str(r#"{"a": [1, 2.50, "x"], "big": 12345678901234567890123}"#).unwrap();
    json!({"name": "PROC_TEST_ECHO", "params": [
        {"name": "p_number", "value": number, "type": "NUMBER"},
        {"name": "p_ts", "value": "2024-12-16T15:30:00.123456+02:00", "type": "TIMESTAMP"},
        {"name": "p_local", "value": "2024-12-16T23:59:58.5"},
        {"name": "p_day", "value": "16/12/2024"},
        {"name": "p_flag", "value": true},
        {"name": "p_doc", "value": doc},
        {"name": "p_count", "value": "7"}
    ]})
}

#[tokio::test]
async fn numbers_round_trip_exactly_and_times_keep_time_of_day() {
    let app = spawn_app().await;
    let number: Json = serde_json::from_str("12345678901234567890.123456789").unwrap();
    let id = app.submit(&echo(number)).await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["status"], "completed", "{job}");
    let r = &job["result"];
    assert_eq!(r["o_number"].to_string(), "12345678901234567890.123456789");
    assert_eq!(r["o_ts"], "2024-12-16T13:30:00.123456Z");
    assert_eq!(r["o_local"], "2024-12-16T23:59:58.500");
    assert_eq!(r["o_day"], "2024-12-16");
    assert_eq!(r["o_flag"], true);
    assert_eq!(r["o_doc"]["big"].to_string(), "12345678901234567890123");
    assert_eq!(r["o_doc"]["a"].to_string(), r#"[1,2.50,"x"]"#);
    assert_eq!(r["o_count"], 7);
    // The stored params keep the exact digits too.
    assert_eq!(job["params"]["p_number"].to_string(), "12345678901234567890.123456789");

    // A decimal string is exact as well, and so is a negative tiny number, synchronously.
    for text in ["-0.000000000000000000000000000001", "99999999999999999999999999999999.99"] {
        let resp = app.post("/procedure", ADMIN, &echo(json!(text))).await;
        let body: Json = resp.json().await.unwrap();
        assert_eq!(body["out"]["o_number"].to_string(), text, "{body}");
    }
}

#[tokio::test]
async fn inout_parameters_carry_values_both_ways() {
    let app = spawn_app().await;
    let id = app
        .submit(&json!({"name": "PROC_TEST_INOUT", "params": [
            {"name": "p_value", "value": "21.5", "direction": "INOUT", "type": "NUMBER"},
            {"name": "p_text", "value": "hola", "direction": "inout"}
        ]}))
        .await;
    let job = app.wait_terminal(&id).await;
    assert_eq!(job["result"], json!({"p_value": 43.0, "p_text": "hola!"}), "{job}");
    assert_eq!(job["result"]["p_value"].to_string(), "43.0");
}
