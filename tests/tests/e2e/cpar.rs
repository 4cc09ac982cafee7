//! CPAR end to end: AHS IAM (the test server) and CPAR (the `cpar-rp` app) on their own loopback
//! ports, driven by a cookie-keeping browser that follows no redirect by itself, so that every
//! hop is checked: deep links through the sign-in (password and passcode), the access rule,
//! RP-initiated logout, the idle and absolute session limits, and every bad callback.

use std::time::Duration;

use crate::common::*;
use crate::support::cpar::*;
use oidc_core::ProviderConfig;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use url::Url;

/// A 15-minute idle limit (the default) plus a minute.
const PAST_IDLE: i64 = 16 * 60;

/// IAM's own issuer, for the tests where CPAR talks to it directly.
fn direct(server: &TestServer) -> CparOptions {
    CparOptions::new(&server.issuer)
}

/// IAM whose issuer is a proxy's URL, and that proxy (forwarding to it).
async fn iam_behind_proxy() -> (TestServer, Proxy) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let issuer = url.clone();
    let server = TestServer::start_with(move |_| ProviderConfig::builder(issuer), Vec::new()).await;
    let proxy = Proxy::start(listener, &server.issuer);
    assert_eq!(proxy.url, url);
    (server, proxy)
}

/// The body of a CPAR page, after checking its status.
async fn page(res: reqwest::Response, status: StatusCode) -> String {
    let got = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; page:\n{body}");
    body
}

/// Checks a CPAR answer to a bad callback: a page (never a 5xx, never a redirect) that says
/// `message`, and no session cookie.
async fn assert_failed_callback(res: reqwest::Response, status: StatusCode, message: &str) {
    assert!(
        set_cookie(&res, "cpar_session").is_none(),
        "a failed callback must not create a session"
    );
    assert!(res.headers().get(LOCATION).is_none());
    let body = page(res, status).await;
    assert!(
        body.contains(message),
        "the page does not say {message:?}:\n{body}"
    );
    assert!(body.contains("No session was created."), "{body}");
}

