//! The one-command demo: AHS IAM and CPAR in one process over SQLite files in a data folder,
//! with CPAR registered as a client and the people of the CPAR quick reference seeded.
//!
//! The layering stays as in production: IAM is built by `oidc-server` (the service's own
//! settings, mailer and router), CPAR by `cpar-rp`, and CPAR reaches IAM over HTTP only.
//!
//! Seeding happens once per data folder; the credentials it created are kept in
//! `credentials.json` there (a demo convenience: a real deployment never stores a password), so
//! that a second run prints the same ones. `--reset` deletes the folder first.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use oidc_core::{Actor, Clock, NewClient, NewUser, Provider, SystemClock};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What can stop the demo.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A file or socket operation failed.
    #[error("{0}")]
    Io(String),
    /// AHS IAM could not be configured or started, or refused a seeding step.
    #[error("AHS IAM: {0}")]
    Iam(String),
    /// CPAR could not start.
    #[error("CPAR: {0}")]
    Cpar(#[from] cpar_rp::Error),
}

impl From<oidc_core::Error> for DemoError {
    fn from(e: oidc_core::Error) -> Self {
        DemoError::Iam(e.to_string())
    }
}

/// Where and how to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The data folder (SQLite files, the mail outbox, `credentials.json`).
    pub data_dir: PathBuf,
    /// AHS IAM's address (port 0 picks a free one).
    pub iam_addr: SocketAddr,
    /// CPAR's address (port 0 picks a free one).
    pub cpar_addr: SocketAddr,
    /// Delete the data folder first.
    pub reset: bool,
    /// The host name in CPAR's URL (default: its IP address). The browser tests use `localhost`,
    /// so that CPAR and IAM (on 127.0.0.1) are different sites, as in production.
    pub cpar_host: Option<String>,
    /// AHS IAM's database (default: SQLite in the data folder).
    pub database_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_dir: PathBuf::from("demo-data"),
            iam_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cpar_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            reset: false,
            cpar_host: None,
            database_url: None,
        }
    }
}

/// One seeded person and what they need to sign in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Person {
    /// The AHS Network ID.
    pub username: String,
    /// The display name.
    pub name: String,
    /// What this person shows in the demo.
    pub role: String,
    /// Their roles in IAM.
    pub roles: Vec<String>,
    /// Their password (for people who are already active).
    pub password: Option<String>,
    /// A temporary password from the service desk (for the new user).
    pub temporary_password: Option<String>,
    /// Their soft token's serial.
    pub serial: String,
    /// The token's `otpauth://` URI (an authenticator app imports it).
    pub otpauth_uri: String,
    /// The token's seed in base32 (to compute passcodes in tests and the `code` helper).
    pub secret_base32: String,
    /// The soft token's activation code while the token is not yet activated.
    pub activation_code: Option<String>,
}

/// Everything seeding created, as kept in `credentials.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    /// CPAR's client id at IAM.
    pub cpar_client_id: String,
    /// CPAR's client secret.
    pub cpar_client_secret: String,
    /// The seeded people.
    pub people: Vec<Person>,
}

impl Credentials {
    /// The person with this username.
    pub fn person(&self, username: &str) -> Option<&Person> {
        self.people.iter().find(|p| p.username == username)
    }
}

/// The Panel Administrator, who uses CPAR.
pub const PANEL_ADMIN: &str = "nakitt";
/// The Access Administrator, whom CPAR turns away.
pub const ACCESS_ADMIN: &str = "aadmin";
/// The new user whose first-time activation is pending.
pub const NEW_USER: &str = "pnew";
/// The service desk agent.
pub const DESK_AGENT: &str = "deskagent";
/// The IAM administrator.
pub const IAM_ADMIN: &str = "iamadmin";

/// The demo, running.
pub struct Running {
    /// AHS IAM's issuer URL.
    pub iam_url: String,
    /// CPAR's URL.
    pub cpar_url: String,
    /// The data folder.
    pub data_dir: PathBuf,
    /// What seeding created (now or on an earlier run).
    pub credentials: Credentials,
    /// The provider (for tests and the `code` helper).
    pub provider: Provider,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops both servers, letting requests in flight finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }

    /// The text the demo prints: what to open, who can sign in, and how to get a passcode.
    pub fn instructions(&self) -> String {
        instructions(
            &self.iam_url,
            &self.cpar_url,
            &self.data_dir,
            &self.credentials,
        )
    }
}

