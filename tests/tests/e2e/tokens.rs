//! Tokens for integrators: refresh with rotation (RFC 6749 §6, RFC 9700 §4.14.2), client
//! credentials (RFC 6749 §4.4, RFC 9068 §2.2), revocation (RFC 7009) and introspection
//! (RFC 7662), driven with the `oauth2` crate where it supports the feature and raw HTTP for the
//! negative cases.

use std::time::Duration;

use crate::common::*;
use oauth2::basic::BasicClient;
use oauth2::{
    AccessToken, ClientId, ClientSecret, IntrospectionUrl, RefreshToken, RevocationUrl, Scope,
    StandardRevocableToken, TokenIntrospectionResponse, TokenResponse, TokenUrl,
};
use oidc_core::{NewClient, RefreshPolicy};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A registered confidential client.
struct Rp {
    id: String,
    secret: String,
}

async fn register(server: &TestServer, c: NewClient) -> Rp {
    let reg = server
        .provider
        .register_client(c)
        .await
        .expect("client registered");
    Rp {
        id: reg.client.client_id,
        secret: reg
            .client_secret
            .expect("confidential")
            .secret()
            .to_string(),
    }
}

async fn app(server: &TestServer) -> Rp {
    register(
        server,
        NewClient::new("Refreshing app", [REDIRECT_URI])
            .first_party(true)
            .mfa_required(false),
    )
    .await
}

fn oauth(
    server: &TestServer,
    rp: &Rp,
) -> oauth2::Client<
    oauth2::basic::BasicErrorResponse,
    oauth2::basic::BasicTokenResponse,
    oauth2::basic::BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    oauth2::basic::BasicRevocationErrorResponse,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(rp.id.clone()))
        .set_client_secret(ClientSecret::new(rp.secret.clone()))
        .set_token_uri(TokenUrl::new(server.url("/token")).unwrap())
        .set_introspection_url(IntrospectionUrl::new(server.url("/introspect")).unwrap())
        .set_revocation_url(RevocationUrl::new(server.url("/revoke")).unwrap())
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs the seeded user in for `rp` with `scope` and redeems the code (raw HTTP); returns the
/// token response's JSON.
async fn sign_in_tokens(server: &TestServer, rp: &Rp, scope: &str) -> Value {
    let browser = browser();
    let mut params = server.authorize_params();
    for (k, v) in params.iter_mut() {
        match k.as_str() {
            "client_id" => *v = rp.id.clone(),
            "scope" => *v = scope.into(),
            _ => {}
        }
    }
    let redirect = sign_in(&browser, &server.authorize_url(&params)).await;
    let code = query_of(&redirect)["code"].clone();
    let answer = server
        .token_request(
            &browser,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", PKCE_VERIFIER),
            ],
            Some((&rp.id, &rp.secret)),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    answer.json
}

async fn refresh_raw(server: &TestServer, rp: &Rp, token: &str, scope: Option<&str>) -> JsonAnswer {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    server
        .token_request(&http(), &form, Some((&rp.id, &rp.secret)))
        .await
}

fn rt(v: &Value) -> String {
    v["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_string()
}

fn assert_invalid_grant(a: &JsonAnswer) {
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.json);
    assert_eq!(a.json["error"], "invalid_grant", "{:?}", a.json);
}

#[tokio::test]
async fn oidc_discovery_3_advertises_revocation_introspection_and_the_grant_types() {
    let server = TestServer::start().await;
    let meta: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["revocation_endpoint"], server.url("/revoke"));
    assert_eq!(meta["introspection_endpoint"], server.url("/introspect"));
    assert_eq!(
        meta["grant_types_supported"],
        json!(["authorization_code", "refresh_token", "client_credentials"])
    );
    assert_eq!(
        meta["introspection_endpoint_auth_methods_supported"],
        json!([
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
            "client_secret_jwt"
        ])
    );
    assert!(
        meta["scopes_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("offline_access"))
    );
}

