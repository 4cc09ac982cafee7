//! Security headers on every response (issue 11): the CSP with `frame-ancestors 'none'` and
//! `X-Frame-Options: DENY` (no framing, so no clickjacking), `X-Content-Type-Options: nosniff`,
//! `Referrer-Policy: no-referrer` (codes travel in URLs), `Cache-Control: no-store` on everything
//! that is not a public, cacheable document (token responses, RFC 6749 §5.1; sign-in pages;
//! redirects carrying codes), and HSTS (RFC 6797) when the issuer is https.

use crate::common::*;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode};

const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Every route of `http::router`, unauthenticated (what a stranger gets is what must be safe
/// first), and whether its answer may be cached publicly.
fn routes(server: &TestServer) -> Vec<(Method, String, bool)> {
    let client = server.client_id();
    let mut r: Vec<(Method, String, bool)> = [
        (Method::GET, "/.well-known/openid-configuration", true),
        (Method::GET, "/jwks", true),
        (Method::GET, "/assets/iam.css", true),
        (Method::GET, "/assets/iam.js", true),
        (Method::GET, "/assets/logo.svg", true),
        (Method::GET, "/assets/form_post.js", true),
        (Method::GET, "/authorize", false),
        (Method::POST, "/authorize", false),
        (Method::POST, "/token", false),
        (Method::POST, "/revoke", false),
        (Method::POST, "/introspect", false),
        (Method::POST, "/par", false),
        (Method::GET, "/userinfo", false),
        (Method::POST, "/userinfo", false),
        (Method::POST, "/register", false),
        (Method::GET, "/signin/unknown", false),
        (Method::POST, "/signin/unknown", false),
        (Method::GET, "/activate", false),
        (Method::GET, "/change-password", false),
        (Method::GET, "/forgot-password", false),
        (Method::GET, "/activate-token", false),
        (Method::POST, "/activate-token", false),
        (Method::POST, "/activate-token/confirm", false),
        (Method::GET, "/logout", false),
        (Method::POST, "/logout", false),
        (Method::GET, "/account/apps", false),
        (Method::POST, "/account/apps/withdraw", false),
        (Method::GET, "/admin", false),
        (Method::GET, "/admin/callback", false),
        (Method::POST, "/admin/logout", false),
        (Method::GET, "/admin/users", false),
        (Method::GET, "/admin/users/nakitt", false),
        (Method::POST, "/admin/users/nakitt/disable", false),
        (Method::GET, "/admin/registrations", false),
        (Method::POST, "/admin/registrations", false),
        (Method::POST, "/admin/registrations/x/approve", false),
        (Method::GET, "/admin/audit", false),
        (Method::GET, "/admin/api/me", false),
        (Method::GET, "/admin/api/users", false),
        (Method::POST, "/admin/api/users", false),
        (Method::GET, "/admin/api/clients", false),
        (Method::GET, "/healthz", false),
        (Method::GET, "/readyz", false),
        (Method::GET, "/no/such/page", false),
    ]
    .into_iter()
    .map(|(m, p, public)| (m, p.to_string(), public))
    .collect();
    r.push((Method::GET, format!("/register/{client}"), false));
    r
}

fn check(what: &str, h: &HeaderMap, public: bool, https: bool) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut expect = |name: &str, value: &str| {
        let got = h.get(name).and_then(|v| v.to_str().ok());
        if got != Some(value) {
            wrong.push(format!("{what}: {name} is {got:?}, not {value:?}"));
        }
    };
    expect("content-security-policy", CSP);
    expect("x-content-type-options", "nosniff");
    expect("x-frame-options", "DENY");
    expect("referrer-policy", "no-referrer");
    if !public {
        expect("cache-control", "no-store");
    }
    match (https, h.get("strict-transport-security")) {
        (true, Some(v)) if v == "max-age=31536000" => {}
        (false, None) => {}
        (_, got) => wrong.push(format!("{what}: HSTS {got:?} with https={https}")),
    }
    wrong
}

async fn check_every_route(server: &TestServer, https: bool) {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut wrong = Vec::new();
    for (method, path, public) in routes(server) {
        let res = http
            .request(method.clone(), server.url(&path))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert!(
            !res.status().is_server_error(),
            "{method} {path}: {}",
            res.status()
        );
        wrong.extend(check(
            &format!("{method} {path} ({})", res.status()),
            res.headers(),
            public,
            https,
        ));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_route_sends_the_security_headers_and_no_hsts_under_http() {
    let server = TestServer::start().await;
    check_every_route(&server, false).await;
}

/// The answers that carry secrets: the token response (RFC 6749 §5.1: `Cache-Control: no-store`),
/// the sign-in page, and the redirect carrying the code.
#[tokio::test]
async fn rfc6749_5_1_token_sign_in_and_code_responses_are_never_stored() {
    let server = TestServer::start().await;
    let http = browser();
    let res = http
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(check("authorize", res.headers(), false, false).is_empty());
    let page = open_signin(&http, res).await;
    let res = http.get(page.url.clone()).send().await.unwrap();
    assert!(check("sign-in page", res.headers(), false, false).is_empty());
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(check("code redirect", res.headers(), false, false).is_empty());
    let code = query_of(&see_other_location(&res))["code"].clone();
    let answer = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.header("pragma"), Some("no-cache"));
    assert!(check("token", &answer.headers, false, false).is_empty());
}

/// RFC 6797: an https issuer tells browsers to use nothing else, on every response. The provider
/// is served over plain http to the test (as behind a TLS-terminating proxy).
#[tokio::test]
async fn rfc6797_every_route_sends_hsts_under_an_https_issuer() {
    let mut db = String::new();
    let server = TestServer::start_full(
        |c| c,
        vec![],
        |url| {
            db = url.clone();
            url
        },
    )
    .await;
    // A second replica on the same database whose issuer says https.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = oidc_core::ProviderConfig::builder(format!("https://127.0.0.1:{port}"))
        .build()
        .unwrap();
    let provider = oidc_core::Provider::builder(config, db)
        .build()
        .await
        .unwrap();
    let app = provider.router();
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut wrong = Vec::new();
    for (method, path, public) in routes(&server) {
        let res = http
            .request(method.clone(), format!("http://127.0.0.1:{port}{path}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body("")
            .send()
            .await
            .unwrap();
        assert!(!res.status().is_server_error(), "{method} {path}");
        wrong.extend(check(
            &format!("{method} {path}"),
            res.headers(),
            public,
            true,
        ));
    }
    task.abort();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
