//! The claims hook (`oidc_core::claims`): a developer's source of extra claims reaches the ID token
//! (at the code exchange and at a refresh) and the userinfo response, can never set a protected
//! claim, and when it fails the sign-in goes on without its claims and without a word of its
//! error in any response.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::common::*;
use oidc_core::claims::{Claims, ClaimsContext, ClaimsSource, ClaimsTarget};
use oidc_core::mfa::BoxFuture;
use oidc_core::{NewClient, NewUser, Provider, ProviderConfig, RegisteredClient};
use reqwest::StatusCode;
use serde_json::json;

/// Only in the failing source's error: must never appear in a response.
const INTERNAL_DETAIL: &str = "directory at 10.0.0.7:389 refused bind for cn=svc-iam";

/// Roles "from another system", plus every protected claim forged; fails for one client.
struct Directory {
    failing_client: std::sync::Mutex<String>,
    calls: AtomicUsize,
}

impl ClaimsSource for Directory {
    fn claims<'a>(
        &'a self,
        cx: &'a ClaimsContext<'a>,
    ) -> BoxFuture<'a, Result<Claims, oidc_core::Error>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if *self.failing_client.lock().unwrap() == cx.client_id {
                return Err(oidc_core::Error::Internal(INTERNAL_DETAIL.into()));
            }
            let mut out = Claims::new();
            assert_eq!(cx.user.username, USERNAME);
            out.insert(
                "roles".into(),
                json!(["registry.editor", "registry.viewer"]),
            );
            out.insert(
                "target".into(),
                json!(match cx.target {
                    ClaimsTarget::IdToken => "id_token",
                    ClaimsTarget::Userinfo => "userinfo",
                }),
            );
            out.insert("granted".into(), json!(cx.scopes.join(" ")));
            for forged in [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "acr",
                "amr",
                "azp",
                "at_hash",
                "sid",
                "nbf",
                "jti",
            ] {
                out.insert(forged.into(), json!("forged"));
            }
            Ok(out)
        })
    }
}

struct Hooked {
    issuer: String,
    directory: Arc<Directory>,
    good: RegisteredClient,
    failing: RegisteredClient,
    _task: tokio::task::JoinHandle<()>,
    _provider: Provider,
    _db: Database,
}

async fn start() -> Hooked {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let (db, url) = Database::create().await;
    let directory = Arc::new(Directory {
        failing_client: std::sync::Mutex::new(String::new()),
        calls: AtomicUsize::new(0),
    });
    let provider = Provider::builder(
        ProviderConfig::builder(issuer.clone()).build().unwrap(),
        url,
    )
    .claims_source(directory.clone())
    .build()
    .await
    .unwrap();
    provider
        .create_user(NewUser {
            username: USERNAME.into(),
            email: EMAIL.into(),
            name: Some(NAME.into()),
            roles: vec![ROLE.into()],
            password: Some(PASSWORD.into()),
        })
        .await
        .unwrap();
    let client = |name: &str| {
        NewClient::new(name, [REDIRECT_URI])
            .first_party(true)
            .mfa_required(false)
            .refresh_policy(oidc_core::RefreshPolicy::Always)
    };
    let good = provider.register_client(client("Registry")).await.unwrap();
    let failing = provider.register_client(client("Unlucky")).await.unwrap();
    *directory.failing_client.lock().unwrap() = failing.client.client_id.clone();
    let app = provider.router();
    let task = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    Hooked {
        issuer,
        directory,
        good,
        failing,
        _task: task,
        _provider: provider,
        _db: db,
    }
}

/// Signs the seeded user in for `client` and redeems the code; returns the token response.
async fn tokens_for(
    h: &Hooked,
    client: &RegisteredClient,
) -> (StatusCode, serde_json::Value, String) {
    let http = browser();
    let mut url = url::Url::parse(&format!("{}/authorize", h.issuer)).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", &client.client.client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid profile roles")
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", PKCE_CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let back = sign_in(&http, url.as_str()).await;
    let code = query_of(&back)["code"].clone();
    let res = http
        .post(format!("{}/token", h.issuer))
        .basic_auth(
            &client.client.client_id,
            Some(client.client_secret.as_ref().unwrap().secret()),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", PKCE_VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_default(),
        body,
    )
}

