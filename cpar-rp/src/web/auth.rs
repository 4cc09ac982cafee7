//! Signing in and out: the session of a request and the guard of every application page, the
//! sign-in through AHS IAM (login, callback), RP-initiated logout and back-channel logout.

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{RawQuery, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::{
    ATTEMPT_TTL_SECS, AppState, LOGIN, LOGOUT_STATE_TTL_SECS, LOGOUT_TOKEN_JTI_GRACE_SECS,
    SESSION_PURGE_GRACE_SECS, SIGNED_OUT, Shared, digest, duration_micros, has_role, micros,
    random_secret, same, secs_to_micros, see_other, with_cookie,
};
use crate::oidc::SignInFailure;
use crate::pages::{self, ACCESS_DENIED_MESSAGE, DeniedPage, SIGNED_OUT_MESSAGE};
use crate::store::{NewAttempt, SessionLookup, SessionRow};
use crate::{cookies, return_to};

/// The session of this request.
enum Current {
    /// No session cookie.
    None,
    /// A session cookie naming a session that has ended or is gone.
    Ended(Option<SessionRow>),
    Live(SessionRow),
}

async fn current(s: &Shared, headers: &HeaderMap) -> Result<Current, Response> {
    let Some(cookie) = cookies::get(headers, cookies::SESSION, s.secure) else {
        return Ok(Current::None);
    };
    let now = micros(s.clock.now());
    match s
        .store
        .lookup_session(
            digest(&cookie),
            now,
            duration_micros(s.config.idle_timeout),
            duration_micros(s.config.absolute_timeout),
        )
        .await
    {
        Ok(SessionLookup::Live(row)) => Ok(Current::Live(row)),
        Ok(SessionLookup::Ended(row)) => Ok(Current::Ended(Some(row))),
        Ok(SessionLookup::Unknown) => Ok(Current::Ended(None)),
        Err(e) => Err(s.internal("session lookup failed", &e)),
    }
}

/// The live session of a CPAR panel administrator, or the response to send instead: a
/// redirect to AHS IAM (with `prompt=login` after an ended session) that comes back to
/// `uri`, or the access page.
pub(super) async fn guard(
    s: &Shared,
    headers: &HeaderMap,
    uri: &Uri,
) -> Result<SessionRow, Response> {
    let return_to = return_to::or_home(uri.path_and_query().map_or("/", |p| p.as_str()));
    match current(s, headers).await? {
        Current::Live(row) if has_role(&row) => Ok(row),
        Current::Live(row) => Err(denied(s, &row)),
        Current::Ended(row) => {
            let reason = row.as_ref().and_then(|r| r.ended_reason.as_deref());
            if let Some(r) = &row {
                tracing::info!(reason = reason.unwrap_or("unknown"), subject = %r.subject, "CPAR session ended; asking for a new sign-in");
            }
            let notice = s.end_reason_text(reason);
            Err(start_sign_in(s, headers, return_to, true, Some(notice)).await)
        }
        Current::None => Err(start_sign_in(s, headers, return_to, false, None).await),
    }
}

fn denied(s: &Shared, row: &SessionRow) -> Response {
    pages::render(
        StatusCode::FORBIDDEN,
        &DeniedPage {
            layout: s.layout("No access to CPAR", Some(row)),
            message: ACCESS_DENIED_MESSAGE,
            name: row.name.clone(),
            username: row.username.clone(),
        },
    )
}

/// Starts a sign-in at AHS IAM: keeps the attempt (state, nonce, PKCE verifier, where to come
/// back) bound to this browser, and redirects there.
async fn start_sign_in(
    s: &Shared,
    headers: &HeaderMap,
    return_to: String,
    prompt_login: bool,
    notice: Option<String>,
) -> Response {
    let (browser, set_browser) = s.browser_or_new(headers);
    let start = s.oidc.start(prompt_login);
    let now = micros(s.clock.now());
    let attempt = NewAttempt {
        state_digest: digest(&start.state),
        browser_digest: digest(&browser),
        nonce: start.nonce,
        pkce_verifier: start.pkce_verifier,
        return_to,
        prompt_login,
        notice,
        created_at: now,
    };
    if let Err(e) = s
        .store
        .insert_attempt(attempt, now - secs_to_micros(ATTEMPT_TTL_SECS * 6))
        .await
    {
        return s.internal("could not keep the sign-in attempt", &e);
    }
    let mut res = see_other(start.url.as_str());
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    with_cookie(res, set_browser)
}

// ---------------------------------------------------------------------------------------------
// Sign-in

/// The query of a request as a map; `None` when it is not form-encoded or repeats a name.
fn query_map(q: Option<&str>) -> Option<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(q.unwrap_or("").as_bytes()) {
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return None;
        }
    }
    Some(out)
}

