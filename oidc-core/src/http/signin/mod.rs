//! The sign-in journey's pages: `/signin/{id}` shows the current step, a POST completes it.
//!
//! With a second factor, the passcode page follows every password attempt, right or wrong (unless
//! the provider is configured to reveal the password result), and one message covers every
//! failure: the password step tells nothing to someone who does not know the password.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::authorize::see_other;
use super::client_addr::ClientAddr;
use super::pages::{self, OrPage, PageError, PageResult, PasscodePage, SigninPage};
use super::{AppState, actions, consent, cookies, forgot, paths, portal};
use crate::accounts::Account;
use crate::accounts::{self, throttle};
use crate::journey::{self, Journey, Step};
use crate::mfa::{self, FactorAccount, InputKind, Prompt, SecondFactor, Verification};
use crate::secret::ct_eq;

const BAD_CREDENTIALS: &str = "The username or password is incorrect.";
const BAD_ANY: &str = "The username, password or passcode is incorrect. Please sign in again.";
const STALE_FORM: &str =
    "This form was open too long or was sent from elsewhere. Please try again.";

/// A factor's pending challenge, kept in the journey between the two answers.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    label: String,
    hint: String,
    numeric: bool,
    max_len: usize,
}

impl Pending {
    fn new(prompt: &Prompt, state: String) -> Self {
        let (numeric, max_len) = match prompt.input {
            InputKind::Numeric { max_len } => (true, max_len),
            InputKind::Text { max_len } => (false, max_len),
        };
        Pending {
            state,
            label: prompt.label.clone(),
            hint: prompt.hint.clone(),
            numeric,
            max_len,
        }
    }
    fn prompt(&self) -> Prompt {
        let input = if self.numeric {
            InputKind::Numeric {
                max_len: self.max_len,
            }
        } else {
            InputKind::Text {
                max_len: self.max_len,
            }
        };
        Prompt {
            label: self.label.clone(),
            hint: self.hint.clone(),
            input,
        }
    }
}

pub(super) fn here(s: &AppState, j: &Journey) -> String {
    format!("{}{}/{}", s.config.base_path(), paths::SIGNIN, j.id)
}

async fn load(s: &AppState, headers: &HeaderMap, id: &str) -> Result<Journey, PageError> {
    let expired = || {
        PageError(pages::error(
            s,
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "This sign-in page is no longer valid: it was completed, it expired, or it was opened in another browser. \
             Go back to the application you came from and sign in again.",
        ))
    };
    let Some(browser) = cookies::get(&s.config, headers, cookies::BROWSER) else {
        return Err(expired());
    };
    if let Some(j) = journey::load(&s.db, id, &browser, s.now())
        .await
        .or_page(s)?
    {
        return Ok(j);
    }
    match journey::finished_request(&s.db, id, &browser, s.now())
        .await
        .or_page(s)?
    {
        // Finished, but the browser is back (the answer of a double submit it dropped, the
        // back button): through the authorization endpoint again, where the new session
        // answers at once, or a new sign-in starts.
        Some(request) => Err(PageError(see_other(
            &super::authorize::continuation_url(s, &request).await,
        ))),
        None => Err(expired()),
    }
}

fn signin_page(
    s: &AppState,
    j: &Journey,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Response {
    pages::render(
        status,
        &SigninPage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: "Sign in",
            journey_id: &j.id,
            csrf: &j.form_token(),
            username,
            error,
            support: pages::support(&s.config),
        },
    )
}

/// The account behind the journey, if the password step named one that exists.
async fn journey_user(s: &AppState, j: &Journey) -> Result<Option<Account>, Response> {
    match &j.user_id {
        Some(id) => accounts::find_by_id(&s.db, id)
            .await
            .map_err(|e| pages::internal(s, &e)),
        None => Ok(None),
    }
}

