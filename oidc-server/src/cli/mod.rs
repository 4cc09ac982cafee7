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
    /// Who is acting: every command that changes IAM is recorded in the audit log as this user.
    #[arg(
        long = "as",
        global = true,
        value_name = "USERNAME",
        conflicts_with = "break_glass"
    )]
    pub as_user: Option<String>,
    /// Act without a named user (first set-up, emergencies); recorded as break-glass.
    #[arg(long, global = true)]
    pub break_glass: bool,
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
    Migrate {
        /// Mark a new, empty database as a demo database (`token code` then works without
        /// --i-am-support).
        #[arg(long)]
        demo: bool,
    },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage relying parties.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage OATH tokens (hardware and soft).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Read and check the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// CPAR Panel Administrator User Registration Forms (URF): submit, list, approve, reject.
    #[command(subcommand)]
    Urf(UrfCommand),
    /// Signing keys: list them, or rotate now (needs iam_admin).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Delete expired codes, grants, sessions, journeys, throttle counters and removed keys now
    /// (the server also does it every `[housekeeping] interval_secs`); prints counts per table.
    Purge,
}

/// Signing key commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Publish a new key per algorithm (or for --alg only). It is in JWKS at once, signs after
    /// the publish delay, and the key it succeeds stays published for the retire period. An
    /// algorithm whose new key is still waiting to sign is left alone.
    Rotate {
        /// RS256, ES256 or EdDSA (default: every configured algorithm).
        #[arg(long)]
        alg: Option<String>,
    },
    /// List keys with their state (published, active, retired, removed) and times.
    List,
    /// Re-seal every secret at rest (signing keys, token seeds, the audit key) under the
    /// configured key_encryption_key, opening them with it or a previous_key_encryption_keys
    /// entry, in one transaction (see docs/configuration.md, "Rotating the key-encryption key").
    RotateKek,
}

/// User Registration Form commands (Access Administrators; an approval needs a second one).
#[derive(Debug, Subcommand)]
pub enum UrfCommand {
    /// Enter a registration (status pending).
    Submit {
        /// The person's legal name.
        #[arg(long)]
        legal_name: String,
        /// Their email address (the Welcome email goes there).
        #[arg(long)]
        email: String,
        /// The clinic or panel.
        #[arg(long)]
        clinic: String,
        /// The practitioner or clinic identifier.
        #[arg(long)]
        practitioner_id: String,
        /// The role requested (default cpar_panel_admin).
        #[arg(long)]
        role: Option<String>,
    },
    /// List registrations, oldest first.
    List {
        /// Only those with this status: pending, approving, approved or rejected.
        #[arg(long)]
        status: Option<String>,
    },
    /// Approve a registration (not one you submitted): creates the account, assigns the token
    /// and mails the Welcome email. For a soft token, prints the activation code to pass on by
    /// phone.
    Approve {
        /// The registration's id.
        #[arg(long)]
        id: String,
        /// The username (AHS Network ID) of the new account.
        #[arg(long)]
        username: String,
        /// Assign this imported hardware token.
        #[arg(long, required_unless_present = "soft", conflicts_with = "soft")]
        serial: Option<String>,
        /// Create a soft token instead.
        #[arg(long)]
        soft: bool,
    },
    /// Reject a registration with a reason.
    Reject {
        /// The registration's id.
        #[arg(long)]
        id: String,
        /// Why (1 to 500 characters).
        #[arg(long)]
        reason: String,
    },
    /// Settle a registration left "approving" by an interrupted approval: back to pending when
    /// no account was made, or completed (Welcome email) when it was.
    ResetStuck {
        /// The registration's id.
        #[arg(long)]
        id: String,
        /// Only when the approval started at least this many minutes ago.
        #[arg(long, default_value_t = 15)]
        older_than_minutes: u64,
    },
}

/// Audit log commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List entries in order.
    List {
        /// Only entries after this sequence number.
        #[arg(long)]
        since: Option<i64>,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: i64,
    },
    /// Recompute the MAC chain and report the first broken link (exit code 1 if any).
    Verify,
}

