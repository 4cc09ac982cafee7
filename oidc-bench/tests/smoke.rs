//! Smoke test: AHS IAM in-process (SQLite in a temporary directory, a loopback port), the
//! `oidc-bench` binary pointed at it for about a second per mode. Every mode must complete
//! operations with no error, and the run's ID token must verify.
//!
//! oidc-core is a dev-dependency for this test only: the tool itself is standalone.

// A test's helpers may fail loudly (clippy's allow-*-in-tests covers #[test] functions only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use oidc_core::{NewClient, NewUser, Provider, ProviderConfig};
use serde_json::Value;

const REDIRECT_URI: &str = "http://127.0.0.1:9999/cb";
const PASSWORD: &str = "correct horse battery staple";
const BENCH: &str = env!("CARGO_BIN_EXE_oidc-bench");

struct Iam {
    issuer: String,
    provider: Provider,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Iam {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start() -> Iam {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("iam.db").display());
    let config = ProviderConfig::builder(issuer.clone()).build().unwrap();
    let provider = Provider::builder(config, db)
        .mailer(std::sync::Arc::new(oidc_core::notify::MemoryMailer::new()))
        .build()
        .await
        .unwrap();
    let app = provider
        .router()
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Iam {
        issuer,
        provider,
        task,
        _dir: dir,
    }
}

/// Registers a first-party client with every grant; returns (id, secret).
async fn client(iam: &Iam, mfa: bool) -> (String, String) {
    client_with(iam, mfa, oidc_core::AuthMethod::ClientSecretBasic).await
}

/// A client registered for `method` (the provider accepts only the registered one).
async fn client_with(iam: &Iam, mfa: bool, method: oidc_core::AuthMethod) -> (String, String) {
    let c = iam
        .provider
        .register_client(
            NewClient::new("bench", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(mfa)
                .grant_types(["authorization_code", "refresh_token", "client_credentials"])
                .metadata(oidc_core::ClientMetadata {
                    token_endpoint_auth_method: Some(method),
                    ..Default::default()
                }),
        )
        .await
        .unwrap();
    let secret = c.client_secret.unwrap().secret().to_string();
    (c.client.client_id, secret)
}

fn base32(bytes: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(bytes)
}

/// Creates `n` users `{prefix}{i}`, each with its own hardware TOTP token (SHA-1, 6 digits,
/// 30 s) when `totp`; returns the lines of a users file.
async fn users(iam: &Iam, prefix: &str, n: usize, totp: bool) -> String {
    let mut lines = String::new();
    for i in 0..n {
        let username = format!("{prefix}{i}");
        iam.provider
            .create_user(NewUser {
                username: username.clone(),
                email: format!("{username}@example.org"),
                name: Some(format!("Bench User {i}")),
                roles: vec![],
                password: Some(PASSWORD.into()),
            })
            .await
            .unwrap();
        let mut secret = String::new();
        if totp {
            let seed: Vec<u8> = (0..20u8)
                .map(|b| {
                    b.wrapping_mul(31)
                        .wrapping_add(i as u8 * 7 + prefix.len() as u8)
                })
                .collect();
            let serial = format!(
                "{:012}",
                700_000 + i + 1000 * usize::from(prefix.as_bytes()[5])
            );
            let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
            let report = iam
                .provider
                .import_tokens(format!("{serial},{hex}\n").as_bytes(), None, false)
                .await
                .unwrap();
            assert!(report.errors.is_empty(), "{:?}", report.errors);
            iam.provider
                .assign_token(&username, &serial, None, false)
                .await
                .unwrap();
            secret = base32(&seed);
        }
        lines.push_str(&format!("{username},{PASSWORD},{secret}\n"));
    }
    lines
}

/// Runs the binary; returns (exit code, JSON report or Null, stderr).
async fn bench(args: &[&str]) -> (i32, Value, String) {
    let mut cmd = tokio::process::Command::new(BENCH);
    cmd.args(args).arg("--json").kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(240), cmd.output())
        .await
        .expect("oidc-bench finishes")
        .expect("oidc-bench runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), json, stderr)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// Every mode completed something and nothing failed.
fn assert_clean(report: &Value, modes: &[&str], stderr: &str) {
    let results = report["results"].as_array().unwrap_or_else(|| {
        panic!("no report: {stderr}");
    });
    let got: Vec<&str> = results
        .iter()
        .map(|r| r["mode"].as_str().unwrap())
        .collect();
    assert_eq!(got, modes, "{report:#}");
    for r in results {
        assert!(
            r["ok"].as_u64().unwrap() > 0,
            "{} did nothing: {r:#}",
            r["mode"]
        );
        assert_eq!(r["errors_total"], 0, "{} had errors: {r:#}", r["mode"]);
        assert!(r["rate"].as_f64().unwrap() > 0.0);
        assert!(r["p99_ms"].as_f64().unwrap() >= r["p50_ms"].as_f64().unwrap());
    }
    assert_eq!(report["passed"], true, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mode_against_ahs_iam() {
    let iam = start().await;
    let (id, secret) = client(&iam, true).await;
    let files = tempfile::tempdir().unwrap();
    let hyper_users = write(files.path(), "a.csv", &users(&iam, "bencha", 2, true).await);
    let reqwest_users = write(files.path(), "b.csv", &users(&iam, "benchb", 2, true).await);
    let secret_arg = format!("--client-secret={secret}");
    let common = [
        "--issuer",
        &iam.issuer,
        "--client-id",
        &id,
        // One argument: a random secret may begin with '-', which clap would read as a flag.
        &secret_arg,
        "--duration",
        "1s",
        "--connections",
        "4",
    ];

    // Every mode with the hyper client: two workers sign in through the password and passcode
    // forms (TOTP from the users file), then code flows with the session, then refresh.
    let mut args = common.to_vec();
    args.extend(["--users", &hyper_users, "--workers", "2"]);
    let (code, report, stderr) = bench(&args).await;
    assert_clean(
        &report,
        &[
            "discovery",
            "jwks",
            "token-cc",
            "introspect",
            "code",
            "refresh",
        ],
        &stderr,
    );
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["id_token"]["verified"], true, "{report:#}");
    assert_eq!(report["id_token"]["alg"], "RS256");
    let code_notes = report["results"][4]["notes"][0].as_str().unwrap();
    assert!(
        code_notes.contains("2 form(s) filled"),
        "sign-in is a password form then a passcode form: {code_notes}"
    );

    // The reqwest client, other users (their tokencodes are fresh), client_secret_post with a
    // client registered for it.
    let (post_id, post_secret) =
        client_with(&iam, true, oidc_core::AuthMethod::ClientSecretPost).await;
    let post_secret_arg = format!("--client-secret={post_secret}");
    let mut args = common.to_vec();
    args[3] = &post_id;
    args[4] = &post_secret_arg;
    args.extend([
        "--users",
        &reqwest_users,
        "--workers",
        "2",
        "--http",
        "reqwest",
        "--client-auth",
        "post",
        "jwks",
        "code",
        "refresh",
    ]);
    let (code, report, stderr) = bench(&args).await;
    assert_clean(&report, &["jwks", "code", "refresh"], &stderr);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["id_token"]["verified"], true, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_flows_and_missing_credentials() {
    let iam = start().await;
    // A client that needs the password only: every flow of code-full signs in again.
    let (id, secret) = client(&iam, false).await;
    let files = tempfile::tempdir().unwrap();
    let password_users = write(
        files.path(),
        "p.csv",
        &users(&iam, "benchp", 2, false).await,
    );
    let secret_arg = format!("--client-secret={secret}");
    let common = [
        "--issuer",
        &iam.issuer,
        "--client-id",
        &id,
        // One argument: a random secret may begin with '-', which clap would read as a flag.
        &secret_arg,
        "--duration",
        "1s",
    ];
    let mut args = common.to_vec();
    args.extend(["--users", &password_users, "code-full"]);
    let (code, report, stderr) = bench(&args).await;
    assert_clean(&report, &["code-full"], &stderr);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(report["workers"], 2, "one worker per user given");
    assert_eq!(report["id_token"]["verified"], true, "{report:#}");

    // No users for a provider that shows a sign-in form: a clear error, exit status 1.
    let mut args = common.to_vec();
    args.extend(["--workers", "1", "code"]);
    let (code, report, stderr) = bench(&args).await;
    assert_eq!(code, 1, "{stderr}");
    let errors = &report["results"][0]["errors"];
    assert_eq!(
        errors["setup: sign-in: credentials needed"], 1,
        "{report:#}"
    );
}
