//! `oidc-bench`: a load generator for OpenID Connect providers.
//!
//! Give it an issuer and a client; it finds the endpoints by discovery and measures, one mode
//! after the other, each for `--duration`:
//!
//! | mode         | what one operation is                                                    |
//! |--------------|--------------------------------------------------------------------------|
//! | `discovery`  | GET /.well-known/openid-configuration                                    |
//! | `jwks`       | GET jwks_uri                                                             |
//! | `token-cc`   | POST token_endpoint grant_type=client_credentials                        |
//! | `introspect` | POST introspection_endpoint with a client_credentials access token       |
//! | `code`       | authorize → code → token exchange, for a worker that has a session       |
//! | `code-full`  | the same from an empty cookie jar: every flow signs in                   |
//! | `refresh`    | POST token_endpoint grant_type=refresh_token, following rotation         |
//!
//! Single endpoints run on `--connections` keep-alive connections, flows on `--workers`
//! browsers. Workers sign in by walking whatever the provider shows: redirects only (an
//! auto-login), or HTML forms (username, password, and a passcode computed from a TOTP secret:
//! one user per worker). One ID token per run is verified (signature against JWKS, iss, aud,
//! nonce, exp). The report gives ops/s, p50, p90, p99, max and errors by kind, as text or JSON;
//! the exit status is 1 when any mode had an error or completed nothing.

mod ctx;
mod flow;
mod hist;
mod html;
mod http;
mod idtoken;
mod single;
mod stats;
mod totp;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;
use url::Url;

use crate::ctx::{ClientAuth, Ctx};
use crate::flow::{FlowMode, Worker};
use crate::http::{Agent, Backend, Request, Target};
use crate::stats::ModeReport;

/// The modes, in the order they run when several are given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
enum Mode {
    Discovery,
    Jwks,
    TokenCc,
    Introspect,
    Code,
    CodeFull,
    Refresh,
    /// discovery, jwks, token-cc, introspect, code, refresh.
    All,
}

