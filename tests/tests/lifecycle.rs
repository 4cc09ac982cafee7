//! Account lifecycle end to end: the service desk's temporary password, the required actions
//! that follow it at the provider (a new password under the rules, then the recovery data), and
//! the pending authorization request resuming afterwards.

mod common;

use common::*;
use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use oidc_core::{Actor, NewClient};
use reqwest::StatusCode;

const SEED: &[u8] = b"12345678901234567890";
const SERIAL: &str = "LC-0001";

fn code(server: &TestServer, offset: i64) -> String {
    totp_at_step(
        SEED,
        time_step(server.now().timestamp(), 30) + offset,
        6,
        OtpAlgorithm::Sha1,
    )
    .unwrap()
}

/// The service desk verifies the caller by a one-time code to the registered email (a first-time
/// caller has no secret word yet), then acts.
/// A service desk agent's account (no password needed to act through the library).
async fn agent(server: &TestServer, name: &str) -> Actor {
    if !server
        .provider
        .list_users()
        .await
        .unwrap()
        .iter()
        .any(|u| u.username == name)
    {
        server
            .provider
            .create_user(oidc_core::NewUser {
                username: name.into(),
                email: format!("{name}@example.org"),
                name: None,
                roles: vec![oidc_core::ROLE_SERVICE_DESK.into()],
                password: None,
            })
            .await
            .unwrap();
    }
    Actor::User(name.into())
}

async fn verified_by(server: &TestServer, agent_name: &str) -> Actor {
    let desk = agent(server, agent_name).await;
    server
        .provider
        .send_caller_code(&desk, USERNAME)
        .await
        .unwrap();
    let mail = server.mail.sent();
    let last = mail.last().expect("a verification code was mailed");
    assert_eq!(last.to, EMAIL);
    let code: String = last
        .body
        .split("this code: ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        !server
            .provider
            .verify_caller_code(&desk, USERNAME, "000000")
            .await
            .unwrap()
            || code == "000000"
    );
    assert!(
        server
            .provider
            .verify_caller_code(&desk, USERNAME, &code)
            .await
            .unwrap()
    );
    // Single use.
    assert!(
        !server
            .provider
            .verify_caller_code(&desk, USERNAME, &code)
            .await
            .unwrap()
    );
    desk
}

async fn setup() -> (TestServer, String) {
    let server = TestServer::start().await;
    let csv = format!("{SERIAL},3132333435363738393031323334353637383930\n");
    server
        .provider
        .import_tokens(csv.as_bytes(), None, false)
        .await
        .unwrap();
    server
        .provider
        .assign_token(USERNAME, SERIAL, None, false)
        .await
        .unwrap();
    let client = server
        .provider
        .register_client(NewClient::new("MFA app", [REDIRECT_URI]).first_party(true))
        .await
        .unwrap();
    (server, client.client.client_id)
}

