//! Pages for people: one askama struct per page, rendered with the base layout.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "signin.html")]
pub(crate) struct SigninPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub journey_id: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "passcode.html")]
pub(crate) struct PasscodePage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub heading: &'a str,
    pub journey_id: &'a str,
    pub csrf: &'a str,
    pub masked_email: &'a str,
    pub label: &'a str,
    pub hint: &'a str,
    pub numeric: bool,
    pub max_len: usize,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "activate.html")]
pub(crate) struct ActivatePage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "activate_confirm.html")]
pub(crate) struct ConfirmPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub activation_code: &'a str,
    pub serial: &'a str,
    pub qr_svg: &'a str,
    pub secret_base32: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    message: &'a str,
}

/// A page that tells one thing (a success, a notice).
pub(crate) fn message(s: &AppState, title: &str, message: &str) -> Response {
    let page = MessagePage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title,
        message,
    };
    html(StatusCode::OK, page.render())
}

#[derive(Template)]
#[template(path = "new_password.html")]
pub(crate) struct NewPasswordPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub intro: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub rules: Vec<String>,
    pub errors: Vec<String>,
    pub max_len: usize,
}

/// Activation page 4: the secret word.
#[derive(Template)]
#[template(path = "secret_word.html")]
pub(crate) struct SecretWordPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
    pub max_len: usize,
    pub errors: Vec<String>,
}

/// One challenge question of the questions page, with the question it shows selected.
pub(crate) struct QuestionSlot {
    pub index: usize,
    pub selected: usize,
}

/// Activation page 5: five challenge questions, each answered.
#[derive(Template)]
#[template(path = "recovery.html")]
pub(crate) struct RecoveryPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
    pub questions: &'a [String],
    pub slots: Vec<QuestionSlot>,
    pub max_len: usize,
    pub errors: Vec<String>,
}

#[derive(Template)]
#[template(path = "portal_login.html")]
pub(crate) struct PortalLoginPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub heading: &'a str,
    pub intro: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
    pub username: &'a str,
    pub show_password: bool,
    pub show_passcode: bool,
    pub password_label: &'a str,
    pub button: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "forgot_answers.html")]
pub(crate) struct ForgotAnswersPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
    pub question_0: &'a str,
    pub question_1: &'a str,
}

#[derive(Template)]
#[template(path = "logout_confirm.html")]
pub(crate) struct LogoutConfirmPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub action: &'a str,
    pub confirm_token: &'a str,
    pub username: &'a str,
    pub id_token_hint: &'a str,
    pub post_logout_redirect_uri: &'a str,
    pub client_id: &'a str,
    pub state: &'a str,
}

/// `Retry-After` of a 503 while the database is out of reach.
pub(crate) const RETRY_AFTER_SECS: &str = "5";

/// Adds `Retry-After` to a 503 (the database is out of reach; trying again will work).
pub(crate) fn retry_later(mut res: Response) -> Response {
    res.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    res
}

/// Pages are personal and short-lived: never cached.
fn html(status: StatusCode, body: Result<String, askama::Error>) -> Response {
    match body {
        Ok(body) => {
            let mut res = (status, Html(body)).into_response();
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong. Please try again.",
            )
                .into_response()
        }
    }
}

pub(crate) fn render<T: Template>(status: StatusCode, page: &T) -> Response {
    html(status, page.render())
}

/// A plain error page for people.
pub(crate) fn error(s: &AppState, status: StatusCode, title: &str, message: &str) -> Response {
    let page = ErrorPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title,
        message,
    };
    html(status, page.render())
}

/// The page for an unexpected failure; the cause goes to the log, not to the person. A database
/// out of reach is a 503 with `Retry-After`: nothing was written, and trying again will work.
pub(crate) fn internal(s: &AppState, e: &crate::error::Error) -> Response {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "database unavailable");
        return retry_later(error(
            s,
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is briefly unavailable",
            "Nothing was changed. Please try again in a minute.",
        ));
    }
    tracing::error!(error = %e, "request failed");
    error(
        s,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "We could not complete your request. Please try again in a moment.",
    )
}
