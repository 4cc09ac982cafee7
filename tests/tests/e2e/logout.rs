//! OpenID Connect RP-Initiated Logout 1.0 at the provider's `end_session_endpoint`.

use crate::common::*;
use oidc_core::NewClient;
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};

const POST_LOGOUT: &str = "http://127.0.0.1:9999/signed-out";

/// A relying party with a registered post-logout redirect URI, and one signed-in browser.
struct SignedIn {
    http: reqwest::Client,
    client_id: String,
    id_token: String,
}

async fn rp(server: &TestServer) -> (String, String) {
    let reg = server
        .provider
        .register_client(
            NewClient::new("Logout RP", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false)
                .post_logout_redirect_uris([POST_LOGOUT]),
        )
        .await
        .expect("client registered");
    let secret = reg
        .client_secret
        .expect("confidential")
        .secret()
        .to_string();
    (reg.client.client_id, secret)
}

fn params_for(client_id: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", PKCE_CHALLENGE),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    p
}

async fn sign_in_to_rp(server: &TestServer) -> SignedIn {
    let (client_id, secret) = rp(server).await;
    let http = browser();
    let redirect = sign_in(&http, &server.authorize_url(&params_for(&client_id, &[]))).await;
    let code = query_of(&redirect)["code"].clone();
    let answer = server
        .token_request(
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", PKCE_VERIFIER),
            ],
            Some((&client_id, &secret)),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    SignedIn {
        http,
        client_id,
        id_token: answer.json["id_token"].as_str().expect("id_token").into(),
    }
}

/// Whether the browser still has a session: `prompt=none` gives a code, or `login_required`.
async fn has_session(server: &TestServer, who: &SignedIn) -> bool {
    let url = server.authorize_url(&params_for(&who.client_id, &[("prompt", "none")]));
    let res = who.http.get(url).send().await.expect("authorize");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let params = query_of(&see_other_location(&res));
    match params.get("error").map(String::as_str) {
        None => {
            assert!(params.contains_key("code"));
            true
        }
        Some("login_required") => false,
        Some(other) => panic!("unexpected error {other}"),
    }
}

async fn logout_get(
    server: &TestServer,
    http: &reqwest::Client,
    q: &[(&str, &str)],
) -> reqwest::Response {
    http.get(server.url("/logout"))
        .query(q)
        .send()
        .await
        .expect("logout request")
}

fn clears_session_cookie(res: &reqwest::Response) -> bool {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.starts_with("iam_session=;") && v.contains("Max-Age=0"))
}

#[tokio::test]
async fn rp_initiated_logout_2_1_discovery_advertises_the_end_session_endpoint() {
    let server = TestServer::start().await;
    let meta: serde_json::Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["end_session_endpoint"], server.url("/logout"));
}

#[tokio::test]
async fn rp_initiated_logout_3_a_valid_hint_ends_the_session_and_returns_with_state() {
    let server = TestServer::start().await;
    let who = sign_in_to_rp(&server).await;
    assert!(has_session(&server, &who).await);
    let res = logout_get(
        &server,
        &who.http,
        &[
            ("id_token_hint", &who.id_token),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "bye-1"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION].to_str().unwrap(),
        format!("{POST_LOGOUT}?state=bye-1")
    );
    assert!(clears_session_cookie(&res));
    assert!(!has_session(&server, &who).await, "the session ended");
    let audit = server.provider.audit_events(None, 1000).await.unwrap();
    assert!(
        audit
            .iter()
            .any(|e| e.event == "signout" && e.actor == format!("user:{USERNAME}")),
        "the sign-out is in the audit log"
    );
}

