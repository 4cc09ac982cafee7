//! Account lifecycle end to end: the service desk's temporary password, the required actions
//! that follow it at the provider (a new password under the rules, then the secret word and the
//! challenge questions on two pages), the pending authorization request resuming afterwards;
//! the service desk's reset of recovery data, deleting an account's credentials, and settling a
//! registration whose approval never finished.

use crate::common::mfa::{SEED, password_and_passcode, tokencode};
use crate::common::pages::{
    activate, enrol, get, post, post_text, questions_form, see_other_location_abs, word_form,
};
use crate::common::*;
use oidc_core::{Actor, NewClient};
use reqwest::StatusCode;

const SERIAL: &str = "LC-0001";

/// The tokencode of the seeded account's token for the step `offset` steps from the current one.
fn code(server: &TestServer, offset: i64) -> String {
    tokencode(server, SEED, offset)
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

    // Page 4: the secret word, checked and kept (hashed) in the journey only.
    let page = get(&http, &journey).await;
    assert!(page.contains("Choose a secret word"), "{page}");
    let page = post_text(&http, &journey, &word_form(&page, "abc", "abc")).await;
    assert!(
        page.contains("The secret word must be 4 to 64 characters."),
        "{page}"
    );
    let page = post_text(&http, &journey, &word_form(&page, "Marmalade", "Marmite")).await;
    assert!(
        page.contains("The two secret words are not the same."),
        "{page}"
    );
    let page4 = word_form(&page, "Marmalade", "  marmalade ");
    let res = post(&http, &journey, &page4).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // The same page-4 form again (a double click, the back button): nothing runs twice, the
    // browser is shown where the journey stands.
    let res = post(&http, &journey, &page4).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(see_other_location(&res).as_str(), journey.as_str());
    // Stopping here would leave no half-written recovery data on the account.
    let desk_agent = agent(&server, "desk-check").await;
    assert!(
        server
            .provider
            .verify_caller_secret_word(&desk_agent, USERNAME, "Marmalade")
            .await
            .is_err(),
        "no secret word is stored before the questions are answered"
    );

    // Page 5: five different questions, each answered.
    let page = get(&http, &journey).await;
    assert!(page.contains("Choose your challenge questions"), "{page}");
    assert!(!page.contains("name=\"secret_word\""), "{page}");
    // The same question twice is refused, and the choices are kept.
    let choice = [0, 0, 2, 3, 4];
    let page = post_text(
        &http,
        &journey,
        &questions_form(&page, &choice, "answer number"),
    )
    .await;
    assert!(page.contains("chosen twice"), "{page}");
    assert_eq!(
        page.matches(r#"<option value="0" selected>"#).count(),
        2,
        "{page}"
    );
    // An answer may not be the secret word (compared after normalisation, with its hash).
    let mut form = questions_form(&page, &[0, 1, 2, 3, 4], "answer number");
    form[4].1 = "MARMALADE".into();
    let page = post_text(&http, &journey, &form).await;
    assert!(
        page.contains("The answer to question 2 must not be your secret word."),
        "{page}"
    );
    // Back to page 4 to change the word; then page 5 again.
    let back = [
        ("csrf".to_string(), csrf_of(&page)),
        ("change_secret_word".to_string(), "1".to_string()),
    ];
    let res = post(&http, &journey, &back).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    assert!(page.contains("Choose a secret word"), "{page}");
    let res = post(
        &http,
        &journey,
        &word_form(&page, "Quince jam", "quince  JAM"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    assert!(page.contains("Choose your challenge questions"), "{page}");
    let page5 = questions_form(&page, &[0, 1, 2, 3, 4], "answer number");
    let res = post(&http, &journey, &page5).await;
    // Done: the pending authorization request resumes at the client.
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    // A second submit of page 5 finds the journey finished: back through the authorization
    // endpoint, never a second enrolment.
    let res = post(&http, &journey, &page5).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(
        see_other_location(&res).path().starts_with("/authorize"),
        "{:?}",
        res.headers()
    );
    // The word of the second page 4 is the one stored.
    assert!(
        server
            .provider
            .verify_caller_secret_word(&desk_agent, USERNAME, "QUINCE JAM")
            .await
            .unwrap()
    );
    assert!(
        !server
            .provider
            .verify_caller_secret_word(&desk_agent, USERNAME, "Marmalade")
            .await
            .unwrap()
    );

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
/// temporary password, page 3 a new password under the listed rules, page 4 the secret word,
/// page 5 five challenge questions, then a page that says the new password works now.
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
    // Page 4, the secret word; page 5, the questions.
    let page = get(&http, &journey).await;
    assert!(page.contains("Choose a secret word"), "{page}");
    let res = post(&http, &journey, &word_form(&page, "Marmalade", "Marmalade")).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    assert!(page.contains("Choose your challenge questions"), "{page}");
    let res = post(
        &http,
        &journey,
        &questions_form(&page, &[0, 1, 2, 3, 4], "answer number"),
    )
    .await;
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

fn events(list: &[oidc_core::AuditEvent], name: &str) -> Vec<oidc_core::AuditEvent> {
    list.iter().filter(|e| e.event == name).cloned().collect()
}

/// The service desk resets a caller's recovery data (after verifying them by a mailed code): the
/// secret word no longer matches anything, the user is told by email, and their next sign-in at
/// the provider asks for a new word and questions (with a permanent password) before the code
/// goes to the client.
#[tokio::test]
async fn the_desk_resets_recovery_data_and_the_next_sign_in_enrols_again() {
    let (server, client_id) = setup().await;
    let http = browser();
    server.align_clock(30, 2);
    activate(&server, &http, "lantern orchard violin").await;

    let unverified = agent(&server, "desk-unverified").await;
    let refused = server
        .provider
        .reset_recovery_data(&unverified, USERNAME)
        .await;
    assert!(
        matches!(refused, Err(oidc_core::Error::Forbidden(ref m)) if m.contains("verify the caller")),
        "{refused:?}"
    );
    let no_role = Actor::User(USERNAME.into());
    let refused = server
        .provider
        .reset_recovery_data(&no_role, USERNAME)
        .await;
    assert!(
        matches!(refused, Err(oidc_core::Error::Forbidden(ref m)) if m.contains("role")),
        "{refused:?}"
    );
    let desk = verified_by(&server, "desk").await;
    assert!(
        server
            .provider
            .verify_caller_secret_word(&desk, USERNAME, "marmalade")
            .await
            .unwrap()
    );
    server
        .provider
        .reset_recovery_data(&desk, USERNAME)
        .await
        .unwrap();
    let mail = server.mail.sent();
    let notice = mail.last().unwrap();
    assert_eq!(notice.to, EMAIL);
    assert!(
        notice
            .subject
            .contains("your recovery information was reset"),
        "{notice:?}"
    );
    assert!(notice.body.contains(USERNAME), "{}", notice.body);
    let log = server.provider.audit_events(None, 200).await.unwrap();
    let reset = events(&log, "recovery.reset");
    assert_eq!(reset.len(), 1, "{log:?}");
    assert_eq!(reset[0].actor, "user:desk");
    assert_eq!(reset[0].subject.as_deref(), Some(USERNAME));
    // The old word is gone: the desk is told to verify by a mailed code.
    assert!(
        server
            .provider
            .verify_caller_secret_word(&desk, USERNAME, "marmalade")
            .await
            .is_err()
    );

    // A sign-in with the (permanent) password and passcode: pages 4 and 5 first, then the client.
    server.advance_clock(30);
    let (journey, res) = password_and_passcode(
        &http,
        &server,
        &client_id,
        "lantern orchard violin",
        &code(&server, 0),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(see_other_location(&res).as_str(), journey.as_str());
    let res = enrol(&http, &journey, "Gooseberry", "new answer").await;
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
    assert!(
        server
            .provider
            .verify_caller_secret_word(&desk, USERNAME, "gooseberry")
            .await
            .unwrap()
    );
    // Enrolled: the next sign-in goes straight to the client.
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

/// Deprovisioning: deleting an account's credentials keeps the account and its history but
/// removes the password, its history, the recovery data and the token, ends its sessions and
/// stops a sign-in that was already past its password. The person is back to a new user's
/// start: a temporary password and a token, then activation with enrolment.
#[tokio::test]
async fn deleting_credentials_ends_access_until_the_desk_starts_over() {
    let (server, client_id) = setup().await;
    let http = browser();
    server.align_clock(30, 2);
    activate(&server, &http, "lantern orchard violin").await;
    // A session at the client.
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
    // Another browser is half-way through changing the password (past every check).
    let other = browser();
    server.advance_clock(30);
    let res = other
        .get(server.url("/change-password"))
        .send()
        .await
        .unwrap();
    let change = see_other_location_abs(&server, &res);
    let page = get(&other, &change).await;
    let res = other
        .post(change.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("password", "lantern orchard violin".into()),
            ("passcode", code(&server, 0)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let new_password_page = get(&other, &change).await;
    assert!(
        new_password_page.contains("Create a new password"),
        "{new_password_page}"
    );

    // Only an IAM administrator or an Access Administrator may; the service desk may not.
    let desk = verified_by(&server, "desk").await;
    let refused = server.provider.delete_credentials(&desk, USERNAME).await;
    assert!(
        matches!(refused, Err(oidc_core::Error::Forbidden(_))),
        "{refused:?}"
    );
    server
        .provider
        .create_user(oidc_core::NewUser {
            username: "iam.admin".into(),
            email: "iam.admin@example.org".into(),
            name: None,
            roles: vec![oidc_core::ROLE_IAM_ADMIN.into()],
            password: None,
        })
        .await
        .unwrap();
    let admin = Actor::User("iam.admin".into());
    let serials = server
        .provider
        .delete_credentials(&admin, USERNAME)
        .await
        .unwrap();
    assert_eq!(serials, vec![SERIAL.to_string()]);

    // The account stays, without a token.
    let user = server
        .provider
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .find(|u| u.username == USERNAME)
        .expect("the account is kept");
    assert_eq!(user.subject, server.user.subject);
    assert!(!user.disabled);
    let token = server
        .provider
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.serial == SERIAL)
        .unwrap();
    assert_eq!(token.state, oidc_core::mfa::TokenState::Unassigned);
    assert_eq!(token.username, None);
    // No recovery data either.
    assert!(
        server
            .provider
            .verify_caller_secret_word(&desk, USERNAME, "marmalade")
            .await
            .is_err()
    );
    let log = server.provider.audit_events(None, 200).await.unwrap();
    let deleted = events(&log, "account.credentials_deleted");
    assert_eq!(deleted.len(), 1, "{log:?}");
    assert_eq!(deleted[0].actor, "user:iam.admin");
    assert_eq!(deleted[0].detail["tokens"], serde_json::json!([SERIAL]));
    assert!(
        deleted[0].detail["sessions_ended"].as_u64() >= Some(1),
        "{:?}",
        deleted[0].detail
    );

    // The session is gone.
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
    // The half-done change cannot finish: its journey has ended, and no password was set.
    let res = other
        .post(change.as_str())
        .form(&[
            ("csrf", csrf_of(&new_password_page)),
            ("new_password", "a sneaky new password".into()),
            ("confirm_password", "a sneaky new password".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let page = res.text().await.unwrap();
    assert!(page.contains("This sign-in has expired"), "{page}");
    // The old password no longer signs in (the answer of any failure).
    let res = http
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    let signin = open_signin(&http, res).await;
    for password in ["lantern orchard violin", "a sneaky new password"] {
        let res = submit_password(&http, &signin, USERNAME, password).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.text().await.unwrap().contains(BAD_CREDENTIALS));
    }

    // Starting over: a token again, a temporary password, activation with enrolment. The
    // password history went with the credentials, so the old password is allowed again.
    server
        .provider
        .assign_token(USERNAME, SERIAL, None, false)
        .await
        .unwrap();
    server.advance_clock(30);
    activate(&server, &http, "lantern orchard violin").await;
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

// ---------------------------------------------------------------------------------------------
// A registration whose approval never finished

/// A database of this test's own, so that the test can do what a dying process leaves behind;
/// removed when dropped.
enum OwnDb {
    Sqlite {
        _dir: tempfile::TempDir,
        path: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl OwnDb {
    fn create() -> OwnDb {
        use diesel::{Connection, RunQueryDsl};
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.trim().is_empty() => {
                let name = format!("e2e_stuck_{}", uuid::Uuid::new_v4().simple());
                let mut conn = diesel::PgConnection::establish(&admin_url).unwrap();
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                let mut url = url::Url::parse(&admin_url).unwrap();
                url.set_path(&format!("/{name}"));
                OwnDb::Postgres {
                    admin_url,
                    name,
                    url: url.to_string(),
                }
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let path = dir.path().join("iam.db").display().to_string();
                OwnDb::Sqlite { _dir: dir, path }
            }
        }
    }

    fn url(&self) -> String {
        match self {
            OwnDb::Sqlite { path, .. } => format!("sqlite://{path}"),
            OwnDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// Runs SQL behind the provider's back; returns the affected rows.
    fn exec(&self, sql: &str) -> usize {
        use diesel::{Connection, RunQueryDsl};
        match self {
            OwnDb::Sqlite { path, .. } => diesel::sql_query(sql)
                .execute(&mut diesel::SqliteConnection::establish(path).unwrap()),
            OwnDb::Postgres { url, .. } => {
                diesel::sql_query(sql).execute(&mut diesel::PgConnection::establish(url).unwrap())
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for OwnDb {
    fn drop(&mut self) {
        use diesel::{Connection, RunQueryDsl};
        if let OwnDb::Postgres {
            admin_url, name, ..
        } = self
            && let Ok(mut conn) = diesel::PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// Leaves registration `id` as an approval by aa.two that started `minutes_ago` and died, for
/// `username` (`None`: a claim made before claims recorded the username and time).
fn die_while_approving(db: &OwnDb, id: &str, username: Option<&str>, minutes_ago: i64) {
    use oidc_core::Clock;
    let started = oidc_core::SystemClock.now() - chrono::Duration::minutes(minutes_ago);
    let (username, started) = match username {
        Some(u) => (
            format!("'{u}'"),
            format!("'{}'", started.format("%Y-%m-%d %H:%M:%S")),
        ),
        None => ("NULL".to_string(), "NULL".to_string()),
    };
    let n = db.exec(&format!(
        "UPDATE registrations SET status = 'approving', decided_by = 'user:aa.two', \
         username = {username}, decided_at = {started} WHERE id = '{id}' AND status = 'pending'"
    ));
    assert_eq!(n, 1);
}

fn urf(name: &str, email: &str) -> oidc_core::NewRegistration {
    oidc_core::NewRegistration {
        legal_name: name.into(),
        email: email.into(),
        clinic: "Northgate Family Clinic".into(),
        practitioner_id: "PRAC-20417".into(),
        role_requested: None,
    }
}

/// An approval whose process died leaves its registration `approving`. An Access Administrator
/// settles it once it is old enough: back to `pending` when no account was created for it (and
/// it can be approved again), `approved` with the Welcome email when the account exists.
#[tokio::test]
async fn a_registration_left_approving_is_settled_by_an_access_administrator() {
    use oidc_core::{Error, TokenChoice};
    let db = OwnDb::create();
    let mail = std::sync::Arc::new(oidc_core::notify::MemoryMailer::new());
    let provider = oidc_core::Provider::builder(
        oidc_core::ProviderConfig::builder("http://127.0.0.1:9")
            .build()
            .unwrap(),
        db.url(),
    )
    .mailer(mail.clone())
    .build()
    .await
    .unwrap();
    for (name, roles) in [
        ("aa.one", vec![oidc_core::ROLE_ACCESS_ADMIN.to_string()]),
        ("aa.two", vec![oidc_core::ROLE_ACCESS_ADMIN.to_string()]),
        ("desk", vec![oidc_core::ROLE_SERVICE_DESK.to_string()]),
    ] {
        provider
            .create_user(oidc_core::NewUser {
                username: name.into(),
                email: format!("{name}@example.org"),
                name: None,
                roles,
                password: None,
            })
            .await
            .unwrap();
    }
    let csv = "STUCK-1,3132333435363738393031323334353637383930\n\
               STUCK-2,3132333435363738393031323334353637383930\n";
    provider
        .import_tokens(csv.as_bytes(), None, false)
        .await
        .unwrap();
    let (aa1, aa2) = (Actor::User("aa.one".into()), Actor::User("aa.two".into()));
    let fifteen = std::time::Duration::from_secs(15 * 60);

    // No account was created: back to pending, and approvable again.
    let a = provider
        .submit_registration(&aa1, urf("Priya Raman", "priya@example.org"))
        .await
        .unwrap();
    die_while_approving(&db, &a.id, Some("praman"), 60);
    let stuck = provider
        .list_registrations(Some("approving"))
        .await
        .unwrap();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].username.as_deref(), Some("praman"));
    let r = provider
        .reset_stuck_registration(&Actor::User("desk".into()), &a.id, fifteen)
        .await;
    assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
    // Younger than asked: it may still be running.
    let r = provider
        .reset_stuck_registration(&aa1, &a.id, std::time::Duration::from_secs(2 * 3600))
        .await;
    assert!(
        matches!(r, Err(Error::Conflict(ref m)) if m.contains("may still be running")),
        "{r:?}"
    );
    let settled = provider
        .reset_stuck_registration(&aa1, &a.id, fifteen)
        .await
        .unwrap();
    assert_eq!(settled.status, "pending");
    assert_eq!(settled.username, None);
    assert_eq!(settled.decided_by, None);
    assert_eq!(settled.decided_at, None);
    let r = provider
        .reset_stuck_registration(&aa1, &a.id, fifteen)
        .await;
    assert!(
        matches!(r, Err(Error::Conflict(ref m)) if m.contains("not approving")),
        "{r:?}"
    );
    let approval = provider
        .approve_registration(
            &aa2,
            &a.id,
            "praman",
            TokenChoice::Hardware {
                serial: "STUCK-1".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(approval.registration.status, "approved");

    // The account was created (and its token assigned) before the process died: completed,
    // and the Welcome email goes out now.
    let b = provider
        .submit_registration(&aa1, urf("Kim Doe", "kim@example.org"))
        .await
        .unwrap();
    die_while_approving(&db, &b.id, Some("kdoe"), 30);
    provider
        .create_user(oidc_core::NewUser {
            username: "kdoe".into(),
            email: "kim@example.org".into(),
            name: Some("Kim Doe".into()),
            roles: vec![ROLE.into()],
            password: None,
        })
        .await
        .unwrap();
    provider
        .assign_token("kdoe", "STUCK-2", None, false)
        .await
        .unwrap();
    let before = mail.sent().len();
    let settled = provider
        .reset_stuck_registration(&aa1, &b.id, fifteen)
        .await
        .unwrap();
    assert_eq!(settled.status, "approved");
    assert_eq!(settled.username.as_deref(), Some("kdoe"));
    assert_eq!(settled.decided_by.as_deref(), Some("user:aa.two"));
    let sent = mail.sent();
    assert_eq!(sent.len(), before + 1);
    let welcome = sent.last().unwrap();
    assert_eq!(welcome.to, "kim@example.org");
    assert!(welcome.body.contains("kdoe"), "{}", welcome.body);

    // A claim from before claims recorded their time and username, with no account: released.
    let c = provider
        .submit_registration(&aa1, urf("Lee Chan", "lee@example.org"))
        .await
        .unwrap();
    die_while_approving(&db, &c.id, None, 0);
    let settled = provider
        .reset_stuck_registration(&aa2, &c.id, fifteen)
        .await
        .unwrap();
    assert_eq!(settled.status, "pending");

    let log = provider.audit_events(None, 200).await.unwrap();
    let released = events(&log, "urf.approval_released");
    assert_eq!(released.len(), 2, "{log:?}");
    assert_eq!(released[0].actor, "user:aa.one");
    assert_eq!(released[0].detail["username"], "praman");
    let completed = events(&log, "urf.approval_completed");
    assert_eq!(completed.len(), 1, "{log:?}");
    assert_eq!(completed[0].subject.as_deref(), Some("kdoe"));
    assert_eq!(
        completed[0].detail["tokens"],
        serde_json::json!(["STUCK-2"])
    );
    assert_eq!(completed[0].detail["welcome_sent"], true);
    assert_eq!(
        provider.verify_audit_log().await.unwrap().first_broken,
        None
    );
}