/// `GET /login?return_to=/path`: signs in (again) and lands on `return_to` if it is a local path.
pub(super) async fn login(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = query_map(q.as_deref()).unwrap_or_default();
    let return_to = params
        .get("return_to")
        .and_then(|r| return_to::validate(r))
        .unwrap_or("/")
        .to_string();
    match current(&s, &headers).await {
        Err(res) => res,
        Ok(Current::Live(_)) => see_other(&return_to),
        Ok(Current::Ended(row)) => {
            let notice = s.end_reason_text(row.as_ref().and_then(|r| r.ended_reason.as_deref()));
            start_sign_in(&s, &headers, return_to, true, Some(notice)).await
        }
        Ok(Current::None) => start_sign_in(&s, &headers, return_to, false, None).await,
    }
}

fn sign_in_again(return_to: &str) -> Option<(String, &'static str)> {
    let mut url = String::from(LOGIN);
    url.push_str("?return_to=");
    url.extend(url::form_urlencoded::byte_serialize(return_to.as_bytes()));
    Some((url, "Sign in again"))
}

/// `GET /callback`: the authorization response (RFC 6749 §4.1.2, RFC 9207).
pub(super) async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    const NOT_COMPLETED: &str = "Your sign-in could not be completed";
    let Some(params) = query_map(q.as_deref()) else {
        return s.message(
            StatusCode::BAD_REQUEST,
            NOT_COMPLETED,
            &["The response from AHS IAM is not valid. No session was created."],
            sign_in_again("/"),
        );
    };
    let Some(state) = params.get("state").filter(|v| !v.is_empty()) else {
        tracing::warn!("callback without state");
        return s.message(
            StatusCode::BAD_REQUEST,
            NOT_COMPLETED,
            &["The response from AHS IAM is missing its state, so CPAR cannot tell which sign-in it belongs to. No session was created."],
            sign_in_again("/"),
        );
    };
    let claimed = match s.browser_cookie(&headers) {
        Some(browser) => match s.store.claim_attempt(digest(state), digest(&browser)).await {
            Ok(a) => a,
            Err(e) => return s.internal("could not claim the sign-in attempt", &e),
        },
        None => None,
    };
    let Some(attempt) = claimed else {
        tracing::warn!("callback with an unknown, used or foreign state");
        return s.message(
            StatusCode::BAD_REQUEST,
            NOT_COMPLETED,
            &[
                "This sign-in response does not match a sign-in started in this browser, or it was already used. No session was created.",
                "Start again from CPAR: do not reuse or share links from the sign-in pages.",
            ],
            sign_in_again("/"),
        );
    };
    let again = sign_in_again(&attempt.return_to);
    // RFC 9207: the response must come from the issuer CPAR sent the browser to.
    match params.get("iss") {
        Some(iss) if iss != s.oidc.issuer() => {
            tracing::warn!(iss = %iss, "callback with a foreign iss");
            return s.message(
                StatusCode::BAD_REQUEST,
                NOT_COMPLETED,
                &["The sign-in response did not come from AHS IAM. No session was created."],
                again,
            );
        }
        None if s.oidc.iss_parameter_required() => {
            tracing::warn!("callback without iss");
            return s.message(
                StatusCode::BAD_REQUEST,
                NOT_COMPLETED,
                &["The sign-in response does not say where it came from. No session was created."],
                again,
            );
        }
        _ => {}
    }
    let now = s.clock.now();
    if micros(now) - attempt.created_at > secs_to_micros(ATTEMPT_TTL_SECS) {
        return s.message(
            StatusCode::BAD_REQUEST,
            NOT_COMPLETED,
            &["The sign-in took too long. No session was created; please sign in again."],
            again,
        );
    }
    if let Some(error) = params.get("error") {
        tracing::info!(error = %error, "AHS IAM answered the sign-in with an error");
        return match error.as_str() {
            "access_denied" => s.message(
                StatusCode::FORBIDDEN,
                "Sign-in was cancelled or refused",
                &["AHS IAM did not let this sign-in through to CPAR (access denied). No session was created."],
                again,
            ),
            "login_required" | "interaction_required" | "consent_required" => s.message(
                StatusCode::BAD_REQUEST,
                "You need to sign in",
                &["AHS IAM needs you to sign in before CPAR can open. No session was created."],
                again,
            ),
            _ => s.message(
                StatusCode::BAD_REQUEST,
                NOT_COMPLETED,
                &[
                    &format!("AHS IAM answered with the error “{error}”. No session was created."),
                ],
                again,
            ),
        };
    }
    let Some(code) = params.get("code").filter(|c| !c.is_empty()) else {
        return s.message(
            StatusCode::BAD_REQUEST,
            NOT_COMPLETED,
            &["The response from AHS IAM has no authorization code. No session was created."],
            again,
        );
    };
    let fresh_since = attempt
        .prompt_login
        .then(|| DateTime::<Utc>::from_timestamp_micros(attempt.created_at))
        .flatten();
    let identity = match s
        .oidc
        .complete(
            code.clone(),
            attempt.pkce_verifier,
            attempt.nonce,
            fresh_since,
        )
        .await
    {
        Ok(i) => i,
        Err(SignInFailure::Unreachable(why)) => {
            tracing::warn!(error = %why, "AHS IAM could not be reached to complete a sign-in");
            // The failure is AHS IAM's, not this request's: a page, not a 5xx.
            return s.message(
                StatusCode::OK,
                "AHS IAM could not be reached",
                &[
                    "CPAR could not complete your sign-in because AHS IAM did not answer. No session was created.",
                    "Try again in a few minutes. If the problem continues, contact the AHS IT Service Desk.",
                ],
                again,
            );
        }
        Err(SignInFailure::Refused(code)) => {
            tracing::warn!(error = %code, "AHS IAM refused the authorization code");
            return s.message(
                StatusCode::BAD_REQUEST,
                NOT_COMPLETED,
                &["AHS IAM did not accept this sign-in (it may have expired or already been used). No session was created."],
                again,
            );
        }
        Err(SignInFailure::Invalid(why)) => {
            tracing::warn!(error = %why, "a sign-in response failed verification");
            return s.message(
                StatusCode::BAD_REQUEST,
                NOT_COMPLETED,
                &["The sign-in response from AHS IAM could not be verified. No session was created."],
                again,
            );
        }
    };
    let id = random_secret();
    let now_us = micros(now);
    let row = SessionRow {
        id_digest: digest(&id),
        subject: identity.subject,
        username: identity.username,
        name: identity.name,
        email: identity.email,
        roles: identity.roles.join("\n"),
        id_token: identity.id_token,
        csrf: random_secret(),
        notice: attempt.notice,
        created_at: now_us,
        last_seen_at: now_us,
        ended_reason: None,
        sid: identity.sid,
    };
    let replaces = cookies::get(&headers, cookies::SESSION, s.secure).map(|c| digest(&c));
    let purge_before = now_us
        - duration_micros(s.config.absolute_timeout)
        - secs_to_micros(SESSION_PURGE_GRACE_SECS);
    let subject = row.subject.clone();
    let allowed = has_role(&row);
    if let Err(e) = s.store.insert_session(row, replaces, purge_before).await {
        return s.internal("could not keep the session", &e);
    }
    tracing::info!(subject = %subject, panel_admin = allowed, "signed in to CPAR");
    let res = see_other(&attempt.return_to);
    with_cookie(res, Some(cookies::set(cookies::SESSION, &id, s.secure)))
}

