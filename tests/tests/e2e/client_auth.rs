//! JWT client authentication (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9) at
//! the token, introspection and revocation endpoints, the enforcement of each client's registered
//! `token_endpoint_auth_method` (RFC 7591 §2), and the outbound fetch guard for `jwks_uri`.
//! Neither client crate supports these methods, so assertions are signed here with josekit and
//! sent as `client_assertion_type` / `client_assertion`.

use std::sync::{Arc, Mutex};

use crate::common::jose::{self, Key, ec_key, jwks, rsa_key};
use crate::common::replicas::{SharedDb, replica, shared_clock};
use crate::common::*;
use josekit::jws::JwsSigner;
use oidc_core::{AuthMethod, ClientMetadata, Clock, NewClient};
use reqwest::StatusCode;
use serde_json::{Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// `claims` as a client assertion (`typ` JWT).
fn sign(signer: &dyn JwsSigner, kid: Option<&str>, claims: &Value) -> String {
    jose::sign(signer, jose::TYP_JWT, kid, claims)
}

fn rs256(key: &Key, claims: &Value) -> String {
    jose::rs256(key, jose::TYP_JWT, claims)
}

/// Valid claims for `client_id` at `server`: aud the issuer, 60 s, a fresh jti.
fn claims(server: &TestServer, client_id: &str) -> Value {
    let now = server.now().timestamp();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": server.issuer,
        "iat": now,
        "exp": now + 60,
        "jti": uuid::Uuid::new_v4().to_string(),
    })
}

/// A service client (client_credentials) registered for `method` with this metadata.
async fn service_client(
    server: &TestServer,
    method: AuthMethod,
    metadata: ClientMetadata,
) -> oidc_core::RegisteredClient {
    server
        .provider
        .register_client(
            NewClient::service("JWT service")
                .scope(["registry.read"])
                .metadata(ClientMetadata {
                    token_endpoint_auth_method: Some(method),
                    ..metadata
                }),
        )
        .await
        .unwrap()
}

async fn private_key_client(server: &TestServer, keys: &[&Key]) -> String {
    service_client(
        server,
        AuthMethod::PrivateKeyJwt,
        ClientMetadata {
            jwks: Some(jwks(keys)),
            ..Default::default()
        },
    )
    .await
    .client
    .client_id
}

/// POSTs `form` plus the assertion parameters to `path`.
async fn post_with_assertion(
    server: &TestServer,
    path: &str,
    form: &[(&str, &str)],
    assertion: &str,
) -> JsonAnswer {
    let mut form = form.to_vec();
    form.push(("client_assertion_type", JWT_BEARER));
    form.push(("client_assertion", assertion));
    let res = browser()
        .post(server.url(path))
        .form(&form)
        .send()
        .await
        .unwrap();
    JsonAnswer::read(res).await
}

const CLIENT_CREDENTIALS: [(&str, &str); 1] = [("grant_type", "client_credentials")];

async fn token(server: &TestServer, assertion: &str) -> JsonAnswer {
    post_with_assertion(server, "/token", &CLIENT_CREDENTIALS, assertion).await
}

fn assert_invalid_client(answer: &JsonAnswer, why: &str) {
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{why}: {:?}",
        answer.json
    );
    assert_eq!(answer.json["error"], "invalid_client", "{why}");
    assert_eq!(answer.header("cache-control"), Some("no-store"), "{why}");
}

