//! CORS (Fetch Standard §3.2) for browser-based clients: discovery and JWKS for any origin; the
//! token, userinfo and revocation endpoints only from the calling client's web origins (the
//! origins of its redirect URIs), preflights from an origin some client has; pages and the other
//! endpoints never.

use crate::common::*;
use oidc_core::NewClient;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, ORIGIN};

/// The browser app's origin and callback (loopback: the test issuer is development).
const SPA_ORIGIN: &str = "http://127.0.0.1:4200";
const SPA_CALLBACK: &str = "http://127.0.0.1:4200/callback";
const OTHER_ORIGIN: &str = "http://127.0.0.1:5300";
const OTHER_CALLBACK: &str = "http://127.0.0.1:5300/cb";

fn h<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A public browser client (PKCE, no secret), first-party and password-only so that the sign-in
/// is short.
async fn spa(server: &TestServer, callback: &str) -> String {
    server
        .provider
        .register_client(
            NewClient::new("Browser app", [callback])
                .public(true)
                .first_party(true)
                .mfa_required(false),
        )
        .await
        .unwrap()
        .client
        .client_id
}

async fn preflight(
    server: &TestServer,
    path: &str,
    origin: &str,
    method: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url(path))
        .header(ORIGIN, origin)
        .header("access-control-request-method", method)
        .header(
            "access-control-request-headers",
            "content-type, authorization",
        )
        .send()
        .await
        .unwrap()
}

/// A code of `client_id` for the seeded user, with the RFC 7636 Appendix B challenge.
async fn code_for(server: &TestServer, client_id: &str, callback: &str) -> String {
    let mut params = server.authorize_params();
    for (k, v) in params.iter_mut() {
        match k.as_str() {
            "client_id" => *v = client_id.to_string(),
            "redirect_uri" => *v = callback.to_string(),
            _ => {}
        }
    }
    let redirect = sign_in(&browser(), &server.authorize_url(&params)).await;
    query_of(&redirect)["code"].clone()
}

async fn token_from(
    server: &TestServer,
    origin: &str,
    client_id: &str,
    callback: &str,
    code: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/token"))
        .header(ORIGIN, origin)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", callback),
            ("client_id", client_id),
            ("code_verifier", PKCE_VERIFIER),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn oidc_discovery_4_discovery_and_jwks_answer_any_origin() {
    let server = TestServer::start().await;
    for path in ["/.well-known/openid-configuration", "/jwks"] {
        let res = reqwest::Client::new()
            .get(server.url(path))
            .header(ORIGIN, "https://anyone.example")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(h(res.headers(), "access-control-allow-origin"), Some("*"));
    }
}

#[tokio::test]
async fn fetch_cors_preflight_is_answered_for_a_registered_web_origin_only() {
    let server = TestServer::start().await;
    spa(&server, SPA_CALLBACK).await;
    for (path, methods) in [
        ("/token", "POST"),
        ("/revoke", "POST"),
        ("/userinfo", "GET, POST"),
    ] {
        let res = preflight(&server, path, SPA_ORIGIN, "POST").await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT, "{path}");
        let hd = res.headers();
        assert_eq!(h(hd, "access-control-allow-origin"), Some(SPA_ORIGIN));
        assert_eq!(h(hd, "access-control-allow-methods"), Some(methods));
        assert_eq!(
            h(hd, "access-control-allow-headers"),
            Some("authorization, content-type")
        );
        assert_eq!(h(hd, "access-control-max-age"), Some("600"));
        assert_eq!(h(hd, "vary"), Some("Origin"));
        assert!(h(hd, "access-control-allow-credentials").is_none());

        // An origin no client has, or a method the endpoint does not take: no CORS headers.
        let res = preflight(&server, path, "https://evil.example", "POST").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(h(res.headers(), "access-control-allow-origin").is_none());
        let res = preflight(&server, path, SPA_ORIGIN, "DELETE").await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(h(res.headers(), "access-control-allow-origin").is_none());
    }
    // Never on pages, the authorization endpoint, introspection, registration or the admin API.
    for path in [
        "/authorize",
        "/introspect",
        "/register",
        "/logout",
        "/admin/api/clients",
        "/signin/x",
    ] {
        let res = preflight(&server, path, SPA_ORIGIN, "POST").await;
        assert!(
            h(res.headers(), "access-control-allow-origin").is_none(),
            "{path} answered CORS"
        );
        let res = reqwest::Client::new()
            .get(server.url(path))
            .header(ORIGIN, SPA_ORIGIN)
            .send()
            .await
            .unwrap();
        assert!(
            h(res.headers(), "access-control-allow-origin").is_none(),
            "{path} answered CORS"
        );
    }
}

#[tokio::test]
async fn fetch_cors_token_userinfo_and_revocation_allow_the_clients_own_origin_only() {
    let server = TestServer::start().await;
    let spa_id = spa(&server, SPA_CALLBACK).await;
    spa(&server, OTHER_CALLBACK).await;

    // From another client's origin the request is refused before it runs: the code survives.
    let code = code_for(&server, &spa_id, SPA_CALLBACK).await;
    let res = token_from(&server, OTHER_ORIGIN, &spa_id, SPA_CALLBACK, &code).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(h(res.headers(), "access-control-allow-origin").is_none());
    let refused = JsonAnswer::read(res).await;
    assert_eq!(refused.json["error"], "invalid_request");

    let res = token_from(&server, SPA_ORIGIN, &spa_id, SPA_CALLBACK, &code).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        h(res.headers(), "access-control-allow-origin"),
        Some(SPA_ORIGIN)
    );
    assert_eq!(h(res.headers(), "vary"), Some("Origin"));
    let tokens = JsonAnswer::read(res).await;
    let access = tokens.json["access_token"].as_str().unwrap().to_string();

    // Userinfo: the token's client decides; the RFC 6750 challenge is readable.
    let ui = |origin: &'static str, token: String| {
        let url = server.url("/userinfo");
        async move {
            reqwest::Client::new()
                .get(url)
                .header(ORIGIN, origin)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
        }
    };
    let res = ui(SPA_ORIGIN, access.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        h(res.headers(), "access-control-allow-origin"),
        Some(SPA_ORIGIN)
    );
    assert_eq!(
        h(res.headers(), "access-control-expose-headers"),
        Some("WWW-Authenticate")
    );
    let res = ui(OTHER_ORIGIN, access.clone()).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(h(res.headers(), "access-control-allow-origin").is_none());
    // A token that names no client gets no CORS headers (the browser keeps the answer).
    let res = ui(SPA_ORIGIN, "not-a-jwt".into()).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(h(res.headers(), "access-control-allow-origin").is_none());

    // Revocation from the client's own origin.
    let res = reqwest::Client::new()
        .post(server.url("/revoke"))
        .header(ORIGIN, OTHER_ORIGIN)
        .form(&[("token", access.as_str()), ("client_id", spa_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = reqwest::Client::new()
        .post(server.url("/revoke"))
        .header(ORIGIN, SPA_ORIGIN)
        .form(&[("token", access.as_str()), ("client_id", spa_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        h(res.headers(), "access-control-allow-origin"),
        Some(SPA_ORIGIN)
    );
    let res = ui(SPA_ORIGIN, access).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "revoked");

    // Requests without Origin (servers) are untouched.
    let res = reqwest::Client::new()
        .post(server.url("/token"))
        .form(&[("grant_type", "authorization_code")])
        .send()
        .await
        .unwrap();
    assert!(h(res.headers(), "access-control-allow-origin").is_none());
    assert_ne!(res.status(), StatusCode::OK);
}
