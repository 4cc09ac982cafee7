//! Pages for people: one askama struct per page, rendered with the base layout (the service's
//! name and logo, one stylesheet, one script for progressive enhancement: every page works
//! without it, and the CSP `default-src 'self'` allows no inline script or style).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use crate::config::ProviderConfig;

/// The pages' one script: focus on the first error, live password-rule checks, no double submit.
pub(crate) const SCRIPT: &str = "/assets/iam.js";
/// The logo in the pages' header (configuration: `ProviderConfigBuilder::logo_svg`).
pub(crate) const LOGO: &str = "/assets/logo.svg";

/// `GET /assets/iam.js`.
pub(crate) async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/iam.js"),
    )
        .into_response()
}

/// `GET /assets/logo.svg`: the configured logo. Served as an image (never inline in a page), so
/// that what it contains cannot run or restyle the page.
pub(crate) async fn logo(State(s): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        s.config.logo_svg.clone(),
    )
        .into_response()
}

/// Where people get help, as the pages show it (configuration).
pub(crate) struct Support<'a> {
    pub phone: &'a str,
    pub hours: &'a str,
    pub token_phone: &'a str,
}

/// The configured help lines.
pub(crate) fn support(c: &ProviderConfig) -> Support<'_> {
    Support {
        phone: &c.support_phone,
        hours: &c.support_hours,
        token_phone: &c.token_support_phone,
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    message: &'a str,
    support: Support<'a>,
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
    pub support: Support<'a>,
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
    pub support: Support<'a>,
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
    support: Support<'a>,
}

/// A page that tells one thing (a success, a notice).
pub(crate) fn message(s: &AppState, title: &str, message: &str) -> Response {
    let page = MessagePage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title,
        message,
        support: support(&s.config),
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

impl NewPasswordPage<'_> {
    /// What the page's script can check of a rule, from its text (`PasswordPolicy::rules`): the
    /// kind (`min`, `max`, `classes`, `personal`, `words`) or "" for one only the server checks.
    pub fn rule_kind(&self, rule: &str) -> &'static str {
        rule_check(rule).0
    }
    /// The rule's argument for the script: a number, or the words `|`-separated.
    pub fn rule_arg(&self, rule: &str) -> String {
        rule_check(rule).1
    }
}

fn rule_check(rule: &str) -> (&'static str, String) {
    let number = || {
        rule.split(|c: char| !c.is_ascii_digit())
            .find(|n| !n.is_empty())
            .unwrap_or_default()
            .to_string()
    };
    if rule.starts_with("At least") && rule.contains(" of: ") {
        ("classes", number())
    } else if rule.starts_with("At least") && rule.ends_with("characters.") {
        ("min", number())
    } else if rule.starts_with("At most") {
        ("max", number())
    } else if rule.starts_with("Not containing your username") {
        ("personal", String::new())
    } else if rule.starts_with("Not containing the words") {
        let words: Vec<&str> = rule
            .split('\u{201c}')
            .skip(1)
            .filter_map(|w| w.split('\u{201d}').next())
            .collect();
        ("words", words.join("|"))
    } else {
        ("", String::new())
    }
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
    pub support: Support<'a>,
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
        support: support(&s.config),
    };
    html(status, page.render())
}

/// A page handler's answer when it cannot go on: a page already rendered for the person (an
/// expired sign-in, the 500 or 503 page). Page handlers return [`PageResult`] and use `?`.
pub(crate) struct PageError(pub Response);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        self.0
    }
}

/// What a page handler answers.
pub(crate) type PageResult = Result<Response, PageError>;

/// Library errors become the internal page (503 while the database is away), for `?`.
pub(crate) trait OrPage<T> {
    fn or_page(self, s: &AppState) -> Result<T, PageError>;
}

impl<T> OrPage<T> for Result<T, crate::error::Error> {
    fn or_page(self, s: &AppState) -> Result<T, PageError> {
        self.map_err(|e| PageError(internal(s, &e)))
    }
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

/// OAuth 2.0 Form Post Response Mode: the authorization response as a self-submitting form.
#[derive(Template)]
#[template(path = "form_post.html")]
pub(crate) struct FormPostPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    /// The client's redirect URI.
    pub action: &'a str,
    pub fields: Vec<(&'a str, &'a str)>,
}

/// The consent page (OIDC Core §3.1.2.4).
#[derive(Template)]
#[template(path = "consent.html")]
pub(crate) struct ConsentPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub username: &'a str,
    /// What the client asks for, in plain words.
    pub items: Vec<&'static str>,
}

/// `prompt=select_account`: continue as the signed-in account or use another.
#[derive(Template)]
#[template(path = "select_account.html")]
pub(crate) struct SelectAccountPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub action: &'a str,
    pub csrf: &'a str,
    pub client_name: &'a str,
    pub username: &'a str,
}

/// One application on the portal's consent page.
pub(crate) struct AllowedApp {
    pub client_id: String,
    pub name: String,
    pub since: String,
    pub items: Vec<&'static str>,
}

/// The portal page where a person sees and withdraws the consents they gave.
#[derive(Template)]
#[template(path = "portal_consents.html")]
pub(crate) struct PortalConsentsPage<'a> {
    pub service: &'a str,
    pub base: &'a str,
    pub title: &'a str,
    pub action: &'a str,
    pub token: &'a str,
    pub username: &'a str,
    pub notice: Option<&'a str>,
    pub apps: Vec<AllowedApp>,
}

#[cfg(test)]
mod tests {
    use super::rule_check;
    use crate::accounts::policy::PasswordPolicy;

    #[test]
    fn the_script_checks_the_rules_it_can_read() {
        let policy = PasswordPolicy {
            require_classes: 3,
            ..PasswordPolicy::default()
        };
        let checks: Vec<(&str, String)> = policy.rules().iter().map(|r| rule_check(r)).collect();
        let kinds: Vec<&str> = checks.iter().map(|(k, _)| *k).collect();
        assert_eq!(
            kinds,
            ["min", "max", "", "classes", "", "personal", "words", ""]
        );
        assert_eq!(checks[0].1, policy.min_length.to_string());
        assert_eq!(checks[3].1, "3");
        assert_eq!(checks[6].1, "ahs|alberta|health|services|cpar");
    }
}
