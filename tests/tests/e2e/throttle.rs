//! Sign-in throttling end to end: per (account, client address) progressive delays, a per-address
//! limit against password spraying, the per-account backstop lock and the service desk's unlock,
//! atomic counting under concurrency, and which `X-Forwarded-For` is believed.
//!
//! Two "addresses" come from one loopback client: the provider trusts 127.0.0.1 as a proxy and
//! each browser sends its own `X-Forwarded-For`. Delays are "blocked until T" on the provider's
//! clock, which the tests move: nothing sleeps.

use std::net::IpAddr;

use crate::common::mfa::{give_token, passcode};
use crate::common::*;
use oidc_core::{Actor, NewClient, ProviderConfigBuilder};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};

const ATTACKER: &str = "203.0.113.7";
const OWNER: &str = "198.51.100.9";
const BAD_ANY: &str = "The username, password or passcode is incorrect. Please sign in again.";

fn loopback() -> IpAddr {
    IpAddr::from([127, 0, 0, 1])
}

/// A provider that believes `X-Forwarded-For` from 127.0.0.1, with `more` settings.
async fn proxied(more: impl FnOnce(ProviderConfigBuilder) -> ProviderConfigBuilder) -> TestServer {
    TestServer::start_with(|c| more(c.trusted_proxies([loopback()])), Vec::new()).await
}

/// A browser whose requests say they were forwarded for `address`.
fn browser_from(address: &str) -> reqwest::Client {
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-forwarded-for",
        HeaderValue::from_str(address).expect("an address is a header value"),
    );
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .default_headers(headers)
        .build()
        .expect("HTTP client")
}

