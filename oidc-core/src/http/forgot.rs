//! "Forgot your password?": username, then the token passcode, then the secret word and two of
//! the five challenge questions, then a new password. Recovery answers never suffice alone (the
//! passcode is always required), everything is checked at once on the second page, and the two
//! questions are fixed per account until its password changes, so that a caller cannot re-roll
//! until they get questions they know. An unknown username sees a stable made-up pair.

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::pages::{self, ForgotAnswersPage};
use crate::accounts::Account;
use crate::accounts::{self, throttle};
use crate::journey::{Journey, Step};
use crate::mfa::Verification;
use crate::secret::hmac_sha256;

#[derive(Deserialize, Default)]
struct From {
    #[serde(default)]
    from: String,
}

/// `GET /forgot-password[?from=JOURNEY]`.
pub(crate) async fn start(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let from = serde_urlencoded::from_str::<From>(q.as_deref().unwrap_or(""))
        .map(|f| f.from)
        .unwrap_or_default();
    let from = Some(from).filter(|f| {
        !f.is_empty() && f.len() <= 64 && f.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
    });
    super::authorize::start_journey(
        &s,
        &headers,
        None,
        vec![Step::ForgotIdentify, Step::ForgotAnswers],
        from,
    )
    .await
}

/// The enrolled (question, answer hash) pairs of an account.
fn stored_answers(user: Option<&Account>) -> Vec<(String, String)> {
    user.map(|u| {
        u.recovery
            .answers()
            .iter()
            .map(|a| (a.question.clone(), a.hash.clone()))
            .collect()
    })
    .unwrap_or_default()
}

/// The two questions asked of this username: the account's fixed pair, or a stable made-up one.
fn questions(s: &AppState, username: &str, user: Option<&Account>) -> (String, String) {
    let stored = stored_answers(user);
    let seed = match user {
        Some(u) if stored.len() >= 2 => {
            format!("pair:{}:{}", u.id, u.password.hash().unwrap_or(""))
        }
        _ => format!("pair-unknown:{username}"),
    };
    let mac = hmac_sha256(&s.config.audit_key, seed.as_bytes()).unwrap_or_default();
    let pool: Vec<String> = if stored.len() >= 2 {
        stored.iter().map(|(q, _)| q.clone()).collect()
    } else {
        s.config.recovery_questions.clone()
    };
    let n = pool.len().max(2);
    let a = usize::from(mac.first().copied().unwrap_or(0)) % n;
    let mut b = usize::from(mac.get(1).copied().unwrap_or(1)) % (n - 1);
    if b >= a {
        b += 1;
    }
    let get = |i: usize| pool.get(i).cloned().unwrap_or_default();
    (get(a), get(b))
}

pub(crate) async fn answers_page(s: &AppState, j: &Journey, action: &str) -> Response {
    let username = j.claimed_username.clone().unwrap_or_default();
    let user = accounts::find_by_username(&s.db, &username)
        .await
        .ok()
        .flatten();
    let (q0, q1) = questions(s, &username, user.as_ref());
    pages::render(
        StatusCode::OK,
        &ForgotAnswersPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Forgot your password?",
            action,
            csrf: &j.form_token(),
            question_0: &q0,
            question_1: &q1,
        },
    )
}

#[derive(Deserialize, Default)]
struct IdentifyForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    passcode: String,
}

/// Page 1: hold the username and passcode (nothing is checked yet).
pub(crate) fn identify(mut j: Journey, body: &[u8]) -> Result<Journey, &'static str> {
    let form: IdentifyForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let username = form.username.trim();
    let code = form.passcode.trim();
    if username.is_empty() || username.len() > 254 {
        return Err("Enter your username.");
    }
    if code.is_empty() || code.len() > 16 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err("A passcode has digits only (up to 16).");
    }
    j.claimed_username = Some(accounts::normalize_username(username));
    j.held_passcode = Some(code.to_string());
    j.advance();
    Ok(j)
}

/// Page 1 with what only the token's holder may learn: for an account that never enrolled a
/// secret word and questions, a right passcode here shows that the password cannot be reset on
/// these pages (never two questions the person did not choose); a wrong one, or any other
/// username, goes on to the questions exactly as before. Every path costs one verification, so
/// that timing does not tell an account without recovery data from any other.
pub(crate) async fn identify_checked(
    s: &AppState,
    j: Journey,
    address: Option<std::net::IpAddr>,
    body: &[u8],
) -> Result<Result<Journey, &'static str>, Response> {
    let j = match identify(j, body) {
        Ok(j) => j,
        Err(m) => return Ok(Err(m)),
    };
    let username = j.claimed_username.clone().unwrap_or_default();
    let user = match accounts::find_by_username(&s.db, &username).await {
        Ok(u) => u.filter(|u| !u.disabled && !u.recovery.is_enrolled()),
        Err(e) => return Err(pages::internal(s, &e)),
    };
    let attempt = throttle::Attempt {
        user: user.as_ref(),
        username: &username,
        address,
    };
    let refused = match throttle::refused(s, s.now(), &attempt).await {
        Ok(r) => r,
        Err(e) => return Err(pages::internal(s, &e)),
    };
    let factor = match &user {
        Some(u) if !refused => super::signin::factor_for(s, &u.id).await.ok().flatten(),
        _ => None,
    };
    let (Some(u), Some(factor)) = (user, factor) else {
        super::signin::equal_cost().await;
        return Ok(Ok(j));
    };
    let held = j.held_passcode.clone().unwrap_or_default();
    let accepted = matches!(
        factor
            .verify(&super::signin::account_of(&u), &held, None)
            .await,
        Ok(Verification::Accepted { .. })
    );
    if !accepted {
        return Ok(Ok(j));
    }
    Err(pages::message(
        s,
        "Your password cannot be reset here",
        &format!(
            "Your account has no secret word and challenge questions yet, so they cannot \
             confirm that it is you. Call the service desk at {}: after checking who you are, \
             they give you a temporary password, and your next sign-in asks you to choose \
             your secret word and questions.",
            s.config.support_phone
        ),
    ))
}

