//! Per-client access (`API_CLIENTS_FILE`, issue 14 §1–3, §5): each client's own procedures, its
//! rate (429 `rate_limited`) and quota (429 `quota_exceeded`), the file reloaded when it changes
//! and on a real `SIGHUP` to a real `procgate serve`, a bad reload keeping the old clients, and
//! the `token hash` / `clients check` commands. HTTP-edge behaviour, so not in the contract suite.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value as Json};

use crate::helpers::*;

/// A clients file in a temporary directory (removed with it).
struct ClientsFile {
    dir: tempfile::TempDir,
}

impl ClientsFile {
    fn new(text: &str) -> Self {
        let file = ClientsFile { dir: tempfile::tempdir().unwrap() };
        file.write(text);
        file
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("clients.toml")
    }

    fn path_str(&self) -> String {
        self.path().to_str().unwrap().to_string()
    }

    /// Replaces the file at once (a new inode, as editors and config managers do).
    fn write(&self, text: &str) {
        let next = self.dir.path().join("clients.toml.new");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, self.path()).unwrap();
    }
}

fn client(name: &str, token: &str, extra: &str) -> String {
    format!("[[client]]\nname = \"{name}\"\ntoken = \"{token}\"\n{extra}\n")
}

fn call(name: &str) -> Json {
    json!({"name": name, "params": []})
}

const REPORTS: &str = "reports-token-0001";
const OPS: &str = "ops-token-00000001";

