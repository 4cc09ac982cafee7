//! Required actions inside the sign-in journey: a new password after a temporary one, and the
//! recovery data (secret word and five challenge questions) when the account has none.
//! The pending authorization request resumes when they are done.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::pages::{self, NewPasswordPage, RecoveryPage};
use crate::accounts::policy::{self, PolicyContext};
use crate::accounts::{self, password};
use crate::journey::Journey;
use crate::store::models::UserRow;
use crate::{audit, sessions};

/// The longest secret word and answer accepted.
const MAX_WORD: usize = 64;
const MAX_ANSWER: usize = 128;

pub(crate) fn new_password_page(
    s: &AppState,
    j: &Journey,
    action: &str,
    username: &str,
    status: StatusCode,
    errors: Vec<String>,
) -> Response {
    pages::render(
        status,
        &NewPasswordPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Create a new password",
            intro: "Choose your new password. It works everywhere at once.",
            action,
            csrf: &j.form_token(),
            username,
            rules: s.config.password_policy.rules(),
            errors,
            max_len: s.config.password_policy.effective_max_length(),
        },
    )
}

pub(crate) fn recovery_page(
    s: &AppState,
    j: &Journey,
    action: &str,
    status: StatusCode,
    errors: Vec<String>,
) -> Response {
    pages::render(
        status,
        &RecoveryPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Set up your recovery information",
            action,
            csrf: &j.form_token(),
            questions: &s.config.recovery_questions,
            slots: (0..5).collect(),
            errors,
        },
    )
}

#[derive(Deserialize, Default)]
struct NewPasswordForm {
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// Checks and sets a new password for `user`; `Err` carries the messages to show.
pub(crate) async fn change_password(
    s: &AppState,
    user: &UserRow,
    body: &[u8],
) -> Result<Result<(), Vec<String>>, crate::Error> {
    let form: NewPasswordForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if form.new_password != form.confirm_password {
        return Ok(Err(vec!["The two passwords are not the same.".into()]));
    }
    let p = &s.config.password_policy;
    let ctx = PolicyContext {
        username: &user.username,
        name: user.name.as_deref(),
        email: Some(&user.email),
    };
    let mut errors: Vec<String> = p
        .check(&form.new_password, &ctx)
        .iter()
        .map(|v| v.message())
        .collect();
    if errors.is_empty()
        && policy::in_history(&s.db, &user.id, &form.new_password, p.history).await?
    {
        errors.push(policy::RuleViolation::Reused.message());
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let hash = password::hash(form.new_password).await?;
    let now = s.now();
    accounts::set_password(&s.db, &user.id, hash.clone(), now).await?;
    policy::remember(&s.db, &user.id, &hash, now, p.history).await?;
    // Every other session of the account ends with the old password.
    sessions::end_all_for_user(&s.db, &user.id, now).await?;
    audit::record(
        &s.db,
        &s.config.audit_key,
        now,
        &audit::Actor::User(user.username.clone()),
        "password.changed",
        Some(&user.username),
        serde_json::json!({}),
    )
    .await?;
    notify_password_changed(s, user).await;
    Ok(Ok(()))
}

async fn notify_password_changed(s: &AppState, user: &UserRow) {
    let email = crate::notify::Email {
        to: user.email.clone(),
        subject: format!("{}: your password was changed", s.config.service_name),
        body: format!(
            "Hello,\n\nThe password of your {} account ({}) was changed. If this was not you, call the service desk \
             at {} now.\n",
            s.config.service_name, user.username, s.config.support_phone
        ),
    };
    if let Err(e) = s.mailer.send(&email).await {
        tracing::warn!(error = %e, "could not send the password-change notification");
    }
}

/// Checks and stores the recovery data; `Err` carries the messages to show.
pub(crate) async fn enroll_recovery(
    s: &AppState,
    user: &UserRow,
    body: &[u8],
) -> Result<Result<(), Vec<String>>, crate::Error> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let mut errors = Vec::new();
    let word = get("secret_word");
    let word_n = accounts::normalize_answer(&word);
    if word_n.chars().count() < 4 || word.chars().count() > MAX_WORD {
        errors.push(format!(
            "The secret word must be 4 to {MAX_WORD} characters."
        ));
    }
    let mut chosen: Vec<(String, String)> = Vec::new();
    for i in 0..5 {
        let q = get(&format!("question_{i}"))
            .parse::<usize>()
            .ok()
            .and_then(|n| s.config.recovery_questions.get(n));
        let a = get(&format!("answer_{i}"));
        let Some(q) = q else {
            errors.push(format!("Choose question {}.", i + 1));
            continue;
        };
        if chosen.iter().any(|(c, _)| c == q) {
            errors.push(format!(
                "Question {} is chosen twice: choose five different questions.",
                i + 1
            ));
        }
        let an = accounts::normalize_answer(&a);
        if an.chars().count() < 2 || a.chars().count() > MAX_ANSWER {
            errors.push(format!(
                "The answer to question {} must be 2 to {MAX_ANSWER} characters.",
                i + 1
            ));
        } else if an == word_n {
            errors.push(format!(
                "The answer to question {} must not be your secret word.",
                i + 1
            ));
        }
        chosen.push((q.clone(), an));
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let word_hash = password::hash(word_n).await?;
    let mut stored = Vec::new();
    for (q, a) in chosen {
        stored.push(serde_json::json!({ "q": q, "h": password::hash(a).await? }));
    }
    let now = s.now();
    let answers =
        serde_json::to_string(&stored).map_err(|e| crate::Error::Internal(e.to_string()))?;
    accounts::set_recovery(&s.db, &user.id, word_hash, answers, now).await?;
    audit::record(
        &s.db,
        &s.config.audit_key,
        now,
        &audit::Actor::User(user.username.clone()),
        "recovery.enrolled",
        Some(&user.username),
        serde_json::json!({}),
    )
    .await?;
    Ok(Ok(()))
}

/// The page for a temporary password that was right but has expired.
pub(crate) fn password_expired_page(s: &AppState) -> Response {
    pages::error(
        s,
        StatusCode::OK,
        "Your temporary password has expired",
        &format!(
            "Temporary passwords work for a limited time. Call the service desk at {} for a new one, then sign in again.",
            s.config.support_phone
        ),
    )
}
