//! The RADIUS second factor against a real FreeRADIUS 3 server (see `support/freeradius.rs`):
//! accept, reject, challenge, failover, timeouts, a wrong shared secret, and a server that does not
//! sign its replies. FreeRADIUS must be installed (`/usr/sbin/freeradius`); without it every test
//! fails with a message that says so.

#[path = "support/freeradius.rs"]
mod freeradius;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use freeradius::*;
use oidc_core::Error;
use oidc_core::mfa::radius::{RadiusConfig, RadiusFactor};
use oidc_core::mfa::{FactorAccount, InputKind, SecondFactor, Verification};

const SECRET: &str = "e2e shared secret";

fn account(username: &str) -> FactorAccount {
    FactorAccount {
        user_id: format!("id-{username}"),
        username: username.to_string(),
        email: format!("{username}@example.org"),
    }
}

fn factor_for(servers: &[(SocketAddr, &str)], timeout: Duration, retries: u32) -> RadiusFactor {
    let mut config = RadiusConfig::new("e2e-tests")
        .timeout(timeout)
        .retries(retries);
    for (addr, secret) in servers {
        config = config.server(*addr, *secret);
    }
    RadiusFactor::new(config).expect("valid RADIUS configuration")
}

/// One live server with the default timeout and retries.
fn single(server: &FreeRadius) -> RadiusFactor {
    RadiusFactor::new(RadiusConfig::new("e2e-tests").server(server.addr, SECRET))
        .expect("valid RADIUS configuration")
}

async fn verify(
    factor: &RadiusFactor,
    user: &str,
    passcode: &str,
    challenge: Option<&str>,
) -> Result<Verification, Error> {
    factor.verify(&account(user), passcode, challenge).await
}

#[tokio::test]
async fn alice_with_the_right_passcode_is_accepted_with_amr_otp() {
    let server = FreeRadius::start(SECRET);
    let factor = single(&server);
    assert_eq!(factor.kind(), "radius");
    let prompt = factor.prompt(&account("alice"));
    assert_eq!(prompt.label, "Passcode");
    assert_eq!(prompt.hint, "Enter your RSA SecurID passcode.");
    assert_eq!(prompt.input, InputKind::Numeric { max_len: 16 });

    let outcome = verify(&factor, "alice", ALICE_PASSCODE, None).await;
    assert_eq!(
        outcome.unwrap(),
        Verification::accepted(["otp"]),
        "log:\n{}",
        server.log()
    );
    // The request really was PAP with a Message-Authenticator, and the NAS named itself.
    let log = server.log();
    assert!(log.contains("User-Password = \"123456\""), "{log}");
    assert!(log.contains("NAS-Identifier = \"e2e-tests\""), "{log}");
    assert!(log.contains("Message-Authenticator = 0x"), "{log}");
}

#[tokio::test]
async fn alice_with_a_wrong_passcode_is_rejected() {
    let server = FreeRadius::start(SECRET);
    let factor = single(&server);
    assert_eq!(
        verify(&factor, "alice", "654321", None).await.unwrap(),
        Verification::Rejected,
        "log:\n{}",
        server.log()
    );
    assert_eq!(
        verify(&factor, "alice", "", None).await.unwrap(),
        Verification::Rejected
    );
    // A passcode that differs only past the first 16-byte block.
    let long = format!("{ALICE_PASSCODE}{}", "0".repeat(20));
    assert_eq!(
        verify(&factor, "alice", &long, None).await.unwrap(),
        Verification::Rejected
    );
}

#[tokio::test]
async fn bob_is_rejected() {
    let server = FreeRadius::start(SECRET);
    let factor = single(&server);
    assert_eq!(
        verify(&factor, "bob", ALICE_PASSCODE, None).await.unwrap(),
        Verification::Rejected,
        "log:\n{}",
        server.log()
    );
    assert_eq!(
        verify(&factor, "nobody", "1", None).await.unwrap(),
        Verification::Rejected
    );
}

