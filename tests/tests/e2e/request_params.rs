//! The authorization request's parameters (OIDC Core §3.1.2.1): `prompt` (select_account),
//! `max_age` and `auth_time`, `login_hint`, `id_token_hint`, `display`, `ui_locales`,
//! `claims_locales`, the `claims` parameter (§5.5), and the response modes (OAuth 2.0 Form Post
//! Response Mode), driven with the openidconnect crate where it has the parameter.

use crate::common::*;
use oidc_core::NewUser;
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClient, CoreProviderMetadata,
};
use openidconnect::{
    ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl,
    LanguageTag, Nonce, PkceCodeChallenge, RedirectUrl, Scope,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

async fn rp(server: &TestServer, http: &reqwest::Client) -> Rp {
    let issuer = IssuerUrl::new(server.issuer.clone()).unwrap();
    let metadata = CoreProviderMetadata::discover_async(issuer, http)
        .await
        .expect("discovery");
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(server.client_id().to_string()),
        Some(ClientSecret::new(server.client_secret().to_string())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_string()).unwrap())
}

/// The seeded client's request with extra parameters (`state=st-123`).
fn params(server: &TestServer, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p = server.authorize_params();
    for (k, v) in extra {
        p.retain(|(n, _)| n != k);
        p.push((k.to_string(), v.to_string()));
    }
    p
}

async fn get(http: &reqwest::Client, url: &str) -> reqwest::Response {
    http.get(url).send().await.unwrap()
}

/// Redeems a code of the seeded client; returns the token response's JSON.
async fn tokens_for(server: &TestServer, http: &reqwest::Client, code: &str) -> Value {
    let t = server.redeem(http, code, PKCE_VERIFIER).await;
    assert_eq!(t.status, StatusCode::OK, "{:?}", t.json);
    t.json
}

fn id_claims(tokens: &Value) -> Value {
    jwt_part(tokens["id_token"].as_str().unwrap(), 1)
}

fn keys_of(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort_unstable();
    k
}

/// A second account, with its own password.
async fn second_user(server: &TestServer) -> oidc_core::User {
    server
        .provider
        .create_user(NewUser {
            username: "bsmith".into(),
            email: "b.smith@example.org".into(),
            name: None,
            roles: vec![],
            password: Some("another horse battery staple".into()),
        })
        .await
        .unwrap()
}

/// Signs `username` in on a fresh browser with the seeded client; returns the browser and the
/// ID token.
async fn id_token_of(
    server: &TestServer,
    username: &str,
    password: &str,
) -> (reqwest::Client, String) {
    let http = browser();
    let res = get(&http, &server.authorize_url(&server.authorize_params())).await;
    let page = open_signin(&http, res).await;
    let res = submit_password(&http, &page, username, password).await;
    let code =
        assert_code_redirect(&see_other_location(&res), server, Some("st-123"))["code"].clone();
    let tokens = tokens_for(server, &http, &code).await;
    (http, tokens["id_token"].as_str().unwrap().to_string())
}

// --- prompt=select_account -------------------------------------------------------------------

async fn select_page(http: &reqwest::Client, res: reqwest::Response) -> (Url, String, String) {
    let url = see_other_location(&res);
    let res = http.get(url.clone()).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains("Choose an account"), "{body}");
    let csrf = csrf_of(&body);
    (url, csrf, body)
}