/// The factor an account uses: its own token's, else the configured fallback.
pub(crate) async fn factor_for(
    s: &AppState,
    user_id: &str,
) -> Result<Option<Arc<dyn SecondFactor>>, crate::Error> {
    if let Some(token) = s.tokens.usable_token(user_id).await? {
        return Ok(s.factors.get(&token.factor).cloned());
    }
    // A lost token's emergency passcode works until a replacement is active.
    if let Some(u) = accounts::find_by_id(&s.db, user_id).await?
        && let Some(f) = accounts::desk::emergency_for(&s.db, &u, s.now())
    {
        return Ok(Some(Arc::new(f)));
    }
    Ok(s.config
        .fallback_factor
        .as_ref()
        .and_then(|f| s.factors.get(f).cloned()))
}

pub(crate) fn account_of(u: &Account) -> FactorAccount {
    FactorAccount {
        user_id: u.id.clone(),
        username: u.username.clone(),
        email: u.email.clone(),
    }
}

async fn passcode_page(
    s: &AppState,
    j: &Journey,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let user = match journey_user(s, j).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let masked = match &user {
        Some(u) => mfa::mask_email(&u.email),
        None => mfa::fake_masked_email(&s.config.kek, j.claimed_username.as_deref().unwrap_or("")),
    };
    let pending: Option<Pending> = j
        .factor_state
        .as_deref()
        .and_then(|p| serde_json::from_str(p).ok());
    // The factor's own question only once the password is known to be right: before that every
    // account sees the same default page.
    let prompt = match (&pending, &user) {
        (Some(p), _) => p.prompt(),
        (None, Some(u)) if j.password_ok => match factor_for(s, &u.id).await {
            Ok(Some(f)) => {
                let account = account_of(u);
                if let Err(e) = f.prepare(&account).await {
                    tracing::error!(error = %e, factor = f.kind(), "second factor could not prepare");
                }
                f.prompt(&account)
            }
            Ok(None) => mfa::tokens::passcode_prompt(),
            Err(e) => return pages::internal(s, &e),
        },
        _ => mfa::tokens::passcode_prompt(),
    };
    let (numeric, max_len) = match prompt.input {
        InputKind::Numeric { max_len } => (true, max_len),
        InputKind::Text { max_len } => (false, max_len),
    };
    let heading = if pending.is_some() {
        "Next tokencode"
    } else {
        "Verify your identity"
    };
    pages::render(
        status,
        &PasscodePage {
            service: &s.config.service_name,
            base: s.config.base_path(),
            title: heading,
            heading,
            journey_id: &j.id,
            csrf: &j.form_token(),
            masked_email: &masked,
            label: &prompt.label,
            hint: &prompt.hint,
            numeric,
            max_len,
            error,
            support: pages::support(&s.config),
        },
    )
}

pub(crate) async fn show(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let j = load(&s, &headers, &id).await?;
    Ok(match j.current() {
        Some(Step::Password) => {
            let hint = j
                .request
                .as_ref()
                .and_then(|r| r.login_hint.clone())
                .unwrap_or_default();
            signin_page(&s, &j, StatusCode::OK, &hint, None)
        }
        Some(Step::SecondFactor) => passcode_page(&s, &j, StatusCode::OK, None).await,
        Some(Step::ChangePassword) => {
            let username = j.claimed_username.clone().unwrap_or_default();
            actions::new_password_page(&s, &j, &here(&s, &j), &username, StatusCode::OK, Vec::new())
        }
        Some(Step::EnrollSecretWord) => {
            actions::secret_word_page(&s, &j, &here(&s, &j), Vec::new())
        }
        Some(Step::EnrollQuestions) => {
            actions::questions_page(&s, &j, &here(&s, &j), Vec::new(), &[])
        }
        Some(Step::PasswordExpired) => actions::password_expired_page(&s),
        Some(Step::Consent) => consent::show(&s, &j).await,
        Some(Step::SelectAccount) => consent::show_select(&s, &j).await,
        Some(Step::ForgotAnswers) => forgot::answers_page(&s, &j, &here(&s, &j)).await,
        Some(
            Step::PortalPasscode
            | Step::PortalPassword
            | Step::ChangeIdentify
            | Step::ForgotIdentify,
        ) => portal::login_page(&s, &j, &here(&s, &j), StatusCode::OK, None),
        None => finish(&s, &headers, j).await,
    })
}