#[tokio::test]
async fn carol_is_challenged_then_accepted_with_the_state() {
    let server = FreeRadius::start(SECRET);
    let factor = single(&server);
    let first = verify(&factor, "carol", "111111", None).await.unwrap();
    let Verification::Challenge { prompt, state } = first else {
        panic!(
            "expected a challenge, got {first:?}; log:\n{}",
            server.log()
        )
    };
    assert_eq!(prompt.hint, CAROL_HINT);
    assert_eq!(prompt.label, "Passcode");
    let state_hex: String = CAROL_STATE.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(state, format!("0:{state_hex}"));

    let second = verify(&factor, "carol", CAROL_NEXT_TOKENCODE, Some(&state))
        .await
        .unwrap();
    assert_eq!(
        second,
        Verification::accepted(["otp"]),
        "log:\n{}",
        server.log()
    );
    assert!(server.log().contains(&format!("State = 0x{state_hex}")));
}

#[tokio::test]
async fn carol_with_the_state_and_a_wrong_tokencode_is_rejected() {
    let server = FreeRadius::start(SECRET);
    let factor = single(&server);
    let Verification::Challenge { state, .. } =
        verify(&factor, "carol", "111111", None).await.unwrap()
    else {
        panic!("expected a challenge; log:\n{}", server.log())
    };
    assert_eq!(
        verify(&factor, "carol", "000000", Some(&state))
            .await
            .unwrap(),
        Verification::Rejected
    );
    // A State the server never issued.
    assert_eq!(
        verify(&factor, "carol", CAROL_NEXT_TOKENCODE, Some("0:0badc0de"))
            .await
            .unwrap(),
        Verification::Rejected
    );
}

#[tokio::test]
async fn a_dead_primary_fails_over_to_the_live_secondary() {
    let server = FreeRadius::start(SECRET);
    let dead = closed_udp_addr();
    let factor = factor_for(
        &[(dead, SECRET), (server.addr, SECRET)],
        Duration::from_secs(2),
        2,
    );
    let started = Instant::now();
    assert_eq!(
        verify(&factor, "alice", ALICE_PASSCODE, None)
            .await
            .unwrap(),
        Verification::accepted(["otp"]),
        "log:\n{}",
        server.log()
    );
    // The closed port answers with ICMP port unreachable: no need to wait out the timeouts.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        verify(&factor, "bob", ALICE_PASSCODE, None).await.unwrap(),
        Verification::Rejected
    );
}

