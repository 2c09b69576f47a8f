//! The command line: `serve` (default), `work` (a worker-only instance), `migrate`, `demo`, `jobs`
//! (`--watch`), `cleanup`, `job`, `cancel`, `retry`, `stats`, and `token hash` / `clients check` for the clients file. Every
//! command that reads or changes jobs goes through the queue facade, straight to the database
//! named by `DATABASE_URL` (no gateway needs to run).

mod clients;
mod demo;
mod detail;
mod stats;
mod table;
mod watch;

use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::catalog::Catalog;
use crate::config::{ConfigError, Role, Settings};
use crate::db::Database;
use crate::jobs::queue::Queue;
use crate::model::{JobId, JobStatus, ListFilter};
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "procgate", version, about = "Runs database stored procedures as durable asynchronous jobs over HTTP")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and run jobs (the default). With WORKERS=0 an API-only instance: it
    /// accepts, reads, cancels and streams jobs, and runs none (see `work`).
    Serve,
    /// Create or upgrade the ASYNC_JOBS table, then exit.
    Migrate,
    /// Start a private PostgreSQL with the demo procedures and serve against it.
    Demo,
    /// Show jobs as a table, read straight from the database.
    Jobs {
        #[arg(value_enum, default_value = "all")]
        which: JobsView,
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Keep the table on screen, each job with its progress bar, refreshed until Ctrl-C.
        #[arg(long)]
        watch: bool,
        /// How often --watch refreshes (e.g. 500ms, 2s).
        #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
        interval: Duration,
    },
    /// Delete ended jobs, as `DELETE /jobs?status=..&older_than=..` does.
    Cleanup {
        /// Comma list of ended statuses (completed, failed, cancelled); default with
        /// --older-than: all three. At least one of the two options is required.
        #[arg(long)]
        status: Option<String>,
        /// Only jobs that ended more than this many days ago.
        #[arg(long)]
        older_than: Option<u32>,
    },
    /// Show one job in full: parameters, result or error, attempts, output, events.
    Job { id: String },
    /// Cancel a job: a pending one at once; a running one is flagged, and the instance running
    /// it interrupts the call (PostgreSQL: at once; Oracle: at its next heartbeat).
    Cancel { id: String },
    /// Run a failed or cancelled job again, as a new job pointing to it (POST /jobs/{id}/retry).
    Retry { id: String },
    /// Show the queue's figures (as `GET /stats` answers them), read straight from the database.
    Stats {
        /// Only this owner's (token name's) jobs; default: every owner's, and the instances.
        #[arg(long)]
        owner: Option<String>,
        /// Print the JSON `GET /stats` answers instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Tokens: `procgate token hash` prints the SHA-256 of a token read from stdin.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// The clients file: `procgate clients check FILE` validates one.
    Clients {
        #[command(subcommand)]
        action: ClientsAction,
    },
    /// Run jobs only (a worker-only instance): claims and runs WORKERS jobs at once, rescues,
    /// cleans and delivers webhooks; serves no job API, only GET /health, /ready and /metrics on
    /// PORT (or /metrics on METRICS_ADDR). Pair it with API-only `serve` instances (WORKERS=0).
    Work,
}

#[derive(Debug, Subcommand)]
pub enum TokenAction {
    /// Read a token from stdin (its first line) and print its SHA-256 in hexadecimal, the
    /// `token_sha256` of a clients file entry.
    Hash,
}