fn io(context: &str) -> impl Fn(std::io::Error) -> DemoError + '_ {
    move |e| DemoError::Io(format!("{context}: {e}"))
}

/// Starts AHS IAM, seeds it on the first run, then starts CPAR.
///
/// # Errors
/// A port in use, an unusable data folder, or a failed start of either service.
pub async fn start(opts: Options) -> Result<Running, DemoError> {
    if opts.reset && opts.data_dir.exists() {
        std::fs::remove_dir_all(&opts.data_dir).map_err(io("removing the data folder"))?;
    }
    std::fs::create_dir_all(&opts.data_dir).map_err(io("creating the data folder"))?;
    let iam_listener = TcpListener::bind(opts.iam_addr)
        .await
        .map_err(io("AHS IAM's address"))?;
    let cpar_listener = TcpListener::bind(opts.cpar_addr)
        .await
        .map_err(io("CPAR's address"))?;
    let iam_addr = iam_listener.local_addr().map_err(io("AHS IAM's address"))?;
    let cpar_addr = cpar_listener.local_addr().map_err(io("CPAR's address"))?;
    let iam_url = format!("http://{iam_addr}");
    let cpar_url = match &opts.cpar_host {
        Some(host) => format!("http://{host}:{}", cpar_addr.port()),
        None => format!("http://{cpar_addr}"),
    };

    let provider = iam_provider(&opts.data_dir, &iam_url, opts.database_url.as_deref()).await?;
    let (stop, stopped) = watch::channel(false);
    let mut tasks = Vec::new();
    {
        let provider = provider.clone();
        let shutdown = wait_for(stopped.clone());
        tasks.push(tokio::spawn(async move {
            if let Err(e) = oidc_server::cli::serve_on(&provider, iam_listener, shutdown).await {
                tracing::error!(error = %e, "AHS IAM stopped");
            }
        }));
    }

    let credentials_file = opts.data_dir.join("credentials.json");
    let credentials = match read_credentials(&credentials_file)? {
        Some(c) => c,
        None => {
            let c = seed(&provider, &cpar_url).await?;
            write_credentials(&credentials_file, &c)?;
            c
        }
    };

    let mut config = cpar_rp::Config::new(
        iam_url.clone(),
        credentials.cpar_client_id.clone(),
        credentials.cpar_client_secret.clone(),
        cpar_url.clone(),
    );
    config.database = opts.data_dir.join("cpar.db");
    let cpar = cpar_rp::App::start(config, Arc::new(cpar_rp::SystemClock)).await?;
    cpar.seed_demo_data(PANEL_ADMIN).await?;
    {
        let shutdown = wait_for(stopped);
        let app = cpar.router();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = axum_serve(cpar_listener, app, shutdown).await {
                tracing::error!(error = %e, "CPAR stopped");
            }
        }));
    }
    Ok(Running {
        iam_url,
        cpar_url,
        data_dir: opts.data_dir,
        credentials,
        provider,
        stop,
        tasks,
    })
}

async fn axum_serve(
    listener: TcpListener,
    app: axum::Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), std::io::Error> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow() {
        if stopped.changed().await.is_err() {
            return;
        }
    }
}

/// AHS IAM as `oidc-server serve` builds it, over the demo's folder and address.
async fn iam_provider(
    data_dir: &Path,
    issuer: &str,
    database_url: Option<&str>,
) -> Result<Provider, DemoError> {
    let database_url = database_url.map_or_else(
        || format!("sqlite://{}", data_dir.join("iam.db").display()),
        str::to_string,
    );
    let file = oidc_server::settings::FileSettings {
        issuer: Some(issuer.to_string()),
        data_dir: Some(data_dir.to_path_buf()),
        database_url: Some(database_url),
        ..Default::default()
    };
    let settings = oidc_server::settings::Settings::resolve(file)
        .map_err(|e| DemoError::Iam(e.to_string()))?;
    oidc_server::cli::build_provider(&settings)
        .await
        .map_err(|e| DemoError::Iam(e.to_string()))
}

fn read_credentials(path: &Path) -> Result<Option<Credentials>, DemoError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| DemoError::Io(format!("{}: {e} (run with --reset)", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DemoError::Io(format!("{}: {e}", path.display()))),
    }
}

