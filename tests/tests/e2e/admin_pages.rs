//! The IAM admin pages under `/admin`, driven like a browser: sign in through the provider itself
//! (password, then passcode) as the admin console, then act through the pages, whose every form
//! carries a token bound to the sign-in.

use crate::common::mfa::{create_staff, give_token, passcode};
use crate::common::*;
use oidc_core::{Actor, NewClient, ROLE_ACCESS_ADMIN, ROLE_IAM_ADMIN, ROLE_SERVICE_DESK};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use url::Url;

/// An account with `roles`, the common password and a token.
async fn staff(server: &TestServer, username: &str, roles: &[&str]) {
    create_staff(server, username, Some(&format!("Staff {username}")), roles).await;
}

fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

fn location(res: &reqwest::Response) -> Url {
    see_other_location(res)
}

async fn body(res: reqwest::Response) -> String {
    res.text().await.unwrap()
}

/// Pages must keep to the CSP (`default-src 'self'`): no inline script or style.
fn assert_clean_page(page: &str) {
    // Scripts only from our own files (`<script src="…" defer></script>`), never inline.
    for script in page.split("<script").skip(1) {
        let (tag, rest) = script.split_once('>').unwrap_or((script, ""));
        assert!(
            tag.trim_start().starts_with("src=\"/") && rest.starts_with("</script>"),
            "no inline scripts:\n{page}"
        );
    }
    assert!(!page.contains("style="), "no inline styles:\n{page}");
    assert!(!page.contains("<style"), "no inline styles:\n{page}");
}

/// From `GET start` without an admin cookie: the redirect to the authorization endpoint, the
/// password and the passcode for `username`; returns the callback's response (not followed).
async fn sign_in_to_callback(
    server: &TestServer,
    http: &reqwest::Client,
    start: &str,
    username: &str,
) -> reqwest::Response {
    // A new time step: each tokencode is accepted once.
    server.align_clock(30, 2);
    let res = http.get(server.url(start)).send().await.unwrap();
    let authorize = location(&res);
    assert_eq!(authorize.path(), "/authorize", "{authorize}");
    let q = query_of(&authorize);
    assert_eq!(q["client_id"], oidc_core::ADMIN_CONSOLE_ID);
    assert_eq!(q["redirect_uri"], server.url("/admin/callback"));
    assert_eq!(q["scope"], "openid admin");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["max_age"], "900");
    assert!(q["state"].len() >= 43 && q["nonce"].len() >= 43);
    let login = set_cookies(&res)
        .into_iter()
        .find(|c| c.starts_with("iam_admin_login="))
        .expect("the sign-in keeps its state in a cookie");
    assert!(login.contains("Path=/admin"), "{login}");
    assert!(login.contains("HttpOnly"), "{login}");
    assert!(login.contains("SameSite=Lax"), "{login}");
    assert!(login.contains("Max-Age="), "short-lived: {login}");

    let page = open_signin(http, http.get(authorize).send().await.unwrap()).await;
    let res = submit_password(http, &page, username, PASSWORD).await;
    let next = location(&res);
    let form = body(http.get(next.clone()).send().await.unwrap()).await;
    assert!(form.contains("Enter your RSA SecurID passcode."), "{form}");
    let res = http
        .post(next)
        .form(&[
            ("csrf", csrf_of(&form).as_str()),
            ("passcode", &passcode(server)),
        ])
        .send()
        .await
        .unwrap();
    let callback = location(&res);
    assert_eq!(callback.path(), "/admin/callback", "{callback}");
    http.get(callback).send().await.unwrap()
}

/// Signs `username` in from `start` and returns the page the callback sends them to.
async fn admin_sign_in(
    server: &TestServer,
    http: &reqwest::Client,
    start: &str,
    username: &str,
) -> String {
    let res = sign_in_to_callback(server, http, start, username).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "callback");
    let cookies = set_cookies(&res);
    let admin = cookies
        .iter()
        .find(|c| c.starts_with("iam_admin="))
        .expect("the admin cookie is set");
    for attr in ["Path=/admin", "HttpOnly", "SameSite=Strict"] {
        assert!(admin.contains(attr), "{attr} in {admin}");
    }
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("iam_admin_login=;") && c.contains("Max-Age=0")),
        "the login cookie is done with: {cookies:?}"
    );
    let target = location(&res);
    assert_eq!(
        target.as_str().trim_start_matches(&server.issuer),
        start,
        "back to the page wanted"
    );
    let res = http.get(target).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = body(res).await;
    assert_clean_page(&page);
    page
}

