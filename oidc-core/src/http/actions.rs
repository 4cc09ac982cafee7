//! Required actions inside the sign-in journey: a new password after a temporary one, and the
//! recovery data when the account has none (or the service desk reset it) on two pages, the
//! secret word then five challenge questions, written to the account together at the end.
//! The pending authorization request resumes when they are done.

use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

use super::AppState;
use super::pages::{self, NewPasswordPage, QuestionSlot, RecoveryPage, SecretWordPage};
use crate::accounts::Account;
use crate::accounts::policy::{self, PolicyContext};
use crate::accounts::{self, changes, password};
use crate::audit;
use crate::journey::{Journey, Step};

/// The longest secret word and answer accepted.
const MAX_WORD: usize = 64;
const MAX_ANSWER: usize = 128;
/// How many challenge questions a person answers.
const QUESTIONS: usize = 5;

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

/// Page 4: the secret word.
pub(crate) fn secret_word_page(
    s: &AppState,
    j: &Journey,
    action: &str,
    errors: Vec<String>,
) -> Response {
    pages::render(
        StatusCode::OK,
        &SecretWordPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Choose a secret word",
            action,
            csrf: &j.form_token(),
            max_len: MAX_WORD,
            errors,
        },
    )
}

/// Page 5: the challenge questions; `selected` keeps the person's choices after an error.
pub(crate) fn questions_page(
    s: &AppState,
    j: &Journey,
    action: &str,
    errors: Vec<String>,
    selected: &[usize],
) -> Response {
    let slots = (0..QUESTIONS)
        .map(|index| QuestionSlot {
            index,
            selected: selected.get(index).copied().unwrap_or(index),
        })
        .collect();
    pages::render(
        StatusCode::OK,
        &RecoveryPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Choose your challenge questions",
            action,
            csrf: &j.form_token(),
            questions: &s.config.recovery_questions,
            slots,
            max_len: MAX_ANSWER,
            errors,
        },
    )
}

#[derive(Deserialize, Default)]
struct NewPasswordForm {
    #[serde(default)]
    new_password: crate::Secret,
    #[serde(default)]
    confirm_password: crate::Secret,
}

/// Checks and sets a new password for `user`; `Err` carries the messages to show.
pub(crate) async fn change_password(
    s: &AppState,
    journey_id: &str,
    user: &Account,
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
        .check(form.new_password.secret(), &ctx)
        .iter()
        .map(|v| v.message())
        .collect();
    if errors.is_empty()
        && policy::in_history(&s.db, &user.id, form.new_password.secret(), p.history).await?
    {
        errors.push(policy::RuleViolation::Reused.message());
    }
    if !errors.is_empty() {
        return Ok(Err(errors));
    }
    let hash = password::hash(&form.new_password).await?;
    let (id, keep, history) = (user.id.clone(), journey_id.to_string(), p.history);
    let actor = audit::Actor::User(user.username.clone());
    let changed = changes::run(
        &s.db,
        &s.config.audit_key,
        &actor,
        s.now(),
        move |conn, ctx| changes::change_password(conn, ctx, &id, &hash, history, Some(&keep)),
    )
    .await?;
    if changed.is_none() {
        return Ok(Err(vec![format!(
            "This account can no longer change its password. Call the service desk at {}.",
            s.config.support_phone
        )]));
    }
    notify_password_changed(s, user).await;
    Ok(Ok(()))
}

async fn notify_password_changed(s: &AppState, user: &Account) {
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

/// The form fields of the recovery pages, by name (the last of a repeated one).
fn fields(body: &[u8]) -> impl Fn(&str) -> String {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    move |k: &str| {
        pairs
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    }
}

/// Page 4: checks the secret word and keeps only its hash, in the journey; nothing is written
/// to the account until the questions are answered too. `Err` carries the messages to show.
pub(crate) async fn choose_secret_word(
    j: &mut Journey,
    body: &[u8],
) -> Result<Result<(), Vec<String>>, crate::Error> {
    let get = fields(body);
    let word = get("secret_word");
    let word_n = accounts::normalize_answer(&word);
    if word_n.chars().count() < 4 || word.chars().count() > MAX_WORD {
        return Ok(Err(vec![format!(
            "The secret word must be 4 to {MAX_WORD} characters."
        )]));
    }
    if accounts::normalize_answer(&get("confirm_secret_word")) != word_n {
        return Ok(Err(vec!["The two secret words are not the same.".into()]));
    }
    j.secret_word_hash = Some(password::hash(&crate::Secret::new(word_n)).await?);
    j.advance();
    Ok(Ok(()))
}

/// What the questions page was sent back with: the messages, and the questions chosen.
pub(crate) struct QuestionsRejected {
    pub errors: Vec<String>,
    pub selected: Vec<usize>,
}

/// Page 5: checks five distinct questions and their answers, then stores them with the secret
/// word of page 4 in one statement. `Err` carries what to show.
pub(crate) async fn choose_questions(
    s: &AppState,
    j: &mut Journey,
    user: &Account,
    body: &[u8],
) -> Result<Result<(), QuestionsRejected>, crate::Error> {
    let get = fields(body);
    let Some(word_hash) = j.secret_word_hash.clone() else {
        // Loading a journey puts the word page first when there is no word: not reached.
        return Err(crate::Error::Internal(
            "the questions page without a secret word".into(),
        ));
    };
    let mut errors = Vec::new();
    let mut selected = Vec::new();
    let mut chosen: Vec<(String, String)> = Vec::new();
    for i in 0..QUESTIONS {
        let n = get(&format!("question_{i}")).parse::<usize>().ok();
        let q = n.and_then(|n| s.config.recovery_questions.get(n));
        selected.push(n.filter(|_| q.is_some()).unwrap_or(i));
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
        }
        chosen.push((q.clone(), an));
    }
    if errors.is_empty() {
        // The word is known here only by its hash: an answer is compared with it the way the
        // service desk compares what a caller says.
        for (i, (_, an)) in chosen.iter().enumerate() {
            if password::verify(&crate::Secret::new(an.clone()), Some(word_hash.clone())).await? {
                errors.push(format!(
                    "The answer to question {} must not be your secret word.",
                    i + 1
                ));
            }
        }
    }
    if !errors.is_empty() {
        return Ok(Err(QuestionsRejected { errors, selected }));
    }
    let mut stored = Vec::new();
    for (q, a) in chosen {
        stored.push(
            serde_json::json!({ "q": q, "h": password::hash(&crate::Secret::new(a)).await? }),
        );
    }
    let now = s.now();
    let answers =
        serde_json::to_string(&stored).map_err(|e| crate::Error::Internal(e.to_string()))?;
    let id = user.id.clone();
    let actor = audit::Actor::User(user.username.clone());
    let enrolled = changes::run(&s.db, &s.config.audit_key, &actor, now, move |conn, ctx| {
        changes::enrol_recovery(conn, ctx, &id, &word_hash, &answers)
    })
    .await?;
    if !enrolled {
        return Err(crate::Error::Forbidden(
            "the account can no longer sign in".into(),
        ));
    }
    j.secret_word_hash = None;
    j.advance();
    Ok(Ok(()))
}

/// "Back: change my secret word" on the questions page: the word page again, and the word
/// chosen is forgotten.
pub(crate) fn wants_other_word(body: &[u8]) -> bool {
    fields(body)("change_secret_word") == "1"
}

pub(crate) fn back_to_secret_word(j: &mut Journey) {
    j.secret_word_hash = None;
    if j.current() == Some(Step::EnrollQuestions) {
        j.steps.insert(0, Step::EnrollSecretWord);
    }
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