/// Load generator for OpenID Connect providers (any provider: endpoints come from discovery).
#[derive(Debug, Parser)]
#[command(name = "oidc-bench", version, about, after_help = AFTER_HELP)]
struct Cli {
    /// What to measure; modes run in the order listed below, whatever the order given
    /// (default: all = discovery jwks token-cc introspect code refresh).
    #[arg(value_enum)]
    modes: Vec<Mode>,
    /// The issuer; discovery is at ISSUER/.well-known/openid-configuration.
    #[arg(long, env = "OIDC_BENCH_ISSUER")]
    issuer: String,
    /// The client's id.
    #[arg(long, env = "OIDC_BENCH_CLIENT_ID", default_value = "")]
    client_id: String,
    /// The client's secret.
    #[arg(
        long,
        env = "OIDC_BENCH_CLIENT_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    client_secret: String,
    /// How the client authenticates at the token and introspection endpoints.
    #[arg(long, value_enum, default_value = "basic")]
    client_auth: ClientAuth,
    /// How long each mode runs: 10s, 500ms, 1m (at most 10 minutes).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Keep-alive connections for the single-endpoint modes.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Browsers for the flow modes (default 8; 1 with --user; the number of users with a
    /// smaller --users file).
    #[arg(long)]
    workers: Option<usize>,
    /// Runtime threads of the load generator (1 is like `wrk -t1`: on a small machine the
    /// server keeps the other cores).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// The HTTP client.
    #[arg(long = "http", value_enum, default_value = "hyper")]
    backend: Backend,
    /// Per-request timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// The redirect URI registered for the client (nothing needs to listen there).
    #[arg(long, default_value = "http://127.0.0.1:9999/cb")]
    redirect_uri: String,
    /// The scope of the code flows.
    #[arg(long, default_value = "openid email profile")]
    scope: String,
    /// The scope of the flow that gets each refresh-mode worker its refresh token.
    #[arg(long, default_value = "openid offline_access")]
    refresh_scope: String,
    /// An extra parameter for every authorization request, k=v; repeat for several.
    #[arg(long = "extra-authorize-param", value_parser = parse_kv)]
    extra_params: Vec<(String, String)>,
    /// An extra parameter for the refresh mode's authorization request only, k=v (the
    /// reference node-oidc-provider needs prompt=consent to issue refresh tokens).
    #[arg(long = "refresh-authorize-param", value_parser = parse_kv)]
    refresh_params: Vec<(String, String)>,
    /// The scope to ask for with client_credentials (none by default).
    #[arg(long)]
    cc_scope: Option<String>,
    /// The token to introspect (default: one client_credentials access token obtained first).
    #[arg(long)]
    introspect_token: Option<String>,
    /// Send no PKCE code_challenge / code_verifier.
    #[arg(long)]
    no_pkce: bool,
    /// Redirects an authorization request of a timed flow may take before the redirect URI.
    #[arg(long, default_value_t = 10)]
    max_hops: u32,
    /// The users the flow workers sign in as: one `username,password,base32secret` a line
    /// (the secret may be empty when the provider asks no passcode); one user per worker.
    #[arg(long, conflicts_with_all = ["user", "password", "totp_secret"])]
    users: Option<std::path::PathBuf>,
    /// One user (for --workers 1).
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// That user's password.
    #[arg(long, env = "OIDC_BENCH_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// That user's TOTP secret in base32 (RFC 6238, SHA-1, 6 digits, 30 s).
    #[arg(long, env = "OIDC_BENCH_TOTP_SECRET", hide_env_values = true)]
    totp_secret: Option<String>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

const AFTER_HELP: &str = "\
Examples:
  # the reference provider (auto-login, no forms):
  oidc-bench --issuer http://127.0.0.1:3000 --client-id bench-client --client-secret bench-secret \\
      --refresh-authorize-param prompt=consent
  # AHS IAM, with one user and TOTP secret per worker:
  oidc-bench --issuer http://127.0.0.1:8080 --client-id ID --client-secret SECRET \\
      --users bench-users.csv --workers 8 code refresh";

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (10s, 500ms, 1m)"))?;
    let secs = v * mult;
    if !(0.0..=600.0).contains(&secs) || secs == 0.0 {
        return Err(format!("{s:?}: between 1ms and 10m"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("{s:?}: expected k=v"))
}

/// The ID token check, for the report.
#[derive(Debug, Default, Serialize)]
struct IdTokenReport {
    checked: bool,
    verified: bool,
    alg: Option<String>,
    kid: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct Report {
    tool: &'static str,
    version: &'static str,
    issuer: String,
    unix_time: u64,
    http: Backend,
    threads: usize,
    duration_s: f64,
    connections: usize,
    workers: usize,
    client_auth: ClientAuth,
    notes: Vec<String>,
    id_token: IdTokenReport,
    results: Vec<ModeReport>,
    passed: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    };
    let rt = match rt {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oidc-bench: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("oidc-bench: {e}");
            ExitCode::from(2)
        }
    }
}

/// The users for the flow workers, and how many workers.
fn users_and_workers(cli: &Cli) -> Result<(Vec<totp::User>, usize, Option<String>), String> {
    let users = if let Some(path) = &cli.users {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("--users {}: {e}", path.display()))?;
        let users =
            totp::parse_users(&text).map_err(|e| format!("--users {}: {e}", path.display()))?;
        if users.is_empty() {
            return Err(format!("--users {}: no users", path.display()));
        }
        users
    } else if let Some(u) = &cli.user {
        let secret = match &cli.totp_secret {
            Some(s) => totp::decode_base32(s).map_err(|e| format!("--totp-secret: {e}"))?,
            None => Vec::new(),
        };
        vec![totp::User {
            username: u.clone(),
            password: cli.password.clone().unwrap_or_default(),
            secret,
            last_step: None,
        }]
    } else {
        Vec::new()
    };
    let mut note = None;
    let workers = match cli.workers {
        Some(0) => return Err("--workers must be at least 1".into()),
        Some(w) => {
            if !users.is_empty() && users.len() < w {
                return Err(format!(
                    "{w} workers need {w} users (a tokencode works once per time step, so \
                     workers cannot share one); {} given",
                    users.len()
                ));
            }
            w
        }
        None if users.is_empty() => 8,
        None => {
            let w = users.len().min(8);
            if w < 8 {
                note = Some(format!("{w} worker(s): one per user given"));
            }
            w
        }
    };
    Ok((users, workers, note))
}

