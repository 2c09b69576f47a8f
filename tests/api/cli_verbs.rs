//! The command line's verbs against a real database: `procgate job ID`, `cancel ID`, `retry ID`
//! and `jobs --watch` (in a pipe: the plain table at each refresh; Ctrl-C ends it cleanly), next
//! to a gateway that runs the jobs.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use super::later;
use crate::helpers::*;

fn procgate(db_url: &str, args: &[&str]) -> (bool, String) {
    procgate_cli(db_url, args, &[("PROCEDURE_ALLOWLIST", "PROC_TEST*")])
}

#[tokio::test]
async fn job_shows_a_job_in_full_and_refuses_what_is_not_one() {
    let app = spawn_app().await;
    let mut body = proc_test("detail");
    body["capture_output"] = json!(true);
    let id = app.submit(&body).await;
    app.wait_terminal(&id).await;
    let (ok, out) = procgate(&app.db.url, &["job", &id]);
    assert!(ok, "{out}");
    for part in [&id, "completed (attempt 1 of 1)", "PROC_TEST", "p_input (IN) = \"detail\"", "Procesado: detail"] {
        assert!(out.contains(part), "{part:?} missing from:\n{out}");
    }
    let events: Vec<&str> = out.lines().skip_while(|l| *l != "Events").skip(1).collect();
    for event in ["accepted", "started", "completed"] {
        assert!(events.iter().any(|l| l.contains(event)), "no {event} event in:\n{out}");
    }

    let (ok, out) = procgate(&app.db.url, &["job", "not-a-job"]);
    assert!(!ok && out.contains("is not a job id"), "{out}");
    let (ok, out) = procgate(&app.db.url, &["job", &"0".repeat(32)]);
    assert!(!ok && out.contains("no such job"), "{out}");
}

#[tokio::test]
async fn cancel_and_retry_from_the_command_line() {
    let app = spawn_app().await;
    let pending = app.submit_as(ALICE, &later("cli")).await;
    let (ok, out) = procgate(&app.db.url, &["cancel", &pending]);
    assert!(ok && out.contains(&format!("job {pending} is cancelled")), "{out}");
    let (ok, out) = procgate(&app.db.url, &["cancel", &pending]);
    assert!(!ok && out.contains("already ended (cancelled)"), "{out}");

    // The retry is a new job the gateway runs; the old one stays cancelled.
    let (ok, out) = procgate(&app.db.url, &["retry", &pending]);
    assert!(ok && out.contains(&format!("a retry of {pending}")), "{out}");
    let new_id = out.split_whitespace().nth(1).unwrap().to_string();
    let new = app.wait_terminal(&new_id).await;
    assert_eq!(
        (&new["status"], &new["owner"], &new["retry_of"]),
        (&json!("completed"), &json!("alice"), &json!(pending))
    );
    assert_eq!(app.job(&pending).await["status"], "cancelled");
    let (ok, out) = procgate(&app.db.url, &["retry", &new_id]);
    assert!(!ok && out.contains("only failed or cancelled jobs can be retried"), "{out}");

    // A running job is flagged; the gateway running it interrupts the call.
    let running = app.submit(&demora(30.0)).await;
    app.wait_for_job(&running, |j| j["status"] == "running").await;
    let (ok, out) = procgate(&app.db.url, &["cancel", &running]);
    assert!(ok && out.contains("requested"), "{out}");
    assert_eq!(app.wait_terminal(&running).await["status"], "cancelled");
}

#[tokio::test]
async fn jobs_watch_refreshes_until_interrupted() {
    let app = spawn_app().await;
    let first = app.submit(&later("watched")).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_procgate"))
        .args(["jobs", "--watch", "--interval", "200ms"])
        .env("DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run procgate jobs --watch");
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(String::from_utf8_lossy(&buf[..n]).to_string()).is_err() {
                break;
            }
        }
    });
    let mut seen = String::new();
    let mut wait_for = |needle: &str| {
        let deadline = Instant::now() + JOB_DEADLINE;
        while !seen.contains(needle) {
            assert!(Instant::now() < deadline, "{needle} never shown; got:\n{seen}");
            if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(100)) {
                seen.push_str(&chunk);
            }
        }
    };
    wait_for(&first);
    // A job submitted later shows up at a later refresh.
    let second = app.submit(&later("later")).await;
    wait_for(&second);
    let interrupted = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    assert!(status.success(), "Ctrl-C should end --watch cleanly: {status:?}");
}