#[tokio::test]
async fn a_client_calls_only_what_both_lists_allow_and_a_refusal_never_tells_if_the_routine_exists() {
    let file = ClientsFile::new(
        &(client("reports", REPORTS, "procedures = [\"PROC_TEST\", \"PROC_TEST_ERROR\", \"OTHER_*\"]")
            + &client("ops", OPS, "admin = true\nprocedures = [\"PROC_TEST\"]")),
    );
    let app = spawn_app_with(&[("API_CLIENTS_FILE", &file.path_str())]).await;

    // On both lists: sync and async calls pass.
    let resp = app.post("/procedure", REPORTS, &proc_test("x")).await;
    assert_eq!(resp.status(), 200);
    let id = app.submit_as(REPORTS, &proc_test("y")).await;
    assert_eq!(app.wait_terminal(&id).await["owner"], "reports");

    // Allowed globally (PROC_TEST*) but not by the client's list: 403, on both endpoints, with
    // the same body for a routine that exists and one that does not.
    let mut bodies = Vec::new();
    for (path, name) in [
        ("/procedure", "PROC_TEST_DEMORA"),
        ("/procedure", "PROC_TEST_NOSUCH"),
        ("/procedure/async", "PROC_TEST_DEMORA"),
        ("/procedure/async", "PROC_TEST_NOSUCH"),
    ] {
        let error = error_code(app.post(path, REPORTS, &call(name)).await, 403).await;
        assert_eq!(error["code"], "procedure_not_allowed", "{path} {name}");
        bodies.push(error.to_string().replace(name, "NAME"));
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    // On the client's list but not on the global one: refused by the global list, existing or not.
    for name in ["OTHER_X", "OTHER_Y"] {
        let error = error_code(app.post("/procedure", REPORTS, &call(name)).await, 403).await;
        assert_eq!(error["code"], "procedure_not_allowed");
    }

    // A token of API_TOKENS still works, with the global list alone.
    app.submit_as(ALICE, &demora(0.0)).await;

    // A retry passes the retrying client's list: the admin `ops` may not call PROC_TEST_ERROR,
    // so it may not retry it either; its owner may.
    let failing = json!({"name": "PROC_TEST_ERROR", "params": [{"name": "p_should_fail", "value": 1}]});
    let failed = app.submit_as(REPORTS, &failing).await;
    assert_eq!(app.wait_terminal(&failed).await["status"], "failed");
    let error = error_code(app.post(&format!("/jobs/{failed}/retry"), OPS, &json!({})).await, 403).await;
    assert_eq!(error["code"], "procedure_not_allowed");
    let resp = app.post(&format!("/jobs/{failed}/retry"), REPORTS, &json!({})).await;
    assert_eq!(resp.status(), 202);
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_while_another_is_unaffected() {
    const FLOOD: &str = "flood-token-00001";
    const CALM: &str = "calm-token-000001";
    let file = ClientsFile::new(&(client("flood", FLOOD, "rate = \"2/s\"") + &client("calm", CALM, "rate = \"50/s\"")));
    let app = spawn_app_with(&[("API_CLIENTS_FILE", &file.path_str())]).await;

    // 40 requests at once from `flood` (burst 2, then 2 a second) and 20 from `calm` (burst 50),
    // interleaved: `flood` is cut off, `calm` never is.
    let flood = (0..40).map(|_| app.get("/jobs", FLOOD));
    let calm = (0..20).map(|_| app.get("/jobs", CALM));
    let (flood, calm) = tokio::join!(futures_util::future::join_all(flood), futures_util::future::join_all(calm));
    assert!(calm.iter().all(|r| r.status() == 200), "calm: {:?}", calm.iter().map(|r| r.status()).collect::<Vec<_>>());
    let limited: Vec<reqwest::Response> = flood.into_iter().filter(|r| r.status() != 200).collect();
    assert!(limited.len() >= 10, "only {} of 40 flooding requests were limited", limited.len());
    for resp in limited {
        let retry_after: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry_after >= 1);
        let error = error_code(resp, 429).await;
        assert_eq!(error["code"], "rate_limited");
        assert!(error["retry_after_seconds"].as_u64().unwrap() >= 1);
    }
    // The bucket refills: `flood` gets through again (polled, no fixed sleep).
    eventually("flood to be let in again", || async { (app.get("/jobs", FLOOD).await.status() == 200).then_some(()) })
        .await;
}

#[tokio::test]
async fn async_submits_over_max_pending_get_429_quota_exceeded() {
    const BATCH: &str = "batch-token-00001";
    let file = ClientsFile::new(&client("batch", BATCH, "max_pending = 2"));
    let app = spawn_app_with(&[("API_CLIENTS_FILE", &file.path_str())]).await;
    // Delayed jobs stay pending.
    let delayed =
        json!({"name": "PROC_TEST_DEMORA", "delay_seconds": 600, "params": [{"name": "segundos", "value": 0}]});
    let first = app.submit_as(BATCH, &delayed).await;
    app.submit_as(BATCH, &delayed).await;
    let resp = app.post("/procedure/async", BATCH, &delayed).await;
    assert!(resp.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(error_code(resp, 429).await["code"], "quota_exceeded");
    // Synchronous calls are not jobs: they pass. Another client is unaffected.
    assert_eq!(app.post("/procedure", BATCH, &proc_test("x")).await.status(), 200);
    app.submit_as(ALICE, &delayed).await;
    // One pending job fewer: room for one more.
    assert_eq!(app.post(&format!("/jobs/{first}/cancel"), BATCH, &json!({})).await.status(), 200);
    app.submit_as(BATCH, &delayed).await;
    assert_eq!(error_code(app.post("/procedure/async", BATCH, &delayed).await, 429).await["code"], "quota_exceeded");
}

#[tokio::test]
async fn the_file_is_reloaded_when_it_changes() {
    let file = ClientsFile::new(&client("reports", "first-token-0001", ""));
    let app = spawn_app_with(&[("API_CLIENTS_FILE", &file.path_str()), ("API_CLIENTS_POLL", "200ms")]).await;
    assert_eq!(app.get("/jobs", "first-token-0001").await.status(), 200);

    // The token rotated, a client added: both in force without a restart.
    file.write(&(client("reports", "second-token-001", "") + &client("extra", "extra-token-0001", "")));
    eventually("the new tokens to be accepted", || async {
        (app.get("/jobs", "second-token-001").await.status() == 200).then_some(())
    })
    .await;
    assert_eq!(app.get("/jobs", "extra-token-0001").await.status(), 200);
    assert_eq!(error_code(app.get("/jobs", "first-token-0001").await, 401).await["code"], "unauthorized");
}

/// A `procgate serve` child with a clients file, polling off (so only `SIGHUP` reloads), its
/// log in a file; killed when dropped.
struct Served {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Served {
    fn start(db_url: &str, clients: &Path, log: PathBuf) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(env!("CARGO_BIN_EXE_procgate"))
            .arg("serve")
            .env("DATABASE_URL", db_url)
            .env("PORT", port.to_string())
            .env_remove("API_TOKENS")
            .env_remove("API_TOKEN")
            .env("API_CLIENTS_FILE", clients)
            .env("API_CLIENTS_POLL", "off")
            .env("PROCEDURE_ALLOWLIST", "PROC_TEST*")
            .env("WORKERS", "2")
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start procgate serve");
        Served { child, base: format!("http://127.0.0.1:{port}"), log }
    }

    async fn status(&self, token: &str) -> Option<u16> {
        let resp = reqwest::Client::new().get(format!("{}/jobs", self.base)).bearer_auth(token).send().await.ok()?;
        Some(resp.status().as_u16())
    }

    fn hangup(&self) {
        let ok = Command::new("kill").args(["-HUP", &self.child.id().to_string()]).status().unwrap().success();
        assert!(ok, "kill -HUP failed");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sighup_reloads_the_file_and_a_bad_file_keeps_the_old_clients() {
    let db = TestDatabase::create().await;
    let file = ClientsFile::new(&client("reports", "first-token-0001", ""));
    let served = Served::start(&db.url, &file.path(), file.dir.path().join("procgate.log"));
    eventually("the gateway to serve", || async {
        (served.status("first-token-0001").await == Some(200)).then_some(())
    })
    .await;

    // Polling is off: the new file is not read until SIGHUP.
    file.write(&client("reports", "second-token-001", ""));
    assert_eq!(served.status("second-token-001").await, Some(401));
    served.hangup();
    eventually("SIGHUP to put the new token in force", || async {
        (served.status("second-token-001").await == Some(200)).then_some(())
    })
    .await;
    assert_eq!(served.status("first-token-0001").await, Some(401));

    // A bad file (an unknown field on line 4): logged with its line, the old clients stay.
    file.write("[[client]]\nname = \"reports\"\ntoken = \"third-token-0001\"\nrat = \"5/s\"\n");
    served.hangup();
    let log = eventually("the bad reload to be logged", || async {
        let log = served.log();
        log.contains("not reloaded").then_some(log)
    })
    .await;
    assert!(log.contains("line 4") && log.contains("unknown field"), "{log}");
    assert_eq!(served.status("second-token-001").await, Some(200));
    assert_eq!(served.status("third-token-0001").await, Some(401));
    // No token is ever logged.
    for token in ["first-token-0001", "second-token-001", "third-token-0001"] {
        assert!(!log.contains(token), "{token} in the log");
    }
}

#[tokio::test]
async fn a_bad_file_stops_the_start_with_its_line() {
    let db = TestDatabase::create().await;
    let file = ClientsFile::new(
        &(client("a", "same-token-00001", "") + "\n" + &client("b", "same-token-00001", "rate = \"5/s\"")),
    );
    let (ok, out) = procgate_cli(&db.url, &["serve"], &[("API_CLIENTS_FILE", &file.path_str())]);
    assert!(!ok, "{out}");
    assert!(out.contains("API_CLIENTS_FILE") && out.contains("line 7") && out.contains("same token"), "{out}");
    assert!(!out.contains("same-token-00001"), "{out}");
}

#[tokio::test]
async fn token_hash_and_clients_check() {
    // `token hash`: stdin's first line, the SHA-256 in hex.
    let mut child = Command::new(env!("CARGO_BIN_EXE_procgate"))
        .args(["token", "hash"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"a-long-random-token\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    // sha256("a-long-random-token")
    let hash = String::from_utf8(out.stdout).unwrap();
    assert_eq!(hash.trim().len(), 64);
    assert!(hash.trim().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{hash}");

    // The printed digest is a working token_sha256.
    let file = ClientsFile::new(&format!(
        "[[client]]\nname = \"hashed\"\ntoken_sha256 = \"{}\"\nprocedures = [\"PROC_TEST\"]\nrate = \"600/m\"\n\n{}",
        hash.trim(),
        client("ops", OPS, "admin = true")
    ));
    let app = spawn_app_with(&[("API_CLIENTS_FILE", &file.path_str())]).await;
    assert_eq!(app.get("/jobs", "a-long-random-token").await.status(), 200);

    // `clients check`: a summary and exit 0, or the error with its line and a non-zero exit.
    let (ok, out) = procgate_cli("", &["clients", "check", &file.path_str()], &[]);
    assert!(ok, "{out}");
    assert!(out.contains("2 client(s)") && out.contains("hashed (line 2)") && out.contains("rate 600/m"), "{out}");
    assert!(out.contains("ops (line 8, admin)"), "{out}");
    file.write("[[client]]\nname = \"x\"\ntoken = \"x-token-0001\"\nprocedures = [\"A..B\"]\n");
    let (ok, out) = procgate_cli("", &["clients", "check", &file.path_str()], &[]);
    assert!(!ok, "{out}");
    assert!(out.contains("line 4") && out.contains("empty part"), "{out}");
}