#[tokio::test]
async fn oidc_core_3_1_2_1_prompt_select_account_shows_the_account_and_continues_with_it() {
    let server = TestServer::start().await;
    let http = browser();
    let rp = rp(&server, &http).await;
    server.code_for_default_request(&http).await;
    let (challenge, _verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_prompt(CoreAuthPrompt::SelectAccount)
        .set_pkce_challenge(challenge)
        .url();
    let res = get(&http, url.as_str()).await;
    let (page, csrf, body) = select_page(&http, res).await;
    assert!(body.contains(&format!("Continue as {USERNAME}")), "{body}");
    assert!(body.contains("Use another account"), "{body}");
    let res = http
        .post(page)
        .form(&[("csrf", csrf.as_str()), ("choice", "continue")])
        .send()
        .await
        .unwrap();
    assert_code_redirect(&see_other_location(&res), &server, Some(state.secret()));
}

#[tokio::test]
async fn oidc_core_3_1_2_1_prompt_select_account_use_another_account_signs_the_other_one_in() {
    let server = TestServer::start().await;
    let other = second_user(&server).await;
    let http = browser();
    server.code_for_default_request(&http).await;
    let res = get(
        &http,
        &server.authorize_url(&params(&server, &[("prompt", "select_account")])),
    )
    .await;
    let (page, csrf, _) = select_page(&http, res).await;
    let res = http
        .post(page.clone())
        .form(&[("csrf", csrf.as_str()), ("choice", "switch")])
        .send()
        .await
        .unwrap();
    assert_eq!(see_other_location(&res), page);
    let body = http
        .get(page.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains(SIGNIN_HEADING), "{body}");
    let signin = SigninPage {
        url: page,
        journey_id: String::new(),
        csrf: csrf_of(&body),
        body,
    };
    let res = submit_password(&http, &signin, "bsmith", "another horse battery staple").await;
    let code =
        assert_code_redirect(&see_other_location(&res), &server, Some("st-123"))["code"].clone();
    let id = id_claims(&tokens_for(&server, &http, &code).await);
    assert_eq!(id["sub"], other.subject);
    // The new sign-in replaced the session: without prompt, the other account answers.
    let code = assert_code_redirect(
        &see_other_location(&get(&http, &server.authorize_url(&server.authorize_params())).await),
        &server,
        Some("st-123"),
    )["code"]
        .clone();
    assert_eq!(
        id_claims(&tokens_for(&server, &http, &code).await)["sub"],
        other.subject
    );
}

#[tokio::test]
async fn oidc_core_3_1_2_6_prompt_none_with_a_login_hint_for_another_account_is_account_selection_required()
 {
    let server = TestServer::start().await;
    let http = browser();
    server.code_for_default_request(&http).await;
    let res = get(
        &http,
        &server.authorize_url(&params(
            &server,
            &[("prompt", "none"), ("login_hint", "bsmith")],
        )),
    )
    .await;
    assert_error_redirect(&res, &server, "account_selection_required", Some("st-123"));
    // The signed-in account as the hint (any case): a code.
    let res = get(
        &http,
        &server.authorize_url(&params(
            &server,
            &[("prompt", "none"), ("login_hint", "NAKITT")],
        )),
    )
    .await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    // Without prompt=none, the person is asked which account to use.
    let res = get(
        &http,
        &server.authorize_url(&params(&server, &[("login_hint", "bsmith")])),
    )
    .await;
    select_page(&http, res).await;
}

// --- max_age, auth_time, login_hint ----------------------------------------------------------

#[tokio::test]
async fn oidc_core_3_1_2_1_max_age_puts_auth_time_in_the_id_token_and_forces_a_new_sign_in_once_exceeded()
 {
    let server = TestServer::start().await;
    let http = browser();
    let rp = rp(&server, &http).await;
    let code = server.code_for_default_request(&http).await;
    let first_auth_time = id_claims(&tokens_for(&server, &http, &code).await)["auth_time"].clone();
    let start = server.now().timestamp();
    assert!(
        first_auth_time
            .as_i64()
            .is_some_and(|t| (t - start).abs() <= 1)
    );

    let with_max_age = |secs: u64| {
        rp.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            || CsrfToken::new("st-123".into()),
            Nonce::new_random,
        )
        .set_max_age(std::time::Duration::from_secs(secs))
        .add_extra_param("code_challenge", PKCE_CHALLENGE)
        .add_extra_param("code_challenge_method", "S256")
        .url()
        .0
    };
    server.advance_clock(120);
    // Within max_age: the session answers, and auth_time is the sign-in's.
    let res = get(&http, with_max_age(300).as_str()).await;
    let code =
        assert_code_redirect(&see_other_location(&res), &server, Some("st-123"))["code"].clone();
    assert_eq!(
        id_claims(&tokens_for(&server, &http, &code).await)["auth_time"],
        first_auth_time
    );
    // Older than max_age: a new sign-in, and a new auth_time.
    let res = get(&http, with_max_age(60).as_str()).await;
    let location = sign_in_from(&http, res).await;
    let code = assert_code_redirect(&location, &server, Some("st-123"))["code"].clone();
    let auth_time = id_claims(&tokens_for(&server, &http, &code).await)["auth_time"]
        .as_i64()
        .unwrap();
    assert!((auth_time - (start + 120)).abs() <= 1, "{auth_time}");
}