/// The callback URL with `name` set to `value` (or removed when `None`).
fn with_param(url: &Url, name: &str, value: Option<&str>) -> Url {
    let mut out = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    {
        let mut q = out.query_pairs_mut();
        q.clear();
        q.extend_pairs(pairs);
        if let Some(v) = value {
            q.append_pair(name, v);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Sign-in and the application

#[tokio::test]
async fn deep_link_signs_in_with_password_and_passcode_and_lands_on_the_panel() {
    let server = TestServer::start().await;
    give_token(&server, "CPAR-0001", USERNAME).await;
    server.align_clock(30, 2);
    let cpar = Cpar::start(
        &server,
        CparOptions {
            mfa: true,
            ..direct(&server)
        },
    )
    .await;
    let http = browser();
    let deep_link = cpar.first_panel();

    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, &deep_link).await;
    assert!(
        !query_of(&authorize).contains_key("prompt"),
        "a first sign-in does not force prompt=login"
    );
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, true).await;
    assert_callback(&callback, &cpar, &server.issuer);
    let cookie = complete_callback(&http, &callback, &deep_link).await;
    assert!(
        cookie.starts_with("cpar_session=")
            && cookie.contains("; HttpOnly")
            && cookie.contains("; SameSite=Lax")
            && cookie.contains("; Path=/")
            && !cookie.contains("Secure"),
        "session cookie attributes: {cookie}"
    );

    let res = get(&http, cpar.url(&deep_link)).await;
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body = page(res, StatusCode::OK).await;
    for needle in [
        "Demo Panel A (fictitious)",
        "Aspen Grove Family Clinic (fictitious)",
        "Sample, Avery",
        "Example, Jordan",
        "00000-0001",
        "Signed in as <strong>Nancy Akitt</strong>",
        // The Support Information of the quick reference.
        "Support Information",
        "1-844-542-7876",
        "1-877-311-4300",
        "(24/7), option 4, then option 1",
        "1-855-643-8649",
    ] {
        assert!(
            body.contains(needle),
            "the panel page lacks {needle:?}:\n{body}"
        );
    }
    logout_csrf(&body);
    assert!(
        !body.contains("<script") && !body.contains("style="),
        "no inline script or style"
    );

    let home = page(get(&http, cpar.url("/")).await, StatusCode::OK).await;
    for needle in [
        "Welcome, Nancy Akitt",
        "CPAR Panel Administrator",
        "nakitt",
        "Demo Panel A (fictitious)",
        "Demo Panel B (fictitious)",
        "Demo Panel C (fictitious)",
        &format!("href=\"{deep_link}\""),
    ] {
        assert!(
            home.contains(needle),
            "the home page lacks {needle:?}:\n{home}"
        );
    }
    logout_csrf(&home);
    let panels = page(get(&http, cpar.url("/panels")).await, StatusCode::OK).await;
    assert!(
        panels.contains("Demo Panel C (fictitious)"),
        "/panels lists them too"
    );

    let css = get(&http, cpar.url("/assets/cpar.css")).await;
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn another_administrators_panel_is_not_found() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    add_user(
        &server,
        "other.admin",
        "Olive Other",
        &[cpar_rp::PANEL_ADMIN_ROLE],
    )
    .await;
    let theirs = cpar.app.seed_demo_data("other.admin").await.unwrap();
    assert_eq!(
        cpar.app.seed_demo_data("other.admin").await.unwrap(),
        theirs,
        "seeding twice keeps the data"
    );
    assert!(theirs.iter().all(|id| !cpar.panels.contains(id)));

    let http = browser();
    sign_in_to_cpar(&http, &server, &cpar, &server.issuer, "/", USERNAME, false).await;
    for path in [
        format!("/panels/{}", theirs[0]),
        "/panels/PNL-none".to_string(),
        "/panels/%3Cscript%3E".to_string(),
        "/no/such/page".to_string(),
    ] {
        let body = page(get(&http, cpar.url(&path)).await, StatusCode::NOT_FOUND).await;
        assert!(body.contains("Page not found"), "{path}: {body}");
        assert!(!body.contains("Sample, Avery"), "{path} shows patients");
    }
}

#[tokio::test]
async fn an_access_administrator_is_denied_on_every_route() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    add_user(&server, "aa.only", "Alex Access", &["iam_access_admin"]).await;
    let http = browser();
    let deep_link = cpar.first_panel();
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, &deep_link).await;
    let callback = sign_in_at_iam(&http, &server, &authorize, "aa.only", false).await;
    complete_callback(&http, &callback, &deep_link).await;

    for path in [
        deep_link.as_str(),
        "/",
        &format!("/panels/{}", cpar.panels[1]),
        "/panels/PNL-none",
        "/no/such/page",
        "/?x=1",
    ] {
        let body = page(get(&http, cpar.url(path)).await, StatusCode::FORBIDDEN).await;
        assert!(
            body.contains(DENIED),
            "{path} lacks the access rule:\n{body}"
        );
        assert!(
            body.contains("contact your local CPAR Access Administrator")
                && body.contains("1-855-643-8649"),
            "{path}: who to contact:\n{body}"
        );
        assert!(body.contains("Alex Access"), "{path}: the user's name");
        logout_csrf(&body);
        for data in [
            "Demo Panel",
            "Sample, Avery",
            "00000-0001",
            "Patients attached",
        ] {
            assert!(!body.contains(data), "{path} leaks {data:?}");
        }
    }
    // Signing in again changes nothing.
    let res = get(&http, cpar.url("/login?return_to=/")).await;
    assert_eq!(location(&res).path(), "/");
    let body = page(get(&http, cpar.url("/")).await, StatusCode::FORBIDDEN).await;
    assert!(body.contains(DENIED));
}

