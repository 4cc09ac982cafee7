//! The sign-in journey's pages: `/signin/{id}` shows the current step, a POST completes it.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::authorize::{issue_code, see_other};
use super::pages::{self, SigninPage};
use super::{AppState, cookies, paths};
use crate::journey::{self, Journey, Step};
use crate::secret::ct_eq;
use crate::{accounts, sessions};

const BAD_CREDENTIALS: &str = "The username or password is incorrect.";

async fn load(s: &AppState, headers: &HeaderMap, id: &str) -> Result<Journey, Response> {
    let expired = || {
        pages::error(
            s,
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "This sign-in page is no longer valid: it was completed, it expired, or it was opened in another browser. \
             Go back to the application you came from and sign in again.",
        )
    };
    let Some(browser) = cookies::get(&s.config, headers, cookies::BROWSER) else {
        return Err(expired());
    };
    match journey::load(&s.db, id, &browser, s.now()).await {
        Ok(Some(j)) => Ok(j),
        Ok(None) => Err(expired()),
        Err(e) => Err(pages::internal(s, &e)),
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
            csrf: &j.csrf,
            username,
            error,
        },
    )
}

pub(crate) async fn show(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let j = match load(&s, &headers, &id).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    match j.current() {
        Some(Step::Password) => {
            let hint = j.request.login_hint.clone().unwrap_or_default();
            signin_page(&s, &j, StatusCode::OK, &hint, None)
        }
        None => finish(&s, &headers, j).await,
    }
}

#[derive(Deserialize, Default)]
struct PasswordForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

pub(crate) async fn submit(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let j = match load(&s, &headers, &id).await {
        Ok(j) => j,
        Err(r) => return r,
    };
    match j.current() {
        Some(Step::Password) => password_step(&s, &headers, j, &body).await,
        None => finish(&s, &headers, j).await,
    }
}

async fn password_step(s: &AppState, headers: &HeaderMap, j: Journey, body: &[u8]) -> Response {
    let form: PasswordForm = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if !ct_eq(form.csrf.as_bytes(), j.csrf.as_bytes()) {
        return signin_page(
            s,
            &j,
            StatusCode::BAD_REQUEST,
            &form.username,
            Some("This form was open too long or was sent from elsewhere. Please sign in again."),
        );
    }
    let username = form.username.trim();
    if username.is_empty()
        || form.password.is_empty()
        || username.len() > 254
        || form.password.len() > 1024
    {
        return signin_page(s, &j, StatusCode::OK, username, Some(BAD_CREDENTIALS));
    }
    let user = match accounts::find_by_username(&s.db, username).await {
        Ok(u) => u.filter(|u| !u.disabled),
        Err(e) => return pages::internal(s, &e),
    };
    // Unknown users and users without a password are checked against the dummy hash, so that every
    // failure costs the same time and shows the same page.
    let stored = user.as_ref().and_then(|u| u.password_hash.clone());
    let ok = match accounts::password::verify(form.password, stored).await {
        Ok(ok) => ok,
        Err(e) => return pages::internal(s, &e),
    };
    let Some(user) = user.filter(|_| ok) else {
        return signin_page(s, &j, StatusCode::OK, username, Some(BAD_CREDENTIALS));
    };
    match journey::complete_step(&s.db, &j, &user.id, &["pwd"]).await {
        Ok(true) => {}
        // Another submit of the same form won the race: show whatever comes next.
        Ok(false) => {
            return see_other(&format!(
                "{}{}/{}",
                s.config.base_path(),
                paths::SIGNIN,
                j.id
            ));
        }
        Err(e) => return pages::internal(s, &e),
    }
    let mut next = j;
    next.steps.remove(0);
    next.user_id = Some(user.id);
    if !next.amr.iter().any(|a| a == "pwd") {
        next.amr.push("pwd".into());
    }
    if next.steps.is_empty() {
        finish(s, headers, next).await
    } else {
        see_other(&format!(
            "{}{}/{}",
            s.config.base_path(),
            paths::SIGNIN,
            next.id
        ))
    }
}

/// Every step is done: start a new session (a fresh id, replacing any old one) and answer the
/// client. Exactly one request finishes a journey.
async fn finish(s: &AppState, headers: &HeaderMap, j: Journey) -> Response {
    let Some(user_id) = j.user_id.clone() else {
        return pages::error(
            s,
            StatusCode::BAD_REQUEST,
            "This sign-in cannot continue",
            "Please start again.",
        );
    };
    let now = s.now();
    match journey::finish(&s.db, &j.id, now).await {
        Ok(true) => {}
        Ok(false) => {
            return pages::error(
                s,
                StatusCode::BAD_REQUEST,
                "This sign-in is already complete",
                "Go back to the application you came from.",
            );
        }
        Err(e) => return pages::internal(s, &e),
    }
    if let Some(old) = cookies::get(&s.config, headers, cookies::SESSION)
        && let Ok(Some(old)) = sessions::lookup(&s.db, &old, now, s.config.session_idle).await
        && let Err(e) = sessions::end(&s.db, &old.id, now).await
    {
        return pages::internal(s, &e);
    }
    let created = sessions::create(
        &s.db,
        &user_id,
        now,
        &j.amr,
        None,
        now,
        s.config.session_absolute,
    )
    .await;
    let (session, secret) = match created {
        Ok(v) => v,
        Err(e) => return pages::internal(s, &e),
    };
    let cookie = cookies::set(&s.config, cookies::SESSION, &secret);
    issue_code(s, &j.request, &session, Some(cookie)).await
}
