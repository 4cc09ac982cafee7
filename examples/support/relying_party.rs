//! The examples' tests sign in through them as a real relying party would: discovery, an
//! authorization request with PKCE S256, state and nonce (the `openidconnect` crate), the
//! provider's sign-in pages (a cookie-keeping HTTP client standing in for the browser), the code
//! exchange, ID token verification and userinfo. Shared by `examples/*/tests` with `#[path]`.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

/// The relying party's registration at the provider.
pub struct Rp<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub redirect_uri: &'a str,
    pub scopes: &'a [&'a str],
}

/// What the relying party knows after a sign-in.
#[derive(Debug)]
pub struct SignedIn {
    /// The verified ID token's payload.
    pub id_token: Value,
    /// The userinfo response.
    pub userinfo: Value,
}

pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn see_other(res: &reqwest::Response) -> Url {
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "expected a 303 from {}",
        res.url()
    );
    let location = res.headers()["location"].to_str().unwrap();
    res.url().join(location).unwrap()
}

fn csrf_of(page: &str) -> String {
    const MARK: &str = r#"name="csrf" value=""#;
    let start = page
        .find(MARK)
        .unwrap_or_else(|| panic!("no csrf in {page}"))
        + MARK.len();
    page[start..].split('"').next().unwrap().to_string()
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Signs `username` in with `password` and, when the provider asks for one, the passcode that
/// `passcode` gives for the passcode page's HTML.
pub async fn sign_in(
    rp: &Rp<'_>,
    username: &str,
    password: &str,
    passcode: impl AsyncFnOnce(&str) -> String,
) -> SignedIn {
    let http = browser();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(rp.issuer.into()).unwrap(), &http)
            .await
            .expect("discovery");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.client_id.into()),
        Some(ClientSecret::new(rp.client_secret.into())),
    )
    .set_redirect_uri(RedirectUrl::new(rp.redirect_uri.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client.authorize_url(
        CoreAuthenticationFlow::AuthorizationCode,
        CsrfToken::new_random,
        Nonce::new_random,
    );
    for s in rp.scopes {
        request = request.add_scope(Scope::new(s.to_string()));
    }
    let (url, state, nonce) = request.set_pkce_challenge(challenge).url();

    // The browser: the authorization request, the sign-in page, the password.
    let res = http.get(url).send().await.unwrap();
    let signin = see_other(&res);
    let page = http
        .get(signin.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = http
        .post(signin)
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let mut next = see_other(&res);
    if !next.as_str().starts_with(rp.redirect_uri) {
        // The passcode page.
        let page = http
            .get(next.clone())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let code = passcode(&page).await;
        let res = http
            .post(next)
            .form(&[
                ("csrf", csrf_of(&page).as_str()),
                ("passcode", code.as_str()),
            ])
            .send()
            .await
            .unwrap();
        if res.status() != StatusCode::SEE_OTHER {
            panic!("the passcode was refused: {}", res.text().await.unwrap());
        }
        next = see_other(&res);
    }
    assert!(
        next.as_str().starts_with(rp.redirect_uri),
        "back at the client: {next}"
    );
    let params: std::collections::HashMap<_, _> = next.query_pairs().into_owned().collect();
    assert_eq!(params.get("state"), Some(state.secret()));
    assert_eq!(params.get("iss").map(String::as_str), Some(rp.issuer));

    // The relying party: code exchange, ID token checks, userinfo.
    let token = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = token.id_token().expect("an ID token");
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .expect("the ID token verifies");
    let userinfo: Value = http
        .get(format!("{}/userinfo", rp.issuer))
        .bearer_auth(token.access_token().secret())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["sub"], claims.subject().as_str());
    SignedIn {
        id_token: payload(&id_token.to_string()),
        userinfo,
    }
}

/// For a sign-in that must not ask for a passcode.
pub async fn no_passcode(page: &str) -> String {
    panic!("the provider asked for a passcode: {page}")
}
