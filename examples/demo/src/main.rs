//! `cargo run -p demo`: AHS IAM on 127.0.0.1:8080 and CPAR on 127.0.0.1:8081 with seeded users.
//! `cargo run -p demo -- code USERNAME` prints a seeded person's current passcode.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use oidc_core::{Clock, SystemClock};
use tracing_subscriber::EnvFilter;

/// AHS IAM and CPAR together, seeded with the people of the CPAR quick reference.
#[derive(Debug, Parser)]
#[command(name = "demo", about)]
struct Args {
    /// The data folder (SQLite files, mail outbox, the seeded credentials).
    #[arg(long, default_value = "demo-data", global = true)]
    data_dir: PathBuf,
    /// Delete the data folder and seed afresh.
    #[arg(long)]
    reset: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the current passcode of a seeded person's soft token.
    Code {
        /// The username, e.g. nakitt.
        username: String,
    },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Some(Command::Code { username }) = args.command {
        return match demo::current_code(&args.data_dir, &username, SystemClock.now().timestamp()) {
            Ok(code) => {
                println!("{code}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                std::process::ExitCode::FAILURE
            }
        };
    }
    let opts = demo::Options {
        data_dir: args.data_dir,
        reset: args.reset,
        ..Default::default()
    };
    let running = match demo::start(opts).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("{}", running.instructions());
    let _ = tokio::signal::ctrl_c().await;
    eprintln!("Stopping AHS IAM and CPAR…");
    running.shutdown().await;
    std::process::ExitCode::SUCCESS
}