#[tokio::test]
async fn a_user_without_a_cpar_role_is_denied() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    add_user(&server, "no.role", "Nora Norole", &[]).await;
    add_user(&server, "desk.only", "Dana Desk", &["iam_service_desk"]).await;
    for user in ["no.role", "desk.only"] {
        let http = browser();
        let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
        let callback = sign_in_at_iam(&http, &server, &authorize, user, false).await;
        complete_callback(&http, &callback, "/").await;
        for path in ["/", &cpar.first_panel()] {
            let body = page(get(&http, cpar.url(path)).await, StatusCode::FORBIDDEN).await;
            assert!(body.contains(DENIED), "{user} {path}:\n{body}");
            assert!(!body.contains("Sample, Avery"));
        }
    }
}

#[tokio::test]
async fn return_to_never_leaves_cpar() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    // Before sign-in: the unsafe target is dropped, the sign-in lands on /.
    let res = get(&http, cpar.url("/login?return_to=//evil.example/x")).await;
    let authorize = location(&res);
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    complete_callback(&http, &callback, "/").await;
    // Signed in: /login goes straight to a safe target, and to / for any other.
    for (target, expected) in [
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("https://evil.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/%2F%2Fevil.example", "/%2F%2Fevil.example"),
        (cpar.first_panel().as_str(), cpar.first_panel().as_str()),
    ] {
        let mut url = Url::parse(&cpar.url("/login")).unwrap();
        url.query_pairs_mut().append_pair("return_to", target);
        let res = get(&http, url).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()[LOCATION], expected, "return_to={target}");
    }
}

// ---------------------------------------------------------------------------------------------
// Logout

/// Signs the seeded user in to CPAR (password only) and returns the Log out form token.
async fn signed_in(http: &reqwest::Client, server: &TestServer, cpar: &Cpar) -> String {
    let body = sign_in_to_cpar(http, server, cpar, &server.issuer, "/", USERNAME, false).await;
    logout_csrf(&body)
}

/// Posts Log out and checks the redirect to IAM's end-session endpoint; returns its URL.
async fn log_out(http: &reqwest::Client, server: &TestServer, cpar: &Cpar, csrf: &str) -> Url {
    let res = post_logout(http, cpar, csrf).await;
    let cleared = set_cookie(&res, "cpar_session").expect("the session cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    let to = location(&res);
    assert!(
        to.as_str()
            .starts_with(&format!("{}/logout?", server.issuer)),
        "Log out should go to IAM's end_session_endpoint, got {to}"
    );
    let q = query_of(&to);
    assert_eq!(q["post_logout_redirect_uri"], cpar.url("/signed-out"));
    assert_eq!(q["client_id"], cpar.client_id);
    assert!(q["state"].len() >= 43);
    assert_eq!(jwt_part(&q["id_token_hint"], 1)["aud"], cpar.client_id);
    to
}

/// Follows IAM's end-session answer back to CPAR's signed-out page and checks it.
async fn back_from_iam(http: &reqwest::Client, cpar: &Cpar, end_session: &Url) {
    let res = get(http, end_session.clone()).await;
    let back = location(&res);
    assert!(
        back.as_str().starts_with(&cpar.url("/signed-out?")),
        "IAM should send the browser back to CPAR, got {back}"
    );
    assert_eq!(
        query_of(&back).get("state"),
        query_of(end_session).get("state"),
        "state comes back"
    );
    let body = page(get(http, back).await, StatusCode::OK).await;
    assert!(body.contains(SIGNED_OUT), "{body}");
    assert!(!body.contains(">Log out</button>"));
}

/// Checks that IAM has no session for this browser: `prompt=none` answers `login_required`
/// (to CPAR, which shows a page, never a session).
async fn assert_iam_signed_out(http: &reqwest::Client, server: &TestServer, cpar: &Cpar) {
    let authorize = expect_sign_in_redirect(http, cpar, &server.issuer, "/").await;
    let mut silent = authorize.clone();
    silent.query_pairs_mut().append_pair("prompt", "none");
    let res = get(http, silent).await;
    let back = location(&res);
    assert!(back.as_str().starts_with(&cpar.url("/callback?")), "{back}");
    assert_eq!(
        query_of(&back).get("error").map(String::as_str),
        Some("login_required"),
        "IAM still has a session: {back}"
    );
    assert_failed_callback(
        get(http, back).await,
        StatusCode::BAD_REQUEST,
        "AHS IAM needs you to sign in",
    )
    .await;
}

#[tokio::test]
async fn logout_ends_both_sessions() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let csrf = signed_in(&http, &server, &cpar).await;
    let end_session = log_out(&http, &server, &cpar, &csrf).await;
    back_from_iam(&http, &cpar, &end_session).await;

    // CPAR asks for a sign-in again (the cookie is gone: no prompt=login needed) …
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    assert!(!query_of(&authorize).contains_key("prompt"));
    // … and IAM has no session either.
    assert_iam_signed_out(&http, &server, &cpar).await;
    // Log out again without a session: a plain page.
    let body = page(post_logout(&http, &cpar, &csrf).await, StatusCode::OK).await;
    assert!(body.contains("You are not signed in to CPAR"), "{body}");
}

