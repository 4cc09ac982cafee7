//! Attacks on the provider's pages: forged forms (CSRF) at every journey step and on the portal
//! and token-activation forms, session fixation, framing (clickjacking) and markup injection
//! through request values and registered names. Tests elsewhere that already prove a part are
//! listed in `docs/security.md` and not repeated here.

use crate::common::mfa::{give_token, passcode as code};
use crate::common::pages::page_at;
use crate::common::*;
use oidc_core::{Actor, NewClient};
use reqwest::StatusCode;
use reqwest::header::{LOCATION, SET_COOKIE};
use url::Url;

const STALE: &str = "sent from elsewhere";
const HOSTILE: &str = r#""><script>alert(1)</script><img src=x onerror=alert(2)>"#;

/// The seeded account gets a hardware token; the clock sits 2 s into a time step.
async fn with_token(server: &TestServer) {
    give_token(server, USERNAME).await;
    server.align_clock(30, 2);
}

/// Posts `form` to `url` with no `csrf`, then with a wrong one (a valid-looking token of the
/// right length, and the journey's own token with a forged version), and checks each is refused
/// with a 400 page that says so, without a redirect.
async fn assert_forgeries_refused(
    http: &reqwest::Client,
    url: &Url,
    real_csrf: &str,
    form: &[(&str, &str)],
    what: &str,
) {
    let forged_version = format!("{}.999", real_csrf.split('.').next().unwrap());
    for csrf in [None, Some("A".repeat(43)), Some(forged_version)] {
        let mut f: Vec<(&str, &str)> = form.to_vec();
        if let Some(c) = &csrf {
            f.push(("csrf", c.as_str()));
        }
        let res = http.post(url.clone()).form(&f).send().await.unwrap();
        let status = res.status();
        let location = res.headers().get(LOCATION).cloned();
        let body = res.text().await.unwrap();
        // A stale version with the right token is not a forgery: it goes back to the journey
        // (303) and verifies nothing; both are checked by what follows in each test.
        if csrf.as_deref().is_some_and(|c| c.ends_with(".999")) {
            assert!(
                status == StatusCode::SEE_OTHER || status == StatusCode::BAD_REQUEST,
                "{what}: {status}"
            );
            continue;
        }
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{what} csrf={csrf:?}: {body}"
        );
        assert!(
            location.is_none(),
            "{what}: a forged form does not redirect"
        );
        assert!(
            body.contains(STALE) || body.contains("This form has expired"),
            "{what}: {body}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// CSRF

/// RFC 6749 §10.12: the passcode step refuses a form without the journey's token, and the
/// refused form verified nothing: the same tokencode, sent afterwards with the right token,
/// still signs in (had it been checked, the replay guard would now refuse it).
#[tokio::test]
async fn rfc6749_10_12_the_passcode_step_refuses_a_forged_form_and_verifies_nothing() {
    let server = TestServer::start().await;
    with_token(&server).await;
    let mfa = server
        .provider
        .register_client(NewClient::new("MFA app", [REDIRECT_URI]).first_party(true))
        .await
        .unwrap();
    let http = browser();
    let mut params = server.authorize_params();
    params.retain(|(k, _)| k != "client_id");
    params.push(("client_id".into(), mfa.client.client_id.clone()));
    let page = open_signin(
        &http,
        http.get(server.authorize_url(&params))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
    assert_eq!(see_other_location(&res), page.url);
    let (_, body) = page_at(&http, &page.url).await;
    assert!(body.contains(r#"name="passcode""#), "{body}");
    let csrf = csrf_of(&body);
    let passcode = code(&server);
    assert_forgeries_refused(
        &http,
        &page.url,
        &csrf,
        &[("passcode", passcode.as_str())],
        "passcode",
    )
    .await;
    let res = http
        .post(page.url.clone())
        .form(&[("csrf", csrf.as_str()), ("passcode", passcode.as_str())])
        .send()
        .await
        .unwrap();
    let back = see_other_location(&res);
    assert!(
        back.as_str().starts_with(REDIRECT_URI) && query_of(&back).contains_key("code"),
        "{back}"
    );
}

/// The portal's forms (first-time activation, change password, forgot password pages 1 and 2)
/// and a required action (the new-password page after a temporary password) refuse forms
/// without their token, check and count nothing, and the journey stays where it was.
#[tokio::test]
async fn rfc6749_10_12_portal_forms_and_required_actions_refuse_forged_forms() {
    let server = TestServer::start().await;
    with_token(&server).await;
    let passcode = code(&server);

    // Change password: one page; a forged form with a wrong password counts no failure.
    let http = browser();
    let journey = see_other_location(
        &http
            .get(server.url("/change-password"))
            .send()
            .await
            .unwrap(),
    );
    let (_, body) = page_at(&http, &journey).await;
    assert_forgeries_refused(
        &http,
        &journey,
        &csrf_of(&body),
        &[
            ("username", USERNAME),
            ("password", "a wrong password"),
            ("passcode", passcode.as_str()),
        ],
        "change password",
    )
    .await;
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 0);
    assert_eq!(
        page_at(&http, &journey)
            .await
            .1
            .replace(&csrf_of(&body), ""),
        body.replace(&csrf_of(&body), "")
    );

    // First-time activation, page 1 (username and passcode).
    let http = browser();
    let journey = see_other_location(&http.get(server.url("/activate")).send().await.unwrap());
    let (_, body) = page_at(&http, &journey).await;
    assert_forgeries_refused(
        &http,
        &journey,
        &csrf_of(&body),
        &[("username", USERNAME), ("passcode", passcode.as_str())],
        "activation",
    )
    .await;
    assert!(
        page_at(&http, &journey)
            .await
            .1
            .contains(r#"name="passcode""#),
        "still the first page"
    );

    // Forgot password: page 1 holds the passcode, page 2 (the answers) is checked. This account
    // has no recovery data, so a right passcode on page 1 would end the journey there (it
    // cannot be reset by questions it never chose); a wrong one goes on to page 2 like any
    // other, and leaves the right one unspent for the temporary password below.
    let wrong_passcode = if passcode == "000000" {
        "111111"
    } else {
        "000000"
    };
    let http = browser();
    let journey = see_other_location(
        &http
            .get(server.url("/forgot-password"))
            .send()
            .await
            .unwrap(),
    );
    let (_, body) = page_at(&http, &journey).await;
    assert_forgeries_refused(
        &http,
        &journey,
        &csrf_of(&body),
        &[("username", USERNAME), ("passcode", wrong_passcode)],
        "forgot password page 1",
    )
    .await;
    let res = http
        .post(journey.clone())
        .form(&[
            ("csrf", csrf_of(&body).as_str()),
            ("username", USERNAME),
            ("passcode", wrong_passcode),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (_, page2) = page_at(&http, &journey).await;
    assert!(page2.contains("secret_word"), "{page2}");
    assert_forgeries_refused(
        &http,
        &journey,
        &csrf_of(&page2),
        &[("secret_word", "x"), ("answer_0", "x"), ("answer_1", "x")],
        "forgot password page 2",
    )
    .await;
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 0);

    // A required action: the new-password page after a temporary password.
    let temporary = server
        .provider
        .issue_temporary_password(&Actor::BreakGlass, USERNAME)
        .await
        .unwrap();
    let http = browser();
    let page = open_signin(
        &http,
        http.get(server.authorize_url(&server.authorize_params()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = submit_password(&http, &page, USERNAME, temporary.secret()).await;
    assert_eq!(see_other_location(&res), page.url);
    let (_, body) = page_at(&http, &page.url).await;
    if body.contains(r#"name="passcode""#) {
        // The temporary password is followed by the passcode first on this configuration.
        let res = http
            .post(page.url.clone())
            .form(&[
                ("csrf", csrf_of(&body).as_str()),
                ("passcode", passcode.as_str()),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(see_other_location(&res), page.url);
    }
    let (_, body) = page_at(&http, &page.url).await;
    assert!(body.contains("new_password"), "{body}");
    assert_forgeries_refused(
        &http,
        &page.url,
        &csrf_of(&body),
        &[
            ("new_password", "lantern orchard violin"),
            ("confirm_password", "lantern orchard violin"),
        ],
        "new password",
    )
    .await;
    assert!(
        page_at(&http, &page.url).await.1.contains("new_password"),
        "the password was not changed by a forged form"
    );
}

/// The soft-token activation forms carry an HMAC of the browser's own cookie: a form without it,
/// with another browser's token, or from a browser without the cookie goes back to the first
/// page and begins nothing.
#[tokio::test]
async fn rfc6749_10_12_soft_token_activation_forms_refuse_forged_tokens() {
    let server = TestServer::start().await;
    let soft = server
        .provider
        .add_soft_token(USERNAME, None, false)
        .await
        .unwrap();
    let victim = browser();
    let body = victim
        .get(server.url("/activate-token"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let victims_token = csrf_of(&body);
    let attacker = browser();
    let attackers_token = csrf_of(
        &attacker
            .get(server.url("/activate-token"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    let activation_code = soft.activation_code.secret().to_string();
    for (who, http, csrf) in [
        ("no token", &victim, None),
        (
            "another browser's token",
            &victim,
            Some(attackers_token.as_str()),
        ),
        ("no cookie", &browser(), Some(victims_token.as_str())),
    ] {
        let mut form = vec![
            ("username", USERNAME),
            ("activation_code", activation_code.as_str()),
        ];
        if let Some(c) = csrf {
            form.push(("csrf", c));
        }
        for path in ["/activate-token", "/activate-token/confirm"] {
            let res = http
                .post(server.url(path))
                .form(&form)
                .send()
                .await
                .unwrap();
            let body = res.text().await.unwrap();
            assert!(body.contains(STALE), "{who} at {path}: {body}");
            assert!(
                !body.contains("Add the token to your app"),
                "{who} at {path}"
            );
        }
    }
    // The genuine form begins the activation (the control).
    let res = victim
        .post(server.url("/activate-token"))
        .form(&[
            ("csrf", victims_token.as_str()),
            ("username", USERNAME),
            ("activation_code", activation_code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Add the token to your app")
    );
}

// ---------------------------------------------------------------------------------------------
// Session fixation

fn cookie_value(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            let (k, rest) = c.split_once('=')?;
            (k == name).then(|| rest.split(';').next().unwrap_or_default().to_string())
        })
}

/// OWASP ASVS 3.2.1 (session fixation): a session cookie planted in the browser before sign-in
/// is not adopted; the sign-in sets a new session id. And an attacker's own live session planted
/// in the victim's browser is ended by the victim's sign-in (`prompt=login`), which gets a new
/// id: the attacker's id opens nothing afterwards.
#[tokio::test]
async fn asvs_3_2_1_the_session_id_changes_at_sign_in_and_a_planted_one_is_not_adopted() {
    let server = TestServer::start().await;
    let issuer = Url::parse(&server.issuer).unwrap();
    let planted = "planted-by-the-attacker-planted-by-the-atta";
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("iam_session={planted}; Path=/"), &issuer);
    let victim = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = open_signin(
        &victim,
        victim
            .get(server.authorize_url(&server.authorize_params()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = submit_password(&victim, &page, USERNAME, PASSWORD).await;
    let issued = cookie_value(&res, "iam_session").expect("a session cookie at sign-in");
    assert_ne!(issued, planted);
    assert!(issued.len() >= 43, "a 256-bit id");

    // The attacker signs in with their own browser and plants that live session in the victim's.
    let attacker = browser();
    let page = open_signin(
        &attacker,
        attacker
            .get(server.authorize_url(&server.authorize_params()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = submit_password(&attacker, &page, USERNAME, PASSWORD).await;
    let attackers = cookie_value(&res, "iam_session").unwrap();
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(&format!("iam_session={attackers}; Path=/"), &issuer);
    let victim = reqwest::Client::builder()
        .cookie_provider(jar.clone())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut params = server.authorize_params();
    params.push(("prompt".into(), "login".into()));
    let page = open_signin(
        &victim,
        victim
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = submit_password(&victim, &page, USERNAME, PASSWORD).await;
    let fresh = cookie_value(&res, "iam_session").expect("a new session cookie");
    assert_ne!(fresh, attackers);
    // The attacker's id is over.
    let mut params = server.authorize_params();
    params.push(("prompt".into(), "none".into()));
    let res = attacker
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));
}

// ---------------------------------------------------------------------------------------------
// Clickjacking

/// RFC 6749 §10.13 and RFC 9700 §4.16: every page (and every other response: redirects, JSON,
/// errors, the stylesheet, 404) forbids framing, by CSP `frame-ancestors 'none'` and by
/// `X-Frame-Options: DENY` for older browsers.
#[tokio::test]
async fn rfc6749_10_13_no_response_may_be_framed() {
    let server = TestServer::start().await;
    let http = browser();
    let authorize = http
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    let signin = see_other_location(&authorize);
    let mut checked = vec![check_frame_headers(authorize, "GET /authorize (303)")];
    let mut urls: Vec<(String, String)> = vec![(signin.to_string(), "sign-in page".into())];
    for path in [
        "/authorize",
        "/authorize?client_id=nobody&response_type=code",
        "/activate",
        "/change-password",
        "/forgot-password",
        "/activate-token",
        "/logout",
        "/admin",
        "/admin/users",
        "/.well-known/openid-configuration",
        "/jwks",
        "/userinfo",
        "/healthz",
        "/readyz",
        "/assets/iam.css",
        "/no-such-page",
        "/signin/00000000-0000-0000-0000-000000000000",
    ] {
        urls.push((server.url(path), path.into()));
    }
    for (url, what) in urls {
        let res = http.get(url).send().await.unwrap();
        // Follow the portal's one redirect to its journey page.
        let res = if res.status() == StatusCode::SEE_OTHER && what.starts_with("/") {
            let next = see_other_location(&res);
            checked.push(check_frame_headers(res, &what));
            http.get(next).send().await.unwrap()
        } else {
            res
        };
        checked.push(check_frame_headers(res, &what));
    }
    let res = http
        .post(server.url("/token"))
        .form(&[("grant_type", "nonsense")])
        .send()
        .await
        .unwrap();
    checked.push(check_frame_headers(res, "POST /token"));
    assert!(checked.len() >= 20, "{checked:?}");
}

fn check_frame_headers(res: reqwest::Response, what: &str) -> String {
    let csp = res
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.split(';').any(|d| d.trim() == "frame-ancestors 'none'"),
        "{what} ({}): CSP {csp:?}",
        res.status()
    );
    assert_eq!(
        res.headers()
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok()),
        Some("DENY"),
        "{what}"
    );
    format!("{what}: {}", res.status())
}

// ---------------------------------------------------------------------------------------------
// Markup injection

fn assert_escaped(body: &str, what: &str) {
    for raw in ["<script>alert", "<img src=x", "\"><script"] {
        assert!(!body.contains(raw), "{what}: {raw:?} unescaped:\n{body}");
    }
}

/// OWASP ASVS 5.3.3 (output encoding): request values echoed on pages (the logout form's
/// `state`, `client_id` and return address; authorization parameters on the error page) and a
/// registered client's name on the consent page come out HTML-escaped. (The login hint and the
/// typed username: `code_flow.rs`, `sign_in_page_escapes_the_login_hint_and_the_echoed_username`.)
#[tokio::test]
async fn asvs_5_3_3_request_values_and_registered_names_are_escaped_on_pages() {
    let server = TestServer::start().await;
    let http = browser();
    server.code_for_default_request(&http).await; // a session, so logout asks

    let res = http
        .get(server.url("/logout"))
        .query(&[
            ("state", HOSTILE),
            ("client_id", HOSTILE),
            ("post_logout_redirect_uri", HOSTILE),
        ])
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert_escaped(&body, "logout page");

    for name in [
        "client_id",
        "scope",
        "redirect_uri",
        "response_type",
        "state",
        "nonce",
    ] {
        let mut params = server.authorize_params();
        params.retain(|(k, _)| k != name);
        params.push((name.into(), HOSTILE.into()));
        let res = http
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        if let Some(location) = res.headers().get(LOCATION) {
            // Errors sent to the client: the value travels URL-encoded, never as markup.
            assert_escaped(location.to_str().unwrap(), name);
        }
        let body = res.text().await.unwrap();
        assert_escaped(&body, name);
    }

    // A third-party client with a hostile name: the page after the password names it escaped.
    let third = server
        .provider
        .register_client(
            NewClient::new(format!("Evil {HOSTILE}"), [REDIRECT_URI]).mfa_required(false),
        )
        .await
        .unwrap();
    let http = browser();
    let mut params = server.authorize_params();
    params.retain(|(k, _)| k != "client_id");
    params.push(("client_id".into(), third.client.client_id.clone()));
    let page = open_signin(
        &http,
        http.get(server.authorize_url(&params))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_escaped(&page.body, "sign-in page of a hostile client");
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
    let next = see_other_location(&res);
    // The consent step is being built (journey/consent): where it is live, the page after the
    // password names the client, escaped; otherwise the client gets its code directly.
    if next.as_str().starts_with(&server.issuer) {
        let body = http.get(next).send().await.unwrap().text().await.unwrap();
        assert_escaped(&body, "consent page");
        assert!(body.contains("Evil &#34;&#62;&#60;script&#62;"), "{body}");
    } else {
        assert!(next.as_str().starts_with(REDIRECT_URI), "{next}");
    }
}