fn description(answer: &JsonAnswer) -> String {
    answer.json["error_description"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn rfc7523_2_2_private_key_jwt_with_keys_by_value_at_token_introspection_and_revocation() {
    let server = TestServer::start().await;
    let key = rsa_key("k1");
    let client_id = private_key_client(&server, &[&key]).await;

    let ok = token(&server, &rs256(&key, &claims(&server, &client_id))).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    let access = ok.json["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_part(&access, 1)["client_id"], client_id.as_str());

    // RFC 7662 §2.1: the same authentication at the introspection endpoint.
    let form = [("token", access.as_str())];
    let seen = post_with_assertion(
        &server,
        "/introspect",
        &form,
        &rs256(&key, &claims(&server, &client_id)),
    )
    .await;
    assert_eq!(seen.status, StatusCode::OK, "{:?}", seen.json);
    assert_eq!(seen.json["active"], true);
    assert_eq!(seen.json["client_id"], client_id.as_str());

    // RFC 7009 §2.1: and at the revocation endpoint.
    let revoked = post_with_assertion(
        &server,
        "/revoke",
        &form,
        &rs256(&key, &claims(&server, &client_id)),
    )
    .await;
    assert_eq!(revoked.status, StatusCode::OK, "{:?}", revoked.json);
    let seen = post_with_assertion(
        &server,
        "/introspect",
        &form,
        &rs256(&key, &claims(&server, &client_id)),
    )
    .await;
    assert_eq!(seen.json, json!({ "active": false }));

    // ES256 keys work the same way, and a client_id beside the assertion must match it.
    let ec = ec_key("ec1");
    let ec_client = private_key_client(&server, &[&ec]).await;
    let signer = josekit::jws::ES256.signer_from_jwk(&ec.private).unwrap();
    let assertion = sign(&signer, Some("ec1"), &claims(&server, &ec_client));
    let mismatched = post_with_assertion(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
        ],
        &assertion,
    )
    .await;
    assert_invalid_client(&mismatched, "client_id of another client");
    let ok = post_with_assertion(
        &server,
        "/token",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", ec_client.as_str()),
        ],
        &assertion,
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
}

/// A JWK Set server on loopback whose document the test replaces, counting fetches.
struct JwksServer {
    url: String,
    doc: Arc<Mutex<String>>,
    fetches: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn jwks_server(doc: String) -> JwksServer {
    let doc = Arc::new(Mutex::new(doc));
    let fetches = Arc::new(Mutex::new(0usize));
    let (d, f) = (doc.clone(), fetches.clone());
    let app = axum::Router::new()
        .route(
            "/jwks",
            axum::routing::get(move || {
                let (d, f) = (d.clone(), f.clone());
                async move {
                    *f.lock().unwrap() += 1;
                    (
                        [("content-type", "application/json")],
                        d.lock().unwrap().clone(),
                    )
                }
            }),
        )
        .route(
            "/moved",
            axum::routing::get(|| async { axum::response::Redirect::temporary("/jwks") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    JwksServer {
        url,
        doc,
        fetches,
        task,
    }
}

#[tokio::test]
async fn rfc7523_3_private_key_jwt_with_jwks_uri_cached_and_refreshed_on_an_unknown_kid() {
    // A plain-http loopback issuer is development mode: the guard allows http on loopback.
    let server = TestServer::start().await;
    let old = rsa_key("2026-01");
    let keys = jwks_server(jwks(&[&old])).await;
    let client_id = service_client(
        &server,
        AuthMethod::PrivateKeyJwt,
        ClientMetadata {
            jwks_uri: Some(format!("{}/jwks", keys.url)),
            ..Default::default()
        },
    )
    .await
    .client
    .client_id;

    for _ in 0..2 {
        let ok = token(&server, &rs256(&old, &claims(&server, &client_id))).await;
        assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    }
    assert_eq!(*keys.fetches.lock().unwrap(), 1, "the key set is cached");

    // The client rotates its key: an assertion with the new kid makes the provider fetch again
    // (not more often than every 10 s).
    let new = rsa_key("2026-02");
    *keys.doc.lock().unwrap() = jwks(&[&new]);
    let early = token(&server, &rs256(&new, &claims(&server, &client_id))).await;
    assert_invalid_client(&early, "unknown kid right after a fetch");
    assert_eq!(*keys.fetches.lock().unwrap(), 1);
    server.advance_clock(11);
    let ok = token(&server, &rs256(&new, &claims(&server, &client_id))).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    assert_eq!(
        *keys.fetches.lock().unwrap(),
        2,
        "fetched again for the new kid"
    );
    // The old key is gone from the client's set.
    let gone = token(&server, &rs256(&old, &claims(&server, &client_id))).await;
    assert_invalid_client(&gone, "the rotated-out key");

    // After the cache bound (5 min) the set is fetched again even for a known kid.
    server.advance_clock(301);
    let ok = token(&server, &rs256(&new, &claims(&server, &client_id))).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    assert_eq!(*keys.fetches.lock().unwrap(), 3);
}

#[tokio::test]
async fn outbound_guard_jwks_uri_at_a_private_address_or_behind_a_redirect_is_refused() {
    let server = TestServer::start().await;
    let key = rsa_key("k1");
    for uri in [
        "https://10.0.0.7/jwks",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/jwks",
        "https://[fd00:ec2::254]/jwks",
        "https://[::ffff:192.168.0.1]/jwks",
    ] {
        let client_id = service_client(
            &server,
            AuthMethod::PrivateKeyJwt,
            ClientMetadata {
                jwks_uri: Some(uri.into()),
                ..Default::default()
            },
        )
        .await
        .client
        .client_id;
        let refused = token(&server, &rs256(&key, &claims(&server, &client_id))).await;
        assert_invalid_client(&refused, uri);
        assert_eq!(
            description(&refused),
            "the client's jwks_uri is not allowed by this provider",
            "{uri}"
        );
    }
    // A redirect is not followed, even to the right document.
    let keys = jwks_server(jwks(&[&key])).await;
    let client_id = service_client(
        &server,
        AuthMethod::PrivateKeyJwt,
        ClientMetadata {
            jwks_uri: Some(format!("{}/moved", keys.url)),
            ..Default::default()
        },
    )
    .await
    .client
    .client_id;
    let refused = token(&server, &rs256(&key, &claims(&server, &client_id))).await;
    assert_invalid_client(&refused, "redirect");
    assert_eq!(
        description(&refused),
        "the client's jwks_uri could not be fetched"
    );
    assert_eq!(*keys.fetches.lock().unwrap(), 0);
}

#[tokio::test]
async fn outbound_guard_allow_list_admits_a_listed_network_only() {
    // A private network named in the allow-list passes the guard (and then fails only because
    // nothing answers there), where without the list it is refused before any connection.
    let key = rsa_key("k1");
    let server = TestServer::start_with(
        |c| c.outbound_allowed_networks(["10.0.0.0/8".parse::<oidc_core::IpNet>().unwrap()]),
        Vec::new(),
    )
    .await;
    let client_id = service_client(
        &server,
        AuthMethod::PrivateKeyJwt,
        ClientMetadata {
            jwks_uri: Some("https://10.255.255.1:1/jwks".into()),
            ..Default::default()
        },
    )
    .await
    .client
    .client_id;
    // Allowed by the list, so the guard lets it through to the network, where nothing answers.
    let failed = token(&server, &rs256(&key, &claims(&server, &client_id))).await;
    assert_invalid_client(&failed, "allowed network, nothing there");
    assert_eq!(
        description(&failed),
        "the client's jwks_uri could not be fetched"
    );
}

#[tokio::test]
async fn oidc_core_9_client_secret_jwt_with_hs256() {
    let server = TestServer::start().await;
    let registered = service_client(
        &server,
        AuthMethod::ClientSecretJwt,
        ClientMetadata::default(),
    )
    .await;
    let client_id = registered.client.client_id.clone();
    let secret = registered.client_secret.unwrap().secret().to_string();
    let hs = |secret: &str, claims: &Value| {
        let signer = josekit::jws::HS256
            .signer_from_bytes(secret.as_bytes())
            .unwrap();
        sign(&signer, None, claims)
    };
    let ok = token(&server, &hs(&secret, &claims(&server, &client_id))).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);

    let wrong = token(
        &server,
        &hs(
            "not-the-secret-at-all-but-long-enough-for-hs256",
            &claims(&server, &client_id),
        ),
    )
    .await;
    assert_invalid_client(&wrong, "another secret");
    // HS384/HS512 are not offered: HS256 only (refused by alg, before any MAC is checked).
    let long = format!("{secret}{secret}");
    let signer = josekit::jws::HS512
        .signer_from_bytes(long.as_bytes())
        .unwrap();
    let hs512 = token(&server, &sign(&signer, None, &claims(&server, &client_id))).await;
    assert_invalid_client(&hs512, "HS512");
    // The secret itself is not accepted from a client_secret_jwt client.
    let basic = server
        .token_request(
            &browser(),
            &CLIENT_CREDENTIALS,
            Some((client_id.as_str(), secret.as_str())),
        )
        .await;
    assert_invalid_client(
        &basic,
        "client_secret_basic from a client_secret_jwt client",
    );
}

#[tokio::test]
async fn rfc7523_3_aud_must_be_the_issuer_as_a_single_string() {
    let server = TestServer::start().await;
    let key = rsa_key("k1");
    let client_id = private_key_client(&server, &[&key]).await;
    let token_endpoint = server.url("/token");
    for (aud, why) in [
        (json!([server.issuer]), "an array holding the issuer"),
        (json!([server.issuer, "https://other.example"]), "an array"),
        (json!(token_endpoint), "the token endpoint URL"),
        (
            json!(format!("{}/", server.issuer)),
            "the issuer with a slash",
        ),
        (json!(42), "a number"),
    ] {
        let mut c = claims(&server, &client_id);
        c["aud"] = aud;
        let refused = token(&server, &rs256(&key, &c)).await;
        assert_invalid_client(&refused, why);
    }
    let mut c = claims(&server, &client_id);
    c.as_object_mut().unwrap().remove("aud");
    assert_invalid_client(&token(&server, &rs256(&key, &c)).await, "no aud");

    // The legacy switch accepts the token endpoint URL, still only as a string.
    let legacy = TestServer::start_with(
        |c| c.client_assertion_token_endpoint_audience(true),
        Vec::new(),
    )
    .await;
    let client_id = private_key_client(&legacy, &[&key]).await;
    let mut c = claims(&legacy, &client_id);
    c["aud"] = json!(legacy.url("/token"));
    let ok = token(&legacy, &rs256(&key, &c)).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    c["aud"] = json!([legacy.url("/token")]);
    c["jti"] = json!("another-jti");
    assert_invalid_client(&token(&legacy, &rs256(&key, &c)).await, "legacy, array");
}

/// A change to an assertion's claims.
type Change = Box<dyn Fn(&mut Value)>;

#[tokio::test]
async fn rfc7523_3_expired_overlong_and_incomplete_assertions_are_refused() {
    let server = TestServer::start().await;
    let key = rsa_key("k1");
    let client_id = private_key_client(&server, &[&key]).await;
    let now = server.now().timestamp();
    let cases: Vec<(&str, Change)> = vec![
        ("expired", Box::new(move |c| c["exp"] = json!(now - 60))),
        (
            "lifetime over 5 minutes",
            Box::new(move |c| {
                c["iat"] = json!(now);
                c["exp"] = json!(now + 600);
            }),
        ),
        (
            "issued in the future",
            Box::new(move |c| c["iat"] = json!(now + 120)),
        ),
        (
            "no exp",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("exp");
            }),
        ),
        (
            "no jti",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "iss is not the client",
            Box::new(|c| c["iss"] = json!("someone-else")),
        ),
        (
            "sub is not the client",
            Box::new(|c| c["sub"] = json!("someone-else")),
        ),
    ];
    for (why, change) in cases {
        let mut c = claims(&server, &client_id);
        change(&mut c);
        let refused = token(&server, &rs256(&key, &c)).await;
        assert_invalid_client(&refused, why);
    }
    // The expiry is read from the provider's clock: a 60 s assertion is fine now, refused
    // after the clock moves past it.
    let c = claims(&server, &client_id);
    server.advance_clock(120);
    assert_invalid_client(&token(&server, &rs256(&key, &c)).await, "expired later");
}

#[tokio::test]
async fn rfc7523_3_replayed_jti_is_refused_within_its_lifetime() {
    let server = TestServer::start().await;
    let key = rsa_key("k1");
    let client_id = private_key_client(&server, &[&key]).await;
    let assertion = rs256(&key, &claims(&server, &client_id));
    let ok = token(&server, &assertion).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.json);
    let replay = token(&server, &assertion).await;
    assert_invalid_client(&replay, "replay");
    assert_eq!(
        description(&replay),
        "the client assertion was already used (jti replay)"
    );
    // The jti is claimed per client assertion, also at the other endpoints.
    let replay = post_with_assertion(&server, "/introspect", &[("token", "x")], &assertion).await;
    assert_invalid_client(&replay, "replay at introspection");
    // Housekeeping keeps the jti until the assertion expires, then forgets it.
    let purged = server.provider.purge_expired().await.unwrap();
    assert_eq!(purged.get("client_assertions"), 0);
    server.advance_clock(61);
    let purged = server.provider.purge_expired().await.unwrap();
    assert_eq!(purged.get("client_assertions"), 1);
}

#[tokio::test]
async fn rfc7523_3_replayed_jti_is_refused_across_replicas() {
    let db = SharedDb::create();
    let clock = shared_clock();
    let issuer = "http://127.0.0.1:9";
    let a = replica(issuer, &db, clock.clone(), false, |c| c).await;
    let b = replica(issuer, &db, clock.clone(), false, |c| c).await;
    let key = rsa_key("k1");
    let client_id = a
        .provider
        .register_client(
            NewClient::service("JWT service")
                .scope(["registry.read"])
                .metadata(ClientMetadata {
                    token_endpoint_auth_method: Some(AuthMethod::PrivateKeyJwt),
                    jwks: Some(jwks(&[&key])),
                    ..Default::default()
                }),
        )
        .await
        .unwrap()
        .client
        .client_id;
    let now = clock.now().timestamp();
    let assertion = rs256(
        &key,
        &json!({"iss": client_id, "sub": client_id, "aud": issuer,
                "iat": now, "exp": now + 60, "jti": "once"}),
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion.as_str()),
    ];
    let http = browser();
    let first = JsonAnswer::read(
        http.post(format!("{}/token", a.base))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{:?}", first.json);
    let second = JsonAnswer::read(
        http.post(format!("{}/token", b.base))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_invalid_client(&second, "replay at the other replica");
}

#[tokio::test]
async fn rfc7515_4_1_1_alg_none_hmac_for_private_key_jwt_and_a_foreign_key_are_refused() {
    let server = TestServer::start().await;
    let key = rsa_key("k1");
    let client_id = private_key_client(&server, &[&key]).await;
    let b64 = |v: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let c = claims(&server, &client_id);
    let none = format!("{}.{}.", b64(&json!({"alg": "none", "kid": "k1"})), b64(&c));
    assert_invalid_client(&token(&server, &none).await, "alg none");
    // HS256 with the public key's modulus as the "secret" (key confusion).
    let n = key
        .public
        .parameter("n")
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    let signer = josekit::jws::HS256.signer_from_bytes(n.as_bytes()).unwrap();
    let confused = sign(&signer, Some("k1"), &claims(&server, &client_id));
    assert_invalid_client(
        &token(&server, &confused).await,
        "HS256 for private_key_jwt",
    );
    // A key the client never registered, under its kid.
    let stranger = rsa_key("k1");
    let forged = rs256(&stranger, &claims(&server, &client_id));
    let refused = token(&server, &forged).await;
    assert_invalid_client(&refused, "a foreign key");
    assert_eq!(
        description(&refused),
        "the client assertion's signature is invalid"
    );
    // An unknown kid with keys by value.
    let other = rsa_key("k9");
    assert_invalid_client(
        &token(&server, &rs256(&other, &claims(&server, &client_id))).await,
        "unknown kid",
    );
    // Malformed assertions.
    for bad in ["", "a.b", "not-a-jwt", "a.b.c.d"] {
        let refused = token(&server, bad).await;
        assert!(
            refused.status == StatusCode::UNAUTHORIZED || refused.status == StatusCode::BAD_REQUEST,
            "{bad:?}: {:?}",
            refused.json
        );
    }
}

#[tokio::test]
async fn rfc7591_2_token_endpoint_auth_method_is_enforced_at_every_endpoint() {
    let server = TestServer::start().await;
    let http = browser();
    let basic = service_client(
        &server,
        AuthMethod::ClientSecretBasic,
        ClientMetadata::default(),
    )
    .await;
    let post = service_client(
        &server,
        AuthMethod::ClientSecretPost,
        ClientMetadata::default(),
    )
    .await;
    let (basic_id, basic_secret) = (
        basic.client.client_id.clone(),
        basic.client_secret.unwrap().secret().to_string(),
    );
    let (post_id, post_secret) = (
        post.client.client_id.clone(),
        post.client_secret.unwrap().secret().to_string(),
    );
    let key = rsa_key("k1");
    let jwt_id = private_key_client(&server, &[&key]).await;

    for path in ["/token", "/introspect", "/revoke"] {
        let extra: Vec<(&str, &str)> = if path == "/token" {
            CLIENT_CREDENTIALS.to_vec()
        } else {
            vec![("token", "some-token")]
        };
        let send = |form: Vec<(&'static str, String)>, basic: Option<(String, String)>| {
            let mut req = http.post(server.url(path)).form(&form);
            if let Some((id, secret)) = basic {
                req = req.basic_auth(id, Some(secret));
            }
            async move { JsonAnswer::read(req.send().await.unwrap()).await }
        };
        let with = |more: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            extra
                .iter()
                .map(|(k, v)| (*k, v.to_string()))
                .chain(more.iter().map(|(k, v)| (*k, v.to_string())))
                .collect()
        };
        // Each works with its own method.
        let ok = send(with(&[]), Some((basic_id.clone(), basic_secret.clone()))).await;
        assert_eq!(ok.status, StatusCode::OK, "{path} basic: {:?}", ok.json);
        let ok = send(
            with(&[("client_id", &post_id), ("client_secret", &post_secret)]),
            None,
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{path} post: {:?}", ok.json);
        let mut form = with(&[]);
        form.push(("client_assertion_type", JWT_BEARER.into()));
        form.push(("client_assertion", rs256(&key, &claims(&server, &jwt_id))));
        let ok = send(form, None).await;
        assert_eq!(ok.status, StatusCode::OK, "{path} jwt: {:?}", ok.json);

        // A client_secret_basic client may not use client_secret_post, and vice versa.
        let refused = send(
            with(&[("client_id", &basic_id), ("client_secret", &basic_secret)]),
            None,
        )
        .await;
        assert_invalid_client(&refused, &format!("{path}: post from a basic client"));
        let refused = send(with(&[]), Some((post_id.clone(), post_secret.clone()))).await;
        assert_invalid_client(&refused, &format!("{path}: basic from a post client"));
        // A private_key_jwt client must send an assertion.
        let refused = send(with(&[("client_id", &jwt_id)]), None).await;
        assert_invalid_client(&refused, &format!("{path}: jwt client without assertion"));
        // A client_secret_basic client may not send an assertion (signed with anything).
        let mut form = with(&[]);
        form.push(("client_assertion_type", JWT_BEARER.into()));
        form.push(("client_assertion", rs256(&key, &claims(&server, &basic_id))));
        let refused = send(form, None).await;
        assert_invalid_client(&refused, &format!("{path}: assertion from a basic client"));

        // Exactly one method per request (RFC 6749 §2.3): an assertion and Basic together.
        let mut form = with(&[]);
        form.push(("client_assertion_type", JWT_BEARER.into()));
        form.push(("client_assertion", rs256(&key, &claims(&server, &jwt_id))));
        let two = send(form, Some((basic_id.clone(), basic_secret.clone()))).await;
        assert_eq!(
            two.status,
            StatusCode::BAD_REQUEST,
            "{path}: {:?}",
            two.json
        );
        assert_eq!(two.json["error"], "invalid_request");
        // RFC 7521 §4.2: the assertion type is required and must be jwt-bearer.
        let mut form = with(&[]);
        form.push(("client_assertion", rs256(&key, &claims(&server, &jwt_id))));
        let untyped = send(form, None).await;
        assert_eq!(untyped.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(untyped.json["error"], "invalid_request");
        let mut form = with(&[]);
        form.push((
            "client_assertion_type",
            "urn:ietf:params:oauth:client-assertion-type:saml2-bearer".into(),
        ));
        form.push(("client_assertion", rs256(&key, &claims(&server, &jwt_id))));
        let saml = send(form, None).await;
        assert_eq!(saml.status, StatusCode::BAD_REQUEST, "{path}");
        assert_eq!(saml.json["error"], "invalid_request");
    }
}

#[tokio::test]
async fn rfc8414_2_discovery_advertises_jwt_client_authentication() {
    let server = TestServer::start().await;
    let meta: Value = browser()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let methods = json!([
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt",
        "client_secret_jwt",
        "none"
    ]);
    assert_eq!(meta["token_endpoint_auth_methods_supported"], methods);
    assert_eq!(meta["revocation_endpoint_auth_methods_supported"], methods);
    let algs = json!([
        "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256"
    ]);
    for name in [
        "token_endpoint_auth_signing_alg_values_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
    ] {
        assert_eq!(meta[name], algs, "{name}");
        assert!(!meta[name].as_array().unwrap().contains(&json!("none")));
    }
}
