//! The command line: `serve`, `migrate`, and admin commands, each with `--json` output.

use std::io::{BufRead, Write};

use serde_json::json;

use oidc_core::Provider;

use crate::settings::Settings;

mod args;
mod audit;
mod clients;
mod keys;
mod server;
mod tokens;
mod urf;
mod users;

pub use args::{
    AuditCommand, Cli, ClientCommand, Command, KeysCommand, TokenCommand, UrfCommand, UserCommand,
};
use audit::audit;
use clients::client;
use keys::keys;
use server::{purge, serve};
use tokens::token;
use urf::urf;
use users::user;

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

/// Builds the provider the way `serve` runs it: the configured mailer (SMTP, or the file outbox
/// under the data folder) and, with `[radius]`, the RADIUS factor.
///
/// # Errors
/// A mailer or RADIUS setting that cannot be used, or the library's start-up errors.
pub async fn build_provider(settings: &Settings) -> Result<Provider, CliError> {
    Ok(provider_builder(settings)?.build().await?)
}

fn provider_builder(settings: &Settings) -> Result<oidc_core::ProviderBuilder, CliError> {
    let mail = mailer(settings)?;
    let mut builder = Provider::builder(settings.config.clone(), &settings.database_url);
    if let Some(radius) = &settings.radius {
        builder = builder.second_factor(radius_factor(radius)?);
    }
    Ok(builder.mailer(mail))
}

/// Serves `provider` on `listener` until `shutdown` completes, then finishes the requests in
/// flight.
///
/// # Errors
/// The server failing.
pub async fn serve_on(
    provider: &Provider,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), CliError> {
    // The peer address feeds sign-in throttling (and, for trusted proxies, Forwarded headers).
    let app = provider
        .router()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| CliError::Io(e.to_string()))
}

/// Runs a parsed command line.
///
/// # Errors
/// Any failure, with a message meant for the operator.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let settings = Settings::load(cli.config.as_deref())?;
    // Key refresh, rotation and purge run in the server, not in one-shot admin commands.
    let provider = provider_builder(&settings)?
        .background_tasks(matches!(cli.command, Command::Serve))
        .build()
        .await?;
    let json_out = cli.json;
    if cli.command.changes_iam() {
        let actor = actor_of(&cli, &provider).await?;
        let event = cli.command.audit_name();
        let result = Box::pin(execute(&provider, &settings, json_out, cli.command, &actor)).await;
        let detail = serde_json::json!({ "ok": result.is_ok() });
        provider.record_audit(&actor, event, None, detail).await?;
        return result;
    }
    execute(
        &provider,
        &settings,
        json_out,
        cli.command,
        &oidc_core::Actor::System,
    )
    .await
}

/// The actor of a command that changes IAM: `--as USERNAME` (an existing account) or
/// `--break-glass`. No change without one.
async fn actor_of(cli: &Cli, provider: &Provider) -> Result<oidc_core::Actor, CliError> {
    match (&cli.as_user, cli.break_glass) {
        (Some(u), false) => {
            // Service-desk and URF commands check their own roles in the library; every other
            // change needs an IAM administrator.
            let roles: &[&str] = if cli.command.needs_iam_admin() {
                &[oidc_core::ROLE_IAM_ADMIN]
            } else {
                &[]
            };
            provider
                .acting_as(u, roles)
                .await
                .map_err(|e| CliError::Io(format!("--as {u}: {e}")))
        }
        (None, true) => Ok(oidc_core::Actor::BreakGlass),
        _ => Err(CliError::Io(
            "this command changes IAM and is recorded in the audit log: say who is acting with --as USERNAME, or --break-glass"
                .into(),
        )),
    }
}

impl Command {
    /// Changes that only an IAM administrator makes (the library checks the others' roles).
    fn needs_iam_admin(&self) -> bool {
        matches!(
            self,
            Command::User(UserCommand::Add { .. })
                | Command::Client(
                    ClientCommand::Add { .. }
                        | ClientCommand::Update { .. }
                        | ClientCommand::RotateSecret { .. }
                        | ClientCommand::Delete { .. }
                        | ClientCommand::InitialToken { .. }
                )
                | Command::Token(_)
                | Command::Keys(KeysCommand::Rotate { .. })
                | Command::Keys(KeysCommand::RotateKek)
                | Command::Purge
        )
    }

    /// Commands that change accounts, clients or tokens (or read a tokencode) need an actor.
    fn changes_iam(&self) -> bool {
        !matches!(
            self,
            Command::Serve
                | Command::Migrate { .. }
                | Command::User(UserCommand::List)
                | Command::Client(ClientCommand::List | ClientCommand::Show { .. })
                | Command::Token(TokenCommand::List)
                | Command::Audit(_)
                | Command::Keys(KeysCommand::List)
        )
    }

