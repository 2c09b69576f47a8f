//! The command line against a real database: migrate, jobs, cleanup.
//! Not in the contract suite: the binary's commands, run on PostgreSQL clones of the test database.

use std::process::Command;

use crate::helpers::*;

fn procgate(db_url: &str, args: &[&str]) -> (bool, String) {
    procgate_cli(db_url, args, &[])
}

#[tokio::test]
async fn migrate_jobs_and_cleanup_commands() {
    let app = spawn_app().await;
    let url = app.db.url.clone();
    for _ in 0..2 {
        let (ok, out) = procgate(&url, &["migrate"]);
        assert!(ok, "{out}");
        assert!(out.contains("ASYNC_JOBS is ready"), "{out}");
    }
    let done = app.submit(&proc_test("cli")).await;
    app.wait_terminal(&done).await;

    let (ok, out) = procgate(&url, &["jobs"]);
    assert!(ok, "{out}");
    assert!(out.contains("JOB_ID") && out.contains(&done) && out.contains("completed"), "{out}");
    let (ok, out) = procgate(&url, &["jobs", "failed"]);
    assert!(ok && !out.contains(&done), "{out}");

    let (ok, out) = procgate(&url, &["cleanup", "--status", "running"]);
    assert!(!ok, "{out}");
    let (ok, out) = procgate(&url, &["cleanup", "--status", "completed", "--older-than", "1"]);
    assert!(ok && out.contains("deleted 0 job(s)"), "{out}");
    let (ok, out) = procgate(&url, &["cleanup", "--status", "completed"]);
    assert!(ok && out.contains("deleted 1 job(s)"), "{out}");
}

#[tokio::test]
async fn serve_refuses_to_start_without_tokens_or_database() {
    let db = TestDatabase::create().await;
    let (ok, out) = procgate(&db.url, &["serve"]);
    assert!(!ok);
    assert!(out.contains("API_TOKENS"), "{out}");
    let out = Command::new(env!("CARGO_BIN_EXE_procgate"))
        .args(["serve"])
        .env("API_TOKEN", "some-token-1")
        .env("PORT", "notaport")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("PORT"));
}
