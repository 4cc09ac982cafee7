//! The second factor end to end: the SecurID-style TOTP token (RFC 6238) after the password, over
//! HTTP, with the `openidconnect` crate as the relying party where a real client would use it.
//!
//! The provider's clock is the harness's test clock: it stands still unless a test moves it, and
//! every test first moves it a few seconds into a fresh 30-second step, so that a code computed
//! here cannot fall on a step boundary. Codes are computed with the provider's own public
//! `totp_at_step`, whose RFC 6238 vectors are checked by the library's unit tests.

use crate::common::mfa::{PERIOD, SEED, give_token_with as give_token, hex, tokencode as code};
use crate::common::*;
use oidc_core::mfa::{ACR_PASSWORD, ACR_PASSWORD_OTP, TokenInfo, TokenState};
use oidc_core::{NewClient, NewUser};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AuthenticationContextClass, AuthenticationMethodReference, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

/// Another 20-byte seed, for a second token.
const OTHER_SEED: &[u8] = b"abcdefghijklmnopqrst";
const SERIAL: &str = "000123456789";
const OTHER_SERIAL: &str = "000987654321";

/// The passcode page's first sentence, before the masked address.
const VERIFY_INTRO: &str =
    "For security reasons, we require additional information to verify your account (";
const PASSCODE_HINT: &str = "Enter your RSA SecurID passcode.";
/// The one message for every failed attempt when a second factor is required.
const BAD_ANY: &str = "The username, password or passcode is incorrect. Please sign in again.";
const NEXT_TOKENCODE_HEADING: &str = "<h1>Next tokencode</h1>";
const NEXT_TOKENCODE_HINT: &str = "Wait for the tokencode on your token to change, then enter the next tokencode (without your PIN).";
/// `nancy.akitt@example.org` as the passcode page shows it.
const MASKED_EMAIL: &str = "n*****t@e*****";
const DIGITS_ONLY: &str = "A passcode has digits only.";
const TOO_LONG: &str = "That passcode is too long.";
const ACTIVATION_NOT_VALID: &str = "The username or activation code is not valid";

// ---------------------------------------------------------------------------------------------
// Tokens and codes

/// The token `serial` as administrators see it.
async fn token(server: &TestServer, serial: &str) -> TokenInfo {
    server
        .provider
        .list_tokens()
        .await
        .expect("list tokens")
        .into_iter()
        .find(|t| t.serial == serial)
        .unwrap_or_else(|| panic!("no token {serial}"))
}

/// A well-formed tokencode that matches no step near the current one.
fn wrong_code(server: &TestServer, seed: &[u8]) -> String {
    let near: Vec<String> = (-12..=12).map(|o| code(server, seed, o)).collect();
    (0u32..)
        .map(|n| format!("{:06}", (135_791 + n * 7_919) % 1_000_000))
        .find(|c| !near.contains(c))
        .expect("a code outside the window")
}

/// Puts the clock 2 s into a fresh step.
fn align(server: &TestServer) {
    server.align_clock(PERIOD as i64, 2);
}

// ---------------------------------------------------------------------------------------------
// A client that needs the second factor, and the pages of its sign-in

/// A confidential first-party client with the default policy: password and passcode.
struct MfaClient {
    id: String,
    secret: String,
}

async fn mfa_client(server: &TestServer) -> MfaClient {
    let registered = server
        .provider
        .register_client(NewClient::new("MFA app", [REDIRECT_URI]).first_party(true))
        .await
        .expect("register the MFA client");
    assert!(
        registered.client.mfa_required,
        "the default is to require it"
    );
    MfaClient {
        id: registered.client.client_id.clone(),
        secret: registered
            .client_secret
            .expect("a confidential client")
            .secret()
            .to_string(),
    }
}

