//! No user enumeration in "Update / Change your password" and "Forgot your password?": at every
//! step, an unknown username and a known one with wrong credentials get the same answer (status,
//! page text once the journey id and form token are masked, the cookies set, where a redirect
//! points), and where there is no account the dummy hash is verified instead of a real one, so
//! that both cost an argon2 verification per secret. Timing itself is not measured.
//!
//! The dummy-hash counter is one per process, so the tests of this binary run one at a time.

#[path = "e2e/common/mod.rs"]
mod common;

use common::*;
use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use oidc_core::{Actor, DEFAULT_RECOVERY_QUESTIONS, NewUser};
use reqwest::StatusCode;
use url::Url;

const SEED: &[u8] = b"12345678901234567890";
const SERIAL: &str = "EN-0001";
const NEW_PASSWORD: &str = "lantern orchard violin";
/// A second account: a password, but no token and no recovery data.
const BARE: &str = "pat.bare";
const BAD_ANY: &str = "The username, passcode or temporary password is incorrect";

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn code(server: &TestServer) -> String {
    totp_at_step(
        SEED,
        time_step(server.now().timestamp(), 30),
        6,
        OtpAlgorithm::Sha1,
    )
    .unwrap()
}

/// One answer, reduced to what a person (or a script) could compare.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    status: StatusCode,
    /// `Location` with the journey id masked.
    location: Option<String>,
    /// The names of the cookies set.
    cookies: Vec<String>,
    content_type: Option<String>,
    cache_control: Option<String>,
    /// The page with the journey id, the form token and the questions asked masked.
    body: String,
}

fn mask_journeys(text: &str) -> String {
    let mut out = String::new();
    let mut parts = text.split("/signin/");
    out.push_str(parts.next().unwrap_or_default());
    for part in parts {
        let id_len = part
            .find(|c: char| !(c.is_ascii_hexdigit() || c == '-'))
            .unwrap_or(part.len());
        out.push_str("/signin/JOURNEY");
        out.push_str(&part[id_len..]);
    }
    out
}

/// The questions of the forgot-password page, as shown.
fn questions(page: &str) -> Vec<String> {
    page.split("<label for=\"answer_")
        .skip(1)
        .filter_map(|p| p.split_once('>'))
        .map(|(_, rest)| rest.split('<').next().unwrap_or_default().to_string())
        .collect()
}

async fn seen(res: reqwest::Response) -> Seen {
    seen_raw(res).await.0
}

/// As [`seen`], with the page as served.
async fn seen_raw(res: reqwest::Response) -> (Seen, String) {
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let location = header("location").map(|l| mask_journeys(&l));
    let content_type = header("content-type");
    let cache_control = header("cache-control");
    let mut cookies: Vec<String> = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split('=').next())
        .map(str::to_string)
        .collect();
    cookies.sort();
    let status = res.status();
    let raw = res.text().await.unwrap();
    let mut body = raw.clone();
    if body.contains(r#"name="csrf""#) {
        body = body.replace(&csrf_of(&body), "CSRF");
    }
    for (i, q) in questions(&body).iter().enumerate() {
        body = body.replace(&format!(">{q}<"), &format!(">QUESTION {i}<"));
    }
    let seen = Seen {
        status,
        location,
        cookies,
        content_type,
        cache_control,
        body: mask_journeys(&body),
    };
    (seen, raw)
}

/// A server whose seeded account has a token and recovery data (secret word "Marmalade",
/// question i answered "answer number i", after activation with [`NEW_PASSWORD`]), and a
/// second account [`BARE`] with a password only.
async fn setup() -> TestServer {
    setup_with(|c| c).await
}

/// As [`setup`], with configuration changes.
async fn setup_with(
    configure: impl FnOnce(oidc_core::ProviderConfigBuilder) -> oidc_core::ProviderConfigBuilder,
) -> TestServer {
    let server = TestServer::start_with(configure, Vec::new()).await;
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
    server
        .provider
        .create_user(NewUser {
            username: BARE.into(),
            email: "pat.bare@example.org".into(),
            name: None,
            roles: Vec::new(),
            password: Some(PASSWORD.into()),
        })
        .await
        .unwrap();
    server.align_clock(30, 2);
    activate(&server).await;
    server
}