async fn get_page(server: &TestServer, http: &reqwest::Client, path: &str) -> (StatusCode, String) {
    let res = http.get(server.url(path)).send().await.unwrap();
    let status = res.status();
    (status, body(res).await)
}

async fn post_form(
    server: &TestServer,
    http: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> (StatusCode, String) {
    let res = http.post(server.url(path)).form(form).send().await.unwrap();
    let status = res.status();
    let page = body(res).await;
    assert_clean_page(&page);
    (status, page)
}

/// The mailed caller-verification code in the last message to `to`.
fn mailed_code(server: &TestServer, to: &str) -> String {
    let mail = server.mail.sent();
    let last = mail
        .iter()
        .rev()
        .find(|m| m.to == to)
        .expect("a code was mailed");
    last.body
        .split("this code: ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect()
}

/// The value shown once on a result page.
fn shown_once(page: &str) -> String {
    let start = page
        .find("shown-once-value")
        .unwrap_or_else(|| panic!("nothing shown:\n{page}"));
    let rest = &page[start..];
    let open = rest.find("<code>").unwrap() + "<code>".len();
    let close = rest.find("</code>").unwrap();
    rest[open..close].to_string()
}

async fn audit_events(server: &TestServer, event: &str) -> Vec<oidc_core::AuditEvent> {
    server
        .provider
        .audit_events(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event == event)
        .collect()
}

#[tokio::test]
async fn admin_pages_sign_in_through_the_provider_show_the_dashboard_and_sign_out() {
    let server = TestServer::start().await;
    staff(&server, "root1", &[ROLE_IAM_ADMIN]).await;
    let http = browser();
    let page = admin_sign_in(&server, &http, "/admin", "root1").await;
    assert!(page.contains("Signed in as"), "{page}");
    assert!(page.contains("root1"), "{page}");
    assert!(page.contains("IAM administrator"), "{page}");
    for link in ["/admin/users", "/admin/registrations", "/admin/audit"] {
        assert!(
            page.contains(&format!("href=\"{link}\"")),
            "{link}:\n{page}"
        );
    }
    assert!(page.contains("/assets/iam.css"));

    // Every admin page is not cached; the audit page lists events and checks the chain.
    server
        .provider
        .record_audit(
            &Actor::BreakGlass,
            "e2e.marker",
            Some(USERNAME),
            serde_json::json!({ "n": 1 }),
        )
        .await
        .unwrap();
    let res = http.get(server.url("/admin/audit")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"].to_str().unwrap(), "no-store");
    assert!(
        res.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    let audit = body(res).await;
    assert_clean_page(&audit);
    assert!(audit.contains("The chain is intact"), "{audit}");
    assert!(audit.contains("e2e.marker"), "{audit}");
    assert!(audit.contains("break-glass"), "{audit}");

    // Sign out: a form with the token, then the provider's end-session endpoint.
    let csrf = csrf_of(&page);
    let res = http
        .post(server.url("/admin/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res).path(), "/logout");
    assert!(
        set_cookies(&res)
            .iter()
            .any(|c| c.starts_with("iam_admin=;") && c.contains("Max-Age=0")),
        "the admin cookie is cleared"
    );
    let res = http.get(server.url("/logout")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let confirm = body(res).await;
    assert!(confirm.contains("Sign out of"), "{confirm}");
    // Without the admin cookie, the next page starts a new sign-in.
    let res = http.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(location(&res).path(), "/authorize");

    // A link from another site arrives without the SameSite=Strict cookie: one click on our own
    // page instead of a redirect chain that could loop.
    let res = browser()
        .get(server.url("/admin/users?q=x"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let page = body(res).await;
    assert!(page.contains("href=\"/admin/users?q=x\""), "{page}");
}

#[tokio::test]
async fn a_service_desk_agent_verifies_a_caller_by_mailed_code_and_issues_a_temporary_password() {
    let server = TestServer::start().await;
    staff(&server, "desk1", &[ROLE_SERVICE_DESK]).await;
    give_token(&server, USERNAME).await;
    let http = browser();

    // The sign-in returns to the page asked for.
    let page = admin_sign_in(&server, &http, "/admin/users?q=akitt", "desk1").await;
    assert!(page.contains("One account matches."), "{page}");
    assert!(
        page.contains(&format!("href=\"/admin/users/{USERNAME}\"")),
        "{page}"
    );
    assert!(page.contains(r#"<label for="q">"#));
    // The desk does not see the Access Administrators' and IAM administrators' pages.
    assert!(!page.contains("href=\"/admin/registrations\""));
    assert!(!page.contains("href=\"/admin/audit\""));
    let (status, _) = get_page(&server, &http, "/admin/audit").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = get_page(&server, &http, "/admin/registrations").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let user_path = format!("/admin/users/{USERNAME}");
    let (status, page) = get_page(&server, &http, &user_path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(EMAIL), "{page}");
    assert!(page.contains("Not verified"), "{page}");
    assert!(
        !page.contains("/roles\""),
        "roles are for IAM administrators"
    );
    let csrf = csrf_of(&page);

    // No change before the caller is verified: a clear message, not a 5xx.
    let action = |a: &str| format!("{user_path}/{a}");
    let (status, refused) = post_form(
        &server,
        &http,
        &action("temporary-password"),
        &[("csrf", &csrf)],
    )
    .await;
    assert!(
        status == StatusCode::BAD_REQUEST || status == StatusCode::FORBIDDEN,
        "{status}"
    );
    assert!(refused.contains(r#"class="error""#), "{refused}");
    assert!(
        refused.to_lowercase().contains("verify the caller"),
        "{refused}"
    );
    assert!(
        audit_events(&server, "password.temporary_issued")
            .await
            .is_empty()
    );

    // A first-time caller: a one-time code to the registered email, read back to the agent.
    let (status, sent) = post_form(&server, &http, &action("send-code"), &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(sent.contains("A one-time code was sent"), "{sent}");
    let code = mailed_code(&server, EMAIL);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, page) = post_form(
        &server,
        &http,
        &action("verify-code"),
        &[("csrf", &csrf), ("code", wrong)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("No match"), "{page}");
    let (status, page) = post_form(
        &server,
        &http,
        &action("verify-code"),
        &[("csrf", &csrf), ("code", &code)],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Match: the caller is verified"), "{page}");
    assert!(page.contains("Verified by you"), "{page}");

    let (status, page) = post_form(
        &server,
        &http,
        &action("temporary-password"),
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Read it to the caller"), "{page}");
    assert!(page.contains("shown only once"), "{page}");
    assert!(page.contains("It expires"), "{page}");
    let temporary = shown_once(&page);
    assert_eq!(temporary.len(), 19, "four groups of four: {temporary}");

    let issued = audit_events(&server, "password.temporary_issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(issued[0].actor, "user:desk1");
    assert_eq!(issued[0].subject.as_deref(), Some(USERNAME));
    let verified = audit_events(&server, "caller.verified").await;
    assert_eq!(verified[0].actor, "user:desk1");

    // The shown password works at the provider, for setting a new password only.
    let client = server
        .provider
        .register_client(NewClient::new("MFA app", [REDIRECT_URI]).first_party(true))
        .await
        .unwrap();
    let mut params = server.authorize_params();
    for p in params.iter_mut().filter(|(k, _)| k == "client_id") {
        p.1 = client.client.client_id.clone();
    }
    server.align_clock(30, 2);
    let person = browser();
    let page = open_signin(
        &person,
        person
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = submit_password(&person, &page, USERNAME, &temporary).await;
    let next = location(&res);
    let form = body(person.get(next.clone()).send().await.unwrap()).await;
    let res = person
        .post(next.clone())
        .form(&[
            ("csrf", csrf_of(&form).as_str()),
            ("passcode", &passcode(&server)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = body(person.get(location(&res)).send().await.unwrap()).await;
    assert!(page.contains("Create a new password"), "{page}");
}

#[tokio::test]
async fn an_access_administrator_approves_a_registration_through_the_pages() {
    let server = TestServer::start().await;
    staff(&server, "accessone", &[ROLE_ACCESS_ADMIN]).await;
    staff(&server, "accesstwo", &[ROLE_ACCESS_ADMIN]).await;

    // One Access Administrator enters the URF.
    let one = browser();
    let page = admin_sign_in(&server, &one, "/admin/registrations", "accessone").await;
    assert!(page.contains("No registration is waiting."), "{page}");
    let csrf_one = csrf_of(&page);
    let (status, page) = post_form(
        &server,
        &one,
        "/admin/registrations",
        &[
            ("csrf", &csrf_one),
            ("legal_name", "Pat Example"),
            ("email", "pat@example.org"),
            ("clinic", "Northside Clinic"),
            ("practitioner_id", "PR-1234"),
            ("role_requested", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("was entered"), "{page}");
    assert!(page.contains("You entered this registration"), "{page}");
    let approve = page
        .split("action=\"")
        .filter_map(|s| s.split('"').next())
        .find(|a| a.ends_with("/approve"))
        .map(str::to_string);
    assert!(approve.is_none(), "no approve form for one's own URF");
    let list = server
        .provider
        .list_registrations(Some("pending"))
        .await
        .unwrap();
    assert_eq!(list.len(), 1);
    let id = list[0].id.clone();
    assert_eq!(list[0].submitted_by, "user:accessone");

    // Bad input is a 400 page with the reason, next to the form.
    let (status, page) = post_form(
        &server,
        &one,
        "/admin/registrations",
        &[("csrf", &csrf_one), ("legal_name", "No Email")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(page.contains(r#"id="msg-submit" class="error""#), "{page}");
    assert!(page.contains(r#"aria-describedby="msg-submit""#), "{page}");
    // Approving one's own is refused by the library, shown as such.
    let (status, page) = post_form(
        &server,
        &one,
        &format!("/admin/registrations/{id}/approve"),
        &[
            ("csrf", &csrf_one),
            ("username", "patex"),
            ("token", "soft"),
        ],
    )
    .await;
    assert!(status.is_client_error(), "{status}");
    assert!(page.contains("submitted"), "{page}");

    // Another approves it with a soft token.
    let two = browser();
    let page = admin_sign_in(&server, &two, "/admin/registrations", "accesstwo").await;
    assert!(page.contains("Pat Example"), "{page}");
    let action = format!("/admin/registrations/{id}/approve");
    assert!(page.contains(&format!("action=\"{action}\"")), "{page}");
    let csrf_two = csrf_of(&page);
    let (status, page) = post_form(
        &server,
        &two,
        &action,
        &[
            ("csrf", &csrf_two),
            ("username", "patex"),
            ("token", "soft"),
            ("serial", ""),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("by phone, never by email"), "{page}");
    let activation = shown_once(&page);
    assert!(activation.len() >= 6, "{activation}");

    let mail = server.mail.sent();
    let welcome = mail
        .iter()
        .find(|m| m.to == "pat@example.org")
        .expect("the Welcome email");
    assert!(welcome.subject.contains("welcome"), "{}", welcome.subject);
    assert!(welcome.body.contains("patex"), "{}", welcome.body);
    assert!(
        mail.iter().all(|m| !m.body.contains(&activation)),
        "the activation code is never mailed"
    );
    let approved = audit_events(&server, "urf.approved").await;
    assert_eq!(approved[0].actor, "user:accesstwo");

    // Approving it again: the library's conflict, with its status.
    let (status, page) = post_form(
        &server,
        &two,
        &action,
        &[
            ("csrf", &csrf_two),
            ("username", "patex2"),
            ("token", "soft"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{page}");
    assert!(page.contains("not pending"), "{page}");
    // An unknown account is a 404 page.
    let (status, _) = get_page(&server, &two, "/admin/users/nobody-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_person_without_an_iam_role_gets_the_403_page() {
    let server = TestServer::start().await;
    give_token(&server, USERNAME).await;
    let http = browser();
    let res = sign_in_to_callback(&server, &http, "/admin", USERNAME).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        !set_cookies(&res)
            .iter()
            .any(|c| c.starts_with("iam_admin=")),
        "no admin cookie for someone who cannot use it"
    );
    let page = body(res).await;
    assert_clean_page(&page);
    assert!(page.contains("no IAM administration role"), "{page}");
}

#[tokio::test]
async fn a_forged_form_is_refused_and_changes_nothing() {
    let server = TestServer::start().await;
    staff(&server, "desk2", &[ROLE_SERVICE_DESK]).await;
    staff(&server, "desk3", &[ROLE_SERVICE_DESK]).await;
    let http = browser();
    let page = admin_sign_in(&server, &http, &format!("/admin/users/{USERNAME}"), "desk2").await;
    let csrf = csrf_of(&page);
    // Verify the caller through the library, so that only the form token stands in the way.
    let desk = Actor::User("desk2".into());
    server
        .provider
        .send_caller_code(&desk, USERNAME)
        .await
        .unwrap();
    let code = mailed_code(&server, EMAIL);
    assert!(
        server
            .provider
            .verify_caller_code(&desk, USERNAME, &code)
            .await
            .unwrap()
    );

    let path = format!("/admin/users/{USERNAME}/temporary-password");
    let other = browser();
    let other_page = admin_sign_in(&server, &other, "/admin", "desk3").await;
    let other_csrf = csrf_of(&other_page);
    for form in [
        vec![("csrf", "forged")],
        vec![],
        vec![("csrf", other_csrf.as_str())],
    ] {
        let (status, page) = post_form(&server, &http, &path, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{form:?}");
        assert!(page.contains("Nothing was changed"), "{page}");
    }
    // The right token from a browser without the admin sign-in: no session, no change.
    let (status, page) = post_form(&server, &browser(), &path, &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(page.contains("Nothing was changed"), "{page}");
    assert!(
        audit_events(&server, "password.temporary_issued")
            .await
            .is_empty()
    );

    // The genuine form works.
    let (status, page) = post_form(&server, &http, &path, &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        audit_events(&server, "password.temporary_issued")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn after_the_recent_sign_in_limit_the_next_page_asks_to_sign_in_again() {
    let server = TestServer::start().await;
    staff(&server, "root3", &[ROLE_IAM_ADMIN]).await;
    let http = browser();
    let page = admin_sign_in(&server, &http, "/admin", "root3").await;
    let csrf = csrf_of(&page);

    // 16 minutes later (the limit is 15).
    server.advance_clock(16 * 60);
    let path = format!("/admin/users/{USERNAME}/disable");
    let (status, page) = post_form(&server, &http, &path, &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
    assert!(page.contains("Please sign in again"), "{page}");
    assert!(
        !server
            .provider
            .list_users()
            .await
            .unwrap()
            .iter()
            .any(|u| u.username == USERNAME && u.disabled),
        "nothing changed"
    );

    // A page sends the person through the provider's sign-in again (max_age forces it) and back.
    let page = admin_sign_in(&server, &http, "/admin/audit", "root3").await;
    assert!(page.contains("had expired"), "the notice:\n{page}");
    let (status, page) = get_page(&server, &http, "/admin/audit").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!page.contains("had expired"), "shown once:\n{page}");
}

#[tokio::test]
async fn a_state_mismatch_at_the_callback_is_a_friendly_400_and_sets_no_cookie() {
    let server = TestServer::start().await;
    staff(&server, "root4", &[ROLE_IAM_ADMIN]).await;
    let http = browser();
    let res = http.get(server.url("/admin")).send().await.unwrap();
    let authorize = location(&res);

    let forged = format!(
        "/admin/callback?code=abc&state=not-the-state&iss={}",
        server.issuer
    );
    let res = http.get(server.url(&forged)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(SET_COOKIE).is_none(), "no cookie at all");
    assert!(res.headers().get(LOCATION).is_none());
    let page = body(res).await;
    assert_clean_page(&page);
    assert!(page.contains("does not belong to the sign-in"), "{page}");

    // A browser that started nothing.
    let res = browser().get(server.url(&forged)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(res.headers().get(SET_COOKIE).is_none());

    // An error answer with the right state is a page too.
    let state = query_of(&authorize)["state"].clone();
    let mut denied = Url::parse(&server.url("/admin/callback")).unwrap();
    denied
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("state", &state)
        .append_pair("iss", &server.issuer);
    let res = http.get(denied).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        !set_cookies(&res)
            .iter()
            .any(|c| c.starts_with("iam_admin=")),
        "no admin cookie"
    );
    let page = body(res).await;
    assert!(page.contains("refused or cancelled"), "{page}");

    // The person's real sign-in still works.
    admin_sign_in(&server, &http, "/admin", "root4").await;
}

#[tokio::test]
async fn an_iam_admin_reports_a_lost_token_unlocks_disables_and_sets_roles_through_the_pages() {
    let server = TestServer::start().await;
    staff(&server, "root5", &[ROLE_IAM_ADMIN]).await;
    give_token(&server, USERNAME).await;
    let http = browser();
    let user_path = format!("/admin/users/{USERNAME}");
    let page = admin_sign_in(&server, &http, &user_path, "root5").await;
    assert!(page.contains(r#"<label for="roles">"#), "{page}");
    let csrf = csrf_of(&page);
    let action = |a: &str| format!("{user_path}/{a}");

    let (status, _) = post_form(&server, &http, &action("send-code"), &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::OK);
    let code = mailed_code(&server, EMAIL);
    let (_, page) = post_form(
        &server,
        &http,
        &action("verify-code"),
        &[("csrf", &csrf), ("code", &code)],
    )
    .await;
    assert!(page.contains("Match"), "{page}");

    // Bad input: a 400 with the message next to its field, which points at it.
    let (status, page) = post_form(
        &server,
        &http,
        &action("lost-token"),
        &[("csrf", &csrf), ("hours", "soon")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{page}");
    assert!(
        page.contains(r#"id="msg-lost-token" class="error""#),
        "{page}"
    );
    assert!(page.contains("hours-hint msg-lost-token"), "{page}");
    assert!(audit_events(&server, "token.lost").await.is_empty());

    let (status, page) = post_form(
        &server,
        &http,
        &action("lost-token"),
        &[("csrf", &csrf), ("hours", "2")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("Emergency passcode"), "{page}");
    assert!(
        page.contains("It works instead of the token until"),
        "{page}"
    );
    assert_eq!(shown_once(&page).len(), 8);
    assert_eq!(
        audit_events(&server, "token.lost").await[0].actor,
        "user:root5"
    );

    let (status, page) = post_form(&server, &http, &action("unlock"), &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("The account is unlocked."), "{page}");

    let (status, page) = post_form(&server, &http, &action("disable"), &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("<strong>Disabled</strong>"), "{page}");
    assert!(
        page.contains(&format!("action=\"{}\"", action("enable"))),
        "{page}"
    );
    let users = server.provider.list_users().await.unwrap();
    assert!(users.iter().any(|u| u.username == USERNAME && u.disabled));
    let (status, _) = post_form(&server, &http, &action("enable"), &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::OK);

    let (status, page) = post_form(
        &server,
        &http,
        &action("roles"),
        &[
            ("csrf", &csrf),
            ("roles", "cpar_panel_admin iam_service_desk"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("The roles are now"), "{page}");
    let users = server.provider.list_users().await.unwrap();
    let user = users.iter().find(|u| u.username == USERNAME).unwrap();
    assert!(!user.disabled);
    assert_eq!(user.roles, ["cpar_panel_admin", "iam_service_desk"]);
    let events = server.provider.audit_events(None, 1000).await.unwrap();
    for event in [
        "account.unlocked",
        "account.disabled",
        "account.enabled",
        "account.roles_set",
    ] {
        let e = events.iter().find(|e| e.event == event).expect(event);
        assert_eq!(e.actor, "user:root5", "{event}");
    }
}