async fn userinfo(h: &Hooked, token: &str) -> (StatusCode, serde_json::Value, String) {
    let res = browser()
        .get(format!("{}/userinfo", h.issuer))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or_default(),
        body,
    )
}

#[tokio::test]
async fn oidc_core_5_1_hook_claims_reach_id_token_refresh_and_userinfo_never_protected_ones() {
    let h = start().await;
    let (status, tokens, body) = tokens_for(&h, &h.good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
    // The hook's claims, for the ID token, with the granted scopes.
    assert_eq!(id["roles"], json!(["registry.editor", "registry.viewer"]));
    assert_eq!(id["target"], "id_token");
    assert_eq!(id["granted"], "openid profile roles");
    // Every protected claim is the provider's own.
    assert_eq!(id["iss"], h.issuer.as_str());
    assert_eq!(id["aud"], h.good.client.client_id.as_str());
    assert_eq!(id["azp"], h.good.client.client_id.as_str());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["acr"], oidc_core::mfa::ACR_PASSWORD);
    assert_eq!(id["amr"], json!(["pwd"]));
    for claim in ["sub", "exp", "iat", "auth_time", "at_hash", "sid"] {
        assert_ne!(id[claim], "forged", "{claim}");
        assert!(!id[claim].is_null(), "{claim}");
    }
    for claim in ["nbf", "jti"] {
        assert!(id.get(claim).is_none(), "{claim}: {id}");
    }
    // The access token carries nothing from the hook.
    let access = jwt_part(tokens["access_token"].as_str().unwrap(), 1);
    assert!(
        access.get("roles").is_none() && access.get("target").is_none(),
        "{access}"
    );

    // Userinfo: asked again, for userinfo; the hook's roles replace the account's.
    let (status, info, body) = userinfo(&h, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(info["sub"], id["sub"]);
    assert_eq!(info["name"], NAME);
    assert_eq!(info["preferred_username"], USERNAME);
    assert_eq!(info["roles"], json!(["registry.editor", "registry.viewer"]));
    assert_eq!(info["target"], "userinfo");
    for claim in ["iss", "aud", "nonce", "acr", "amr", "exp"] {
        assert!(info.get(claim).is_none(), "{claim}: {info}");
    }

    // A refresh asks again for the new ID token.
    let before = h.directory.calls.load(Ordering::SeqCst);
    let res = browser()
        .post(format!("{}/token", h.issuer))
        .basic_auth(
            &h.good.client.client_id,
            Some(h.good.client_secret.as_ref().unwrap().secret()),
        )
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let refreshed: serde_json::Value = res.json().await.unwrap();
    let id2 = jwt_part(refreshed["id_token"].as_str().unwrap(), 1);
    assert_eq!(id2["roles"], json!(["registry.editor", "registry.viewer"]));
    assert_eq!(id2["sub"], id["sub"]);
    assert!(id2.get("nonce").is_none(), "{id2}");
    assert_eq!(h.directory.calls.load(Ordering::SeqCst), before + 1);
}

#[tokio::test]
async fn a_failing_hook_omits_its_claims_and_leaks_nothing() {
    let h = start().await;
    let (status, tokens, body) = tokens_for(&h, &h.failing).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !body.contains("10.0.0.7") && !body.contains("svc-iam"),
        "{body}"
    );
    let id = jwt_part(tokens["id_token"].as_str().unwrap(), 1);
    assert!(id.get("target").is_none(), "{id}");
    // Not the hook's roles; the provider's own scope claims are not in the ID token either.
    assert!(id.get("roles").is_none(), "{id}");
    assert_eq!(id["nonce"], "n-1");

    let (status, info, body) = userinfo(&h, tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        !body.contains("10.0.0.7") && !body.contains("svc-iam"),
        "{body}"
    );
    // The account's own roles (scope `roles`), nothing from the hook.
    assert_eq!(info["roles"], json!([ROLE]));
    assert!(info.get("target").is_none(), "{info}");
    assert_eq!(info["name"], NAME);
}
