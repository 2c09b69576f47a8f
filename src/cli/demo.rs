//! `procgate demo`: a private PostgreSQL cluster with the job table and the test procedures
//! (`PROC_TEST_PROGRESS` among them, to watch a procedure's own progress),
//! and the gateway serving against it with a fresh admin token and allowlist `PROC_TEST*`.
//! Ctrl-C stops both.

use crate::auth::ApiToken;
use crate::config::Settings;
use crate::pgcluster::{create_demo_database, ClusterOptions, PgCluster};
use crate::procedure::allowlist::Allowlist;
use crate::startup::Application;

pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    eprintln!("procgate demo: starting a private PostgreSQL cluster...");
    let cluster = tokio::task::spawn_blocking(|| PgCluster::start(ClusterOptions::default())).await??;
    let url = create_demo_database(&cluster, "procgate").await?;
    settings.database_url = Some(url.clone());
    // Configured tokens are kept only as digests, so the demo can print only a token it made.
    let token = if let Some(configured) = settings.auth.tokens.first() {
        format!("<the token of {:?} from API_TOKENS/API_TOKEN>", configured.name)
    } else if settings.auth.no_auth {
        "<none: API_NO_AUTH>".to_string()
    } else {
        let token = format!("demo-{}", uuid::Uuid::new_v4().simple());
        settings.auth.tokens.push(ApiToken::new("demo", &token, true));
        token
    };
    if settings.procedure_allowlist.is_empty() {
        settings.procedure_allowlist = Allowlist::parse("PROC_TEST*");
    }
    // A demo's Ctrl-C should not wait half a minute for a demo job (unless asked to).
    if std::env::var_os("SHUTDOWN_GRACE").is_none() {
        settings.shutdown_grace = std::time::Duration::from_secs(3);
    }
    let host = settings.host.clone();
    let app = Application::build(settings).await?;
    let base = format!("http://{host}:{}", app.port());
    // The full path, because `procgate` is not on the PATH after `cargo run`.
    let binary =
        std::env::current_exe().map(|path| path.display().to_string()).unwrap_or_else(|_| "procgate".to_string());
    println!(
        r#"
procgate demo is running (in the foreground: use a second terminal).
  API:       {base}
  database:  {url}   (psql "{url}")
  token:     {token}
  binary:    {binary}

Try it, in a second terminal (python3 reads the job id out of the JSON):
  export TOKEN={token}
  job_id() {{ python3 -c 'import sys,json; print(json.load(sys.stdin)["job_id"])'; }}
  JOB=$(curl -s -X POST {base}/procedure/async -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' \
       -d '{{"name":"PROC_TEST","params":[{{"name":"p_input","value":"Test"}},{{"name":"p_output","direction":"OUT"}}]}}' | job_id)
  curl -s {base}/jobs/$JOB -H "Authorization: Bearer $TOKEN"
  # a job that reports its own progress (20 items, 10 s): watch "report" and "progress"
  JOB=$(curl -s -X POST {base}/procedure/async -H "Authorization: Bearer $TOKEN" \
       -H 'Content-Type: application/json' \
       -d '{{"name":"PROC_TEST_PROGRESS","params":[{{"name":"p_items","value":20}},{{"name":"p_seconds","value":10}}]}}' | job_id)
  curl -s {base}/jobs/$JOB -H "Authorization: Bearer $TOKEN"
  curl -s '{base}/jobs?status=completed' -H "Authorization: Bearer $TOKEN"
  # the jobs table from the command line, straight from the database
  DATABASE_URL='{url}' '{binary}' jobs

Ctrl-C stops the gateway (running demo jobs get 3 s) and the cluster; a second Ctrl-C stops at once.
"#
    );
    let result = app.run_until_stopped().await;
    drop(cluster);
    result
}
