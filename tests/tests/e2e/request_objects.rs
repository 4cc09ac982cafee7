//! Signed request objects by value (RFC 9101, OpenID Connect Core §6.1) at the authorization
//! endpoint and at the PAR endpoint (RFC 9126 §3). The `openidconnect` crate cannot make request
//! objects, so they are signed here with josekit (RS256, ES256); the crate redeems the codes and
//! checks the ID tokens.

use std::sync::{Arc, Mutex};

use crate::common::jose::{self, Key, ec_key, jwks, rsa_key};
use crate::common::*;
use base64::Engine;
use josekit::jws::JwsSigner;
use oidc_core::{ClientMetadata, NewClient};
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeVerifier, RedirectUrl, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `claims` as a request object (`typ` oauth-authz-req+jwt).
fn sign_with(signer: &dyn JwsSigner, kid: Option<&str>, claims: &Value) -> String {
    jose::sign(signer, jose::TYP_REQUEST_OBJECT, kid, claims)
}

fn rs256(key: &Key, claims: &Value) -> String {
    jose::rs256(key, jose::TYP_REQUEST_OBJECT, claims)
}

fn es256(key: &Key, claims: &Value) -> String {
    jose::es256(key, jose::TYP_REQUEST_OBJECT, claims)
}

/// A confidential client (client_secret_basic, redirect URI [`REDIRECT_URI`]) whose keys are
/// registered by value (`jwks`) or at a `jwks_uri`.
struct Rp {
    id: String,
    secret: String,
}

async fn client_with(server: &TestServer, metadata: ClientMetadata) -> Rp {
    let c = server
        .provider
        .register_client(
            NewClient::new("Request object client", [REDIRECT_URI])
                .mfa_required(false)
                .metadata(metadata),
        )
        .await
        .unwrap();
    Rp {
        id: c.client.client_id.clone(),
        secret: c.client_secret.as_ref().unwrap().secret().to_string(),
    }
}

async fn client_with_keys(server: &TestServer, keys: &[&Key]) -> Rp {
    client_with(
        server,
        ClientMetadata {
            jwks: Some(jwks(keys)),
            ..Default::default()
        },
    )
    .await
}

/// The claims of a valid request object of `client_id` at `server`: state `st-obj`, nonce
/// `n-obj`, the RFC 7636 Appendix B challenge, five minutes to live.
fn object(server: &TestServer, client_id: &str) -> Value {
    let now = server.now().timestamp();
    json!({
        "iss": client_id,
        "aud": server.issuer,
        "iat": now,
        "exp": now + 300,
        "jti": uuid::Uuid::new_v4().to_string(),
        "client_id": client_id,
        "response_type": "code",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile email",
        "state": "st-obj",
        "nonce": "n-obj",
        "code_challenge": PKCE_CHALLENGE,
        "code_challenge_method": "S256",
    })
}

fn with_claim(mut claims: Value, name: &str, value: Value) -> Value {
    let m = claims.as_object_mut().unwrap();
    if value.is_null() {
        m.remove(name);
    } else {
        m.insert(name.to_string(), value);
    }
    claims
}

/// The authorization endpoint with `client_id`, `request` and these other query parameters.
fn authorize_with(
    server: &TestServer,
    client_id: &str,
    request: &str,
    extra: &[(&str, &str)],
) -> String {
    let mut params = vec![
        ("client_id".to_string(), client_id.to_string()),
        ("request".to_string(), request.to_string()),
    ];
    params.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    server.authorize_url(&params)
}

type OidcClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Redeems `code` with the `openidconnect` crate and checks the ID token against `nonce`.
async fn redeem(server: &TestServer, rp: &Rp, code: &str, nonce: &str) -> CoreTokenResponse {
    let http = browser();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client: OidcClient = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(rp.id.clone()),
        Some(ClientSecret::new(rp.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.to_string()).unwrap());
    let token = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .unwrap()
        .set_pkce_verifier(PkceCodeVerifier::new(PKCE_VERIFIER.to_string()))
        .request_async(&http)
        .await
        .expect("token exchange");
    token
        .id_token()
        .expect("an ID token")
        .claims(&client.id_token_verifier(), &Nonce::new(nonce.to_string()))
        .expect("the ID token carries the request object's nonce");
    token
}

