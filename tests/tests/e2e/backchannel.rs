//! OpenID Connect Back-Channel Logout 1.0 end to end: a provider session that ends (RP-initiated
//! logout at another application, an account disabled) sends a logout token to the running
//! `cpar-rp`, which ends its own session, so CPAR's next page asks for a sign-in again; failed
//! deliveries are retried within a bound; a logout token is never accepted where an ID token or
//! an access token is expected; CPAR's receiver refuses what §2.6 says it must.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::*;
use crate::support::cpar::*;
use oidc_core::{Actor, ClientMetadata, ClientUpdate, NewClient};
use reqwest::StatusCode;
use serde_json::{Value, json};

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// A receiver on loopback that records every logout token and answers with the next status of
/// `answers` (200 once they run out); with `forward`, it passes the token on to that URL and
/// answers with its status instead.
struct Receiver {
    url: String,
    tokens: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn receiver(answers: Vec<u16>, forward: Option<String>) -> Receiver {
    let tokens = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(answers));
    let (t, a) = (tokens.clone(), answers.clone());
    let app = axum::Router::new().route(
        "/backchannel-logout",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (t, a, forward) = (t.clone(), a.clone(), forward.clone());
            async move {
                let form: Vec<(String, String)> =
                    url::form_urlencoded::parse(&body).into_owned().collect();
                let token = form
                    .iter()
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                t.lock().unwrap().push(token.clone());
                if let Some(to) = forward {
                    let res = reqwest::Client::new()
                        .post(to)
                        .form(&[("logout_token", token)])
                        .send()
                        .await
                        .unwrap();
                    return axum::http::StatusCode::from_u16(res.status().as_u16()).unwrap();
                }
                let mut a = a.lock().unwrap();
                let status = if a.is_empty() { 200 } else { a.remove(0) };
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/backchannel-logout",
        listener.local_addr().unwrap()
    );
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver { url, tokens, task }
}

/// IAM delivering every 200 ms, so a test waits little.
async fn iam() -> TestServer {
    TestServer::start_with(
        |c| c.backchannel_logout_poll_interval(Duration::from_millis(200)),
        Vec::new(),
    )
    .await
}

/// Registers `uri` as CPAR's back-channel logout URI.
async fn set_backchannel_uri(server: &TestServer, cpar: &Cpar, uri: &str) {
    server
        .provider
        .update_client(
            &Actor::BreakGlass,
            &cpar.client_id,
            ClientUpdate {
                backchannel_logout_uri: Some(uri.to_string()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
}

/// Waits (at most 10 s) until every delivery recorded is finished; returns them.
async fn deliveries_done(server: &TestServer) -> Vec<oidc_core::DeliveryInfo> {
    for _ in 0..100 {
        let all = server
            .provider
            .backchannel_logout_deliveries()
            .await
            .unwrap();
        if !all.is_empty() && all.iter().all(|d| d.outcome.is_some()) {
            return all;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "deliveries not finished: {:?}",
        server.provider.backchannel_logout_deliveries().await
    );
}

/// Signs the browser in to CPAR at `path`.
async fn cpar_signed_in(http: &reqwest::Client, server: &TestServer, cpar: &Cpar) {
    sign_in_to_cpar(http, server, cpar, &server.issuer, "/", USERNAME, false).await;
}

/// CPAR's next page sends the browser to sign in again, with `prompt=login` (its session ended,
/// it did not just lack one).
async fn assert_cpar_session_ended(http: &reqwest::Client, server: &TestServer, cpar: &Cpar) {
    let to = expect_sign_in_redirect(http, cpar, &server.issuer, "/").await;
    assert_eq!(
        query_of(&to).get("prompt").map(String::as_str),
        Some("login"),
        "CPAR's session ended (not merely missing)"
    );
}

/// The seeded client's ID token from the browser's live IAM session (no sign-in page: the
/// session is there).
async fn id_token_of_session(http: &reqwest::Client, server: &TestServer) -> String {
    let res = http
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let code =
        assert_code_redirect(&see_other_location(&res), server, Some("st-123"))["code"].clone();
    let answer = server.redeem(http, &code, PKCE_VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    answer.json["id_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn backchannel_logout_2_5_rp_initiated_logout_elsewhere_ends_the_cpar_session() {
    let server = iam().await;
    let cpar = Cpar::start(&server, CparOptions::new(&server.issuer)).await;
    // Through a recorder, to look at the token CPAR received.
    let recorder = receiver(Vec::new(), Some(cpar.url("/backchannel-logout"))).await;
    set_backchannel_uri(&server, &cpar, &recorder.url).await;
    let http = browser();
    cpar_signed_in(&http, &server, &cpar).await;

    // The same person signs out of another application (RP-Initiated Logout 1.0), whose ID
    // token names the same IAM session.
    let hint = id_token_of_session(&http, &server).await;
    let sid = jwt_part(&hint, 1)["sid"].as_str().unwrap().to_string();
    let res = http
        .get(server.url("/logout"))
        .query(&[("id_token_hint", hint.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("You have signed out"));

    let done = deliveries_done(&server).await;
    assert_eq!(done.len(), 1, "CPAR only: the other client has no URI");
    assert_eq!(done[0].client_id, cpar.client_id);
    assert_eq!(done[0].outcome.as_deref(), Some("delivered"));
    assert_eq!(done[0].sid.as_deref(), Some(sid.as_str()));
    assert_cpar_session_ended(&http, &server, &cpar).await;

    // §2.4: the logout token CPAR received.
    let tokens = recorder.tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 1);
    let header = jwt_part(&tokens[0], 0);
    assert_eq!(header["typ"], "logout+jwt");
    assert!(header["kid"].is_string());
    let claims = jwt_part(&tokens[0], 1);
    assert_eq!(claims["iss"], server.issuer.as_str());
    assert_eq!(claims["aud"], cpar.client_id.as_str());
    assert_eq!(claims["sid"], sid.as_str());
    assert_eq!(claims["sub"], server.user.subject.as_str());
    assert_eq!(claims["events"], json!({ EVENT: {} }));
    assert!(claims.get("nonce").is_none());
    assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 32));
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat && exp - iat <= 120, "a short-lived token");

    // §2.6 at CPAR's receiver: the same token again is a replay; an ID token is not a logout
    // token; nothing at all is a bad request. Every refusal is 400 JSON, never cached.
    let post = |form: Vec<(&'static str, String)>| {
        let http = browser();
        let url = cpar.url("/backchannel-logout");
        async move { JsonAnswer::read(http.post(url).form(&form).send().await.unwrap()).await }
    };
    for (form, why) in [
        (vec![("logout_token", tokens[0].clone())], "replayed jti"),
        (
            vec![("logout_token", hint.clone())],
            "an ID token (typ JWT)",
        ),
        (vec![("logout_token", tamper_jwt(&tokens[0]))], "tampered"),
        (vec![], "no logout_token"),
        (
            vec![
                ("logout_token", tokens[0].clone()),
                ("logout_token", tokens[0].clone()),
            ],
            "two logout_tokens",
        ),
    ] {
        let answer = post(form).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{why}: {:?}",
            answer.json
        );
        assert_eq!(answer.json["error"], "invalid_request", "{why}");
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{why}");
    }
}

#[tokio::test]
async fn backchannel_logout_2_5_account_disable_ends_the_cpar_session() {
    let server = iam().await;
    let cpar = Cpar::start(&server, CparOptions::new(&server.issuer)).await;
    set_backchannel_uri(&server, &cpar, &cpar.url("/backchannel-logout")).await;
    let http = browser();
    cpar_signed_in(&http, &server, &cpar).await;
    // A second browser of the same person, also signed in to CPAR.
    let other = browser();
    cpar_signed_in(&other, &server, &cpar).await;

    server
        .provider
        .set_account_disabled(&Actor::BreakGlass, USERNAME, true)
        .await
        .unwrap();
    let done = deliveries_done(&server).await;
    assert_eq!(done.len(), 2, "one per IAM session: {done:?}");
    assert!(
        done.iter()
            .all(|d| d.outcome.as_deref() == Some("delivered"))
    );
    assert_cpar_session_ended(&http, &server, &cpar).await;
    assert_cpar_session_ended(&other, &server, &cpar).await;
}

#[tokio::test]
async fn backchannel_logout_2_8_a_failed_delivery_is_retried_with_backoff() {
    // The task runs rarely here: the test drives deliveries itself.
    let server = TestServer::start_with(
        |c| c.backchannel_logout_poll_interval(Duration::from_secs(60)),
        Vec::new(),
    )
    .await;
    let rp = receiver(vec![503], None).await;
    let registered = server
        .provider
        .register_client(
            NewClient::new("Back-channel RP", [REDIRECT_URI])
                .mfa_required(false)
                .metadata(ClientMetadata {
                    backchannel_logout_uri: Some(rp.url.clone()),
                    backchannel_logout_session_required: true,
                    ..Default::default()
                }),
        )
        .await
        .unwrap();
    let http = browser();
    let mut params = server.authorize_params();
    params[0].1 = registered.client.client_id.clone();
    let redirect = sign_in(&http, &server.authorize_url(&params)).await;
    let code = assert_code_redirect(&redirect, &server, Some("st-123"))["code"].clone();
    let secret = registered
        .client_secret
        .as_ref()
        .unwrap()
        .secret()
        .to_string();
    let answer = server
        .token_request(
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", PKCE_VERIFIER),
            ],
            Some((&registered.client.client_id, &secret)),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    let id_token = answer.json["id_token"].as_str().unwrap().to_string();

    // Sign out at IAM with the hint (RP-initiated logout of this very client).
    let res = http
        .get(server.url("/logout"))
        .query(&[("id_token_hint", id_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // First attempt: the receiver fails.
    assert_eq!(
        server.provider.deliver_backchannel_logouts().await.unwrap(),
        0
    );
    let d = server
        .provider
        .backchannel_logout_deliveries()
        .await
        .unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].attempts, 1);
    assert_eq!(d[0].outcome, None, "pending");
    assert_eq!(
        d[0].last_error.as_deref(),
        Some("answered 503 Service Unavailable")
    );
    // Not due again before the back-off (2 s) has passed.
    assert_eq!(
        server.provider.deliver_backchannel_logouts().await.unwrap(),
        0
    );
    assert_eq!(rp.tokens.lock().unwrap().len(), 1);
    server.advance_clock(3);
    assert_eq!(
        server.provider.deliver_backchannel_logouts().await.unwrap(),
        1
    );
    let d = server
        .provider
        .backchannel_logout_deliveries()
        .await
        .unwrap();
    assert_eq!(d[0].attempts, 2);
    assert_eq!(d[0].outcome.as_deref(), Some("delivered"));
    let tokens = rp.tokens.lock().unwrap().clone();
    assert_eq!(tokens.len(), 2);
    assert_ne!(
        jwt_part(&tokens[0], 1)["jti"],
        jwt_part(&tokens[1], 1)["jti"],
        "each attempt signs a fresh token"
    );
    // Delivered rows are purged a day later.
    server.advance_clock(86_401);
    let purged = server.provider.purge_expired().await.unwrap();
    assert_eq!(purged.get("backchannel_deliveries"), 1);

    // §2.4 / OIDC Core §3.1.3.7: a logout token (validly signed by IAM) is not an ID token or
    // an access token anywhere.
    let logout_token = tokens[1].clone();
    let answer = server.userinfo(&http, &logout_token).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "userinfo bearer");
    let res = http
        .post(server.url("/introspect"))
        .basic_auth(&registered.client.client_id, Some(&secret))
        .form(&[("token", logout_token.as_str())])
        .send()
        .await
        .unwrap();
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen, json!({ "active": false }), "introspection");
    // As id_token_hint at authorize: refused as not an ID token (an error, never a code).
    let mut params = server.authorize_params();
    params.push(("prompt".into(), "none".into()));
    params.push(("id_token_hint".into(), logout_token.clone()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let to = see_other_location(&res);
    let q = query_of(&to);
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"));
    assert!(
        q["error_description"].contains("not an ID token"),
        "{}",
        q["error_description"]
    );
    assert!(!q.contains_key("code"));
    // As id_token_hint at logout: not a valid hint, so no redirect back.
    let res = http
        .get(server.url("/logout"))
        .query(&[
            ("id_token_hint", logout_token.as_str()),
            (
                "post_logout_redirect_uri",
                "http://127.0.0.1:9999/signed-out",
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_ne!(res.status(), StatusCode::SEE_OTHER, "logout hint");
}

#[tokio::test]
async fn backchannel_logout_2_8_delivery_is_given_up_after_the_attempt_bound() {
    let server = TestServer::start_with(
        |c| {
            c.backchannel_logout_poll_interval(Duration::from_secs(60))
                .backchannel_logout_max_attempts(2)
        },
        Vec::new(),
    )
    .await;
    let rp = receiver(vec![500, 500, 500], None).await;
    let registered = server
        .provider
        .register_client(
            NewClient::new("Failing RP", [REDIRECT_URI])
                .mfa_required(false)
                .metadata(ClientMetadata {
                    backchannel_logout_uri: Some(rp.url.clone()),
                    ..Default::default()
                }),
        )
        .await
        .unwrap();
    let http = browser();
    let mut params = server.authorize_params();
    params[0].1 = registered.client.client_id.clone();
    sign_in(&http, &server.authorize_url(&params)).await;
    // The grant exists from the code on: the account is disabled before any exchange.
    server
        .provider
        .set_account_disabled(&Actor::BreakGlass, USERNAME, true)
        .await
        .unwrap();
    server.provider.deliver_backchannel_logouts().await.unwrap();
    server.advance_clock(3);
    server.provider.deliver_backchannel_logouts().await.unwrap();
    let d = server
        .provider
        .backchannel_logout_deliveries()
        .await
        .unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].attempts, 2);
    assert_eq!(d[0].outcome.as_deref(), Some("gave_up"));
    server.advance_clock(3600);
    server.provider.deliver_backchannel_logouts().await.unwrap();
    assert_eq!(
        rp.tokens.lock().unwrap().len(),
        2,
        "no attempt after giving up"
    );
}

#[tokio::test]
async fn outbound_guard_a_backchannel_uri_at_a_private_address_is_given_up_at_once() {
    let server = TestServer::start_with(
        |c| c.backchannel_logout_poll_interval(Duration::from_secs(60)),
        Vec::new(),
    )
    .await;
    let registered = server
        .provider
        .register_client(
            NewClient::new("Internal RP", [REDIRECT_URI])
                .mfa_required(false)
                .metadata(ClientMetadata {
                    backchannel_logout_uri: Some("https://192.168.10.20/logout".into()),
                    ..Default::default()
                }),
        )
        .await
        .unwrap();
    let http = browser();
    let mut params = server.authorize_params();
    params[0].1 = registered.client.client_id.clone();
    sign_in(&http, &server.authorize_url(&params)).await;
    server
        .provider
        .set_account_disabled(&Actor::BreakGlass, USERNAME, true)
        .await
        .unwrap();
    server.provider.deliver_backchannel_logouts().await.unwrap();
    let d = server
        .provider
        .backchannel_logout_deliveries()
        .await
        .unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].attempts, 1);
    assert_eq!(d[0].outcome.as_deref(), Some("gave_up"));
    assert!(
        d[0].last_error
            .as_deref()
            .is_some_and(|e| e.contains("private")),
        "{:?}",
        d[0].last_error
    );
}

#[tokio::test]
async fn backchannel_logout_2_1_discovery_advertises_support() {
    let server = TestServer::start().await;
    let meta: Value = browser()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["backchannel_logout_supported"], true);
    assert_eq!(meta["backchannel_logout_session_supported"], true);
}
