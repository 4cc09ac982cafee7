//! Consent (OIDC Core §3.1.2.4): third-party clients get a consent page, first-party ones do
//! not; decisions are remembered per person and client, withdrawn at the portal's applications
//! page (which also revokes that client's grants); `prompt=consent` forces the page and
//! `prompt=none` answers `consent_required` without a consent.

use crate::common::*;
use oidc_core::NewClient;
use reqwest::StatusCode;
use url::Url;

/// A hostile name: the consent and portal pages must show it as text.
const HOSTILE_NAME: &str = "<b>Partner</b> & \"Co\"";

/// Registers a confidential third-party client (password only); returns (id, secret).
async fn third_party(server: &TestServer, name: &str) -> (String, String) {
    let reg = server
        .provider
        .register_client(
            NewClient::new(name, [REDIRECT_URI])
                .third_party()
                .mfa_required(false),
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

fn params_for(client_id: &str, scope: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", scope),
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

/// A consent page as served.
struct ConsentPage {
    url: Url,
    csrf: String,
    body: String,
}

/// Loads the journey page at `url`, which must be the consent page.
async fn consent_page_at(http: &reqwest::Client, url: Url) -> ConsentPage {
    assert!(
        url.path().starts_with("/signin/"),
        "expected a journey page, got {url}"
    );
    let res = http.get(url.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("to use your account?") && body.contains(r#"value="allow""#),
        "not the consent page:\n{body}"
    );
    ConsentPage {
        url,
        csrf: csrf_of(&body),
        body,
    }
}

async fn decide(http: &reqwest::Client, page: &ConsentPage, decision: &str) -> reqwest::Response {
    http.post(page.url.clone())
        .form(&[("csrf", page.csrf.as_str()), ("decision", decision)])
        .send()
        .await
        .unwrap()
}

/// Signs the seeded user in for a request of `client_id`; returns the consent page that follows.
async fn sign_in_to_consent(
    server: &TestServer,
    http: &reqwest::Client,
    client_id: &str,
    scope: &str,
) -> ConsentPage {
    let next = sign_in(
        http,
        &server.authorize_url(&params_for(client_id, scope, &[])),
    )
    .await;
    consent_page_at(http, next).await
}

/// Gives consent and returns the code.
async fn allow(server: &TestServer, http: &reqwest::Client, page: &ConsentPage) -> String {
    let res = decide(http, page, "allow").await;
    let location = see_other_location(&res);
    assert_code_redirect(&location, server, Some("st-1"))["code"].clone()
}

async fn redeem_for(
    server: &TestServer,
    http: &reqwest::Client,
    client: &(String, String),
    code: &str,
) -> JsonAnswer {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", PKCE_VERIFIER),
    ];
    server
        .token_request(http, &form, Some((&client.0, &client.1)))
        .await
}

/// The text of the list items of the consent page.
fn items_of(body: &str) -> Vec<String> {
    let start = body
        .find(r#"id="consent-items""#)
        .expect("the consent list");
    let end = start + body[start..].find("</ul>").expect("end of the list");
    body[start..end]
        .split("<li>")
        .skip(1)
        .map(|i| i.split("</li>").next().unwrap_or("").to_string())
        .collect()
}

#[tokio::test]
async fn oidc_core_3_1_2_4_a_third_party_client_gets_a_consent_page_in_plain_words() {
    let server = TestServer::start().await;
    let client = third_party(&server, HOSTILE_NAME).await;
    let http = browser();
    let page = sign_in_to_consent(&server, &http, &client.0, "openid profile email").await;
    assert_eq!(
        items_of(&page.body),
        [
            "Know that it is you (an identifier for your account)",
            "See your name and username",
            "See your email address",
        ]
    );
    assert!(
        page.body
            .contains(&format!("You are signed in as <strong>{USERNAME}</strong>"))
    );
    // The client's name is text, never markup.
    assert!(!page.body.contains("<b>Partner</b>"), "{}", page.body);
    assert!(
        page.body
            .contains("&#60;b&#62;Partner&#60;/b&#62; &#38; &#34;Co&#34;"),
        "{}",
        page.body
    );
    // No session before the decision: the code comes only after "Allow".
    let code = allow(&server, &http, &page).await;
    let tokens = redeem_for(&server, &http, &client, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.json);
    assert_eq!(tokens.json["scope"], "openid profile email");
    let info = server
        .userinfo(&http, tokens.json["access_token"].as_str().unwrap())
        .await;
    assert_eq!(info.json["email"], EMAIL);
}

#[tokio::test]
async fn oidc_core_3_1_2_4_first_party_clients_skip_consent() {
    let server = TestServer::start().await;
    let http = browser();
    // The seeded client is registered without naming the flag: first-party by default.
    let location = sign_in(&http, &server.authorize_url(&server.authorize_params())).await;
    assert_code_redirect(&location, &server, Some("st-123"));
    assert!(server.client.client.first_party);
}

#[tokio::test]
async fn rfc6749_4_1_2_1_denying_consent_answers_access_denied() {
    let server = TestServer::start().await;
    let client = third_party(&server, "Partner").await;
    let http = browser();
    let page = sign_in_to_consent(&server, &http, &client.0, "openid email").await;
    let res = decide(&http, &page, "deny").await;
    assert_error_redirect(&res, &server, "access_denied", Some("st-1"));
    // The journey is over: the page cannot be used again to allow; the browser is sent through
    // the authorization endpoint again, never to the client with a code.
    let again = decide(&http, &page, "allow").await;
    assert_eq!(see_other_location(&again).path(), "/authorize");
}

#[tokio::test]
async fn oidc_core_3_1_2_4_consent_is_remembered_per_user_and_client_and_asked_again_for_more() {
    let server = TestServer::start().await;
    let client = third_party(&server, "Partner").await;
    let other = third_party(&server, "Other partner").await;
    let http = browser();
    let page = sign_in_to_consent(&server, &http, &client.0, "openid profile email").await;
    allow(&server, &http, &page).await;

    // Same client, same or fewer scopes, with the session: a code at once.
    for scope in ["openid profile email", "openid email", "openid"] {
        let res = http
            .get(server.authorize_url(&params_for(&client.0, scope, &[])))
            .send()
            .await
            .unwrap();
        assert_code_redirect(&see_other_location(&res), &server, Some("st-1"));
    }
    // More than was allowed: the page again, with the session (no password), listing all.
    let res = http
        .get(server.authorize_url(&params_for(&client.0, "openid email roles", &[])))
        .send()
        .await
        .unwrap();
    let page = consent_page_at(&http, see_other_location(&res)).await;
    assert!(
        items_of(&page.body)
            .contains(&"See your roles (what you may do in applications)".to_string())
    );
    allow(&server, &http, &page).await;
    // Remembered as the union: the first scopes were not taken back.
    let res = http
        .get(server.authorize_url(&params_for(&client.0, "openid profile roles", &[])))
        .send()
        .await
        .unwrap();
    assert_code_redirect(&see_other_location(&res), &server, Some("st-1"));

    // Per client: another third-party client is asked for itself.
    let res = http
        .get(server.authorize_url(&params_for(&other.0, "openid", &[])))
        .send()
        .await
        .unwrap();
    consent_page_at(&http, see_other_location(&res)).await;
}

#[tokio::test]
async fn oidc_core_3_1_2_4_with_an_existing_session_the_consent_page_comes_without_a_sign_in() {
    let server = TestServer::start().await;
    let client = third_party(&server, "Partner").await;
    let http = browser();
    // A session from the first-party client.
    server.code_for_default_request(&http).await;
    let res = http
        .get(server.authorize_url(&params_for(&client.0, "openid profile", &[])))
        .send()
        .await
        .unwrap();
    let page = consent_page_at(&http, see_other_location(&res)).await;
    assert!(!page.body.contains(SIGNIN_HEADING));
    let code = allow(&server, &http, &page).await;
    let tokens = redeem_for(&server, &http, &client, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.json);
    // Same session: same sid as the first-party sign-in's tokens.
    let id = jwt_part(tokens.json["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["sub"], server.user.subject);
}

#[tokio::test]
async fn oidc_core_3_1_2_6_prompt_none_without_consent_is_consent_required() {
    let server = TestServer::start().await;
    let client = third_party(&server, "Partner").await;
    let http = browser();
    server.code_for_default_request(&http).await;
    let res = http
        .get(server.authorize_url(&params_for(&client.0, "openid", &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "consent_required", Some("st-1"));

    // Once allowed, prompt=none answers with a code; asking for more is consent_required again.
    let res = http
        .get(server.authorize_url(&params_for(&client.0, "openid", &[])))
        .send()
        .await
        .unwrap();
    let page = consent_page_at(&http, see_other_location(&res)).await;
    allow(&server, &http, &page).await;
    let res = http
        .get(server.authorize_url(&params_for(&client.0, "openid", &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert_code_redirect(&see_other_location(&res), &server, Some("st-1"));
    let res = http
        .get(server.authorize_url(&params_for(
            &client.0,
            "openid email",
            &[("prompt", "none")],
        )))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "consent_required", Some("st-1"));
}

#[tokio::test]
async fn oidc_core_3_1_2_1_prompt_consent_forces_the_page_even_when_remembered() {
    let server = TestServer::start().await;
    let client = third_party(&server, "Partner").await;
    let http = browser();
    let page = sign_in_to_consent(&server, &http, &client.0, "openid email").await;
    allow(&server, &http, &page).await;
    let res = http
        .get(server.authorize_url(&params_for(
            &client.0,
            "openid email",
            &[("prompt", "consent")],
        )))
        .send()
        .await
        .unwrap();
    let page = consent_page_at(&http, see_other_location(&res)).await;
    allow(&server, &http, &page).await;
    // prompt=consent asks even a first-party client.
    let mut params = server.authorize_params();
    params.push(("prompt".into(), "consent".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let page = consent_page_at(&http, see_other_location(&res)).await;
    let res = decide(&http, &page, "allow").await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
}

#[tokio::test]
async fn oidc_core_5_5_claims_asked_for_one_by_one_are_on_the_consent_page() {
    let server = TestServer::start().await;
    let client = third_party(&server, "Partner").await;
    let http = browser();
    let claims = r#"{"userinfo":{"roles":null,"phone_number":null},"id_token":{"email":{"essential":true}}}"#;
    let next = sign_in(
        &http,
        &server.authorize_url(&params_for(&client.0, "openid", &[("claims", claims)])),
    )
    .await;
    let page = consent_page_at(&http, next).await;
    assert_eq!(
        items_of(&page.body),
        [
            "Know that it is you (an identifier for your account)",
            "See your email address",
            "See your roles (what you may do in applications)",
        ]
    );
    let code = allow(&server, &http, &page).await;
    let tokens = redeem_for(&server, &http, &client, &code).await;
    let id = jwt_part(tokens.json["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["email"], EMAIL);
    let info = server
        .userinfo(&http, tokens.json["access_token"].as_str().unwrap())
        .await;
    let mut keys: Vec<&str> = info
        .json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["roles", "sub"]);
    // The same claims again: covered by the remembered consent.
    let res = http
        .get(server.authorize_url(&params_for(
            &client.0,
            "openid",
            &[("claims", claims), ("prompt", "none")],
        )))
        .send()
        .await
        .unwrap();
    assert_code_redirect(&see_other_location(&res), &server, Some("st-1"));
}

/// The applications page of the portal, signed in.
async fn apps_page(server: &TestServer, http: &reqwest::Client) -> String {
    let res = http.get(server.url("/account/apps")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.text().await.unwrap()
}

fn token_of(body: &str) -> String {
    const MARK: &str = r#"name="token" value=""#;
    let start = body.find(MARK).expect("a withdrawal form") + MARK.len();
    let len = body[start..].find('"').unwrap();
    body[start..start + len].to_string()
}

#[tokio::test]
async fn portal_lists_consents_and_withdrawing_one_revokes_its_grants_and_refresh_tokens() {
    let server = TestServer::start().await;
    let client = third_party(&server, HOSTILE_NAME).await;
    let http = browser();
    let page = sign_in_to_consent(&server, &http, &client.0, "openid email offline_access").await;
    let code = allow(&server, &http, &page).await;
    let tokens = redeem_for(&server, &http, &client, &code).await;
    let access = tokens.json["access_token"].as_str().unwrap().to_string();
    let refresh = tokens.json["refresh_token"]
        .as_str()
        .expect("offline_access gives a refresh token")
        .to_string();

    let body = apps_page(&server, &http).await;
    assert!(body.contains("Applications you allowed"), "{body}");
    assert!(body.contains("&#60;b&#62;Partner&#60;/b&#62;"), "{body}");
    assert!(!body.contains("<b>Partner</b>"), "{body}");
    assert!(body.contains("See your email address"), "{body}");
    assert!(body.contains(&format!(r#"name="client_id" value="{}""#, client.0)));

    // A forged form (no token bound to this session) changes nothing.
    let forged = http
        .post(server.url("/account/apps/withdraw"))
        .form(&[("token", "forged"), ("client_id", client.0.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert_eq!(server.userinfo(&http, &access).await.status, StatusCode::OK);

    let res = http
        .post(server.url("/account/apps/withdraw"))
        .form(&[
            ("token", token_of(&body).as_str()),
            ("client_id", client.0.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let after = res.text().await.unwrap();
    assert!(after.contains("The permission was withdrawn"), "{after}");
    assert!(after.contains(r#"id="no-apps""#), "{after}");

    // Its grants are revoked: userinfo refuses the access token, the refresh token is dead.
    let info = server.userinfo(&http, &access).await;
    assert_eq!(info.status, StatusCode::UNAUTHORIZED);
    assert_eq!(info.json["error"], "invalid_token");
    let refreshed = server
        .token_request(
            &http,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            Some((&client.0, &client.1)),
        )
        .await;
    assert_eq!(refreshed.status, StatusCode::BAD_REQUEST);
    assert_eq!(refreshed.json["error"], "invalid_grant");
    // And the next request asks again.
    let res = http
        .get(server.authorize_url(&params_for(&client.0, "openid email", &[])))
        .send()
        .await
        .unwrap();
    consent_page_at(&http, see_other_location(&res)).await;
}

#[tokio::test]
async fn portal_applications_page_without_a_session_starts_a_sign_in() {
    let server = TestServer::start().await;
    let http = browser();
    let res = http.get(server.url("/account/apps")).send().await.unwrap();
    let page = open_signin(&http, res).await;
    assert!(page.body.contains(SIGNIN_HEADING));
    // Withdrawing without a session is refused.
    let res = http
        .post(server.url("/account/apps/withdraw"))
        .form(&[("token", "x"), ("client_id", "y")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