/// Token commands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Import hardware tokens from a seed file (CSV `serial,seed_hex[,digits,period,algorithm]`
    /// or PSKC, RFC 6030).
    Import {
        /// The seed file.
        file: PathBuf,
        /// Import the good rows even when some are bad (each bad row is reported).
        #[arg(long)]
        partial: bool,
        /// The PSKC pre-shared key, in hex (for an encrypted PSKC file).
        #[arg(long)]
        psk_hex: Option<String>,
    },
    /// Assign an imported hardware token to a user.
    Assign {
        /// The user.
        #[arg(long)]
        username: String,
        /// The token's serial.
        #[arg(long)]
        serial: String,
        /// Read a PIN (4 to 8 digits, typed before each tokencode) from standard input.
        #[arg(long)]
        pin_stdin: bool,
        /// Disable the token the user holds now.
        #[arg(long)]
        replace: bool,
    },
    /// Create a soft token for a user: prints its serial, one-time activation code and otpauth URI.
    AddSoft {
        /// The user.
        #[arg(long)]
        username: String,
        /// Read a PIN (4 to 8 digits) from standard input.
        #[arg(long)]
        pin_stdin: bool,
        /// Disable the token the user holds now.
        #[arg(long)]
        replace: bool,
    },
    /// List tokens.
    List,
    /// Disable a token.
    Disable {
        /// The token's serial.
        #[arg(long)]
        serial: String,
    },
    /// Mark a token lost.
    Lost {
        /// The token's serial.
        #[arg(long)]
        serial: String,
    },
    /// Take a hardware token back from its user (a soft token is disabled instead).
    Unassign {
        /// The token's serial.
        #[arg(long)]
        serial: String,
    },
    /// Print the current tokencode of a token (demo databases, or support staff).
    Code {
        /// The token's serial.
        #[arg(long)]
        serial: String,
        /// Confirms a support engineer is asking, on a real database.
        #[arg(long)]
        i_am_support: bool,
    },
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
    /// Issue a temporary password (service desk): shown once, valid 72 h, only to set a new one.
    TempPassword {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Unlock an account locked by failed sign-ins.
    Unlock {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Verify a caller (service desk) before acting: the secret word they say (read from
    /// standard input), or a one-time code mailed to their registered address (--send-code, then
    /// --code CODE). Match or no match; the word is never shown.
    VerifyCaller {
        /// The user.
        #[arg(long)]
        username: String,
        /// Read the secret word the caller says from standard input.
        #[arg(long)]
        secret_word_stdin: bool,
        /// Mail a one-time code to the user's registered address.
        #[arg(long)]
        send_code: bool,
        /// The code the caller reads back.
        #[arg(long)]
        code: Option<String>,
    },
    /// Disable an account (its sessions end at once).
    Disable {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Re-enable an account.
    Enable {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Set an account's roles (removing one ends its sessions).
    Roles {
        /// The user.
        #[arg(long)]
        username: String,
        /// A role; repeat for several; none removes all.
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// A lost token: marks the user's tokens lost, ends their sessions and prints an emergency
    /// passcode (shown once) that works instead of the token for some hours.
    LostToken {
        /// The user.
        #[arg(long)]
        username: String,
        /// How long the emergency passcode works (default 24, at most 168).
        #[arg(long)]
        hours: Option<u32>,
    },
    /// Clear the secret word and challenge questions (after caller verification); the next
    /// sign-in asks for new ones. The user is told by email.
    ResetRecovery {
        /// The user.
        #[arg(long)]
        username: String,
    },
    /// Deprovision: remove the password, temporary password, history, recovery data and tokens,
    /// and end every session and grant. The account row and its audit trail stay.
    DeleteCredentials {
        /// The user.
        #[arg(long)]
        username: String,
    },
}

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints its client_id and (once) its client_secret.
    Add {
        /// The name people see.
        #[arg(long)]
        name: String,
        /// A redirect URI; repeat for several (required unless --service).
        #[arg(long = "redirect-uri", required_unless_present = "service")]
        redirect_uris: Vec<String>,
        /// A post-logout redirect URI; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE only).
        #[arg(long)]
        public: bool,
        /// A first-party client (no consent page): the default, accepted for older scripts.
        #[arg(long, conflicts_with = "third_party")]
        first_party: bool,
        /// A third-party client: people see a consent page listing what it asks for, and can
        /// withdraw their consent at the portal (/account/apps).
        #[arg(long)]
        third_party: bool,
        /// Let this confidential client omit PKCE (only for older certified clients).
        #[arg(long, conflicts_with = "public")]
        pkce_optional: bool,
        /// The `aud` of this client's access tokens (default: the provider's userinfo resource).
        #[arg(long)]
        access_token_audience: Option<String>,
        /// Sign-ins to this client need only a password (default: password and token passcode).
        #[arg(long)]
        no_mfa: bool,
        /// A service client: client_credentials only, no people, no redirect URIs; it may also
        /// introspect and revoke.
        #[arg(long, conflicts_with_all = ["public", "grant_types"])]
        service: bool,
        /// A grant type (authorization_code, refresh_token, client_credentials); repeat for
        /// several. Default: authorization_code and refresh_token.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// A scope the client may ask for with client_credentials; repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// When the client gets refresh tokens: never, offline_access (when it asks for that
        /// scope; the default) or always.
        #[arg(long)]
        refresh: Option<String>,
        /// The ID token signing algorithm for this client (RS256, ES256 or EdDSA).
        #[arg(long)]
        id_token_alg: Option<String>,
    },
    /// List clients.
    List,
    /// Show one client's registration (never its secret).
    Show {
        /// The client's id.
        #[arg(long)]
        client_id: String,
    },
    /// Change a client (needs iam_admin); only the options given change.
    Update {
        /// The client's id.
        #[arg(long)]
        client_id: String,
        /// The name people see.
        #[arg(long)]
        name: Option<String>,
        /// Replaces the redirect URIs; repeat for several.
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// Replaces the post-logout redirect URIs; repeat for several.
        #[arg(long = "post-logout-redirect-uri")]
        post_logout_redirect_uris: Vec<String>,
        /// true: no consent page; false: people consent to what the client asks for.
        #[arg(long)]
        first_party: Option<bool>,
        /// Whether sign-ins to this client need the token passcode.
        #[arg(long)]
        mfa_required: Option<bool>,
        /// Replaces the grant types; repeat for several.
        #[arg(long = "grant-type")]
        grant_types: Vec<String>,
        /// Replaces the client_credentials scopes; repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// Where logout tokens go (OpenID Connect Back-Channel Logout); "" removes it.
        #[arg(long)]
        backchannel_logout_uri: Option<String>,
        /// Whether this client's authorization requests must come through PAR (RFC 9126).
        #[arg(long)]
        require_par: Option<bool>,
        /// Disable (true) or enable (false) the client.
        #[arg(long)]
        disabled: Option<bool>,
    },
    /// Issue a confidential client a new secret (shown once); the old one stops working.
    RotateSecret {
        /// The client's id.
        #[arg(long)]
        client_id: String,
    },
    /// Delete a client: its grants, codes and refresh tokens go with it.
    Delete {
        /// The client's id.
        #[arg(long)]
        client_id: String,
    },
    /// Create an initial access token for dynamic client registration (RFC 7591), shown once.
    InitialToken {
        /// Hours until it expires (default 24).
        #[arg(long, default_value_t = 24)]
        ttl_hours: u64,
        /// Let it register any number of clients until it expires (default: one).
        #[arg(long)]
        multi_use: bool,
    },
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
        Command::Audit(AuditCommand::List { since, limit }) => {
            let events = provider.audit_events(since, limit.clamp(1, 10_000)).await?;
            let text = events
                .iter()
                .map(|e| {
                    format!(
                        "{}\t{}\t{}\t{}\t{}",
                        e.seq,
                        e.at.to_rfc3339(),
                        e.actor,
                        e.event,
                        e.subject.as_deref().unwrap_or("-")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                serde_json::to_value(&events).unwrap_or_default(),
                text,
            )
        }
        Command::Audit(AuditCommand::Verify) => {
            let report = provider.verify_audit_log().await?;
            let text = match report.first_broken {
                None => format!("The audit log is intact ({} entries).", report.entries),
                Some(seq) => format!(
                    "The audit log is BROKEN at entry {seq}: {}",
                    report.reason.clone().unwrap_or_default()
                ),
            };
            print(
                json_out,
                serde_json::to_value(&report).unwrap_or_default(),
                text,
            )?;
            if report.first_broken.is_some() {
                return Err(CliError::Io("audit log verification failed".into()));
            }
            Ok(())
        }
        Command::User(UserCommand::TempPassword { username }) => {
            let temporary = provider.issue_temporary_password(actor, &username).await?;
            let text = format!(
                "Temporary password for {}: {}\n(Read it to the verified caller; it is shown only now and works once, to set a new password.)",
                username.trim().to_lowercase(),
                temporary.secret()
            );
            print(
                json_out,
                json!({ "username": username.trim().to_lowercase(), "temporary_password": temporary.secret() }),
                text,
            )
        }
        Command::User(UserCommand::VerifyCaller {
            username,
            secret_word_stdin,
            send_code,
            code,
        }) => {
            if send_code {
                provider.send_caller_code(actor, &username).await?;
                return print(
                    json_out,
                    json!({ "code_sent": true }),
                    "A one-time code was mailed to the registered address.".into(),
                );
            }
            let ok = match (secret_word_stdin, code) {
                (true, None) => {
                    let word = read_stdin_line(true)?.unwrap_or_default();
                    provider
                        .verify_caller_secret_word(actor, &username, &word)
                        .await?
                }
                (false, Some(c)) => provider.verify_caller_code(actor, &username, &c).await?,
                _ => {
                    return Err(CliError::Io(
                        "give --secret-word-stdin, --send-code or --code".into(),
                    ));
                }
            };
            print(
                json_out,
                json!({ "match": ok }),
                if ok {
                    "Match.".into()
                } else {
                    "No match.".into()
                },
            )?;
            if ok {
                Ok(())
            } else {
                Err(CliError::Io("the caller is not verified".into()))
            }
        }
        Command::User(UserCommand::Disable { username }) => {
            let u = provider
                .set_account_disabled(actor, &username, true)
                .await?;
            print(
                json_out,
                serde_json::to_value(&u).unwrap_or_default(),
                "Disabled; sessions ended.".into(),
            )
        }
        Command::User(UserCommand::Enable { username }) => {
            let u = provider
                .set_account_disabled(actor, &username, false)
                .await?;
            print(
                json_out,
                serde_json::to_value(&u).unwrap_or_default(),
                "Enabled.".into(),
            )
        }
        Command::User(UserCommand::Roles { username, roles }) => {
            let u = provider.set_roles(actor, &username, roles).await?;
            print(
                json_out,
                serde_json::to_value(&u).unwrap_or_default(),
                format!("Roles: {}", u.roles.join(" ")),
            )
        }
        Command::User(UserCommand::LostToken { username, hours }) => {
            let code = provider.report_token_lost(actor, &username, hours).await?;
            print(
                json_out,
                json!({ "emergency_passcode": code.secret() }),
                format!("Emergency passcode (shown once): {}", code.secret()),
            )
        }
        Command::User(UserCommand::ResetRecovery { username }) => {
            provider.reset_recovery_data(actor, &username).await?;
            print(
                json_out,
                json!({ "username": username.trim().to_lowercase(), "recovery_reset": true }),
                "Recovery data cleared; the next sign-in asks for a new secret word and questions."
                    .into(),
            )
        }
        Command::User(UserCommand::DeleteCredentials { username }) => {
            let serials = provider.delete_credentials(actor, &username).await?;
            print(
                json_out,
                json!({ "username": username.trim().to_lowercase(), "tokens_taken_back": serials }),
                format!(
                    "Credentials deleted, sessions ended; tokens taken back: {}",
                    if serials.is_empty() {
                        "none".to_string()
                    } else {
                        serials.join(", ")
                    }
                ),
            )
        }
        Command::User(UserCommand::Unlock { username }) => {
            provider.unlock_account(actor, &username).await?;
            print(
                json_out,
                json!({ "username": username.trim().to_lowercase(), "unlocked": true }),
                "Unlocked.".into(),
            )
        }
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
                json_out,
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
                json_out,
                serde_json::to_value(&users).unwrap_or_default(),
                text,
            )
        }
        Command::Client(ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            first_party: _,
            third_party,
            pkce_optional,
            access_token_audience,
            no_mfa,
            service,
            grant_types,
            scopes,
            refresh,
            id_token_alg,
        }) => {
            let mut new = if service {
                NewClient::service(name)
            } else {
                NewClient::new(name, redirect_uris)
                    .post_logout_redirect_uris(post_logout_redirect_uris)
                    .public(public)
                    .first_party(!third_party)
            };
            new.pkce_required = !pkce_optional;
            new.access_token_audience = access_token_audience;
            new.mfa_required = !no_mfa;
            if !grant_types.is_empty() {
                new = new.grant_types(grant_types);
            }
            new = new.scope(scopes);
            if let Some(r) = refresh {
                new = new.refresh_policy(match r.as_str() {
                    "never" => oidc_core::RefreshPolicy::Never,
                    "offline_access" => oidc_core::RefreshPolicy::OfflineAccess,
                    "always" => oidc_core::RefreshPolicy::Always,
                    other => {
                        return Err(CliError::Io(format!(
                            "--refresh {other:?}: use never, offline_access or always"
                        )));
                    }
                });
            }
            if let Some(a) = id_token_alg {
                let alg = oidc_core::SigningAlg::parse(&a).ok_or_else(|| {
                    CliError::Io(format!("--id-token-alg {a:?}: use RS256, ES256 or EdDSA"))
                })?;
                new = new.id_token_signed_response_alg(alg);
            }
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
            print(json_out, value, text)
        }
        Command::Client(
            cmd @ (ClientCommand::Show { .. }
            | ClientCommand::Update { .. }
            | ClientCommand::RotateSecret { .. }
            | ClientCommand::Delete { .. }
            | ClientCommand::InitialToken { .. }),
        ) => client(&provider, json_out, cmd, actor).await,
        Command::Client(ClientCommand::List) => {
            let clients = provider.list_clients().await?;
            let text = clients
                .iter()
                .map(|c| format!("{}\t{}\t{}", c.client_id, c.name, c.redirect_uris.join(" ")))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                serde_json::to_value(&clients).unwrap_or_default(),
                text,
            )
        }
    }
}

/// `client show|update|rotate-secret|delete|initial-token`: thin shells over the library.
async fn client(
    provider: &Provider,
    json_out: bool,
    cmd: ClientCommand,
    actor: &oidc_core::Actor,
) -> Result<(), CliError> {
    fn describe(c: &oidc_core::ClientInfo) -> String {
        format!(
            "client_id: {}\nname: {}\nauthentication: {}\nfirst_party: {}\nmfa_required: {}\ndisabled: {}\ngrant_types: {}\nredirect_uris: {}",
            c.client_id,
            c.name,
            c.token_endpoint_auth_method.as_str(),
            c.first_party,
            c.mfa_required,
            c.disabled,
            c.grant_types.join(" "),
            c.redirect_uris.join(" ")
        )
    }
    match cmd {
        ClientCommand::Show { client_id } => {
            let c = provider.client(&client_id).await?;
            print(
                json_out,
                serde_json::to_value(&c).unwrap_or_default(),
                describe(&c),
            )
        }
        ClientCommand::Update {
            client_id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            first_party,
            mfa_required,
            grant_types,
            scopes,
            backchannel_logout_uri,
            require_par,
            disabled,
        } => {
            let non_empty = |v: Vec<String>| if v.is_empty() { None } else { Some(v) };
            let update = oidc_core::ClientUpdate {
                name,
                redirect_uris: non_empty(redirect_uris),
                post_logout_redirect_uris: non_empty(post_logout_redirect_uris),
                first_party,
                mfa_required,
                grant_types: non_empty(grant_types),
                scope: non_empty(scopes),
                backchannel_logout_uri,
                require_pushed_authorization_requests: require_par,
                disabled,
            };
            let c = provider.update_client(actor, &client_id, update).await?;
            print(
                json_out,
                serde_json::to_value(&c).unwrap_or_default(),
                describe(&c),
            )
        }
        ClientCommand::RotateSecret { client_id } => {
            let secret = provider.rotate_client_secret(actor, &client_id).await?;
            print(
                json_out,
                json!({ "client_id": client_id, "client_secret": secret.secret() }),
                format!(
                    "client_id: {client_id}\nclient_secret: {}\n(The new secret is shown only now; the old one no longer works.)",
                    secret.secret()
                ),
            )
        }
        ClientCommand::Delete { client_id } => {
            provider.delete_client(actor, &client_id).await?;
            print(
                json_out,
                json!({ "client_id": client_id, "deleted": true }),
                format!("Deleted client {client_id}; its tokens no longer work."),
            )
        }
        ClientCommand::InitialToken {
            ttl_hours,
            multi_use,
        } => {
            let ttl = std::time::Duration::from_secs(ttl_hours.saturating_mul(3600));
            let t = provider
                .create_initial_access_token(actor, ttl, !multi_use)
                .await?;
            print(
                json_out,
                json!({
                    "initial_access_token": t.token.secret(),
                    "id": t.id,
                    "expires_at": t.expires_at.to_rfc3339(),
                    "single_use": t.single_use,
                }),
                format!(
                    "Initial access token (shown only now; {}, expires {}):\n{}",
                    if t.single_use {
                        "one registration"
                    } else {
                        "any number of registrations"
                    },
                    t.expires_at.to_rfc3339(),
                    t.token.secret()
                ),
            )
        }
        ClientCommand::Add { .. } | ClientCommand::List => Err(CliError::Io(
            "internal: add and list are handled by execute".into(),
        )),
    }
}

fn registration_line(r: &oidc_core::Registration) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        r.id,
        r.status,
        r.legal_name,
        r.email,
        r.clinic,
        r.practitioner_id,
        r.role_requested,
        r.username.as_deref().unwrap_or("-")
    )
}

