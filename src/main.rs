//! procgate's entry point: read `.env`, start logging, run the chosen subcommand.

use clap::Parser;

#[tokio::main]
async fn main() {
    let _ = dotenvy::dotenv();
    procgate::telemetry::init();
    if let Err(e) = procgate::cli::run(procgate::cli::Cli::parse()).await {
        eprintln!("procgate: {e:#}");
        std::process::exit(1);
    }
}
