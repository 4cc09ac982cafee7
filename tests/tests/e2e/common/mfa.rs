//! Hardware tokens for the tests that need the second factor: one seed for every token given
//! here (RFC 6238 Appendix B's SHA-1 seed), passcodes at the provider's clock, and staff accounts
//! (a role, the common password and a token) with their admin console tokens.

use oidc_core::NewUser;
use oidc_core::mfa::TokenInfo;
use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope,
};

use super::*;

/// The seed of every token [`give_token`] imports (RFC 6238 Appendix B's SHA-1 seed).
pub const SEED: &[u8] = b"12345678901234567890";
/// The tokens' time step, in seconds.
pub const PERIOD: u64 = 30;
/// An admin tool's loopback listener; any port matches the console's registration.
pub const TOOL_REDIRECT: &str = "http://127.0.0.1:47011/callback";

/// Lower-case hex, as seed files carry seeds.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A serial number of `username`'s own (seed files allow letters, digits, '-' and '_').
pub fn serial_for(username: &str) -> String {
    let name: String = username
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("T-{name}")
}

/// Imports a hardware token (`serial,seed_hex`: SHA-1, 6 digits, 30 s) and assigns it to
/// `username`, with a PIN if given.
pub async fn give_token_with(
    server: &TestServer,
    serial: &str,
    seed: &[u8],
    username: &str,
    pin: Option<&str>,
) -> TokenInfo {
    let csv = format!("{serial},{}\n", hex(seed));
    let report = server
        .provider
        .import_tokens(csv.as_bytes(), None, false)
        .await
        .expect("seed file imports");
    assert_eq!(report.imported, [serial]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let info = server
        .provider
        .assign_token(username, serial, pin.map(str::to_string), false)
        .await
        .expect("token assigned");
    assert_eq!(info.state, oidc_core::mfa::TokenState::Assigned);
    assert_eq!(info.has_pin, pin.is_some());
    info
}

/// Gives `username` a hardware token seeded with [`SEED`] (serial [`serial_for`] the username),
/// without a PIN.
pub async fn give_token(server: &TestServer, username: &str) {
    give_token_with(server, &serial_for(username), SEED, username, None).await;
}

/// The tokencode of `seed` for the step `offset` steps from the provider's current one.
pub fn tokencode(server: &TestServer, seed: &[u8], offset: i64) -> String {
    let step = time_step(server.now().timestamp(), PERIOD) + offset;
    totp_at_step(seed, step, 6, OtpAlgorithm::Sha1).expect("TOTP")
}

/// The current passcode of a token given by [`give_token`] (no PIN).
pub fn passcode(server: &TestServer) -> String {
    tokencode(server, SEED, 0)
}

/// Creates an account with `roles`, the common password and a token.
pub async fn create_staff(server: &TestServer, username: &str, name: Option<&str>, roles: &[&str]) {
    server
        .provider
        .create_user(NewUser {
            username: username.into(),
            email: format!("{username}@example.org"),
            name: name.map(str::to_string),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            password: Some(PASSWORD.into()),
        })
        .await
        .unwrap();
    give_token(server, username).await;
}

/// An account with `roles`, the common password, no name and a token.
pub async fn staff(server: &TestServer, username: &str, roles: &[&str]) {
    create_staff(server, username, None, roles).await;
}

/// Signs `username` in through the admin console (password, then passcode) with `scope` and
/// returns the access token from the code exchange.
pub async fn admin_token(server: &TestServer, username: &str, scope: &str) -> String {
    let http = browser();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery");
    let tool = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(oidc_core::ADMIN_CONSOLE_ID.into()),
        None,
    )
    .set_redirect_uri(RedirectUrl::new(TOOL_REDIRECT.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req = tool
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge);
    for s in scope.split(' ').filter(|s| *s != "openid") {
        req = req.add_scope(Scope::new(s.into()));
    }
    let (url, state, _nonce) = req.url();
    server.align_clock(30, 2);
    let page = open_signin(&http, http.get(url.as_str()).send().await.unwrap()).await;
    let res = submit_password(&http, &page, username, PASSWORD).await;
    let next = see_other_location(&res);
    let body = http
        .get(next.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Enter your RSA SecurID passcode."), "{body}");
    let res = http
        .post(next)
        .form(&[
            ("csrf", csrf_of(&body).as_str()),
            ("passcode", &passcode(server)),
        ])
        .send()
        .await
        .unwrap();
    let location = see_other_location(&res);
    assert!(location.as_str().starts_with(TOOL_REDIRECT), "{location}");
    let params = query_of(&location);
    assert_eq!(params["state"], *state.secret());
    let token = tool
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the public admin console exchanges its code with PKCE alone");
    token.access_token().secret().clone()
}

/// Authorize (`client_id`, `prompt=login`), password, passcode: returns the journey URL and the
/// response to the passcode.
pub async fn password_and_passcode(
    http: &reqwest::Client,
    server: &TestServer,
    client_id: &str,
    password: &str,
    passcode: &str,
) -> (url::Url, reqwest::Response) {
    let mut params = server.authorize_params();
    for p in params.iter_mut().filter(|(k, _)| k == "client_id") {
        p.1 = client_id.to_string();
    }
    params.push(("prompt".into(), "login".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let page = open_signin(http, res).await;
    let res = submit_password(http, &page, USERNAME, password).await;
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER);
    let body = http
        .get(page.url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Enter your RSA SecurID passcode."), "{body}");
    let res = http
        .post(page.url.as_str())
        .form(&[("csrf", csrf_of(&body).as_str()), ("passcode", passcode)])
        .send()
        .await
        .unwrap();
    (page.url, res)
}