async fn urf(
    provider: &Provider,
    json_out: bool,
    cmd: UrfCommand,
    actor: &oidc_core::Actor,
) -> Result<(), CliError> {
    let show = |r: oidc_core::Registration| {
        let text = registration_line(&r);
        print(json_out, serde_json::to_value(&r).unwrap_or_default(), text)
    };
    match cmd {
        UrfCommand::Submit {
            legal_name,
            email,
            clinic,
            practitioner_id,
            role,
        } => show(
            provider
                .submit_registration(
                    actor,
                    oidc_core::NewRegistration {
                        legal_name,
                        email,
                        clinic,
                        practitioner_id,
                        role_requested: role,
                    },
                )
                .await?,
        ),
        UrfCommand::List { status } => {
            let list = provider.list_registrations(status.as_deref()).await?;
            let text = list
                .iter()
                .map(registration_line)
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                serde_json::to_value(&list).unwrap_or_default(),
                text,
            )
        }
        UrfCommand::Approve {
            id,
            username,
            serial,
            soft,
        } => {
            let choice = match (serial, soft) {
                (Some(serial), false) => oidc_core::TokenChoice::Hardware { serial },
                (None, true) => oidc_core::TokenChoice::Soft,
                _ => {
                    return Err(CliError::Io("give either --serial SERIAL or --soft".into()));
                }
            };
            let a = provider
                .approve_registration(actor, &id, &username, choice)
                .await?;
            let mut value = json!({
                "registration": a.registration,
                "user": a.user,
                "serial": a.serial,
            });
            let mut text = format!(
                "Approved: account {} created with roles {}, token {} assigned; the Welcome email went to {}.",
                a.user.username,
                a.user.roles.join(","),
                a.serial,
                a.user.email
            );
            if let Some(e) = &a.soft_token {
                value["activation_code"] = json!(e.activation_code.secret());
                value["activation_expires_at"] = json!(e.activation_expires_at.to_rfc3339());
                text.push_str(&format!(
                    "\nSoft token activation code: {} (give it to the user by phone, never by email; valid until {})",
                    e.activation_code.secret(),
                    e.activation_expires_at.to_rfc3339()
                ));
            }
            print(json_out, value, text)
        }
        UrfCommand::Reject { id, reason } => {
            show(provider.reject_registration(actor, &id, &reason).await?)
        }
        UrfCommand::ResetStuck {
            id,
            older_than_minutes,
        } => show(
            provider
                .reset_stuck_registration(
                    actor,
                    &id,
                    std::time::Duration::from_secs(older_than_minutes.saturating_mul(60)),
                )
                .await?,
        ),
    }
}

