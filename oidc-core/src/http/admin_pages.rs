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

use crate::accounts::account::Password;
use crate::accounts::staff::{self, AdminCaller, Refused};
use super::authorize::see_other;
use super::cookies::{self, SameSite};
use super::{AppState, pages, paths};
use crate::accounts::desk::{ROLE_IAM_ADMIN, ROLE_SERVICE_DESK};
use crate::accounts::provisioning::ROLE_ACCESS_ADMIN;
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
struct Admin {
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

macro_rules! admin {
    ($s:expr, $h:expr, $here:expr) => {
        match authenticate(&$s, &$h, $here).await {
            Ok(a) => a,
            Err(res) => return res,
        }
    };
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
pub(crate) async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let root = admin_root(&s);
    let again = Some((root.as_str(), "Sign in to the admin pages"));
    let refuse =
        |status: StatusCode, title: &str, text: &str| message(&s, status, title, text, again);
    let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(q.as_deref().unwrap_or(""))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer from the sign-in page is not correctly encoded.",
        );
    };
    let raw = crate::protocol::authorize::RawParams::from_pairs(pairs);
    if !raw.duplicated().is_empty() {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer from the sign-in page repeats a parameter.",
        );
    }
    let pending =
        cookies::get_scoped(&s.config, &headers, LOGIN_COOKIE).and_then(|v| Pending::decode(&v));
    let Some(pending) = pending else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "This browser has no admin sign-in under way: it may have taken too long, or been \
             started in another window. Please start again.",
        );
    };
    // Nothing is set or cleared before the state matches: a forged answer must not disturb a
    // sign-in the person has under way.
    let state = raw.get("state").unwrap_or("");
    if !ct_eq(state.as_bytes(), pending.state.as_bytes()) {
        return refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer does not belong to the sign-in this browser started (perhaps a newer one \
             was started in another window). Nothing was changed. Please start again.",
        );
    }
    let finish = |mut res: Response| {
        res.headers_mut()
            .append(header::SET_COOKIE, login_cookie_clear(&s));
        res
    };
    // RFC 9207: the answer must come from this provider, not from one mixed up with it.
    if raw.get("iss") != Some(s.config.issuer()) {
        return finish(refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer did not come from this sign-in service. Please start again.",
        ));
    }
    if let Some(code) = raw.get("error") {
        let text = match code {
            "access_denied" => "The sign-in was refused or cancelled.",
            "login_required" | "interaction_required" => {
                "The sign-in needs you to enter your password and passcode."
            }
            "temporarily_unavailable" | "server_error" => {
                "The sign-in service could not complete the sign-in just now."
            }
            _ => "The sign-in service refused the request of the admin pages.",
        };
        return finish(refuse(
            StatusCode::BAD_REQUEST,
            "The sign-in did not complete",
            &format!("{text} Please try again, or call the service desk if this keeps happening."),
        ));
    }
    let Some(code) = raw.get("code") else {
        return finish(refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The answer from the sign-in page has no authorization code.",
        ));
    };
    let redirect_uri = s.config.endpoint(paths::ADMIN_CALLBACK);
    // The admin console is a public client of this provider: its code is redeemed in-process
    // by the token endpoint's own use case, under exactly the rules a remote client meets.
    let console = match clients::find(&s.db, clients::ADMIN_CONSOLE_ID).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return finish(internal(
                &s,
                &Error::Internal("the admin console client is missing".into()),
            ));
        }
        Err(e) => return finish(internal(&s, &e)),
    };
    let exchanged = crate::tokens::exchange::exchange(
        &s,
        &console,
        crate::tokens::exchange::TokenRequest::AuthorizationCode {
            code: code.to_string(),
            redirect_uri,
            code_verifier: Some(pending.verifier.clone()),
        },
    )
    .await;
    let tokens = match exchanged {
        Ok(t) => t,
        Err(e)
            if matches!(
                e.error.code,
                crate::protocol::errors::ErrorCode::ServerError
                    | crate::protocol::errors::ErrorCode::TemporarilyUnavailable
            ) =>
        {
            return finish(internal(&s, &Error::Internal(e.error.description)));
        }
        Err(e) => {
            tracing::info!(error = %e.error.description, "admin pages: code exchange refused");
            return finish(refuse(
                StatusCode::BAD_REQUEST,
                "This sign-in cannot be completed",
                "The sign-in had expired or was already used. Please start again.",
            ));
        }
    };
    // The ID token was minted by this process a moment ago: its nonce is what binds it to the
    // browser that started the sign-in.
    if !nonce_matches(tokens.id_token.as_deref().unwrap_or(""), &pending.nonce) {
        return finish(refuse(
            StatusCode::BAD_REQUEST,
            "This sign-in cannot be completed",
            "The sign-in does not belong to this browser. Please start again.",
        ));
    }
    // The same checks every page makes, once here: a sign-in that cannot open the admin pages
    // must end on a page, not in a loop back to the provider.
    if let Err(refused) = staff::admin_caller(&s, &tokens.access_token).await {
        return finish(match refused {
            Refused::InvalidToken(_) | Refused::StepUp { .. } => message(
                &s,
                StatusCode::FORBIDDEN,
                "This sign-in is not enough for the admin pages",
                &format!(
                    "The admin pages need a sign-in with your password and token passcode in the \
                     last {} minutes.",
                    s.config.admin_recent_auth.as_secs().div_ceil(60)
                ),
                again,
            ),
            Refused::InsufficientScope(_) => no_role(&s, "insufficient_scope"),
            Refused::NoRole => no_role(&s, "forbidden"),
            Refused::Failed(e) => internal(&s, &e),
        });
    }
    let mut res = finish(see_other(&safe_return(
        s.config.base_path(),
        &pending.return_to,
    )));
    let h = res.headers_mut();
    h.append(
        header::SET_COOKIE,
        cookies::set_scoped(
            &s.config,
            ADMIN_COOKIE,
            &tokens.access_token,
            &root,
            SameSite::Strict,
            None,
        ),
    );
    if pending.reauth {
        h.append(
            header::SET_COOKIE,
            cookies::set_scoped(
                &s.config,
                NOTICE_COOKIE,
                "reauth",
                &root,
                SameSite::Lax,
                Some(120),
            ),
        );
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

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

/// `POST /admin/logout`: forgets the admin sign-in, then ends the provider's session at its
/// end-session endpoint (which asks the person to confirm).
pub(crate) async fn sign_out(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A sign-in that no longer works may always be forgotten; a live one only by its own form,
    // so that another site cannot sign people out.
    if let Ok(admin) = authenticate(&s, &headers, None).await {
        if let Err(res) = read_form(&s, &admin, &headers, &body) {
            return res;
        }
        // Revoke the admin token's grant too: a copy of the cookie must stop working at the API.
        let token = cookies::get_scoped(&s.config, &headers, ADMIN_COOKIE).unwrap_or_default();
        if let Some(claims) = crate::tokens::decode_access_token(&s.config, &s.keys, &token)
            && let Err(e) = crate::tokens::revoke_grant(&s.db, &claims.gid, s.now()).await
        {
            return pages::internal(&s, &e);
        }
    }
    let mut res = see_other(&format!("{}{}", s.config.base_path(), paths::END_SESSION));
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, admin_cookie_clear(&s));
    h.append(header::SET_COOKIE, login_cookie_clear(&s));
    res
}