#[tokio::test]
async fn an_old_session_cookie_does_not_work_after_logout() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    let cookie = complete_callback(&http, &callback, "/").await;
    let value = cookie.split(';').next().unwrap().to_string();
    let body = page(get(&http, cpar.url("/")).await, StatusCode::OK).await;
    let end_session = log_out(&http, &server, &cpar, &logout_csrf(&body)).await;
    back_from_iam(&http, &cpar, &end_session).await;

    // Someone who copied the cookie: no session, and a forced sign-in.
    let other = browser();
    let res = other
        .get(cpar.url("/"))
        .header("cookie", &value)
        .send()
        .await
        .unwrap();
    let to = location(&res);
    assert!(
        to.as_str()
            .starts_with(&format!("{}/authorize?", server.issuer))
    );
    assert_eq!(
        query_of(&to).get("prompt").map(String::as_str),
        Some("login")
    );
}

#[tokio::test]
async fn logout_with_an_expired_id_token_hint_works() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let csrf = signed_in(&http, &server, &cpar).await;
    // IAM's ID tokens live 10 minutes; its session 30 minutes idle. CPAR's clock stays.
    server.advance_clock(11 * 60);
    let end_session = log_out(&http, &server, &cpar, &csrf).await;
    let exp = jwt_part(&query_of(&end_session)["id_token_hint"], 1)["exp"]
        .as_i64()
        .unwrap();
    assert!(exp < server.now().timestamp(), "the hint has expired");
    back_from_iam(&http, &cpar, &end_session).await;
    assert_iam_signed_out(&http, &server, &cpar).await;
}

#[tokio::test]
async fn logout_after_the_idle_timeout_still_ends_the_iam_session() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    // The page stays open on an unattended workstation; its Log out button still works.
    let csrf = signed_in(&http, &server, &cpar).await;
    cpar.advance_clock(PAST_IDLE);
    server.advance_clock(PAST_IDLE);
    let end_session = log_out(&http, &server, &cpar, &csrf).await;
    back_from_iam(&http, &cpar, &end_session).await;
    assert_iam_signed_out(&http, &server, &cpar).await;
}

#[tokio::test]
async fn without_an_end_session_endpoint_logout_is_local() {
    let (server, proxy) = iam_behind_proxy().await;
    proxy.hide_end_session();
    let cpar = Cpar::start(&server, CparOptions::new(&proxy.url)).await;
    let http = browser();
    let body = sign_in_to_cpar(&http, &server, &cpar, &proxy.url, "/", USERNAME, false).await;
    let res = post_logout(&http, &cpar, &logout_csrf(&body)).await;
    assert!(set_cookie(&res, "cpar_session").is_some());
    let back = location(&res);
    assert!(
        back.as_str().starts_with(&cpar.url("/signed-out?state=")),
        "straight to CPAR's signed-out page: {back}"
    );
    let body = page(get(&http, back).await, StatusCode::OK).await;
    assert!(body.contains(SIGNED_OUT));
    assert_no_session(&http, &cpar, &proxy.url).await;
}