#[tokio::test]
async fn oidc_core_11_refresh_tokens_come_with_offline_access_or_the_always_policy() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    let without = sign_in_tokens(&server, &rp, "openid").await;
    assert!(without.get("refresh_token").is_none(), "{without:?}");
    let with = sign_in_tokens(&server, &rp, "openid offline_access").await;
    assert_eq!(rt(&with).len(), 43);

    let always = register(
        &server,
        NewClient::new("Always", [REDIRECT_URI])
            .first_party(true)
            .mfa_required(false)
            .refresh_policy(RefreshPolicy::Always),
    )
    .await;
    assert!(
        sign_in_tokens(&server, &always, "openid")
            .await
            .get("refresh_token")
            .is_some()
    );

    // RFC 6749 §5.2 unauthorized_client: a client not registered for the refresh grant.
    let code_only = register(
        &server,
        NewClient::new("Code only", [REDIRECT_URI])
            .first_party(true)
            .mfa_required(false)
            .grant_types(["authorization_code"])
            .refresh_policy(RefreshPolicy::Always),
    )
    .await;
    let tokens = sign_in_tokens(&server, &code_only, "openid offline_access").await;
    assert!(tokens.get("refresh_token").is_none());
    let a = refresh_raw(&server, &code_only, &rt(&with), None).await;
    assert_eq!(a.json["error"], "unauthorized_client", "{:?}", a.json);
}

#[tokio::test]
async fn rfc6749_6_refresh_rotates_and_reissues_the_id_token_with_the_same_sub_and_auth_time() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    let first = sign_in_tokens(&server, &rp, "openid profile offline_access").await;
    let old_id = jwt_part(first["id_token"].as_str().unwrap(), 1);
    server.advance_clock(60);
    let client = oauth(&server, &rp);
    let refreshed = client
        .exchange_refresh_token(&RefreshToken::new(rt(&first)))
        .request_async(&http())
        .await
        .expect("the oauth2 crate refreshes");
    let new_rt = refreshed.refresh_token().expect("rotated").secret().clone();
    assert_ne!(new_rt, rt(&first), "rotated on every use");
    let raw = refresh_raw(&server, &rp, &new_rt, None).await;
    assert_eq!(
        raw.status,
        StatusCode::OK,
        "the successor works: {:?}",
        raw.json
    );
    assert_eq!(raw.header("cache-control"), Some("no-store"));
    let id = jwt_part(raw.json["id_token"].as_str().expect("an ID token again"), 1);
    assert_eq!(id["sub"], old_id["sub"]);
    assert_eq!(
        id["auth_time"], old_id["auth_time"],
        "OIDC Core §12.2: the original authentication"
    );
    assert_eq!(id["aud"], old_id["aud"]);
    assert!(id["iat"].as_i64().unwrap() > old_id["iat"].as_i64().unwrap());
    assert!(
        id.get("nonce").is_none(),
        "OIDC Core §12.2: no nonce on refresh"
    );
    let at = raw.json["access_token"].as_str().unwrap();
    assert_eq!(
        server.userinfo(&http(), at).await.json["preferred_username"],
        USERNAME
    );
}

#[tokio::test]
async fn rfc6749_6_scope_may_narrow_but_never_widen_and_a_refused_widening_consumes_nothing() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    let first = sign_in_tokens(&server, &rp, "openid email offline_access").await;
    let wide = refresh_raw(&server, &rp, &rt(&first), Some("openid profile")).await;
    assert_eq!(wide.json["error"], "invalid_scope", "{:?}", wide.json);
    let narrow = refresh_raw(&server, &rp, &rt(&first), Some("openid")).await;
    assert_eq!(narrow.status, StatusCode::OK, "{:?}", narrow.json);
    assert_eq!(narrow.json["scope"], "openid");
    assert_eq!(
        jwt_part(narrow.json["access_token"].as_str().unwrap(), 1)["scope"],
        "openid"
    );
    // The new refresh token keeps the original scope (§6: identical to the one presented).
    let full = refresh_raw(&server, &rp, &rt(&narrow.json), None).await;
    assert_eq!(
        full.json["scope"], "openid email offline_access",
        "{:?}",
        full.json
    );
}

#[tokio::test]
async fn rfc6749_6_a_refresh_token_is_bound_to_its_client() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    let other = app(&server).await;
    let first = sign_in_tokens(&server, &rp, "openid offline_access").await;
    assert_invalid_grant(&refresh_raw(&server, &other, &rt(&first), None).await);
    let ok = refresh_raw(&server, &rp, &rt(&first), None).await;
    assert_eq!(
        ok.status,
        StatusCode::OK,
        "the owner's token was not spent: {:?}",
        ok.json
    );
    // Wrong secret: invalid_client with a challenge (RFC 6749 §5.2).
    let bad = server
        .token_request(
            &http(),
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &rt(&ok.json)),
            ],
            Some((&rp.id, "wrong")),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bad.json["error"], "invalid_client");
    for junk in ["", "short", &"x".repeat(5000)] {
        let a = refresh_raw(&server, &rp, junk, None).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{junk:.10}");
        assert!(["invalid_grant", "invalid_request"].contains(&a.json["error"].as_str().unwrap()));
    }
}