#[tokio::test]
async fn a_silent_primary_times_out_then_fails_over() {
    let server = FreeRadius::start(SECRET);
    let (_hung, silent) = silent_udp_server();
    let timeout = Duration::from_millis(300);
    let factor = factor_for(&[(silent, SECRET), (server.addr, SECRET)], timeout, 1);
    let started = Instant::now();
    assert_eq!(
        verify(&factor, "alice", ALICE_PASSCODE, None)
            .await
            .unwrap(),
        Verification::accepted(["otp"]),
        "log:\n{}",
        server.log()
    );
    let elapsed = started.elapsed();
    // Two tries of 300 ms on the primary, then the secondary.
    assert!(elapsed >= timeout * 2, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[tokio::test]
async fn a_challenge_is_answered_by_the_server_that_issued_it() {
    let server = FreeRadius::start(SECRET);
    let (_hung, silent) = silent_udp_server();
    let timeout = Duration::from_millis(1500);
    let factor = factor_for(&[(silent, SECRET), (server.addr, SECRET)], timeout, 0);
    let Verification::Challenge { state, .. } =
        verify(&factor, "carol", "111111", None).await.unwrap()
    else {
        panic!("expected a challenge; log:\n{}", server.log())
    };
    assert!(state.starts_with("1:"), "{state}");
    let started = Instant::now();
    assert_eq!(
        verify(&factor, "carol", CAROL_NEXT_TOKENCODE, Some(&state))
            .await
            .unwrap(),
        Verification::accepted(["otp"])
    );
    // Straight to the secondary: no wait on the silent primary.
    assert!(started.elapsed() < timeout, "{:?}", started.elapsed());
}

#[tokio::test]
async fn all_servers_dead_is_an_error_within_the_expected_time() {
    let (_hung1, silent1) = silent_udp_server();
    let (_hung2, silent2) = silent_udp_server();
    let timeout = Duration::from_millis(250);
    let factor = factor_for(&[(silent1, SECRET), (silent2, SECRET)], timeout, 1);
    let started = Instant::now();
    let outcome = verify(&factor, "alice", ALICE_PASSCODE, None).await;
    let elapsed = started.elapsed();
    let Err(Error::Internal(message)) = outcome else {
        panic!("expected Error::Internal, got {outcome:?}")
    };
    // 2 servers x 2 tries x 250 ms.
    assert!(elapsed >= timeout * 4, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(message.contains(&silent1.to_string()), "{message}");
    assert!(message.contains(&silent2.to_string()), "{message}");
    assert!(
        message.contains("no valid answer after 2 tries"),
        "{message}"
    );

    // Closed ports fail at once (ICMP port unreachable), with the same kind of error.
    let factor = factor_for(
        &[(closed_udp_addr(), SECRET), (closed_udp_addr(), SECRET)],
        timeout * 8,
        2,
    );
    let started = Instant::now();
    let outcome = verify(&factor, "alice", ALICE_PASSCODE, None).await;
    assert!(matches!(outcome, Err(Error::Internal(_))), "{outcome:?}");
    assert!(started.elapsed() < timeout * 8, "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_wrong_shared_secret_is_never_accepted() {
    let server = FreeRadius::start(SECRET);
    let factor = factor_for(
        &[(server.addr, "not the secret")],
        Duration::from_millis(500),
        1,
    );
    let outcome = verify(&factor, "alice", ALICE_PASSCODE, None).await;
    assert!(
        matches!(
            outcome,
            Err(Error::Internal(_)) | Ok(Verification::Rejected)
        ),
        "{outcome:?}; log:\n{}",
        server.log()
    );
    // FreeRADIUS drops the request: our Message-Authenticator does not verify under its secret.
    assert!(
        server.log().contains("Message-Authenticator"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn a_server_that_does_not_sign_its_replies_is_not_trusted() {
    let server = FreeRadius::start_with(Options {
        secret: SECRET.into(),
        sign_replies: false,
    });
    let factor = factor_for(&[(server.addr, SECRET)], Duration::from_millis(300), 0);
    let outcome = verify(&factor, "alice", ALICE_PASSCODE, None).await;
    let Err(Error::Internal(message)) = outcome else {
        panic!("an unsigned Access-Accept must be dropped, got {outcome:?}")
    };
    assert!(message.contains("no Message-Authenticator"), "{message}");
    // The server did answer: it was our client that dropped the answer.
    assert!(
        server.log().contains("Sent Access-Accept"),
        "{}",
        server.log()
    );
}

// ---------------------------------------------------------------------------------------------
// Through the provider: accounts without a token of the provider's own use RADIUS (the fallback
// factor), as an organisation with an RSA Authentication Manager would configure it.

#[path = "e2e/common/mod.rs"]
mod common;

async fn provider_with_radius(radius: &FreeRadius) -> (common::TestServer, String, String) {
    let factor = RadiusFactor::new(
        RadiusConfig::new("e2e-iam")
            .server(radius.addr, SECRET)
            .timeout(Duration::from_millis(800))
            .retries(1),
    )
    .unwrap();
    let server = common::TestServer::start_with(
        |c| c.fallback_factor("radius"),
        vec![std::sync::Arc::new(factor)],
    )
    .await;
    for name in ["alice", "bob", "carol"] {
        server
            .provider
            .create_user(oidc_core::NewUser {
                username: name.into(),
                email: format!("{name}@example.org"),
                name: None,
                roles: vec![],
                password: Some(common::PASSWORD.into()),
            })
            .await
            .unwrap();
    }
    let client = server
        .provider
        .register_client(
            oidc_core::NewClient::new("RADIUS app", [common::REDIRECT_URI]).first_party(true),
        )
        .await
        .unwrap();
    let secret = client.client_secret.unwrap().secret().to_string();
    (server, client.client.client_id, secret)
}

/// Password, then the passcode page; returns the journey URL and the passcode page's body.
async fn password_then_passcode_page(
    http: &reqwest::Client,
    server: &common::TestServer,
    client_id: &str,
    user: &str,
) -> (String, String) {
    let mut params = server.authorize_params();
    for p in params.iter_mut().filter(|(k, _)| k == "client_id") {
        p.1 = client_id.to_string();
    }
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let page = common::open_signin(http, res).await;
    let res = common::submit_password(http, &page, user, common::PASSWORD).await;
    assert_eq!(res.status(), 303);
    let body = http
        .get(page.url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (page.url.to_string(), body)
}

async fn post_passcode(
    http: &reqwest::Client,
    url: &str,
    body: &str,
    passcode: &str,
) -> reqwest::Response {
    http.post(url)
        .form(&[
            ("csrf", common::csrf_of(body).as_str()),
            ("passcode", passcode),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn provider_signs_in_with_password_and_a_radius_passcode() {
    let radius = FreeRadius::start(SECRET);
    let (server, client_id, secret) = provider_with_radius(&radius).await;
    let http = common::browser();
    let (url, body) = password_then_passcode_page(&http, &server, &client_id, "alice").await;
    assert!(body.contains("Enter your RSA SecurID passcode."), "{body}");
    let res = post_passcode(&http, &url, &body, ALICE_PASSCODE).await;
    let params =
        common::assert_code_redirect(&common::see_other_location(&res), &server, Some("st-123"));
    let form = [
        ("grant_type", "authorization_code"),
        ("code", params["code"].as_str()),
        ("redirect_uri", common::REDIRECT_URI),
        ("code_verifier", common::PKCE_VERIFIER),
    ];
    let answer = server
        .token_request(&http, &form, Some((&client_id, &secret)))
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.json);
    let id = common::jwt_part(answer.json["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], oidc_core::mfa::ACR_PASSWORD_OTP);
}

#[tokio::test]
async fn provider_radius_reject_is_the_generic_failure() {
    let radius = FreeRadius::start(SECRET);
    let (server, client_id, _) = provider_with_radius(&radius).await;
    let http = common::browser();
    let (url, body) = password_then_passcode_page(&http, &server, &client_id, "bob").await;
    let res = post_passcode(&http, &url, &body, "111111").await;
    assert_eq!(res.status(), 200);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("The username, password or passcode is incorrect."),
        "{page}"
    );
    assert!(page.contains("Sign in with your AHS account"));
}

#[tokio::test]
async fn provider_radius_challenge_shows_the_next_tokencode_page_then_signs_in() {
    let radius = FreeRadius::start(SECRET);
    let (server, client_id, _) = provider_with_radius(&radius).await;
    let http = common::browser();
    let (url, body) = password_then_passcode_page(&http, &server, &client_id, "carol").await;
    let res = post_passcode(&http, &url, &body, "000000").await;
    assert_eq!(res.status(), 303, "a challenge goes back to the journey");
    let body = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(body.contains("Next tokencode"), "{body}");
    assert!(
        body.contains(CAROL_HINT),
        "the server's Reply-Message is the hint:\n{body}"
    );
    let res = post_passcode(&http, &url, &body, CAROL_NEXT_TOKENCODE).await;
    common::assert_code_redirect(&common::see_other_location(&res), &server, Some("st-123"));
}