#[tokio::test]
async fn a_tampered_hint_or_an_unregistered_post_logout_uri_is_not_followed() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let csrf = signed_in(&http, &server, &cpar).await;
    let end_session = log_out(&http, &server, &cpar, &csrf).await;
    let hint = query_of(&end_session)["id_token_hint"].clone();

    let tampered = with_param(&end_session, "id_token_hint", Some(&tamper_jwt(&hint)));
    let evil = "http://127.0.0.1:1/evil";
    let unregistered = with_param(&end_session, "post_logout_redirect_uri", Some(evil));
    for (what, url, target) in [
        ("tampered hint", tampered, cpar.url("/signed-out")),
        ("unregistered URI", unregistered, evil.to_string()),
    ] {
        let res = get(&http, url).await;
        assert!(!res.status().is_server_error(), "{what}: {}", res.status());
        if let Some(l) = res.headers().get(LOCATION) {
            let l = l.to_str().unwrap();
            assert!(
                !l.starts_with(&target) && !l.starts_with("http://127.0.0.1:1"),
                "{what}: IAM followed the redirect to {l}"
            );
        }
    }
}

#[tokio::test]
async fn logout_needs_the_form_token_and_cpars_origin() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let csrf = signed_in(&http, &server, &cpar).await;

    let wrong = post_logout(&http, &cpar, "not-the-token").await;
    assert!(set_cookie(&wrong, "cpar_session").is_none());
    page(wrong, StatusCode::FORBIDDEN).await;
    let missing = http
        .post(cpar.url("/logout"))
        .header("origin", &cpar.base)
        .form(&[("other", "x")])
        .send()
        .await
        .unwrap();
    page(missing, StatusCode::FORBIDDEN).await;
    let cross_site = http
        .post(cpar.url("/logout"))
        .header("origin", "http://evil.example")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    page(cross_site, StatusCode::FORBIDDEN).await;
    let get_logout = get(&http, cpar.url("/logout")).await;
    assert_eq!(get_logout.status(), StatusCode::METHOD_NOT_ALLOWED);

    // Still signed in.
    page(get(&http, cpar.url("/")).await, StatusCode::OK).await;
    log_out(&http, &server, &cpar, &csrf).await;
}

#[tokio::test]
async fn the_signed_out_page_confirms_only_this_browsers_state() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let csrf = signed_in(&http, &server, &cpar).await;
    let end_session = log_out(&http, &server, &cpar, &csrf).await;
    let back = location(&get(&http, end_session).await);
    assert!(
        back.as_str().starts_with(&cpar.url("/signed-out?")),
        "{back}"
    );

    for url in [
        cpar.url("/signed-out"),
        cpar.url("/signed-out?state=forged"),
    ] {
        let body = page(get(&http, url).await, StatusCode::BAD_REQUEST).await;
        assert!(!body.contains(SIGNED_OUT) && body.contains("could not confirm"));
    }
    let stranger = browser();
    let body = page(get(&stranger, back.clone()).await, StatusCode::BAD_REQUEST).await;
    assert!(!body.contains(SIGNED_OUT));
    let body = page(get(&http, back.clone()).await, StatusCode::OK).await;
    assert!(body.contains(SIGNED_OUT));
    let body = page(get(&http, back).await, StatusCode::BAD_REQUEST).await;
    assert!(!body.contains(SIGNED_OUT), "a state confirms once");
}

// ---------------------------------------------------------------------------------------------
// Session limits