#[tokio::test]
async fn rfc9700_4_14_2_reuse_within_the_grace_period_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    let first = sign_in_tokens(&server, &rp, "openid offline_access").await;
    let second = refresh_raw(&server, &rp, &rt(&first), None).await;
    server.advance_clock(5);
    assert_invalid_grant(&refresh_raw(&server, &rp, &rt(&first), None).await);
    let third = refresh_raw(&server, &rp, &rt(&second.json), None).await;
    assert_eq!(
        third.status,
        StatusCode::OK,
        "the winner's token still works: {:?}",
        third.json
    );
}

#[tokio::test]
async fn rfc9700_4_14_2_reuse_after_the_grace_period_revokes_exactly_that_family() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    let family_a = sign_in_tokens(&server, &rp, "openid offline_access").await;
    let family_b = sign_in_tokens(&server, &rp, "openid offline_access").await;
    let a2 = refresh_raw(&server, &rp, &rt(&family_a), None).await;
    let a2_access = a2.json["access_token"].as_str().unwrap().to_string();
    server.advance_clock(11);
    assert_invalid_grant(&refresh_raw(&server, &rp, &rt(&family_a), None).await);
    // The whole family is gone: its newest refresh token and its access token.
    assert_invalid_grant(&refresh_raw(&server, &rp, &rt(&a2.json), None).await);
    assert_eq!(
        server.userinfo(&http(), &a2_access).await.status,
        StatusCode::UNAUTHORIZED
    );
    // The other family is untouched.
    let b2 = refresh_raw(&server, &rp, &rt(&family_b), None).await;
    assert_eq!(b2.status, StatusCode::OK, "{:?}", b2.json);
    let events = server.provider.audit_events(None, 1000).await.unwrap();
    let e = events
        .iter()
        .find(|e| e.event == "security.refresh_token_reuse")
        .expect("a security event");
    assert_eq!(e.subject.as_deref(), Some(USERNAME));
    assert_eq!(e.detail["client_id"], rp.id);
}

#[tokio::test]
async fn rfc6749_6_two_concurrent_refreshes_have_exactly_one_winner_whose_token_works() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    for _ in 0..3 {
        let first = sign_in_tokens(&server, &rp, "openid offline_access").await;
        let token = rt(&first);
        let (a, b) = tokio::join!(
            refresh_raw(&server, &rp, &token, None),
            refresh_raw(&server, &rp, &token, None)
        );
        let winners: Vec<&JsonAnswer> = [&a, &b]
            .into_iter()
            .filter(|x| x.status == StatusCode::OK)
            .collect();
        assert_eq!(winners.len(), 1, "{:?} / {:?}", a.json, b.json);
        let loser = if a.status == StatusCode::OK { &b } else { &a };
        assert_invalid_grant(loser);
        let next = refresh_raw(&server, &rp, &rt(&winners[0].json), None).await;
        assert_eq!(next.status, StatusCode::OK, "{:?}", next.json);
    }
}

#[tokio::test]
async fn rfc9700_4_14_2_idle_and_absolute_lifetimes_end_a_family() {
    let server = TestServer::start_with(
        |c| {
            c.refresh_idle(Duration::from_secs(600))
                .refresh_absolute(Duration::from_secs(900))
        },
        Vec::new(),
    )
    .await;
    let rp = app(&server).await;
    let idle = sign_in_tokens(&server, &rp, "openid offline_access").await;
    let busy = sign_in_tokens(&server, &rp, "openid offline_access").await;
    server.advance_clock(500);
    let busy2 = refresh_raw(&server, &rp, &rt(&busy), None).await;
    assert_eq!(busy2.status, StatusCode::OK);
    server.advance_clock(200); // 700 s: the unused one is past its idle limit, the used one is not
    assert_invalid_grant(&refresh_raw(&server, &rp, &rt(&idle), None).await);
    let busy3 = refresh_raw(&server, &rp, &rt(&busy2.json), None).await;
    assert_eq!(busy3.status, StatusCode::OK, "{:?}", busy3.json);
    server.advance_clock(250); // 950 s: past the absolute limit
    assert_invalid_grant(&refresh_raw(&server, &rp, &rt(&busy3.json), None).await);
}