/// A new sign-in page of `client_id` (`prompt=login`, so that a session is never reused).
async fn new_page(server: &TestServer, http: &reqwest::Client, client_id: &str) -> SigninPage {
    let mut params: Vec<(String, String)> = server
        .authorize_params()
        .into_iter()
        .map(|(k, v)| {
            if k == "client_id" {
                (k, client_id.to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    params.push(("prompt".into(), "login".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .expect("authorization request");
    open_signin(http, res).await
}

/// A password-only sign-in (the seeded client needs no second factor).
async fn password_only(
    server: &TestServer,
    http: &reqwest::Client,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let page = new_page(server, http, server.client_id()).await;
    submit_password(http, &page, username, password).await
}

/// Masks what legitimately differs between two answers: the journey and its form token.
fn normalise(body: &str) -> String {
    let csrf = csrf_of(body);
    let journey = body
        .split("/signin/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_string();
    body.replace(&csrf, "CSRF").replace(&journey, "JOURNEY")
}

/// The one failure answer of a password-only sign-in: 200, the sign-in form again, the one
/// message. Returns the normalised body.
async fn assert_failure(res: reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::OK, "a failure is a 200");
    assert!(
        res.headers().get("location").is_none(),
        "a failure does not redirect"
    );
    let body = res.text().await.expect("failure body");
    assert!(
        body.contains(SIGNIN_HEADING) && body.contains(BAD_CREDENTIALS),
        "not the failure page:\n{body}"
    );
    assert!(
        !body.to_lowercase().contains("locked") && !body.to_lowercase().contains("too many"),
        "the failure page tells more than the one message:\n{body}"
    );
    normalise(&body)
}

fn assert_signed_in(res: &reqwest::Response, server: &TestServer) {
    let location = see_other_location(res);
    assert_code_redirect(&location, server, Some("st-123"));
}

// ---------------------------------------------------------------------------------------------
// The second factor

async fn mfa_client(server: &TestServer) -> String {
    server
        .provider
        .register_client(NewClient::new("MFA app", [REDIRECT_URI]).first_party(true))
        .await
        .expect("register the MFA client")
        .client
        .client_id
}

/// Password, then passcode (the passcode page follows every password, right or wrong).
async fn mfa_attempt(
    server: &TestServer,
    http: &reqwest::Client,
    client_id: &str,
    password: &str,
    passcode: &str,
) -> reqwest::Response {
    let page = new_page(server, http, client_id).await;
    let res = submit_password(http, &page, USERNAME, password).await;
    let next = see_other_location(&res);
    let body = http
        .get(next.clone())
        .send()
        .await
        .expect("passcode page")
        .text()
        .await
        .expect("passcode page body");
    assert!(
        body.contains(r#"name="passcode""#),
        "not the passcode page:\n{body}"
    );
    http.post(next)
        .form(&[("csrf", csrf_of(&body).as_str()), ("passcode", passcode)])
        .send()
        .await
        .expect("passcode submission")
}

/// The one failure answer after a passcode; returns the normalised body.
async fn assert_mfa_failure(res: reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::OK, "a failure is a 200");
    assert!(
        res.headers().get("location").is_none(),
        "a failure does not redirect"
    );
    let body = res.text().await.expect("failure body");
    assert!(
        body.contains(SIGNIN_HEADING) && body.contains(BAD_ANY),
        "not the failure page:\n{body}"
    );
    normalise(&body)
}

// ---------------------------------------------------------------------------------------------

/// A stranger who knows the username fails again and again from one address: that address is
/// slowed down (1 s after five failures, doubling to 60 s), always with the one failure answer,
/// while the clinician's right password and passcode from their own address still sign in. The
/// block is a delay, not a lock: once it is over the attacker's address is let through again.
#[tokio::test]
async fn an_attackers_address_is_slowed_down_while_the_owner_signs_in_from_theirs() {
    let server = proxied(|c| c).await;
    let client_id = mfa_client(&server).await;
    give_token(&server, USERNAME).await;
    let attacker = browser_from(ATTACKER);
    let owner = browser_from(OWNER);

    let baseline = assert_mfa_failure(
        mfa_attempt(&server, &attacker, &client_id, "not the password", "000000").await,
    )
    .await;
    // Each failure counts once its block is over: twelve failures, the last blocking for 60 s.
    for _ in 2..=12 {
        server.advance_clock(61);
        let res = mfa_attempt(&server, &attacker, &client_id, "guess", "000000").await;
        assert_eq!(assert_mfa_failure(res).await, baseline);
    }
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 12);
    assert!(!server.provider.is_locked(USERNAME).await.unwrap());

    // Inside the block attempts are refused unchecked and uncounted, with the same answer.
    for _ in 0..3 {
        let res = mfa_attempt(&server, &attacker, &client_id, "guess", "000000").await;
        assert_eq!(assert_mfa_failure(res).await, baseline);
    }
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 12);
    // Even the right password is refused there, with the wrong password's answer.
    let wrong = assert_failure(password_only(&server, &owner, USERNAME, "wrong").await).await;
    let refused = assert_failure(password_only(&server, &attacker, USERNAME, PASSWORD).await).await;
    assert_eq!(refused, wrong, "throttled and wrong look alike");

    // The clinician, from their own address: password and passcode sign in.
    let res = mfa_attempt(&server, &owner, &client_id, PASSWORD, &passcode(&server)).await;
    assert_signed_in(&res, &server);
    assert_eq!(
        server.provider.failure_count(USERNAME).await.unwrap(),
        0,
        "a success ends the consecutive failures"
    );
    // The attacker's address is still blocked (20 s into its 60 s, with the clock as it is)...
    server.advance_clock(20);
    assert_failure(password_only(&server, &attacker, USERNAME, PASSWORD).await).await;
    // ...and let through once the block is over.
    server.advance_clock(41);
    let res = password_only(&server, &attacker, USERNAME, PASSWORD).await;
    assert_signed_in(&res, &server);
}

/// Password spraying: one address trying one password on many usernames (unknown ones too)
/// reaches the per-address limit and is blocked for the rest of the window, whatever the
/// username; other addresses are not affected.
#[tokio::test]
async fn password_spraying_from_one_address_is_rate_limited_across_usernames() {
    let server = proxied(|c| c.address_failure_limit(10)).await;
    let attacker = browser_from(ATTACKER);
    let owner = browser_from(OWNER);

    for n in 1..=9 {
        let res = password_only(&server, &attacker, &format!("user{n:02}"), "Summer2026!").await;
        assert_failure(res).await;
    }
    // Nine failures: below the limit, a right password from there still works.
    let res = password_only(&server, &attacker, USERNAME, PASSWORD).await;
    assert_signed_in(&res, &server);
    // The tenth reaches it: the address is blocked, even for a right password.
    assert_failure(password_only(&server, &attacker, "user10", "Summer2026!").await).await;
    assert_failure(password_only(&server, &attacker, USERNAME, PASSWORD).await).await;
    assert_eq!(
        server.provider.failure_count(USERNAME).await.unwrap(),
        0,
        "refused attempts count against nobody"
    );
    // Another address is not affected.
    let res = password_only(&server, &owner, USERNAME, PASSWORD).await;
    assert_signed_in(&res, &server);
    // The window (15 min) ends, and the block with it.
    server.advance_clock(15 * 60);
    let res = password_only(&server, &attacker, USERNAME, PASSWORD).await;
    assert_signed_in(&res, &server);
}

/// The per-account backstop: consecutive failures from many addresses (each below its own
/// delay) lock the account at the threshold (100 by default, 20 here), with the same answer as
/// a wrong password even for the right one; the service desk's unlock clears it.
#[tokio::test]
async fn the_backstop_locks_the_account_and_the_service_desk_unlocks_it() {
    let server = proxied(|c| c.lockout_threshold(20)).await;
    for a in 1..=5 {
        let http = browser_from(&format!("192.0.2.{a}"));
        for _ in 0..4 {
            assert_failure(password_only(&server, &http, USERNAME, "a wrong password").await).await;
        }
    }
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 20);
    assert!(server.provider.is_locked(USERNAME).await.unwrap());
    let owner = browser_from(OWNER);
    let wrong = assert_failure(password_only(&server, &owner, USERNAME, "wrong").await).await;
    let locked = assert_failure(password_only(&server, &owner, USERNAME, PASSWORD).await).await;
    assert_eq!(locked, wrong, "locked and wrong look alike");
    let unknown = assert_failure(password_only(&server, &owner, "nobody", "wrong").await).await;
    assert_eq!(
        unknown.replace("nobody", USERNAME),
        wrong,
        "unknown and wrong look alike"
    );

    // (An agent must verify the caller first, which `lifecycle.rs` covers; break-glass need not.)
    server
        .provider
        .unlock_account(&Actor::BreakGlass, USERNAME)
        .await
        .expect("unlock");
    assert!(!server.provider.is_locked(USERNAME).await.unwrap());
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 0);
    let res = password_only(&server, &owner, USERNAME, PASSWORD).await;
    assert_signed_in(&res, &server);
}

/// The failure that locks the account (3 here) tells its owner once, by email, ends their
/// sessions and is audited; refused attempts while it is locked count and mail nothing; after
/// the lock runs out, the next failure locks again and says so again.
#[tokio::test]
async fn a_lock_mails_the_owner_once_ends_sessions_and_is_audited() {
    let server = proxied(|c| c.lockout_threshold(3).support_phone("1-800-555-0199")).await;
    let owner = browser_from(OWNER);
    assert_signed_in(
        &password_only(&server, &owner, USERNAME, PASSWORD).await,
        &server,
    );
    let lock_mails = || {
        server
            .mail
            .sent()
            .into_iter()
            .filter(|m| m.subject.contains("locked"))
            .collect::<Vec<_>>()
    };
    let locks = || async {
        server
            .provider
            .audit_events(None, 500)
            .await
            .expect("audit log")
            .into_iter()
            .filter(|e| e.event == "account.locked")
            .collect::<Vec<_>>()
    };
    let attacker = browser_from(ATTACKER);
    for _ in 0..2 {
        assert_failure(password_only(&server, &attacker, USERNAME, "a wrong password").await).await;
    }
    assert!(lock_mails().is_empty());
    assert!(locks().await.is_empty());
    assert!(!server.provider.is_locked(USERNAME).await.unwrap());

    assert_failure(password_only(&server, &attacker, USERNAME, "a wrong password").await).await;
    assert!(server.provider.is_locked(USERNAME).await.unwrap());
    let mails = lock_mails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!(mails[0].to, EMAIL);
    assert!(
        mails[0].body.contains(USERNAME) && mails[0].body.contains("1-800-555-0199"),
        "{}",
        mails[0].body
    );
    let logged = locks().await;
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].actor, "system");
    assert_eq!(logged[0].subject.as_deref(), Some(USERNAME));
    // The owner's session ended with the lock.
    let mut params = server.authorize_params();
    params.push(("prompt".into(), "none".into()));
    let res = owner
        .get(server.authorize_url(&params))
        .send()
        .await
        .expect("authorization request");
    assert_error_redirect(&res, &server, "login_required", Some("st-123"));

    // Refused while locked: not counted, not mailed again.
    for password in ["a wrong password", PASSWORD] {
        assert_failure(password_only(&server, &attacker, USERNAME, password).await).await;
    }
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 3);
    assert_eq!(lock_mails().len(), 1);
    assert_eq!(locks().await.len(), 1);

    // The lock (1 h) runs out; the count stays, so the next failure is a new lock.
    server.advance_clock(3601);
    assert!(!server.provider.is_locked(USERNAME).await.unwrap());
    assert_failure(password_only(&server, &attacker, USERNAME, "a wrong password").await).await;
    assert!(server.provider.is_locked(USERNAME).await.unwrap());
    assert_eq!(lock_mails().len(), 2);
    assert_eq!(locks().await.len(), 2);
}

