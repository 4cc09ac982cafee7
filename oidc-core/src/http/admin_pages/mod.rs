//! The IAM admin pages under `/admin`, for service desk agents, Access Administrators and IAM
//! administrators.
//!
//! People sign in through the provider itself, as the built-in admin console client (public,
//! PKCE S256, password and passcode): `/admin` starts an authorization request whose `max_age` is
//! the admin recent-sign-in limit, and `/admin/callback` redeems the code through the token
//! endpoint's own rules and keeps the access token in an HttpOnly, `SameSite=Strict` cookie scoped
//! to `/admin`. Every request then runs the admin API's checks on that token
//! ([`staff::admin_caller`]), and every change goes through the library calls the API uses, which
//! check the person's role themselves; the pages only choose which forms to show. Each form carries
//! an HMAC of the sign-in's token: `SameSite` does not stop a same-site attacker (another
//! application on a sibling host), and not every browser honours it.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine;
use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::authorize::see_other;
use super::cookies::{self, SameSite};
use super::{AppState, pages, paths};
use crate::accounts::account::Password;
use crate::accounts::desk::{ROLE_IAM_ADMIN, ROLE_SERVICE_DESK};
use crate::accounts::provisioning::ROLE_ACCESS_ADMIN;
use crate::accounts::staff::{self, AdminCaller, Refused};
use crate::error::Error;
use crate::protocol::authorize::ADMIN_SCOPE;
use crate::protocol::pkce;
use crate::secret::{b64url, ct_eq, hmac_sha256, random_token};
use crate::{Provider, accounts, clients};

/// Holds the access token of the admin sign-in.
const ADMIN_COOKIE: &str = "iam_admin";
/// Holds `state`, `nonce`, the PKCE verifier and the page wanted while a sign-in is under way.
const LOGIN_COOKIE: &str = "iam_admin_login";
/// Says, for one page, that the person has just signed in again because the last sign-in expired.
const NOTICE_COOKIE: &str = "iam_admin_notice";
/// The notice itself.
const REAUTH_NOTICE: &str =
    "Your previous admin sign-in had expired, so you were asked to sign in again.";

/// The longest form field accepted (the library has tighter limits of its own).
const MAX_FIELD: usize = 1000;
/// The longest page address kept to return to after signing in.
const MAX_RETURN: usize = 1000;
/// How many search results one page lists.
const MAX_RESULTS: usize = 50;
/// How many audit events the audit page shows.
const AUDIT_PAGE: i64 = 100;

/// What a username must not carry raw in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

fn provider(s: &AppState) -> Provider {
    Provider { inner: s.clone() }
}

/// `{base}/admin`: where the admin pages and their cookies live.
fn admin_root(s: &AppState) -> String {
    format!("{}{}", s.config.base_path(), paths::ADMIN)
}

fn user_href(s: &AppState, username: &str) -> String {
    format!(
        "{}/users/{}",
        admin_root(s),
        utf8_percent_encode(username, SEGMENT)
    )
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// A library message as a sentence for the page.
fn sentence(m: &str) -> String {
    let mut chars = m.trim().chars();
    let mut out: String = match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => return String::new(),
    };
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

fn role_label(role: &str) -> String {
    match role {
        ROLE_SERVICE_DESK => "Service desk".into(),
        ROLE_ACCESS_ADMIN => "Access Administrator".into(),
        ROLE_IAM_ADMIN => "IAM administrator".into(),
        other => other.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Templates

/// The navigation bar and what the signed-in person may reach, shared by every admin page.
struct Nav {
    username: String,
    display: String,
    roles: String,
    desk: bool,
    access: bool,
    iam: bool,
    csrf: String,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "admin_message.html")]
struct MessagePage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    message: &'a str,
    link_href: &'a str,
    link_text: &'a str,
}

#[derive(Template)]
#[template(path = "admin_home.html")]
struct HomePage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    nav: &'a Nav,
}

struct UserLine {
    username: String,
    href: String,
    name: String,
    email: String,
    status: &'static str,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    nav: &'a Nav,
    q: &'a str,
    searched: bool,
    summary: String,
    results: Vec<UserLine>,
}

/// The outcome of a form, shown next to it.
struct Flash {
    /// Which form it belongs to.
    action: String,
    text: String,
    /// An error (the form's fields are marked invalid) rather than a result.
    error: bool,
}