async fn run(cli: Cli) -> Result<bool, String> {
    let mut modes: Vec<Mode> = if cli.modes.is_empty() || cli.modes.contains(&Mode::All) {
        let mut m = vec![
            Mode::Discovery,
            Mode::Jwks,
            Mode::TokenCc,
            Mode::Introspect,
            Mode::Code,
            Mode::Refresh,
        ];
        m.extend(cli.modes.iter().filter(|m| **m != Mode::All));
        m
    } else {
        cli.modes.clone()
    };
    modes.sort();
    modes.dedup();
    if cli.connections == 0 {
        return Err("--connections must be at least 1".into());
    }
    let (mut users, workers_n, workers_note) = users_and_workers(&cli)?;
    let redirect_url = Url::parse(&cli.redirect_uri).map_err(|e| format!("--redirect-uri: {e}"))?;
    let needs_client = modes
        .iter()
        .any(|m| !matches!(m, Mode::Discovery | Mode::Jwks));
    if needs_client && cli.client_id.is_empty() {
        return Err("--client-id is needed for every mode but discovery and jwks".into());
    }

    let (ep, mut notes) = ctx::discover(&cli.issuer, cli.backend, cli.timeout).await?;
    notes.extend(workers_note);
    let remembered = totp::load_steps(&ep.issuer);
    for u in &mut users {
        u.last_step = remembered.get(&u.username).copied();
    }
    let ctx = Arc::new(Ctx {
        ep,
        basic: http::basic_auth(&cli.client_id, &cli.client_secret),
        client_id: cli.client_id.clone(),
        client_secret: cli.client_secret.clone(),
        client_auth: cli.client_auth,
        backend: cli.backend,
        timeout: cli.timeout,
        duration: cli.duration,
        redirect_uri: cli.redirect_uri.clone(),
        redirect_url,
        scope: cli.scope.clone(),
        refresh_scope: cli.refresh_scope.clone(),
        extra_params: cli.extra_params.clone(),
        refresh_params: cli.refresh_params.clone(),
        pkce: !cli.no_pkce,
        max_hops: cli.max_hops,
        cc_scope: cli.cc_scope.clone(),
    });

    let mut results = Vec::new();
    let mut workers: Vec<Worker> = Vec::new();
    for mode in &modes {
        let single = match mode {
            Mode::Discovery => Some("discovery"),
            Mode::Jwks => Some("jwks"),
            Mode::TokenCc => Some("token-cc"),
            Mode::Introspect => Some("introspect"),
            _ => None,
        };
        let report = if let Some(name) = single {
            eprintln!(
                "oidc-bench: {name}: {} connections, {:?}",
                cli.connections, cli.duration
            );
            single::run(
                ctx.clone(),
                name,
                cli.connections,
                cli.introspect_token.clone(),
            )
            .await
        } else {
            let fm = match mode {
                Mode::CodeFull => FlowMode::CodeFull,
                Mode::Refresh => FlowMode::Refresh,
                _ => FlowMode::Code,
            };
            eprintln!(
                "oidc-bench: {}: {workers_n} workers, {:?} (sign-in first)",
                fm.name(),
                cli.duration
            );
            if workers.is_empty() {
                for i in 0..workers_n {
                    workers.push(Worker::new(
                        i,
                        Agent::new(cli.backend, cli.timeout)?,
                        users.get(i).cloned(),
                    ));
                }
            }
            let (report, back) = flow::run(ctx.clone(), fm, std::mem::take(&mut workers)).await;
            workers = back;
            report
        };
        eprintln!(
            "oidc-bench: {}: {} ok, {:.1} {}, {} errors",
            report.mode, report.ok, report.rate, report.unit, report.errors_total
        );
        results.push(report);
    }

    let used: Vec<(String, u64)> = workers
        .iter()
        .filter_map(|w| w.user())
        .filter_map(|u| u.last_step.map(|s| (u.username.clone(), s)))
        .collect();
    if let Err(e) = totp::save_steps(&ctx.ep.issuer, &used) {
        eprintln!("oidc-bench: could not remember the TOTP steps used: {e}");
    }
    let id_token = check_id_token(&ctx, &workers).await;
    let flows_ran = modes
        .iter()
        .any(|m| matches!(m, Mode::Code | Mode::CodeFull | Mode::Refresh));
    let passed = results.iter().all(ModeReport::passed) && (!flows_ran || id_token.verified);
    let report = Report {
        tool: "oidc-bench",
        version: env!("CARGO_PKG_VERSION"),
        issuer: ctx.ep.issuer.clone(),
        unix_time: totp::unix_now(),
        http: cli.backend,
        threads: cli.threads.max(1),
        duration_s: cli.duration.as_secs_f64(),
        connections: cli.connections,
        workers: workers_n,
        client_auth: cli.client_auth,
        notes,
        id_token,
        results,
        passed,
    };
    if cli.json {
        let s = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        println!("{s}");
    } else {
        println!("{}", text(&report));
    }
    Ok(passed)
}