#[tokio::test]
async fn rp_initiated_logout_2_post_with_client_id_works_like_get() {
    let server = TestServer::start().await;
    let who = sign_in_to_rp(&server).await;
    let res = who
        .http
        .post(server.url("/logout"))
        .form(&[
            ("id_token_hint", who.id_token.as_str()),
            ("client_id", &who.client_id),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[LOCATION].to_str().unwrap(), POST_LOGOUT);
    assert!(!has_session(&server, &who).await);
}

#[tokio::test]
async fn rp_initiated_logout_4_an_expired_id_token_hint_is_still_accepted() {
    let server = TestServer::start_with(
        |c| c.id_token_ttl(std::time::Duration::from_secs(60)),
        Vec::new(),
    )
    .await;
    let who = sign_in_to_rp(&server).await;
    server.advance_clock(120); // past exp, inside the session's idle limit
    let exp = jwt_part(&who.id_token, 1)["exp"].as_i64().unwrap();
    assert!(exp < server.now().timestamp());
    assert!(has_session(&server, &who).await);
    let res = logout_get(
        &server,
        &who.http,
        &[
            ("id_token_hint", &who.id_token),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION].to_str().unwrap(),
        format!("{POST_LOGOUT}?state=s")
    );
    assert!(!has_session(&server, &who).await);
}

#[tokio::test]
async fn rp_initiated_logout_4_a_tampered_hint_is_never_redirected_and_asks_first() {
    let server = TestServer::start().await;
    let who = sign_in_to_rp(&server).await;
    // Change the payload (sub), keep the signature: the signature no longer matches.
    let mut parts: Vec<String> = who.id_token.split('.').map(str::to_string).collect();
    let mut claims = jwt_part(&who.id_token, 1);
    claims["sub"] = "someone-else".into();
    use base64::Engine;
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).unwrap());
    let tampered = parts.join(".");
    let res = logout_get(
        &server,
        &who.http,
        &[
            ("id_token_hint", &tampered),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "s"),
        ],
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a confirmation page, no redirect"
    );
    assert!(res.headers().get(LOCATION).is_none());
    let body = res.text().await.unwrap();
    assert!(body.contains("Sign out of AHS IAM?"), "{body}");
    assert!(
        !body.contains(POST_LOGOUT),
        "the unverified return address is dropped"
    );
    assert!(
        has_session(&server, &who).await,
        "nothing ended without the person's say"
    );

    // Confirming signs out, and shows the provider's page instead of redirecting.
    let token = hidden(&body, "confirm_token");
    let res = who
        .http
        .post(server.url("/logout"))
        .form(&[("confirm_token", token.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(LOCATION).is_none());
    assert!(clears_session_cookie(&res));
    assert!(res.text().await.unwrap().contains("You have signed out"));
    assert!(!has_session(&server, &who).await);
}

#[tokio::test]
async fn rp_initiated_logout_3_an_unregistered_post_logout_redirect_uri_is_refused() {
    let server = TestServer::start().await;
    let who = sign_in_to_rp(&server).await;
    for uri in [
        "https://evil.example/",
        "http://127.0.0.1:9999/signed-out/",
        "http://127.0.0.1:9999/signed-out?x=1",
        REDIRECT_URI,
    ] {
        let res = logout_get(
            &server,
            &who.http,
            &[
                ("id_token_hint", &who.id_token),
                ("post_logout_redirect_uri", uri),
            ],
        )
        .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(res.headers().get(LOCATION).is_none());
        let body = res.text().await.unwrap();
        assert!(
            body.contains("is not registered for this application"),
            "{body}"
        );
    }
    assert!(
        has_session(&server, &who).await,
        "a refused request ends nothing"
    );
}

#[tokio::test]
async fn rp_initiated_logout_2_client_id_must_match_the_hints_audience() {
    let server = TestServer::start().await;
    let who = sign_in_to_rp(&server).await;
    let res = logout_get(
        &server,
        &who.http,
        &[
            ("id_token_hint", &who.id_token),
            ("client_id", server.client_id()),
            ("post_logout_redirect_uri", POST_LOGOUT),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(LOCATION).is_none());
    assert!(has_session(&server, &who).await);
}

#[tokio::test]
async fn rp_initiated_logout_2_without_a_hint_the_person_is_asked_and_can_stay() {
    let server = TestServer::start().await;
    let who = sign_in_to_rp(&server).await;
    let res = logout_get(
        &server,
        &who.http,
        &[("post_logout_redirect_uri", POST_LOGOUT)],
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains("Sign out of AHS IAM?"));
    assert!(body.contains(USERNAME), "says who is signed in");
    let token = hidden(&body, "confirm_token");

    // A forged confirmation (another site cannot know the token) changes nothing.
    let res = who
        .http
        .post(server.url("/logout"))
        .form(&[("confirm_token", "forged"), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(has_session(&server, &who).await);

    // "Stay signed in".
    let res = who
        .http
        .post(server.url("/logout"))
        .form(&[("confirm_token", token.as_str()), ("confirm", "no")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("You are still signed in")
    );
    assert!(has_session(&server, &who).await);

    // Another browser cannot use this browser's token.
    let stranger = browser();
    let res = stranger
        .post(server.url("/logout"))
        .form(&[("confirm_token", token.as_str()), ("confirm", "yes")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "nothing to sign out of");
    assert!(has_session(&server, &who).await);
}

#[tokio::test]
async fn rp_initiated_logout_2_a_hint_for_another_user_asks_before_ending_this_session() {
    let server = TestServer::start().await;
    let who = sign_in_to_rp(&server).await;
    // Another person signs in in a second browser and gets their own ID token.
    server
        .provider
        .create_user(oidc_core::NewUser {
            username: "jdoe".into(),
            email: "jdoe@example.org".into(),
            name: None,
            roles: vec![],
            password: Some(PASSWORD.into()),
        })
        .await
        .unwrap();
    let other = browser();
    let page = open_signin(
        &other,
        other
            .get(server.authorize_url(&params_for(&who.client_id, &[])))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = submit_password(&other, &page, "jdoe", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // jdoe's browser receives a valid ID token of nakitt's: §2 says ask, do not just end jdoe's session.
    let res = logout_get(&server, &other, &[("id_token_hint", &who.id_token)]).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains("Sign out of AHS IAM?"), "{body}");
    assert!(body.contains("jdoe"));
}

#[tokio::test]
async fn rp_initiated_logout_without_a_session_still_returns_to_a_registered_uri() {
    let server = TestServer::start().await;
    let who = sign_in_to_rp(&server).await;
    let fresh = browser(); // no IAM session at all
    let res = logout_get(
        &server,
        &fresh,
        &[
            ("id_token_hint", &who.id_token),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "x"),
        ],
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION].to_str().unwrap(),
        format!("{POST_LOGOUT}?state=x")
    );
    assert!(
        has_session(&server, &who).await,
        "another browser's session is untouched"
    );
    // Repeated parameters are refused (RFC 6749 §3.1 style), not guessed at.
    let res = fresh
        .get(format!("{}?state=a&state=b", server.url("/logout")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

/// The value of a hidden input.
fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in {body}"))
        + marker.len();
    body[start..].split('"').next().unwrap().to_string()
}