/// The portal's pages 1 and 2.
async fn portal_step(
    s: &AppState,
    headers: &HeaderMap,
    addr: Option<IpAddr>,
    mut j: Journey,
    body: &[u8],
) -> PageResult {
    // Claim this state first: a double submit must not check a passcode twice.
    if !journey::save(&s.db, &mut j).await.or_page(s)? {
        return Ok(see_other(&here(s, &j)));
    }
    let action = here(s, &j);
    let next = match j.current() {
        Some(Step::PortalPasscode) => portal::passcode(s, j, &action, body).map_err(PageError)?,
        Some(Step::ForgotIdentify) => {
            match forgot::identify_checked(s, j.clone(), addr, body)
                .await
                .map_err(PageError)?
            {
                Ok(j) => j,
                Err(msg) => {
                    return Ok(portal::login_page(
                        s,
                        &j,
                        &action,
                        StatusCode::OK,
                        Some(msg),
                    ));
                }
            }
        }
        Some(Step::ForgotAnswers) => match forgot::answers(s, j, addr, body).await {
            Ok(j) => j,
            Err(j) => return start_again(s, j, &action).await,
        },
        Some(Step::ChangeIdentify) => match portal::change_identify(s, j, addr, body).await {
            Ok(j) => j,
            Err(j) => return start_again(s, j, &action).await,
        },
        _ => match portal::password(s, j, addr, body).await {
            Ok(j) => j,
            Err(j) => return start_again(s, j, &action).await,
        },
    };
    Ok(save_and_continue(s, headers, next).await)
}

/// A portal page refused what was typed: the journey, restarted by the step, is saved and its
/// first page shown again with the one message that covers every failure.
async fn start_again(s: &AppState, mut j: Journey, action: &str) -> PageResult {
    Ok(if journey::save(&s.db, &mut j).await.or_page(s)? {
        portal::login_page(s, &j, action, StatusCode::OK, Some(portal::BAD_ANY))
    } else {
        see_other(action)
    })
}

/// A required action's POST: only after the password (and passcode) were right.
async fn action_step(s: &AppState, headers: &HeaderMap, mut j: Journey, body: &[u8]) -> Response {
    let user = match journey_user(s, &j).await {
        Ok(Some(u)) if j.password_ok => u,
        Ok(_) => {
            return pages::error(
                s,
                StatusCode::BAD_REQUEST,
                "This sign-in cannot continue",
                "Please start again.",
            );
        }
        Err(r) => return r,
    };
    // Claim this state first: a double submit must not set two passwords.
    match journey::save(&s.db, &mut j).await {
        Ok(true) => {}
        Ok(false) => return see_other(&here(s, &j)),
        Err(e) => return pages::internal(s, &e),
    }
    let action = here(s, &j);
    let rejected = match j.current() {
        Some(Step::ChangePassword) => match actions::change_password(s, &j.id, &user, body).await {
            Ok(Ok(())) => {
                j.advance();
                None
            }
            Ok(Err(errors)) => Some(actions::new_password_page(
                s,
                &j,
                &action,
                &user.username,
                StatusCode::OK,
                errors,
            )),
            Err(e) => return pages::internal(s, &e),
        },
        Some(Step::EnrollSecretWord) => match actions::choose_secret_word(&mut j, body).await {
            Ok(Ok(())) => None,
            Ok(Err(errors)) => Some(actions::secret_word_page(s, &j, &action, errors)),
            Err(e) => return pages::internal(s, &e),
        },
        Some(Step::EnrollQuestions) if actions::wants_other_word(body) => {
            actions::back_to_secret_word(&mut j);
            None
        }
        Some(Step::EnrollQuestions) => {
            match actions::choose_questions(s, &mut j, &user, body).await {
                Ok(Ok(())) => None,
                Ok(Err(r)) => Some(actions::questions_page(
                    s,
                    &j,
                    &action,
                    r.errors,
                    &r.selected,
                )),
                Err(e) => return pages::internal(s, &e),
            }
        }
        _ => return see_other(&action),
    };
    match rejected {
        // The claim above already moved the version: the page's form carries the new one.
        Some(page) => page,
        None => save_and_continue(s, headers, j).await,
    }
}