#[tokio::test]
async fn after_the_idle_timeout_iam_asks_for_the_password_again() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    signed_in(&http, &server, &cpar).await;
    // Both clocks move (CPAR checks ID token expiry on its own); IAM's session (30 minutes
    // idle) stays open.
    cpar.advance_clock(PAST_IDLE);
    server.advance_clock(PAST_IDLE);
    let deep_link = cpar.first_panel();
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, &deep_link).await;
    assert_eq!(query_of(&authorize)["prompt"], "login");
    // IAM's own session (30 minutes idle) is still open: without prompt=login it would sign
    // the workstation straight back in.
    let mut silent = with_param(&authorize, "prompt", Some("none"));
    silent = with_param(&silent, "state", Some("probe"));
    let res = get(&http, silent).await;
    assert!(
        query_of(&location(&res)).contains_key("code"),
        "the IAM session should still be open"
    );
    // Abandoning the sign-in and coming back still forces it.
    let again = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    assert_eq!(query_of(&again)["prompt"], "login");

    // The IAM password page is shown.
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    complete_callback(&http, &callback, &deep_link).await;
    let body = page(get(&http, cpar.url(&deep_link)).await, StatusCode::OK).await;
    assert!(body.contains("Sample, Avery"));
    assert!(
        body.contains("Your CPAR session ended because it was not used for 15 minutes."),
        "the page says what happened:\n{body}"
    );
    // The notice is shown once.
    let body = page(get(&http, cpar.url("/")).await, StatusCode::OK).await;
    assert!(!body.contains("Your CPAR session ended"));
}

#[tokio::test]
async fn using_cpar_keeps_the_session_alive() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    signed_in(&http, &server, &cpar).await;
    // 40 minutes in all, never 15 without a request.
    for _ in 0..4 {
        cpar.advance_clock(10 * 60);
        page(get(&http, cpar.url("/")).await, StatusCode::OK).await;
    }
    cpar.advance_clock(14 * 60 + 59);
    page(
        get(&http, cpar.url(&cpar.first_panel())).await,
        StatusCode::OK,
    )
    .await;
    cpar.advance_clock(15 * 60);
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    assert_eq!(query_of(&authorize)["prompt"], "login");
}

#[tokio::test]
async fn after_the_absolute_timeout_iam_asks_for_the_password_again() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(
        &server,
        CparOptions {
            absolute_timeout: Some(Duration::from_secs(3600)),
            ..direct(&server)
        },
    )
    .await;
    let http = browser();
    signed_in(&http, &server, &cpar).await;
    // Used every 14 minutes: never idle, but past one hour in the end.
    for _ in 0..4 {
        cpar.advance_clock(14 * 60);
        server.advance_clock(14 * 60);
        page(get(&http, cpar.url("/")).await, StatusCode::OK).await;
    }
    cpar.advance_clock(5 * 60);
    server.advance_clock(5 * 60);
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    assert_eq!(query_of(&authorize)["prompt"], "login");
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    complete_callback(&http, &callback, "/").await;
    let body = page(get(&http, cpar.url("/")).await, StatusCode::OK).await;
    assert!(
        body.contains("Your CPAR session ended because it reached its 1 hour limit."),
        "{body}"
    );
}

#[tokio::test]
async fn the_default_absolute_limit_is_twelve_hours() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    assert_eq!(
        cpar.app.config().absolute_timeout,
        Duration::from_secs(12 * 3600)
    );
    assert_eq!(cpar.app.config().idle_timeout, Duration::from_secs(15 * 60));
    let http = browser();
    signed_in(&http, &server, &cpar).await;
    cpar.advance_clock(12 * 3600 + 1);
    server.advance_clock(12 * 3600 + 1);
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    assert_eq!(query_of(&authorize)["prompt"], "login");
    let res = get(&http, authorize).await;
    open_signin(&http, res).await;
}

// ---------------------------------------------------------------------------------------------
// Bad callbacks

#[tokio::test]
async fn a_callback_without_state_creates_no_session() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    let stripped = with_param(&callback, "state", None);
    assert_failed_callback(
        get(&http, stripped).await,
        StatusCode::BAD_REQUEST,
        "missing its state",
    )
    .await;
    let bare = get(&http, cpar.url("/callback")).await;
    assert_failed_callback(bare, StatusCode::BAD_REQUEST, "missing its state").await;
    assert_no_session(&http, &cpar, &server.issuer).await;
}