#[derive(Debug, Subcommand)]
pub enum ClientsAction {
    /// Validate a clients file: exit 0 with a summary, or non-zero with the error and its line.
    Check { file: std::path::PathBuf },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum JobsView {
    All,
    Active,
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobsView {
    fn statuses(self) -> Vec<JobStatus> {
        match self {
            JobsView::All => vec![],
            JobsView::Active => vec![JobStatus::Pending, JobStatus::Running],
            JobsView::Pending => vec![JobStatus::Pending],
            JobsView::Running => vec![JobStatus::Running],
            JobsView::Completed => vec![JobStatus::Completed],
            JobsView::Failed => vec![JobStatus::Failed],
            JobsView::Cancelled => vec![JobStatus::Cancelled],
        }
    }
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    // These two read no settings: they work wherever the binary is.
    match cli.command {
        Some(Command::Token { action: TokenAction::Hash }) => return clients::hash_token(),
        Some(Command::Clients { action: ClientsAction::Check { file } }) => return clients::check(&file),
        _ => {}
    }
    let settings = Settings::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Token { .. } | Command::Clients { .. } => unreachable!("answered above"),
        Command::Serve => Application::build(settings).await?.run_until_stopped().await,
        Command::Work => Application::build(Settings { role: Role::Work, ..settings }).await?.run_until_stopped().await,
        Command::Demo if settings.workers == 0 => Err(ConfigError {
            name: "WORKERS",
            message: "procgate demo runs its jobs itself: WORKERS must be between 1 and 1024".into(),
        }
        .into()),
        Command::Demo => demo::run(settings).await,
        Command::Migrate => {
            let db = connect(&settings).await?;
            db.store.migrate().await?;
            println!("ASYNC_JOBS is ready ({})", db.kind);
            Ok(())
        }
        Command::Jobs { which, limit, watch, interval } => {
            let queue = Queue::read_only(connect(&settings).await?.store);
            let filter = ListFilter {
                statuses: which.statuses(),
                limit: limit.clamp(1, 10_000),
                total_cap: crate::model::listing::DEFAULT_TOTAL_CAP,
                ..Default::default()
            };
            if watch {
                return watch::run(&queue, &filter, interval.max(Duration::from_millis(100))).await;
            }
            let page = queue.list(&filter).await?;
            print!("{}", table::render(&page.jobs));
            println!("{} of {} job(s)", page.jobs.len(), page.total);
            Ok(())
        }
        Command::Cleanup { status, older_than } => {
            let statuses = JobStatus::parse_list(status.as_deref().unwrap_or_default()).map_err(anyhow::Error::msg)?;
            let queue = Queue::read_only(connect(&settings).await?.store);
            let n = queue.purge(statuses, older_than, None).await?;
            println!("deleted {n} job(s)");
            Ok(())
        }
        Command::Job { id } => {
            let queue = Queue::read_only(connect(&settings).await?.store);
            let (job, events) = queue.history(&job_id(&id)?, None, EVENTS_SHOWN).await?;
            print!("{}", detail::render(&job, &events));
            Ok(())
        }
        Command::Cancel { id } => {
            let queue = Queue::read_only(connect(&settings).await?.store);
            let cancelled = queue.cancel(&job_id(&id)?, None).await?;
            let job = cancelled.job;
            if job.status == JobStatus::Running {
                println!(
                    "cancellation of job {} requested: {} interrupts the call (PostgreSQL: at once; Oracle: at its \
                     next heartbeat); `procgate job {}` shows when it has ended",
                    job.id,
                    job.instance_id.as_deref().map_or("its instance".to_string(), |i| format!("instance {i}")),
                    job.id
                );
            } else {
                println!("job {} is {}", job.id, job.status);
            }
            Ok(())
        }
        Command::Retry { id } => {
            let db = connect(&settings).await?;
            let catalog = Catalog::new(db.routines, settings.procedure_allowlist.clone(), settings.catalog_cache_ttl);
            let queue = Queue::command_line(db.store, settings.max_pending_per_owner);
            let id = job_id(&id)?;
            let new_id = queue.retry(&id, None, &catalog, &Default::default()).await?;
            println!("job {new_id} accepted: a retry of {id}");
            Ok(())
        }
        Command::Stats { owner, json } => {
            let reader = crate::jobs::stats::StatsReader::new(connect(&settings).await?.store, settings.lease_timeout);
            let figures = reader.read(owner.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&figures)?);
            } else {
                print!("{}", stats::render(&figures));
            }
            Ok(())
        }
    }
}

/// How many of a job's events `procgate job` shows (progress events are at most 100 a job).
const EVENTS_SHOWN: i64 = 500;

fn job_id(raw: &str) -> anyhow::Result<JobId> {
    JobId::parse(raw).ok_or_else(|| anyhow::anyhow!("{raw:?} is not a job id (32 hexadecimal characters)"))
}

async fn connect(settings: &Settings) -> anyhow::Result<Database> {
    let url = settings.database_url.as_deref().ok_or_else(|| anyhow::anyhow!("DATABASE_URL is not set"))?;
    Database::connect(url, &crate::db::ConnectOptions::new("procgate-cli", 1)).await
}
