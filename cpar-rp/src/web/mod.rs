//! CPAR's routes. Every application page goes through [`guard`](auth::guard): no session sends
//! the browser to AHS IAM (and back to the same URL afterwards), an ended session does the same
//! with `prompt=login`, and a session without the CPAR panel administrator role gets the access
//! page.
//!
//! `auth` holds the sessions and the sign-in and sign-out handlers, `pages` CPAR's panel pages.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::oidc::Oidc;
use crate::pages::{Layout, MessagePage, UserBar};
use crate::store::{SessionRow, Store};
use crate::{Clock, Config, PANEL_ADMIN_ROLE, cookies};

mod auth;
mod pages;

use auth::{backchannel_logout, callback, login, logout, signed_out};
use pages::{home, not_found, panel, stylesheet};

/// The redirect URI's path.
pub(crate) const CALLBACK: &str = "/callback";
/// The post-logout redirect URI's path.
pub(crate) const SIGNED_OUT: &str = "/signed-out";
const LOGIN: &str = "/login";
const LOGOUT: &str = "/logout";
/// The back-channel logout URI's path (OpenID Connect Back-Channel Logout 1.0).
pub(crate) const BACKCHANNEL_LOGOUT: &str = "/backchannel-logout";
const STYLESHEET: &str = "/assets/cpar.css";

/// How long a sign-in at AHS IAM may take, from CPAR's redirect to the callback.
const ATTEMPT_TTL_SECS: i64 = 10 * 60;
/// How long a sign-out at AHS IAM may take.
const LOGOUT_STATE_TTL_SECS: i64 = 60 * 60;
/// A logout token's jti is remembered this long past its `exp` (clock skew).
const LOGOUT_TOKEN_JTI_GRACE_SECS: i64 = 300;
/// Ended sessions are purged this long after they were last seen beyond the absolute limit.
const SESSION_PURGE_GRACE_SECS: i64 = 24 * 3600;

const CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/// Everything the handlers share.
pub(crate) struct Shared {
    pub config: Config,
    /// The base URL, normalised (`https://host[:port]`).
    pub base: String,
    pub secure: bool,
    pub clock: Arc<dyn Clock>,
    pub store: Store,
    pub oidc: Oidc,
}

type AppState = Arc<Shared>;

pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/panels", get(home))
        .route("/panels/{id}", get(panel))
        .route(LOGIN, get(login))
        .route(CALLBACK, get(callback))
        .route(LOGOUT, post(logout))
        .route(SIGNED_OUT, get(signed_out))
        .route(BACKCHANNEL_LOGOUT, post(backchannel_logout))
        .route(STYLESHEET, get(stylesheet))
        .fallback(not_found)
        .layer(axum::middleware::map_response_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// SHA-256 of a secret, base64url: what the database keeps of cookies and states.
fn digest(secret: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

/// A 256-bit random value, base64url.
fn random_secret() -> String {
    openidconnect::CsrfToken::new_random_len(32)
        .secret()
        .clone()
}

/// Constant-time equality of two strings.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn secs_to_micros(secs: i64) -> i64 {
    secs.saturating_mul(1_000_000)
}

fn duration_micros(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// "15 minutes", "12 hours", "90 seconds".
fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 3600 && s.is_multiple_of(3600) {
        (s / 3600, "hour")
    } else if s >= 60 && s.is_multiple_of(60) {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

fn with_cookie(mut res: Response, cookie: Option<String>) -> Response {
    if let Some(v) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

fn has_role(row: &SessionRow) -> bool {
    row.roles.lines().any(|r| r == PANEL_ADMIN_ROLE)
}

impl Shared {
    fn layout(&self, title: &str, user: Option<&SessionRow>) -> Layout<'_> {
        Layout {
            title: title.to_string(),
            user: user.map(|u| UserBar {
                name: u.name.clone(),
                csrf: u.csrf.clone(),
            }),
            support: &self.config.support,
        }
    }

    fn message(
        &self,
        status: StatusCode,
        heading: &str,
        paragraphs: &[&str],
        link: Option<(String, &str)>,
    ) -> Response {
        crate::pages::render(
            status,
            &MessagePage {
                layout: self.layout(heading, None),
                heading: heading.to_string(),
                paragraphs: paragraphs.iter().map(|p| p.to_string()).collect(),
                link: link.map(|(h, l)| (h, l.to_string())),
            },
        )
    }

    /// The page for a failure of CPAR itself (its database); logged.
    fn internal(&self, what: &str, e: &dyn std::error::Error) -> Response {
        tracing::error!(error = %e, "{what}");
        self.message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "CPAR could not complete this request",
            &["Something went wrong inside CPAR. Try again in a few minutes."],
            Some(("/".into(), "Go to CPAR")),
        )
    }

    fn browser_cookie(&self, headers: &HeaderMap) -> Option<String> {
        cookies::get(headers, cookies::BROWSER, self.secure)
    }

    /// The browser cookie, made when missing (with its `Set-Cookie`).
    fn browser_or_new(&self, headers: &HeaderMap) -> (String, Option<String>) {
        match self.browser_cookie(headers) {
            Some(v) => (v, None),
            None => {
                let v = random_secret();
                let set = cookies::set(cookies::BROWSER, &v, self.secure);
                (v, Some(set))
            }
        }
    }

    fn end_reason_text(&self, reason: Option<&str>) -> String {
        match reason {
            Some("idle") => format!(
                "Your CPAR session ended because it was not used for {}. For your security, AHS IAM asked you to sign in again.",
                human(self.config.idle_timeout)
            ),
            Some(crate::store::BACKCHANNEL) => "You signed out of AHS IAM (or AHS IAM ended your session), so your CPAR session ended too. Sign in again to continue.".to_string(),
            Some("absolute") => format!(
                "Your CPAR session ended because it reached its {} limit. For your security, AHS IAM asked you to sign in again.",
                human(self.config.absolute_timeout)
            ),
            _ => "Your previous CPAR session had ended. For your security, AHS IAM asked you to sign in again.".to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Headers

async fn security_headers(State(s): State<AppState>, mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        HeaderName::from_static("cross-origin-opener-policy"),
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if s.secure {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        use std::time::Duration;
        assert_eq!(human(Duration::from_secs(900)), "15 minutes");
        assert_eq!(human(Duration::from_secs(43_200)), "12 hours");
        assert_eq!(human(Duration::from_secs(3600)), "1 hour");
        assert_eq!(human(Duration::from_secs(90)), "90 seconds");
    }

    #[test]
    fn constant_time_equality() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }

    #[test]
    fn digests_do_not_reveal_the_secret() {
        let d = digest("secret");
        assert_eq!(d.len(), 43);
        assert!(!d.contains("secret"));
    }
}
