//! Database operations per request on the hot endpoints, counted exactly (the performance
//! issue's budget): each is a pooled connection's statement or one short transaction, and every
//! one the hot paths gain shows up here before it shows up in a benchmark.

use crate::common::*;
use reqwest::StatusCode;

fn operations(server: &TestServer) -> u64 {
    server
        .provider
        .render_metrics()
        .lines()
        .find_map(|l| l.strip_prefix("iam_db_operations_total "))
        .and_then(|v| v.parse().ok())
        .expect("iam_db_operations_total")
}

/// The fewest operations `request` cost over a few runs (a background task's poll may land in
/// one of them; it cannot land in all).
async fn cost<F, Fut>(server: &TestServer, mut request: F) -> u64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut fewest = u64::MAX;
    for _ in 0..5 {
        let before = operations(server);
        request().await;
        fewest = fewest.min(operations(server) - before);
    }
    fewest
}

#[tokio::test]
async fn hot_endpoints_cost_a_fixed_number_of_database_operations() {
    let server = TestServer::start().await;
    let http = browser();
    let get_ok = |path: &'static str| {
        let http = http.clone();
        let url = server.url(path);
        move || {
            let http = http.clone();
            let url = url.clone();
            async move {
                let res = http.get(&url).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
            }
        }
    };
    let discovery = cost(&server, get_ok("/.well-known/openid-configuration")).await;
    let jwks = cost(&server, get_ok("/jwks")).await;

    let service = server
        .provider
        .register_client(oidc_core::NewClient::service("Round trips"))
        .await
        .unwrap();
    let (sid, ssecret) = (
        service.client.client_id.clone(),
        service.client_secret.clone().unwrap().secret().to_string(),
    );
    let cc = || {
        let (http, url, sid, ssecret) = (
            http.clone(),
            server.url("/token"),
            sid.clone(),
            ssecret.clone(),
        );
        async move {
            let res = http
                .post(url)
                .basic_auth(sid, Some(ssecret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK);
        }
    };
    let client_credentials = cost(&server, cc).await;

    let token: serde_json::Value = http
        .post(server.url("/token"))
        .basic_auth(&sid, Some(&ssecret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = token["access_token"].as_str().unwrap().to_string();
    let introspect = cost(&server, || {
        let (http, url, sid, ssecret, access) = (
            http.clone(),
            server.url("/introspect"),
            sid.clone(),
            ssecret.clone(),
            access.clone(),
        );
        async move {
            let res: serde_json::Value = http
                .post(url)
                .basic_auth(sid, Some(ssecret))
                .form(&[("token", access.as_str())])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(res["active"], true);
        }
    })
    .await;

    // The session code flow: the browser signed in once; each flow is authorize → code → token.
    let code = server.code_for_default_request(&http).await;
    let tokens = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(tokens.status, StatusCode::OK);
    let authorize = cost(&server, || {
        let (http, url) = (
            http.clone(),
            server.authorize_url(&server.authorize_params()),
        );
        async move {
            let res = http.get(url).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
            assert!(see_other_location(&res).as_str().contains("code="));
        }
    })
    .await;
    let mut codes = Vec::new();
    for _ in 0..5 {
        let location = see_other_location(
            &http
                .get(server.authorize_url(&server.authorize_params()))
                .send()
                .await
                .unwrap(),
        );
        codes.push(query_of(&location)["code"].clone());
    }
    let codes = std::sync::Mutex::new(codes);
    let exchange = cost(&server, || {
        let code = codes.lock().unwrap().pop().unwrap();
        let http = http.clone();
        let server = &server;
        async move {
            let res = server.redeem(&http, &code, PKCE_VERIFIER).await;
            assert_eq!(res.status, StatusCode::OK, "{:?}", res.json);
        }
    })
    .await;
    let userinfo_token = tokens.json["access_token"].as_str().unwrap().to_string();
    let userinfo = cost(&server, || {
        let (http, server, token) = (http.clone(), &server, userinfo_token.clone());
        async move {
            assert_eq!(server.userinfo(&http, &token).await.status, StatusCode::OK);
        }
    })
    .await;

    let figures = [
        ("discovery", discovery),
        ("jwks", jwks),
        ("client_credentials", client_credentials),
        ("introspect", introspect),
        ("authorize with a session", authorize),
        ("code exchange", exchange),
        ("userinfo", userinfo),
    ];
    eprintln!("{figures:?}");
    assert_eq!(
        figures,
        [
            // Precomputed bytes.
            ("discovery", 0),
            ("jwks", 0),
            // The client (with its secret's digest), then its current grant (reused: no write).
            ("client_credentials", 2),
            // The calling client, then the token's grant (revocation is never cached).
            ("introspect", 2),
            // The client, the session, the account behind it, then the code (one transaction:
            // the session held live, the account and client re-checked, code and grant inserted).
            ("authorize with a session", 4),
            // The client, then one transaction: the code claimed (one conditional update), its
            // grant held unrevoked, its session live, the account read, the refresh token.
            ("code exchange", 2),
            // The grant, the account.
            ("userinfo", 2),
        ]
    );
}