#[tokio::test]
async fn oidc_core_3_1_2_1_max_age_0_behaves_like_prompt_login() {
    let server = TestServer::start().await;
    let http = browser();
    server.code_for_default_request(&http).await;
    let res = get(
        &http,
        &server.authorize_url(&params(&server, &[("max_age", "0")])),
    )
    .await;
    open_signin(&http, res).await;
}

#[tokio::test]
async fn oidc_core_3_1_2_1_login_hint_prefills_the_username() {
    let server = TestServer::start().await;
    let http = browser();
    let rp = rp(&server, &http).await;
    let (url, _, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_login_hint(openidconnect::LoginHint::new(USERNAME.into()))
        .add_extra_param("code_challenge", PKCE_CHALLENGE)
        .add_extra_param("code_challenge_method", "S256")
        .url();
    let page = open_signin(&http, get(&http, url.as_str()).await).await;
    assert!(
        page.body.contains(&format!(r#"value="{USERNAME}""#)),
        "{}",
        page.body
    );
}

// --- id_token_hint ---------------------------------------------------------------------------

#[tokio::test]
async fn oidc_core_3_1_2_1_id_token_hint_of_the_signed_in_user_with_prompt_none_gets_a_code() {
    let server = TestServer::start().await;
    let (http, hint) = id_token_of(&server, USERNAME, PASSWORD).await;
    let rp = rp(&server, &http).await;
    let (url, _, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            || CsrfToken::new("st-123".into()),
            Nonce::new_random,
        )
        .add_prompt(CoreAuthPrompt::None)
        .set_id_token_hint(
            &hint
                .parse::<openidconnect::core::CoreIdToken>()
                .expect("an ID token"),
        )
        .add_extra_param("code_challenge", PKCE_CHALLENGE)
        .add_extra_param("code_challenge_method", "S256")
        .url();
    let res = get(&http, url.as_str()).await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
}

#[tokio::test]
async fn oidc_core_3_1_2_1_id_token_hint_of_another_user_with_prompt_none_is_login_required() {
    let server = TestServer::start().await;
    second_user(&server).await;
    let (_, other_hint) = id_token_of(&server, "bsmith", "another horse battery staple").await;
    let (http, _) = id_token_of(&server, USERNAME, PASSWORD).await;
    let res = get(
        &http,
        &server.authorize_url(&params(
            &server,
            &[("prompt", "none"), ("id_token_hint", &other_hint)],
        )),
    )
    .await;
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));
    // Without prompt=none: a sign-in for that account (its username prefilled); signing in as
    // someone else is not a positive answer.
    let res = get(
        &http,
        &server.authorize_url(&params(&server, &[("id_token_hint", &other_hint)])),
    )
    .await;
    let page = open_signin(&http, res).await;
    assert!(page.body.contains(r#"value="bsmith""#), "{}", page.body);
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));
}

#[tokio::test]
async fn oidc_core_3_1_2_1_an_invalid_id_token_hint_is_invalid_request() {
    let server = TestServer::start().await;
    let (http, hint) = id_token_of(&server, USERNAME, PASSWORD).await;
    let res = get(&http, &server.authorize_url(&server.authorize_params())).await;
    let code =
        assert_code_redirect(&see_other_location(&res), &server, Some("st-123"))["code"].clone();
    let access = tokens_for(&server, &http, &code).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut tampered = hint.clone();
    tampered.truncate(hint.len() - 4);
    tampered.push_str("AAAA");
    for bad in ["not-a-jwt", tampered.as_str(), access.as_str()] {
        let res = get(
            &http,
            &server.authorize_url(&params(
                &server,
                &[("prompt", "none"), ("id_token_hint", bad)],
            )),
        )
        .await;
        assert_error_redirect(&res, &server, "invalid_request", Some("st-123"));
    }
}

// --- display, ui_locales, claims_locales -----------------------------------------------------

#[tokio::test]
async fn oidc_core_3_1_2_1_display_ui_locales_and_claims_locales_are_accepted_and_validated() {
    let server = TestServer::start().await;
    let http = browser();
    let rp = rp(&server, &http).await;
    let (url, state, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_display(CoreAuthDisplay::Popup)
        .add_ui_locale(LanguageTag::new("fr-CA".into()))
        .add_ui_locale(LanguageTag::new("en".into()))
        .add_claims_locale(LanguageTag::new("de".into()))
        .add_scope(Scope::new("profile".into()))
        .add_extra_param("code_challenge", PKCE_CHALLENGE)
        .add_extra_param("code_challenge_method", "S256")
        .url();
    let location = sign_in(&http, url.as_str()).await;
    assert_code_redirect(&location, &server, Some(state.secret()));
    for (name, value) in [
        ("display", "fullscreen"),
        ("ui_locales", "fr_CA"),
        ("claims_locales", "en <script>"),
    ] {
        let res = get(
            &http,
            &server.authorize_url(&params(&server, &[(name, value)])),
        )
        .await;
        assert_error_redirect(&res, &server, "invalid_request", Some("st-123"));
    }
}

// --- the claims parameter --------------------------------------------------------------------

#[tokio::test]
async fn oidc_core_5_5_claims_parameter_shapes_the_id_token_and_userinfo() {
    let server = TestServer::start().await;
    let http = browser();
    let claims = json!({
        "id_token": {
            "email": {"essential": true},
            "name": null,
            "phone_number": null,
            "auth_time": {"essential": true}
        },
        "userinfo": {"roles": null, "address": null}
    });
    let url = server.authorize_url(&params(
        &server,
        &[("scope", "openid"), ("claims", &claims.to_string())],
    ));
    let location = sign_in(&http, &url).await;
    let code = assert_code_redirect(&location, &server, Some("st-123"))["code"].clone();
    let tokens = tokens_for(&server, &http, &code).await;
    let id = id_claims(&tokens);
    assert_eq!(id["email"], EMAIL);
    assert_eq!(id["name"], NAME);
    assert!(id["auth_time"].is_i64());
    // Unknown claims are left out; scope claims never go to the ID token unasked.
    assert!(id.get("phone_number").is_none());
    assert!(id.get("preferred_username").is_none() && id.get("roles").is_none());
    let info = server
        .userinfo(&http, tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(keys_of(&info.json), ["roles", "sub"]);
    assert_eq!(info.json["roles"], json!([ROLE]));

    // With scopes too: userinfo has the scopes' claims and the requested ones.
    let url = server.authorize_url(&params(
        &server,
        &[
            ("scope", "openid email"),
            ("claims", r#"{"userinfo":{"preferred_username":null}}"#),
        ],
    ));
    let res = get(&http, &url).await;
    let code =
        assert_code_redirect(&see_other_location(&res), &server, Some("st-123"))["code"].clone();
    let tokens = tokens_for(&server, &http, &code).await;
    let info = server
        .userinfo(&http, tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        keys_of(&info.json),
        ["email", "email_verified", "preferred_username", "sub"]
    );
    assert!(!keys_of(&id_claims(&tokens)).contains(&"email".to_string()));
}

#[tokio::test]
async fn oidc_core_5_5_1_a_sub_value_of_someone_else_gets_no_positive_answer() {
    let server = TestServer::start().await;
    let http = browser();
    server.code_for_default_request(&http).await;
    let claims = r#"{"id_token":{"sub":{"value":"someone-else"}}}"#;
    let res = get(
        &http,
        &server.authorize_url(&params(&server, &[("prompt", "none"), ("claims", claims)])),
    )
    .await;
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));
    let mine = format!(
        r#"{{"id_token":{{"sub":{{"value":"{}"}}}}}}"#,
        server.user.subject
    );
    let res = get(
        &http,
        &server.authorize_url(&params(&server, &[("prompt", "none"), ("claims", &mine)])),
    )
    .await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    let res = get(
        &http,
        &server.authorize_url(&params(&server, &[("claims", r#"{"id_token":"x"}"#)])),
    )
    .await;
    assert_error_redirect(&res, &server, "invalid_request", Some("st-123"));
}

// --- response modes --------------------------------------------------------------------------

/// The decoded value of a hidden field of the form post page.
fn field(body: &str, name: &str) -> Option<String> {
    let mark = format!(r#"name="{name}" value=""#);
    let start = body.find(&mark)? + mark.len();
    let len = body[start..].find('"')?;
    Some(
        body[start..start + len]
            .replace("&#47;", "/")
            .replace("&#x2f;", "/")
            .replace("&#58;", ":")
            .replace("&#38;", "&")
            .replace("&amp;", "&")
            .replace("&#34;", "\"")
            .replace("&#39;", "'"),
    )
}

#[tokio::test]
async fn form_post_response_mode_2_an_auto_submitting_form_carries_code_state_and_iss() {
    let server = TestServer::start().await;
    let http = browser();
    let rp = rp(&server, &http).await;
    let (url, state, _) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_extra_param("response_mode", "form_post")
        .add_extra_param("code_challenge", PKCE_CHALLENGE)
        .add_extra_param("code_challenge_method", "S256")
        .url();
    let res = get(&http, url.as_str()).await;
    let page = open_signin(&http, res).await;
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get("location").is_none());
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("form-action http://127.0.0.1:9999"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = res.text().await.unwrap();
    assert!(
        body.contains(r#"<form id="form-post" method="post" action=""#),
        "{body}"
    );
    assert!(
        body.contains(r#"<button type="submit">Continue</button>"#),
        "works without scripts"
    );
    assert!(
        body.contains(r#"<script src="/assets/form_post.js"></script>"#),
        "{body}"
    );
    assert!(!body.contains("<script>"), "no inline script: {body}");
    assert_eq!(
        field(&body, "state").as_deref(),
        Some(state.secret().as_str())
    );
    assert_eq!(field(&body, "iss"), Some(server.issuer.clone()));
    let code = field(&body, "code").expect("a code");
    assert_eq!(code.len(), 43);
    tokens_for(&server, &http, &code).await;

    let script = get(&http, &server.url("/assets/form_post.js")).await;
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(script.text().await.unwrap().contains("form.submit()"));
    // Other pages keep the provider's policy, which allows no form post elsewhere.
    let other = get(&http, &server.url("/account/apps")).await;
    assert!(
        !other.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("9999")
    );
}

#[tokio::test]
async fn form_post_response_mode_2_errors_after_the_redirect_uri_check_travel_by_form_post() {
    let server = TestServer::start().await;
    let http = browser();
    for extra in [
        vec![("prompt", "none")],
        vec![("response_type", "token")],
        vec![("scope", "profile")],
    ] {
        let mut e = extra.clone();
        e.push(("response_mode", "form_post"));
        let res = get(&http, &server.authorize_url(&params(&server, &e))).await;
        assert_eq!(res.status(), StatusCode::OK, "{extra:?}");
        let body = res.text().await.unwrap();
        let error = field(&body, "error").expect("an error field");
        assert!(
            [
                "login_required",
                "unsupported_response_type",
                "invalid_scope"
            ]
            .contains(&error.as_str()),
            "{error}"
        );
        assert_eq!(field(&body, "state").as_deref(), Some("st-123"));
        assert_eq!(field(&body, "iss"), Some(server.issuer.clone()));
        assert!(field(&body, "code").is_none());
    }
}

#[tokio::test]
async fn oauth_multiple_response_types_2_query_is_explicit_and_fragment_is_refused() {
    let server = TestServer::start().await;
    let http = browser();
    let location = sign_in(
        &http,
        &server.authorize_url(&params(&server, &[("response_mode", "query")])),
    )
    .await;
    assert_code_redirect(&location, &server, Some("st-123"));
    for mode in ["fragment", "query.jwt", "web_message"] {
        let res = get(
            &http,
            &server.authorize_url(&params(&server, &[("response_mode", mode)])),
        )
        .await;
        assert_error_redirect(&res, &server, "invalid_request", Some("st-123"));
    }
}

#[tokio::test]
async fn oidc_discovery_3_advertises_the_request_parameters_supported() {
    let server = TestServer::start().await;
    let m: Value = browser()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(m["claims_parameter_supported"], json!(true));
    assert_eq!(
        m["prompt_values_supported"],
        json!(["none", "login", "consent", "select_account"])
    );
    assert_eq!(m["response_modes_supported"], json!(["query", "form_post"]));
    assert_eq!(
        m["display_values_supported"],
        json!(["page", "popup", "touch", "wap"])
    );
    let claims = m["claims_supported"].as_array().unwrap();
    for c in ["sub", "auth_time", "name", "email", "roles", "acr"] {
        assert!(claims.contains(&json!(c)), "{c}");
    }
}