struct UserView {
    username: String,
    action_base: String,
    name: String,
    email: String,
    roles: String,
    roles_value: String,
    disabled: bool,
    lock: String,
    password: String,
    secret_word: bool,
    verified: String,
}

#[derive(Template)]
#[template(path = "admin_user.html")]
struct UserPage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    nav: &'a Nav,
    u: UserView,
    desk: bool,
    manage: bool,
    roles_form: bool,
    flash: Option<Flash>,
}

impl UserPage<'_> {
    fn msg(&self, action: &str) -> Option<&Flash> {
        self.flash.as_ref().filter(|f| f.action == action)
    }
    fn invalid(&self, action: &str) -> bool {
        self.msg(action).is_some_and(|f| f.error)
    }
}

#[derive(Template)]
#[template(path = "admin_secret.html")]
struct SecretPage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    nav: &'a Nav,
    intro: Vec<String>,
    label: &'a str,
    secret: Option<&'a str>,
    guidance: Vec<String>,
    back_href: String,
    back_text: &'a str,
}

struct RegView {
    legal_name: String,
    email: String,
    clinic: String,
    practitioner_id: String,
    role_requested: String,
    submitted_by: String,
    created_at: String,
    /// Field ids are built from the registration id.
    key: String,
    approve_key: String,
    reject_key: String,
    action_base: String,
    mine: bool,
}

#[derive(Default)]
struct UrfValues {
    legal_name: String,
    email: String,
    clinic: String,
    practitioner_id: String,
    role_requested: String,
}

#[derive(Template)]
#[template(path = "admin_registrations.html")]
struct RegistrationsPage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    nav: &'a Nav,
    pending: Vec<RegView>,
    urf: UrfValues,
    flash: Option<Flash>,
}

impl RegistrationsPage<'_> {
    fn msg(&self, action: &str) -> Option<&Flash> {
        self.flash.as_ref().filter(|f| f.action == action)
    }
    fn invalid(&self, action: &str) -> bool {
        self.msg(action).is_some_and(|f| f.error)
    }
}

struct EventLine {
    seq: i64,
    at: String,
    actor: String,
    event: String,
    subject: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "admin_audit.html")]
struct AuditPage<'a> {
    service: &'a str,
    base: &'a str,
    title: &'a str,
    nav: &'a Nav,
    intact: bool,
    report: String,
    events: Vec<EventLine>,
}

fn message(
    s: &AppState,
    status: StatusCode,
    title: &str,
    text: &str,
    link: Option<(&str, &str)>,
) -> Response {
    let (link_href, link_text) = link.unwrap_or(("", ""));
    let page = MessagePage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title,
        message: text,
        link_href,
        link_text,
    };
    pages::render(status, &page)
}

fn internal(s: &AppState, e: &Error) -> Response {
    pages::internal(s, e)
}

/// The status and message of a library error meant for the administrator; internal failures are
/// logged and become the generic 500 page.
fn refused(s: &AppState, e: Error) -> Result<(StatusCode, String), Response> {
    match e {
        Error::Forbidden(m) => Ok((StatusCode::FORBIDDEN, sentence(&m))),
        Error::InvalidInput(m) => Ok((StatusCode::BAD_REQUEST, sentence(&m))),
        Error::NotFound(m) => Ok((StatusCode::NOT_FOUND, sentence(&m))),
        Error::Conflict(m) => Ok((StatusCode::CONFLICT, sentence(&m))),
        other => Err(internal(s, &other)),
    }
}

// ---------------------------------------------------------------------------------------------
// Signing in

/// The login cookie's contents.
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    /// The last admin sign-in had expired: say so once the person is back.
    reauth: bool,
    return_to: String,
}

impl Pending {
    fn encode(&self) -> String {
        format!(
            "{}.{}.{}.{}.{}",
            self.state,
            self.nonce,
            self.verifier,
            if self.reauth { "1" } else { "0" },
            b64url(self.return_to.as_bytes())
        )
    }

