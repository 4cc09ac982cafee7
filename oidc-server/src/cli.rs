//! The command line: `serve`, `migrate`, and admin commands, each with `--json` output.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::json;

use oidc_core::{NewClient, NewUser, Provider};

use crate::settings::Settings;

/// AHS IAM, the OpenID Connect provider.
#[derive(Debug, Parser)]
#[command(name = "oidc-server", version, about)]
pub struct Cli {
    /// A TOML settings file; every value can be overridden by an IAM_* environment variable.
    #[arg(long, global = true, env = "IAM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print results as JSON (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the provider.
    Serve,
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
}

/// Account commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        /// The sign-in name (AHS network ID).
        #[arg(long)]
        username: String,
        /// The registered email address.
        #[arg(long)]
        email: String,
        /// The display name.
        #[arg(long)]
        name: Option<String>,
        /// A role; repeat for several.
        #[arg(long = "role")]
        roles: Vec<String>,
        /// Read the initial password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List accounts.
    List,
}

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and (once) its client_secret.
    Add {
        /// The name people see.
        #[arg(long)]
        name: String,
        /// A redirect URI; repeat for several.
        #[arg(long = "redirect-uri", required = true)]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE only).
        #[arg(long)]
        public: bool,
        /// A first-party client (no consent page).
        #[arg(long)]
        first_party: bool,
        /// Let this confidential client omit PKCE (only for older certified clients).
        #[arg(long, conflicts_with = "public")]
        pkce_optional: bool,
        /// The `aud` of this client's access tokens (default: the provider's userinfo resource).
        #[arg(long)]
        access_token_audience: Option<String>,
    },
    /// List clients.
    List,
}

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Settings could not be resolved.
    #[error(transparent)]
    Settings(#[from] crate::settings::SettingsError),
    /// The library refused or failed.
    #[error(transparent)]
    Core(#[from] oidc_core::Error),
    /// Input/output failed.
    #[error("{0}")]
    Io(String),
}

fn print(json_out: bool, value: serde_json::Value, text: String) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    let s = if json_out { value.to_string() } else { text };
    writeln!(out, "{s}").map_err(|e| CliError::Io(e.to_string()))
}

/// Runs a parsed command line.
///
/// # Errors
/// Any failure, with a message meant for the operator.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let settings = Settings::load(cli.config.as_deref())?;
    let provider = Provider::builder(settings.config, &settings.database_url)
        .build()
        .await?;
    match cli.command {
        Command::Serve => serve(provider, &settings.bind).await,
        Command::Migrate => print(
            cli.json,
            json!({ "migrated": true }),
            "The database schema is up to date.".into(),
        ),
        Command::User(UserCommand::Add {
            username,
            email,
            name,
            roles,
            password_stdin,
        }) => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut line)
                    .map_err(|e| CliError::Io(e.to_string()))?;
                Some(line.trim_end_matches(['\r', '\n']).to_string())
            } else {
                None
            };
            let user = provider
                .create_user(NewUser {
                    username,
                    email,
                    name,
                    roles,
                    password,
                })
                .await?;
            let text = format!("Created user {} (sub {}).", user.username, user.subject);
            print(
                cli.json,
                serde_json::to_value(&user).unwrap_or_default(),
                text,
            )
        }
        Command::User(UserCommand::List) => {
            let users = provider.list_users().await?;
            let text = users
                .iter()
                .map(|u| format!("{}\t{}\t{}", u.username, u.email, u.roles.join(",")))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                cli.json,
                serde_json::to_value(&users).unwrap_or_default(),
                text,
            )
        }
        Command::Client(ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party,
            pkce_optional,
            access_token_audience,
        }) => {
            let mut new = NewClient::new(name, redirect_uris)
                .post_logout_redirect_uris(post_logout_redirect_uris)
                .public(public)
                .first_party(first_party);
            new.pkce_required = !pkce_optional;
            new.access_token_audience = access_token_audience;
            let reg = provider.register_client(new).await?;
            let secret = reg.client_secret.as_ref().map(|s| s.secret().to_string());
            let mut value = serde_json::to_value(&reg.client).unwrap_or_default();
            value["client_secret"] = json!(secret);
            let text = match &secret {
                Some(s) => format!(
                    "client_id: {}\nclient_secret: {s}\n(The secret is shown only now; store it safely.)",
                    reg.client.client_id
                ),
                None => format!(
                    "client_id: {}\n(public client: no secret)",
                    reg.client.client_id
                ),
            };
            print(cli.json, value, text)
        }
        Command::Client(ClientCommand::List) => {
            let clients = provider.list_clients().await?;
            let text = clients
                .iter()
                .map(|c| format!("{}\t{}\t{}", c.client_id, c.name, c.redirect_uris.join(" ")))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                cli.json,
                serde_json::to_value(&clients).unwrap_or_default(),
                text,
            )
        }
    }
}

async fn serve(provider: Provider, bind: &str) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| CliError::Io(format!("cannot listen on {bind}: {e}")))?;
    tracing::info!(
        issuer = provider.config().issuer(),
        bind,
        "AHS IAM is listening"
    );
    axum::serve(listener, provider.router())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| CliError::Io(e.to_string()))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
