//! `procgate serve` with an `oracle://` URL on a machine without Oracle Instant Client (or with
//! nothing listening): it must not panic and not hang, must exit non-zero, and must say what is
//! wrong and how to fix it.

#![cfg(feature = "oracle")]

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longer than the backend's own connect timeout (60 s), so a hang is caught rather than waited out.
const DEADLINE: Duration = Duration::from_secs(90);

#[test]
fn serve_with_oracle_url_exits_with_the_fix_when_the_client_or_server_is_missing() {
    let dir = tempfile::tempdir().expect("temp dir"); // no .env to pick up
    let mut child = Command::new(env!("CARGO_BIN_EXE_procgate"))
        .arg("serve")
        .current_dir(dir.path())
        .env("DATABASE_URL", "oracle://scott:tiger@127.0.0.1:1/FREEPDB1")
        .env("API_TOKEN", "some-token-123")
        .env("PROCEDURE_ALLOWLIST", "*")
        .env("HOST", "127.0.0.1")
        .env("PORT", "0")
        .env("RUST_LOG", "warn")
        .env_remove("API_TOKENS")
        .env_remove("API_NO_AUTH")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start procgate");
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for procgate") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("procgate serve with an unusable oracle:// URL was still running after {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");

    assert!(!status.success(), "procgate exited successfully: {stderr}");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "procgate panicked: {stderr}");
    let client_missing = stderr.contains("DPI-1047");
    if client_missing {
        // This machine has no Oracle Client library: the message names it and the fix.
        assert!(stderr.contains("Instant Client"), "{stderr}");
        assert!(stderr.contains("LD_LIBRARY_PATH"), "{stderr}");
        assert!(stderr.contains("README"), "{stderr}");
    } else {
        // A client library is installed: nothing listens on port 1, so the connection fails.
        assert!(stderr.contains("cannot connect to Oracle at //127.0.0.1:1/FREEPDB1"), "{stderr}");
        assert!(stderr.contains("ORA-") || stderr.contains("DPI-"), "{stderr}");
    }
    assert!(!stderr.contains("tiger"), "the password leaked into the message: {stderr}");
}

#[test]
fn a_bad_oracle_url_names_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_procgate"))
        .arg("migrate")
        .current_dir(dir.path())
        .env("DATABASE_URL", "oracle://scott@127.0.0.1:1/FREEPDB1")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run procgate");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("DATABASE_URL is not a valid Oracle URL: missing password"), "{stderr}");
}