    fn decode(v: &str) -> Option<Pending> {
        let mut it = v.split('.');
        let (state, nonce, verifier, flag, ret) =
            (it.next()?, it.next()?, it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || state.is_empty() || nonce.is_empty() || verifier.is_empty() {
            return None;
        }
        let return_to = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(ret)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())?;
        Some(Pending {
            state: state.into(),
            nonce: nonce.into(),
            verifier: verifier.into(),
            reauth: flag == "1",
            return_to,
        })
    }
}

/// `candidate` when it is an admin page of the provider whose issuer path is `base`, else the
/// admin home: the return leg of a sign-in must never become an open redirect or land on the
/// callback or the API. Dot segments are refused, raw or encoded, as browsers resolve both.
fn safe_return(base: &str, candidate: &str) -> String {
    let root = format!("{base}{}", paths::ADMIN);
    let path = candidate.split(['?', '#']).next().unwrap_or("");
    let lower = candidate.to_ascii_lowercase();
    let under_root = path == root || path.starts_with(&format!("{root}/"));
    let excluded = [paths::ADMIN_CALLBACK, paths::ADMIN_API, "/admin/logout"]
        .iter()
        .map(|p| format!("{base}{p}"))
        .any(|p| path == p || path.starts_with(&format!("{p}/")));
    let ok = candidate.len() <= MAX_RETURN
        && under_root
        && !excluded
        && !path.contains("//")
        && !path.contains("/.")
        && !lower.contains("%2e")
        && !lower.contains("%2f")
        && !lower.contains("%5c")
        && !candidate.contains('\\')
        && !candidate.contains('#')
        && !candidate
            .chars()
            .any(|c| c.is_control() || c.is_whitespace());
    if ok { candidate.to_string() } else { root }
}

fn login_cookie_clear(s: &AppState) -> HeaderValue {
    cookies::clear_scoped(&s.config, LOGIN_COOKIE, &admin_root(s), SameSite::Lax)
}

fn admin_cookie_clear(s: &AppState) -> HeaderValue {
    cookies::clear_scoped(&s.config, ADMIN_COOKIE, &admin_root(s), SameSite::Strict)
}

/// Starts a sign-in through the provider's authorization endpoint, to come back to `return_to`.
fn start_sign_in(s: &AppState, return_to: &str, reauth: bool) -> Response {
    let (state, nonce, verifier) = match (random_token(), random_token(), random_token()) {
        (Ok(a), Ok(b), Ok(c)) => (a, b, c),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return internal(s, &e),
    };
    let pending = Pending {
        state,
        nonce,
        verifier,
        reauth,
        return_to: safe_return(s.config.base_path(), return_to),
    };
    let max_age = s.config.admin_recent_auth.as_secs().to_string();
    let redirect_uri = s.config.endpoint(paths::ADMIN_CALLBACK);
    let challenge = pkce::s256_challenge(&pending.verifier);
    let scope = format!("openid {ADMIN_SCOPE}");
    let query = serde_urlencoded::to_string([
        ("client_id", clients::ADMIN_CONSOLE_ID),
        ("redirect_uri", redirect_uri.as_str()),
        ("response_type", "code"),
        ("scope", scope.as_str()),
        ("state", pending.state.as_str()),
        ("nonce", pending.nonce.as_str()),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
        ("max_age", max_age.as_str()),
    ]);
    let query = match query {
        Ok(q) => q,
        Err(e) => return internal(s, &Error::Internal(e.to_string())),
    };
    let mut res = see_other(&format!(
        "{}{}?{query}",
        s.config.base_path(),
        paths::AUTHORIZE
    ));
    // Lax, not Strict: the provider sends the browser back here, which may follow a navigation
    // that began on another site. Its lifetime is that of a sign-in journey.
    let cookie = cookies::set_scoped(
        &s.config,
        LOGIN_COOKIE,
        &pending.encode(),
        &admin_root(s),
        SameSite::Lax,
        Some(s.config.journey_ttl.as_secs()),
    );
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, cookie);
    if reauth {
        h.append(header::SET_COOKIE, admin_cookie_clear(s));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// Whether the browser says another site started this request: it then withholds the
/// `SameSite=Strict` admin cookie even when it holds one.
fn cross_site(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("cross-site"))
}