#[derive(Deserialize, Default)]
struct AnswersForm {
    #[serde(default)]
    secret_word: String,
    #[serde(default)]
    answer_0: String,
    #[serde(default)]
    answer_1: String,
}

/// Page 2: the passcode, the secret word and both answers, all checked (and all costing the
/// same whatever the username); `Ok` continues to the new password.
pub(crate) async fn answers(
    s: &AppState,
    mut j: Journey,
    address: Option<std::net::IpAddr>,
    body: &[u8],
) -> Result<Journey, Journey> {
    let form: AnswersForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let held = j.held_passcode.take().unwrap_or_default();
    let username = j.claimed_username.clone().unwrap_or_default();
    let user = accounts::find_by_username(&s.db, &username)
        .await
        .ok()
        .flatten()
        .filter(|u| !u.disabled);
    let now = s.now();
    let attempt = throttle::Attempt {
        user: user.as_ref(),
        username: &username,
        address,
    };
    let refused = throttle::refused(s, now, &attempt).await.unwrap_or(true);
    let restart = |mut j: Journey| {
        j.restart(vec![Step::ForgotIdentify, Step::ForgotAnswers]);
        j
    };
    let (q0, q1) = questions(s, &username, user.as_ref());
    let stored = stored_answers(user.as_ref());
    let hash_of = |q: &str| {
        stored
            .iter()
            .find(|(x, _)| x == q)
            .map(|(_, h)| h.clone())
            .filter(|_| !refused)
    };
    let word_hash = user
        .as_ref()
        .and_then(|u| u.recovery.secret_word_hash().map(str::to_string))
        .filter(|_| !refused);
    // Three verifications on every path (dummy ones where there is nothing to check).
    let w = accounts::password::verify(
        &crate::Secret::new(accounts::normalize_answer(&form.secret_word)),
        word_hash,
    )
    .await
    .unwrap_or(false);
    let a0 = accounts::password::verify(
        &crate::Secret::new(accounts::normalize_answer(&form.answer_0)),
        hash_of(&q0),
    )
    .await
    .unwrap_or(false);
    let a1 = accounts::password::verify(
        &crate::Secret::new(accounts::normalize_answer(&form.answer_1)),
        hash_of(&q1),
    )
    .await
    .unwrap_or(false);
    let Some(u) = user.clone().filter(|_| !refused) else {
        // What the passcode costs a known account (an argon2 verification: its PIN's, or a dummy
        // one), so that an unknown or refused username does not answer faster. It counts
        // against its (name, address) pair and the address, as a known one does.
        super::signin::equal_cost().await;
        if !refused {
            let _ = throttle::record_failure(s, &attempt).await;
        }
        return Err(restart(j));
    };
    let account = super::signin::account_of(&u);
    let knowledge_ok = w && a0 && a1;
    // The passcode is verified only when the answers are right (like a password), else spent.
    let token_ok = if knowledge_ok {
        let factor = super::signin::factor_for(s, &u.id).await.ok().flatten();
        match factor {
            Some(f) => matches!(
                f.verify(&account, &held, None).await,
                Ok(Verification::Accepted { .. })
            ),
            None => {
                super::signin::equal_cost().await;
                false
            }
        }
    } else {
        let _ = s.tokens.spend(&u.id, &held).await;
        false
    };
    if knowledge_ok && token_ok {
        let _ = throttle::record_success(&s.db, &u, address).await;
        let _ = crate::audit::record(
            &s.db,
            &s.config.audit_key,
            now,
            &crate::audit::Actor::User(u.username.clone()),
            "recovery.used",
            Some(&u.username),
            serde_json::json!({}),
        )
        .await;
        j.user_id = Some(u.id.clone());
        j.password_ok = true;
        j.add_amr(&["kba".to_string(), "otp".to_string()]);
        j.steps = vec![Step::ChangePassword];
        Ok(j)
    } else {
        let _ = throttle::record_failure(s, &attempt).await;
        Err(restart(j))
    }
}
