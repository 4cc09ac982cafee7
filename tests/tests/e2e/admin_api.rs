//! The IAM admin JSON API with user-delegated access tokens of the admin console client: signed in
//! with password and passcode through the provider itself, by the `openidconnect` crate as a public
//! client with PKCE and a loopback redirect URI (RFC 8252 §7.3), as an admin tool would.

use crate::common::mfa::{admin_token, give_token, staff};
use crate::common::*;
use oidc_core::{ADMIN_CONSOLE_ID, ROLE_IAM_ADMIN, ROLE_SERVICE_DESK};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn call(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> JsonAnswer {
    let mut req = reqwest::Client::new().request(method, server.url(&format!("/admin/api{path}")));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    JsonAnswer::read(req.send().await.unwrap()).await
}

async fn get(server: &TestServer, path: &str, token: Option<&str>) -> JsonAnswer {
    call(server, reqwest::Method::GET, path, token, None).await
}

async fn post(server: &TestServer, path: &str, token: &str, body: Value) -> JsonAnswer {
    call(server, reqwest::Method::POST, path, Some(token), Some(body)).await
}

#[tokio::test]
async fn admin_api_accepts_a_user_delegated_token_and_records_the_person_as_actor() {
    let server = TestServer::start().await;
    staff(&server, "desk1", &[ROLE_SERVICE_DESK]).await;
    let token = admin_token(&server, "desk1", "openid admin").await;
    let claims = jwt_part(&token, 1);
    assert_eq!(
        claims["aud"],
        server.url("/admin/api"),
        "for the admin API only"
    );
    assert_eq!(claims["client_id"], ADMIN_CONSOLE_ID);
    assert_eq!(claims["scope"], "openid admin");
    assert_eq!(claims["acr"], oidc_core::mfa::ACR_PASSWORD_OTP);

    let me = get(&server, "/me", Some(&token)).await;
    assert_eq!(me.status, StatusCode::OK);
    assert_eq!(
        me.json,
        json!({ "username": "desk1", "roles": [ROLE_SERVICE_DESK] })
    );
    assert_eq!(me.header("cache-control"), Some("no-store"));
    let users = get(&server, "/users", Some(&token)).await;
    assert_eq!(users.status, StatusCode::OK);
    assert!(
        users
            .json
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["username"] == USERNAME)
    );

    // The service desk's path: verify the caller by a mailed code, then a temporary password.
    let refused = post(
        &server,
        &format!("/users/{USERNAME}/temporary-password"),
        &token,
        json!({}),
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{:?}", refused.json);
    let sent = post(
        &server,
        &format!("/users/{USERNAME}/verify-caller"),
        &token,
        json!({ "send_code": true }),
    )
    .await;
    assert_eq!(sent.status, StatusCode::OK, "{:?}", sent.json);
    let mail = server.mail.sent();
    let code: String = mail
        .last()
        .unwrap()
        .body
        .split("this code: ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let verified = post(
        &server,
        &format!("/users/{USERNAME}/verify-caller"),
        &token,
        json!({ "code": code }),
    )
    .await;
    assert_eq!(verified.json, json!({ "match": true }));
    let temp = post(
        &server,
        &format!("/users/{USERNAME}/temporary-password"),
        &token,
        json!({}),
    )
    .await;
    assert_eq!(temp.status, StatusCode::OK, "{:?}", temp.json);
    assert!(temp.json["temporary_password"].as_str().unwrap().len() >= 12);

    let events = server.provider.audit_events(None, 1000).await.unwrap();
    let issued = events
        .iter()
        .find(|e| e.event == "password.temporary_issued")
        .expect("audited");
    assert_eq!(issued.actor, "user:desk1");
    assert_eq!(issued.subject.as_deref(), Some(USERNAME));

    // Bad bodies are the caller's error, never a 5xx.
    let res = reqwest::Client::new()
        .post(server.url(&format!("/admin/api/users/{USERNAME}/verify-caller")))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = reqwest::Client::new()
        .post(server.url(&format!("/admin/api/users/{USERNAME}/verify-caller")))
        .bearer_auth(&token)
        .form(&[("code", "1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn admin_api_refuses_no_token_a_token_for_another_audience_and_a_person_without_a_role() {
    let server = TestServer::start().await;
    let none = get(&server, "/users", None).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));

    // A userinfo token of an ordinary client (scope without admin) is not for this API.
    let http = browser();
    let code = server.code_for_default_request(&http).await;
    let answer = server.redeem(&http, &code, PKCE_VERIFIER).await;
    let userinfo_token = answer.json["access_token"].as_str().unwrap().to_string();
    let res = get(&server, "/users", Some(&userinfo_token)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(
        res.header("www-authenticate")
            .unwrap()
            .contains("error=\"invalid_token\"")
    );
    // An ID token is not an access token.
    let res = get(
        &server,
        "/users",
        Some(answer.json["id_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);

    // A token that carries no user (client credentials of a service client) is refused, even
    // one minted for the admin API's audience.
    let mut svc = oidc_core::NewClient::service("Script");
    svc.access_token_audience = Some(server.url("/admin/api"));
    let svc = server.provider.register_client(svc).await.unwrap();
    let cc = server
        .token_request(
            &http,
            &[("grant_type", "client_credentials")],
            Some((
                &svc.client.client_id,
                svc.client_secret.as_ref().unwrap().secret(),
            )),
        )
        .await;
    assert_eq!(cc.status, StatusCode::OK, "{:?}", cc.json);
    let res = get(
        &server,
        "/users",
        Some(cc.json["access_token"].as_str().unwrap()),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN, "{:?}", res.json);
    assert_eq!(res.json["error"], "insufficient_scope");

    // The seeded user holds only a CPAR role: a valid admin-console token, but no IAM role.
    give_token(&server, USERNAME).await;
    let token = admin_token(&server, USERNAME, "openid admin").await;
    let res = get(&server, "/users", Some(&token)).await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.json["error"], "forbidden");

    // The admin console without the admin scope gets a userinfo token, useless here.
    staff(&server, "root1", &[ROLE_IAM_ADMIN]).await;
    let plain = admin_token(&server, "root1", "openid").await;
    let res = get(&server, "/me", Some(&plain)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rfc6749_3_3_only_the_admin_console_may_ask_for_the_admin_scope() {
    let server = TestServer::start().await;
    let mut params = server.authorize_params();
    for (k, v) in params.iter_mut() {
        if k == "scope" {
            *v = "openid admin".into();
        }
    }
    let res = browser()
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "invalid_scope", Some("st-123"));
}

#[tokio::test]
async fn rfc9470_an_old_sign_in_is_asked_to_step_up_and_roles_gate_each_call() {
    let server = TestServer::start_with(
        |c| c.admin_recent_auth(std::time::Duration::from_secs(60)),
        Vec::new(),
    )
    .await;
    staff(&server, "desk2", &[ROLE_SERVICE_DESK]).await;
    let token = admin_token(&server, "desk2", "openid admin").await;
    // The desk may not read the audit log, create accounts or approve registrations.
    assert_eq!(
        get(&server, "/audit", Some(&token)).await.status,
        StatusCode::FORBIDDEN
    );
    let res = post(
        &server,
        "/users",
        &token,
        json!({ "username": "x1", "email": "x1@example.org" }),
    )
    .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(
        get(&server, "/registrations", Some(&token)).await.status,
        StatusCode::FORBIDDEN
    );

    server.advance_clock(90);
    let res = get(&server, "/me", Some(&token)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    let challenge = res.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("error=\"insufficient_user_authentication\""),
        "{challenge}"
    );
    assert!(challenge.contains("max_age=60"), "{challenge}");
    assert!(
        challenge.contains(oidc_core::mfa::ACR_PASSWORD_OTP),
        "{challenge}"
    );
}

#[tokio::test]
async fn an_iam_admin_creates_accounts_and_reads_and_verifies_the_audit_log_through_the_api() {
    let server = TestServer::start().await;
    staff(&server, "root2", &[ROLE_IAM_ADMIN]).await;
    let token = admin_token(&server, "root2", "openid admin").await;
    let res = post(
        &server,
        "/users",
        &token,
        json!({ "username": "NewPerson", "email": "new@example.org", "roles": ["cpar_panel_admin"] }),
    )
    .await;
    assert_eq!(res.status, StatusCode::CREATED, "{:?}", res.json);
    assert_eq!(res.json["username"], "newperson");
    let dup = post(
        &server,
        "/users",
        &token,
        json!({ "username": "newperson", "email": "n@example.org" }),
    )
    .await;
    assert_eq!(dup.status, StatusCode::CONFLICT, "{:?}", dup.json);
    let unknown_field = post(
        &server,
        "/users",
        &token,
        json!({ "username": "a", "email": "a@example.org", "password": "x" }),
    )
    .await;
    assert_eq!(
        unknown_field.status,
        StatusCode::BAD_REQUEST,
        "no password through the API"
    );

    let log = get(&server, "/audit?limit=1000", Some(&token)).await;
    assert_eq!(log.status, StatusCode::OK);
    let created = log
        .json
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event"] == "user.created")
        .expect("audited");
    assert_eq!(created["actor"], "user:root2");
    assert_eq!(created["subject"], "newperson");
    let verify = get(&server, "/audit/verify", Some(&token)).await;
    assert_eq!(verify.status, StatusCode::OK);
    assert_eq!(
        verify.json["first_broken"],
        Value::Null,
        "{:?}",
        verify.json
    );
    assert!(verify.json["entries"].as_i64().unwrap() >= 1);

    // Disabling the admin's own account revokes its grants: the token stops at once.
    let actor = oidc_core::Actor::BreakGlass;
    server
        .provider
        .set_account_disabled(&actor, "root2", true)
        .await
        .unwrap();
    let res = get(&server, "/me", Some(&token)).await;
    assert_eq!(res.status, StatusCode::UNAUTHORIZED);
    assert!(res.header("www-authenticate").unwrap().contains("revoked"));
}