async fn activate(server: &TestServer) {
    let temporary = server
        .provider
        .issue_temporary_password(&Actor::BreakGlass, USERNAME)
        .await
        .unwrap();
    let http = browser();
    let res = http.get(server.url("/activate")).send().await.unwrap();
    let journey = see_other_location(&res);
    let step = |form: Vec<(String, String)>| {
        let (http, journey) = (http.clone(), journey.clone());
        async move {
            let page = http
                .get(journey.as_str())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let mut form = form;
            form.push(("csrf".into(), csrf_of(&page)));
            http.post(journey.as_str())
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    step(vec![
        pair("username", USERNAME),
        pair("passcode", &code(server)),
    ])
    .await;
    step(vec![
        pair("username", USERNAME),
        pair("password", temporary.secret()),
    ])
    .await;
    step(vec![
        pair("new_password", NEW_PASSWORD),
        pair("confirm_password", NEW_PASSWORD),
    ])
    .await;
    step(vec![
        pair("secret_word", "Marmalade"),
        pair("confirm_secret_word", "Marmalade"),
    ])
    .await;
    let mut questions = Vec::new();
    for i in 0..5 {
        questions.push(pair(&format!("question_{i}"), &i.to_string()));
        questions.push(pair(&format!("answer_{i}"), &format!("answer number {i}")));
    }
    let done = step(questions).await.text().await.unwrap();
    assert!(done.contains("Your account is ready"), "{done}");
}

/// Runs `f` and returns how many dummy verifications it caused.
async fn dummies<T>(server: &TestServer, f: impl std::future::Future<Output = T>) -> (T, u64) {
    let before = server.provider.dummy_verifications();
    let out = f.await;
    (out, server.provider.dummy_verifications() - before)
}

/// "Update / Change your password" has one page: username, current password and passcode, all
/// checked together. An unknown username, a wrong password and a wrong passcode look the same.
#[tokio::test]
async fn change_password_answers_an_unknown_user_like_a_known_one() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = setup().await;
    server.advance_clock(30);
    let right_code = code(&server);
    let cases = [
        (
            "unknown user",
            "nobody-here",
            "some password",
            right_code.as_str(),
        ),
        (
            "wrong password",
            USERNAME,
            "not my password",
            right_code.as_str(),
        ),
        ("wrong passcode", USERNAME, NEW_PASSWORD, "000000"),
    ];
    let mut answers = Vec::new();
    for (case, username, password, passcode) in cases {
        let http = browser();
        let res = http
            .get(server.url("/change-password"))
            .send()
            .await
            .unwrap();
        let journey = see_other_location(&res);
        let start = seen(res).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{case}");
        assert_eq!(start.location.as_deref(), Some("/signin/JOURNEY"), "{case}");
        assert_eq!(start.cookies, ["iam_browser"], "{case}");
        let (page, raw) = seen_raw(http.get(journey.as_str()).send().await.unwrap()).await;
        assert_eq!(page.status, StatusCode::OK, "{case}");
        let csrf = csrf_of(&raw);
        let (failure, dummy) = dummies(&server, async {
            seen(
                http.post(journey.as_str())
                    .form(&[
                        ("csrf", csrf.as_str()),
                        ("username", username),
                        ("password", password),
                        ("passcode", passcode),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
        .await;
        assert_eq!(failure.status, StatusCode::OK, "{case}");
        assert_eq!(failure.location, None, "{case}");
        assert!(failure.body.contains(BAD_ANY), "{case}: {}", failure.body);
        answers.push((case, start, page, failure, dummy));
    }
    let (_, start0, page0, failure0, dummy0) = &answers[0];
    for (case, start, page, failure, _) in &answers[1..] {
        assert_eq!(
            start, start0,
            "{case}: the start differs from an unknown user's"
        );
        assert_eq!(page, page0, "{case}: the first page differs");
        assert_eq!(failure, failure0, "{case}: the failure differs");
    }
    // Two argon2 verifications on every path: the password's (the account's own hash, or the
    // dummy for an unknown user) and the passcode's PIN (this token has none: the dummy).
    assert_eq!(*dummy0, 2, "unknown user");
    assert_eq!(answers[1].4, 1, "wrong password");
    assert_eq!(answers[2].4, 1, "wrong passcode");
    // Both failures of the known user were counted, as the unknown one's was by name.
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 2);
}

/// "Forgot your password?": page 1 (username and passcode) is held (checked only for an account
/// without recovery data), page 2 asks the secret word and two questions, and everything is
/// checked on its submit. An unknown username, a
/// known one with wrong answers, one with right answers but a wrong passcode, and an account
/// without recovery data look the same at every step.
#[tokio::test]
async fn forgot_password_answers_an_unknown_user_like_a_known_one() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = setup().await;
    server.advance_clock(30);
    let right_code = code(&server);
    let answer_for = |q: &str| -> String {
        let q = q
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&amp;", "&");
        DEFAULT_RECOVERY_QUESTIONS
            .iter()
            .position(|x| *x == q)
            .map(|i| format!("answer number {i}"))
            .unwrap_or_else(|| "no idea".into())
    };
    // (case, username, passcode, right answers?)
    let cases = [
        ("unknown user", "nobody-here", right_code.as_str(), false),
        ("wrong answers", USERNAME, right_code.as_str(), false),
        ("wrong passcode", USERNAME, "000000", true),
        ("no recovery data", BARE, "123456", false),
    ];
    let mut answers = Vec::new();
    for (case, username, passcode, right) in cases {
        let http = browser();
        let res = http
            .get(server.url("/forgot-password"))
            .send()
            .await
            .unwrap();
        let journey = see_other_location(&res);
        let start = seen(res).await;
        assert_eq!(start.status, StatusCode::SEE_OTHER, "{case}");
        assert_eq!(start.location.as_deref(), Some("/signin/JOURNEY"), "{case}");
        assert_eq!(start.cookies, ["iam_browser"], "{case}");
        let page = http
            .get(journey.as_str())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let (held, dummy1) = dummies(&server, async {
            seen(
                http.post(journey.as_str())
                    .form(&[
                        ("csrf", csrf_of(&page).as_str()),
                        ("username", username),
                        ("passcode", passcode),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
        .await;
        assert_eq!(held.status, StatusCode::SEE_OTHER, "{case}");
        // Page 1 checks the passcode of an account without recovery data (a right one ends
        // there: such an account cannot be reset by questions); every other path spends one
        // dummy verification instead, so that timing tells none of them apart.
        assert_eq!(dummy1, 1, "{case}: page 1 costs one verification");
        let (page2, page2_raw) = seen_raw(http.get(journey.as_str()).send().await.unwrap()).await;
        assert_eq!(page2.status, StatusCode::OK, "{case}");
        let asked = questions(&page2_raw);
        assert_eq!(asked.len(), 2, "{case}: {page2_raw}");
        let (word, a0, a1) = if right {
            (
                "marmalade".to_string(),
                answer_for(&asked[0]),
                answer_for(&asked[1]),
            )
        } else {
            ("not the word".into(), "no idea".into(), "none".into())
        };
        let (failure, dummy2) = dummies(&server, async {
            seen(
                http.post(journey.as_str())
                    .form(&[
                        ("csrf", csrf_of(&page2_raw).as_str()),
                        ("secret_word", word.as_str()),
                        ("answer_0", a0.as_str()),
                        ("answer_1", a1.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
        .await;
        assert_eq!(failure.status, StatusCode::OK, "{case}");
        assert!(failure.body.contains(BAD_ANY), "{case}: {}", failure.body);
        answers.push((case, start, held, page2, failure, dummy2));
    }
    let (_, start0, held0, page0, failure0, _) = &answers[0];
    for (case, start, held, page2, failure, _) in &answers[1..] {
        assert_eq!(
            start, start0,
            "{case}: the start differs from an unknown user's"
        );
        assert_eq!(held, held0, "{case}: page 1's answer differs");
        assert_eq!(page2, page0, "{case}: page 2 differs");
        assert_eq!(failure, failure0, "{case}: the failure differs");
    }
    // Four argon2 verifications on every path: the secret word and two answers (the account's
    // own hashes, or the dummy where there is no account or no recovery data) and the
    // passcode's PIN (none here: the dummy).
    let dummy: Vec<(&str, u64)> = answers.iter().map(|a| (a.0, a.5)).collect();
    assert_eq!(
        dummy,
        [
            ("unknown user", 4),
            ("wrong answers", 1),
            ("wrong passcode", 1),
            ("no recovery data", 4)
        ]
    );
    // The failures are counted for known and unknown usernames alike.
    assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), 2);
    assert_eq!(server.provider.failure_count(BARE).await.unwrap(), 1);
}

/// While the (account, address) pair is throttled the credentials are not checked at all: the
/// dummy hash is verified instead, and the answer is the usual failure.
#[tokio::test]
async fn a_throttled_change_password_attempt_costs_a_dummy_verification() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = setup().await;
    let http = browser();
    let mut last = None;
    // The clock stands still: the block after the fifth failure (1 s) is still on at the sixth.
    server.advance_clock(30);
    let passcode = code(&server);
    for n in 0..6 {
        let res = http
            .get(server.url("/change-password"))
            .send()
            .await
            .unwrap();
        let journey: Url = see_other_location(&res);
        let page = http
            .get(journey.as_str())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let password = if n < 5 {
            "not my password"
        } else {
            NEW_PASSWORD
        };
        let (failure, dummy) = dummies(&server, async {
            seen(
                http.post(journey.as_str())
                    .form(&[
                        ("csrf", csrf_of(&page).as_str()),
                        ("username", USERNAME),
                        ("password", password),
                        ("passcode", passcode.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        })
        .await;
        assert_eq!(failure.status, StatusCode::OK);
        assert!(failure.body.contains(BAD_ANY), "{}", failure.body);
        if let Some(previous) = &last {
            assert_eq!(&failure, previous, "attempt {n}");
        }
        // Five wrong passwords are checked for real (and the PIN-less passcode against the
        // dummy); the sixth, right but throttled, is not checked: both against the dummy.
        assert_eq!(dummy, if n < 5 { 1 } else { 2 }, "attempt {n}");
        last = Some(failure);
    }
}

/// The sign-in page: an unknown username costs the dummy hash (one argon2 verification, as a
/// wrong password costs the account's own), and the two answers take about as long. The timing
/// bound is deliberately wide (medians within a factor of two over interleaved samples, so that
/// a loaded machine does not fail it): without the dummy hash an unknown username answers about
/// a hundred times faster than a wrong password, which this catches.
#[tokio::test]
async fn sign_in_costs_one_verification_and_about_the_same_time_for_unknown_and_known_users() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = TestServer::start_with(
        |c| {
            c.throttle_free_failures(1000)
                .address_failure_limit(1000)
                .lockout_threshold(1000)
        },
        Vec::new(),
    )
    .await;
    let http = browser();
    let attempt = |username: &'static str| {
        let (http, server) = (&http, &server);
        async move {
            let res = http
                .get(server.authorize_url(&server.authorize_params()))
                .send()
                .await
                .unwrap();
            let page = open_signin(http, res).await;
            let started = std::time::Instant::now();
            let (res, dummy) = dummies(
                server,
                submit_password(http, &page, username, "not the password"),
            )
            .await;
            let took = started.elapsed();
            let body = res.text().await.unwrap();
            assert!(body.contains(BAD_CREDENTIALS), "{username}: {body}");
            (took, dummy)
        }
    };
    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        let (t, d) = attempt("nobody-here").await;
        assert_eq!(d, 1, "an unknown username verifies the dummy hash");
        unknown.push(t);
        let (t, d) = attempt(USERNAME).await;
        assert_eq!(d, 0, "a known one verifies its own hash");
        known.push(t);
    }
    unknown.sort();
    known.sort();
    let (u, k) = (unknown[4].as_secs_f64(), known[4].as_secs_f64());
    let ratio = u / k;
    eprintln!("sign-in medians: unknown {u:.4} s, wrong password {k:.4} s, ratio {ratio:.2}");
    assert!(
        (0.5..=2.0).contains(&ratio),
        "unknown {u:.4} s vs wrong password {k:.4} s"
    );
}

/// Brute force on the recovery answers ("Forgot your password?" page 2): each wrong submit counts
/// a failure for the account; past the free failures the pair is throttled (even the right
/// answers are then refused, checked against the dummy hash only), and at the lockout threshold
/// the account locks. (Password and passcode: `throttle.rs`.)
#[tokio::test]
async fn recovery_answers_are_throttled_and_lock_the_account_like_passwords() {
    let _one = ONE_AT_A_TIME.lock().await;
    let server = setup_with(|c| c.throttle_free_failures(3).lockout_threshold(6)).await;
    server.advance_clock(30);
    let answer_for = |q: &str| -> String {
        let q = q
            .replace("&#39;", "'")
            .replace("&#x27;", "'")
            .replace("&amp;", "&");
        DEFAULT_RECOVERY_QUESTIONS
            .iter()
            .position(|x| *x == q)
            .map(|i| format!("answer number {i}"))
            .unwrap_or_else(|| "no idea".into())
    };
    let try_answers = |right: bool| {
        let server = &server;
        async move {
            let right_code = code(server);
            let http = browser();
            let res = http
                .get(server.url("/forgot-password"))
                .send()
                .await
                .unwrap();
            let journey = see_other_location(&res);
            let page = http
                .get(journey.as_str())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            http.post(journey.as_str())
                .form(&[
                    ("csrf", csrf_of(&page).as_str()),
                    ("username", USERNAME),
                    ("passcode", right_code.as_str()),
                ])
                .send()
                .await
                .unwrap();
            let page2 = http
                .get(journey.as_str())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let asked = questions(&page2);
            let (word, a0, a1) = if right {
                (
                    "marmalade".to_string(),
                    answer_for(&asked[0]),
                    answer_for(&asked[1]),
                )
            } else {
                (
                    "guess".to_string(),
                    "guess".to_string(),
                    "guess".to_string(),
                )
            };
            let (res, dummy) = dummies(server, async {
                http.post(journey.as_str())
                    .form(&[
                        ("csrf", csrf_of(&page2).as_str()),
                        ("secret_word", word.as_str()),
                        ("answer_0", a0.as_str()),
                        ("answer_1", a1.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap()
            })
            .await;
            let body = res.text().await.unwrap();
            (body.contains(BAD_ANY), dummy)
        }
    };
    for n in 1..=3 {
        let (failed, _) = try_answers(false).await;
        assert!(failed, "guess {n}");
        assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), n);
    }
    // Throttled: the right answers are refused and not checked (the dummy hash four times).
    let (failed, dummy) = try_answers(true).await;
    assert!(failed, "the right answers while throttled");
    assert_eq!(dummy, 4);
    let counted = server.provider.failure_count(USERNAME).await.unwrap();
    // Waiting out each delay (the clock moves past the longest one), guesses are checked and
    // counted again, up to the lock.
    for n in counted + 1..=6 {
        server.advance_clock(120);
        assert!(try_answers(false).await.0);
        assert_eq!(server.provider.failure_count(USERNAME).await.unwrap(), n);
    }
    assert!(server.provider.is_locked(USERNAME).await.unwrap());
    // Locked, and past the throttle delay: the right answers still fail.
    server.advance_clock(120);
    assert!(
        try_answers(true).await.0,
        "a locked account recovers nothing"
    );
}