fn key_line(k: &oidc_core::KeyInfo) -> String {
    let or_dash = |t: Option<String>| t.unwrap_or_else(|| "-".into());
    format!(
        "{}\t{}\t{}\tpublished {}\tsigns from {}\tretired {}\tremoved {}",
        k.kid,
        k.alg,
        k.state.as_str(),
        k.published_at.to_rfc3339(),
        k.activates_at.to_rfc3339(),
        or_dash(k.retired_at.map(|t| t.to_rfc3339())),
        or_dash(k.removed_at.map(|t| t.to_rfc3339())),
    )
}

async fn keys(provider: &Provider, json_out: bool, cmd: KeysCommand) -> Result<(), CliError> {
    match cmd {
        KeysCommand::List => {
            let keys = provider.list_keys().await?;
            let text = keys.iter().map(key_line).collect::<Vec<_>>().join("\n");
            print(
                json_out,
                serde_json::to_value(&keys).unwrap_or_default(),
                text,
            )
        }
        KeysCommand::Rotate { alg } => {
            let alg = match alg {
                Some(name) => Some(oidc_core::SigningAlg::parse(name.trim()).ok_or_else(|| {
                    CliError::Io(format!("--alg {name}: use RS256, ES256 or EdDSA"))
                })?),
                None => None,
            };
            let published = provider.rotate_keys(alg).await?;
            let text = if published.is_empty() {
                "Nothing rotated: a new key is already waiting to sign for each algorithm asked \
                 (see `keys list`)."
                    .to_string()
            } else {
                published
                    .iter()
                    .map(key_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            print(
                json_out,
                serde_json::to_value(&published).unwrap_or_default(),
                text,
            )
        }
        KeysCommand::RotateKek => {
            let done = provider.rotate_key_encryption_key().await?;
            let text = done
                .columns
                .iter()
                .map(|c| {
                    format!(
                        "{}\t{} re-sealed ({} from a previous key)",
                        c.column, c.values, c.from_previous
                    )
                })
                .chain(std::iter::once(
                    "Everything is sealed under the current key-encryption key: remove \
                     previous_key_encryption_keys from every replica's configuration."
                        .to_string(),
                ))
                .collect::<Vec<_>>()
                .join("\n");
            print(
                json_out,
                serde_json::to_value(&done).unwrap_or_default(),
                text,
            )
        }
    }
}

async fn purge(provider: &Provider, json_out: bool) -> Result<(), CliError> {
    let report = provider.purge_expired().await?;
    let text = report
        .deleted
        .iter()
        .map(|(table, n)| format!("{table}\t{n}"))
        .collect::<Vec<_>>()
        .join("\n");
    print(
        json_out,
        serde_json::to_value(&report).unwrap_or_default(),
        text,
    )
}

async fn serve(provider: Provider, bind: &str, metrics_bind: Option<&str>) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| CliError::Io(format!("cannot listen on {bind}: {e}")))?;
    if let Some(metrics_bind) = metrics_bind {
        let metrics = tokio::net::TcpListener::bind(metrics_bind)
            .await
            .map_err(|e| CliError::Io(format!("cannot listen on {metrics_bind}: {e}")))?;
        tracing::info!(metrics_bind, "Prometheus metrics at /metrics");
        let router = provider.metrics_router();
        // Scrapes need no graceful end: the task stops with the process.
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, router).await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    tracing::info!(
        issuer = provider.config().issuer(),
        bind,
        "AHS IAM is listening"
    );
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown_signal().await;
        let _ = stopping_tx.send(());
    };
    // Requests in flight get SHUTDOWN_GRACE to finish; a stuck one must not keep a replica from
    // exiting (the orchestrator would kill it less politely).
    let deadline = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = serve_on(&provider, listener, signal) => r,
        () = deadline => {
            tracing::warn!(
                grace_secs = SHUTDOWN_GRACE.as_secs(),
                "requests still in flight after the shutdown grace period: exiting"
            );
            Ok(())
        }
    }
}

