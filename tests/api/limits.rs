//! Requests that cost too much are refused early and cheaply: too many parameters, long names
//! quoted short, values the database cannot store, schedules beyond the horizon, and callers
//! with too many jobs waiting. None of them may hold up the rest of the server.
//! Not in the contract suite (yet): its value-range cases use PostgreSQL's `proc_test_limits`
//! types (smallint, integer, date, timestamptz), which Oracle's differ from.

use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};

use crate::helpers::*;

async fn jobs_in_table(app: &TestApp) -> i64 {
    count(&app.db.client().await, "SELECT count(*) FROM async_jobs").await
}

/// A body naming `n` distinct parameters of PROC_TEST (all but the first unknown to it).
fn many_params(n: usize) -> String {
    let params: Vec<Json> = (0..n).map(|i| json!({"name": format!("p{i}")})).collect();
    json!({"name": "PROC_TEST", "params": params}).to_string()
}

/// Asks /health every 50 ms until `stop`, failing if one answer takes longer than `deadline`.
async fn health_keeps_answering(
    app: &TestApp,
    deadline: Duration,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Duration {
    let mut slowest = Duration::ZERO;
    while !*stop.borrow() {
        let start = Instant::now();
        let resp = app.client.get(app.url("/health")).timeout(deadline).send().await;
        let took = start.elapsed();
        assert!(resp.is_ok_and(|r| r.status() == 200), "/health did not answer within {deadline:?} meanwhile");
        slowest = slowest.max(took);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    slowest
}

#[tokio::test]
async fn huge_parameter_lists_are_refused_and_health_answers_meanwhile() {
    // Bodies up to 4 MiB, so it is MAX_PARAMS that refuses 60,000 parameters, not the body limit;
    // a second app accepts them all, so planning itself must be linear.
    let app = spawn_app_with(&[("MAX_BODY_BYTES", "4194304")]).await;
    let lenient = spawn_on(app.db.clone(), &[("MAX_BODY_BYTES", "4194304"), ("MAX_PARAMS", "65535")]).await;
    let body = many_params(60_000);
    let send = |app: &TestApp, path: &str| {
        app.client
            .post(app.url(path))
            .bearer_auth(ADMIN)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
    };

    // More heavy requests than the server has workers, so a slow check would leave none for /health.
    let heavy = 2 * std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let (health, (refused, planned)) =
        tokio::join!(health_keeps_answering(&lenient, Duration::from_secs(5), stop_rx), async {
            let refused = futures_util::future::join_all([send(&app, "/procedure/async"), send(&app, "/procedure")]);
            let paths = (0..heavy).map(|i| if i % 2 == 0 { "/procedure/async" } else { "/procedure" });
            let planned = futures_util::future::join_all(paths.map(|path| send(&lenient, path)));
            let answers = tokio::join!(refused, planned);
            stop_tx.send(true).unwrap();
            answers
        });
    println!(
        "{} requests of 60,000 parameters answered in {:?}; slowest /health meanwhile {health:?}",
        heavy + 2,
        started.elapsed()
    );

    for resp in refused {
        let err = error_code(resp.unwrap(), 413).await;
        assert_eq!(err["code"], "too_many_parameters", "{err}");
        assert_eq!(err["limit"], 1000);
    }
    for resp in planned {
        let err = error_code(resp.unwrap(), 422).await;
        assert_eq!((err["code"].as_str(), err["param"].as_str()), (Some("invalid_parameter"), Some("p0")), "{err}");
    }
    // Duplicates among many are found too.
    let mut dup: Json = serde_json::from_str(&many_params(30_000)).unwrap();
    dup["params"].as_array_mut().unwrap().push(json!({"name": "P29999"}));
    let err = error_code(lenient.post("/procedure", ADMIN, &dup).await, 422).await;
    assert_eq!(err["param"], "P29999", "{err}");
    assert_eq!(jobs_in_table(&app).await, 0);
}

#[tokio::test]
async fn long_input_is_quoted_short_in_error_messages() {
    let app = spawn_app().await;
    let long = "x".repeat(10_000);
    let digits = "9".repeat(10_000);
    let cases = [
        (json!({"name": "PROC_TEST", "params": [{"name": long, "value": "v"}]}), 422, "invalid_parameter"),
        (json!({"name": "PROC_TEST", "params": [{"name": "p_input", "direction": long}]}), 422, "invalid_parameter"),
        (json!({"name": "PROC_TEST", "params": [{"name": "p_input", "type": long}]}), 422, "invalid_parameter"),
        (json!({"name": long}), 400, "invalid_procedure_name"),
        // (PostgreSQL names stop at 63 bytes; a longer unknown name is not this test's subject.)
        (json!({"name": format!("PROC_TEST_{}", "x".repeat(53))}), 404, "procedure_not_found"),
        (json!({"name": format!("other_{}", "x".repeat(100))}), 403, "procedure_not_allowed"),
        (json!({"name": "PROC_TEST", (long.clone()): 1}), 400, "unknown_field"),
        (json!({"name": "PROC_TEST", "priority": long}), 422, "invalid_option"),
        (json!({"name": "PROC_TEST", "run_at": long}), 422, "invalid_option"),
        (json!({"name": "PROC_TEST", "delay_seconds": long}), 400, "invalid_json"),
        (json!({"name": "PROC_TEST_LIMITS", "params": [{"name": "p_int", "value": digits}]}), 422, "invalid_value"),
        (json!({"name": "PROC_TEST_LIMITS", "params": [{"name": "p_int", "value": long}]}), 422, "invalid_parameter"),
        (
            json!({"name": "PROC_TEST_LIMITS", "params": [{"name": "p_amount", "value": long}]}),
            422,
            "invalid_parameter",
        ),
        (json!({"name": "PROC_TEST_LIMITS", "params": [{"name": "p_day", "value": long}]}), 422, "invalid_parameter"),
    ];
    for (body, status, code) in cases {
        // POST /procedure ignores the job options.
        let paths: &[&str] =
            if code == "invalid_option" { &["/procedure/async"] } else { &["/procedure/async", "/procedure"] };
        for path in paths {
            let err = error_code(app.post(path, ADMIN, &body).await, status).await;
            assert_eq!(err["code"], code, "{path}: {err}");
            let message = err["message"].as_str().unwrap();
            assert!(message.len() < 300, "{path} {code}: a {} byte message: {message}", message.len());
            assert!(err.to_string().len() < 600, "{path} {code}: {err}");
        }
    }
    assert_eq!(jobs_in_table(&app).await, 0);
}

#[tokio::test]
async fn unknown_fields_are_refused_and_aliases_still_work() {
    let app = spawn_app().await;
    let typo_option = json!({"name": "PROC_TEST_DEMORA", "delay": 3600,
                             "params": [{"name": "segundos", "value": 0}]});
    let typo_param = json!({"name": "PROC_TEST", "params": [{"name": "p_input", "vaule": "x"}]});
    let typo_retry = json!({"name": "PROC_TEST", "params": [{"name": "p_input", "value": "x"}],
                            "retry": {"max_attempts": 2, "backof": "fixed"}});
    for path in ["/procedure/async", "/procedure"] {
        for (body, field) in [(&typo_option, "delay"), (&typo_param, "vaule"), (&typo_retry, "backof")] {
            let err = error_code(app.post(path, ADMIN, body).await, 400).await;
            assert_eq!((err["code"].as_str(), err["field"].as_str()), (Some("unknown_field"), Some(field)), "{err}");
            assert!(err["message"].as_str().unwrap().contains(field), "{err}");
        }
    }
    assert_eq!(jobs_in_table(&app).await, 0, "a misspelt field must not run or store a job");
    // The predecessor's spellings stay accepted.
    for flag in ["isFunction", "is_function"] {
        let body = json!({"name": "PROC_TEST_FUNC", flag: true, "params": [{"name": "p_a", "value": 1}]});
        let id = app.submit(&body).await;
        assert_eq!(app.wait_terminal(&id).await["status"], "completed");
    }
}

#[tokio::test]
async fn values_for_out_parameters_are_refused() {
    let app = spawn_app().await;
    let bodies = [
        json!({"name": "PROC_TEST", "params": [{"name": "p_input", "value": "x"}, {"name": "p_output", "value": "y"}]}),
        json!({"name": "PROC_TEST", "params": [
            {"name": "p_input", "value": "x"}, {"name": "p_output", "value": "y", "direction": "OUT"}
        ]}),
        json!({"name": "PROC_TEST_INOUT", "params": [
            {"name": "p_value", "value": 1, "direction": "OUT"}, {"name": "p_text", "value": "t"}
        ]}),
        json!({"name": "PROC_TEST_FUNC", "params": [
            {"name": "total", "direction": "OUT", "value": 5}, {"name": "p_a", "value": 1}
        ]}),
    ];
    for path in ["/procedure/async", "/procedure"] {
        for (body, param) in bodies.iter().zip(["p_output", "p_output", "p_value", "total"]) {
            let err = error_code(app.post(path, ADMIN, body).await, 422).await;
            assert_eq!(
                (err["code"].as_str(), err["param"].as_str()),
                (Some("invalid_parameter"), Some(param)),
                "{err}"
            );
        }
    }
    assert_eq!(jobs_in_table(&app).await, 0);
    // `"value": null` is no value: still accepted, as the predecessor's clients send it.
    let body = json!({"name": "PROC_TEST", "params": [
        {"name": "p_input", "value": "x"}, {"name": "p_output", "value": null, "direction": "OUT"}
    ]});
    assert_eq!(app.post("/procedure", ADMIN, &body).await.status(), 200);
}

fn limits(param: &str, value: Json) -> Json {
    json!({"name": "PROC_TEST_LIMITS", "params": [{"name": param, "value": value}]})
}

#[tokio::test]
async fn values_the_database_cannot_store_are_refused_at_submission() {
    let app = spawn_app().await;
    let big = |text: &str| -> Json { serde_json::from_str(text).unwrap() };
    let cases = [
        ("p_small", json!(32768)),
        ("p_small", json!(-32769)),
        ("p_int", json!(2147483648i64)),
        ("p_int", json!("-2147483649")),
        ("p_big", big("9223372036854775808")),
        ("p_amount", json!("1e1001")),
        ("p_real", big("1e39")),
        ("p_day", json!("0000-01-01")),
        ("p_day", json!("+10000-01-01")),
        ("p_at", json!("0000-06-01T12:00:00Z")),
        ("p_at", json!("2024-01-01T00:00:00+25:00")),
        ("p_at", json!("2024-01-01T00:00:00-16:30")),
    ];
    for (param, value) in cases {
        for path in ["/procedure/async", "/procedure"] {
            let err = error_code(app.post(path, ADMIN, &limits(param, value.clone())).await, 422).await;
            assert_eq!(
                (err["code"].as_str(), err["param"].as_str()),
                (Some("invalid_value"), Some(param)),
                "{path} {param}={value}: {err}"
            );
        }
    }
    assert_eq!(jobs_in_table(&app).await, 0);

    // The edges themselves are stored, synchronously and as a job.
    let edges = json!({"name": "PROC_TEST_LIMITS", "params": [
        {"name": "p_small", "value": -32768}, {"name": "p_int", "value": 2147483647},
        {"name": "p_big", "value": big("9223372036854775807")}, {"name": "p_amount", "value": "1e1000"},
        {"name": "p_day", "value": "0001-01-01"}, {"name": "p_at", "value": "9999-12-31T10:00:00+15:00"},
        {"name": "p_real", "value": 3.0e38}
    ]});
    let resp = app.post("/procedure", ADMIN, &edges).await;
    let body: Json = resp.json().await.unwrap();
    let result = body["out"]["p_result"].as_str().unwrap_or_else(|| panic!("{body}"));
    assert!(result.starts_with("-32768,2147483647,9223372036854775807,1"), "{result}");
    assert!(result.contains(",0001-01-01,"), "{result}");
    let id = app.submit(&edges).await;
    assert_eq!(app.wait_terminal(&id).await["status"], "completed");
}

#[tokio::test]
async fn schedules_beyond_the_horizon_are_refused() {
    let app = spawn_app_with(&[("RUN_AT_HORIZON", "1h")]).await;
    let at = |offset: chrono::Duration| (chrono::Utc::now() + offset).to_rfc3339();
    let with = |extra: Json| {
        let mut body = proc_test("x");
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        body
    };
    for (extra, field) in [
        (json!({"run_at": at(chrono::Duration::minutes(61))}), "run_at"),
        (json!({"run_at": "9999-12-31T23:59:59Z"}), "run_at"),
        (json!({"delay_seconds": 3601}), "delay_seconds"),
        (json!({"delay_seconds": -1}), "delay_seconds"),
    ] {
        let err = error_code(app.post("/procedure/async", ADMIN, &with(extra.clone())).await, 422).await;
        assert_eq!((err["code"].as_str(), err["field"].as_str()), (Some("invalid_option"), Some(field)), "{extra}");
    }
    assert_eq!(jobs_in_table(&app).await, 0);
    // Within the horizon: accepted and waiting; in the past: runs at once.
    let later = app.submit(&with(json!({"run_at": at(chrono::Duration::minutes(59))}))).await;
    assert_eq!(app.job(&later).await["status"], "pending");
    let waiting = app.submit(&with(json!({"delay_seconds": 3500}))).await;
    assert_eq!(app.job(&waiting).await["status"], "pending");
    let past = app.submit(&with(json!({"run_at": "2001-01-01T00:00:00Z"}))).await;
    assert_eq!(app.wait_terminal(&past).await["status"], "completed");

    // The default horizon is a year.
    let default = spawn_on(app.db.clone(), &[]).await;
    let err = error_code(
        default.post("/procedure/async", ADMIN, &with(json!({"run_at": at(chrono::Duration::days(400))}))).await,
        422,
    )
    .await;
    assert_eq!(err["field"], "run_at");
    let id = default.submit(&with(json!({"run_at": at(chrono::Duration::days(300))}))).await;
    assert_eq!(default.job(&id).await["status"], "pending");
}

#[tokio::test]
async fn callers_with_too_many_pending_jobs_are_told_to_come_back() {
    let app = spawn_app_with(&[("MAX_PENDING_PER_OWNER", "2")]).await;
    let delayed = json!({"name": "PROC_TEST", "delay_seconds": 3600, "params": [{"name": "p_input", "value": "x"}]});
    let first = app.submit_as(ALICE, &delayed).await;
    app.submit_as(ALICE, &delayed).await;
    let resp = app.post("/procedure/async", ALICE, &delayed).await;
    let retry_after = resp.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
    let err = error_code(resp, 429).await;
    assert_eq!(err["code"], "too_many_pending_jobs");
    assert!(retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n > 0)), "no Retry-After");
    // The limit is per caller; synchronous calls queue nothing.
    app.submit_as(BOB, &delayed).await;
    assert_eq!(app.post("/procedure", ALICE, &proc_test("now")).await.status(), 200);
    // Once one of hers leaves the queue, Alice may submit again.
    assert_eq!(app.post(&format!("/jobs/{first}/cancel"), ALICE, &json!({})).await.status(), 200);
    app.submit_as(ALICE, &delayed).await;
    assert_eq!(jobs_in_table(&app).await, 4);
}
