//! Attacks on the protocol endpoints (RFC 9700, the OAuth 2.0 Security BCP): open redirects,
//! authorization code injection, PKCE downgrade, mix-up (RFC 9207 `iss` on every authorization
//! response) and forged `id_token_hint`s at logout. What another test file already proves is not
//! repeated here: `docs/security.md` lists every threat with the test that proves it.

use crate::common::replicas::{SharedDb, replica, shared_clock};
use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oidc_core::{NewClient, NewUser, RegisteredClient};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use url::Url;

const POST_LOGOUT: &str = "http://127.0.0.1:9999/signed-out";

/// A second confidential client with the same redirect URI as the seeded one, the way a
/// malicious or compromised relying party would register it.
async fn other_client(server: &TestServer) -> RegisteredClient {
    server
        .provider
        .register_client(
            NewClient::new("Other RP", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false),
        )
        .await
        .unwrap()
}

fn secret_of(c: &RegisteredClient) -> String {
    c.client_secret.as_ref().unwrap().secret().to_string()
}

fn with(params: &[(String, String)], name: &str, value: Option<&str>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> =
        params.iter().filter(|(k, _)| k != name).cloned().collect();
    if let Some(v) = value {
        out.push((name.into(), v.into()));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Open redirects

/// RFC 9700 §4.1 and §2.1: redirect URIs are compared exactly. Every near miss of the registered
/// URI (path traversal, suffix, sub-domain, userinfo trick, other scheme or port, encoded
/// characters, a fragment) gets the error page and never a redirect, even when the request has
/// other errors that would otherwise be sent to the client.
#[tokio::test]
async fn rfc9700_4_1_near_misses_of_the_redirect_uri_get_the_error_page_never_a_redirect() {
    let server = TestServer::start().await;
    let http = browser();
    let near_misses = [
        "http://127.0.0.1:9999/callback/../evil",
        "http://127.0.0.1:9999/callback/evil",
        "http://127.0.0.1:9999/callbackevil",
        "http://127.0.0.1:9999/callback?next=https://evil.example/",
        "http://127.0.0.1:9999/callback#x",
        "http://127.0.0.1:9999/Callback",
        "http://127.0.0.1:9999/%63allback",
        "http://127.0.0.1:9999@evil.example/callback",
        "http://evil.example/callback",
        "https://127.0.0.1:9999/callback",
        "//evil.example/callback",
        "javascript:alert(1)//127.0.0.1:9999/callback",
        "data:text/html,<script>alert(1)</script>",
        "http://127.0.0.1:9999/callback\u{0}",
        " http://127.0.0.1:9999/callback",
    ];
    for uri in near_misses {
        for extra in [None, Some(("response_type", "token"))] {
            let mut params = with(&server.authorize_params(), "redirect_uri", Some(uri));
            if let Some((k, v)) = extra {
                params = with(&params, k, Some(v));
            }
            let res = http
                .get(server.authorize_url(&params))
                .send()
                .await
                .unwrap();
            let body = assert_error_page(res, "redirect_uri").await;
            assert!(!body.contains("<script>"), "{uri}: {body}");
        }
    }
}

/// RFC 9700 §4.11 (open redirectors) and RP-Initiated Logout 1.0 §3: a valid `id_token_hint`
/// of client A does not open a `post_logout_redirect_uri` that only client B registered; and
/// near misses of A's own URI are refused. Nothing ends on a refused request.
#[tokio::test]
async fn rp_initiated_logout_3_another_clients_uri_and_near_misses_are_never_followed() {
    let server = TestServer::start().await;
    let a = server
        .provider
        .register_client(
            NewClient::new("RP A", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false)
                .post_logout_redirect_uris([POST_LOGOUT]),
        )
        .await
        .unwrap();
    server
        .provider
        .register_client(
            NewClient::new("RP B", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false)
                .post_logout_redirect_uris(["https://b.example/bye"]),
        )
        .await
        .unwrap();
    let http = browser();
    let id_token = id_token_for(&server, &http, &a).await;
    for uri in [
        "https://b.example/bye",
        "http://127.0.0.1:9999/signed-out/../evil",
        "http://127.0.0.1:9999/signed-outx",
        "http://127.0.0.1:9999@evil.example/signed-out",
        "//evil.example/signed-out",
    ] {
        let res = http
            .get(server.url("/logout"))
            .query(&[
                ("id_token_hint", id_token.as_str()),
                ("post_logout_redirect_uri", uri),
                ("state", "s"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert!(res.headers().get(LOCATION).is_none(), "{uri}");
    }
    assert!(
        has_session(&server, &http, &a).await,
        "a refused request ends nothing"
    );
}

// ---------------------------------------------------------------------------------------------
// Authorization code injection and PKCE downgrade

/// Signs the seeded user in for `client` (PKCE with the RFC 7636 verifier unless `challenge` is
/// `None`) and returns the code.
async fn code_for(
    server: &TestServer,
    http: &reqwest::Client,
    client_id: &str,
    challenge: Option<&str>,
) -> String {
    let mut params = with(&server.authorize_params(), "client_id", Some(client_id));
    params = with(&params, "code_challenge", challenge);
    if challenge.is_none() {
        params = with(&params, "code_challenge_method", None);
    }
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let location = if res
        .headers()
        .get(LOCATION)
        .and_then(|l| l.to_str().ok())
        .is_some_and(|l| l.contains("/signin/"))
    {
        sign_in_from(http, res).await
    } else {
        see_other_location(&res)
    };
    query_of(&location)["code"].clone()
}

async fn redeem_as(
    server: &TestServer,
    http: &reqwest::Client,
    client: (&str, &str),
    code: &str,
    verifier: Option<&str>,
) -> JsonAnswer {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
    ];
    if let Some(v) = verifier {
        form.push(("code_verifier", v));
    }
    server.token_request(http, &form, Some(client)).await
}

fn assert_invalid_grant(answer: &JsonAnswer, what: &str) {
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{what}: {:?}",
        answer.json
    );
    assert_eq!(
        answer.json["error"], "invalid_grant",
        "{what}: {:?}",
        answer.json
    );
    assert!(answer.json.get("access_token").is_none(), "{what}");
}

/// RFC 9700 §4.5 (code injection), RFC 6749 §4.1.3: a code issued to client A, redeemed by client
/// B with the right verifier and redirect URI, is `invalid_grant`; the attempt burns the code, so
/// that A's own redemption afterwards fails too (a stolen code is spent, not left for a second
/// try), and nothing was issued to either.
#[tokio::test]
async fn rfc9700_4_5_a_code_of_client_a_redeemed_by_client_b_is_invalid_grant() {
    let server = TestServer::start().await;
    let b = other_client(&server).await;
    let http = browser();
    let code = code_for(&server, &http, server.client_id(), Some(PKCE_CHALLENGE)).await;
    let stolen = redeem_as(
        &server,
        &http,
        (&b.client.client_id, &secret_of(&b)),
        &code,
        Some(PKCE_VERIFIER),
    )
    .await;
    assert_invalid_grant(&stolen, "client B");
    assert_eq!(
        stolen.json["error_description"],
        "the authorization code was issued to another client"
    );
    let own = redeem_as(
        &server,
        &http,
        (server.client_id(), server.client_secret()),
        &code,
        Some(PKCE_VERIFIER),
    )
    .await;
    assert_invalid_grant(&own, "client A after the theft");
}

/// RFC 7636 §4.6 with the injection twist of RFC 9700 §4.5.3.1: the attacker's own code_verifier
/// (a valid one of another authorization) does not redeem the victim's code; nor does a code
/// redeemed at another redirect URI (RFC 6749 §4.1.3).
#[tokio::test]
async fn rfc9700_4_5_3_another_verifier_or_redirect_uri_does_not_redeem_the_code() {
    let server = TestServer::start().await;
    let http = browser();
    // The attacker's verifier, with the challenge the attacker sent in their own request.
    let attacker_verifier = "attacker-verifier-attacker-verifier-attacker-verifier";
    let victims = code_for(&server, &http, server.client_id(), Some(PKCE_CHALLENGE)).await;
    let answer = redeem_as(
        &server,
        &http,
        (server.client_id(), server.client_secret()),
        &victims,
        Some(attacker_verifier),
    )
    .await;
    assert_invalid_grant(&answer, "another verifier");

    let code = code_for(&server, &http, server.client_id(), Some(PKCE_CHALLENGE)).await;
    let answer = server
        .token_request(
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", "http://127.0.0.1:9999/callback/other"),
                ("code_verifier", PKCE_VERIFIER),
            ],
            Some((server.client_id(), server.client_secret())),
        )
        .await;
    assert_invalid_grant(&answer, "another redirect_uri");
}

/// RFC 9700 §2.1.1 and §4.8.2 (PKCE downgrade): a code requested with a challenge is not
/// redeemed without a verifier, and a code requested without a challenge (a client registered
/// without mandatory PKCE) is not redeemed with one: an attacker cannot strip or add PKCE.
#[tokio::test]
async fn rfc9700_4_8_2_pkce_downgrade_either_way_is_invalid_grant() {
    let server = TestServer::start().await;
    let http = browser();
    let code = code_for(&server, &http, server.client_id(), Some(PKCE_CHALLENGE)).await;
    let answer = redeem_as(
        &server,
        &http,
        (server.client_id(), server.client_secret()),
        &code,
        None,
    )
    .await;
    assert_invalid_grant(&answer, "challenge sent, no verifier");
    assert_eq!(
        answer.json["error_description"],
        "code_verifier is required"
    );

    let mut legacy = NewClient::new("Legacy RP", [REDIRECT_URI])
        .first_party(true)
        .mfa_required(false);
    legacy.pkce_required = false;
    let legacy = server.provider.register_client(legacy).await.unwrap();
    let legacy_auth = (legacy.client.client_id.clone(), secret_of(&legacy));
    let code = code_for(&server, &http, &legacy.client.client_id, None).await;
    let answer = redeem_as(
        &server,
        &http,
        (&legacy_auth.0, &legacy_auth.1),
        &code,
        Some(PKCE_VERIFIER),
    )
    .await;
    assert_invalid_grant(&answer, "no challenge, a verifier");
    assert_eq!(
        answer.json["error_description"],
        "code_verifier sent but no code_challenge was"
    );
    // Without PKCE on either side the legacy client still works (it was registered so).
    let code = code_for(&server, &http, &legacy.client.client_id, None).await;
    let answer = redeem_as(
        &server,
        &http,
        (&legacy_auth.0, &legacy_auth.1),
        &code,
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
}

// ---------------------------------------------------------------------------------------------
// Mix-up

/// RFC 9207 §2 and RFC 9700 §4.4.2: every authorization response the provider sends to a client,
/// success or error, carries `iss` equal to the issuer, and discovery says so.
#[tokio::test]
async fn rfc9207_2_every_authorization_response_carries_iss_errors_included() {
    let server = TestServer::start().await;
    let meta: serde_json::Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["authorization_response_iss_parameter_supported"], true);
    let http = browser();
    let base = server.authorize_params();
    let cases: Vec<(&str, Vec<(String, String)>)> = vec![
        (
            "unsupported_response_type",
            with(&base, "response_type", Some("token")),
        ),
        ("invalid_scope", with(&base, "scope", Some("profile"))),
        (
            "invalid_request",
            with(
                &with(&base, "code_challenge", None),
                "code_challenge_method",
                None,
            ),
        ),
        ("login_required", with(&base, "prompt", Some("none"))),
        (
            "invalid_request_object",
            with(&base, "request", Some("eyJhbGciOiJub25lIn0.e30.")),
        ),
    ];
    for (error, params) in cases {
        let res = http
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        let got = assert_error_redirect(&res, &server, error, Some("st-123"));
        assert_eq!(got["iss"], server.issuer, "{error}");
    }
    // And the success response (assert_code_redirect checks iss).
    server.code_for_default_request(&http).await;
}

// ---------------------------------------------------------------------------------------------
// Forged id_token_hint at logout

async fn id_token_for(
    server: &TestServer,
    http: &reqwest::Client,
    client: &RegisteredClient,
) -> String {
    let code = code_for(server, http, &client.client.client_id, Some(PKCE_CHALLENGE)).await;
    let answer = redeem_as(
        server,
        http,
        (&client.client.client_id, &secret_of(client)),
        &code,
        Some(PKCE_VERIFIER),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    answer.json["id_token"].as_str().unwrap().to_string()
}

async fn has_session(
    server: &TestServer,
    http: &reqwest::Client,
    client: &RegisteredClient,
) -> bool {
    let mut params = with(
        &server.authorize_params(),
        "client_id",
        Some(&client.client.client_id),
    );
    params.push(("prompt".into(), "none".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    !query_of(&see_other_location(&res)).contains_key("error")
}

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

/// Asserts the logout request was not trusted: the confirmation page, no redirect to the
/// registered URI, the session still there.
async fn assert_hint_refused(res: reqwest::Response, what: &str) {
    assert_eq!(res.status(), StatusCode::OK, "{what}: a confirmation page");
    assert!(res.headers().get(LOCATION).is_none(), "{what}: no redirect");
    let body = res.text().await.unwrap();
    assert!(body.contains("Sign out of AHS IAM?"), "{what}: {body}");
    assert!(
        !body.contains(POST_LOGOUT),
        "{what}: the return address is dropped"
    );
}

/// RP-Initiated Logout 1.0 §2 and §4 (and RFC 8725 §2.1, §3.1): an `id_token_hint` with the
/// provider's `iss`, `aud` and `sub` but signed by another key (under the provider's own `kid`),
/// an unsigned one (`alg: none`) and an HS256 one keyed with the provider's public JWK (algorithm
/// confusion) are not trusted: the person is asked, and the return address is not followed.
#[tokio::test]
async fn rp_initiated_logout_4_a_hint_signed_by_another_key_or_unsigned_is_not_trusted() {
    let server = TestServer::start().await;
    let rp = server
        .provider
        .register_client(
            NewClient::new("Logout RP", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false)
                .post_logout_redirect_uris([POST_LOGOUT]),
        )
        .await
        .unwrap();
    let http = browser();
    let genuine = id_token_for(&server, &http, &rp).await;
    let header = jwt_part(&genuine, 0);
    let claims = jwt_part(&genuine, 1);

    // Another RSA key, the provider's kid.
    let pair = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let signer = josekit::jws::RS256
        .signer_from_der(pair.to_der_private_key())
        .unwrap();
    let mut h = josekit::jws::JwsHeader::new();
    h.set_token_type("JWT");
    h.set_key_id(header["kid"].as_str().unwrap());
    let other_key =
        josekit::jws::serialize_compact(&serde_json::to_vec(&claims).unwrap(), &h, &signer)
            .unwrap();

    let unsigned = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );

    let jwks: serde_json::Value = reqwest::get(server.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public = serde_json::to_vec(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["kid"] == header["kid"])
            .unwrap(),
    )
    .unwrap();
    let hs = josekit::jws::HS256.signer_from_bytes(&public).unwrap();
    let mut h = josekit::jws::JwsHeader::new();
    h.set_token_type("JWT");
    h.set_key_id(header["kid"].as_str().unwrap());
    let confused =
        josekit::jws::serialize_compact(&serde_json::to_vec(&claims).unwrap(), &h, &hs).unwrap();

    for (what, hint) in [
        ("another key", other_key),
        ("alg none", unsigned),
        ("HS256 with the public key", confused),
    ] {
        let res = http
            .get(server.url("/logout"))
            .query(&[
                ("id_token_hint", hint.as_str()),
                ("post_logout_redirect_uri", POST_LOGOUT),
                ("state", "s"),
            ])
            .send()
            .await
            .unwrap();
        assert_hint_refused(res, what).await;
        assert!(
            has_session(&server, &http, &rp).await,
            "{what}: nothing ended"
        );
    }
    // The genuine hint is followed (the control).
    let res = http
        .get(server.url("/logout"))
        .query(&[
            ("id_token_hint", genuine.as_str()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "s"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION].to_str().unwrap(),
        format!("{POST_LOGOUT}?state=s")
    );
}

/// RP-Initiated Logout 1.0 §2 (the hint's issuer must be the provider's): two providers over one
/// database share their signing keys, so a hint made by one verifies at the other by signature;
/// it is still refused there, because its `iss` is the other issuer.
#[tokio::test]
async fn rp_initiated_logout_2_a_hint_with_another_issuer_is_not_trusted_even_if_the_signature_verifies()
 {
    let db = SharedDb::create();
    let clock = shared_clock();
    let ours = replica("http://127.0.0.1:1", &db, clock.clone(), false, |c| c).await;
    let theirs = replica("http://localhost:2", &db, clock.clone(), false, |c| c).await;
    ours.provider
        .create_user(NewUser {
            username: USERNAME.into(),
            email: EMAIL.into(),
            name: None,
            roles: vec![],
            password: Some(PASSWORD.into()),
        })
        .await
        .unwrap();
    let rp = ours
        .provider
        .register_client(
            NewClient::new("Logout RP", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false)
                .post_logout_redirect_uris([POST_LOGOUT]),
        )
        .await
        .unwrap();
    let http = browser();
    // Sign in at "theirs" (relative redirects keep the browser on that replica's port).
    let mut authorize = Url::parse(&format!("{}/authorize", theirs.base)).unwrap();
    authorize.query_pairs_mut().extend_pairs([
        ("client_id", rp.client.client_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s1"),
        ("nonce", "n1"),
        ("code_challenge", PKCE_CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let res = http.get(authorize.as_str()).send().await.unwrap();
    let journey = res.headers()[LOCATION].to_str().unwrap().to_string();
    let journey = Url::parse(&theirs.base).unwrap().join(&journey).unwrap();
    let page = http
        .get(journey.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("username", USERNAME),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let back = Url::parse(res.headers()[LOCATION].to_str().unwrap()).unwrap();
    let code = query_of(&back)["code"].clone();
    let answer: serde_json::Value = http
        .post(format!("{}/token", theirs.base))
        .basic_auth(&rp.client.client_id, Some(secret_of(&rp)))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", PKCE_VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hint = answer["id_token"].as_str().unwrap();
    assert_eq!(jwt_part(hint, 1)["iss"], "http://localhost:2");

    let logout = |base: &str| {
        http.get(format!("{base}/logout")).query(&[
            ("id_token_hint", hint),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "s"),
        ])
    };
    let res = logout(&ours.base).send().await.unwrap();
    assert_hint_refused(res, "another issuer").await;
    // At its own issuer the same hint is followed (the control).
    let res = logout(&theirs.base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION].to_str().unwrap(),
        format!("{POST_LOGOUT}?state=s")
    );
}