// ---------------------------------------------------------------------------------------------
// Sign-out

#[derive(Deserialize)]
pub(super) struct LogoutForm {
    csrf: String,
}

/// Whether a state-changing request comes from CPAR's own pages: an `Origin` (when sent) equal
/// to the base URL, and no `Sec-Fetch-Site: cross-site`.
fn same_origin(s: &Shared, headers: &HeaderMap) -> bool {
    let site = headers.get(HeaderName::from_static("sec-fetch-site"));
    let origin_ok = match headers.get(header::ORIGIN).map(|o| o.to_str()) {
        None => true,
        // Our own `Referrer-Policy: no-referrer` makes a browser send `Origin: null` with its
        // own forms (a real browser's Log out did not work): then Fetch Metadata must say so.
        Some(Ok("null")) => site.is_some_and(|v| v.as_bytes() == b"same-origin"),
        Some(o) => o.is_ok_and(|o| o == s.base),
    };
    let fetch_ok = site.is_none_or(|v| v.as_bytes() != b"cross-site");
    origin_ok && fetch_ok
}

/// `POST /logout`: ends CPAR's session, then sends the browser to AHS IAM's end-session endpoint
/// with `id_token_hint`, `client_id`, `post_logout_redirect_uri` and `state` (or straight to
/// the signed-out page when the provider has no such endpoint).
pub(super) async fn logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<LogoutForm>, FormRejection>,
) -> Response {
    let refused = |s: &Shared| {
        s.message(
            StatusCode::FORBIDDEN,
            "This sign-out request could not be verified",
            &["Use the Log out button on a CPAR page to sign out."],
            Some(("/".into(), "Go to CPAR")),
        )
    };
    if !same_origin(&s, &headers) {
        tracing::warn!("cross-site sign-out refused");
        return refused(&s);
    }
    let Some(cookie) = cookies::get(&headers, cookies::SESSION, s.secure) else {
        return not_signed_in(&s);
    };
    let session_digest = digest(&cookie);
    let row = match s.store.find_session(session_digest.clone()).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            let res = not_signed_in(&s);
            return with_cookie(res, Some(cookies::clear(cookies::SESSION, s.secure)));
        }
        Err(e) => return s.internal("could not read the session", &e),
    };
    let Ok(axum::Form(form)) = form else {
        return refused(&s);
    };
    if !same(&form.csrf, &row.csrf) {
        tracing::warn!("sign-out with a wrong form token refused");
        return refused(&s);
    }
    let id_token = match s.store.delete_session(session_digest).await {
        Ok(Some(t)) => t,
        Ok(None) => {
            let res = not_signed_in(&s);
            return with_cookie(res, Some(cookies::clear(cookies::SESSION, s.secure)));
        }
        Err(e) => return s.internal("could not end the session", &e),
    };
    tracing::info!(subject = %row.subject, "signed out of CPAR");
    let (browser, set_browser) = s.browser_or_new(&headers);
    let state = random_secret();
    let now = micros(s.clock.now());
    if let Err(e) = s
        .store
        .insert_logout_state(
            digest(&state),
            digest(&browser),
            now,
            now - secs_to_micros(LOGOUT_STATE_TTL_SECS),
        )
        .await
    {
        return s.internal("could not keep the sign-out state", &e);
    }
    let signed_out = format!("{}{SIGNED_OUT}", s.base);
    let target = match s.oidc.logout_url(&id_token, &signed_out, &state) {
        Some(url) => url.to_string(),
        None => {
            let mut local = format!("{signed_out}?state=");
            local.extend(url::form_urlencoded::byte_serialize(state.as_bytes()));
            local
        }
    };
    let res = with_cookie(
        see_other(&target),
        Some(cookies::clear(cookies::SESSION, s.secure)),
    );
    with_cookie(res, set_browser)
}

