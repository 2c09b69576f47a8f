//! The command line: `serve` (default), `migrate`, `demo`, `jobs`, `cleanup`, `stats`.

mod demo;
mod stats;
mod table;

use clap::{Parser, Subcommand, ValueEnum};

use crate::config::Settings;
use crate::db::Database;
use crate::jobs::queue::Queue;
use crate::model::{JobStatus, ListFilter};
use crate::startup::Application;

#[derive(Debug, Parser)]
#[command(name = "procgate", version, about = "Runs database stored procedures as durable asynchronous jobs over HTTP")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and run jobs (the default).
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
    /// Show the queue's figures (as `GET /stats` answers them), read straight from the database.
    Stats {
        /// Only this owner's (token name's) jobs; default: every owner's, and the instances.
        #[arg(long)]
        owner: Option<String>,
        /// Print the JSON `GET /stats` answers instead of tables.
        #[arg(long)]
        json: bool,
    },
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
    let settings = Settings::from_env()?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => Application::build(settings).await?.run_until_stopped().await,
        Command::Demo => demo::run(settings).await,
        Command::Migrate => {
            let db = connect(&settings).await?;
            db.store.migrate().await?;
            println!("ASYNC_JOBS is ready ({})", db.kind);
            Ok(())
        }
        Command::Jobs { which, limit } => {
            let queue = Queue::read_only(connect(&settings).await?.store);
            let filter = ListFilter { statuses: which.statuses(), limit: limit.clamp(1, 10_000), ..Default::default() };
            let (total, jobs) = queue.list(&filter).await?;
            print!("{}", table::render(&jobs));
            println!("{} of {total} job(s)", jobs.len());
            Ok(())
        }
        Command::Cleanup { status, older_than } => {
            let statuses = JobStatus::parse_list(status.as_deref().unwrap_or_default()).map_err(anyhow::Error::msg)?;
            let queue = Queue::read_only(connect(&settings).await?.store);
            let n = queue.purge(statuses, older_than, None).await?;
            println!("deleted {n} job(s)");
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

async fn connect(settings: &Settings) -> anyhow::Result<Database> {
    let url = settings.database_url.as_deref().ok_or_else(|| anyhow::anyhow!("DATABASE_URL is not set"))?;
    Database::connect(url, &crate::db::ConnectOptions::new("procgate-cli", 1)).await
}
