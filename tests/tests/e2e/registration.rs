//! Dynamic client registration (RFC 7591, OpenID Connect Dynamic Client Registration 1.0), its
//! management with registration access tokens (RFC 7592), initial access tokens, and the admin
//! API's client operations. Registration goes through the `openidconnect` crate where it can
//! (its `CoreClientRegistrationRequest`), and raw HTTP for what it does not cover (RFC 7592,
//! refused metadata one member at a time).

use crate::common::mfa::{admin_token, give_token, passcode, staff};
use crate::common::*;
use oidc_core::{Actor, ClientUpdate, NewClient, ROLE_IAM_ADMIN, ROLE_SERVICE_DESK};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientRegistrationRequest,
    CoreClientRegistrationResponse, CoreProviderMetadata, CoreRegisterErrorResponseType,
};
use openidconnect::registration::EmptyAdditionalClientMetadata;
use openidconnect::{
    AccessToken, AuthorizationCode, ClientId, ClientName, ClientSecret, CsrfToken, IssuerUrl,
    LocalizedClaim, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken,
    RegistrationUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;

const RP_CALLBACK: &str = "https://rp.example.org/callback";
/// A loopback callback: allowed for a web client only because the test issuer is plain-http
/// loopback (development).
const LOOPBACK_CALLBACK: &str = "http://127.0.0.1:47123/callback";

async fn initial_token(server: &TestServer, ttl_secs: u64, single_use: bool) -> String {
    server
        .provider
        .create_initial_access_token(
            &Actor::BreakGlass,
            std::time::Duration::from_secs(ttl_secs),
            single_use,
        )
        .await
        .unwrap()
        .token
        .secret()
        .to_string()
}

/// POSTs JSON to the registration endpoint with an optional bearer token.
async fn register_raw(server: &TestServer, token: Option<&str>, body: Value) -> JsonAnswer {
    let mut req = reqwest::Client::new()
        .post(server.url("/register"))
        .json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    JsonAnswer::read(req.send().await.unwrap()).await
}

async fn manage(
    method: reqwest::Method,
    uri: &str,
    token: &str,
    body: Option<Value>,
) -> JsonAnswer {
    let mut req = reqwest::Client::new()
        .request(method, uri)
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    JsonAnswer::read(req.send().await.unwrap()).await
}

async fn client_count(server: &TestServer) -> usize {
    server.provider.list_clients().await.unwrap().len()
}

/// Signs the seeded user in through `client` (password, passcode, and the consent page a
/// third-party client gets), and returns the token response.
async fn sign_in_with(
    server: &TestServer,
    client: &CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    redirect: &str,
) -> (openidconnect::core::CoreTokenResponse, Nonce, bool) {
    let http = browser();
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();
    server.align_clock(30, 2);
    let page = open_signin(&http, http.get(url.as_str()).send().await.unwrap()).await;
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
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
    let mut res = http
        .post(next)
        .form(&[
            ("csrf", csrf_of(&body).as_str()),
            ("passcode", &passcode(server)),
        ])
        .send()
        .await
        .unwrap();
    let mut consented = false;
    let location = loop {
        let location = see_other_location(&res);
        if location.as_str().starts_with(redirect) {
            break location;
        }
        // A third-party client: the consent page.
        let page = http.get(location.clone()).send().await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let body = page.text().await.unwrap();
        assert!(
            body.contains("to use your account?"),
            "expected the consent page at {location}:\n{body}"
        );
        consented = true;
        res = http
            .post(location)
            .form(&[("csrf", csrf_of(&body).as_str()), ("decision", "allow")])
            .send()
            .await
            .unwrap();
    };
    let params = query_of(&location);
    assert_eq!(params["state"], *state.secret());
    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("the registered client redeems its code");
    (tokens, nonce, consented)
}

#[tokio::test]
async fn rfc7591_3_openidconnect_registers_with_an_initial_access_token_then_signs_in() {
    let server = TestServer::start().await;
    give_token(&server, USERNAME).await;
    let http = browser();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let registration_url: RegistrationUrl = metadata
        .registration_endpoint()
        .expect("discovery advertises registration_endpoint")
        .clone();
    assert_eq!(registration_url.as_str(), server.url("/register"));

    let token = initial_token(&server, 3600, true).await;
    let request = CoreClientRegistrationRequest::new(
        vec![RedirectUrl::new(LOOPBACK_CALLBACK.into()).unwrap()],
        EmptyAdditionalClientMetadata {},
    )
    .set_client_name(Some(LocalizedClaim::from(ClientName::new(
        "Partner <b>portal</b>".into(),
    ))))
    .set_grant_types(Some(vec![
        openidconnect::core::CoreGrantType::AuthorizationCode,
        openidconnect::core::CoreGrantType::RefreshToken,
    ]))
    .set_initial_access_token(Some(AccessToken::new(token.clone())));
    let registered: CoreClientRegistrationResponse = request
        .register_async(&registration_url, &http)
        .await
        .expect("registration succeeds");
    let client_id = registered.client_id().clone();
    let secret = registered
        .client_secret()
        .expect("a confidential client gets its secret once")
        .clone();
    assert!(registered.registration_access_token().is_some());
    assert_eq!(
        registered.registration_client_uri().unwrap().as_str(),
        server.url(&format!("/register/{}", client_id.as_str()))
    );
    assert_eq!(
        registered.client_secret_expires_at().map(|t| t.timestamp()),
        Some(0),
        "RFC 7591 §3.2.1: 0 = never"
    );
    assert!(registered.client_id_issued_at().is_some());

    // The single-use token is spent.
    let again = request.register_async(&registration_url, &http).await;
    assert!(
        again.is_err(),
        "a single-use initial access token works once"
    );

    // Stored third-party, with the second factor and PKCE required, the secret as a digest.
    let info = server.provider.client(client_id.as_str()).await.unwrap();
    assert!(
        !info.first_party,
        "dynamically registered clients need consent"
    );
    assert!(info.mfa_required);
    assert!(info.pkce_required);
    assert!(info.dynamic_registration);
    assert_eq!(info.name, "Partner <b>portal</b>");
    assert_eq!(
        info.token_endpoint_auth_method,
        oidc_core::AuthMethod::ClientSecretBasic
    );

    let client = CoreClient::from_provider_metadata(metadata, client_id.clone(), Some(secret))
        .set_redirect_uri(RedirectUrl::new(LOOPBACK_CALLBACK.into()).unwrap());
    let (tokens, nonce, consented) = sign_in_with(&server, &client, LOOPBACK_CALLBACK).await;
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.audiences()[0].as_str(), client_id.as_str());
    assert_eq!(claims.subject().as_str(), server.user.subject);
    assert!(
        consented,
        "a dynamically registered client is third-party: consent page"
    );
    let ui = server
        .userinfo(&browser(), tokens.access_token().secret())
        .await;
    assert_eq!(ui.status, StatusCode::OK, "{:?}", ui.json);

    // Audited, with the initial access token that allowed it.
    let events = server.provider.audit_events(None, 1000).await.unwrap();
    let e = events
        .iter()
        .find(|e| e.event == "client.registered")
        .expect("audited");
    assert_eq!(e.subject.as_deref(), Some(client_id.as_str()));
}

