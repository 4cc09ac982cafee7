//! The authorization code flow end to end, over HTTP, with the `openidconnect` crate as the
//! relying party where a real client would use it, and hand-built requests where a test must
//! send what no well-behaved client sends. Each test is named after the rule it checks.

use crate::common::*;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreErrorResponseType, CoreIdToken, CoreProviderMetadata,
    CoreTokenResponse, CoreTokenType, CoreUserInfoClaims,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A relying party built from discovery.
type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Discovers the provider and builds a relying party for `client_id` (public when no secret).
async fn relying_party(
    server: &TestServer,
    http: &reqwest::Client,
    client_id: &str,
    secret: Option<&str>,
) -> Rp {
    let issuer = IssuerUrl::new(server.issuer.clone()).expect("issuer URL");
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.to_string()),
        secret.map(|s| ClientSecret::new(s.to_string())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_string()).expect("redirect URL"))
}

/// The seeded confidential client as a relying party (client_secret_basic).
async fn seeded_rp(server: &TestServer, http: &reqwest::Client) -> Rp {
    relying_party(
        server,
        http,
        server.client_id(),
        Some(server.client_secret()),
    )
    .await
}

/// What the relying party holds after the browser comes back with a code.
struct Authorized {
    code: AuthorizationCode,
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

/// Sends the browser through the authorization request of `rp` (scopes profile, email, roles;
/// PKCE S256; random state and nonce), signs the seeded user in, and checks the response.
async fn authorize(server: &TestServer, http: &reqwest::Client, rp: &Rp) -> Authorized {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("roles".into()))
        .set_pkce_challenge(challenge)
        .url();
    let location = sign_in(http, url.as_str()).await;
    let params = assert_code_redirect(&location, server, Some(state.secret()));
    Authorized {
        code: AuthorizationCode::new(params["code"].clone()),
        nonce,
        verifier,
    }
}

/// Exchanges the code with the verifier; panics on any error.
async fn exchange(
    http: &reqwest::Client,
    rp: &Rp,
    authorized: Authorized,
) -> (CoreTokenResponse, Nonce) {
    let token = rp
        .exchange_code(authorized.code)
        .expect("token endpoint known")
        .set_pkce_verifier(authorized.verifier)
        .request_async(http)
        .await
        .expect("token exchange");
    (token, authorized.nonce)
}

/// The full flow for the seeded client: discovery, authorization, sign-in, token exchange.
async fn full_flow(server: &TestServer, http: &reqwest::Client) -> (Rp, CoreTokenResponse, Nonce) {
    let rp = seeded_rp(server, http).await;
    let authorized = authorize(server, http, &rp).await;
    let (token, nonce) = exchange(http, &rp, authorized).await;
    (rp, token, nonce)
}

fn id_token_of(token: &CoreTokenResponse) -> &CoreIdToken {
    token
        .id_token()
        .expect("the token response has an ID token")
}