/// `POST /backchannel-logout` (OpenID Connect Back-Channel Logout 1.0 §2.5–§2.8): AHS IAM
/// posts a logout token (form `logout_token`) when a session there ends; CPAR verifies it fully
/// (see `Oidc::verify_logout_token`), refuses a replayed `jti`, and ends the CPAR sessions of
/// that `sid` (or, without one, of that `sub`): their next page asks for a new sign-in. 200 with
/// an empty body on success (also when no session matched: there is nothing left to end), 400
/// with a JSON error otherwise; never cached.
pub(super) async fn backchannel_logout(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let answer = |status: StatusCode, body: Option<serde_json::Value>| {
        let mut res = match body {
            Some(b) => (status, axum::Json(b)).into_response(),
            None => status.into_response(),
        };
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        res
    };
    let bad = |why: &str| {
        answer(
            StatusCode::BAD_REQUEST,
            Some(serde_json::json!({ "error": "invalid_request", "error_description": why })),
        )
    };
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if form_type != Some(true) {
        return bad("the body must be application/x-www-form-urlencoded");
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut tokens = pairs.iter().filter(|(k, _)| k == "logout_token");
    let (Some((_, token)), None) = (tokens.next(), tokens.next()) else {
        return bad("exactly one logout_token is required");
    };
    let claims = match s.oidc.verify_logout_token(token).await {
        Ok(c) => c,
        Err(why) => {
            tracing::warn!(reason = %why, "logout token refused");
            return bad(&why);
        }
    };
    let now = s.clock.now();
    let expires = micros(now).max(claims.exp.saturating_mul(1_000_000))
        + secs_to_micros(LOGOUT_TOKEN_JTI_GRACE_SECS);
    match s
        .store
        .claim_logout_token(digest(&claims.jti), expires, micros(now))
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("logout token replayed");
            return bad("the logout token was already used");
        }
        Err(e) => {
            tracing::error!(error = %e, "could not record a logout token");
            return answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(serde_json::json!({ "error": "server_error" })),
            );
        }
    }
    match s
        .store
        .end_sessions_for_logout(claims.sid.clone(), claims.sub.clone())
        .await
    {
        Ok(n) => {
            tracing::info!(sessions = n, sub = ?claims.sub, "back-channel logout from AHS IAM");
            answer(StatusCode::OK, None)
        }
        Err(e) => {
            tracing::error!(error = %e, "could not end sessions for a logout token");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some(serde_json::json!({ "error": "server_error" })),
            )
        }
    }
}