/// A link followed from another site arrives without the admin cookie, and so would every
/// redirect after it: one click from our own page breaks the chain (no sign-in loop).
fn continue_page(s: &AppState, here: &str) -> Response {
    let target = safe_return(s.config.base_path(), here);
    message(
        s,
        StatusCode::OK,
        "Open the IAM admin pages",
        "You followed a link to the IAM admin pages from another site.",
        Some((&target, "Continue to the IAM admin pages")),
    )
}

/// A form came back without a usable sign-in: nothing was done.
fn sign_in_again(s: &AppState) -> Response {
    let root = admin_root(s);
    message(
        s,
        StatusCode::UNAUTHORIZED,
        "Please sign in again",
        &format!(
            "Your admin sign-in has expired: the admin pages need a sign-in with password and \
             passcode in the last {} minutes. Nothing was changed. Sign in again, then repeat \
             what you were doing.",
            s.config.admin_recent_auth.as_secs().div_ceil(60)
        ),
        // The stale cookie stays: the sign-in it leads to then says why it was needed.
        Some((&root, "Sign in again")),
    )
}

fn no_role(s: &AppState, code: &str) -> Response {
    let logout = format!("{}{}", s.config.base_path(), paths::END_SESSION);
    let text = if code == "forbidden" {
        "Your account holds no IAM administration role (service desk, Access Administrator or \
         IAM administrator), so the admin pages are not available to you. If you need them, \
         ask an IAM administrator."
    } else {
        "This sign-in cannot be used for the admin pages: they need an active account signed in \
         with password and token passcode."
    };
    message(
        s,
        StatusCode::FORBIDDEN,
        "No access to the IAM admin pages",
        text,
        Some((&logout, "Sign out")),
    )
}

/// The signed-in person, and what every page and form needs from the sign-in.
pub(crate) struct Admin {
    caller: AdminCaller,
    csrf: String,
    notice: Option<&'static str>,
}

impl Admin {
    fn holds(&self, roles: &[&str]) -> bool {
        self.caller.holds_any(roles)
    }

    fn nav(&self) -> Nav {
        let u = &self.caller.user;
        Nav {
            username: u.username.clone(),
            display: u.name.clone().unwrap_or_else(|| u.username.clone()),
            roles: u
                .roles
                .iter()
                .filter(|r| super::admin_api::STAFF.contains(&r.as_str()))
                .map(|r| role_label(r))
                .collect::<Vec<_>>()
                .join(", "),
            desk: self.holds(&[ROLE_SERVICE_DESK, ROLE_IAM_ADMIN]),
            access: self.holds(&[ROLE_ACCESS_ADMIN, ROLE_IAM_ADMIN]),
            iam: self.holds(&[ROLE_IAM_ADMIN]),
            csrf: self.csrf.clone(),
            notice: self.notice,
        }
    }
}

/// The form token of a sign-in: an HMAC of its access token, so a form is good only for the
/// sign-in that rendered it, and nothing needs storing.
fn form_token(s: &AppState, access_token: &str) -> Result<String, Error> {
    let mac = hmac_sha256(
        &s.config.audit_key,
        format!("oidc-core admin pages form\0{access_token}").as_bytes(),
    )?;
    Ok(b64url(&mac))
}

/// Checks the admin cookie with the admin API's rules. `here` is the page asked for on a GET
/// (without a usable sign-in the person is sent to sign in and back); `None` for a form post,
/// which is never replayed after a sign-in.
async fn authenticate(
    s: &AppState,
    headers: &HeaderMap,
    here: Option<&str>,
) -> Result<Admin, Response> {
    let token = cookies::get_scoped(&s.config, headers, ADMIN_COOKIE).filter(|t| !t.is_empty());
    let Some(token) = token else {
        return Err(match here {
            Some(h) if cross_site(headers) => continue_page(s, h),
            Some(h) => start_sign_in(s, h, false),
            None => sign_in_again(s),
        });
    };
    let caller = match staff::admin_caller(s, &token).await {
        Ok(c) => c,
        Err(Refused::InvalidToken(_) | Refused::StepUp { .. }) => {
            return Err(match here {
                Some(h) => start_sign_in(s, h, true),
                None => sign_in_again(s),
            });
        }
        Err(Refused::InsufficientScope(_)) => return Err(no_role(s, "insufficient_scope")),
        Err(Refused::NoRole) => return Err(no_role(s, "forbidden")),
        Err(Refused::Failed(e)) => return Err(internal(s, &e)),
    };
    let csrf = form_token(s, &token).map_err(|e| internal(s, &e))?;
    let notice = cookies::get_scoped(&s.config, headers, NOTICE_COOKIE)
        .filter(|v| v == "reauth")
        .map(|_| REAUTH_NOTICE);
    Ok(Admin {
        caller,
        csrf,
        notice,
    })
}