async fn push(server: &TestServer, rp: &Rp, form: &[(&str, &str)]) -> JsonAnswer {
    let res = browser()
        .post(server.url("/par"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(form)
        .send()
        .await
        .unwrap();
    JsonAnswer::read(res).await
}

/// `res` is a 400 page (no redirect) naming `invalid_request_object`.
async fn assert_object_page(res: reqwest::Response) {
    assert_error_page(res, "invalid_request_object").await;
}

#[tokio::test]
async fn oidc_discovery_3_request_objects_are_advertised() {
    let server = TestServer::start().await;
    let doc: Value = browser()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["request_parameter_supported"], true);
    let algs: Vec<&str> = doc["request_object_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        algs.contains(&"RS256") && algs.contains(&"ES256"),
        "{algs:?}"
    );
    assert!(!algs.contains(&"none") && !algs.iter().any(|a| a.starts_with("HS")));
    assert_eq!(doc["request_uri_parameter_supported"], false);
}

#[tokio::test]
async fn rfc9101_5_1_an_rs256_request_object_by_value_at_the_authorization_endpoint() {
    let server = TestServer::start().await;
    let key = rsa_key("rp-2026");
    let rp = client_with_keys(&server, &[&key]).await;
    let request = rs256(&key, &object(&server, &rp.id));
    // OIDC Core §6.1: response_type and scope may be repeated outside for OAuth 2.0 clients.
    let url = authorize_with(
        &server,
        &rp.id,
        &request,
        &[("response_type", "code"), ("scope", "openid")],
    );
    let location = sign_in(&browser(), &url).await;
    let params = assert_code_redirect(&location, &server, Some("st-obj"));
    let token = redeem(&server, &rp, &params["code"], "n-obj").await;
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["openid", "profile", "email"]);
}

#[tokio::test]
async fn rfc9101_6_3_only_the_objects_parameters_are_used() {
    let server = TestServer::start().await;
    let key = ec_key("ec-1");
    let rp = client_with_keys(&server, &[&key]).await;
    let claims = with_claim(object(&server, &rp.id), "scope", json!("openid email"));
    let request = es256(&key, &claims);
    let url = authorize_with(
        &server,
        &rp.id,
        &request,
        &[
            ("response_type", "code"),
            ("scope", "openid profile roles"),
            ("state", "from-the-query"),
            ("nonce", "from-the-query"),
            ("redirect_uri", "https://evil.example/cb"),
            ("prompt", "none"),
            ("code_challenge", "x"),
        ],
    );
    let location = sign_in(&browser(), &url).await;
    let params = assert_code_redirect(&location, &server, Some("st-obj"));
    let token = redeem(&server, &rp, &params["code"], "n-obj").await;
    let scopes: Vec<String> = token
        .scopes()
        .unwrap()
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(scopes, ["openid", "email"]);
}

