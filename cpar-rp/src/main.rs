//! The `cpar-rp` binary: `cpar-rp serve [--config FILE]`, with `CPAR_*` environment variables
//! over the file (see `cpar_rp::Config`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cpar-rp",
    version,
    about = "CPAR, the Central Patient Attachment Registry (an AHS IAM relying party)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Discover AHS IAM (retrying while it starts) and serve CPAR.
    Serve {
        /// A TOML configuration file; CPAR_* environment variables override it.
        #[arg(long, env = "CPAR_CONFIG")]
        config: Option<PathBuf>,
        /// Give this Panel Administrator (AHS Network ID) fictitious demonstration panels first.
        #[arg(long, value_name = "USERNAME")]
        seed_demo_for: Option<String>,
    },
    /// Check the configuration and print it (the client secret redacted).
    CheckConfig {
        #[arg(long, env = "CPAR_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cpar-rp: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), cpar_rp::Error> {
    match cli.command {
        Command::CheckConfig { config } => {
            let config = cpar_rp::Config::load(config.as_deref())?;
            println!("{config:#?}");
            println!("redirect URI: {}", config.redirect_uri());
            println!(
                "post-logout redirect URI: {}",
                config.post_logout_redirect_uri()
            );
            Ok(())
        }
        Command::Serve {
            config,
            seed_demo_for,
        } => {
            let config = cpar_rp::Config::load(config.as_deref())?;
            let bind = config.bind;
            let app = cpar_rp::App::start(config, Arc::new(cpar_rp::SystemClock)).await?;
            if let Some(user) = seed_demo_for {
                let panels = app.seed_demo_data(&user).await?;
                tracing::info!(username = %user, panels = panels.len(), "demonstration panels ready");
            }
            let listener = tokio::net::TcpListener::bind(bind).await?;
            tracing::info!(address = %bind, base_url = %app.config().base_url, "CPAR is listening");
            axum::serve(listener, app.router())
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                    tracing::info!("shutting down");
                })
                .await?;
            Ok(())
        }
    }
}