fn kids_of(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys array")
        .iter()
        .map(|k| k["kid"].as_str().expect("every key has a kid").to_string())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// The happy path
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn oidc_core_3_1_code_flow_with_pkce_end_to_end() {
    let server = TestServer::start().await;
    let http = browser();
    let rp = seeded_rp(&server, &http).await;

    // Authorization: code, state and iss (RFC 9207) come back (checked in `authorize`).
    let authorized = authorize(&server, &http, &rp).await;
    let (token, nonce) = exchange(&http, &rp, authorized).await;

    // Token response (RFC 6749 §5.1).
    assert_eq!(token.token_type(), &CoreTokenType::Bearer);
    assert!(
        token.expires_in().is_some_and(|d| d.as_secs() > 0),
        "expires_in"
    );
    let scopes: Vec<&str> = token
        .scopes()
        .expect("scope returned")
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(scopes, ["openid", "profile", "email", "roles"]);

    // ID token (OIDC Core §3.1.3.7): signature, iss, aud, exp and nonce checked by openidconnect.
    let id_token = id_token_of(&token);
    let verifier = rp.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.subject().as_str(), server.user.subject);
    assert_eq!(claims.issuer().as_str(), server.issuer);
    let audiences: Vec<&str> = claims.audiences().iter().map(|a| a.as_str()).collect();
    assert_eq!(audiences, [server.client_id()]);
    assert_eq!(
        claims.authorized_party().map(|a| a.as_str()),
        Some(server.client_id())
    );
    let auth_time = claims.auth_time().expect("auth_time present");
    assert!(
        auth_time <= claims.issue_time(),
        "auth_time {auth_time} after iat"
    );
    assert_eq!(
        claims.nonce().map(|n| n.secret().as_str()),
        Some(nonce.secret().as_str())
    );

    // at_hash (OIDC Core §3.1.3.6) binds the access token to the ID token.
    let expected = claims.access_token_hash().expect("at_hash present");
    let actual = AccessTokenHash::from_token(
        token.access_token(),
        id_token.signing_alg().expect("signing alg"),
        id_token.signing_key(&verifier).expect("signing key"),
    )
    .expect("at_hash computable");
    assert_eq!(&actual, expected);

    // Claims openidconnect does not type: sid, and the headers.
    let raw_id = id_token.to_string();
    let id_payload = jwt_part(&raw_id, 1);
    assert!(
        id_payload["sid"].as_str().is_some_and(|s| !s.is_empty()),
        "sid in {id_payload}"
    );
    assert_eq!(jwt_part(&raw_id, 0)["typ"], "JWT");
    assert_eq!(jwt_part(&raw_id, 0)["alg"], "RS256");
    let access = token.access_token().secret();
    let access_header = jwt_part(access, 0);
    assert_eq!(access_header["typ"], "at+jwt", "RFC 9068 §2.1");
    let access_payload = jwt_part(access, 1);
    assert_eq!(access_payload["sub"], json!(server.user.subject));
    assert_eq!(access_payload["client_id"], json!(server.client_id()));
    assert_eq!(access_payload["iss"], json!(server.issuer));

    // Both tokens are signed by keys the JWKS publishes.
    let jwks: Value = http
        .get(server.url("/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids = kids_of(&jwks);
    for header in [jwt_part(&raw_id, 0), access_header] {
        let kid = header["kid"].as_str().expect("kid in the JWS header");
        assert!(kids.iter().any(|k| k == kid), "kid {kid} not in the JWKS");
    }

    // Userinfo (OIDC Core §5.3) through openidconnect, which also checks sub.
    let info: CoreUserInfoClaims = rp
        .user_info(token.access_token().clone(), Some(claims.subject().clone()))
        .expect("userinfo endpoint known")
        .request_async(&http)
        .await
        .expect("userinfo");
    assert_eq!(info.subject().as_str(), server.user.subject);
    assert_eq!(info.email().map(|e| e.as_str()), Some(EMAIL));
    assert_eq!(info.email_verified(), Some(true));
    assert_eq!(
        info.name().and_then(|n| n.get(None)).map(|n| n.as_str()),
        Some(NAME)
    );
    assert_eq!(
        info.preferred_username().map(|u| u.as_str()),
        Some(USERNAME)
    );

    // The roles claim, which openidconnect does not type, by hand.
    let raw = server.userinfo(&http, access).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.header("cache-control"), Some("no-store"));
    assert_eq!(raw.json["sub"], json!(server.user.subject));
    assert_eq!(raw.json["roles"], json!([ROLE]));
    assert_eq!(raw.json["preferred_username"], json!(USERNAME));
}

// ---------------------------------------------------------------------------------------------
// The authorization endpoint
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rfc6749_4_1_2_1_unregistered_redirect_uri_gets_an_error_page_not_a_redirect() {
    let server = TestServer::start().await;
    let http = browser();
    for evil in [
        "https://evil.example/callback",
        "http://127.0.0.1:9999/elsewhere",
        "http://127.0.0.1:9999/callback/",
    ] {
        let mut params = server.authorize_params();
        params.retain(|(k, _)| k != "redirect_uri");
        params.push(("redirect_uri".into(), evil.into()));
        let res = http
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        let body = assert_error_page(
            res,
            "The redirect_uri is not registered for this application.",
        )
        .await;
        assert!(
            !body.contains(evil),
            "the page must not offer a link to {evil}"
        );
    }
}

#[tokio::test]
async fn rfc6749_4_1_2_1_unknown_client_gets_an_error_page_not_a_redirect() {
    let server = TestServer::start().await;
    let http = browser();
    let mut params = server.authorize_params();
    params.retain(|(k, _)| k != "client_id");
    params.push(("client_id".into(), uuid::Uuid::new_v4().to_string()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_page(res, "The application that sent you here is not registered.").await;

    // Without any client_id: the same kind of page.
    params.retain(|(k, _)| k != "client_id");
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_page(res, "The request has no client_id.").await;
}

#[tokio::test]
async fn rfc7636_4_4_1_missing_pkce_is_invalid_request_at_the_redirect_uri() {
    let server = TestServer::start().await;
    let http = browser();
    let mut params = server.authorize_params();
    params.retain(|(k, _)| k != "code_challenge" && k != "code_challenge_method");
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "invalid_request", Some("st-123"));
}

#[tokio::test]
async fn rfc7636_4_3_plain_pkce_is_refused() {
    let server = TestServer::start().await;
    let http = browser();
    // code_challenge_method=plain, and an absent method (which means plain, RFC 7636 §4.3).
    for method in [Some("plain"), None] {
        let mut params = server.authorize_params();
        params.retain(|(k, _)| k != "code_challenge" && k != "code_challenge_method");
        params.push(("code_challenge".into(), PKCE_VERIFIER.into()));
        if let Some(m) = method {
            params.push(("code_challenge_method".into(), m.into()));
        }
        let res = http
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        assert_error_redirect(&res, &server, "invalid_request", Some("st-123"));
    }
}

#[tokio::test]
async fn oidc_core_3_1_2_6_prompt_none_without_a_session_is_login_required() {
    let server = TestServer::start().await;
    let http = browser();
    let mut params = server.authorize_params();
    params.push(("prompt".into(), "none".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));
}

#[tokio::test]
async fn oidc_core_3_1_2_1_prompt_none_with_a_session_returns_a_code_without_a_page() {
    let server = TestServer::start().await;
    let http = browser();
    let (rp, first, nonce) = full_flow(&server, &http).await;
    id_token_of(&first)
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the first ID token verifies");
    let first_id = jwt_part(&id_token_of(&first).to_string(), 1);

    let mut params = server.authorize_params();
    params.push(("prompt".into(), "none".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let location = see_other_location(&res);
    let code = assert_code_redirect(&location, &server, Some("st-123"))["code"].clone();

    // The code belongs to the same session: same subject, auth_time and sid.
    let answer = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    let id = jwt_part(answer.json["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["sub"], json!(server.user.subject));
    assert_eq!(id["nonce"], "n-456");
    assert_eq!(id["sid"], first_id["sid"]);
    assert_eq!(id["auth_time"], first_id["auth_time"]);
}

#[tokio::test]
async fn oidc_core_3_1_2_1_prompt_login_with_a_session_shows_the_sign_in_page_again() {
    let server = TestServer::start().await;
    let http = browser();
    let first_code = server.code_for_default_request(&http).await;
    let first = server.redeem(&http, &first_code, PKCE_VERIFIER).await;
    let first_sid = jwt_part(first.json["id_token"].as_str().unwrap(), 1)["sid"].clone();

    // Without prompt the session answers at once (single sign-on)...
    let res = http
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));

    // ...with prompt=login the person must sign in again, which starts a new session.
    let mut params = server.authorize_params();
    params.push(("prompt".into(), "login".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let location = sign_in_from(&http, res).await;
    let code = assert_code_redirect(&location, &server, Some("st-123"))["code"].clone();
    let second = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(second.status, StatusCode::OK, "{:?}", second.json);
    let second_sid = jwt_part(second.json["id_token"].as_str().unwrap(), 1)["sid"].clone();
    assert_ne!(first_sid, second_sid, "a new sign-in makes a new session");
}

#[tokio::test]
async fn oidc_core_3_1_2_1_max_age_0_with_a_session_requires_a_new_sign_in() {
    let server = TestServer::start().await;
    let http = browser();
    server.code_for_default_request(&http).await;
    let mut params = server.authorize_params();
    params.push(("max_age".into(), "0".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let page = open_signin(&http, res).await;
    assert!(page.body.contains(SIGNIN_HEADING));
}

#[tokio::test]
async fn rfc6749_10_12_sign_in_form_is_bound_to_its_browser_and_csrf_token() {
    let server = TestServer::start().await;
    let http = browser();
    let res = http
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    let page = open_signin(&http, res).await;
    const EXPIRED: &str = "This sign-in has expired";

    // Another browser cannot see or use the journey.
    let other = browser();
    let res = other.get(page.url.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains(EXPIRED));
    let res = submit_password(&other, &page, USERNAME, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
    assert!(res.text().await.unwrap().contains(EXPIRED));

    // A wrong CSRF token: the form again with a 400, and no sign-in.
    let forged = SigninPage {
        csrf: "x".repeat(43),
        ..page.clone()
    };
    let res = submit_password(&http, &forged, USERNAME, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get("location").is_none());
    let body = res.text().await.unwrap();
    assert!(
        body.contains(SIGNIN_HEADING) && body.contains("sent from elsewhere"),
        "{body}"
    );

    // The journey still completes with its own token, exactly once.
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
    let first = assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    // The finished journey's form sent again (a double submit whose answer the browser dropped,
    // the back button) verifies nothing: the browser goes through the authorization endpoint
    // again, where its new session answers with a fresh code.
    let res = submit_password(&http, &page, USERNAME, "not even the password").await;
    let again = see_other_location(&res);
    assert!(
        again.as_str().starts_with(&server.url("/authorize?")),
        "{again}"
    );
    assert!(!again.as_str().contains("prompt="), "{again}");
    let res = http.get(again.as_str()).send().await.unwrap();
    let second = assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    assert_ne!(first["code"], second["code"]);
    // Another browser gets nothing from that journey.
    let res = browser().get(page.url.as_str()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.text().await.unwrap().contains(EXPIRED));
}

#[tokio::test]
async fn sign_in_page_escapes_the_login_hint_and_the_echoed_username() {
    let server = TestServer::start().await;
    let http = browser();
    let hostile = r#""><script>alert(1)</script>"#;
    let mut params = server.authorize_params();
    params.push(("login_hint".into(), hostile.into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let page = open_signin(&http, res).await;
    assert!(
        !page.body.contains("<script>"),
        "login_hint unescaped:\n{}",
        page.body
    );

    let res = submit_password(&http, &page, hostile, "not the right password").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains(BAD_CREDENTIALS));
    assert!(!body.contains("<script>"), "username unescaped:\n{body}");
}

/// Masks what legitimately differs between two renderings of the sign-in page.
fn normalise(page: &SigninPage, body: &str, username: &str) -> String {
    body.replace(&page.csrf, "CSRF")
        .replace(&page.journey_id, "JOURNEY")
        .replace(&format!(r#"value="{username}""#), r#"value="USERNAME""#)
}

#[tokio::test]
async fn oidc_core_3_1_2_3_wrong_password_and_unknown_user_get_the_same_page() {
    let server = TestServer::start().await;
    let http = browser();

    let start = |http: &reqwest::Client| {
        let url = server.authorize_url(&server.authorize_params());
        let http = http.clone();
        async move { open_signin(&http, http.get(url).send().await.unwrap()).await }
    };

    let page_a = start(&http).await;
    let res = submit_password(&http, &page_a, USERNAME, "not the right password").await;
    assert_eq!(res.status(), StatusCode::OK);
    let wrong_password = res.text().await.unwrap();

    let page_b = start(&http).await;
    assert_ne!(page_a.journey_id, page_b.journey_id);
    let res = submit_password(
        &http,
        &page_b,
        "nobody-by-this-name",
        "not the right password",
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let unknown_user = res.text().await.unwrap();

    for body in [&wrong_password, &unknown_user] {
        assert!(body.contains(BAD_CREDENTIALS), "message missing:\n{body}");
        assert!(body.contains(SIGNIN_HEADING));
    }
    assert_eq!(
        normalise(&page_a, &wrong_password, USERNAME),
        normalise(&page_b, &unknown_user, "nobody-by-this-name"),
        "the two failures must be indistinguishable"
    );

    // A failed attempt does not end the journey: the right password still works.
    let res = submit_password(&http, &page_a, USERNAME, PASSWORD).await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
}

#[tokio::test]
async fn oidc_core_3_1_2_1_authorization_request_by_post_works() {
    let server = TestServer::start().await;
    let http = browser();
    let res = http
        .post(server.url("/authorize"))
        .form(&server.authorize_params())
        .send()
        .await
        .unwrap();
    let location = sign_in_from(&http, res).await;
    let code = assert_code_redirect(&location, &server, Some("st-123"))["code"].clone();
    let answer = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    assert_eq!(
        jwt_part(answer.json["id_token"].as_str().unwrap(), 1)["nonce"],
        "n-456"
    );
}

#[tokio::test]
async fn oidc_core_6_1_an_unsigned_request_object_is_invalid_request_object() {
    // Request objects are supported (RFC 9101, tests/request_objects.rs), but only signed ones:
    // `alg: none` is refused, at the query's redirect URI since nothing inside is trusted.
    let server = TestServer::start().await;
    let http = browser();
    let mut params = server.authorize_params();
    params.push(("request".into(), "eyJhbGciOiJub25lIn0.e30.".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "invalid_request_object", Some("st-123"));
}

#[tokio::test]
async fn oidc_core_6_request_uri_parameter_is_request_uri_not_supported() {
    let server = TestServer::start().await;
    let http = browser();
    let mut params = server.authorize_params();
    params.push((
        "request_uri".into(),
        "https://rp.example.org/request.jwt".into(),
    ));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "request_uri_not_supported", Some("st-123"));
}

#[tokio::test]
async fn rfc6749_4_1_2_1_response_type_token_is_unsupported_response_type() {
    let server = TestServer::start().await;
    let http = browser();
    for response_type in ["token", "id_token", "code id_token"] {
        let mut params = server.authorize_params();
        params.retain(|(k, _)| k != "response_type");
        params.push(("response_type".into(), response_type.into()));
        let res = http
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        assert_error_redirect(&res, &server, "unsupported_response_type", Some("st-123"));
    }
}

// ---------------------------------------------------------------------------------------------
// The token endpoint
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rfc6749_4_1_2_code_replay_is_invalid_grant_and_revokes_the_tokens_issued() {
    let server = TestServer::start().await;
    let http = browser();
    let code = server.code_for_default_request(&http).await;

    let first = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.json);
    let access = first.json["access_token"].as_str().unwrap().to_string();
    assert_eq!(
        server.userinfo(&http, &access).await.status,
        StatusCode::OK,
        "the token works before the replay"
    );

    let second = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(second.status, StatusCode::BAD_REQUEST);
    assert_eq!(second.json["error"], "invalid_grant");
    assert!(second.json.get("access_token").is_none());

    let after = server.userinfo(&http, &access).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    assert!(
        after
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with(r#"Bearer error="invalid_token""#)),
        "{:?}",
        after.header("www-authenticate")
    );
    assert_eq!(after.json["error"], "invalid_token");
}

#[tokio::test]
async fn rfc6749_4_1_2_code_replay_through_openidconnect_is_invalid_grant() {
    let server = TestServer::start().await;
    let http = browser();
    let rp = seeded_rp(&server, &http).await;
    let authorized = authorize(&server, &http, &rp).await;
    let code = authorized.code.clone();
    let (token, _) = exchange(&http, &rp, authorized).await;

    let replay = rp
        .exchange_code(code)
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(PKCE_VERIFIER.into()));
    match replay.request_async(&http).await {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(e.error(), &CoreErrorResponseType::InvalidGrant)
        }
        other => panic!("expected invalid_grant, got {other:?}"),
    }
    let after = server.userinfo(&http, token.access_token().secret()).await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rfc6749_4_1_2_concurrent_redemptions_of_one_code_yield_exactly_one_token() {
    let server = TestServer::start().await;
    let http = browser();
    let code = server.code_for_default_request(&http).await;
    let mut racers = Vec::new();
    for _ in 0..8 {
        let (http, url, code) = (http.clone(), server.url("/token"), code.clone());
        let (id, secret) = (
            server.client_id().to_string(),
            server.client_secret().to_string(),
        );
        racers.push(tokio::spawn(async move {
            let form = [
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", PKCE_VERIFIER),
            ];
            let res = http
                .post(url)
                .form(&form)
                .basic_auth(id, Some(secret))
                .send()
                .await
                .unwrap();
            JsonAnswer::read(res).await
        }));
    }
    let mut winners = Vec::new();
    for racer in racers {
        let answer = racer.await.unwrap();
        if answer.status == StatusCode::OK {
            winners.push(answer);
        } else {
            assert_eq!(answer.status, StatusCode::BAD_REQUEST);
            assert_eq!(answer.json["error"], "invalid_grant");
        }
    }
    assert_eq!(winners.len(), 1, "exactly one redemption wins");
    // Every loser was a replay, so the winner's grant is revoked too.
    let access = winners[0].json["access_token"].as_str().unwrap();
    assert_eq!(
        server.userinfo(&http, access).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn rfc7636_4_6_wrong_code_verifier_is_invalid_grant() {
    let server = TestServer::start().await;
    let http = browser();
    let code = server.code_for_default_request(&http).await;
    let wrong = "A".repeat(43);
    let answer = server.redeem(&http, &code, &wrong).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"], "invalid_grant");
    assert_eq!(answer.header("cache-control"), Some("no-store"));

    // Without any verifier: also invalid_grant. (A new browser, so that sign-in happens again.)
    let code = server.code_for_default_request(&browser()).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
    ];
    let answer = server
        .token_request(
            &http,
            &form,
            Some((server.client_id(), server.client_secret())),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"], "invalid_grant");
}

#[tokio::test]
async fn rfc6749_5_2_wrong_client_secret_is_401_invalid_client_with_a_basic_challenge() {
    let server = TestServer::start().await;
    let http = browser();
    let code = server.code_for_default_request(&http).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", PKCE_VERIFIER),
    ];
    let wrong_secret = "x".repeat(43);
    let answer = server
        .token_request(&http, &form, Some((server.client_id(), &wrong_secret)))
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json["error"], "invalid_client");
    assert!(
        answer
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with("Basic")),
        "{:?}",
        answer.header("www-authenticate")
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"));

    // A confidential client that sends no secret at all is refused the same way.
    let mut no_secret = form.to_vec();
    no_secret.push(("client_id", server.client_id()));
    let answer = server.token_request(&http, &no_secret, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json["error"], "invalid_client");

    // Failed client authentication did not use up the code.
    let answer = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
}

#[tokio::test]
async fn rfc6749_2_3_1_client_secret_post_authentication_works() {
    let server = TestServer::start().await;
    let http = browser();
    // RFC 7591 §2: the method is the client's registered token_endpoint_auth_method.
    let post = server
        .provider
        .register_client(
            oidc_core::NewClient::new("E2E client_secret_post client", [REDIRECT_URI])
                .mfa_required(false)
                .metadata(oidc_core::ClientMetadata {
                    token_endpoint_auth_method: Some(oidc_core::AuthMethod::ClientSecretPost),
                    ..Default::default()
                }),
        )
        .await
        .unwrap();
    let secret = post.client_secret.as_ref().unwrap().secret().to_string();
    let rp = relying_party(&server, &http, &post.client.client_id, Some(&secret))
        .await
        .set_auth_type(AuthType::RequestBody);
    let authorized = authorize(&server, &http, &rp).await;
    let (token, nonce) = exchange(&http, &rp, authorized).await;
    let claims = id_token_of(&token)
        .claims(&rp.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), server.user.subject);
}

#[tokio::test]
async fn rfc6749_2_3_two_client_authentication_methods_at_once_are_refused() {
    let server = TestServer::start().await;
    let http = browser();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "A-code-that-does-not-matter-here-0123456789"),
        ("redirect_uri", REDIRECT_URI),
        ("client_id", server.client_id()),
        ("client_secret", server.client_secret()),
    ];
    let answer = server
        .token_request(
            &http,
            &form,
            Some((server.client_id(), server.client_secret())),
        )
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"], "invalid_request");
}

#[tokio::test]
async fn rfc6749_2_1_public_client_exchanges_a_code_with_auth_method_none() {
    let server = TestServer::start().await;
    let http = browser();
    let public = server
        .provider
        .register_client(
            oidc_core::NewClient::new("E2E public client", [REDIRECT_URI])
                .mfa_required(false)
                .first_party(true)
                .public(true),
        )
        .await
        .unwrap();
    assert!(
        public.client_secret.is_none(),
        "a public client has no secret"
    );
    let client_id = public.client.client_id.clone();

    let rp = relying_party(&server, &http, &client_id, None).await;
    let authorized = authorize(&server, &http, &rp).await;

    // A public client presenting a secret is refused, and the code survives the attempt.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", authorized.code.secret().as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", authorized.verifier.secret().as_str()),
        ("client_id", client_id.as_str()),
        ("client_secret", "made-up"),
    ];
    let answer = server.token_request(&http, &form, None).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json["error"], "invalid_client");

    let (token, nonce) = exchange(&http, &rp, authorized).await;
    let claims = id_token_of(&token)
        .claims(&rp.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), server.user.subject);
    let audiences: Vec<&str> = claims.audiences().iter().map(|a| a.as_str()).collect();
    assert_eq!(audiences, [client_id.as_str()]);
}

#[tokio::test]
async fn rfc6749_4_1_2_expired_code_is_invalid_grant() {
    let server = TestServer::start().await;
    let http = browser();
    let code = server.code_for_default_request(&http).await;
    // The default code lifetime is 60 s.
    server.advance_clock(61);
    let answer = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"], "invalid_grant");
}

#[tokio::test]
async fn rfc6749_5_1_token_responses_are_not_cached() {
    let server = TestServer::start().await;
    let http = browser();
    let code = server.code_for_default_request(&http).await;
    let ok = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    let bad = server.redeem(&http, "no-such-code", PKCE_VERIFIER).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json["error"], "invalid_grant");
    for answer in [&ok, &bad] {
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        assert_eq!(answer.header("pragma"), Some("no-cache"));
        assert!(
            answer
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
        );
    }
    for field in [
        "access_token",
        "id_token",
        "token_type",
        "expires_in",
        "scope",
    ] {
        assert!(
            ok.json.get(field).is_some(),
            "{field} missing from {}",
            ok.json
        );
    }
    assert_eq!(ok.json["token_type"], "Bearer");
    assert!(
        ok.json.get("refresh_token").is_none(),
        "no refresh token is issued"
    );
}

// ---------------------------------------------------------------------------------------------
// Token types are not interchangeable
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rfc9068_4_id_token_is_refused_as_a_bearer_token_at_userinfo() {
    let server = TestServer::start().await;
    let http = browser();
    let (_, token, _) = full_flow(&server, &http).await;
    let answer = server
        .userinfo(&http, &id_token_of(&token).to_string())
        .await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(
        answer
            .header("www-authenticate")
            .is_some_and(|h| h.starts_with(r#"Bearer error="invalid_token""#)),
        "{:?}",
        answer.header("www-authenticate")
    );
    assert_eq!(answer.json["error"], "invalid_token");
    // The access token of the same response works.
    assert_eq!(
        server
            .userinfo(&http, token.access_token().secret())
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn rfc6750_2_userinfo_takes_the_token_by_exactly_one_method() {
    let server = TestServer::start().await;
    let http = browser();
    let code = server.code_for_default_request(&http).await;
    let ok = server.redeem(&http, &code, PKCE_VERIFIER).await;
    let access = ok.json["access_token"].as_str().unwrap().to_string();

    // No token: 401 with a bare challenge (RFC 6750 §3.1).
    let none = JsonAnswer::read(http.get(server.url("/userinfo")).send().await.unwrap()).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));

    // In a form body (§2.2).
    let res = http
        .post(server.url("/userinfo"))
        .form(&[("access_token", access.as_str())])
        .send()
        .await
        .unwrap();
    let body = JsonAnswer::read(res).await;
    assert_eq!(body.status, StatusCode::OK);
    assert_eq!(body.json["sub"], json!(server.user.subject));

    // Header and body at once: invalid_request (§2).
    let res = http
        .post(server.url("/userinfo"))
        .bearer_auth(&access)
        .form(&[("access_token", access.as_str())])
        .send()
        .await
        .unwrap();
    let both = JsonAnswer::read(res).await;
    assert_eq!(both.status, StatusCode::BAD_REQUEST);
    assert_eq!(both.json["error"], "invalid_request");

    // A tampered signature: invalid_token. (Not the last character, which carries padding bits.)
    let at = access.len() - 10;
    let flipped = if &access[at..=at] == "A" { "B" } else { "A" };
    let tampered = format!("{}{flipped}{}", &access[..at], &access[at + 1..]);
    let bad = server.userinfo(&http, &tampered).await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.json["error"], "invalid_token");
}

#[tokio::test]
async fn rfc9068_2_1_access_token_is_refused_as_an_id_token() {
    let server = TestServer::start().await;
    let http = browser();
    let (rp, token, nonce) = full_flow(&server, &http).await;
    let access = token.access_token().secret();
    let as_id: CoreIdToken = access
        .parse()
        .expect("the access token is a well-formed JWT");

    // Refused by the verifier as a client uses it...
    assert!(as_id.claims(&rp.id_token_verifier(), &nonce).is_err());
    // ...and for its type alone: with audience and nonce checks out of the way, typ at+jwt is
    // still refused (signature, issuer and expiry are all fine).
    let lenient = rp.id_token_verifier().require_audience_match(false);
    let any_nonce = |_: Option<&Nonce>| -> Result<(), String> { Ok(()) };
    let err = as_id
        .claims(&lenient, any_nonce)
        .expect_err("typ at+jwt must not pass as an ID token");
    assert!(
        err.to_string().to_lowercase().contains("type"),
        "refused for another reason: {err}"
    );
    // Same verifier, real ID token: accepted, so the refusal above is about the type.
    assert!(id_token_of(&token).claims(&lenient, any_nonce).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Discovery and keys
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn oidc_discovery_4_metadata_advertises_exactly_what_is_supported() {
    let server = TestServer::start().await;
    let http = browser();
    let res = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let m: Value = res.json().await.unwrap();

    assert_eq!(m["issuer"], json!(server.issuer));
    assert_eq!(m["response_types_supported"], json!(["code"]));
    assert_eq!(m["response_modes_supported"], json!(["query", "form_post"]));
    assert_eq!(
        m["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(m["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(m["subject_types_supported"], json!(["public"]));
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "client_secret_jwt",
            "none"
        ])
    );
    assert_eq!(
        m["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    assert_eq!(m["request_parameter_supported"], json!(true));
    assert_eq!(m["request_uri_parameter_supported"], json!(false));
    assert_eq!(m["claims_parameter_supported"], json!(true));
    let algs = m["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(
        algs.contains(&json!("RS256")),
        "OIDC Core §15.1: RS256 is mandatory"
    );
    let scopes = m["scopes_supported"].as_array().unwrap();
    for s in ["openid", "profile", "email", "roles"] {
        assert!(scopes.contains(&json!(s)), "scope {s} not advertised");
    }

    // Every endpoint is under the issuer, at the path the provider serves.
    let endpoints = [
        ("authorization_endpoint", "/authorize"),
        ("token_endpoint", "/token"),
        ("userinfo_endpoint", "/userinfo"),
        ("jwks_uri", "/jwks"),
        ("end_session_endpoint", "/logout"),
        ("revocation_endpoint", "/revoke"),
        ("introspection_endpoint", "/introspect"),
    ];
    for (field, path) in endpoints {
        assert_eq!(m[field], json!(server.url(path)), "{field}");
    }
    for (field, value) in m.as_object().unwrap() {
        if field.ends_with("_endpoint") || field.ends_with("_uri") {
            let url = value.as_str().unwrap_or_default();
            assert!(
                url.starts_with(&format!("{}/", server.issuer)),
                "{field} = {url} is not under the issuer"
            );
        }
    }

    // openidconnect accepts the document (it checks the issuer matches).
    let issuer = IssuerUrl::new(server.issuer.clone()).unwrap();
    let discovered = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("discovery");
    assert_eq!(discovered.issuer().as_str(), server.issuer);
    assert!(!discovered.jwks().keys().is_empty());
}

#[tokio::test]
async fn rfc7517_jwks_every_key_has_a_unique_kid_and_no_private_part() {
    let server = TestServer::start().await;
    let http = browser();
    let res = http.get(server.url("/jwks")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let jwks: Value = res.json().await.unwrap();
    let keys = jwks["keys"].as_array().expect("keys");
    assert!(!keys.is_empty());
    for key in keys {
        assert!(
            key["kid"].as_str().is_some_and(|k| !k.is_empty()),
            "kid missing: {key}"
        );
        assert_eq!(key["use"], "sig", "{key}");
        assert!(key["alg"].is_string(), "alg missing: {key}");
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(
                key.get(private).is_none(),
                "private member {private} published: {key}"
            );
        }
    }
    let mut kids = kids_of(&jwks);
    let n = kids.len();
    kids.sort();
    kids.dedup();
    assert_eq!(kids.len(), n, "kids are unique");
    assert!(
        keys.iter()
            .any(|k| k["alg"] == "RS256" && k["kty"] == "RSA")
    );
}

#[tokio::test]
async fn rfc8252_7_3_loopback_redirect_any_port_only_for_native_public_clients() {
    let server = TestServer::start().await;
    let http = browser();
    // The confidential web client registered http://127.0.0.1:9999/callback: another port is
    // another redirect URI, so an error page and no redirect.
    let mut params = server.authorize_params();
    for p in params.iter_mut().filter(|(k, _)| k == "redirect_uri") {
        p.1 = "http://127.0.0.1:1234/callback".into();
    }
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_page(res, "not registered").await;

    // A native app (public client) listens on whatever port it is given: any port matches.
    let native = server
        .provider
        .register_client(
            oidc_core::NewClient::new("E2E native app", ["http://127.0.0.1/callback"])
                .mfa_required(false)
                .first_party(true)
                .public(true),
        )
        .await
        .unwrap();
    let mut params = server.authorize_params();
    for p in params.iter_mut() {
        match p.0.as_str() {
            "client_id" => p.1 = native.client.client_id.clone(),
            "redirect_uri" => p.1 = "http://127.0.0.1:51234/callback".into(),
            _ => {}
        }
    }
    let location = sign_in(&http, &server.authorize_url(&params)).await;
    assert!(
        location
            .as_str()
            .starts_with("http://127.0.0.1:51234/callback?code="),
        "{location}"
    );
    // Only the port may differ.
    for p in params.iter_mut().filter(|(k, _)| k == "redirect_uri") {
        p.1 = "http://127.0.0.1:51234/other".into();
    }
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_page(res, "not registered").await;
}

#[tokio::test]
async fn session_idle_and_absolute_limits_end_single_sign_on() {
    let server = TestServer::start().await;
    let http = browser();
    server.code_for_default_request(&http).await;
    let mut params = server.authorize_params();
    params.push(("prompt".into(), "none".into()));

    // Used within the idle limit (30 min) the session keeps answering, and each use restarts
    // the idle timer...
    for _ in 0..3 {
        server.advance_clock(25 * 60);
        let res = http
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    }
    // ...but 31 idle minutes end it.
    server.advance_clock(31 * 60);
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));

    // A fresh session used every 20 minutes still ends at the absolute limit (12 h).
    server.code_for_default_request(&http).await;
    let mut answered = Vec::new();
    for _ in 0..(12 * 3) {
        server.advance_clock(20 * 60);
        let res = http
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        answered.push(query_of(&see_other_location(&res)).contains_key("code"));
    }
    // Every use up to 11 h 40 min answered with a code; the one at 12 h did not.
    assert_eq!(
        answered.iter().filter(|ok| **ok).count(),
        35,
        "{answered:?}"
    );
    assert_eq!(answered.last(), Some(&false));
}