#[tokio::test]
async fn rfc9126_3_an_es256_request_object_pushed_to_par() {
    let server = TestServer::start().await;
    let key = ec_key("ec-1");
    let rp = client_with_keys(&server, &[&key]).await;
    let request = es256(&key, &object(&server, &rp.id));
    let answer = push(
        &server,
        &rp,
        &[("client_id", &rp.id), ("request", &request)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    let uri = answer.json["request_uri"].as_str().unwrap();
    let url = server.authorize_url(&[
        ("client_id".to_string(), rp.id.clone()),
        ("request_uri".to_string(), uri.to_string()),
    ]);
    let location = sign_in(&browser(), &url).await;
    let params = assert_code_redirect(&location, &server, Some("st-obj"));
    redeem(&server, &rp, &params["code"], "n-obj").await;

    // Pushed parameters outside the object are ignored as well (RFC 9126 §3).
    let request = es256(&key, &object(&server, &rp.id));
    let answer = push(
        &server,
        &rp,
        &[
            ("client_id", &rp.id),
            ("request", &request),
            ("state", "outside"),
            ("scope", "openid roles"),
        ],
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    let url = server.authorize_url(&[
        ("client_id".to_string(), rp.id.clone()),
        (
            "request_uri".to_string(),
            answer.json["request_uri"].as_str().unwrap().to_string(),
        ),
    ]);
    let location = sign_in(&browser(), &url).await;
    assert_code_redirect(&location, &server, Some("st-obj"));
}

#[tokio::test]
async fn rfc9101_6_2_a_tampered_signature_is_invalid_request_object() {
    let server = TestServer::start().await;
    let key = rsa_key("rp-2026");
    let rp = client_with_keys(&server, &[&key]).await;
    let good = rs256(&key, &object(&server, &rp.id));
    let mut parts: Vec<String> = good.split('.').map(str::to_string).collect();
    let forged = with_claim(
        object(&server, &rp.id),
        "scope",
        json!("openid profile email roles"),
    );
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(forged.to_string());
    let tampered = parts.join(".");
    // Nothing inside can be trusted: the error goes to the query's redirect URI when that is the
    // client's, with the query's state…
    let res = browser()
        .get(authorize_with(
            &server,
            &rp.id,
            &tampered,
            &[("redirect_uri", REDIRECT_URI), ("state", "q-state")],
        ))
        .send()
        .await
        .unwrap();
    let err = assert_error_redirect(&res, &server, "invalid_request_object", Some("q-state"));
    assert!(err["error_description"].contains("signature"), "{err:?}");
    // …and is a page otherwise.
    let res = browser()
        .get(authorize_with(&server, &rp.id, &tampered, &[]))
        .send()
        .await
        .unwrap();
    assert_object_page(res).await;
    // Signed by another key (another client's, say) under the same kid.
    let intruder = rsa_key("rp-2026");
    let res = browser()
        .get(authorize_with(
            &server,
            &rp.id,
            &rs256(&intruder, &object(&server, &rp.id)),
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_object_page(res).await;
    // At PAR: JSON.
    let answer = push(
        &server,
        &rp,
        &[("client_id", &rp.id), ("request", &tampered)],
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"], "invalid_request_object");
}

#[tokio::test]
async fn rfc9101_4_wrong_aud_iss_client_id_and_expired_objects_are_refused() {
    let server = TestServer::start().await;
    let key = ec_key("ec-1");
    let rp = client_with_keys(&server, &[&key]).await;
    let now = server.now().timestamp();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("aud", json!("https://other.example"), "aud"),
        ("aud", json!(server.url("/authorize")), "aud"),
        ("aud", Value::Null, "aud"),
        ("iss", json!("someone-else"), "iss"),
        ("iss", Value::Null, "iss"),
        ("client_id", json!("someone-else"), "client_id"),
        ("exp", json!(now - 1), "expired"),
        ("exp", Value::Null, "exp"),
        ("exp", json!(now + 7200), "exp"),
        ("nbf", json!(now + 600), "nbf"),
        ("request_uri", json!("urn:x"), "request_uri"),
    ];
    for (name, value, why) in cases {
        let claims = with_claim(object(&server, &rp.id), name, value.clone());
        let request = es256(&key, &claims);
        // Signed by the client: its own redirect URI and state carry the error.
        let res = browser()
            .get(authorize_with(&server, &rp.id, &request, &[]))
            .send()
            .await
            .unwrap();
        let err = assert_error_redirect(&res, &server, "invalid_request_object", Some("st-obj"));
        assert!(
            err["error_description"].contains(why),
            "{name}={value}: {err:?}"
        );
        let answer = push(
            &server,
            &rp,
            &[("client_id", &rp.id), ("request", &request)],
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{name}={value}");
        assert_eq!(
            answer.json["error"], "invalid_request_object",
            "{name}={value}"
        );
    }
    // An object of this client sent under another client_id.
    let other = client_with_keys(&server, &[&key]).await;
    let res = browser()
        .get(authorize_with(
            &server,
            &other.id,
            &es256(&key, &object(&server, &rp.id)),
            &[],
        ))
        .send()
        .await
        .unwrap();
    let err = assert_error_redirect(&res, &server, "invalid_request_object", Some("st-obj"));
    assert!(err["error_description"].contains("iss"), "{err:?}");
    // Once expired, a request object pushed earlier is refused at PAR time, not at use.
    let request = es256(&key, &object(&server, &rp.id));
    server.advance_clock(301);
    let answer = push(
        &server,
        &rp,
        &[("client_id", &rp.id), ("request", &request)],
    )
    .await;
    assert_eq!(answer.json["error"], "invalid_request_object");
}

#[tokio::test]
async fn rfc9101_10_2_unsigned_and_mac_objects_are_refused() {
    let server = TestServer::start().await;
    let key = rsa_key("rp-2026");
    let rp = client_with_keys(&server, &[&key]).await;
    let claims = object(&server, &rp.id);
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let none = format!("{}.{}.", b64(&json!({"alg": "none"})), b64(&claims));
    let hs = {
        let signer = josekit::jws::HS256
            .signer_from_bytes(rp.secret.as_bytes())
            .unwrap();
        sign_with(&signer, None, &claims)
    };
    for (request, why) in [(none, "alg none"), (hs, "HS256 under the client secret")] {
        let res = browser()
            .get(authorize_with(
                &server,
                &rp.id,
                &request,
                &[("redirect_uri", REDIRECT_URI), ("state", "q")],
            ))
            .send()
            .await
            .unwrap();
        let err = assert_error_redirect(&res, &server, "invalid_request_object", Some("q"));
        assert!(
            err["error_description"].contains("signed"),
            "{why}: {err:?}"
        );
        let answer = push(
            &server,
            &rp,
            &[("client_id", &rp.id), ("request", &request)],
        )
        .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{why}");
        assert_eq!(answer.json["error"], "invalid_request_object", "{why}");
    }
}

#[tokio::test]
async fn rfc9101_6_1_a_client_without_registered_keys_cannot_send_objects() {
    let server = TestServer::start().await;
    let key = rsa_key("rp-2026");
    let request = rs256(&key, &object(&server, server.client_id()));
    let res = browser()
        .get(authorize_with(&server, server.client_id(), &request, &[]))
        .send()
        .await
        .unwrap();
    assert_object_page(res).await;
}

#[tokio::test]
async fn rfc9101_6_3_the_objects_parameters_meet_every_rule_of_the_endpoint() {
    let server = TestServer::start().await;
    let key = ec_key("ec-1");
    let rp = client_with_keys(&server, &[&key]).await;
    let cases = [
        ("response_type", json!("token"), "unsupported_response_type"),
        ("scope", json!("profile"), "invalid_scope"),
        ("code_challenge", Value::Null, "invalid_request"),
        ("max_age", json!(-5), "invalid_request"),
        ("claims", json!({"userinfo": []}), "invalid_request"),
    ];
    for (name, value, error) in cases {
        let request = es256(&key, &with_claim(object(&server, &rp.id), name, value));
        let res = browser()
            .get(authorize_with(&server, &rp.id, &request, &[]))
            .send()
            .await
            .unwrap();
        assert_error_redirect(&res, &server, error, Some("st-obj"));
    }
    // A numeric max_age and a JSON claims object are taken as the parameters.
    let claims = with_claim(object(&server, &rp.id), "max_age", json!(0));
    let claims = with_claim(claims, "claims", json!({"id_token": {"email": null}}));
    let location = sign_in(
        &browser(),
        &authorize_with(&server, &rp.id, &es256(&key, &claims), &[]),
    )
    .await;
    let params = assert_code_redirect(&location, &server, Some("st-obj"));
    let token = redeem(&server, &rp, &params["code"], "n-obj").await;
    let id_token = jwt_part(&token.id_token().unwrap().to_string(), 1);
    assert_eq!(id_token["email"], EMAIL);
    assert!(id_token["auth_time"].is_number());
    // An object whose redirect URI is not the client's: a page, never a redirect.
    let claims = with_claim(
        object(&server, &rp.id),
        "redirect_uri",
        json!("https://evil.example/cb"),
    );
    let res = browser()
        .get(authorize_with(&server, &rp.id, &es256(&key, &claims), &[]))
        .send()
        .await
        .unwrap();
    assert_error_page(res, "redirect_uri").await;
}

#[tokio::test]
async fn rfc9101_bad_input_is_invalid_request_object_never_a_5xx() {
    let server = TestServer::start().await;
    let key = ec_key("ec-1");
    let rp = client_with_keys(&server, &[&key]).await;
    let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let bad = [
        "eyJ...".to_string(),
        "a.b.c".to_string(),
        "a.b.c.d.e".to_string(),
        format!("{}.{}.sig", b64("[]"), b64("{}")),
        format!("{}.{}.sig", b64(r#"{"alg":"ES256","kid":7}"#), b64("{}")),
        format!(
            "{}.{}.sig",
            b64(r#"{"alg":"ES256","typ":"at+jwt"}"#),
            b64("{}")
        ),
        format!("{}.{}.sig", b64(r#"{"alg":"ES256"}"#), b64("not json")),
        "x".repeat(40 * 1024),
    ];
    for request in &bad {
        // POST: the longest one would not fit in a URL.
        let res = browser()
            .post(server.url("/authorize"))
            .form(&[
                ("client_id", rp.id.as_str()),
                ("request", request.as_str()),
                ("redirect_uri", REDIRECT_URI),
                ("state", "q"),
            ])
            .send()
            .await
            .unwrap();
        assert_error_redirect(&res, &server, "invalid_request_object", Some("q"));
        let answer = push(&server, &rp, &[("client_id", &rp.id), ("request", request)]).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{request:.40}");
        assert_eq!(
            answer.json["error"], "invalid_request_object",
            "{request:.40}"
        );
    }
    // request with request_uri, and a repeated request.
    let good = es256(&key, &object(&server, &rp.id));
    let res = browser()
        .get(authorize_with(
            &server,
            &rp.id,
            &good,
            &[
                ("request_uri", "https://rp.example/r.jwt"),
                ("redirect_uri", REDIRECT_URI),
            ],
        ))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "invalid_request", None);
    let res = browser()
        .get(authorize_with(
            &server,
            &rp.id,
            &good,
            &[("request", &good), ("redirect_uri", REDIRECT_URI)],
        ))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "invalid_request", None);
}

struct JwksServer {
    url: String,
    fetches: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks_server(doc: String) -> JwksServer {
    let fetches = Arc::new(Mutex::new(0usize));
    let f = fetches.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (d, f) = (doc.clone(), f.clone());
            async move {
                *f.lock().unwrap() += 1;
                ([("content-type", "application/json")], d)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    JwksServer { url, fetches, task }
}

#[tokio::test]
async fn rfc9101_6_2_keys_from_the_clients_jwks_uri() {
    // A plain-http loopback issuer is development mode: the outbound guard allows loopback.
    let server = TestServer::start().await;
    let key = rsa_key("rp-uri");
    let keys = jwks_server(jwks(&[&key])).await;
    let rp = client_with(
        &server,
        ClientMetadata {
            jwks_uri: Some(format!("{}/jwks", keys.url)),
            ..Default::default()
        },
    )
    .await;
    let location = sign_in(
        &browser(),
        &authorize_with(&server, &rp.id, &rs256(&key, &object(&server, &rp.id)), &[]),
    )
    .await;
    let params = assert_code_redirect(&location, &server, Some("st-obj"));
    redeem(&server, &rp, &params["code"], "n-obj").await;
    assert_eq!(*keys.fetches.lock().unwrap(), 1);
    // A key the set does not hold.
    let stranger = rsa_key("other");
    let res = browser()
        .get(authorize_with(
            &server,
            &rp.id,
            &rs256(&stranger, &object(&server, &rp.id)),
            &[],
        ))
        .send()
        .await
        .unwrap();
    assert_object_page(res).await;
}
