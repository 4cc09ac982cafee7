//! The README's path, through the real binary: register a client and a user with the CLI (`--json`),
//! start `oidc-server serve` on the same settings, and sign in with the openidconnect crate.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};

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

fn cli(
    dir: &std::path::Path,
    port: u16,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env("IAM_DATA_DIR", dir)
        .env("IAM_BIND", format!("127.0.0.1:{port}"))
        .env_remove("IAM_DATABASE_URL")
        .env_remove("IAM_ISSUER")
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

#[tokio::test]
async fn readme_path_cli_registration_then_sign_in_against_the_served_binary() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let redirect = "http://127.0.0.1:9000/callback";

    let out = cli(
        dir.path(),
        port,
        &[
            "client",
            "add",
            "--name",
            "CLI app",
            "--redirect-uri",
            redirect,
            "--first-party",
            "--json",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "client add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let client: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let client_id = client["client_id"].as_str().unwrap().to_string();
    let client_secret = client["client_secret"].as_str().unwrap().to_string();
    assert_eq!(client["redirect_uris"], serde_json::json!([redirect]));

    let out = cli(
        dir.path(),
        port,
        &[
            "user",
            "add",
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
    );
    assert!(
        out.status.success(),
        "user add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let user: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(user["username"], "nakitt");
    let subject = user["subject"].as_str().unwrap().to_string();

    // A duplicate username is refused with a clear message and a failing exit code.
    let out = cli(
        dir.path(),
        port,
        &[
            "user",
            "add",
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

    let out = cli(dir.path(), port, &["client", "list", "--json"], None);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        list[0].get("client_secret").is_none(),
        "list must never show secrets"
    );

    let _server = Server(
        Command::new(BIN)
            .arg("serve")
            .env("IAM_DATA_DIR", dir.path())
            .env("IAM_BIND", format!("127.0.0.1:{port}"))
            .env_remove("IAM_DATABASE_URL")
            .env_remove("IAM_ISSUER")
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
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let res = http
        .post(&signin)
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", "nakitt"),
            ("password", "correct horse battery staple"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let back = url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
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
}