// ---------------------------------------------------------------------------------------------
// Handlers: pages

/// `GET /admin`: the dashboard.
pub(crate) async fn home(State(s): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let admin = admin!(s, headers, Some(&here(&s, &uri)));
    let nav = admin.nav();
    let page = HomePage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "IAM administration",
        nav: &nav,
    };
    respond(&s, &admin, StatusCode::OK, &page)
}

#[derive(serde::Deserialize)]
pub(crate) struct Search {
    q: Option<String>,
}

/// `GET /admin/users?q=…`: find accounts whose username, email or name contains `q`.
pub(crate) async fn users(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Response {
    let admin = admin!(s, headers, Some(&here(&s, &uri)));
    let nav = admin.nav();
    let search = serde_urlencoded::from_str::<Search>(query.as_deref().unwrap_or(""))
        .ok()
        .and_then(|s| s.q);
    let q = search.as_deref().unwrap_or("").trim();
    if q.len() > 200 {
        return message(
            &s,
            StatusCode::BAD_REQUEST,
            "Search too long",
            "Search for at most 200 characters.",
            None,
        );
    }
    let (results, summary) = if search.is_some() {
        let all = match provider(&s).list_users().await {
            Ok(u) => u,
            Err(e) => return internal(&s, &e),
        };
        let needle = q.to_lowercase();
        let mut found: Vec<_> = all
            .into_iter()
            .filter(|u| {
                u.username.to_lowercase().contains(&needle)
                    || u.email.to_lowercase().contains(&needle)
                    || u.name
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&needle))
            })
            .collect();
        found.sort_by(|a, b| a.username.cmp(&b.username));
        let total = found.len();
        let summary = match total {
            0 => "No account matches.".to_string(),
            1 => "One account matches.".to_string(),
            n if n > MAX_RESULTS => {
                format!(
                    "{n} accounts match; the first {MAX_RESULTS} are listed. Narrow the search."
                )
            }
            n => format!("{n} accounts match."),
        };
        let lines = found
            .into_iter()
            .take(MAX_RESULTS)
            .map(|u| UserLine {
                href: user_href(&s, &u.username),
                username: u.username,
                name: u.name.unwrap_or_default(),
                email: u.email,
                status: if u.disabled { "Disabled" } else { "Active" },
            })
            .collect();
        (lines, summary)
    } else {
        (Vec::new(), String::new())
    };
    let page = UsersPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Find a user",
        nav: &nav,
        q,
        searched: search.is_some(),
        summary,
        results,
    };
    respond(&s, &admin, StatusCode::OK, &page)
}