#[tokio::test]
async fn a_callback_with_a_wrong_state_creates_no_session() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    let forged = with_param(&callback, "state", Some("forged-state"));
    assert_failed_callback(
        get(&http, forged).await,
        StatusCode::BAD_REQUEST,
        "does not match a sign-in started in this browser",
    )
    .await;
    assert_no_session(&http, &cpar, &server.issuer).await;
    // The real answer was not used up by the forged one.
    complete_callback(&http, &callback, "/").await;
}

#[tokio::test]
async fn a_replayed_callback_creates_no_session() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    // An attacker's browser, with a CPAR browser cookie (and sign-in attempt) of its own.
    let attacker = browser();
    expect_sign_in_redirect(&attacker, &cpar, &server.issuer, "/").await;
    // Another browser cannot use it, before …
    assert_failed_callback(
        get(&attacker, callback.clone()).await,
        StatusCode::BAD_REQUEST,
        "does not match a sign-in started in this browser",
    )
    .await;
    complete_callback(&http, &callback, "/").await;
    // … or after it was used; nor can the same browser use it twice.
    for b in [&attacker, &http] {
        assert_failed_callback(
            get(b, callback.clone()).await,
            StatusCode::BAD_REQUEST,
            "already used",
        )
        .await;
    }
    assert_no_session(&attacker, &cpar, &server.issuer).await;
}

#[tokio::test]
async fn an_access_denied_answer_is_a_clear_page() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    let state = query_of(&authorize)["state"].clone();
    let mut denied = Url::parse(&cpar.url("/callback")).unwrap();
    denied
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "The user cancelled")
        .append_pair("state", &state)
        .append_pair("iss", &server.issuer);
    assert_failed_callback(
        get(&http, denied.clone()).await,
        StatusCode::FORBIDDEN,
        "access denied",
    )
    .await;
    // The attempt is used up: the same state cannot complete a sign-in later.
    assert_failed_callback(
        get(&http, denied).await,
        StatusCode::BAD_REQUEST,
        "already used",
    )
    .await;
    assert_no_session(&http, &cpar, &server.issuer).await;
}

#[tokio::test]
async fn a_login_required_answer_is_a_clear_page() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    // No IAM session: a real prompt=none answer from IAM.
    assert_iam_signed_out(&http, &server, &cpar).await;
    assert_no_session(&http, &cpar, &server.issuer).await;
}

#[tokio::test]
async fn a_foreign_or_missing_iss_is_refused() {
    let server = TestServer::start().await;
    let cpar = Cpar::start(&server, direct(&server)).await;
    let http = browser();
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    let foreign = with_param(&callback, "iss", Some("http://127.0.0.1:1"));
    assert_failed_callback(
        get(&http, foreign).await,
        StatusCode::BAD_REQUEST,
        "did not come from AHS IAM",
    )
    .await;
    // IAM advertises RFC 9207, so an answer without iss is refused too. IAM's session is open:
    // the next authorization request comes straight back with a code.
    let authorize = expect_sign_in_redirect(&http, &cpar, &server.issuer, "/").await;
    let callback = location(&get(&http, authorize).await);
    assert_callback(&callback, &cpar, &server.issuer);
    let without = with_param(&callback, "iss", None);
    assert_failed_callback(
        get(&http, without).await,
        StatusCode::BAD_REQUEST,
        "does not say where it came from",
    )
    .await;
    assert_no_session(&http, &cpar, &server.issuer).await;
}