    fn audit_name(&self) -> &'static str {
        match self {
            Command::User(UserCommand::Add { .. }) => "admin.user.add",
            Command::User(UserCommand::TempPassword { .. }) => "admin.user.temp_password",
            Command::User(UserCommand::Unlock { .. }) => "admin.user.unlock",
            Command::User(UserCommand::VerifyCaller { .. }) => "admin.user.verify_caller",
            Command::User(UserCommand::Disable { .. }) => "admin.user.disable",
            Command::User(UserCommand::Enable { .. }) => "admin.user.enable",
            Command::User(UserCommand::Roles { .. }) => "admin.user.roles",
            Command::User(UserCommand::LostToken { .. }) => "admin.user.lost_token",
            Command::User(UserCommand::ResetRecovery { .. }) => "admin.user.reset_recovery",
            Command::User(UserCommand::DeleteCredentials { .. }) => "admin.user.delete_credentials",
            Command::Urf(UrfCommand::ResetStuck { .. }) => "admin.urf.reset_stuck",
            Command::Client(ClientCommand::Add { .. }) => "admin.client.add",
            Command::Client(ClientCommand::Update { .. }) => "admin.client.update",
            Command::Client(ClientCommand::RotateSecret { .. }) => "admin.client.rotate_secret",
            Command::Client(ClientCommand::Delete { .. }) => "admin.client.delete",
            Command::Client(ClientCommand::InitialToken { .. }) => "admin.client.initial_token",
            Command::Token(TokenCommand::Import { .. }) => "admin.token.import",
            Command::Token(TokenCommand::Assign { .. }) => "admin.token.assign",
            Command::Token(TokenCommand::AddSoft { .. }) => "admin.token.add_soft",
            Command::Token(TokenCommand::Disable { .. }) => "admin.token.disable",
            Command::Token(TokenCommand::Lost { .. }) => "admin.token.lost",
            Command::Token(TokenCommand::Unassign { .. }) => "admin.token.unassign",
            Command::Token(TokenCommand::Code { .. }) => "admin.token.code",
            Command::Urf(UrfCommand::Submit { .. }) => "admin.urf.submit",
            Command::Urf(UrfCommand::List { .. }) => "admin.urf.list",
            Command::Urf(UrfCommand::Approve { .. }) => "admin.urf.approve",
            Command::Urf(UrfCommand::Reject { .. }) => "admin.urf.reject",
            Command::Keys(KeysCommand::Rotate { .. }) => "admin.keys.rotate",
            Command::Keys(KeysCommand::RotateKek) => "admin.keys.rotate_kek",
            Command::Purge => "admin.purge",
            _ => "admin.read",
        }
    }
}

async fn execute(
    provider: &Provider,
    settings: &Settings,
    json_out: bool,
    command: Command,
    actor: &oidc_core::Actor,
) -> Result<(), CliError> {
    let provider = provider.clone();
    match command {
        Command::Serve => serve(provider, &settings.bind, settings.metrics_bind.as_deref()).await,
        Command::Migrate { demo } => {
            if demo {
                provider.mark_demo_database().await?;
            }
            print(
                json_out,
                json!({ "migrated": true, "demo": demo }),
                if demo {
                    "The database schema is up to date; this is a demo database.".into()
                } else {
                    "The database schema is up to date.".into()
                },
            )
        }
        Command::Token(cmd) => token(&provider, json_out, cmd).await,
        Command::Urf(cmd) => urf(&provider, json_out, cmd, actor).await,
        Command::Keys(cmd) => keys(&provider, json_out, cmd).await,
        Command::Purge => purge(&provider, json_out).await,
        Command::Audit(cmd) => audit(&provider, json_out, cmd).await,
        Command::User(cmd) => user(&provider, json_out, cmd, actor).await,
        Command::Client(cmd) => client(&provider, json_out, cmd, actor).await,
    }
}

fn read_stdin_line(enabled: bool) -> Result<Option<String>, CliError> {
    if !enabled {
        return Ok(None);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Io(e.to_string()))?;
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()))
}

#[cfg(feature = "radius")]
fn radius_factor(
    r: &crate::settings::RadiusSettings,
) -> Result<std::sync::Arc<dyn oidc_core::mfa::SecondFactor>, CliError> {
    use oidc_core::mfa::radius::{RadiusConfig, RadiusFactor};
    let mut config =
        RadiusConfig::new(r.nas_identifier.clone().unwrap_or_else(|| "ahs-iam".into()));
    if let Some(t) = r.timeout_secs {
        config = config.timeout(std::time::Duration::from_secs(t));
    }
    if let Some(n) = r.retries {
        config = config.retries(n);
    }
    for s in &r.servers {
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&s.address)
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                CliError::Io(format!(
                    "[radius] server address {:?} does not resolve",
                    s.address
                ))
            })?;
        config = config.server(addr, s.secret.clone());
    }
    Ok(std::sync::Arc::new(RadiusFactor::new(config)?))
}

#[cfg(not(feature = "radius"))]
fn radius_factor(
    _: &crate::settings::RadiusSettings,
) -> Result<std::sync::Arc<dyn oidc_core::mfa::SecondFactor>, CliError> {
    Err(CliError::Io(
        "this build has no RADIUS support: build oidc-server with the `radius` feature".into(),
    ))
}

/// SMTP when `[smtp]` is set, else `.eml` files in DATA_DIR/outbox.
fn mailer(settings: &Settings) -> Result<std::sync::Arc<dyn oidc_core::notify::Mailer>, CliError> {
    use oidc_core::notify::{FileOutbox, SmtpConfig, SmtpMailer, SmtpTls};
    match &settings.smtp {
        Some(smtp) => {
            let tls = match smtp.tls.as_deref().unwrap_or("starttls") {
                "none" => SmtpTls::None,
                "starttls" => SmtpTls::StartTls,
                "tls" => SmtpTls::Tls,
                other => {
                    return Err(CliError::Io(format!(
                        "[smtp] tls = {other:?}: use none, starttls or tls"
                    )));
                }
            };
            let mut config = SmtpConfig::new(
                smtp.host.clone(),
                smtp.port.unwrap_or(587),
                tls,
                settings.mail_from.clone(),
            );
            if let (Some(u), Some(p)) = (&smtp.username, &smtp.password) {
                config = config.credentials(u.clone(), p.clone());
            }
            Ok(std::sync::Arc::new(SmtpMailer::new(config)?))
        }
        None => Ok(std::sync::Arc::new(FileOutbox::new(
            settings.data_dir.join("outbox"),
            &settings.mail_from,
        )?)),
    }
}
