//! Pushed authorization requests (RFC 9126) end to end: the `openidconnect` crate builds the
//! authorization request and redeems the code; as it has no PAR helper, the request is pushed
//! with reqwest and the browser is sent with `client_id` and the returned `request_uri` only.

use crate::common::*;
use oidc_core::{ClientMetadata, NewClient};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse,
};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;
use serde_json::Value;

const URN_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

type Rp = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

async fn relying_party(server: &TestServer, http: &reqwest::Client) -> Rp {
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

/// POSTs `form` to the PAR endpoint, with Basic client credentials if given.
async fn push(
    server: &TestServer,
    form: &[(String, String)],
    basic: Option<(&str, &str)>,
) -> JsonAnswer {
    let mut req = browser().post(server.url("/par")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    JsonAnswer::read(req.send().await.expect("PAR request")).await
}

/// Pushes the seeded client's request `form` (client_secret_basic) and returns its request_uri.
async fn push_ok(server: &TestServer, form: &[(String, String)]) -> String {
    let answer = push(
        server,
        form,
        Some((server.client_id(), server.client_secret())),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    answer.json["request_uri"]
        .as_str()
        .expect("request_uri")
        .to_string()
}

/// The authorization endpoint URL carrying only `client_id` and `request_uri` (RFC 9126 §4).
fn by_reference(server: &TestServer, client_id: &str, request_uri: &str) -> String {
    server.authorize_url(&[
        ("client_id".to_string(), client_id.to_string()),
        ("request_uri".to_string(), request_uri.to_string()),
    ])
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn without(mut params: Vec<(String, String)>, name: &str) -> Vec<(String, String)> {
    params.retain(|(k, _)| k != name);
    params
}

fn with(params: Vec<(String, String)>, name: &str, value: &str) -> Vec<(String, String)> {
    let mut p = without(params, name);
    p.push((name.to_string(), value.to_string()));
    p
}

fn assert_json_error(answer: &JsonAnswer, status: StatusCode, error: &str, why: &str) {
    assert_eq!(answer.status, status, "{why}: {:?}", answer.json);
    assert_eq!(answer.json["error"], error, "{why}: {:?}", answer.json);
    assert!(
        answer.json["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{why}: no error_description"
    );
    assert_eq!(answer.header("cache-control"), Some("no-store"), "{why}");
}

#[tokio::test]
async fn rfc9126_5_discovery_advertises_the_par_endpoint() {
    let server = TestServer::start().await;
    let doc: Value = browser()
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        server.url("/par")
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);
    // Only PAR's own URNs are accepted as request_uri: nothing is fetched by reference.
    assert_eq!(doc["request_uri_parameter_supported"], false);

    let required =
        TestServer::start_with(|c| c.require_pushed_authorization_requests(true), vec![]).await;
    let doc: Value = browser()
        .get(required.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["require_pushed_authorization_requests"], true);
}

#[tokio::test]
async fn rfc9126_2_and_4_the_openidconnect_flow_through_par() {
    let server = TestServer::start().await;
    let http = browser();
    let rp = relying_party(&server, &http).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = rp
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    // The request the crate would have sent in the query is pushed instead (RFC 9126 §2.1).
    let form: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let answer = push(
        &server,
        &form,
        Some((server.client_id(), server.client_secret())),
    )
    .await;
    // RFC 9126 §2.2: 201 with request_uri and expires_in, not cached.
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    assert_eq!(answer.json["expires_in"], 60);
    let request_uri = answer.json["request_uri"].as_str().unwrap().to_string();
    assert!(request_uri.starts_with(URN_PREFIX), "{request_uri}");
    assert!(request_uri.len() >= URN_PREFIX.len() + 43, "{request_uri}");

    let location = sign_in(
        &http,
        &by_reference(&server, server.client_id(), &request_uri),
    )
    .await;
    let params = assert_code_redirect(&location, &server, Some(state.secret()));
    let token: CoreTokenResponse = rp
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("token exchange");
    let id_token = token.id_token().expect("an ID token");
    let claims = id_token
        .claims(&rp.id_token_verifier(), &nonce)
        .expect("the ID token verifies with the nonce that was pushed");
    assert_eq!(claims.issuer().as_str(), server.issuer);
}

#[tokio::test]
async fn rfc9126_2_1_a_public_client_pushes_with_its_client_id_only() {
    let server = TestServer::start().await;
    let public = server
        .provider
        .register_client(
            NewClient::new("Native app", [REDIRECT_URI])
                .public(true)
                .mfa_required(false),
        )
        .await
        .unwrap();
    let id = public.client.client_id.clone();
    let form = with(server.authorize_params(), "client_id", &id);
    let answer = push(&server, &form, None).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    let uri = answer.json["request_uri"].as_str().unwrap();
    let location = sign_in(&browser(), &by_reference(&server, &id, uri)).await;
    assert_code_redirect(&location, &server, Some("st-123"));
}

#[tokio::test]
async fn rfc9126_4_a_request_uri_is_single_use() {
    let server = TestServer::start().await;
    let http = browser();
    let uri = push_ok(&server, &server.authorize_params()).await;
    let url = by_reference(&server, server.client_id(), &uri);
    let location = sign_in(&http, &url).await;
    assert_code_redirect(&location, &server, Some("st-123"));
    // The same browser (signed in now) and a fresh one both find it spent.
    for b in [&http, &browser()] {
        let again = b.get(&url).send().await.unwrap();
        assert_error_page(again, "invalid_request_uri").await;
    }
}

#[tokio::test]
async fn rfc9126_2_2_a_request_uri_expires_after_expires_in() {
    let server = TestServer::start().await;
    let uri = push_ok(&server, &server.authorize_params()).await;
    server.advance_clock(61);
    let res = browser()
        .get(by_reference(&server, server.client_id(), &uri))
        .send()
        .await
        .unwrap();
    assert_error_page(res, "invalid_request_uri").await;
    // Housekeeping deletes it.
    let report = server.provider.purge_expired().await.unwrap();
    assert_eq!(report.get("pushed_requests"), 1);
}

#[tokio::test]
async fn rfc9126_4_another_clients_request_uri_is_refused() {
    let server = TestServer::start().await;
    let other = server
        .provider
        .register_client(NewClient::new("Other", [REDIRECT_URI]).mfa_required(false))
        .await
        .unwrap();
    let uri = push_ok(&server, &server.authorize_params()).await;
    let stolen = browser()
        .get(by_reference(&server, &other.client.client_id, &uri))
        .send()
        .await
        .unwrap();
    assert_error_page(stolen, "invalid_request_uri").await;
    // The attempt did not spend it: its own client still can use it.
    let location = sign_in(&browser(), &by_reference(&server, server.client_id(), &uri)).await;
    assert_code_redirect(&location, &server, Some("st-123"));
}

#[tokio::test]
async fn rfc9126_4_query_parameters_besides_client_id_and_request_uri_are_ignored() {
    let server = TestServer::start().await;
    let uri = push_ok(&server, &with(server.authorize_params(), "state", "pushed")).await;
    let mut query = pairs(&[
        ("state", "from-the-query"),
        ("scope", "openid"),
        ("redirect_uri", "https://evil.example/cb"),
        ("prompt", "none"),
        ("response_mode", "form_post"),
    ]);
    query.push(("client_id".into(), server.client_id().into()));
    query.push(("request_uri".into(), uri));
    let location = sign_in(&browser(), &server.authorize_url(&query)).await;
    let params = assert_code_redirect(&location, &server, Some("pushed"));
    // The pushed scope, not the query's, was granted.
    let token = server
        .redeem(&browser(), &params["code"], PKCE_VERIFIER)
        .await;
    assert_eq!(token.status, StatusCode::OK, "{:?}", token.json);
    assert_eq!(token.json["scope"], "openid profile email roles");
}

#[tokio::test]
async fn rfc9126_5_a_client_registered_to_require_par_is_refused_a_plain_request() {
    let server = TestServer::start().await;
    let strict = server
        .provider
        .register_client(
            NewClient::new("PAR only", [REDIRECT_URI])
                .mfa_required(false)
                .metadata(ClientMetadata {
                    require_pushed_authorization_requests: true,
                    ..Default::default()
                }),
        )
        .await
        .unwrap();
    let id = strict.client.client_id.clone();
    let secret = strict.client_secret.as_ref().unwrap().secret().to_string();
    let params = with(server.authorize_params(), "client_id", &id);
    let plain = browser()
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let err = assert_error_redirect(&plain, &server, "invalid_request", Some("st-123"));
    assert!(err["error_description"].contains("push"), "{err:?}");
    // Without a usable redirect URI the refusal is a page.
    let no_redirect = browser()
        .get(server.authorize_url(&without(params.clone(), "redirect_uri")))
        .send()
        .await
        .unwrap();
    assert_error_page(no_redirect, "invalid_request").await;
    // Through PAR it works.
    let answer = push(&server, &params, Some((&id, &secret))).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{:?}", answer.json);
    let uri = answer.json["request_uri"].as_str().unwrap();
    let location = sign_in(&browser(), &by_reference(&server, &id, uri)).await;
    assert_code_redirect(&location, &server, Some("st-123"));
    // Other clients are not affected.
    let location = sign_in(
        &browser(),
        &server.authorize_url(&server.authorize_params()),
    )
    .await;
    assert_code_redirect(&location, &server, Some("st-123"));
}

#[tokio::test]
async fn rfc9126_5_server_wide_required_par_refuses_every_plain_request() {
    let server =
        TestServer::start_with(|c| c.require_pushed_authorization_requests(true), vec![]).await;
    let plain = browser()
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&plain, &server, "invalid_request", Some("st-123"));
    let uri = push_ok(&server, &server.authorize_params()).await;
    let location = sign_in(&browser(), &by_reference(&server, server.client_id(), &uri)).await;
    let params = assert_code_redirect(&location, &server, Some("st-123"));
    let token = server
        .redeem(&browser(), &params["code"], PKCE_VERIFIER)
        .await;
    assert_eq!(token.status, StatusCode::OK, "{:?}", token.json);
}

#[tokio::test]
async fn rfc9126_2_client_authentication_is_the_token_endpoints() {
    let server = TestServer::start().await;
    let form = server.authorize_params();
    let wrong = push(&server, &form, Some((server.client_id(), "not-the-secret"))).await;
    assert_json_error(
        &wrong,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "wrong secret",
    );
    assert!(wrong.header("www-authenticate").is_some());
    let none = push(&server, &form, None).await;
    assert_json_error(
        &none,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "no secret",
    );
    let unknown = push(
        &server,
        &with(form.clone(), "client_id", "no-such-client"),
        Some(("no-such-client", "x")),
    )
    .await;
    assert_json_error(
        &unknown,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "unknown client",
    );
    let two_methods = push(
        &server,
        &with(form.clone(), "client_secret", server.client_secret()),
        Some((server.client_id(), server.client_secret())),
    )
    .await;
    assert_json_error(
        &two_methods,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "two methods",
    );
    // The client's registered token_endpoint_auth_method is enforced here as at the token
    // endpoint (RFC 7591 §2): the seeded client is client_secret_basic.
    let post = push(
        &server,
        &with(form.clone(), "client_secret", server.client_secret()),
        None,
    )
    .await;
    assert_json_error(
        &post,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client_secret_post",
    );
}

#[tokio::test]
async fn rfc9126_2_3_pushed_parameters_are_validated_as_at_the_authorization_endpoint() {
    let server = TestServer::start().await;
    let auth = Some((server.client_id(), server.client_secret()));
    let base = server.authorize_params();
    type Case<'a> = (Vec<(String, String)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            with(base.clone(), "redirect_uri", "https://evil.example/cb"),
            "invalid_request",
            "unregistered redirect_uri",
        ),
        (
            without(base.clone(), "redirect_uri"),
            "invalid_request",
            "no redirect_uri",
        ),
        (
            with(base.clone(), "response_type", "token"),
            "unsupported_response_type",
            "implicit",
        ),
        (
            without(base.clone(), "response_type"),
            "invalid_request",
            "no response_type",
        ),
        (
            with(base.clone(), "scope", "profile"),
            "invalid_scope",
            "no openid",
        ),
        (
            without(base.clone(), "code_challenge"),
            "invalid_request",
            "no PKCE",
        ),
        (
            with(base.clone(), "code_challenge_method", "plain"),
            "invalid_request",
            "plain PKCE",
        ),
        (
            with(base.clone(), "prompt", "none login"),
            "invalid_request",
            "prompt none with another",
        ),
        (
            with(base.clone(), "max_age", "-1"),
            "invalid_request",
            "negative max_age",
        ),
        (
            with(base.clone(), "claims", "not json"),
            "invalid_request",
            "claims not JSON",
        ),
        (
            with(base.clone(), "request_uri", &format!("{URN_PREFIX}abc")),
            "invalid_request",
            "request_uri pushed (RFC 9126 §2.1)",
        ),
        (
            {
                let mut p = base.clone();
                p.push(("scope".into(), "openid".into()));
                p
            },
            "invalid_request",
            "repeated scope",
        ),
    ];
    for (form, error, why) in cases {
        let answer = push(&server, &form, auth).await;
        assert_json_error(&answer, StatusCode::BAD_REQUEST, error, why);
    }
    // Not a form.
    let res = browser()
        .post(server.url("/par"))
        .basic_auth(server.client_id(), Some(server.client_secret()))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    let answer = JsonAnswer::read(res).await;
    assert_json_error(
        &answer,
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "JSON body",
    );
    // A body beyond the limit.
    let big = with(base.clone(), "state", &"s".repeat(70 * 1024));
    let answer = push(&server, &big, auth).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json["error"], "invalid_request");
    // Only POST (RFC 9126 §2).
    let get = browser().get(server.url("/par")).send().await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn rfc9126_4_unknown_or_malformed_request_uris_are_invalid_request_uri() {
    let server = TestServer::start().await;
    for uri in [
        format!("{URN_PREFIX}{}", "A".repeat(43)),
        format!("{URN_PREFIX}short"),
        URN_PREFIX.to_string(),
        format!("{URN_PREFIX}{}", "é".repeat(40)),
    ] {
        let res = browser()
            .get(by_reference(&server, server.client_id(), &uri))
            .send()
            .await
            .unwrap();
        assert_error_page(res, "invalid_request_uri").await;
    }
    // A request_uri that is not a URN of ours would have to be fetched: not supported (OIDC
    // Core §6.2 by reference), said at the redirect URI.
    let mut params = server.authorize_params();
    params.push((
        "request_uri".into(),
        "https://rp.example/request.jwt".into(),
    ));
    let res = browser()
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "request_uri_not_supported", Some("st-123"));
    // A repeated request_uri.
    let uri = push_ok(&server, &server.authorize_params()).await;
    let mut twice = pairs(&[("client_id", server.client_id())]);
    twice.push(("request_uri".into(), uri.clone()));
    twice.push(("request_uri".into(), uri));
    let res = browser()
        .get(server.authorize_url(&twice))
        .send()
        .await
        .unwrap();
    assert_error_page(res, "invalid_request").await;
}

