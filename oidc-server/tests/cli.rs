//! The README's path, through the real binary: a demo database, a client and a user registered with
//! the CLI (`--json`), a soft token created and activated on the activation pages, then
//! `oidc-server serve` and a sign-in with password and passcode through the openidconnect crate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::Write;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_oidc-server");

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn command(dir: &std::path::Path, port: u16) -> Command {
    let mut c = Command::new(BIN);
    c.env("IAM_DATA_DIR", dir)
        .env("IAM_BIND", format!("127.0.0.1:{port}"))
        .env_remove("IAM_DATABASE_URL")
        .env_remove("IAM_ISSUER")
        .env_remove("IAM_CONFIG");
    c
}

fn cli(dir: &std::path::Path, port: u16, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = command(dir, port)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn json_of(out: &Output, what: &str) -> Value {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    page.split(&marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

fn code_at(secret_b32: &str, offset: i64) -> String {
    let secret = data_encoding::BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .unwrap();
    #[allow(clippy::disallowed_methods)] // the test compares with the server's wall clock
    let now = chrono::Utc::now().timestamp();
    totp_at_step(&secret, time_step(now, 30) + offset, 6, OtpAlgorithm::Sha1).unwrap()
}

#[tokio::test]
async fn readme_path_demo_database_soft_token_then_password_and_passcode_sign_in() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let redirect = "http://127.0.0.1:9000/callback";

    // A real database never prints tokencodes...
    let out = cli(
        dir.path(),
        port,
        &["token", "code", "--break-glass", "--serial", "SOFT-1"],
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a demo database"));
    // ...a new one can be made a demo database.
    let migrated = json_of(
        &cli(dir.path(), port, &["migrate", "--demo", "--json"], None),
        "migrate",
    );
    assert_eq!(migrated["demo"], true);

    let client = json_of(
        &cli(
            dir.path(),
            port,
            &[
                "client",
                "add",
                "--break-glass",
                "--name",
                "CLI app",
                "--redirect-uri",
                redirect,
                "--first-party",
                "--json",
            ],
            None,
        ),
        "client add",
    );
    let client_id = client["client_id"].as_str().unwrap().to_string();
    let client_secret = client["client_secret"].as_str().unwrap().to_string();
    assert_eq!(client["redirect_uris"], serde_json::json!([redirect]));
    assert_eq!(
        client["mfa_required"], true,
        "clients need the second factor by default"
    );

    let user = json_of(
        &cli(
            dir.path(),
            port,
            &[
                "user",
                "add",
                "--break-glass",
                "--username",
                "NAkitt",
                "--email",
                "nancy@example.org",
                "--name",
                "Nancy Akitt",
                "--role",
                "cpar_panel_admin",
                "--password-stdin",
                "--json",
            ],
            Some("correct horse battery staple\n"),
        ),
        "user add",
    );
    assert_eq!(user["username"], "nakitt");
    let subject = user["subject"].as_str().unwrap().to_string();

    // An IAM administrator, who then acts by name.
    let admin = cli(
        dir.path(),
        port,
        &[
            "user",
            "add",
            "--break-glass",
            "--username",
            "iam.admin1",
            "--email",
            "admin1@example.org",
            "--role",
            "iam_admin",
        ],
        None,
    );
    assert!(
        admin.status.success(),
        "{}",
        String::from_utf8_lossy(&admin.stderr)
    );
    // An account without the iam_admin role cannot make IAM changes.
    let out = cli(
        dir.path(),
        port,
        &[
            "client",
            "add",
            "--as",
            "nakitt",
            "--name",
            "X",
            "--redirect-uri",
            redirect,
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("iam_admin"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A duplicate username is refused with a clear message and a failing exit code.
    let out = cli(
        dir.path(),
        port,
        &[
            "user",
            "add",
            "--as",
            "iam.admin1",
            "--username",
            "nakitt",
            "--email",
            "n@example.org",
        ],
        None,
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("taken"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No change without an actor; an unknown --as is refused.
    for args in [
        &["client", "add", "--name", "X", "--redirect-uri", redirect][..],
        &[
            "client",
            "add",
            "--as",
            "nobody",
            "--name",
            "X",
            "--redirect-uri",
            redirect,
        ][..],
    ] {
        let out = cli(dir.path(), port, args, None);
        assert!(!out.status.success(), "{args:?} must be refused");
    }

    let list = json_of(
        &cli(dir.path(), port, &["client", "list", "--json"], None),
        "client list",
    );
    // The registered client, and the provider's own admin console.
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["client_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{list}");
    assert!(ids.contains(&oidc_core::ADMIN_CONSOLE_ID));
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("client_secret").is_none()),
        "list must never show secrets"
    );

    let soft = json_of(
        &cli(
            dir.path(),
            port,
            &[
                "token",
                "add-soft",
                "--as",
                "iam.admin1",
                "--username",
                "nakitt",
                "--json",
            ],
            None,
        ),
        "add-soft",
    );
    let serial = soft["serial"].as_str().unwrap().to_string();
    let activation_code = soft["activation_code"].as_str().unwrap().to_string();
    let secret_b32 = soft["secret_base32"].as_str().unwrap().to_string();
    assert!(
        soft["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let audit = json_of(
        &cli(dir.path(), port, &["audit", "list", "--json"], None),
        "audit list",
    );
    let seen: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_string(),
                e["event"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        seen.contains(&("break-glass".into(), "admin.client.add".into())),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("user:iam.admin1".into(), "admin.token.add_soft".into())),
        "{seen:?}"
    );
    let verified = json_of(
        &cli(dir.path(), port, &["audit", "verify", "--json"], None),
        "audit verify",
    );
    assert_eq!(verified["first_broken"], Value::Null);

    let tokens = json_of(
        &cli(dir.path(), port, &["token", "list", "--json"], None),
        "token list",
    );
    assert_eq!(tokens[0]["state"], "assigned");
    assert!(tokens[0].get("secret_base32").is_none());

    let _server = Server(
        command(dir.path(), port)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::ClientBuilder::new()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap();
    let mut metadata = None;
    for _ in 0..100 {
        if let Ok(m) =
            CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone()).unwrap(), &http)
                .await
        {
            metadata = Some(m);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let metadata = metadata.expect("the server did not come up");

    // Activation: username + activation code, then the first code (printed by `token code`).
    let page = http
        .get(format!("{issuer}/activate-token"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = field(&page, "csrf");
    let page = http
        .post(format!("{issuer}/activate-token"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "nakitt"),
            ("activation_code", activation_code.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<svg"), "no QR code:\n{page}");
    let first = json_of(
        &cli(
            dir.path(),
            port,
            &[
                "token",
                "code",
                "--break-glass",
                "--serial",
                &serial,
                "--json",
            ],
            None,
        ),
        "token code",
    );
    let page = http
        .post(format!("{issuer}/activate-token/confirm"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "nakitt"),
            ("activation_code", activation_code.as_str()),
            ("code", first["tokencode"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Your token is active"), "{page}");

    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id),
        Some(ClientSecret::new(client_secret)),
    )
    .set_redirect_uri(RedirectUrl::new(redirect.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    let res = http.get(url).send().await.unwrap();
    assert_eq!(res.status(), 303);
    let signin = format!("{issuer}{}", res.headers()["location"].to_str().unwrap());
    let page = http
        .get(&signin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with your AHS account"));
    let res = http
        .post(&signin)
        .form(&[
            ("csrf", field(&page, "csrf").as_str()),
            ("username", "nakitt"),
            ("password", "correct horse battery staple"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let page = http
        .get(&signin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Enter your RSA SecurID passcode."), "{page}");
    assert!(page.contains("n*****y@e*****"), "masked address:\n{page}");
    // The activation spent the current step's code; a person would wait for the next one, the
    // test takes the next step's code at once (the window accepts one step ahead).
    let res = http
        .post(&signin)
        .form(&[
            ("csrf", field(&page, "csrf").as_str()),
            ("passcode", code_at(&secret_b32, 1).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let q: HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], *state.secret());
    assert_eq!(q["iss"], issuer);

    let tokens = client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), subject);
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(amr, ["pwd", "otp", "mfa"]);
    assert_eq!(
        claims.auth_context_ref().unwrap().as_str(),
        "urn:oidc-core:acr:password+otp"
    );
}

/// `oidc-server client list|show|update|rotate-secret|delete|initial-token`: thin shells over the
/// library's client calls, each change in the audit log as `admin.client.*` plus the library's
/// `client.*` event; the initial access token registers a client at `POST /register` (RFC 7591).
#[tokio::test]
async fn client_commands_list_show_update_rotate_delete_and_initial_token() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let run = |args: &[&str]| cli(dir.path(), port, args, None);
    let added = json_of(
        &run(&[
            "client",
            "add",
            "--break-glass",
            "--name",
            "Reports",
            "--redirect-uri",
            "https://reports.example.org/cb",
            "--json",
        ]),
        "client add",
    );
    let id = added["client_id"].as_str().unwrap().to_string();
    let first_secret = added["client_secret"].as_str().unwrap().to_string();

    let list = json_of(&run(&["client", "list", "--json"]), "client list");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == id)
    );
    let shown = json_of(
        &run(&["client", "show", "--client-id", &id, "--json"]),
        "client show",
    );
    assert_eq!(shown["name"], "Reports");
    assert_eq!(shown["token_endpoint_auth_method"], "client_secret_basic");
    assert!(shown.get("client_secret").is_none());

    // A change needs an actor.
    let out = run(&["client", "update", "--client-id", &id, "--name", "x"]);
    assert!(!out.status.success());
    let updated = json_of(
        &run(&[
            "client",
            "update",
            "--break-glass",
            "--client-id",
            &id,
            "--name",
            "Reports v2",
            "--redirect-uri",
            "https://reports.example.org/v2/cb",
            "--mfa-required",
            "false",
            "--json",
        ]),
        "client update",
    );
    assert_eq!(updated["name"], "Reports v2");
    assert_eq!(updated["mfa_required"], false);
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!(["https://reports.example.org/v2/cb"])
    );
    let refused = run(&[
        "client",
        "update",
        "--break-glass",
        "--client-id",
        &id,
        "--redirect-uri",
        "https://reports.example.org/cb#fragment",
    ]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("fragment"));

    let rotated = json_of(
        &run(&[
            "client",
            "rotate-secret",
            "--break-glass",
            "--client-id",
            &id,
            "--json",
        ]),
        "client rotate-secret",
    );
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, first_secret);

    let token = json_of(
        &run(&[
            "client",
            "initial-token",
            "--break-glass",
            "--ttl-hours",
            "1",
            "--json",
        ]),
        "client initial-token",
    );
    assert_eq!(token["single_use"], true);
    let initial = token["initial_access_token"].as_str().unwrap().to_string();

    let deleted = json_of(
        &run(&[
            "client",
            "delete",
            "--break-glass",
            "--client-id",
            &id,
            "--json",
        ]),
        "client delete",
    );
    assert_eq!(deleted["deleted"], true);
    let out = run(&["client", "show", "--client-id", &id]);
    assert!(!out.status.success());

    let events = json_of(&run(&["audit", "list", "--json"]), "audit list");
    let names: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for name in [
        "client.updated",
        "admin.client.update",
        "client.secret_rotated",
        "admin.client.rotate_secret",
        "client.initial_token_created",
        "admin.client.initial_token",
        "client.deleted",
        "admin.client.delete",
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }

    // The initial access token works at the running server's registration endpoint, once.
    let server = Server(
        command(dir.path(), port)
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/register");
    let mut ready = false;
    for _ in 0..100 {
        if http
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the server did not start");
    let body = serde_json::json!({ "redirect_uris": ["https://partner.example.org/cb"] });
    let res = http
        .post(&url)
        .bearer_auth(&initial)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let res = http
        .post(&url)
        .bearer_auth(&initial)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::UNAUTHORIZED);
    drop(server);
}