/// Two concurrent streams of 25 failures (as from two replicas' worth of requests): every one is
/// counted, per account (exactly 50) and per (account, address) pair (its delay starts at the
/// 50th failure, and it has started).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_failures_are_all_counted() {
    let server = proxied(|c| {
        c.throttle_free_failures(50)
            .throttle_initial_delay(std::time::Duration::from_secs(60))
            .address_failure_limit(1000)
    })
    .await;
    let mut streams = Vec::new();
    for _ in 0..2 {
        let http = browser_from(ATTACKER);
        let page = new_page(&server, &http, server.client_id()).await;
        streams.push(tokio::spawn(async move {
            // A failed password re-renders the same form: it can be sent again and again.
            for _ in 0..25 {
                let res = submit_password(&http, &page, USERNAME, "a wrong password").await;
                assert_eq!(res.status(), StatusCode::OK);
                let body = res.text().await.expect("body");
                assert!(body.contains(BAD_CREDENTIALS), "{body}");
            }
        }));
    }
    for s in streams {
        s.await.expect("stream");
    }
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 50);
    let attacker = browser_from(ATTACKER);
    assert_failure(password_only(&server, &attacker, USERNAME, PASSWORD).await).await;
    let res = password_only(&server, &browser_from(OWNER), USERNAME, PASSWORD).await;
    assert_signed_in(&res, &server);
}