/// `GET /admin/users/{username}`.
pub(crate) async fn user(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    Path(username): Path<String>,
) -> Response {
    let admin = admin!(s, headers, Some(&here(&s, &uri)));
    user_page(&s, &admin, &username, None, StatusCode::OK).await
}

async fn user_page(
    s: &AppState,
    admin: &Admin,
    username: &str,
    flash: Option<Flash>,
    status: StatusCode,
) -> Response {
    let row = match accounts::find_by_username(&s.db, username).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let users = format!("{}/users", admin_root(s));
            return message(
                s,
                StatusCode::NOT_FOUND,
                "No such account",
                &format!("There is no account with the username {username}."),
                Some((&users, "Find a user")),
            );
        }
        Err(e) => return internal(s, &e),
    };
    let now = s.now();
    let me = admin.caller.actor.to_string();
    let lock = match row.locked_until {
        Some(t) if t > now => format!("Locked until {}", when(t)),
        _ if row.failed_attempts == 1 => "Not locked (1 failed sign-in)".into(),
        _ if row.failed_attempts > 1 => format!(
            "Not locked ({} failed sign-ins in a row)",
            row.failed_attempts
        ),
        _ => "Not locked".into(),
    };
    let password = match &row.password {
        Password::Unset => "None yet: the service desk issues a temporary one".to_string(),
        Password::Temporary {
            expires_at: Some(t),
            ..
        } if *t <= now => format!("Temporary, expired {}", when(*t)),
        Password::Temporary {
            expires_at: Some(t),
            ..
        } => format!("Temporary, expires {}", when(*t)),
        Password::Temporary { .. } => "Temporary".into(),
        Password::Permanent(_) => "Set by the person".into(),
    };
    let verified = match &row.caller_verified {
        Some((by, at)) if *by == me => format!("Verified by you at {}", when(*at)),
        Some((by, at)) => format!("Last verified by {by} at {}", when(*at)),
        None => "Not verified".into(),
    };
    let roles = row.roles.clone();
    let nav = admin.nav();
    let page = UserPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Account",
        nav: &nav,
        u: UserView {
            action_base: user_href(s, &row.username),
            name: row.name.clone().unwrap_or_default(),
            email: row.email.clone(),
            roles: if roles.is_empty() {
                "None".into()
            } else {
                roles.join(", ")
            },
            roles_value: roles.join(" "),
            disabled: row.disabled,
            lock,
            password,
            secret_word: row.recovery.is_enrolled(),
            verified,
            username: row.username.clone(),
        },
        desk: nav.desk,
        manage: nav.access,
        roles_form: nav.iam,
        flash,
    };
    respond(s, admin, status, &page)
}