/// Renders an admin page; a notice shown once is then forgotten.
fn respond<T: Template>(s: &AppState, admin: &Admin, status: StatusCode, page: &T) -> Response {
    let mut res = pages::render(status, page);
    if admin.notice.is_some() {
        res.headers_mut().append(
            header::SET_COOKIE,
            cookies::clear_scoped(&s.config, NOTICE_COOKIE, &admin_root(s), SameSite::Lax),
        );
    }
    res
}

/// The page asked for, as the browser sees it (the router may be nested under the issuer's path).
fn here(s: &AppState, uri: &Uri) -> String {
    let pq = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    format!("{}{pq}", s.config.base_path())
}

/// The signed-in administrator, as an extractor: a page (GET) without a usable sign-in sends the
/// person to sign in and back; a form post is never replayed after a sign-in.
impl axum::extract::FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let here = (parts.method == axum::http::Method::GET).then(|| here(s, &parts.uri));
        authenticate(s, &parts.headers, here.as_deref()).await
    }
}

/// A posted form: decoded, each field once and of bounded length, with the right form token.
fn read_form(
    s: &AppState,
    admin: &Admin,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<crate::protocol::authorize::RawParams, Response> {
    let bad = |text: &str| {
        message(
            s,
            StatusCode::BAD_REQUEST,
            "This form cannot be used",
            text,
            None,
        )
    };
    let Some(pairs) = super::form_pairs(headers, body) else {
        return Err(bad("The form was not sent as a web form."));
    };
    if pairs.iter().any(|(_, v)| v.len() > MAX_FIELD) {
        return Err(bad("A field of the form is too long."));
    }
    let raw = crate::protocol::authorize::RawParams::from_pairs(pairs);
    if let Some(name) = raw.duplicated().first() {
        return Err(bad(&format!("The form repeats the {name} field.")));
    }
    let presented = raw.get("csrf").unwrap_or("");
    if !ct_eq(admin.csrf.as_bytes(), presented.as_bytes()) {
        let root = admin_root(s);
        return Err(message(
            s,
            StatusCode::FORBIDDEN,
            "This form cannot be accepted",
            "The form did not come from your current admin sign-in (it may be from an older \
             page, or from another site). Nothing was changed. Open the page again and retry.",
            Some((&root, "Back to the admin pages")),
        ));
    }
    Ok(raw)
}

// ---------------------------------------------------------------------------------------------
// Handlers: signing in and out

/// `GET /admin/callback`: the provider's answer to the admin console's authorization request.
/// Whether the ID token's `nonce` is `expected`. The signature is not checked: the token never
/// left this process.
fn nonce_matches(id_token: &str, expected: &str) -> bool {
    let payload = id_token
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    payload
        .as_ref()
        .and_then(|v| v.get("nonce"))
        .and_then(|n| n.as_str())
        .is_some_and(|n| ct_eq(n.as_bytes(), expected.as_bytes()))
}

/// `GET /admin`: the dashboard.
pub(crate) async fn home(State(s): State<AppState>, admin: Admin) -> Response {
    let nav = admin.nav();
    let page = HomePage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "IAM administration",
        nav: &nav,
    };
    respond(&s, &admin, StatusCode::OK, &page)
}

/// What a successful form on the account page leads to.
enum Done {
    /// A result shown next to the form.
    Said(String),
    /// A secret shown once, on a page of its own.
    Shown(Response),
}

fn roles_text(roles: &[String]) -> String {
    if roles.is_empty() {
        "none".into()
    } else {
        roles.join(", ")
    }
}

mod audit;
mod registrations;
mod session;
#[cfg(test)]
mod tests;
mod users;

pub(crate) use audit::audit;
pub(crate) use registrations::{registration_action, registrations, submit_registration};
pub(crate) use session::{callback, sign_out};
pub(crate) use users::{user, user_action, users};