#[tokio::test]
async fn disabling_the_account_revokes_its_refresh_tokens() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    let first = sign_in_tokens(&server, &rp, "openid offline_access").await;
    server
        .provider
        .set_account_disabled(&oidc_core::Actor::BreakGlass, USERNAME, true)
        .await
        .unwrap();
    server
        .provider
        .set_account_disabled(&oidc_core::Actor::BreakGlass, USERNAME, false)
        .await
        .unwrap();
    assert_invalid_grant(&refresh_raw(&server, &rp, &rt(&first), None).await);
}

#[tokio::test]
async fn rfc6749_4_4_client_credentials_gives_a_token_whose_sub_is_the_client() {
    let server = TestServer::start().await;
    let svc = register(
        &server,
        NewClient::service("Nightly import").scope(["registry.read", "registry.write"]),
    )
    .await;
    let client = oauth(&server, &svc);
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("registry.read".into()))
        .request_async(&http())
        .await
        .expect("client credentials with the oauth2 crate");
    assert!(
        token.refresh_token().is_none(),
        "RFC 6749 §4.4.3: no refresh token"
    );
    let claims = jwt_part(token.access_token().secret(), 1);
    assert_eq!(claims["sub"], svc.id, "RFC 9068 §2.2");
    assert_eq!(claims["client_id"], svc.id);
    assert_eq!(claims["scope"], "registry.read");
    assert!(claims.get("auth_time").is_none());
    // /userinfo refuses a token that carries no user.
    let u = server
        .userinfo(&http(), token.access_token().secret())
        .await;
    assert_eq!(u.status, StatusCode::UNAUTHORIZED);
    assert!(
        u.header("www-authenticate")
            .unwrap()
            .contains("carries no user")
    );
    // Without a scope: every registered scope. An unregistered one: invalid_scope.
    let all = server
        .token_request(
            &http(),
            &[("grant_type", "client_credentials")],
            Some((&svc.id, &svc.secret)),
        )
        .await;
    assert_eq!(all.json["scope"], "registry.read registry.write");
    let bad = server
        .token_request(
            &http(),
            &[
                ("grant_type", "client_credentials"),
                ("scope", "registry.admin"),
            ],
            Some((&svc.id, &svc.secret)),
        )
        .await;
    assert_eq!(bad.json["error"], "invalid_scope");
    // A client registered for codes only may not use it; a service client may not use codes.
    let rp = app(&server).await;
    let no = server
        .token_request(
            &http(),
            &[("grant_type", "client_credentials")],
            Some((&rp.id, &rp.secret)),
        )
        .await;
    assert_eq!(no.json["error"], "unauthorized_client");
    let unknown = server
        .token_request(
            &http(),
            &[("grant_type", "password")],
            Some((&rp.id, &rp.secret)),
        )
        .await;
    assert_eq!(unknown.json["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn rfc7009_revoking_a_refresh_token_revokes_its_grant_at_once() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    let first = sign_in_tokens(&server, &rp, "openid offline_access").await;
    let access = first["access_token"].as_str().unwrap().to_string();
    // The oauth2 crate refuses a revocation URL that is not https (RFC 7009 §2 requires TLS), and
    // the test provider is plain-http loopback: raw HTTP here.
    let res = http()
        .post(server.url("/revoke"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[
            ("token", rt(&first).as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_invalid_grant(&refresh_raw(&server, &rp, &rt(&first), None).await);
    let u = server.userinfo(&http(), &access).await;
    assert_eq!(
        u.status,
        StatusCode::UNAUTHORIZED,
        "the grant's access tokens stop too"
    );
    let intro = oauth(&server, &rp)
        .introspect(&AccessToken::new(access))
        .request_async(&http())
        .await
        .unwrap();
    assert!(!intro.active());
}

#[tokio::test]
async fn rfc7009_2_access_tokens_unknown_tokens_and_other_clients_tokens() {
    let server = TestServer::start().await;
    let rp = app(&server).await;
    let other = app(&server).await;
    let first = sign_in_tokens(&server, &rp, "openid offline_access").await;
    let access = first["access_token"].as_str().unwrap().to_string();
    let revoke = |who: &Rp, token: &str| {
        let form = [("token", token.to_string())];
        http()
            .post(server.url("/revoke"))
            .basic_auth(&who.id, Some(&who.secret))
            .form(&form)
            .send()
    };
    // §2.1: another client's token is refused with an error and stays valid.
    let res = revoke(&other, &access).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        res.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
    assert_eq!(
        server.userinfo(&http(), &access).await.status,
        StatusCode::OK
    );
    let res = revoke(&other, &rt(&first)).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // §2.2: unknown and garbage tokens answer 200.
    for junk in ["not-a-token", "eyJhbGciOiJub25lIn0.e30.", &"A".repeat(43)] {
        assert_eq!(
            revoke(&rp, junk).await.unwrap().status(),
            StatusCode::OK,
            "{junk}"
        );
    }
    // Missing token: invalid_request; no client authentication: invalid_client.
    let res = http()
        .post(server.url("/revoke"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = http()
        .post(server.url("/revoke"))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // Revoking the access token (with a wrong hint, which is ignored) revokes its grant.
    let res = http()
        .post(server.url("/revoke"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[
            ("token", access.as_str()),
            ("token_type_hint", "refresh_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        server.userinfo(&http(), &access).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_invalid_grant(&refresh_raw(&server, &rp, &rt(&first), None).await);
}

#[tokio::test]
async fn rfc7662_introspection_answers_for_own_and_audience_tokens_and_inactive_otherwise() {
    let server = TestServer::start().await;
    let mut calls_registry = NewClient::new("Calls the registry", [REDIRECT_URI])
        .first_party(true)
        .mfa_required(false);
    calls_registry.access_token_audience = Some("https://registry.example.org".into());
    let rp = register(&server, calls_registry).await;
    let first = sign_in_tokens(&server, &rp, "openid profile offline_access").await;
    let access = AccessToken::new(first["access_token"].as_str().unwrap().into());

    let own = oauth(&server, &rp)
        .introspect(&access)
        .request_async(&http())
        .await
        .unwrap();
    assert!(own.active());
    assert_eq!(own.client_id().unwrap().as_str(), rp.id);
    assert_eq!(own.username(), Some(USERNAME));
    assert_eq!(
        own.scopes()
            .unwrap()
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>(),
        ["openid", "profile", "offline_access"]
    );
    assert!(own.exp().is_some() && own.iat().is_some());

    // A resource server: a service client whose audience the token names.
    let mut rs_client = NewClient::service("Registry API");
    rs_client.access_token_audience = Some("https://registry.example.org".into());
    let rs = register(&server, rs_client).await;
    let seen = oauth(&server, &rs)
        .introspect(&access)
        .request_async(&http())
        .await
        .unwrap();
    assert!(seen.active(), "the token is meant for the resource server");
    // An unrelated client sees nothing.
    let stranger = app(&server).await;
    let hidden = oauth(&server, &stranger)
        .introspect(&access)
        .request_async(&http())
        .await
        .unwrap();
    assert!(!hidden.active());

    // Refresh tokens: active for their client.
    let r = http()
        .post(server.url("/introspect"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[("token", rt(&first).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["token_type"], "refresh_token");
    // An ID token is not an access token; unknown tokens are inactive, not errors.
    for t in [
        first["id_token"].as_str().unwrap(),
        "garbage",
        &"A".repeat(43),
    ] {
        let v: Value = http()
            .post(server.url("/introspect"))
            .basic_auth(&rp.id, Some(&rp.secret))
            .form(&[("token", t)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v, json!({ "active": false }), "{t:.20}");
    }
    // Expired: inactive.
    server.advance_clock(601);
    let late = oauth(&server, &rp)
        .introspect(&access)
        .request_async(&http())
        .await
        .unwrap();
    assert!(!late.active());
    // A public client cannot introspect.
    let public = server
        .provider
        .register_client(NewClient::new("SPA", ["http://127.0.0.1:9999/spa"]).public(true))
        .await
        .unwrap();
    let res = http()
        .post(server.url("/introspect"))
        .form(&[
            ("token", access.secret().as_str()),
            ("client_id", public.client.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
}