/// How long `serve` waits for requests in flight after SIGTERM or Ctrl-C.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

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

fn token_line(t: &oidc_core::mfa::TokenInfo) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}",
        t.serial,
        t.kind,
        t.state.as_str(),
        t.username.as_deref().unwrap_or("-"),
        if t.next_tokencode_mode {
            "next-tokencode"
        } else {
            ""
        }
    )
}

async fn token(provider: &Provider, json_out: bool, cmd: TokenCommand) -> Result<(), CliError> {
    use oidc_core::mfa::TokenState;
    let show = |t: oidc_core::mfa::TokenInfo| {
        let text = token_line(&t);
        print(json_out, serde_json::to_value(&t).unwrap_or_default(), text)
    };
    match cmd {
        TokenCommand::Import {
            file,
            partial,
            psk_hex,
        } => {
            let bytes = std::fs::read(&file)
                .map_err(|e| CliError::Io(format!("{}: {e}", file.display())))?;
            let psk = match psk_hex {
                Some(h) => Some(
                    decode_hex(&h).ok_or_else(|| CliError::Io("--psk-hex is not hex".into()))?,
                ),
                None => None,
            };
            let report = provider
                .import_tokens(&bytes, psk.as_deref(), partial)
                .await?;
            let mut text = format!("Imported {} token(s).", report.imported.len());
            for (line, msg) in &report.errors {
                text.push_str(&format!("\nline {line}: {msg}"));
            }
            print(
                json_out,
                serde_json::to_value(&report).unwrap_or_default(),
                text,
            )
        }
        TokenCommand::Assign {
            username,
            serial,
            pin_stdin,
            replace,
        } => {
            let pin = read_stdin_line(pin_stdin)?;
            show(
                provider
                    .assign_token(&username, &serial, pin, replace)
                    .await?,
            )
        }
        TokenCommand::AddSoft {
            username,
            pin_stdin,
            replace,
        } => {
            let pin = read_stdin_line(pin_stdin)?;
            let e = provider.add_soft_token(&username, pin, replace).await?;
            let value = json!({
                "serial": e.serial,
                "activation_code": e.activation_code.secret(),
                "activation_expires_at": e.activation_expires_at.to_rfc3339(),
                "otpauth_uri": e.otpauth_uri.secret(),
                "secret_base32": e.secret_base32.secret(),
            });
            let text = format!(
                "serial: {}\nactivation code: {} (give it to the user by phone or in person, not by email; \
                 valid until {})\notpauth URI: {}",
                e.serial,
                e.activation_code.secret(),
                e.activation_expires_at.to_rfc3339(),
                e.otpauth_uri.secret()
            );
            print(json_out, value, text)
        }
        TokenCommand::List => {
            let tokens = provider.list_tokens().await?;
            let text = tokens.iter().map(token_line).collect::<Vec<_>>().join("\n");
            print(
                json_out,
                serde_json::to_value(&tokens).unwrap_or_default(),
                text,
            )
        }
        TokenCommand::Disable { serial } => show(
            provider
                .set_token_state(&serial, TokenState::Disabled)
                .await?,
        ),
        TokenCommand::Lost { serial } => {
            show(provider.set_token_state(&serial, TokenState::Lost).await?)
        }
        TokenCommand::Unassign { serial } => show(
            provider
                .set_token_state(&serial, TokenState::Unassigned)
                .await?,
        ),
        TokenCommand::Code {
            serial,
            i_am_support,
        } => {
            let code = provider.current_tokencode(&serial, i_am_support).await?;
            print(
                json_out,
                json!({ "serial": serial, "tokencode": code }),
                code,
            )
        }
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
        .collect()
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