/// The harness's hand-built request (state st-123, nonce n-456, RFC 7636 challenge) for
/// `client_id`, with `extra` parameters.
fn params_for(
    server: &TestServer,
    client_id: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = server
        .authorize_params()
        .into_iter()
        .map(|(k, v)| {
            if k == "client_id" {
                (k, client_id.to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    params
}

/// Sends the authorization request and loads the sign-in page it leads to.
async fn start(
    http: &reqwest::Client,
    server: &TestServer,
    params: &[(String, String)],
) -> SigninPage {
    let res = http
        .get(server.authorize_url(params))
        .send()
        .await
        .expect("authorization request");
    open_signin(http, res).await
}

/// Checks that `body` is the passcode page of the built-in token with its masked address, and
/// returns the masked address.
fn assert_passcode_page(body: &str) -> String {
    for needle in [
        "<h1>Verify your identity</h1>",
        VERIFY_INTRO,
        PASSCODE_HINT,
        r#"name="passcode""#,
        r#"autocomplete="one-time-code""#,
        r#"inputmode="numeric""#,
        r#"maxlength="16""#,
    ] {
        assert!(
            body.contains(needle),
            "the passcode page lacks {needle:?}:\n{body}"
        );
    }
    assert!(
        !body.contains(SIGNIN_HEADING) && !body.contains(r#"name="password""#),
        "the passcode page asks for the password:\n{body}"
    );
    masked_address(body)
}

/// The masked address in the first sentence of a passcode page.
fn masked_address(body: &str) -> String {
    let start = body.find(VERIFY_INTRO).expect("the passcode sentence") + VERIFY_INTRO.len();
    let len = body[start..].find(')').expect("the sentence closes");
    body[start..start + len].to_string()
}

/// Loads the journey page `url` and returns it with its form token.
async fn load_page(http: &reqwest::Client, url: &Url, journey_id: &str) -> SigninPage {
    let res = http.get(url.clone()).send().await.expect("journey page");
    assert_eq!(res.status(), StatusCode::OK, "journey page status");
    let body = res.text().await.expect("journey page body");
    SigninPage {
        url: url.clone(),
        journey_id: journey_id.to_string(),
        csrf: csrf_of(&body),
        body,
    }
}

/// Submits the password form; the passcode step follows every attempt, right or wrong, with a
/// 303 back to the same journey. Returns the passcode page.
async fn to_passcode_page(
    http: &reqwest::Client,
    page: &SigninPage,
    username: &str,
    password: &str,
) -> SigninPage {
    let res = submit_password(http, page, username, password).await;
    let next = see_other_location(&res);
    assert_eq!(
        next, page.url,
        "after the password the browser goes back to the journey"
    );
    let passcode_page = load_page(http, &next, &page.journey_id).await;
    assert_passcode_page(&passcode_page.body);
    passcode_page
}

/// Submits the passcode form of `page`.
async fn submit_passcode(
    http: &reqwest::Client,
    page: &SigninPage,
    passcode: &str,
) -> reqwest::Response {
    http.post(page.url.clone())
        .form(&[("csrf", page.csrf.as_str()), ("passcode", passcode)])
        .send()
        .await
        .expect("passcode form submission")
}

/// Password then passcode in the journey of `page` (which shows the sign-in form); returns the
/// answer to the passcode.
async fn attempt(
    http: &reqwest::Client,
    page: &SigninPage,
    username: &str,
    password: &str,
    passcode: &str,
) -> reqwest::Response {
    let passcode_page = to_passcode_page(http, page, username, password).await;
    submit_passcode(http, &passcode_page, passcode).await
}

/// Checks the one failure answer: the sign-in form again, 200, the one message, and no redirect.
/// Returns the page (the journey starts over at the password, with the same form token).
async fn assert_failure(res: reqwest::Response, page: &SigninPage) -> SigninPage {
    assert_eq!(res.status(), StatusCode::OK, "a failed attempt is a 200");
    assert!(
        res.headers().get("location").is_none(),
        "a failed attempt does not redirect"
    );
    let body = res.text().await.expect("failure page body");
    assert!(
        body.contains(SIGNIN_HEADING) && body.contains(BAD_ANY),
        "not the failure page:\n{body}"
    );
    assert!(
        !body.contains(NEXT_TOKENCODE_HEADING) && !body.contains(r#"name="passcode""#),
        "the failure page asks for a passcode:\n{body}"
    );
    SigninPage {
        url: page.url.clone(),
        journey_id: page.journey_id.clone(),
        csrf: csrf_of(&body),
        body,
    }
}

/// Checks a successful end of the journey: a 303 to the client with a code, state and iss.
fn assert_signed_in(res: &reqwest::Response, server: &TestServer) -> String {
    let location = see_other_location(res);
    assert_code_redirect(&location, server, Some("st-123"))["code"].clone()
}

/// A new sign-in of `username` for `client_id` with password and passcode, in `http`;
/// `prompt=login` so that an existing session is not reused. Returns the passcode's answer.
async fn new_sign_in(
    http: &reqwest::Client,
    server: &TestServer,
    client_id: &str,
    username: &str,
    passcode: &str,
) -> (SigninPage, reqwest::Response) {
    let page = start(
        http,
        server,
        &params_for(server, client_id, &[("prompt", "login")]),
    )
    .await;
    let res = attempt(http, &page, username, PASSWORD, passcode).await;
    (page, res)
}

/// Redeems a code of the MFA client (client_secret_basic, the harness's PKCE verifier) and
/// returns the ID token's payload.
async fn id_token_claims(
    server: &TestServer,
    http: &reqwest::Client,
    client: &MfaClient,
    code: &str,
) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", PKCE_VERIFIER),
    ];
    let answer = server
        .token_request(http, &form, Some((&client.id, &client.secret)))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    jwt_part(answer.json["id_token"].as_str().expect("id_token"), 1)
}

// ---------------------------------------------------------------------------------------------
// The happy path, with a real relying party

type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[tokio::test]
async fn rfc8176_password_and_totp_sign_in_yields_amr_pwd_otp_mfa_and_the_otp_acr() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();

    let issuer = IssuerUrl::new(server.issuer.clone()).expect("issuer URL");
    let metadata = CoreProviderMetadata::discover_async(issuer, &http)
        .await
        .expect("discovery");
    let advertised: Vec<&str> = metadata
        .acr_values_supported()
        .expect("acr_values_supported")
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert!(advertised.contains(&ACR_PASSWORD_OTP), "{advertised:?}");
    let rp: Rp = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client.id.clone()),
        Some(ClientSecret::new(client.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_string()).expect("redirect URL"));

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();

    align(&server);
    let res = http.get(url.as_str()).send().await.expect("authorize");
    let page = open_signin(&http, res).await;
    let passcode_page = to_passcode_page(&http, &page, USERNAME, PASSWORD).await;
    assert_eq!(masked_address(&passcode_page.body), MASKED_EMAIL);
    // The password alone does not finish the journey: the browser is at the passcode step.
    let res = submit_passcode(&http, &passcode_page, &code(&server, SEED, 0)).await;
    let location = see_other_location(&res);
    let params = assert_code_redirect(&location, &server, Some(state.secret()));

    let response: CoreTokenResponse = rp
        .exchange_code(openidconnect::AuthorizationCode::new(
            params["code"].clone(),
        ))
        .expect("token endpoint known")
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = response.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token verifies (signature, iss, aud, exp, nonce)");
    assert_eq!(claims.subject().as_str(), server.user.subject);
    assert_eq!(
        claims.auth_method_refs(),
        Some(&vec![
            AuthenticationMethodReference::new("pwd".into()),
            AuthenticationMethodReference::new("otp".into()),
            AuthenticationMethodReference::new("mfa".into()),
        ])
    );
    assert_eq!(
        claims.auth_context_ref(),
        Some(&AuthenticationContextClass::new(ACR_PASSWORD_OTP.into()))
    );
    let raw = jwt_part(&id_token.to_string(), 1);
    assert_eq!(raw["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(raw["acr"], ACR_PASSWORD_OTP);

    // A hardware token turns active at its first correct passcode.
    let info = token(&server, SERIAL).await;
    assert_eq!(info.state, TokenState::Active);
    assert_eq!(info.kind, "hardware");
    assert_eq!(info.username.as_deref(), Some(USERNAME));
    assert!(!info.next_tokencode_mode);
}

// ---------------------------------------------------------------------------------------------
// Single use

#[tokio::test]
async fn rfc6238_5_2_a_tokencode_is_accepted_once_per_time_step() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();
    align(&server);
    let first = code(&server, SEED, 0);

    let (_, res) = new_sign_in(&http, &server, &client.id, USERNAME, &first).await;
    assert_signed_in(&res, &server);

    // The same code again, in a new sign-in within the same step: refused.
    let (page, res) = new_sign_in(&http, &server, &client.id, USERNAME, &first).await;
    let page = assert_failure(res, &page).await;
    // So is the previous step's code, although inside the window: it is older than the last
    // accepted one.
    let res = attempt(&http, &page, USERNAME, PASSWORD, &code(&server, SEED, -1)).await;
    let page = assert_failure(res, &page).await;

    // The next step's code is fine, in the same (restarted) journey.
    server.advance_clock(PERIOD as i64);
    let next = code(&server, SEED, 0);
    assert_ne!(next, first);
    let res = attempt(&http, &page, USERNAME, PASSWORD, &next).await;
    assert_signed_in(&res, &server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rfc6238_5_2_one_tokencode_in_two_concurrent_sign_ins_signs_in_exactly_one() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    align(&server);
    let passcode = code(&server, SEED, 0);

    let (alice, mallory) = (browser(), browser());
    let params = params_for(&server, &client.id, &[]);
    let page_a = start(&alice, &server, &params).await;
    let page_b = start(&mallory, &server, &params).await;
    let passcode_a = to_passcode_page(&alice, &page_a, USERNAME, PASSWORD).await;
    let passcode_b = to_passcode_page(&mallory, &page_b, USERNAME, PASSWORD).await;

    let (res_a, res_b) = tokio::join!(
        submit_passcode(&alice, &passcode_a, &passcode),
        submit_passcode(&mallory, &passcode_b, &passcode),
    );
    let (winner, loser, loser_page) = match (res_a.status(), res_b.status()) {
        (StatusCode::SEE_OTHER, StatusCode::OK) => (res_a, res_b, page_b),
        (StatusCode::OK, StatusCode::SEE_OTHER) => (res_b, res_a, page_a),
        (a, b) => panic!("expected exactly one 303 and one 200, got {a} and {b}"),
    };
    assert_signed_in(&winner, &server);
    assert_failure(loser, &loser_page).await;
}

// ---------------------------------------------------------------------------------------------
// Failures

#[tokio::test]
async fn a_wrong_tokencode_fails_and_the_journey_starts_over_at_the_password() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();
    align(&server);

    let page = start(&http, &server, &params_for(&server, &client.id, &[])).await;
    let res = attempt(&http, &page, USERNAME, PASSWORD, &wrong_code(&server, SEED)).await;
    let page = assert_failure(res, &page).await;
    // The failure page names nobody: the username field is empty.
    assert!(page.body.contains(r#"name="username" type="text""#));
    assert!(!page.body.contains(&format!(r#"value="{USERNAME}""#)));

    // Reloading the journey shows the sign-in form, not the passcode page.
    let reloaded = load_page(&http, &page.url, &page.journey_id).await;
    assert!(reloaded.body.contains(SIGNIN_HEADING), "{}", reloaded.body);
    assert!(!reloaded.body.contains(r#"name="passcode""#));
    // A passcode sent to the password step does not skip it: like any attempt without the
    // right password it leads to the passcode page, where even the right code fails.
    let res = submit_passcode(&http, &reloaded, &code(&server, SEED, 0)).await;
    assert_eq!(see_other_location(&res), page.url);
    let skipped = load_page(&http, &page.url, &page.journey_id).await;
    assert_passcode_page(&skipped.body);
    let res = submit_passcode(&http, &skipped, &code(&server, SEED, 0)).await;
    let page = assert_failure(res, &page).await;

    // Both factors again, right this time (neither the wrong code nor the code without a
    // password spent anything).
    let res = attempt(&http, &page, USERNAME, PASSWORD, &code(&server, SEED, 0)).await;
    assert_signed_in(&res, &server);
}

#[tokio::test]
async fn next_tokencode_mode_after_three_failures_asks_for_two_consecutive_codes() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();
    align(&server);

    // Three full attempts with the right password and a wrong passcode.
    let mut page = start(&http, &server, &params_for(&server, &client.id, &[])).await;
    for attempt_no in 1..=3 {
        assert!(
            !token(&server, SERIAL).await.next_tokencode_mode,
            "mode on before attempt {attempt_no}"
        );
        let res = attempt(&http, &page, USERNAME, PASSWORD, &wrong_code(&server, SEED)).await;
        page = assert_failure(res, &page).await;
    }
    assert!(token(&server, SERIAL).await.next_tokencode_mode);

    // With the mode on, a wrong password and the right passcode: the one failure message, never
    // the next-tokencode page (which would tell a stranger the password was wrong)...
    let s0 = code(&server, SEED, 0);
    let res = attempt(&http, &page, USERNAME, "not the right password", &s0).await;
    page = assert_failure(res, &page).await;
    assert!(token(&server, SERIAL).await.next_tokencode_mode);
    // ...and the tokencode typed there is spent.
    let res = attempt(&http, &page, USERNAME, PASSWORD, &s0).await;
    page = assert_failure(res, &page).await;

    // The right password and a fresh passcode: the next-tokencode page.
    server.advance_clock(PERIOD as i64);
    let passcode_page = to_passcode_page(&http, &page, USERNAME, PASSWORD).await;
    let res = submit_passcode(&http, &passcode_page, &code(&server, SEED, 0)).await;
    assert_eq!(
        see_other_location(&res),
        page.url,
        "a challenge, not a code"
    );
    let challenge = load_page(&http, &page.url, &page.journey_id).await;
    for needle in [
        NEXT_TOKENCODE_HEADING,
        NEXT_TOKENCODE_HINT,
        r#"name="passcode""#,
        r#"autocomplete="one-time-code""#,
        r#"maxlength="9""#,
    ] {
        assert!(
            challenge.body.contains(needle),
            "{needle:?} missing:\n{}",
            challenge.body
        );
    }
    assert!(token(&server, SERIAL).await.next_tokencode_mode);

    // The token shows its next code: accepted, and the mode is cleared.
    server.advance_clock(PERIOD as i64);
    let res = submit_passcode(&http, &challenge, &code(&server, SEED, 0)).await;
    let code_value = assert_signed_in(&res, &server);
    let info = token(&server, SERIAL).await;
    assert!(!info.next_tokencode_mode);
    assert_eq!(info.state, TokenState::Active);
    let claims = id_token_claims(&server, &http, &client, &code_value).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], ACR_PASSWORD_OTP);
}

#[tokio::test]
async fn malformed_passcodes_re_render_the_passcode_page_and_count_nothing() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();
    align(&server);

    let page = start(&http, &server, &params_for(&server, &client.id, &[])).await;
    let passcode_page = to_passcode_page(&http, &page, USERNAME, PASSWORD).await;
    for (passcode, message) in [
        ("12ab56", DIGITS_ONLY),
        ("abcdef", DIGITS_ONLY),
        ("12 34 56", DIGITS_ONLY),
        ("12345678901234567", TOO_LONG),
    ] {
        let res = submit_passcode(&http, &passcode_page, passcode).await;
        assert_eq!(res.status(), StatusCode::OK, "{passcode:?}");
        assert!(res.headers().get("location").is_none());
        let body = res.text().await.unwrap();
        assert_passcode_page(&body);
        assert!(
            body.contains(message),
            "{passcode:?}: {message:?} missing:\n{body}"
        );
        assert!(!body.contains(BAD_ANY), "{body}");
    }
    // A forged form token: a 400 with the passcode page, and nothing counted either.
    let forged = SigninPage {
        csrf: "x".repeat(43),
        ..passcode_page.clone()
    };
    let res = submit_passcode(&http, &forged, &wrong_code(&server, SEED)).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body = res.text().await.unwrap();
    assert_passcode_page(&body);
    assert!(body.contains("sent from elsewhere"), "{body}");
    assert!(
        !token(&server, SERIAL).await.next_tokencode_mode,
        "malformed passcodes are not failures"
    );

    // Still at the passcode step of the same journey: the right code finishes it.
    let res = submit_passcode(&http, &passcode_page, &code(&server, SEED, 0)).await;
    assert_signed_in(&res, &server);
}

#[tokio::test]
async fn a_disabled_token_cannot_sign_in() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();
    align(&server);
    let (_, res) = new_sign_in(
        &http,
        &server,
        &client.id,
        USERNAME,
        &code(&server, SEED, 0),
    )
    .await;
    assert_signed_in(&res, &server);

    let info = server
        .provider
        .set_token_state(SERIAL, TokenState::Disabled)
        .await
        .expect("disable");
    assert_eq!(info.state, TokenState::Disabled);

    server.advance_clock(PERIOD as i64);
    let (page, res) = new_sign_in(
        &http,
        &server,
        &client.id,
        USERNAME,
        &code(&server, SEED, 0),
    )
    .await;
    let page = assert_failure(res, &page).await;
    // Nor with the code of any other step.
    let res = attempt(&http, &page, USERNAME, PASSWORD, &code(&server, SEED, 1)).await;
    assert_failure(res, &page).await;
    assert_eq!(token(&server, SERIAL).await.state, TokenState::Disabled);
}

// ---------------------------------------------------------------------------------------------
// Drift and PIN

#[tokio::test]
async fn rfc6238_6_drift_is_remembered_and_the_window_follows_it() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();
    align(&server);

    // A fresh token: the window is the current step ±1, so two steps behind is refused...
    let page = start(&http, &server, &params_for(&server, &client.id, &[])).await;
    let res = attempt(&http, &page, USERNAME, PASSWORD, &code(&server, SEED, -2)).await;
    let page = assert_failure(res, &page).await;
    // ...and one step behind is accepted, remembering a drift of -1.
    let res = attempt(&http, &page, USERNAME, PASSWORD, &code(&server, SEED, -1)).await;
    assert_signed_in(&res, &server);

    // Two steps later the token, still slow, shows the code of two steps behind the provider.
    // The window is now centred one step behind (current-1 ±1), so it is accepted (and is later
    // than the step used before, so the replay guard lets it through).
    server.advance_clock(2 * PERIOD as i64);
    let (_, res) = new_sign_in(
        &http,
        &server,
        &client.id,
        USERNAME,
        &code(&server, SEED, -2),
    )
    .await;
    let code_value = assert_signed_in(&res, &server);
    let claims = id_token_claims(&server, &http, &client, &code_value).await;
    assert_eq!(claims["acr"], ACR_PASSWORD_OTP);

    // At the same instant, a token never used before refuses a code two steps behind, while one
    // step behind works: the difference is the remembered drift.
    server
        .provider
        .create_user(NewUser {
            username: "second".into(),
            email: "second.person@example.org".into(),
            name: None,
            roles: vec![],
            password: Some(PASSWORD.into()),
        })
        .await
        .expect("second account");
    give_token(&server, OTHER_SERIAL, OTHER_SEED, "second", None).await;
    let other = browser();
    let (page, res) = new_sign_in(
        &other,
        &server,
        &client.id,
        "second",
        &code(&server, OTHER_SEED, -2),
    )
    .await;
    let page = assert_failure(res, &page).await;
    let res = attempt(
        &other,
        &page,
        "second",
        PASSWORD,
        &code(&server, OTHER_SEED, -1),
    )
    .await;
    assert_signed_in(&res, &server);
}

#[tokio::test]
async fn a_pin_prefixes_the_tokencode_and_the_tokencode_alone_is_refused() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, Some("2468")).await;
    let http = browser();
    align(&server);
    let tokencode = code(&server, SEED, 0);

    let page = start(&http, &server, &params_for(&server, &client.id, &[])).await;
    let res = attempt(&http, &page, USERNAME, PASSWORD, &tokencode).await;
    let page = assert_failure(res, &page).await;
    let res = attempt(
        &http,
        &page,
        USERNAME,
        PASSWORD,
        &format!("2468{tokencode}"),
    )
    .await;
    assert_signed_in(&res, &server);

    // A wrong PIN with a right tokencode is refused, and spends the tokencode.
    server.advance_clock(PERIOD as i64);
    let tokencode = code(&server, SEED, 0);
    let (page, res) = new_sign_in(
        &http,
        &server,
        &client.id,
        USERNAME,
        &format!("1357{tokencode}"),
    )
    .await;
    let page = assert_failure(res, &page).await;
    let res = attempt(
        &http,
        &page,
        USERNAME,
        PASSWORD,
        &format!("2468{tokencode}"),
    )
    .await;
    let page = assert_failure(res, &page).await;
    server.advance_clock(PERIOD as i64);
    let res = attempt(
        &http,
        &page,
        USERNAME,
        PASSWORD,
        &format!("2468{}", code(&server, SEED, 0)),
    )
    .await;
    assert_signed_in(&res, &server);
}

// ---------------------------------------------------------------------------------------------
// What the passcode page tells a stranger

/// Masks what legitimately differs between two passcode pages.
fn normalise(page: &SigninPage) -> String {
    page.body
        .replace(&page.journey_id, "JOURNEY")
        .replace(&page.csrf, "CSRF")
        .replace(&masked_address(&page.body), "MASKED")
}

fn has_mask_shape(masked: &str) -> bool {
    let chars: Vec<char> = masked.chars().collect();
    let shown = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    chars.len() == 14
        && shown(chars[0])
        && chars[1..6].iter().all(|c| *c == '*')
        && shown(chars[6])
        && chars[7] == '@'
        && shown(chars[8])
        && chars[9..].iter().all(|c| *c == '*')
}

#[tokio::test]
async fn oidc_core_3_1_2_3_unknown_user_gets_the_same_passcode_page_as_a_real_one() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();
    let params = params_for(&server, &client.id, &[]);

    let page = start(&http, &server, &params).await;
    let real_right = to_passcode_page(&http, &page, USERNAME, PASSWORD).await;
    let page = start(&http, &server, &params).await;
    let real_wrong = to_passcode_page(&http, &page, USERNAME, "not the right password").await;
    let page = start(&http, &server, &params).await;
    let unknown = to_passcode_page(&http, &page, "nobody-by-this-name", "a password").await;
    // The same unknown name in another browser, another journey.
    let elsewhere = browser();
    let page = start(&elsewhere, &server, &params).await;
    let unknown_again =
        to_passcode_page(&elsewhere, &page, "nobody-by-this-name", "another password").await;

    assert_eq!(masked_address(&real_right.body), MASKED_EMAIL);
    assert_eq!(masked_address(&real_wrong.body), MASKED_EMAIL);
    let fake = masked_address(&unknown.body);
    assert!(has_mask_shape(MASKED_EMAIL));
    assert!(
        has_mask_shape(&fake),
        "{fake:?} does not look like an address"
    );
    assert_eq!(
        masked_address(&unknown_again.body),
        fake,
        "the made-up address is stable for the name"
    );

    let expected = normalise(&real_right);
    for (what, page) in [
        ("real user, wrong password", &real_wrong),
        ("unknown user", &unknown),
        ("unknown user again", &unknown_again),
    ] {
        assert_eq!(normalise(page), expected, "{what}: the pages differ");
    }
}

// ---------------------------------------------------------------------------------------------
// acr requests and sessions

#[tokio::test]
async fn oidc_core_5_5_1_1_an_essential_acr_that_cannot_be_met_is_unmet_authentication_requirements()
 {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();

    let unknown = r#"{"id_token":{"acr":{"essential":true,"values":["urn:example:loa:4"]}}}"#;
    // A client that requires the passcode cannot be given a password-only sign-in either.
    let password_only =
        format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{ACR_PASSWORD}"]}}}}}}"#);
    for (client_id, claims) in [
        (client.id.as_str(), unknown),
        (server.client_id(), unknown),
        (client.id.as_str(), password_only.as_str()),
    ] {
        let res = http
            .get(server.authorize_url(&params_for(&server, client_id, &[("claims", claims)])))
            .send()
            .await
            .unwrap();
        assert_error_redirect(
            &res,
            &server,
            "unmet_authentication_requirements",
            Some("st-123"),
        );
    }

    // The password-only client asking for the passcode as essential gets the passcode step.
    let claims =
        format!(r#"{{"id_token":{{"acr":{{"essential":true,"values":["{ACR_PASSWORD_OTP}"]}}}}}}"#);
    align(&server);
    let page = start(
        &http,
        &server,
        &params_for(&server, server.client_id(), &[("claims", &claims)]),
    )
    .await;
    let res = attempt(&http, &page, USERNAME, PASSWORD, &code(&server, SEED, 0)).await;
    let code_value = assert_signed_in(&res, &server);
    let answer = server.redeem(&http, &code_value, PKCE_VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    let id = jwt_part(answer.json["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["acr"], ACR_PASSWORD_OTP);
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
}

#[tokio::test]
async fn oidc_core_3_1_2_1_a_password_only_session_does_not_satisfy_a_client_that_needs_mfa() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();

    // The password-only client: no passcode step, acr password, amr pwd.
    let code_value = server.code_for_default_request(&http).await;
    let answer = server.redeem(&http, &code_value, PKCE_VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    let id = jwt_part(answer.json["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["acr"], ACR_PASSWORD);
    assert_eq!(id["amr"], json!(["pwd"]));

    // That session answers its own client silently...
    let res = http
        .get(server.authorize_url(&params_for(
            &server,
            server.client_id(),
            &[("prompt", "none")],
        )))
        .send()
        .await
        .unwrap();
    assert_signed_in(&res, &server);
    // ...but not the MFA client: prompt=none is login_required...
    let res = http
        .get(server.authorize_url(&params_for(&server, &client.id, &[("prompt", "none")])))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));
    // ...and without prompt the person signs in again, with both factors.
    align(&server);
    let page = start(&http, &server, &params_for(&server, &client.id, &[])).await;
    let res = attempt(&http, &page, USERNAME, PASSWORD, &code(&server, SEED, 0)).await;
    let code_value = assert_signed_in(&res, &server);
    let claims = id_token_claims(&server, &http, &client, &code_value).await;
    assert_eq!(claims["acr"], ACR_PASSWORD_OTP);
    assert_ne!(
        claims["sid"], id["sid"],
        "the stronger sign-in is a new session"
    );
}

// ---------------------------------------------------------------------------------------------
// Soft tokens

/// A field of the activation pages (`name="…" value="…"`).
fn hidden_value(body: &str, name: &str) -> Option<String> {
    let mark = format!(r#"name="{name}" value=""#);
    let start = body.find(&mark)? + mark.len();
    let len = body[start..].find('"')?;
    Some(body[start..start + len].to_string())
}

#[tokio::test]
async fn soft_token_is_activated_through_the_pages_and_then_signs_in() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    let enrolment = server
        .provider
        .add_soft_token(USERNAME, None, false)
        .await
        .expect("soft token");
    let seed = data_encoding::BASE32_NOPAD
        .decode(enrolment.secret_base32.secret().as_bytes())
        .expect("base32 seed");
    assert!(
        enrolment
            .otpauth_uri
            .secret()
            .contains(&format!("secret={}", enrolment.secret_base32.secret())),
        "the otpauth URI carries the seed"
    );
    let info = token(&server, &enrolment.serial).await;
    assert_eq!(
        (info.kind.as_str(), info.state),
        ("soft", TokenState::Assigned)
    );
    let http = browser();
    align(&server);

    // Before activation the soft token's codes do not sign in.
    let (page, res) = new_sign_in(
        &http,
        &server,
        &client.id,
        USERNAME,
        &code(&server, &seed, 0),
    )
    .await;
    assert_failure(res, &page).await;

    // The activation form.
    let act = browser();
    let res = act.get(server.url("/activate-token")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    for field in [
        r#"name="csrf""#,
        r#"name="username""#,
        r#"name="activation_code""#,
    ] {
        assert!(body.contains(field), "{field} missing:\n{body}");
    }
    let csrf = csrf_of(&body);
    let post = |form: Vec<(&'static str, String)>, path: &'static str| {
        let act = act.clone();
        let url = server.url(path);
        async move {
            let res = act.post(url).form(&form).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }
    };
    let activation_code = enrolment.activation_code.secret().to_string();

    // A wrong activation code, and an unknown username: the same page, telling nothing more.
    let (status, wrong_code_page) = post(
        vec![
            ("csrf", csrf.clone()),
            ("username", USERNAME.into()),
            ("activation_code", "0000-0000-0001".into()),
        ],
        "/activate-token",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, unknown_user_page) = post(
        vec![
            ("csrf", csrf.clone()),
            ("username", "nobody-by-this-name".into()),
            ("activation_code", activation_code.clone()),
        ],
        "/activate-token",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    for body in [&wrong_code_page, &unknown_user_page] {
        assert!(body.contains(ACTIVATION_NOT_VALID), "{body}");
        assert!(body.contains("<h1>Activate your soft token</h1>"), "{body}");
        assert!(!body.contains("<svg"), "{body}");
        assert!(!body.contains(&enrolment.serial), "{body}");
        assert!(!body.contains(enrolment.secret_base32.secret()), "{body}");
        assert!(!body.contains("otpauth"), "{body}");
    }
    assert_eq!(
        wrong_code_page.replace(&format!(r#"value="{USERNAME}""#), r#"value="U""#),
        unknown_user_page.replace(r#"value="nobody-by-this-name""#, r#"value="U""#),
        "a wrong code and an unknown user must look the same"
    );

    // The right code: the QR code and the key, and a form for the first code.
    let activate_form = vec![
        ("csrf", csrf.clone()),
        ("username", USERNAME.to_string()),
        ("activation_code", activation_code.clone()),
    ];
    let (status, qr_page) = post(activate_form.clone(), "/activate-token").await;
    assert_eq!(status, StatusCode::OK);
    assert!(qr_page.contains("<svg"), "{qr_page}");
    assert!(
        qr_page.contains(enrolment.secret_base32.secret()),
        "{qr_page}"
    );
    assert!(qr_page.contains(&enrolment.serial), "{qr_page}");
    assert_eq!(csrf_of(&qr_page), csrf);
    assert_eq!(
        hidden_value(&qr_page, "username").as_deref(),
        Some(USERNAME)
    );
    assert_eq!(
        hidden_value(&qr_page, "activation_code").as_deref(),
        Some(activation_code.as_str())
    );
    assert!(qr_page.contains(r#"name="code""#), "{qr_page}");
    let confirm = |code: String| {
        let mut form = activate_form.clone();
        form.push(("code", code));
        post(form, "/activate-token/confirm")
    };

    // A wrong first code: the QR page again; the right one: active.
    let (status, body) = confirm(wrong_code(&server, &seed)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("That code is not right."), "{body}");
    assert!(body.contains("<svg"), "{body}");
    assert_eq!(
        token(&server, &enrolment.serial).await.state,
        TokenState::Assigned
    );
    let (status, body) = confirm(code(&server, &seed, 0)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Your token is active"), "{body}");
    assert_eq!(
        token(&server, &enrolment.serial).await.state,
        TokenState::Active
    );

    // The activation code was single use.
    let (status, body) = post(activate_form.clone(), "/activate-token").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(ACTIVATION_NOT_VALID), "{body}");
    assert!(!body.contains("<svg"), "{body}");

    // The code used to activate is spent; the next one signs in.
    let (page, res) = new_sign_in(
        &http,
        &server,
        &client.id,
        USERNAME,
        &code(&server, &seed, 0),
    )
    .await;
    let page = assert_failure(res, &page).await;
    server.advance_clock(PERIOD as i64);
    let res = attempt(&http, &page, USERNAME, PASSWORD, &code(&server, &seed, 0)).await;
    let code_value = assert_signed_in(&res, &server);
    let claims = id_token_claims(&server, &http, &client, &code_value).await;
    assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], ACR_PASSWORD_OTP);
}

// ---------------------------------------------------------------------------------------------
// Seed files

#[tokio::test]
async fn seed_file_with_bad_rows_imports_nothing_unless_partial() {
    let server = TestServer::start().await;
    let short_seed = "00112233445566778899aabbccddee"; // 15 bytes: below RFC 4226's 128 bits
    let csv = format!(
        "serial,seed\nHW-1,{}\nHW-2,not-hex-at-all\nHW-3,{}\nHW-4,{short_seed}\n",
        hex(SEED),
        hex(OTHER_SEED)
    );

    let err = server
        .provider
        .import_tokens(csv.as_bytes(), None, false)
        .await
        .expect_err("bad rows refuse the file");
    let message = err.to_string();
    assert!(matches!(err, oidc_core::Error::InvalidInput(_)), "{err:?}");
    for line in ["line 3", "line 5"] {
        assert!(message.contains(line), "{line} missing: {message}");
    }
    for line in ["line 1:", "line 2:", "line 4:"] {
        assert!(!message.contains(line), "{line} reported: {message}");
    }
    assert!(!message.contains(short_seed), "a seed quoted: {message}");
    assert!(!message.contains(&hex(SEED)), "a seed quoted: {message}");
    assert!(
        server.provider.list_tokens().await.unwrap().is_empty(),
        "nothing imported"
    );

    let report = server
        .provider
        .import_tokens(csv.as_bytes(), None, true)
        .await
        .expect("partial import");
    assert_eq!(report.imported, ["HW-1", "HW-3"]);
    let lines: Vec<usize> = report.errors.iter().map(|(l, _)| *l).collect();
    assert_eq!(lines, [3, 5], "{:?}", report.errors);
    let tokens = server.provider.list_tokens().await.unwrap();
    let serials: Vec<&str> = tokens.iter().map(|t| t.serial.as_str()).collect();
    assert_eq!(serials, ["HW-1", "HW-3"]);
    for t in &tokens {
        assert_eq!(t.state, TokenState::Unassigned);
        assert_eq!(t.kind, "hardware");
        assert_eq!((t.algorithm.as_str(), t.digits, t.period), ("SHA1", 6, 30));
        assert_eq!(t.username, None);
    }

    // The imported seed is the one in the file: HW-1 signs in with RFC 6238's seed.
    server
        .provider
        .assign_token(USERNAME, "HW-1", None, false)
        .await
        .expect("assign");
    let client = mfa_client(&server).await;
    let http = browser();
    align(&server);
    let (_, res) = new_sign_in(
        &http,
        &server,
        &client.id,
        USERNAME,
        &code(&server, SEED, 0),
    )
    .await;
    assert_signed_in(&res, &server);
}

#[tokio::test]
async fn soft_token_activation_code_expires() {
    let server = TestServer::start().await;
    let enrolment = server
        .provider
        .add_soft_token(USERNAME, None, false)
        .await
        .expect("soft token");
    assert_eq!(
        enrolment.activation_expires_at,
        server.now() + chrono::Duration::days(7),
        "the default activation lifetime is a week"
    );
    server.advance_clock(7 * 86_400 + 1);
    let act = browser();
    let res = act.get(server.url("/activate-token")).send().await.unwrap();
    let csrf = csrf_of(&res.text().await.unwrap());
    let res = act
        .post(server.url("/activate-token"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("username", USERNAME),
            ("activation_code", enrolment.activation_code.secret()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(body.contains(ACTIVATION_NOT_VALID), "{body}");
    assert!(!body.contains("<svg"), "{body}");
    assert!(!body.contains(enrolment.secret_base32.secret()), "{body}");
    assert_eq!(
        token(&server, &enrolment.serial).await.state,
        TokenState::Assigned
    );
}

// ---------------------------------------------------------------------------------------------
// Weaknesses found while writing these tests, now fixed; the tests keep them fixed.

/// A real account's masked address must use only characters a made-up one can have: an address
/// such as `JSmith7@Example.org` once showed as `J*****7@E*****`, which no unknown username could
/// produce, so the passcode page told a stranger, before any password, that the username exists.
#[tokio::test]
async fn oidc_core_3_1_2_3_a_real_accounts_masked_address_could_belong_to_an_unknown_one() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    server
        .provider
        .create_user(NewUser {
            username: "jsmith".into(),
            email: "JSmith7@Example.org".into(),
            name: None,
            roles: vec![],
            password: Some(PASSWORD.into()),
        })
        .await
        .expect("account");
    let http = browser();
    let params = params_for(&server, &client.id, &[]);

    let page = start(&http, &server, &params).await;
    let unknown = to_passcode_page(&http, &page, "nobody-by-this-name", "a password").await;
    let fake = masked_address(&unknown.body);
    assert!(has_mask_shape(&fake), "{fake:?}");

    let page = start(&http, &server, &params).await;
    let real = to_passcode_page(&http, &page, "jsmith", "a wrong password").await;
    let masked = masked_address(&real.body);
    assert!(
        has_mask_shape(&masked),
        "a real account shows {masked:?}, with characters no unknown username's address (such \
         as {fake:?}) can have"
    );
}

/// With a PIN, the passcode step checks the PIN (an Argon2 hash) only when the password was
/// right (`TokenStore::verify_passcode`); after a wrong password it only spends the tokencode
/// (`TokenStore::spend`), without any hash. The answer to a PIN-length passcode is then about
/// ten times slower when the password was right, which tells a stranger what the passcode page
/// is there to hide: whether the password was right.
#[tokio::test]
async fn passcode_answer_takes_as_long_after_a_wrong_password_as_after_a_right_one() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, Some("2468")).await;
    let http = browser();
    align(&server);
    let params = params_for(&server, &client.id, &[]);
    // PIN and tokencode both wrong. Four rounds of two attempts: eight failures, below the
    // lockout threshold of ten.
    let passcode = format!("1357{}", wrong_code(&server, SEED));
    let (mut right, mut wrong) = (Vec::new(), Vec::new());
    for _ in 0..4 {
        for (password, times) in [(PASSWORD, &mut right), ("not the password", &mut wrong)] {
            let page = start(&http, &server, &params).await;
            let passcode_page = to_passcode_page(&http, &page, USERNAME, password).await;
            let started = std::time::Instant::now();
            let res = submit_passcode(&http, &passcode_page, &passcode).await;
            times.push(started.elapsed());
            assert_failure(res, &page).await;
        }
    }
    let median = |v: &mut Vec<std::time::Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (right, wrong) = (median(&mut right), median(&mut wrong));
    assert!(
        right <= wrong * 2 + std::time::Duration::from_millis(10),
        "after the right password the passcode answer took {right:?}, after a wrong one {wrong:?}"
    );
}

/// A double submit of the right passcode in one journey (a double click): exactly one submit is
/// verified and signs in; the other carries a form of the same state, verifies nothing and is
/// sent back to the journey. (Once, the rejected twin restarted the journey and could make the
/// accepted one lose its save: nobody was signed in and the tokencode was spent.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_double_submitted_right_passcode_still_signs_in() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();
    align(&server);
    for round in 1..=30 {
        let params = params_for(&server, &client.id, &[("prompt", "login")]);
        let page = start(&http, &server, &params).await;
        let passcode_page = to_passcode_page(&http, &page, USERNAME, PASSWORD).await;
        let passcode = code(&server, SEED, 0);
        let (a, b) = tokio::join!(
            submit_passcode(&http, &passcode_page, &passcode),
            submit_passcode(&http, &passcode_page, &passcode),
        );
        let signed_in = [&a, &b]
            .iter()
            .filter(|r| {
                r.status() == StatusCode::SEE_OTHER
                    && r.headers()
                        .get("location")
                        .and_then(|l| l.to_str().ok())
                        .is_some_and(|l| l.starts_with(REDIRECT_URI) && l.contains("code="))
            })
            .count();
        assert_eq!(
            signed_in,
            1,
            "round {round}: answers {} ({:?}) and {} ({:?})",
            a.status(),
            a.headers().get("location"),
            b.status(),
            b.headers().get("location")
        );
        server.advance_clock(PERIOD as i64);
    }
}

/// Failed passwords and failed passcodes both count against the (account, address) pair: after
/// five, that address is refused for a second, even with the right password and passcode, and
/// with the same answer as any failure. Nothing is locked: once the block is over they sign in,
/// and the success clears the count. (Throttling in full: `tests/throttle.rs`.)
#[tokio::test]
async fn five_failures_slow_the_address_down_with_the_same_answer_and_a_success_clears_them() {
    let server = TestServer::start().await;
    let client = mfa_client(&server).await;
    give_token(&server, SERIAL, SEED, USERNAME, None).await;
    let http = browser();
    align(&server);
    let params = params_for(&server, &client.id, &[("prompt", "login")]);
    // Four wrong passwords, then the right password with a wrong passcode (fewer than three
    // passcode failures, so the token stays out of next-tokencode mode).
    for _ in 0..4 {
        let page = start(&http, &server, &params).await;
        let res = attempt(&http, &page, USERNAME, "not the password", "000000").await;
        assert_failure(res, &page).await;
    }
    let page = start(&http, &server, &params).await;
    let res = attempt(&http, &page, USERNAME, PASSWORD, &wrong_code(&server, SEED)).await;
    assert_failure(res, &page).await;
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 5);

    // Blocked: the right password and passcode get the one failure answer, and count nothing.
    let (page, res) = new_sign_in(
        &http,
        &server,
        &client.id,
        USERNAME,
        &code(&server, SEED, 0),
    )
    .await;
    assert_failure(res, &page).await;
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 5);

    // A step later (the refused attempt spent that step's tokencode) the block is long over.
    server.advance_clock(PERIOD as i64);
    let (_, res) = new_sign_in(
        &http,
        &server,
        &client.id,
        USERNAME,
        &code(&server, SEED, 0),
    )
    .await;
    assert_signed_in(&res, &server);
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 0);
}