#[tokio::test]
async fn rfc7591_3_2_2_refused_metadata_answers_the_exact_error_code() {
    let server = TestServer::start().await;
    let token = initial_token(&server, 3600, false).await;
    let before = client_count(&server).await;
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({ "redirect_uris": ["https://rp.example.org/cb#frag"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://*.example.org/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["https://rp.example.org/*"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["http://rp.example.org/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": ["/relative"] }),
            "invalid_redirect_uri",
        ),
        (json!({ "redirect_uris": [] }), "invalid_redirect_uri"),
        (json!({}), "invalid_redirect_uri"),
        // A private-use scheme is for native apps (RFC 8252 §7.1), in reverse-domain form.
        (
            json!({ "redirect_uris": ["com.example.app:/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "application_type": "native", "token_endpoint_auth_method": "none", "redirect_uris": ["myapp:/cb"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "application_type": "native", "token_endpoint_auth_method": "none", "redirect_uris": ["javascript:alert(1)"] }),
            "invalid_redirect_uri",
        ),
        (
            json!({ "redirect_uris": "https://rp.example.org/cb" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "token_endpoint_auth_method": "tls_client_auth" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "grant_types": ["implicit"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "response_types": ["token"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "grant_types": ["client_credentials"], "response_types": ["code"] }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "token_endpoint_auth_method": "private_key_jwt" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "token_endpoint_auth_method": "private_key_jwt",
                    "jwks_uri": "https://rp.example.org/jwks", "jwks": { "keys": [{ "kty": "EC" }] } }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "token_endpoint_auth_method": "private_key_jwt",
                    "jwks": { "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] } }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "logo_uri": "javascript:alert(1)" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "backchannel_logout_uri": "https://rp.example.org/bcl#x" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "id_token_signed_response_alg": "none" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "subject_type": "pairwise" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "id_token_encrypted_response_alg": "RSA-OAEP" }),
            "invalid_client_metadata",
        ),
        (
            json!({ "redirect_uris": [RP_CALLBACK], "scope": "openid admin" }),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (body, code) in cases {
        let res = register_raw(&server, Some(&token), body.clone()).await;
        assert_eq!(
            res.status,
            StatusCode::BAD_REQUEST,
            "{body}: {:?}",
            res.json
        );
        assert_eq!(res.json["error"], code, "{body}: {:?}", res.json);
        assert!(res.json["error_description"].is_string());
        assert_eq!(res.header("cache-control"), Some("no-store"));
    }
    // Not JSON at all.
    let res = reqwest::Client::new()
        .post(server.url("/register"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = JsonAnswer::read(res).await;
    assert_eq!(res.json["error"], "invalid_client_metadata");
    assert_eq!(
        client_count(&server).await,
        before,
        "nothing was registered"
    );

    // The openidconnect crate reads the error as the RFC's code.
    let http = browser();
    let err = CoreClientRegistrationRequest::new(
        vec![RedirectUrl::new("http://rp.example.org/cb".into()).unwrap()],
        EmptyAdditionalClientMetadata {},
    )
    .set_initial_access_token(Some(AccessToken::new(token.clone())))
    .register_async(
        &RegistrationUrl::new(server.url("/register")).unwrap(),
        &http,
    )
    .await
    .unwrap_err();
    match err {
        openidconnect::registration::ClientRegistrationError::ServerResponse(e) => {
            assert_eq!(
                *e.error(),
                CoreRegisterErrorResponseType::InvalidRedirectUri
            )
        }
        other => panic!("expected invalid_redirect_uri, got {other:?}"),
    }

    // RFC 7591 §2: unknown members are ignored; native loopback and private-use schemes pass.
    let ok = register_raw(
        &server,
        Some(&token),
        json!({
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "redirect_uris": ["http://127.0.0.1/callback", "com.example.app:/oauth2redirect"],
            "client_name": "Field app",
            "x_vendor_extension": { "nested": [1, 2, 3] },
            "client_name#fr": "Appli de terrain",
            "contacts": ["dev@example.org"],
            "logo_uri": "https://app.example.org/logo.png",
        }),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{:?}", ok.json);
    assert_eq!(ok.json["application_type"], "native");
    assert_eq!(ok.json["token_endpoint_auth_method"], "none");
    assert!(
        ok.json.get("client_secret").is_none(),
        "a public client has no secret"
    );
    assert!(ok.json.get("x_vendor_extension").is_none());
    assert_eq!(ok.json["contacts"], json!(["dev@example.org"]));
    assert_eq!(ok.json["grant_types"], json!(["authorization_code"]));
    assert_eq!(ok.json["response_types"], json!(["code"]));
    assert_eq!(ok.json["id_token_signed_response_alg"], "RS256");
}

#[tokio::test]
async fn rfc7591_3_initial_access_token_missing_wrong_expired_or_spent_is_refused() {
    let server = TestServer::start().await;
    let body = json!({ "redirect_uris": [RP_CALLBACK] });
    let before = client_count(&server).await;

    let none = register_raw(&server, None, body.clone()).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));

    let wrong = register_raw(&server, Some("not-a-token"), body.clone()).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(
        wrong
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer error=\"invalid_token\""),
        "{:?}",
        wrong.headers
    );
    assert_eq!(wrong.json["error"], "invalid_token");

    let short = initial_token(&server, 60, false).await;
    server.advance_clock(61);
    let expired = register_raw(&server, Some(&short), body.clone()).await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(expired.json["error"], "invalid_token");
    assert_eq!(client_count(&server).await, before);

    // Refused metadata does not spend a single-use token.
    let once = initial_token(&server, 600, true).await;
    let bad = register_raw(
        &server,
        Some(&once),
        json!({ "redirect_uris": ["http://x.example/cb"] }),
    )
    .await;
    assert_eq!(bad.json["error"], "invalid_redirect_uri");
    let first = register_raw(&server, Some(&once), body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json);
    let second = register_raw(&server, Some(&once), body.clone()).await;
    assert_eq!(second.status, StatusCode::UNAUTHORIZED);
    assert_eq!(second.json["error"], "invalid_token");

    // A multi-use token registers until it expires.
    let many = initial_token(&server, 600, false).await;
    for _ in 0..2 {
        let r = register_raw(&server, Some(&many), body.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    }
    assert_eq!(client_count(&server).await, before + 3);

    // A registration access token is not an initial access token.
    let rat = first.json["registration_access_token"].as_str().unwrap();
    let r = register_raw(&server, Some(rat), body).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rfc7591_3_open_registration_needs_no_initial_access_token() {
    let server = TestServer::start_with(|c| c.open_registration(true), Vec::new()).await;
    let r = register_raw(
        &server,
        None,
        json!({ "redirect_uris": [RP_CALLBACK], "token_endpoint_auth_method": "client_secret_post" }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["token_endpoint_auth_method"], "client_secret_post");
    let info = server
        .provider
        .client(r.json["client_id"].as_str().unwrap())
        .await
        .unwrap();
    assert!(!info.first_party);
}

#[tokio::test]
async fn rfc7592_2_read_update_and_delete_with_the_registration_access_token() {
    let server = TestServer::start().await;
    let token = initial_token(&server, 600, false).await;
    let reg = register_raw(
        &server,
        Some(&token),
        json!({
            "redirect_uris": [RP_CALLBACK],
            "client_name": "Partner",
            "client_uri": "https://rp.example.org/",
            "grant_types": ["authorization_code", "refresh_token"],
            "backchannel_logout_uri": "https://rp.example.org/backchannel",
            "backchannel_logout_session_required": true,
            "require_pushed_authorization_requests": true,
            "post_logout_redirect_uris": ["https://rp.example.org/bye"],
        }),
    )
    .await;
    assert_eq!(reg.status, StatusCode::CREATED, "{:?}", reg.json);
    let client_id = reg.json["client_id"].as_str().unwrap().to_string();
    let secret = reg.json["client_secret"].as_str().unwrap().to_string();
    let uri = reg.json["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let rat = reg.json["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        reg.json["backchannel_logout_uri"],
        "https://rp.example.org/backchannel"
    );
    assert_eq!(reg.json["backchannel_logout_session_required"], true);
    assert_eq!(reg.json["require_pushed_authorization_requests"], true);

    // §2.1 read: the registration as stored, without the secret.
    let read = manage(reqwest::Method::GET, &uri, &rat, None).await;
    assert_eq!(read.status, StatusCode::OK, "{:?}", read.json);
    assert_eq!(read.json["client_id"], client_id);
    assert_eq!(read.json["client_name"], "Partner");
    assert_eq!(read.json["client_uri"], "https://rp.example.org/");
    assert_eq!(read.json["registration_client_uri"], uri);
    assert!(read.json.get("client_secret").is_none());
    assert_eq!(read.header("cache-control"), Some("no-store"));

    // Wrong or missing token; another client's URI with this token.
    let wrong = manage(reqwest::Method::GET, &uri, "wrong", None).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json["error"], "invalid_token");
    let other = server.url(&format!("/register/{}", server.client_id()));
    let r = manage(reqwest::Method::GET, &other, &rat, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let res = reqwest::Client::new().get(&uri).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // §2.2 update: client_id required and must match; a secret sent must be the current one.
    let no_id = manage(
        reqwest::Method::PUT,
        &uri,
        &rat,
        Some(json!({ "redirect_uris": [RP_CALLBACK] })),
    )
    .await;
    assert_eq!(no_id.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_id.json["error"], "invalid_client_metadata");
    let bad_secret = manage(
        reqwest::Method::PUT,
        &uri,
        &rat,
        Some(json!({ "client_id": client_id, "client_secret": "nope", "redirect_uris": [RP_CALLBACK] })),
    )
    .await;
    assert_eq!(bad_secret.json["error"], "invalid_client_metadata");
    let bad_uri = manage(
        reqwest::Method::PUT,
        &uri,
        &rat,
        Some(json!({ "client_id": client_id, "redirect_uris": ["https://rp.example.org/cb#x"] })),
    )
    .await;
    assert_eq!(bad_uri.json["error"], "invalid_redirect_uri");

    // The update replaces the metadata: what it leaves out is gone.
    let updated = manage(
        reqwest::Method::PUT,
        &uri,
        &rat,
        Some(json!({
            "client_id": client_id,
            "client_secret": secret,
            "client_name": "Partner v2",
            "redirect_uris": ["https://rp.example.org/v2/callback"],
        })),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK, "{:?}", updated.json);
    assert_eq!(updated.json["client_name"], "Partner v2");
    assert_eq!(
        updated.json["redirect_uris"],
        json!(["https://rp.example.org/v2/callback"])
    );
    assert!(
        updated.json.get("client_uri").is_none(),
        "omitted values are removed"
    );
    assert!(updated.json.get("backchannel_logout_uri").is_none());
    assert_eq!(updated.json["grant_types"], json!(["authorization_code"]));
    assert_eq!(updated.json["require_pushed_authorization_requests"], false);
    assert!(
        updated.json.get("client_secret").is_none(),
        "same method: the secret is kept"
    );
    let new_rat = updated.json["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new_rat, rat, "the registration access token rotates");

    // The old token is refused after the rotation; the new one works.
    let old = manage(reqwest::Method::GET, &uri, &rat, None).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    assert_eq!(old.json["error"], "invalid_token");
    let fresh = manage(reqwest::Method::GET, &uri, &new_rat, None).await;
    assert_eq!(fresh.status, StatusCode::OK);
    assert_eq!(fresh.json["client_name"], "Partner v2");

    // The secret still works at the token endpoint (client_secret_basic).
    let http = reqwest::Client::new();
    let t = server
        .token_request(
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", RP_CALLBACK),
            ],
            Some((&client_id, &secret)),
        )
        .await;
    assert_eq!(
        t.json["error"], "invalid_grant",
        "authenticated, wrong code"
    );

    // Switching to a public client drops the secret.
    let public = manage(
        reqwest::Method::PUT,
        &uri,
        &new_rat,
        Some(json!({
            "client_id": client_id,
            "token_endpoint_auth_method": "none",
            "redirect_uris": ["https://rp.example.org/v2/callback"],
        })),
    )
    .await;
    assert_eq!(public.status, StatusCode::OK, "{:?}", public.json);
    assert!(public.json.get("client_secret_expires_at").is_none());
    let rat3 = public.json["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let t = server
        .token_request(
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", RP_CALLBACK),
            ],
            Some((&client_id, &secret)),
        )
        .await;
    assert_eq!(t.status, StatusCode::UNAUTHORIZED);

    // §2.3 delete.
    let del = reqwest::Client::new()
        .delete(&uri)
        .bearer_auth(&rat3)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    let gone = manage(reqwest::Method::GET, &uri, &rat3, None).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    assert!(matches!(
        server.provider.client(&client_id).await,
        Err(oidc_core::Error::NotFound(_))
    ));
    let events = server.provider.audit_events(None, 1000).await.unwrap();
    for name in ["client.registered", "client.updated", "client.deleted"] {
        assert!(
            events
                .iter()
                .any(|e| e.event == name && e.subject.as_deref() == Some(client_id.as_str())),
            "{name} audited"
        );
    }
}

#[tokio::test]
async fn rfc7592_2_3_a_deleted_clients_tokens_stop_working() {
    let server = TestServer::start().await;
    give_token(&server, USERNAME).await;
    let token = initial_token(&server, 600, true).await;
    let reg = register_raw(
        &server,
        Some(&token),
        json!({
            "redirect_uris": [LOOPBACK_CALLBACK],
            "grant_types": ["authorization_code", "refresh_token"],
        }),
    )
    .await;
    assert_eq!(reg.status, StatusCode::CREATED, "{:?}", reg.json);
    let client_id = reg.json["client_id"].as_str().unwrap().to_string();
    let secret = reg.json["client_secret"].as_str().unwrap().to_string();
    let uri = reg.json["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let rat = reg.json["registration_access_token"]
        .as_str()
        .unwrap()
        .to_string();

    let http = browser();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(LOOPBACK_CALLBACK.into()).unwrap());
    let (tokens, _, _) = sign_in_with(&server, &client, LOOPBACK_CALLBACK).await;
    let access = tokens.access_token().secret().clone();
    let refresh = tokens
        .refresh_token()
        .expect("offline_access")
        .secret()
        .clone();
    assert_eq!(server.userinfo(&http, &access).await.status, StatusCode::OK);

    let del = reqwest::Client::new()
        .delete(&uri)
        .bearer_auth(&rat)
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);

    let ui = server.userinfo(&http, &access).await;
    assert_eq!(ui.status, StatusCode::UNAUTHORIZED, "{:?}", ui.json);
    assert_eq!(ui.json["error"], "invalid_token");
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(refresh.clone()))
        .unwrap()
        .request_async(&http)
        .await;
    assert!(refreshed.is_err(), "the deleted client cannot refresh");
    let t = server
        .token_request(
            &http,
            &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
            Some((&client_id, &secret)),
        )
        .await;
    assert_eq!(t.status, StatusCode::UNAUTHORIZED);
    assert_eq!(t.json["error"], "invalid_client");
}

// ---------------------------------------------------------------------------------------------
// The admin API's client section, with a real admin console token.

async fn api(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> JsonAnswer {
    let mut req = reqwest::Client::new()
        .request(method, server.url(&format!("/admin/api{path}")))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    JsonAnswer::read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn admin_api_lists_shows_updates_rotates_and_deletes_clients() {
    let server = TestServer::start().await;
    staff(&server, "root1", &[ROLE_IAM_ADMIN]).await;
    staff(&server, "desk1", &[ROLE_SERVICE_DESK]).await;
    let admin = admin_token(&server, "root1", "openid admin").await;
    let desk = admin_token(&server, "desk1", "openid admin").await;
    let service = server
        .provider
        .register_client(NewClient::service("Nightly import").scope(["registry.read"]))
        .await
        .unwrap();
    let sid = service.client.client_id.clone();
    let old_secret = service.client_secret.unwrap().secret().to_string();

    let list = api(&server, reqwest::Method::GET, "/clients", &desk, None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.json
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == sid)
    );
    assert!(
        list.json
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c.get("client_secret").is_none()),
        "never a secret"
    );
    let one = api(
        &server,
        reqwest::Method::GET,
        &format!("/clients/{sid}"),
        &desk,
        None,
    )
    .await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json["name"], "Nightly import");
    assert_eq!(
        one.json["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    let missing = api(&server, reqwest::Method::GET, "/clients/nope", &desk, None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Changes need iam_admin.
    let refused = api(
        &server,
        reqwest::Method::PATCH,
        &format!("/clients/{sid}"),
        &desk,
        Some(json!({ "name": "x" })),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // Update: checked as at registration.
    let bad = api(
        &server,
        reqwest::Method::PATCH,
        &format!("/clients/{}", server.client_id()),
        &admin,
        Some(json!({ "redirect_uris": ["https://rp.example.org/cb#frag"] })),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.json["error"], "invalid_request");
    let upd = api(
        &server,
        reqwest::Method::PATCH,
        &format!("/clients/{}", server.client_id()),
        &admin,
        Some(json!({ "name": "Renamed", "redirect_uris": [REDIRECT_URI, "https://rp.example.org/cb"], "first_party": false })),
    )
    .await;
    assert_eq!(upd.status, StatusCode::OK, "{:?}", upd.json);
    assert_eq!(upd.json["name"], "Renamed");
    assert_eq!(upd.json["first_party"], false);
    assert_eq!(
        upd.json["redirect_uris"],
        json!([REDIRECT_URI, "https://rp.example.org/cb"])
    );
    let console = api(
        &server,
        reqwest::Method::PATCH,
        &format!("/clients/{}", oidc_core::ADMIN_CONSOLE_ID),
        &admin,
        Some(json!({ "name": "mine" })),
    )
    .await;
    assert_eq!(console.status, StatusCode::BAD_REQUEST);

    // Rotate: the old secret stops at once, the new one works.
    let http = reqwest::Client::new();
    let cc = [
        ("grant_type", "client_credentials"),
        ("scope", "registry.read"),
    ];
    let before = server
        .token_request(&http, &cc, Some((&sid, &old_secret)))
        .await;
    assert_eq!(before.status, StatusCode::OK, "{:?}", before.json);
    let rot = api(
        &server,
        reqwest::Method::POST,
        &format!("/clients/{sid}/rotate-secret"),
        &admin,
        None,
    )
    .await;
    assert_eq!(rot.status, StatusCode::OK, "{:?}", rot.json);
    let new_secret = rot.json["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, old_secret);
    let old = server
        .token_request(&http, &cc, Some((&sid, &old_secret)))
        .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let new = server
        .token_request(&http, &cc, Some((&sid, &new_secret)))
        .await;
    assert_eq!(new.status, StatusCode::OK);
    let access = new.json["access_token"].as_str().unwrap().to_string();
    let introspect = |token: String, id: String, secret: String| {
        let http = http.clone();
        let url = server.url("/introspect");
        async move {
            JsonAnswer::read(
                http.post(url)
                    .basic_auth(id, Some(secret))
                    .form(&[("token", token)])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let active = introspect(access.clone(), sid.clone(), new_secret.clone()).await;
    assert_eq!(active.json["active"], true, "{:?}", active.json);

    // Initial access tokens through the API register clients.
    let it = api(
        &server,
        reqwest::Method::POST,
        "/clients/initial-tokens",
        &admin,
        Some(json!({ "ttl_secs": 600 })),
    )
    .await;
    assert_eq!(it.status, StatusCode::CREATED, "{:?}", it.json);
    assert_eq!(it.json["single_use"], true);
    let r = register_raw(
        &server,
        it.json["initial_access_token"].as_str(),
        json!({ "redirect_uris": [RP_CALLBACK] }),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED);
    let it = api(
        &server,
        reqwest::Method::POST,
        "/clients/initial-tokens",
        &desk,
        None,
    )
    .await;
    assert_eq!(it.status, StatusCode::FORBIDDEN);

    // Delete: the client's tokens stop working.
    let del = api(
        &server,
        reqwest::Method::DELETE,
        &format!("/clients/{sid}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT);
    let gone = api(
        &server,
        reqwest::Method::GET,
        &format!("/clients/{sid}"),
        &admin,
        None,
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let after = server
        .token_request(&http, &cc, Some((&sid, &new_secret)))
        .await;
    assert_eq!(after.status, StatusCode::UNAUTHORIZED);
    // Another confidential client may introspect: the deleted client's token is inactive.
    let active = introspect(
        access,
        server.client_id().to_string(),
        server.client_secret().to_string(),
    )
    .await;
    assert_eq!(active.json["active"], false, "{:?}", active.json);

    let events = server.provider.audit_events(None, 1000).await.unwrap();
    for name in [
        "client.updated",
        "client.secret_rotated",
        "client.deleted",
        "client.initial_token_created",
    ] {
        let e = events
            .iter()
            .find(|e| e.event == name)
            .unwrap_or_else(|| panic!("{name} audited"));
        assert_eq!(e.actor, "user:root1", "{name}");
    }

    // The library call behind the API refuses a person without the role.
    let err = server
        .provider
        .update_client(
            &Actor::User("desk1".into()),
            server.client_id(),
            ClientUpdate::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, oidc_core::Error::Forbidden(_)));
    let _ = Url::parse(&server.issuer).unwrap();
}