#[tokio::test]
async fn a_tampered_id_token_is_refused() {
    let (server, proxy) = iam_behind_proxy().await;
    let cpar = Cpar::start(&server, CparOptions::new(&proxy.url)).await;
    let http = browser();
    // Through the proxy, untouched: a sign-in works.
    sign_in_to_cpar(&http, &server, &cpar, &proxy.url, "/", USERNAME, false).await;

    proxy.tamper_id_tokens();
    let other = browser();
    let authorize = expect_sign_in_redirect(&other, &cpar, &proxy.url, "/").await;
    let callback = sign_in_at_iam(&other, &server, &authorize, USERNAME, false).await;
    assert_callback(&callback, &cpar, &proxy.url);
    assert_failed_callback(
        get(&other, callback).await,
        StatusCode::BAD_REQUEST,
        "could not be verified",
    )
    .await;
    assert_no_session(&other, &cpar, &proxy.url).await;
}

#[tokio::test]
async fn an_access_token_not_issued_with_the_id_token_is_refused() {
    let (server, proxy) = iam_behind_proxy().await;
    let cpar = Cpar::start(&server, CparOptions::new(&proxy.url)).await;
    sign_in_to_cpar(&browser(), &server, &cpar, &proxy.url, "/", USERNAME, false).await;
    // The same person's earlier access token (userinfo would accept it): only at_hash tells.
    proxy.swap_access_tokens();
    let http = browser();
    let authorize = expect_sign_in_redirect(&http, &cpar, &proxy.url, "/").await;
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    assert_failed_callback(
        get(&http, callback).await,
        StatusCode::BAD_REQUEST,
        "could not be verified",
    )
    .await;
    assert_no_session(&http, &cpar, &proxy.url).await;
}

#[tokio::test]
async fn a_provider_down_at_start_fails_after_bounded_retries() {
    let issuer = format!("http://127.0.0.1:{}", free_port());
    let dir = tempfile::tempdir().unwrap();
    let mut config = cpar_rp::Config::new(issuer.clone(), "cid", "secret", "http://127.0.0.1:1");
    config.database = dir.path().join("cpar.db");
    config.discovery_timeout = Duration::from_millis(1500);
    let started = std::time::Instant::now();
    let err = cpar_rp::App::start(config, std::sync::Arc::new(cpar_rp::SystemClock))
        .await
        .expect_err("nothing answers discovery");
    let waited = started.elapsed();
    match &err {
        cpar_rp::Error::Discovery {
            issuer: i,
            attempts,
            ..
        } => {
            assert_eq!(i, &issuer);
            assert!(*attempts >= 3, "retried with back-off: {attempts} attempts");
        }
        other => panic!("expected a discovery error, got {other}"),
    }
    assert!(
        waited >= Duration::from_millis(1400) && waited < Duration::from_secs(6),
        "bounded wait: {waited:?}"
    );
    assert!(err.to_string().contains(&issuer), "{err}");
}

#[tokio::test]
async fn discovery_retries_until_the_provider_is_up() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let issuer = url.clone();
    let server = TestServer::start_with(move |_| ProviderConfig::builder(issuer), Vec::new()).await;
    // CPAR starts first; the provider (behind the proxy's port) comes up 1.5 s later.
    let (cpar, _proxy) = tokio::join!(Cpar::start(&server, CparOptions::new(&url)), async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("the reserved port is still free");
        Proxy::start(listener, &server.issuer)
    });
    sign_in_to_cpar(&browser(), &server, &cpar, &url, "/", USERNAME, false).await;
}

#[tokio::test]
async fn a_provider_down_at_callback_time_is_a_clear_page() {
    let (server, mut proxy) = iam_behind_proxy().await;
    let cpar = Cpar::start(&server, CparOptions::new(&proxy.url)).await;
    let http = browser();
    let authorize = expect_sign_in_redirect(&http, &cpar, &proxy.url, "/").await;
    let callback = sign_in_at_iam(&http, &server, &authorize, USERNAME, false).await;
    proxy.stop().await;
    let res = get(&http, callback).await;
    assert!(!res.status().is_server_error(), "{}", res.status());
    assert_failed_callback(res, StatusCode::OK, "AHS IAM did not answer").await;
    assert_no_session(&http, &cpar, &proxy.url).await;
}