fn write_credentials(path: &Path, c: &Credentials) -> Result<(), DemoError> {
    let text = serde_json::to_vec_pretty(c).map_err(|e| DemoError::Io(e.to_string()))?;
    std::fs::write(path, text).map_err(io("writing credentials.json"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(io("protecting credentials.json"))?;
    }
    Ok(())
}

/// A password the policy accepts and a person can type: four random hex groups.
fn demo_password() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Demo-{}-{}-{}-{}",
        &hex[0..4],
        &hex[4..8],
        &hex[8..12],
        &hex[12..16]
    )
}

/// The passcode of a soft token (from its `otpauth://` URI) `offset` steps from now.
///
/// # Errors
/// A URI or seed that does not parse.
pub fn passcode(otpauth_uri: &str, now_unix: i64, offset: i64) -> Result<String, DemoError> {
    let url = url::Url::parse(otpauth_uri).map_err(|e| DemoError::Iam(e.to_string()))?;
    let q = |k: &str| {
        url.query_pairs()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
    };
    let secret = q("secret").ok_or_else(|| DemoError::Iam("no secret in the URI".into()))?;
    let seed = data_encoding::BASE32_NOPAD
        .decode(secret.trim_end_matches('=').as_bytes())
        .map_err(|e| DemoError::Iam(format!("the seed is not base32: {e}")))?;
    let digits: u32 = q("digits").and_then(|d| d.parse().ok()).unwrap_or(6);
    let period: u64 = q("period").and_then(|p| p.parse().ok()).unwrap_or(30);
    let alg = match q("algorithm").as_deref() {
        Some("SHA256") => OtpAlgorithm::Sha256,
        Some("SHA512") => OtpAlgorithm::Sha512,
        _ => OtpAlgorithm::Sha1,
    };
    totp_at_step(&seed, time_step(now_unix, period) + offset, digits, alg)
        .map_err(|e| DemoError::Iam(e.to_string()))
}

/// Registers CPAR and creates the people of the story.
async fn seed(provider: &Provider, cpar_url: &str) -> Result<Credentials, DemoError> {
    provider.mark_demo_database().await?;
    let cpar = provider
        .register_client(
            NewClient::new("CPAR", [format!("{cpar_url}/callback")])
                .first_party(true)
                .post_logout_redirect_uris([format!("{cpar_url}/signed-out")])
                // OpenID Connect Back-Channel Logout: IAM tells CPAR when a session ends there
                // (sign-out, disable, password reset), and CPAR ends its own.
                .metadata(oidc_core::ClientMetadata {
                    backchannel_logout_uri: Some(format!("{cpar_url}/backchannel-logout")),
                    backchannel_logout_session_required: true,
                    ..Default::default()
                }),
        )
        .await?;
    let secret = cpar
        .client_secret
        .as_ref()
        .map(|s| s.secret().to_string())
        .ok_or_else(|| DemoError::Iam("CPAR was registered without a secret".into()))?;
    let staff = [
        (
            PANEL_ADMIN,
            "Nancy Akitt",
            "Panel Administrator (uses CPAR)",
            oidc_core::ROLE_CPAR_PANEL_ADMIN,
        ),
        (
            ACCESS_ADMIN,
            "Alex Admin",
            "Access Administrator (no CPAR access)",
            oidc_core::ROLE_ACCESS_ADMIN,
        ),
        (
            DESK_AGENT,
            "Dana Desk",
            "Service desk agent (IAM admin pages)",
            oidc_core::ROLE_SERVICE_DESK,
        ),
        (
            IAM_ADMIN,
            "Ivan Iam",
            "IAM administrator (IAM admin pages)",
            oidc_core::ROLE_IAM_ADMIN,
        ),
    ];
    let mut people = Vec::new();
    for (username, name, role, iam_role) in staff {
        let password = demo_password();
        provider
            .create_user(NewUser {
                username: username.into(),
                email: format!("{username}@example.org"),
                name: Some(name.into()),
                roles: vec![iam_role.into()],
                password: Some(password.clone()),
            })
            .await?;
        let token = provider.add_soft_token(username, None, false).await?;
        // Activate with the previous step's code (inside the drift window): the current step
        // stays free for the person's first sign-in.
        let now = SystemClock.now().timestamp();
        let code = passcode(token.otpauth_uri.secret(), now, -1)?;
        if !provider
            .activate_soft_token(username, token.activation_code.secret(), &code)
            .await?
        {
            return Err(DemoError::Iam(format!(
                "the soft token of {username} did not activate"
            )));
        }
        people.push(Person {
            username: username.into(),
            name: name.into(),
            role: role.into(),
            roles: vec![iam_role.into()],
            password: Some(password),
            temporary_password: None,
            serial: token.serial.clone(),
            otpauth_uri: token.otpauth_uri.secret().to_string(),
            secret_base32: token.secret_base32.secret().to_string(),
            activation_code: None,
        });
    }

    // The new Panel Administrator of the quick reference: an account and a token, a temporary
    // password from the service desk, and first-time activation still to do.
    provider
        .create_user(NewUser {
            username: NEW_USER.into(),
            email: format!("{NEW_USER}@example.org"),
            name: Some("Pat New".into()),
            roles: vec![oidc_core::ROLE_CPAR_PANEL_ADMIN.into()],
            password: None,
        })
        .await?;
    let token = provider.add_soft_token(NEW_USER, None, false).await?;
    // Seeding stands in for the service desk call (recorded as break-glass in the audit log).
    let temporary = provider
        .issue_temporary_password(&Actor::BreakGlass, NEW_USER)
        .await?;
    people.push(Person {
        username: NEW_USER.into(),
        name: "Pat New".into(),
        role: "New Panel Administrator (first-time activation pending)".into(),
        roles: vec![oidc_core::ROLE_CPAR_PANEL_ADMIN.into()],
        password: None,
        temporary_password: Some(temporary.secret().to_string()),
        serial: token.serial.clone(),
        otpauth_uri: token.otpauth_uri.secret().to_string(),
        secret_base32: token.secret_base32.secret().to_string(),
        activation_code: Some(token.activation_code.secret().to_string()),
    });
    Ok(Credentials {
        cpar_client_id: cpar.client.client_id.clone(),
        cpar_client_secret: secret,
        people,
    })
}