/// Authorize, password, passcode: returns the journey URL and the response to the passcode.
async fn password_and_passcode(
    http: &reqwest::Client,
    server: &TestServer,
    client_id: &str,
    password: &str,
    passcode: &str,
) -> (url::Url, reqwest::Response) {
    let mut params = server.authorize_params();
    for p in params.iter_mut().filter(|(k, _)| k == "client_id") {
        p.1 = client_id.to_string();
    }
    params.push(("prompt".into(), "login".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let page = open_signin(http, res).await;
    let res = submit_password(http, &page, USERNAME, password).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let body = http
        .get(page.url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(body.contains("Enter your RSA SecurID passcode."), "{body}");
    let res = http
        .post(page.url.as_str())
        .form(&[("csrf", csrf_of(&body).as_str()), ("passcode", passcode)])
        .send()
        .await
        .unwrap();
    (page.url, res)
}

async fn get(http: &reqwest::Client, url: &url::Url) -> String {
    http.get(url.as_str())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn temporary_password_leads_through_new_password_and_recovery_back_to_the_client() {
    let (server, client_id) = setup().await;
    // No change without a verified caller.
    let unverified = agent(&server, "servicedesk2").await;
    // Someone without the service desk role cannot act at all.
    let stranger = Actor::User(USERNAME.into());
    assert!(
        server
            .provider
            .send_caller_code(&stranger, USERNAME)
            .await
            .is_err()
    );
    assert!(
        server
            .provider
            .issue_temporary_password(&unverified, USERNAME)
            .await
            .is_err()
    );
    let desk = verified_by(&server, "servicedesk1").await;
    let temporary = server
        .provider
        .issue_temporary_password(&desk, USERNAME)
        .await
        .unwrap();
    let temporary = temporary.secret().to_string();
    assert_eq!(
        temporary.len(),
        19,
        "four groups of four, easy to read aloud: {temporary}"
    );

    // The old password no longer works.
    let http = browser();
    server.align_clock(30, 2);
    let (_, res) =
        password_and_passcode(&http, &server, &client_id, PASSWORD, &code(&server, 0)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("The username, password or passcode is incorrect.")
    );

    server.advance_clock(30);
    let (journey, res) =
        password_and_passcode(&http, &server, &client_id, &temporary, &code(&server, 0)).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "on to the required actions"
    );
    let page = get(&http, &journey).await;
    assert!(page.contains("Create a new password"), "{page}");
    assert!(
        page.contains("At least 12 characters"),
        "the rules are listed:\n{page}"
    );
    assert!(page.contains(r#"autocomplete="new-password""#));

    // Rules are enforced by the server, with every reason shown.
    let weak = [
        ("csrf", csrf_of(&page)),
        ("new_password", "password1234".into()),
        ("confirm_password", "password1234".into()),
    ];
    let res = http
        .post(journey.as_str())
        .form(&weak)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("role=\"alert\""), "{page}");
    let mismatch = [
        ("csrf", csrf_of(&page)),
        ("new_password", "a fine new pass phrase".into()),
        ("confirm_password", "another".into()),
    ];
    let page = http
        .post(journey.as_str())
        .form(&mismatch)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("The two passwords are not the same."),
        "{page}"
    );
    let good = [
        ("csrf", csrf_of(&page)),
        ("new_password", "violet kettle marathon".into()),
        ("confirm_password", "violet kettle marathon".into()),
    ];
    let res = http
        .post(journey.as_str())
        .form(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    let page = get(&http, &journey).await;
    assert!(page.contains("Set up your recovery information"), "{page}");
    let csrf = csrf_of(&page);
    // The same question twice is refused.
    let mut form: Vec<(String, String)> = vec![
        ("csrf".into(), csrf),
        ("secret_word".into(), "Marmalade".into()),
    ];
    for i in 0..5 {
        form.push((
            format!("question_{i}"),
            if i < 2 { "0".into() } else { i.to_string() },
        ));
        form.push((format!("answer_{i}"), format!("answer number {i}")));
    }
    let page = http
        .post(journey.as_str())
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("chosen twice"), "{page}");
    form[0].1 = csrf_of(&page);
    form[4].1 = "1".into();
    let res = http
        .post(journey.as_str())
        .form(&form)
        .send()
        .await
        .unwrap();
    // Done: the pending authorization request resumes at the client.
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));

    // The new password works at once (no waiting for a synchronisation); the temporary one not.
    server.advance_clock(30);
    let (_, res) = password_and_passcode(
        &http,
        &server,
        &client_id,
        "violet kettle marathon",
        &code(&server, 0),
    )
    .await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    server.advance_clock(30);
    let (_, res) =
        password_and_passcode(&http, &server, &client_id, &temporary, &code(&server, 0)).await;
    assert_eq!(res.status(), StatusCode::OK);

    let events: Vec<String> = server
        .provider
        .audit_events(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    for e in [
        "password.temporary_issued",
        "password.changed",
        "recovery.enrolled",
    ] {
        assert!(
            events.iter().any(|x| x == e),
            "{e} not in the audit log: {events:?}"
        );
    }
    let report = server.provider.verify_audit_log().await.unwrap();
    assert_eq!(report.first_broken, None);
}

#[tokio::test]
async fn an_expired_temporary_password_says_whom_to_call_after_the_passcode_only() {
    let (server, client_id) = setup().await;
    let temporary = server
        .provider
        .issue_temporary_password(&Actor::BreakGlass, USERNAME)
        .await
        .unwrap();
    server.advance_clock(73 * 3600);
    server.align_clock(30, 2);
    let http = browser();
    let (journey, res) = password_and_passcode(
        &http,
        &server,
        &client_id,
        temporary.secret(),
        &code(&server, 0),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    assert!(
        page.contains("Your temporary password has expired"),
        "{page}"
    );
    assert!(page.contains("1-877-311-4300"), "{page}");

    // With a wrong passcode the same attempt is only the generic failure: nothing is revealed.
    server.advance_clock(30);
    let (_, res) =
        password_and_passcode(&http, &server, &client_id, temporary.secret(), "000000").await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("The username, password or passcode is incorrect."),
        "{page}"
    );
    assert!(!page.contains("expired"));
}

/// The quick reference's Step 3 at the IAM portal: page 1 username + passcode, page 2 username +
/// temporary password, page 3 a new password under the listed rules, then the secret word and
/// five challenge questions, then a page that says the new password works now.
#[tokio::test]
async fn first_time_activation_pages_then_the_new_password_signs_in_at_once() {
    let (server, client_id) = setup().await;
    let temporary = server
        .provider
        .issue_temporary_password(&verified_by(&server, "desk").await, USERNAME)
        .await
        .unwrap();
    let http = browser();
    server.align_clock(30, 2);

    // A wrong passcode is only revealed after page 2, as one failure for the whole attempt.
    let res = http.get(server.url("/activate")).send().await.unwrap();
    let journey = see_other_location_abs(&server, &res);
    let page = get(&http, &journey).await;
    assert!(
        page.contains("Enter your username and the passcode"),
        "{page}"
    );
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("passcode", "000000".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    assert!(
        page.contains("temporary password from the service desk"),
        "{page}"
    );
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("password", temporary.secret().into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("is incorrect"), "{page}");

    // The real thing.
    server.advance_clock(30);
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("passcode", code(&server, 0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("password", temporary.secret().into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    assert!(
        page.contains("Create a new password") && page.contains("At least 12 characters"),
        "{page}"
    );
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("new_password", "lantern orchard violin".into()),
            ("confirm_password", "lantern orchard violin".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    assert!(page.contains("Set up your recovery information"), "{page}");
    let mut form: Vec<(String, String)> = vec![
        ("csrf".into(), csrf_of(&page)),
        ("secret_word".into(), "Marmalade".into()),
    ];
    for i in 0..5 {
        form.push((format!("question_{i}"), i.to_string()));
        form.push((format!("answer_{i}"), format!("answer number {i}")));
    }
    let res = http
        .post(journey.as_str())
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("Your account is ready") && page.contains("nothing to wait for"),
        "{page}"
    );

    // At once, at the client: the new password with a passcode.
    server.advance_clock(30);
    let (_, res) = password_and_passcode(
        &http,
        &server,
        &client_id,
        "lantern orchard violin",
        &code(&server, 0),
    )
    .await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
}

fn see_other_location_abs(server: &TestServer, res: &reqwest::Response) -> url::Url {
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let loc = res.headers()["location"].to_str().unwrap();
    url::Url::parse(&server.url(loc)).unwrap()
}

/// A lost token: the caller verified by their secret word, the token marked lost, sessions
/// ended, and an emergency passcode that signs in with its own acr (not token-based MFA).
#[tokio::test]
async fn lost_token_emergency_passcode_signs_in_with_its_own_acr() {
    let (server, client_id) = setup().await;
    let http = browser();
    server.align_clock(30, 2);
    // A session first, to see it end.
    let (_, res) =
        password_and_passcode(&http, &server, &client_id, PASSWORD, &code(&server, 0)).await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));

    let desk = verified_by(&server, "desk").await;
    let emergency = server
        .provider
        .report_token_lost(&desk, USERNAME, Some(12))
        .await
        .unwrap();
    let emergency = emergency.secret().to_string();
    assert_eq!(emergency.len(), 8);
    let tokens = server.provider.list_tokens().await.unwrap();
    assert_eq!(tokens[0].state, oidc_core::mfa::TokenState::Lost);
    assert!(
        server
            .mail
            .sent()
            .iter()
            .any(|m| m.subject.contains("reported lost"))
    );

    // The session is gone: prompt=none answers login_required.
    let mut params = server.authorize_params();
    for p in params.iter_mut().filter(|(k, _)| k == "client_id") {
        p.1 = client_id.clone();
    }
    params.push(("prompt".into(), "none".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));

    // The lost token's codes no longer work; the emergency passcode does, with its own acr.
    server.advance_clock(30);
    let (_, res) =
        password_and_passcode(&http, &server, &client_id, PASSWORD, &code(&server, 0)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (_, res) = password_and_passcode(&http, &server, &client_id, PASSWORD, &emergency).await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    // Its claims, through the new session and the seeded (password-only) client.
    let mut params = server.authorize_params();
    params.push(("prompt".into(), "none".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let code =
        assert_code_redirect(&see_other_location(&res), &server, Some("st-123"))["code"].clone();
    let answer = server.redeem(&http, &code, PKCE_VERIFIER).await;
    let id = jwt_part(answer.json["id_token"].as_str().unwrap(), 1);
    assert_eq!(id["acr"], oidc_core::ACR_PASSWORD_EMERGENCY);
    assert_eq!(
        id["amr"],
        serde_json::json!(["pwd"]),
        "not reported as token-based MFA"
    );
}

#[tokio::test]
async fn caller_verification_by_secret_word_matches_or_not_and_is_audited() {
    let (server, _) = setup().await;
    let desk = agent(&server, "desk").await;
    // No secret word yet: the agent is told to mail a code instead.
    assert!(
        server
            .provider
            .verify_caller_secret_word(&desk, USERNAME, "anything")
            .await
            .is_err()
    );
    let events: Vec<String> = server
        .provider
        .audit_events(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(!events.iter().any(|e| e == "caller.verified"));
}

/// "Update / Change your password" from the sign-in page of a client's request: username,
/// current password and passcode, then a new password; then back to that sign-in, where the new
/// password works at once.
#[tokio::test]
async fn change_password_from_the_sign_in_page_returns_to_the_request() {
    let (server, client_id) = setup().await;
    let http = browser();
    server.align_clock(30, 2);
    let mut params = server.authorize_params();
    for p in params.iter_mut().filter(|(k, _)| k == "client_id") {
        p.1 = client_id.clone();
    }
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    let signin = open_signin(&http, res).await;
    let link = format!("/change-password?from={}", signin.journey_id);
    assert!(signin.body.contains(&link), "{}", signin.body);
    assert!(signin.body.contains("Update / Change your password"));

    let res = http.get(server.url(&link)).send().await.unwrap();
    let journey = see_other_location_abs(&server, &res);
    let page = get(&http, &journey).await;
    assert!(page.contains("your current password"), "{page}");
    // A wrong current password: the generic failure, nothing more.
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("password", "not my password at all".into()),
            ("passcode", code(&server, 0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(page.contains("is incorrect"), "{page}");

    server.advance_clock(30);
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("password", PASSWORD.into()),
            ("passcode", code(&server, 0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    assert!(page.contains("Create a new password"), "{page}");
    // The last passwords cannot come back.
    let reuse = [
        ("csrf", csrf_of(&page)),
        ("new_password", PASSWORD.into()),
        ("confirm_password", PASSWORD.into()),
    ];
    let page = http
        .post(journey.as_str())
        .form(&reuse)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("role=\"alert\""), "{page}");
    let new = [
        ("csrf", csrf_of(&page)),
        ("new_password", "copper lighthouse sonata".into()),
        ("confirm_password", "copper lighthouse sonata".into()),
    ];
    let res = http.post(journey.as_str()).form(&new).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let back = res.headers()["location"].to_str().unwrap().to_string();
    assert_eq!(
        back,
        format!("/signin/{}", signin.journey_id),
        "back to the sign-in of the request"
    );

    // The original request signs in with the new password at once.
    server.advance_clock(30);
    let page = get(&http, &url::Url::parse(&server.url(&back)).unwrap()).await;
    let res = http
        .post(server.url(&back))
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("password", "copper lighthouse sonata".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &url::Url::parse(&server.url(&back)).unwrap()).await;
    let res = http
        .post(server.url(&back))
        .form(&[("csrf", csrf_of(&page)), ("passcode", code(&server, 0))])
        .send()
        .await
        .unwrap();
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    assert!(
        server
            .mail
            .sent()
            .iter()
            .any(|m| m.subject.contains("password was changed"))
    );
}

/// Activates the seeded account through the portal with a known new password and recovery data
/// (secret word "Marmalade", question i answered "answer number i").
async fn activate(server: &TestServer, http: &reqwest::Client, new_password: &str) {
    let temporary = server
        .provider
        .issue_temporary_password(&Actor::BreakGlass, USERNAME)
        .await
        .unwrap();
    let res = http.get(server.url("/activate")).send().await.unwrap();
    let journey = see_other_location_abs(server, &res);
    let page = get(http, &journey).await;
    let post = |form: Vec<(&'static str, String)>| http.post(journey.as_str()).form(&form).send();
    post(vec![
        ("csrf", csrf_of(&page)),
        ("username", USERNAME.into()),
        ("passcode", code(server, 0)),
    ])
    .await
    .unwrap();
    let page = get(http, &journey).await;
    post(vec![
        ("csrf", csrf_of(&page)),
        ("username", USERNAME.into()),
        ("password", temporary.secret().into()),
    ])
    .await
    .unwrap();
    let page = get(http, &journey).await;
    post(vec![
        ("csrf", csrf_of(&page)),
        ("new_password", new_password.into()),
        ("confirm_password", new_password.into()),
    ])
    .await
    .unwrap();
    let page = get(http, &journey).await;
    let mut form: Vec<(String, String)> = vec![
        ("csrf".into(), csrf_of(&page)),
        ("secret_word".into(), "Marmalade".into()),
    ];
    for i in 0..5 {
        form.push((format!("question_{i}"), i.to_string()));
        form.push((format!("answer_{i}"), format!("answer number {i}")));
    }
    let page = http
        .post(journey.as_str())
        .form(&form)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Your account is ready"), "{page}");
}

/// "Forgot your password?": username, passcode, then the secret word and two fixed questions,
/// then a new password. Wrong answers fail as one; the pair of questions does not change between
/// attempts; an unknown username gets a page of the same shape.
#[tokio::test]
async fn forgot_password_with_passcode_secret_word_and_two_fixed_questions() {
    let (server, _) = setup().await;
    let http = browser();
    server.align_clock(30, 2);
    activate(&server, &http, "lantern orchard violin").await;

    let questions_for = |page: &str| -> Vec<String> {
        page.split("<label for=\"answer_")
            .skip(1)
            .map(|p| {
                p.split('>')
                    .nth(1)
                    .unwrap_or("")
                    .split('<')
                    .next()
                    .unwrap_or("")
                    .to_string()
            })
            .collect()
    };
    let answer_for = |q: &str| -> String {
        // The page shows the question HTML-escaped.
        let q = q
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&amp;", "&");
        let i = oidc_core::DEFAULT_RECOVERY_QUESTIONS
            .iter()
            .position(|x| *x == q)
            .expect("a known question");
        format!("ANSWER   number {i}")
    };
    let mut pairs = Vec::new();
    let mut last = String::new();
    for attempt in 0..2 {
        server.advance_clock(30);
        let res = http
            .get(server.url("/forgot-password"))
            .send()
            .await
            .unwrap();
        let journey = see_other_location_abs(&server, &res);
        let page = get(&http, &journey).await;
        assert!(page.contains("Forgot your password?"), "{page}");
        http.post(journey.as_str())
            .form(&[
                ("csrf", csrf_of(&page)),
                ("username", USERNAME.into()),
                ("passcode", code(&server, 0)),
            ])
            .send()
            .await
            .unwrap();
        let page = get(&http, &journey).await;
        let qs = questions_for(&page);
        assert_eq!(qs.len(), 2, "{page}");
        pairs.push(qs.clone());
        let word = if attempt == 0 {
            "not the word"
        } else {
            "marmalade"
        };
        let res = http
            .post(journey.as_str())
            .form(&[
                ("csrf", csrf_of(&page)),
                ("secret_word", word.into()),
                ("answer_0", answer_for(&qs[0])),
                ("answer_1", answer_for(&qs[1])),
            ])
            .send()
            .await
            .unwrap();
        if attempt == 0 {
            assert_eq!(res.status(), StatusCode::OK);
            assert!(res.text().await.unwrap().contains("is incorrect"));
        } else {
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
            let page = get(&http, &journey).await;
            assert!(page.contains("Create a new password"), "{page}");
            let res = http
                .post(journey.as_str())
                .form(&[
                    ("csrf", csrf_of(&page)),
                    ("new_password", "harbour meadow cello".into()),
                    ("confirm_password", "harbour meadow cello".into()),
                ])
                .send()
                .await
                .unwrap();
            last = res.text().await.unwrap();
        }
    }
    assert_eq!(
        pairs[0], pairs[1],
        "the pair of questions is fixed until a recovery succeeds"
    );
    assert!(
        last.contains("Your account is ready") || last.contains("password works"),
        "{last}"
    );

    // An unknown username: a page of the same shape, a stable made-up pair.
    let mut unknown = Vec::new();
    for _ in 0..2 {
        let res = http
            .get(server.url("/forgot-password"))
            .send()
            .await
            .unwrap();
        let journey = see_other_location_abs(&server, &res);
        let page = get(&http, &journey).await;
        http.post(journey.as_str())
            .form(&[
                ("csrf", csrf_of(&page)),
                ("username", "nobody-here".into()),
                ("passcode", "123456".into()),
            ])
            .send()
            .await
            .unwrap();
        let page = get(&http, &journey).await;
        unknown.push(questions_for(&page));
    }
    assert_eq!(unknown[0].len(), 2);
    assert_eq!(unknown[0], unknown[1]);
}