#[derive(Deserialize, Default)]
struct StepForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: crate::Secret,
    #[serde(default)]
    passcode: String,
}

pub(crate) async fn submit(
    State(s): State<AppState>,
    ClientAddr(addr): ClientAddr,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult {
    let j = load(&s, &headers, &id).await?;
    let form: StepForm = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    // The form token is the journey's CSRF token and the version the page was rendered from.
    let (csrf, version) = form
        .csrf
        .split_once('.')
        .unwrap_or((form.csrf.as_str(), ""));
    let csrf_ok = ct_eq(csrf.as_bytes(), j.csrf.as_bytes());
    if csrf_ok && version != j.version().to_string() {
        // A form from an earlier state (a double submit, the back button): nothing is verified
        // or counted; the browser is shown where the journey stands now.
        return Ok(see_other(&here(&s, &j)));
    }
    Ok(match j.current() {
        Some(Step::Password) if !csrf_ok => signin_page(
            &s,
            &j,
            StatusCode::BAD_REQUEST,
            &form.username,
            Some(STALE_FORM),
        ),
        Some(Step::Password) => password_step(&s, &headers, addr, j, form).await,
        Some(Step::SecondFactor) if !csrf_ok => {
            passcode_page(&s, &j, StatusCode::BAD_REQUEST, Some(STALE_FORM)).await
        }
        Some(Step::SecondFactor) => second_factor_step(&s, &headers, addr, j, form.passcode).await,
        Some(Step::ChangePassword | Step::EnrollSecretWord | Step::EnrollQuestions) if !csrf_ok => {
            pages::error(
                &s,
                StatusCode::BAD_REQUEST,
                "This form has expired",
                STALE_FORM,
            )
        }
        Some(Step::ChangePassword | Step::EnrollSecretWord | Step::EnrollQuestions) => {
            action_step(&s, &headers, j, &body).await
        }
        Some(Step::PasswordExpired) => actions::password_expired_page(&s),
        Some(Step::Consent | Step::SelectAccount) if !csrf_ok => pages::error(
            &s,
            StatusCode::BAD_REQUEST,
            "This form has expired",
            STALE_FORM,
        ),
        Some(Step::Consent) => consent::submit(&s, &headers, j, &body).await,
        Some(Step::SelectAccount) => consent::submit_select(&s, &headers, j, &body).await,
        Some(
            Step::PortalPasscode
            | Step::PortalPassword
            | Step::ChangeIdentify
            | Step::ForgotIdentify
            | Step::ForgotAnswers,
        ) if !csrf_ok => pages::error(
            &s,
            StatusCode::BAD_REQUEST,
            "This form has expired",
            STALE_FORM,
        ),
        Some(
            Step::PortalPasscode
            | Step::PortalPassword
            | Step::ChangeIdentify
            | Step::ForgotIdentify
            | Step::ForgotAnswers,
        ) => portal_step(&s, &headers, addr, j, &body).await?,
        None => finish(&s, &headers, j).await,
    })
}

/// Saves the journey and continues with its next step (or finishes it).
pub(super) async fn save_and_continue(
    s: &AppState,
    headers: &HeaderMap,
    mut j: Journey,
) -> Response {
    match journey::save(&s.db, &mut j).await {
        Ok(true) if j.steps.is_empty() => finish(s, headers, j).await,
        // Saved, or another submit of the same form won the race: show whatever comes next.
        Ok(_) => see_other(&here(s, &j)),
        Err(e) => pages::internal(s, &e),
    }
}

/// Every step is done: start a new session (a fresh id, replacing any old one) and answer the
/// client. Exactly one request finishes a journey.
async fn finish(s: &AppState, headers: &HeaderMap, mut j: Journey) -> Response {
    if j.session_id.is_some() {
        return consent::finish_with_session(s, headers, j).await;
    }
    let cannot_continue = || {
        pages::error(
            s,
            StatusCode::BAD_REQUEST,
            "This sign-in cannot continue",
            "Please start again.",
        )
    };
    let Some(user_id) = j.user_id.clone().filter(|_| j.password_ok) else {
        return cannot_continue();
    };
    // Disabled, or its credentials deleted, since its password step: no session.
    let user = match accounts::find_by_id(&s.db, &user_id).await {
        Ok(Some(u)) if !u.disabled && u.password.is_set() => u,
        Ok(_) => return cannot_continue(),
        Err(e) => return pages::internal(s, &e),
    };
    // Whatever page this sign-in started from, nothing finishes while the account owes
    // something (a recovery reset during the sign-in, a portal task that paid only part).
    let owed = user.owed.clone();
    if !owed.is_empty() {
        j.steps = owed.steps();
        return match journey::save(&s.db, &mut j).await {
            Ok(_) => see_other(&here(s, &j)),
            Err(e) => pages::internal(s, &e),
        };
    }
    // The right person, and consent where needed, before any session or answer.
    if let Some(res) = consent::gate(s, &mut j, &user).await {
        return res;
    }
    let now = s.now();
    let code = j
        .request
        .as_ref()
        .map(|r| super::authorize::code_grant(r, None));
    let completed = journey::complete::complete(
        &s.db,
        journey::complete::Completion {
            journey_id: j.id.clone(),
            user_id: user_id.clone(),
            amr: j.amr.clone(),
            acr: j.acr.clone(),
            old_cookie: cookies::get(&s.config, headers, cookies::SESSION),
            code,
            now,
            session_idle: s.config.session_idle,
            session_absolute: s.config.session_absolute,
            code_ttl: s.config.code_ttl,
        },
    )
    .await;
    let (code, secret) = match completed {
        Ok(journey::complete::Completed::SignedIn { cookie, code, .. }) => {
            s.metrics.signin(crate::metrics::SigninOutcome::Success);
            (code, cookie)
        }
        Ok(journey::complete::Completed::AlreadyFinished) => {
            return pages::error(
                s,
                StatusCode::BAD_REQUEST,
                "This sign-in is already complete",
                "Go back to the application you came from.",
            );
        }
        Ok(journey::complete::Completed::AccountInactive) => return cannot_continue(),
        Ok(journey::complete::Completed::ClientGone) => {
            return pages::error(
                s,
                StatusCode::BAD_REQUEST,
                "This sign-in cannot continue",
                "The application that sent you here is not registered.",
            );
        }
        Err(e) => return pages::internal(s, &e),
    };
    let cookie = cookies::set(&s.config, cookies::SESSION, &secret);
    match (&j.request, &j.return_to) {
        (Some(request), _) => match code {
            Some(code) => {
                s.metrics
                    .token_issued("authorize", crate::metrics::TokenKind::AuthorizationCode);
                super::authorize::code_response(s, request, code.secret(), Some(cookie))
            }
            None => cannot_continue(),
        },
        // A portal page that asked for a sign-in (a path of ours): back to it.
        (None, Some(path)) if path.starts_with('/') => {
            let mut res = see_other(&format!("{}{}", s.config.base_path(), path));
            res.headers_mut()
                .append(axum::http::header::SET_COOKIE, cookie);
            res
        }
        // Started from a sign-in page: back to that sign-in.
        (None, Some(from)) => {
            let mut res = see_other(&format!(
                "{}{}/{}",
                s.config.base_path(),
                paths::SIGNIN,
                from
            ));
            res.headers_mut()
                .append(axum::http::header::SET_COOKIE, cookie);
            res
        }
        (None, None) => portal::done_page(s),
    }
}

mod steps;

pub(crate) use steps::equal_cost;
use steps::{password_step, second_factor_step};