/// Verifies the first ID token a worker received, against the JWKS fetched now.
async fn check_id_token(ctx: &Ctx, workers: &[Worker]) -> IdTokenReport {
    let Some(sample) = workers.iter().find_map(|w| w.sample.clone()) else {
        return IdTokenReport::default();
    };
    let mut r = IdTokenReport {
        checked: true,
        ..Default::default()
    };
    let jwks = async {
        let url = ctx.endpoint("jwks_uri")?;
        let target = Target::new(url)?;
        let mut agent = Agent::new(ctx.backend, ctx.timeout)?;
        let res = agent
            .send(Request {
                post: false,
                target: &target,
                headers: &[("accept", "application/json")],
                body: None,
            })
            .await
            .map_err(|e| format!("jwks: {}: {}", e.kind, e.detail))?;
        if res.status != 200 {
            return Err(format!("jwks: HTTP {}", res.status));
        }
        Ok(res.body)
    }
    .await;
    let verified = jwks.and_then(|jwks| {
        idtoken::verify(
            &sample.id_token,
            &jwks,
            &ctx.ep.issuer,
            &ctx.client_id,
            &sample.nonce,
            totp::unix_now(),
        )
    });
    match verified {
        Ok(v) => {
            r.verified = true;
            r.alg = Some(v.alg);
            r.kid = v.kid;
        }
        Err(e) => r.error = Some(e),
    }
    r
}

fn text(r: &Report) -> String {
    let mut out = format!(
        "oidc-bench {} against {}: {} client, {} thread(s), HTTP/1.1 keep-alive, {:.1} s per mode\n",
        r.version,
        r.issuer,
        match r.http {
            Backend::Hyper => "hyper",
            Backend::Reqwest => "reqwest",
        },
        r.threads,
        r.duration_s
    );
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(&stats::text_table(&r.results));
    let t = &r.id_token;
    if t.verified {
        out.push_str(&format!(
            "id_token: {} (kid {}) verified against jwks_uri: signature, iss, aud, nonce, exp\n",
            t.alg.as_deref().unwrap_or("?"),
            t.kid.as_deref().unwrap_or("none")
        ));
    } else if t.checked {
        out.push_str(&format!(
            "id_token: FAILED: {}\n",
            t.error.as_deref().unwrap_or("?")
        ));
    } else {
        out.push_str("id_token: not checked (no flow mode ran, or no flow succeeded)\n");
    }
    out.push_str(if r.passed {
        "result: passed (no errors)"
    } else {
        "result: FAILED (errors, or a mode completed nothing)"
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_params() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("11m").is_err());
        assert!(parse_duration("ten").is_err());
        assert_eq!(
            parse_kv("prompt=consent").unwrap(),
            ("prompt".into(), "consent".into())
        );
        assert_eq!(parse_kv("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(parse_kv("=x").is_err());
        assert!(parse_kv("x").is_err());
    }

    #[test]
    fn cli_parses() {
        let cli = Cli::try_parse_from([
            "oidc-bench",
            "--issuer",
            "http://x",
            "--client-id",
            "c",
            "--extra-authorize-param",
            "prompt=consent",
            "--duration",
            "1s",
            "code",
            "jwks",
        ])
        .unwrap();
        assert_eq!(cli.modes, [Mode::Code, Mode::Jwks]);
        assert_eq!(cli.extra_params, [("prompt".into(), "consent".into())]);
        let (users, w, _) = users_and_workers(&cli).unwrap();
        assert!(users.is_empty());
        assert_eq!(w, 8);
        let cli = Cli::try_parse_from([
            "oidc-bench",
            "--issuer",
            "http://x",
            "--user",
            "u",
            "--password",
            "p",
            "--totp-secret",
            "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
        ])
        .unwrap();
        let (users, w, _) = users_and_workers(&cli).unwrap();
        assert_eq!((users.len(), w), (1, 1));
    }
}