/// Without trusted proxies `X-Forwarded-For` is the client's own word: ignored. Failures sent
/// with a new made-up address each time all count against the connection's address.
#[tokio::test]
async fn x_forwarded_for_from_an_untrusted_peer_is_ignored() {
    let server = TestServer::start().await;
    for n in 1..=5 {
        let http = browser_from(&format!("192.0.2.{n}"));
        assert_failure(password_only(&server, &http, USERNAME, "a wrong password").await).await;
    }
    // The fifth failure blocked 127.0.0.1 for 1 s, whatever the header says.
    let http = browser_from("192.0.2.99");
    assert_failure(password_only(&server, &http, USERNAME, PASSWORD).await).await;
    server.advance_clock(2);
    let res = password_only(&server, &http, USERNAME, PASSWORD).await;
    assert_signed_in(&res, &server);
}

/// An application that serves the router without connection information still works: the
/// address is unknown, and the per-(account, address) delay still applies.
#[tokio::test]
async fn a_router_served_without_connection_information_still_signs_in() {
    let server = TestServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let other = format!("http://{}", listener.local_addr().expect("address"));
    let app = server.provider.router();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let http = browser();
    let url = server
        .authorize_url(&server.authorize_params())
        .replace(&server.issuer, &other);
    let start = |http: reqwest::Client, url: String| async move {
        let res = http.get(&url).send().await.expect("authorize");
        open_signin(&http, res).await
    };
    for _ in 0..5 {
        let page = start(http.clone(), url.clone()).await;
        assert_failure(submit_password(&http, &page, USERNAME, "wrong").await).await;
    }
    let page = start(http.clone(), url.clone()).await;
    assert_failure(submit_password(&http, &page, USERNAME, PASSWORD).await).await;
    server.advance_clock(2);
    let page = start(http.clone(), url.clone()).await;
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
    let location = see_other_location(&res);
    assert!(
        location.as_str().starts_with(REDIRECT_URI),
        "not signed in: {location}"
    );
    task.abort();
}
