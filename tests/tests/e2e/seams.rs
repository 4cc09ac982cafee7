//! Seams: one part of the provider ends something (a browser session, a password, a role, the
//! account itself) and every other part must stop honouring what was issued under it.
//!
//! 1. Every way a session or grant ends: a code issued before it no longer redeems, the refresh
//!    token of a grant issued before it no longer refreshes, and its access token is no longer
//!    accepted by userinfo or introspection; in the database, no grant issued before it is left
//!    unrevoked and no session open. The one exception is plain logout, after which an
//!    `offline_access` grant lives on (OpenID Connect Core §11).
//! 2. Races: a stolen session cookie used in a tight loop at the authorization endpoint while
//!    the owner changes their password, or loses a role: no grant may outlive the change.
//! 3. Required actions: recovery enrolment that was started and abandoned is asked for again at
//!    the next sign-in, and "Forgot your password?" for an account that never enrolled does not
//!    ask questions that have no answers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use oidc_core::{Actor, NewClient, RefreshPolicy};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{Value, json};
use url::Url;

use crate::common::db::Bind;
use crate::common::mfa::{give_token, passcode, password_and_passcode};
use crate::common::pages::{
    activate, get, post, questions_form, see_other_location_abs, word_form,
};
use crate::common::*;

const POST_LOGOUT: &str = "http://127.0.0.1:9999/signed-out";
/// The password an owner changes to.
const NEW_PASSWORD: &str = "copper lighthouse sonata";
/// The password of an account activated (with recovery data) before the test signs in.
const ACTIVATED_PASSWORD: &str = "lantern orchard violin";
/// The password set through "Forgot your password?".
const RECOVERED_PASSWORD: &str = "harbour meadow cello";
/// Where the default configuration tells people to call.
const DESK_PHONE: &str = "1-877-311-4300";

/// A provider whose codes and access tokens outlive the clock moves of these tests (so that an
/// `invalid_grant` or a 401 can only come from the ending under test), and whose backstop locks
/// an account at the third failure.
async fn server() -> TestServer {
    TestServer::start_with(
        |c| {
            c.code_ttl(Duration::from_secs(600))
                .access_token_ttl(Duration::from_secs(3600))
                .lockout_threshold(3)
        },
        Vec::new(),
    )
    .await
}

/// A confidential client and its secret.
#[derive(Clone)]
struct Rp {
    id: String,
    secret: String,
}

impl Rp {
    /// The seeded client (password only; refresh tokens with `offline_access`).
    fn seeded(server: &TestServer) -> Rp {
        Rp {
            id: server.client_id().to_string(),
            secret: server.client_secret().to_string(),
        }
    }

    async fn register(server: &TestServer, client: NewClient) -> Rp {
        let reg = server.provider.register_client(client).await.unwrap();
        Rp {
            id: reg.client.client_id,
            secret: reg
                .client_secret
                .expect("confidential")
                .secret()
                .to_string(),
        }
    }

    fn basic(&self) -> Option<(&str, &str)> {
        Some((self.id.as_str(), self.secret.as_str()))
    }
}

/// An authorization request of `rp` with `scope` (state `st-123`, the RFC 7636 challenge).
fn request(server: &TestServer, rp: &Rp, scope: &str) -> String {
    let mut params = server.authorize_params();
    for (k, v) in params.iter_mut() {
        match k.as_str() {
            "client_id" => *v = rp.id.clone(),
            "scope" => *v = scope.to_string(),
            _ => {}
        }
    }
    server.authorize_url(&params)
}

/// The session cookie a response sets, as `name=value`.
fn session_cookie(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .find(|c| {
            (c.starts_with("iam_session=") || c.starts_with("__Host-iam_session="))
                && !c.ends_with('=')
        })
        .map(str::to_string)
}