/// A QR code of `text` for a terminal (two rows of modules per line).
fn terminal_qr(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

fn instructions(iam_url: &str, cpar_url: &str, data_dir: &Path, c: &Credentials) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let dir = data_dir.display();
    let _ = writeln!(
        out,
        "\nAHS IAM and CPAR are running.\n\n  Open CPAR:  {cpar_url}\n  AHS IAM:    {iam_url}   (admin pages: {iam_url}/admin)\n  Data:       {dir}   (mail, including the Welcome email, goes to {dir}/outbox/; start fresh with --reset)\n"
    );
    let _ = writeln!(
        out,
        "Passcodes: each person has a soft token. Add it to an authenticator app with its otpauth URI\n(the QR code below is {PANEL_ADMIN}'s), or print the current passcode with:\n  cargo run -p demo -- code USERNAME\n"
    );
    for p in &c.people {
        let _ = writeln!(out, "{} ({}), {}", p.username, p.name, p.role);
        if let Some(pw) = &p.password {
            let _ = writeln!(out, "  password:            {pw}");
        }
        if let Some(t) = &p.temporary_password {
            let _ = writeln!(out, "  temporary password:  {t}");
        }
        if let Some(a) = &p.activation_code {
            let _ = writeln!(
                out,
                "  token activation:    {iam_url}/activate-token  (username {}, activation code {a})",
                p.username
            );
            let _ = writeln!(
                out,
                "  then first-time activation: {iam_url}/activate  (passcode, temporary password, new password,\n  secret word, five challenge questions), then sign in to CPAR"
            );
        }
        let _ = writeln!(out, "  token {}:  {}", p.serial, p.otpauth_uri);
    }
    if let Some(p) = c.person(PANEL_ADMIN) {
        let _ = writeln!(out, "\n{}", terminal_qr(&p.otpauth_uri));
    }
    let _ = writeln!(out, "Press Ctrl-C to stop both.");
    out
}

/// The current passcode of `username`'s token in the demo's data folder (what an authenticator
/// app would show).
///
/// # Errors
/// No demo data there, or an unknown username.
pub fn current_code(data_dir: &Path, username: &str, now_unix: i64) -> Result<String, DemoError> {
    let c = read_credentials(&data_dir.join("credentials.json"))?.ok_or_else(|| {
        DemoError::Io(format!(
            "no demo data in {}: run `cargo run -p demo` first",
            data_dir.display()
        ))
    })?;
    let p = c
        .person(username)
        .ok_or_else(|| DemoError::Io(format!("no demo user {username:?}")))?;
    passcode(&p.otpauth_uri, now_unix, 0)
}