fn not_signed_in(s: &Shared) -> Response {
    s.message(
        StatusCode::OK,
        "You are not signed in to CPAR",
        &["There is no CPAR session in this browser. Close your browser to finish."],
        Some(("/".into(), "Sign in to CPAR")),
    )
}

/// `GET /signed-out?state=…`: where AHS IAM sends the browser back after the sign-out.
pub(super) async fn signed_out(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let params = query_map(q.as_deref()).unwrap_or_default();
    let confirmed = match (params.get("state"), s.browser_cookie(&headers)) {
        (Some(state), Some(browser)) if !state.is_empty() => {
            let not_before = micros(s.clock.now()) - secs_to_micros(LOGOUT_STATE_TTL_SECS);
            match s
                .store
                .claim_logout_state(digest(state), digest(&browser), not_before)
                .await
            {
                Ok(c) => c,
                Err(e) => return s.internal("could not check the sign-out state", &e),
            }
        }
        _ => false,
    };
    if confirmed {
        s.message(StatusCode::OK, "Signed out", &[SIGNED_OUT_MESSAGE], None)
    } else {
        tracing::warn!("signed-out page with a missing, unknown or used state");
        s.message(
            StatusCode::BAD_REQUEST,
            "Sign-out not confirmed",
            &[
                "CPAR could not confirm a sign-out for this browser.",
                "To sign out, use the Log out button on any CPAR page, then close your browser.",
            ],
            Some(("/".into(), "Go to CPAR")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_with_a_repeated_name_are_refused() {
        assert!(query_map(Some("state=a&state=b")).is_none());
        let q = query_map(Some("code=x&state=y%2Bz")).unwrap();
        assert_eq!(q["state"], "y+z");
    }

    #[test]
    fn sign_in_again_links_are_local() {
        let (href, _) = sign_in_again("/panels/P1?x=1").unwrap();
        assert_eq!(href, "/login?return_to=%2Fpanels%2FP1%3Fx%3D1");
    }
}