/// Signs `username` in with `password` at the sign-in page `url` leads to (a client that needs
/// no second factor); returns the code and the session cookie set.
async fn sign_in_as(
    http: &reqwest::Client,
    server: &TestServer,
    url: &str,
    username: &str,
    password: &str,
) -> (String, String) {
    let res = http.get(url).send().await.unwrap();
    let page = open_signin(http, res).await;
    let res = submit_password(http, &page, username, password).await;
    let cookie = session_cookie(&res).expect("the sign-in sets the session cookie");
    let params = assert_code_redirect(&see_other_location(&res), server, Some("st-123"));
    (params["code"].clone(), cookie)
}

/// A code for `url` from the browser's live session (no sign-in page).
async fn code_from_session(http: &reqwest::Client, server: &TestServer, url: &str) -> String {
    let res = http.get(url).send().await.unwrap();
    assert_code_redirect(&see_other_location(&res), server, Some("st-123"))["code"].clone()
}

async fn redeem(server: &TestServer, rp: &Rp, code: &str) -> JsonAnswer {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", PKCE_VERIFIER),
    ];
    server.token_request(&browser(), &form, rp.basic()).await
}

async fn refresh(server: &TestServer, rp: &Rp, refresh_token: &str) -> JsonAnswer {
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    server.token_request(&browser(), &form, rp.basic()).await
}

