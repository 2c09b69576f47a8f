//! The dashboard (`GET /ui`): its files as the gateway serves them (types, the Content-Security-
//! Policy, caching, no token needed, the address allowlist), and the page itself in a real
//! Chromium, driven by `tools/ui-test/dashboard.test.mjs` (playwright-core) against a gateway on a
//! real PostgreSQL. Not in the contract suite: the page is the same on every database.
//!
//! The browser test needs node, `npm ci --prefix tools/ui-test` and Debian's `chromium`;
//! `scripts/test.sh` installs all three. Without them it fails, saying so: it never skips.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value as Json;

use crate::helpers::*;

/// How long the browser script may take, start to end (it waits for each step with its own
/// 30 s deadline; a run takes about 15 s).
const BROWSER_DEADLINE: Duration = Duration::from_secs(180);

#[tokio::test]
async fn the_dashboard_is_served_without_a_token_under_a_strict_policy() {
    let app = spawn_app().await;
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/api.js", "text/javascript"),
        ("/ui/sse.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers().clone();
        let header = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        assert!(header("content-type").starts_with(kind), "{path}: {}", header("content-type"));
        let csp = header("content-security-policy");
        for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("cache-control"), "no-cache", "{path}");

        // Revalidation: the same ETag answers 304 with no body.
        let etag = header("etag");
        assert!(etag.starts_with('"') && etag.len() > 10, "{path}: {etag}");
        let again = app.client.get(app.url(path)).header("if-none-match", &etag).send().await.unwrap();
        assert_eq!(again.status(), 304, "{path}");
        assert!(again.bytes().await.unwrap().is_empty());
        assert!(!resp.bytes().await.unwrap().is_empty(), "{path}");
    }
    let page = app.client.get(app.url("/ui")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<script type="module" src="/ui/app.js">"#), "{page}");
    let head = app.client.head(app.url("/ui")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert!(head.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn only_the_dashboards_own_files_are_served() {
    let app = spawn_app().await;
    for path in ["/ui/nope.js", "/ui/..%2FCargo.toml", "/ui/app.js/x", "/ui/index.htm"] {
        let resp = app.client.get(app.url(path)).send().await.unwrap();
        let err = error_code(resp, 404).await;
        assert_eq!(err["code"], "not_found", "{path}");
    }
    let resp = app.client.post(app.url("/ui")).send().await.unwrap();
    let err: Json = error_code(resp, 405).await;
    assert_eq!(err["code"], "method_not_allowed");

    // The address allowlist applies to the page as to the API.
    let outside = spawn_app_with(&[("API_ALLOWED_IPS", "10.0.0.0/8")]).await;
    let resp = outside.client.get(outside.url("/ui")).send().await.unwrap();
    assert_eq!(error_code(resp, 403).await["code"], "ip_not_allowed");
}

#[tokio::test]
async fn the_dashboard_follows_a_job_live_and_cancels_it_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tool = root.join("tools/ui-test");
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is needed for the dashboard's browser test: apt-get install nodejs npm (scripts/test.sh installs it)"
    );
    assert!(
        tool.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: npm ci --prefix tools/ui-test (scripts/test.sh does it)"
    );

    let app = spawn_app().await;
    let run = tokio::process::Command::new("node")
        .arg(tool.join("dashboard.test.mjs"))
        .arg(&app.address)
        .arg(ADMIN)
        .current_dir(root)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(BROWSER_DEADLINE, run)
        .await
        .unwrap_or_else(|_| panic!("the browser test ran longer than {BROWSER_DEADLINE:?}"))
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}{stderr}");
    assert!(out.status.success(), "the browser test failed ({}):\n{stdout}{stderr}", out.status);
}