#[tokio::test]
async fn rfc9126_4_a_pushed_request_is_answered_like_a_plain_one_prompt_none() {
    // The pushed parameters go through every rule of the authorization endpoint: prompt=none
    // without a session is login_required at the pushed redirect URI, with the pushed state.
    let server = TestServer::start().await;
    let uri = push_ok(&server, &with(server.authorize_params(), "prompt", "none")).await;
    let res = browser()
        .get(by_reference(&server, server.client_id(), &uri))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));
}

#[tokio::test]
async fn rfc9126_5_back_to_a_finished_sign_in_page_continues_through_a_pushed_request() {
    // The browser comes back to a sign-in page it already finished (back button, a double
    // submit whose answer it dropped): it is sent through the authorization endpoint again,
    // which for a client that must use PAR means a request pushed on its behalf.
    let server =
        TestServer::start_with(|c| c.require_pushed_authorization_requests(true), vec![]).await;
    let http = browser();
    let uri = push_ok(&server, &server.authorize_params()).await;
    let res = http
        .get(by_reference(&server, server.client_id(), &uri))
        .send()
        .await
        .unwrap();
    let page = open_signin(&http, res).await;
    let done = submit_password(&http, &page, USERNAME, PASSWORD).await;
    assert_code_redirect(&see_other_location(&done), &server, Some("st-123"));
    let again = http.get(page.url.clone()).send().await.unwrap();
    let next = see_other_location(&again);
    let query = query_of(&next);
    assert_eq!(next.path(), "/authorize");
    assert!(query["request_uri"].starts_with(URN_PREFIX), "{next}");
    assert!(!query.contains_key("redirect_uri"), "{next}");
    let res = http.get(next).send().await.unwrap();
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
}