/// RFC 7662 introspection of `token` by `rp`.
async fn introspect(server: &TestServer, rp: &Rp, token: &str) -> Value {
    let res = browser()
        .post(server.url("/introspect"))
        .basic_auth(&rp.id, Some(&rp.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "introspection answers 200");
    res.json().await.unwrap()
}

/// Asserts a 400 `invalid_grant` from the token endpoint.
fn assert_invalid_grant(answer: &JsonAnswer, what: &str) {
    assert_eq!(
        (answer.status, answer.json["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{what}: {:?}",
        answer.json
    );
}

/// A redeemed grant's tokens.
struct Tokens {
    refresh: String,
    access: String,
    id_token: String,
}

/// With the browser signed in already: a code for `scope` from the session, redeemed (the scope
/// must give a refresh token); checks the access token works now.
async fn grant(server: &TestServer, http: &reqwest::Client, rp: &Rp, scope: &str) -> Tokens {
    let code = code_from_session(http, server, &request(server, rp, scope)).await;
    let tokens = redeem(server, rp, &code).await;
    assert_eq!(tokens.status, StatusCode::OK, "{:?}", tokens.json);
    let field = |name: &str| {
        tokens.json[name]
            .as_str()
            .unwrap_or_else(|| panic!("{scope}: no {name} in {:?}", tokens.json))
            .to_string()
    };
    let (refresh, access, id_token) = (
        field("refresh_token"),
        field("access_token"),
        field("id_token"),
    );
    assert_eq!(
        server.userinfo(&browser(), &access).await.status,
        StatusCode::OK
    );
    assert_eq!(introspect(server, rp, &access).await["active"], json!(true));
    Tokens {
        refresh,
        access,
        id_token,
    }
}

/// What a client holds from before an ending: a code not yet redeemed, and a redeemed grant's
/// tokens.
struct Held {
    rp: Rp,
    code: String,
    refresh: String,
    access: String,
    id_token: String,
}

/// With the browser signed in already: a grant redeemed ([`grant`]) and a second code left
/// unredeemed.
async fn hold(server: &TestServer, http: &reqwest::Client, rp: &Rp, scope: &str) -> Held {
    let tokens = grant(server, http, rp, scope).await;
    let code = code_from_session(http, server, &request(server, rp, scope)).await;
    Held {
        rp: rp.clone(),
        code,
        refresh: tokens.refresh,
        access: tokens.access,
        id_token: tokens.id_token,
    }
}

/// Everything held from before the ending is dead: the code, the refresh token and the access
/// token.
async fn assert_all_dead(server: &TestServer, held: &Held, ending: &str) {
    assert_invalid_grant(
        &redeem(server, &held.rp, &held.code).await,
        &format!("{ending}: a code issued before it"),
    );
    assert_invalid_grant(
        &refresh(server, &held.rp, &held.refresh).await,
        &format!("{ending}: a refresh token issued before it"),
    );
    let answer = server.userinfo(&browser(), &held.access).await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "{ending}: userinfo with an access token issued before it: {:?}",
        answer.json
    );
    assert_eq!(
        introspect(server, &held.rp, &held.access).await,
        json!({ "active": false }),
        "{ending}: introspection of an access token issued before it"
    );
}

/// Grants of the seeded user created before `t` and not revoked.
async fn live_grants_before(server: &TestServer, t: chrono::DateTime<chrono::Utc>) -> i64 {
    server
        .count(
            "SELECT COUNT(*) AS n FROM grants WHERE user_id = ? AND revoked_at IS NULL AND created_at < ?",
            vec![Bind::from(server.user.id.as_str()), Bind::from(t)],
        )
        .await
}

/// Sessions of the seeded user created before `t` and not ended.
async fn open_sessions_before(server: &TestServer, t: chrono::DateTime<chrono::Utc>) -> i64 {
    server
        .count(
            "SELECT COUNT(*) AS n FROM sessions WHERE user_id = ? AND ended_at IS NULL AND created_at < ?",
            vec![Bind::from(server.user.id.as_str()), Bind::from(t)],
        )
        .await
}

/// The ways a session and its grants end, other than logout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// "Update / Change your password" at the portal, by the owner in another browser.
    PasswordChange,
    /// "Forgot your password?" (passcode, secret word, two questions, new password).
    PasswordReset,
    /// The service desk issues a temporary password.
    TemporaryPassword,
    /// An administrator removes the account's roles.
    RoleRemoval,
    /// The backstop lockout after wrong passwords.
    Lock,
    /// An administrator disables the account.
    Disable,
    /// An administrator deletes the account's credentials.
    DeleteCredentials,
}

/// Starts the owner's "Update / Change your password" in `http` and stops on the new password
/// page, one POST away from the change; returns the journey.
async fn change_password_up_to_new(
    server: &TestServer,
    http: &reqwest::Client,
    password: &str,
) -> Url {
    server.align_clock(30, 2);
    let res = http
        .get(server.url("/change-password"))
        .send()
        .await
        .unwrap();
    let journey = see_other_location_abs(server, &res);
    let page = get(http, &journey).await;
    assert!(page.contains("your current password"), "{page}");
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("password", password.into()),
            ("passcode", passcode(server)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(http, &journey).await;
    assert!(page.contains("Create a new password"), "{page}");
    journey
}

/// Posts the new password page of `journey`.
async fn post_new_password(
    http: &reqwest::Client,
    journey: &Url,
    new_password: &str,
) -> reqwest::Response {
    let page = get(http, journey).await;
    assert!(page.contains("Create a new password"), "{page}");
    let form = [
        ("csrf".to_string(), csrf_of(&page)),
        ("new_password".to_string(), new_password.to_string()),
        ("confirm_password".to_string(), new_password.to_string()),
    ];
    post(http, journey, &form).await
}

/// Asserts that the new password was taken: the change is in the audit log, and the answer is
/// the page that says the password works (or a 303 on to further pages), not the new password
/// page again with a message.
async fn assert_taken(server: &TestServer, res: reqwest::Response) {
    let status = res.status();
    let page = res.text().await.unwrap();
    assert!(
        status == StatusCode::SEE_OTHER
            || (status == StatusCode::OK && page.contains("Your account is ready")),
        "the new password is not taken ({status}):\n{page}"
    );
    let changed = server
        .provider
        .audit_events(None, 1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event == "password.changed")
        .count();
    assert_eq!(changed, 1, "one password.changed in the audit log");
}

/// "Forgot your password?" for the seeded account, activated with [`activate`]'s recovery data.
async fn forgot_password(server: &TestServer, http: &reqwest::Client) {
    server.advance_clock(30);
    let res = http
        .get(server.url("/forgot-password"))
        .send()
        .await
        .unwrap();
    let journey = see_other_location_abs(server, &res);
    let page = get(http, &journey).await;
    assert!(page.contains("Forgot your password?"), "{page}");
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("passcode", passcode(server)),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(http, &journey).await;
    let asked: Vec<String> = page
        .split("<label for=\"answer_")
        .skip(1)
        .filter_map(|p| p.split('>').nth(1))
        .map(|p| p.split('<').next().unwrap_or_default().to_string())
        .collect();
    assert_eq!(asked.len(), 2, "{page}");
    let answer_for = |q: &str| -> String {
        let q = q
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&amp;", "&");
        let i = oidc_core::DEFAULT_RECOVERY_QUESTIONS
            .iter()
            .position(|x| *x == q)
            .expect("a known question");
        format!("answer number {i}")
    };
    let res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("secret_word", "Marmalade".into()),
            ("answer_0", answer_for(&asked[0])),
            ("answer_1", answer_for(&asked[1])),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "the answers are right");
    let res = post_new_password(http, &journey, RECOVERED_PASSWORD).await;
    let last = res.text().await.unwrap();
    assert!(
        last.contains("Your account is ready") || last.contains("password works"),
        "{last}"
    );
}

/// Three wrong passwords from another browser: the third locks the account.
async fn lock_out(server: &TestServer) {
    let attacker = browser();
    for _ in 0..3 {
        let mut params = server.authorize_params();
        params.push(("prompt".into(), "login".into()));
        let res = attacker
            .get(server.authorize_url(&params))
            .send()
            .await
            .unwrap();
        let page = open_signin(&attacker, res).await;
        let res = submit_password(&attacker, &page, USERNAME, "a wrong password").await;
        assert_eq!(res.status(), StatusCode::OK);
        let body = res.text().await.unwrap();
        assert!(body.contains(BAD_CREDENTIALS), "{body}");
    }
    assert!(server.provider.is_locked(USERNAME).await.unwrap());
}

/// The ending, done.
async fn end(server: &TestServer, ending: Ending) {
    let desk = Actor::BreakGlass;
    match ending {
        Ending::PasswordChange => {
            let owner = browser();
            let journey = change_password_up_to_new(server, &owner, PASSWORD).await;
            let res = post_new_password(&owner, &journey, NEW_PASSWORD).await;
            assert_taken(server, res).await;
        }
        Ending::PasswordReset => forgot_password(server, &browser()).await,
        Ending::TemporaryPassword => {
            server
                .provider
                .issue_temporary_password(&desk, USERNAME)
                .await
                .unwrap();
        }
        Ending::RoleRemoval => {
            let user = server
                .provider
                .set_roles(&desk, USERNAME, Vec::new())
                .await
                .unwrap();
            assert!(user.roles.is_empty(), "{user:?}");
        }
        Ending::Lock => lock_out(server).await,
        Ending::Disable => {
            let user = server
                .provider
                .set_account_disabled(&desk, USERNAME, true)
                .await
                .unwrap();
            assert!(user.disabled);
        }
        Ending::DeleteCredentials => {
            server
                .provider
                .delete_credentials(&desk, USERNAME)
                .await
                .unwrap();
        }
    }
}

/// A browser signs in; the seeded client holds a code, an `offline_access` grant's refresh
/// token and its access token; then `ending`: all three die, and in the database no grant from
/// before it is left unrevoked and no session open.
async fn everything_issued_before_dies_with(ending: Ending) {
    let server = server().await;
    let mut password = PASSWORD;
    if matches!(ending, Ending::PasswordChange | Ending::PasswordReset) {
        give_token(&server, USERNAME).await;
    }
    if ending == Ending::PasswordReset {
        server.align_clock(30, 2);
        activate(&server, &browser(), ACTIVATED_PASSWORD).await;
        password = ACTIVATED_PASSWORD;
    }
    let rp = Rp::seeded(&server);
    let http = browser();
    sign_in_as(
        &http,
        &server,
        &request(&server, &rp, "openid"),
        USERNAME,
        password,
    )
    .await;
    let held = hold(&server, &http, &rp, "openid offline_access").await;

    server.advance_clock(1);
    let t = server.now();
    end(&server, ending).await;

    let what = format!("{ending:?}");
    assert_all_dead(&server, &held, &what).await;
    assert_eq!(
        live_grants_before(&server, t).await,
        0,
        "{what}: grants issued before it are revoked"
    );
    assert_eq!(
        open_sessions_before(&server, t).await,
        0,
        "{what}: sessions started before it are ended"
    );
    // The browser's session is gone: a new request goes to the sign-in page.
    let res = http
        .get(request(&server, &rp, "openid"))
        .send()
        .await
        .unwrap();
    let to = see_other_location(&res);
    assert!(to.path().starts_with("/signin/"), "{what}: {to}");
}

#[tokio::test]
async fn a_password_change_ends_the_codes_and_tokens_issued_before_it() {
    everything_issued_before_dies_with(Ending::PasswordChange).await;
}

#[tokio::test]
async fn a_password_reset_ends_the_codes_and_tokens_issued_before_it() {
    everything_issued_before_dies_with(Ending::PasswordReset).await;
}

#[tokio::test]
async fn a_temporary_password_ends_the_codes_and_tokens_issued_before_it() {
    everything_issued_before_dies_with(Ending::TemporaryPassword).await;
}

#[tokio::test]
async fn a_role_removal_ends_the_codes_and_tokens_issued_before_it() {
    everything_issued_before_dies_with(Ending::RoleRemoval).await;
}

#[tokio::test]
async fn a_lockout_ends_the_codes_and_tokens_issued_before_it() {
    everything_issued_before_dies_with(Ending::Lock).await;
}

#[tokio::test]
async fn disabling_ends_the_codes_and_tokens_issued_before_it() {
    everything_issued_before_dies_with(Ending::Disable).await;
}

#[tokio::test]
async fn deleting_credentials_ends_the_codes_and_tokens_issued_before_it() {
    everything_issued_before_dies_with(Ending::DeleteCredentials).await;
}

/// RP-initiated logout of the browser's session: a code issued before it, and the grant of a
/// client whose refresh policy is "always" (no `offline_access`), die with the session; an
/// `offline_access` grant of the same session lives on (OpenID Connect Core §11).
#[tokio::test]
async fn logout_ends_the_sessions_codes_and_tokens_but_not_offline_access() {
    let server = server().await;
    let always = Rp::register(
        &server,
        NewClient::new("Always refreshing app", [REDIRECT_URI])
            .first_party(true)
            .mfa_required(false)
            .refresh_policy(RefreshPolicy::Always)
            .post_logout_redirect_uris([POST_LOGOUT]),
    )
    .await;
    let offline = Rp::seeded(&server);
    let http = browser();
    sign_in_as(
        &http,
        &server,
        &request(&server, &always, "openid"),
        USERNAME,
        PASSWORD,
    )
    .await;
    // The session's grant without offline_access, and a code.
    let held = hold(&server, &http, &always, "openid").await;
    // The same session's offline_access grant.
    let kept = grant(&server, &http, &offline, "openid offline_access").await;
    let id_token = held.id_token.clone();

    server.advance_clock(1);
    let t = server.now();
    let res = http
        .get(server.url("/logout"))
        .query(&[
            ("id_token_hint", id_token.as_str()),
            ("post_logout_redirect_uri", POST_LOGOUT),
            ("state", "bye-1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("{POST_LOGOUT}?state=bye-1")
    );

    assert_all_dead(&server, &held, "logout").await;
    // §11: the offline_access grant outlives the browser session.
    let refreshed = refresh(&server, &offline, &kept.refresh).await;
    assert_eq!(
        refreshed.status,
        StatusCode::OK,
        "an offline_access refresh token survives logout: {:?}",
        refreshed.json
    );
    let access = refreshed.json["access_token"].as_str().unwrap();
    assert_eq!(
        server.userinfo(&browser(), access).await.status,
        StatusCode::OK
    );
    assert_eq!(
        introspect(&server, &offline, access).await["active"],
        json!(true)
    );

    // In the database: the session ended, and of its grants only the offline_access one lives.
    assert_eq!(
        open_sessions_before(&server, t).await,
        0,
        "the session ended"
    );
    let live = |offline: bool| {
        let server = &server;
        async move {
            server
                .count(
                    &format!(
                        "SELECT COUNT(*) AS n FROM grants WHERE user_id = ? AND revoked_at IS NULL AND created_at < ? AND scope {} LIKE '%offline_access%'",
                        if offline { "" } else { "NOT" }
                    ),
                    vec![Bind::from(server.user.id.as_str()), Bind::from(t)],
                )
                .await
        }
    };
    assert_eq!(
        live(false).await,
        0,
        "the session's other grants are revoked"
    );
    assert_eq!(live(true).await, 1, "the offline_access grant lives");
}

// ---------------------------------------------------------------------------------------------
// Races

/// What the stolen-session loop saw for one request.
enum Seen {
    Code(String),
    SignIn,
}

/// The change the owner makes while the loop runs.
#[derive(Debug, Clone, Copy)]
enum Change {
    Password,
    Roles,
}

const WORKERS: usize = 4;
const PER_WORKER: usize = 60;

/// A stolen session cookie used by [`WORKERS`] concurrent loops of [`PER_WORKER`] authorization
/// requests (`offline_access` in scope) while the owner makes `change`. Afterwards no grant of
/// the account created at or after the moment of the change is left unrevoked, and no code the
/// loop got after the change's answer redeems.
async fn stolen_session_race(change: Change) {
    let server = server().await;
    give_token(&server, USERNAME).await;
    let rp = Rp::seeded(&server);
    let url = request(&server, &rp, "openid offline_access");
    let (_, cookie) = sign_in_as(&browser(), &server, &url, USERNAME, PASSWORD).await;
    // The owner's change, one request away.
    let owner = browser();
    let journey = match change {
        Change::Password => Some(change_password_up_to_new(&server, &owner, PASSWORD).await),
        Change::Roles => None,
    };

    let attacker = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (attacker, url, cookie, sent) =
            (attacker.clone(), url.clone(), cookie.clone(), sent.clone());
        loops.spawn(async move {
            let mut seen = Vec::new();
            for _ in 0..PER_WORKER {
                let res = attacker
                    .get(url.as_str())
                    .header(COOKIE, cookie.as_str())
                    .send()
                    .await
                    .expect("authorization request");
                let at = Instant::now();
                sent.fetch_add(1, Ordering::SeqCst);
                let to = see_other_location(&res);
                let outcome = if to.as_str().starts_with(REDIRECT_URI) {
                    let q = query_of(&to);
                    Seen::Code(q.get("code").cloned().unwrap_or_else(|| panic!("{to}")))
                } else {
                    assert!(to.path().starts_with("/signin/"), "{to}");
                    Seen::SignIn
                };
                seen.push((at, outcome));
            }
            seen
        });
    }
    // Let the loop get going.
    let waited = Instant::now();
    while sent.load(Ordering::SeqCst) < 40 {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "the loop does not run"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    server.advance_clock(1);
    let t = server.now();
    match change {
        Change::Password => {
            let res = post_new_password(&owner, journey.as_ref().unwrap(), NEW_PASSWORD).await;
            assert_taken(&server, res).await;
        }
        Change::Roles => {
            server
                .provider
                .set_roles(&Actor::BreakGlass, USERNAME, Vec::new())
                .await
                .unwrap();
        }
    }
    let changed = Instant::now();
    let during = sent.load(Ordering::SeqCst);

    let mut seen = Vec::new();
    let all = tokio::time::timeout(Duration::from_secs(300), async {
        while let Some(r) = loops.join_next().await {
            seen.extend(r.expect("loop task"));
        }
    })
    .await;
    assert!(all.is_ok(), "the loop did not finish in time");
    assert_eq!(seen.len(), WORKERS * PER_WORKER);
    let before = seen
        .iter()
        .filter(|(at, s)| *at < changed && matches!(s, Seen::Code(_)))
        .count();
    let after: Vec<&String> = seen
        .iter()
        .filter(|(at, _)| *at > changed)
        .filter_map(|(_, s)| match s {
            Seen::Code(c) => Some(c),
            Seen::SignIn => None,
        })
        .collect();
    eprintln!(
        "{change:?}: {} requests, {during} answered before the change's answer, {before} codes before it, {} after it",
        seen.len(),
        after.len()
    );
    assert!(before > 0, "the stolen session worked before the change");
    assert!(
        during < WORKERS * PER_WORKER,
        "the change came while the loop still ran"
    );

    let late = server
        .count(
            "SELECT COUNT(*) AS n FROM grants WHERE user_id = ? AND revoked_at IS NULL AND created_at >= ?",
            vec![Bind::from(server.user.id.as_str()), Bind::from(t)],
        )
        .await;
    assert_eq!(
        late, 0,
        "{change:?}: unrevoked grants created at or after the change"
    );
    for code in after {
        assert_invalid_grant(
            &redeem(&server, &rp, code).await,
            &format!("{change:?}: a code the stolen session got after the change"),
        );
    }
    // The stolen cookie is worth nothing now.
    let res = attacker
        .get(url.as_str())
        .header(COOKIE, cookie.as_str())
        .send()
        .await
        .unwrap();
    let to = see_other_location(&res);
    assert!(to.path().starts_with("/signin/"), "{to}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stolen_session_gets_no_grant_that_outlives_a_password_change() {
    stolen_session_race(Change::Password).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stolen_session_gets_no_grant_that_outlives_a_role_removal() {
    stolen_session_race(Change::Roles).await;
}

// ---------------------------------------------------------------------------------------------
// Required actions

/// The seeded account with a token, and a first-party client that needs the second factor.
async fn mfa_setup() -> (TestServer, String) {
    let server = TestServer::start().await;
    give_token(&server, USERNAME).await;
    let client = server
        .provider
        .register_client(NewClient::new("MFA app", [REDIRECT_URI]).first_party(true))
        .await
        .unwrap();
    (server, client.client.client_id)
}

/// Whether the seeded account has no recovery data at all.
async fn unenrolled(server: &TestServer) -> bool {
    server
        .count(
            "SELECT COUNT(*) AS n FROM users WHERE username = ? AND secret_word_hash IS NULL AND recovery_answers IS NULL",
            vec![Bind::from(USERNAME)],
        )
        .await
        == 1
}

/// The service desk's temporary password, then a sign-in that sets a new password and stops at
/// `stop` ("Choose a secret word", or "Choose your challenge questions" after the word).
async fn abandon_enrolment_at(server: &TestServer, client_id: &str, stop: &str) {
    let temporary = server
        .provider
        .issue_temporary_password(&Actor::BreakGlass, USERNAME)
        .await
        .unwrap();
    server.align_clock(30, 2);
    let http = browser();
    let (journey, res) = password_and_passcode(
        &http,
        server,
        client_id,
        temporary.secret(),
        &passcode(server),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(see_other_location(&res).as_str(), journey.as_str());
    let res = post_new_password(&http, &journey, NEW_PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = get(&http, &journey).await;
    assert!(page.contains("Choose a secret word"), "{page}");
    if stop == "Choose your challenge questions" {
        let res = post(&http, &journey, &word_form(&page, "Marmalade", "Marmalade")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let page = get(&http, &journey).await;
        assert!(page.contains(stop), "{page}");
    }
    // The person closes the browser here.
    assert_eq!(
        server
            .count(
                "SELECT COUNT(*) AS n FROM users WHERE username = ? AND NOT password_temporary",
                vec![Bind::from(USERNAME)],
            )
            .await,
        1,
        "the new password is set"
    );
    assert!(unenrolled(server).await, "no recovery data was stored");
}

/// The next sign-in from the client (a new browser): password and passcode, then the secret
/// word, then the five questions, and only then the code.
async fn next_sign_in_walks_through_enrolment(server: &TestServer, client_id: &str) {
    server.advance_clock(30);
    let http = browser();
    let (journey, res) =
        password_and_passcode(&http, server, client_id, NEW_PASSWORD, &passcode(server)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let next = see_other_location(&res);
    assert_eq!(
        next.as_str(),
        journey.as_str(),
        "the required actions come before any code goes to the client"
    );
    let page = get(&http, &journey).await;
    assert!(page.contains("Choose a secret word"), "{page}");
    let res = post(
        &http,
        &journey,
        &word_form(&page, "Quince jam", "Quince jam"),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(see_other_location(&res).as_str(), journey.as_str());
    let page = get(&http, &journey).await;
    assert!(page.contains("Choose your challenge questions"), "{page}");
    let res = post(
        &http,
        &journey,
        &questions_form(&page, &[0, 1, 2, 3, 4], "answer number"),
    )
    .await;
    assert_code_redirect(&see_other_location(&res), server, Some("st-123"));
    assert!(!unenrolled(server).await, "the recovery data is stored");
}

/// A temporary password, a new password, then the person leaves at "Choose a secret word": the
/// next sign-in from a client asks for the secret word and the questions before the code.
#[tokio::test]
async fn enrolment_abandoned_at_the_secret_word_is_asked_again_at_the_next_sign_in() {
    let (server, client_id) = mfa_setup().await;
    abandon_enrolment_at(&server, &client_id, "Choose a secret word").await;
    next_sign_in_walks_through_enrolment(&server, &client_id).await;
}

/// As above, leaving after the secret word, at "Choose your challenge questions" (the word was
/// kept in the journey only): the next sign-in asks for both again.
#[tokio::test]
async fn enrolment_abandoned_at_the_questions_is_asked_again_at_the_next_sign_in() {
    let (server, client_id) = mfa_setup().await;
    abandon_enrolment_at(&server, &client_id, "Choose your challenge questions").await;
    next_sign_in_walks_through_enrolment(&server, &client_id).await;
}

/// "Forgot your password?" for an account that never enrolled recovery data (right username and
/// passcode): there are no answers to check, so no questions are asked; the page tells the
/// person to call the service desk.
#[tokio::test]
async fn forgot_password_without_recovery_data_says_to_call_the_service_desk() {
    let (server, _) = mfa_setup().await;
    assert!(unenrolled(&server).await);
    server.align_clock(30, 2);
    let http = browser();
    let res = http
        .get(server.url("/forgot-password"))
        .send()
        .await
        .unwrap();
    let journey = see_other_location_abs(&server, &res);
    let page = get(&http, &journey).await;
    assert!(page.contains("Forgot your password?"), "{page}");
    let mut res = http
        .post(journey.as_str())
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", USERNAME.into()),
            ("passcode", passcode(&server)),
        ])
        .send()
        .await
        .unwrap();
    // Follow the provider's redirects to the page the person sees.
    for _ in 0..5 {
        if res.status() != StatusCode::SEE_OTHER {
            break;
        }
        let to = see_other_location(&res);
        res = http.get(to).send().await.unwrap();
    }
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    for field in [
        "name=\"secret_word\"",
        "name=\"answer_0\"",
        "name=\"answer_1\"",
    ] {
        assert!(
            !page.contains(field),
            "no questions form ({field}):\n{page}"
        );
    }
    // The page itself (not the footer every page has) says whom to call.
    let main = page
        .split("<footer class=\"support\"")
        .next()
        .unwrap_or_default();
    assert!(
        main.to_lowercase().contains("service desk") && main.contains(DESK_PHONE),
        "the page tells the person to call the service desk at {DESK_PHONE}:\n{main}"
    );
    assert!(unenrolled(&server).await);
}
