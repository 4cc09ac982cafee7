//! Prometheus metrics on their own address: requests per route template (never a raw path),
//! sign-in outcomes, lockouts and tokens issued, counted exactly.

use std::collections::HashMap;

use crate::common::*;
use reqwest::StatusCode;

async fn scrape(metrics_base: &str) -> (String, HashMap<String, f64>) {
    let res = reqwest::get(format!("{metrics_base}/metrics"))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let content_type = res.headers()["content-type"].to_str().unwrap().to_string();
    let text = res.text().await.unwrap();
    let values = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').unwrap();
            (k.to_string(), v.parse().unwrap())
        })
        .collect();
    (content_type, values)
}

async fn serve_metrics(server: &TestServer) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = server.provider.metrics_router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    base
}

#[tokio::test]
async fn metrics_count_requests_sign_ins_lockouts_and_tokens_on_a_separate_address() {
    let server = TestServer::start_with(|c| c.lockout_threshold(2), Vec::new()).await;
    let metrics = serve_metrics(&server).await;
    let http = browser();

    // Not on the public address.
    let res = http.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // One good sign-in and code exchange.
    let code = server.code_for_default_request(&http).await;
    let tokens = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.json);

    let (content_type, m) = scrape(&metrics).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(m["iam_signin_attempts_total{outcome=\"success\"}"], 1.0);
    assert_eq!(
        m["iam_tokens_issued_total{grant_type=\"authorize\",token=\"authorization_code\"}"],
        1.0
    );
    for kind in ["access_token", "id_token"] {
        assert_eq!(
            m[&format!(
                "iam_tokens_issued_total{{grant_type=\"authorization_code\",token=\"{kind}\"}}"
            )],
            1.0
        );
    }
    // The journey's id never becomes a label: its route template does.
    assert_eq!(
        m["iam_http_requests_total{endpoint=\"/signin/{id}\",method=\"POST\",status=\"303\"}"],
        1.0
    );
    assert!(
        m.keys()
            .all(|k| !k.contains("/signin/0") && !k.contains("/signin/1")),
        "{m:?}"
    );
    assert_eq!(
        m["iam_http_requests_total{endpoint=\"unmatched\",method=\"GET\",status=\"404\"}"],
        1.0
    );
    assert_eq!(
        m["iam_http_request_duration_seconds_count{endpoint=\"/signin/{id}\"}"], 2.0,
        "the page and its submission"
    );
    assert_eq!(m["iam_db_pool_max_connections"], {
        if std::env::var("TEST_DATABASE_URL").is_ok_and(|v| !v.trim().is_empty()) {
            12.0
        } else {
            8.0
        }
    });

    // Two wrong passwords lock the account (threshold 2); the right one is then refused
    // unchecked (another browser: the first one has a session).
    let http = browser();
    let res = http
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    let page = open_signin(&http, res).await;
    for _ in 0..2 {
        let res = submit_password(&http, &page, USERNAME, "not the password").await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, m) = scrape(&metrics).await;
    assert_eq!(m["iam_signin_attempts_total{outcome=\"failure\"}"], 2.0);
    assert_eq!(m["iam_account_lockouts_total"], 1.0);
    assert_eq!(m["iam_signin_attempts_total{outcome=\"throttled\"}"], 1.0);
    assert_eq!(m["iam_signin_attempts_total{outcome=\"success\"}"], 1.0);

    // A client_credentials token.
    let service = server
        .provider
        .register_client(oidc_core::NewClient::service("Metrics service"))
        .await
        .unwrap();
    let res = http
        .post(server.url("/token"))
        .basic_auth(
            &service.client.client_id,
            Some(service.client_secret.as_ref().unwrap().secret()),
        )
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let (_, m) = scrape(&metrics).await;
    assert_eq!(
        m["iam_tokens_issued_total{grant_type=\"client_credentials\",token=\"access_token\"}"],
        1.0
    );
    assert!(!m.contains_key(
        "iam_tokens_issued_total{grant_type=\"client_credentials\",token=\"id_token\"}"
    ));
    assert_eq!(
        m["iam_http_requests_total{endpoint=\"/token\",method=\"POST\",status=\"200\"}"],
        2.0
    );
}