/// What a successful form on the account page leads to.
enum Done {
    /// A result shown next to the form.
    Said(String),
    /// A secret shown once, on a page of its own.
    Shown(Response),
}

/// `POST /admin/users/{username}/{action}`.
pub(crate) async fn user_action(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((username, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let admin = admin!(s, headers, None);
    let form = match read_form(&s, &admin, &headers, &body) {
        Ok(f) => f,
        Err(res) => return res,
    };
    let p = provider(&s);
    let actor = &admin.caller.actor;
    let field = |name: &str| form.get(name).unwrap_or("").trim().to_string();
    let outcome: Result<Done, Error> = match action.as_str() {
        "verify-word" => {
            let word = form.get("secret_word").unwrap_or("");
            if word.trim().is_empty() {
                Err(Error::InvalidInput(
                    "type the secret word the caller says".into(),
                ))
            } else {
                p.verify_caller_secret_word(actor, &username, word)
                    .await
                    .map(|m| Done::Said(verification_result(m)))
            }
        }
        "send-code" => p.send_caller_code(actor, &username).await.map(|()| {
            Done::Said(
                "A one-time code was sent to the account's registered email address. Ask the \
                 caller to read it to you, then enter it below."
                    .into(),
            )
        }),
        "verify-code" => {
            let code = field("code");
            if code.is_empty() {
                Err(Error::InvalidInput(
                    "enter the code the caller reads to you".into(),
                ))
            } else {
                p.verify_caller_code(actor, &username, &code)
                    .await
                    .map(|m| Done::Said(verification_result(m)))
            }
        }
        "temporary-password" => match p.issue_temporary_password(actor, &username).await {
            Ok(secret) => Ok(Done::Shown(
                temporary_password_page(&s, &admin, &username, secret.secret()).await,
            )),
            Err(e) => Err(e),
        },
        "unlock" => p
            .unlock_account(actor, &username)
            .await
            .map(|()| Done::Said("The account is unlocked.".into())),
        "disable" => p
            .set_account_disabled(actor, &username, true)
            .await
            .map(|_| Done::Said("The account is disabled; its sessions have ended.".into())),
        "enable" => p
            .set_account_disabled(actor, &username, false)
            .await
            .map(|_| Done::Said("The account is enabled.".into())),
        "lost-token" => {
            let hours = field("hours");
            let hours = if hours.is_empty() {
                Ok(None)
            } else {
                hours.parse::<u32>().map(Some).map_err(|_| {
                    Error::InvalidInput("the hours are a whole number, such as 24".into())
                })
            };
            match hours {
                Ok(h) => match p.report_token_lost(actor, &username, h).await {
                    Ok(code) => Ok(Done::Shown(
                        emergency_page(&s, &admin, &username, code.secret()).await,
                    )),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        "roles" => {
            let roles: Vec<String> = form
                .get("roles")
                .unwrap_or("")
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect();
            p.set_roles(actor, &username, roles)
                .await
                .map(|u| Done::Said(format!("The roles are now: {}.", roles_text(&u.roles))))
        }
        _ => {
            return message(
                &s,
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no such action.",
                None,
            );
        }
    };
    match outcome {
        Ok(Done::Shown(res)) => res,
        Ok(Done::Said(text)) => {
            let flash = Flash {
                action,
                text,
                error: false,
            };
            user_page(&s, &admin, &username, Some(flash), StatusCode::OK).await
        }
        Err(e) => match refused(&s, e) {
            Ok((StatusCode::NOT_FOUND, text)) => {
                message(&s, StatusCode::NOT_FOUND, "No such account", &text, None)
            }
            Ok((status, text)) => {
                let flash = Flash {
                    action,
                    text,
                    error: true,
                };
                user_page(&s, &admin, &username, Some(flash), status).await
            }
            Err(res) => res,
        },
    }
}

fn roles_text(roles: &[String]) -> String {
    if roles.is_empty() {
        "none".into()
    } else {
        roles.join(", ")
    }
}

fn verification_result(matched: bool) -> String {
    if matched {
        "Match: the caller is verified. You can now act on this account for a short time.".into()
    } else {
        "No match: the caller is not verified. Ask again, or verify with a one-time code to \
         their registered email."
            .into()
    }
}

async fn temporary_password_page(
    s: &AppState,
    admin: &Admin,
    username: &str,
    secret: &str,
) -> Response {
    let expires = expiry(s, username, |row| match &row.password {
        Password::Temporary { expires_at, .. } => *expires_at,
        _ => None,
    })
    .await;
    let mut guidance = vec![
        "Read it to the caller. It is shown only once: it cannot be shown again.".to_string(),
        "It can be used only to set a new password: the caller signs in with it and is asked \
         for a new password, then for recovery information."
            .to_string(),
    ];
    if let Some(t) = expires {
        guidance.insert(1, format!("It expires {t}."));
    }
    let nav = admin.nav();
    let page = SecretPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Temporary password",
        nav: &nav,
        intro: vec![format!(
            "A temporary password was issued for {username}. The account's sessions have ended."
        )],
        label: "Temporary password",
        secret: Some(secret),
        guidance,
        back_href: user_href(s, username),
        back_text: "Back to the account",
    };
    respond(s, admin, StatusCode::OK, &page)
}

/// When something just issued for `username` stops working, as the library stored it. A secret is
/// shown once, so a failure here costs the date only, never the page.
async fn expiry(
    s: &AppState,
    username: &str,
    field: impl Fn(&accounts::Account) -> Option<DateTime<Utc>>,
) -> Option<String> {
    match accounts::find_by_username(&s.db, username).await {
        Ok(row) => row.as_ref().and_then(field).map(when),
        Err(e) => {
            tracing::error!(error = %e, "admin pages: could not read back an expiry");
            None
        }
    }
}

async fn emergency_page(s: &AppState, admin: &Admin, username: &str, secret: &str) -> Response {
    let nav = admin.nav();
    let validity = match expiry(s, username, |row| row.emergency.as_ref().map(|e| e.expires_at)).await {
        Some(t) => format!(
            "It works instead of the token until {t}, or until a replacement token is active."
        ),
        None => "It works instead of the token for a limited time, or until a replacement \
                 token is active."
            .to_string(),
    };
    let page = SecretPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Token reported lost",
        nav: &nav,
        intro: vec![format!(
            "The token of {username} is marked lost and can no longer be used; the account's \
             sessions have ended."
        )],
        label: "Emergency passcode",
        secret: Some(secret),
        guidance: vec![
            "Read it to the caller. It is shown only once: it cannot be shown again.".into(),
            validity,
            "Arrange a replacement token.".into(),
        ],
        back_href: user_href(s, username),
        back_text: "Back to the account",
    };
    respond(s, admin, StatusCode::OK, &page)
}

// ---------------------------------------------------------------------------------------------
// Registrations (URFs)

fn may_provision(admin: &Admin) -> bool {
    admin.holds(&[ROLE_ACCESS_ADMIN, ROLE_IAM_ADMIN])
}

fn provisioning_refused(s: &AppState) -> Response {
    let root = admin_root(s);
    message(
        s,
        StatusCode::FORBIDDEN,
        "Registrations are for Access Administrators",
        "Entering and approving registrations needs the Access Administrator role.",
        Some((&root, "Back to the admin pages")),
    )
}

/// `GET /admin/registrations`.
pub(crate) async fn registrations(
    State(s): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let admin = admin!(s, headers, Some(&here(&s, &uri)));
    if !may_provision(&admin) {
        return provisioning_refused(&s);
    }
    registrations_page(&s, &admin, UrfValues::default(), None, StatusCode::OK).await
}

async fn registrations_page(
    s: &AppState,
    admin: &Admin,
    urf: UrfValues,
    flash: Option<Flash>,
    status: StatusCode,
) -> Response {
    let list = match provider(s).list_registrations(Some("pending")).await {
        Ok(l) => l,
        Err(e) => return internal(s, &e),
    };
    let me = admin.caller.actor.to_string();
    let root = admin_root(s);
    let pending = list
        .into_iter()
        .map(|r| RegView {
            key: utf8_percent_encode(&r.id, SEGMENT).to_string(),
            approve_key: format!("approve-{}", utf8_percent_encode(&r.id, SEGMENT)),
            reject_key: format!("reject-{}", utf8_percent_encode(&r.id, SEGMENT)),
            action_base: format!(
                "{root}/registrations/{}",
                utf8_percent_encode(&r.id, SEGMENT)
            ),
            mine: r.submitted_by == me,
            legal_name: r.legal_name,
            email: r.email,
            clinic: r.clinic,
            practitioner_id: r.practitioner_id,
            role_requested: r.role_requested,
            submitted_by: r.submitted_by,
            created_at: when(r.created_at),
        })
        .collect();
    let nav = admin.nav();
    let page = RegistrationsPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Registrations",
        nav: &nav,
        pending,
        urf,
        flash,
    };
    respond(s, admin, status, &page)
}

/// `POST /admin/registrations`: an Access Administrator enters a URF.
pub(crate) async fn submit_registration(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let admin = admin!(s, headers, None);
    let form = match read_form(&s, &admin, &headers, &body) {
        Ok(f) => f,
        Err(res) => return res,
    };
    if !may_provision(&admin) {
        return provisioning_refused(&s);
    }
    let v = |name: &str| form.get(name).unwrap_or("").trim().to_string();
    let urf = UrfValues {
        legal_name: v("legal_name"),
        email: v("email"),
        clinic: v("clinic"),
        practitioner_id: v("practitioner_id"),
        role_requested: v("role_requested"),
    };
    let result = provider(&s)
        .submit_registration(
            &admin.caller.actor,
            crate::NewRegistration {
                legal_name: urf.legal_name.clone(),
                email: urf.email.clone(),
                clinic: urf.clinic.clone(),
                practitioner_id: urf.practitioner_id.clone(),
                role_requested: Some(urf.role_requested.clone()).filter(|r| !r.is_empty()),
            },
        )
        .await;
    match result {
        Ok(r) => {
            let flash = Flash {
                action: "submit".into(),
                text: format!(
                    "The registration of {} was entered. Another Access Administrator must \
                     approve it.",
                    r.legal_name
                ),
                error: false,
            };
            registrations_page(
                &s,
                &admin,
                UrfValues::default(),
                Some(flash),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => match refused(&s, e) {
            Ok((status, text)) => {
                let flash = Flash {
                    action: "submit".into(),
                    text,
                    error: true,
                };
                registrations_page(&s, &admin, urf, Some(flash), status).await
            }
            Err(res) => res,
        },
    }
}

/// `POST /admin/registrations/{id}/approve` and `…/reject`.
pub(crate) async fn registration_action(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let admin = admin!(s, headers, None);
    let form = match read_form(&s, &admin, &headers, &body) {
        Ok(f) => f,
        Err(res) => return res,
    };
    if !may_provision(&admin) {
        return provisioning_refused(&s);
    }
    let p = provider(&s);
    let actor = &admin.caller.actor;
    let key = utf8_percent_encode(&id, SEGMENT).to_string();
    let outcome: Result<Done, Error> = match action.as_str() {
        "approve" => {
            let username = form.get("username").unwrap_or("").trim();
            let serial = form.get("serial").unwrap_or("").trim();
            let choice = match form.get("token") {
                Some("hardware") if !serial.is_empty() => Ok(crate::TokenChoice::Hardware {
                    serial: serial.to_string(),
                }),
                Some("hardware") => Err(Error::InvalidInput(
                    "enter the serial of the hardware token".into(),
                )),
                Some("soft") => Ok(crate::TokenChoice::Soft),
                _ => Err(Error::InvalidInput(
                    "choose a hardware token (with its serial) or a soft token".into(),
                )),
            };
            match choice {
                Ok(choice) => match p.approve_registration(actor, &id, username, choice).await {
                    Ok(a) => Ok(Done::Shown(approved_page(&s, &admin, &a))),
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            }
        }
        "reject" => {
            let reason = form.get("reason").unwrap_or("");
            p.reject_registration(actor, &id, reason).await.map(|r| {
                Done::Said(format!(
                    "The registration of {} was rejected; the reason is recorded.",
                    r.legal_name
                ))
            })
        }
        _ => {
            return message(
                &s,
                StatusCode::NOT_FOUND,
                "Page not found",
                "There is no such action.",
                None,
            );
        }
    };
    let (flash, status) = match outcome {
        Ok(Done::Shown(res)) => return res,
        Ok(Done::Said(text)) => (
            Flash {
                action: format!("{action}-{key}"),
                text,
                error: false,
            },
            StatusCode::OK,
        ),
        Err(e) => match refused(&s, e) {
            Ok((status, text)) => (
                Flash {
                    // A registration no longer pending is not listed: say it at the top.
                    action: if status == StatusCode::BAD_REQUEST {
                        format!("{action}-{key}")
                    } else {
                        "list".into()
                    },
                    text,
                    error: true,
                },
                status,
            ),
            Err(res) => return res,
        },
    };
    registrations_page(&s, &admin, UrfValues::default(), Some(flash), status).await
}

fn approved_page(s: &AppState, admin: &Admin, a: &crate::Approval) -> Response {
    let nav = admin.nav();
    let reg = &a.registration;
    let mut intro = vec![
        format!(
            "The account {} was created for {} with the role {}.",
            a.user.username,
            reg.legal_name,
            roles_text(&a.user.roles)
        ),
        format!("Token: serial {}.", a.serial),
        format!(
            "The Welcome email with the username goes to {}.",
            a.user.email
        ),
    ];
    let (label, secret, guidance) = match &a.soft_token {
        Some(t) => (
            "Soft token activation code",
            Some(t.activation_code.secret()),
            vec![
                format!(
                    "Give it to {} by phone, never by email. It is shown only once.",
                    reg.legal_name
                ),
                format!(
                    "It expires {}. They enter it with their username at {}.",
                    when(t.activation_expires_at),
                    s.config.endpoint(paths::ACTIVATE_TOKEN)
                ),
            ],
        ),
        None => {
            intro.push("The hardware token goes to the person separately.".into());
            ("", None, Vec::new())
        }
    };
    let page = SecretPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Registration approved",
        nav: &nav,
        intro,
        label,
        secret,
        guidance,
        back_href: format!("{}/registrations", admin_root(s)),
        back_text: "Back to the registrations",
    };
    respond(s, admin, StatusCode::OK, &page)
}

// ---------------------------------------------------------------------------------------------
// Audit log

/// `GET /admin/audit` (IAM administrators): the latest events, newest first, and the chain check.
pub(crate) async fn audit(State(s): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let admin = admin!(s, headers, Some(&here(&s, &uri)));
    if !admin.holds(&[ROLE_IAM_ADMIN]) {
        let root = admin_root(&s);
        return message(
            &s,
            StatusCode::FORBIDDEN,
            "The audit log is for IAM administrators",
            "Reading the audit log needs the IAM administrator role.",
            Some((&root, "Back to the admin pages")),
        );
    }
    let p = provider(&s);
    let report = match p.verify_audit_log().await {
        Ok(r) => r,
        Err(e) => return internal(&s, &e),
    };
    // Sequence numbers have no gaps, so an intact chain's length says where its tail starts;
    // reading on from there also catches what was appended since.
    let mut since = (report.entries - AUDIT_PAGE).max(0);
    let mut tail: Vec<crate::AuditEvent> = Vec::new();
    loop {
        let batch = match p.audit_events(Some(since), crate::audit::MAX_LIST).await {
            Ok(b) => b,
            Err(e) => return internal(&s, &e),
        };
        let Some(last) = batch.last().map(|e| e.seq) else {
            break;
        };
        let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) >= crate::audit::MAX_LIST;
        tail.extend(batch);
        let keep = usize::try_from(AUDIT_PAGE).unwrap_or(usize::MAX);
        if tail.len() > keep {
            tail.drain(..tail.len() - keep);
        }
        if !full {
            break;
        }
        since = last;
    }
    let events = tail
        .into_iter()
        .rev()
        .map(|e| EventLine {
            seq: e.seq,
            at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
            actor: e.actor,
            event: e.event,
            subject: e.subject.unwrap_or_default(),
            detail: if e.detail.as_object().is_some_and(|o| o.is_empty()) || e.detail.is_null() {
                String::new()
            } else {
                e.detail.to_string()
            },
        })
        .collect();
    let (intact, text) = match (report.first_broken, &report.reason) {
        (None, _) => (
            true,
            format!("The chain is intact: {} entries checked.", report.entries),
        ),
        (Some(seq), reason) => (
            false,
            format!(
                "The chain is broken at entry {seq}: {}. Entries after it cannot be trusted; \
                 report this to security.",
                reason
                    .as_deref()
                    .unwrap_or("the entry does not match its MAC")
            ),
        ),
    };
    let nav = admin.nav();
    let page = AuditPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Audit log",
        nav: &nav,
        intact,
        report: text,
        events,
    };
    respond(&s, &admin, StatusCode::OK, &page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_return_leg_stays_on_admin_pages() {
        for ok in [
            "/admin",
            "/admin/users?q=a%40b",
            "/admin/users/john.doe",
            "/admin/audit",
        ] {
            assert_eq!(safe_return("", ok), ok);
        }
        assert_eq!(safe_return("/iam", "/iam/admin/users"), "/iam/admin/users");
        for bad in [
            "https://evil.example/admin",
            "//evil.example/admin",
            "/administrator",
            "/admin/../authorize",
            "/admin/%2e%2e/authorize",
            "/admin/%2E%2E%2Fauthorize",
            "/admin\\..\\x",
            "/admin/callback?code=x",
            "/admin/api/users",
            "/admin/logout",
            "/admin/users#x",
            "/admin/users/a b",
            "/authorize",
            "",
        ] {
            assert_eq!(safe_return("", bad), "/admin", "{bad}");
        }
        assert_eq!(safe_return("/iam", "/admin/users"), "/iam/admin");
        assert_eq!(
            safe_return("", &format!("/admin/{}", "a".repeat(MAX_RETURN))),
            "/admin"
        );
    }

    #[test]
    fn the_login_cookie_round_trips_and_refuses_damage() {
        let p = Pending {
            state: "st".into(),
            nonce: "no".into(),
            verifier: "ve".into(),
            reauth: true,
            return_to: "/admin/users?q=x".into(),
        };
        let back = Pending::decode(&p.encode()).unwrap();
        assert_eq!(
            (
                back.state,
                back.nonce,
                back.verifier,
                back.reauth,
                back.return_to
            ),
            (
                "st".to_string(),
                "no".to_string(),
                "ve".to_string(),
                true,
                "/admin/users?q=x".to_string()
            )
        );
        for bad in ["", "a.b.c.0", "a.b.c.0.!!", "a.b.c.0.x.y", "..c.0.x"] {
            assert!(Pending::decode(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_nonce_is_read_from_the_id_token_payload() {
        let payload = b64url(br#"{"nonce":"n-1","sub":"x"}"#);
        let token = format!("h.{payload}.sig");
        assert!(nonce_matches(&token, "n-1"));
        assert!(!nonce_matches(&token, "n-2"));
        assert!(!nonce_matches("h.!!.sig", "n-1"));
        assert!(!nonce_matches(&format!("h.{}.s", b64url(b"{}")), "n-1"));
    }

    #[test]
    fn library_messages_become_sentences() {
        assert_eq!(
            sentence("verify the caller first"),
            "Verify the caller first."
        );
        assert_eq!(sentence("done."), "Done.");
        assert_eq!(sentence(""), "");
    }
}
