//! The authorization endpoint (RFC 6749 §4.1.1, OIDC Core §3.1.2), GET and POST.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Duration;

use super::{AppState, cookies, pages, paths};
use crate::protocol::authorize::{self, AuthRequest, AuthorizeError, ClientPolicy, RawParams};
use crate::protocol::errors::{ErrorCode, OAuthError};
use crate::sessions::Session;
use crate::{accounts, clients, journey, sessions, tokens};

pub(crate) async fn get(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(q.as_deref().unwrap_or(""));
    authorize(s, headers, pairs.ok()).await
}

/// OIDC Core §3.1.2.1: the endpoint MUST support POST with form serialisation.
pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = super::form_pairs(&headers, &body);
    authorize(s, headers, pairs).await
}

fn bad_request_page(s: &AppState, message: &str) -> Response {
    pages::error(
        s,
        StatusCode::BAD_REQUEST,
        "This sign-in request cannot be processed",
        message,
    )
}

async fn authorize(
    s: AppState,
    headers: HeaderMap,
    pairs: Option<Vec<(String, String)>>,
) -> Response {
    let Some(pairs) = pairs else {
        return bad_request_page(&s, "The request is not correctly encoded.");
    };
    let raw = RawParams::from_pairs(pairs);
    let client_id = match authorize::client_id(&raw) {
        Ok(id) => id.to_string(),
        Err(AuthorizeError::Page(m)) => return bad_request_page(&s, &m),
        Err(AuthorizeError::Redirect { .. }) => {
            return bad_request_page(&s, "The request is invalid.");
        }
    };
    let client = match clients::find(&s.db, &client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return bad_request_page(&s, "The application that sent you here is not registered.");
        }
        Err(e) => return pages::internal(&s, &e),
    };
    let policy = ClientPolicy {
        redirect_uris: &client.redirect_uris,
        pkce_required: client.row.pkce_required,
        native: client.row.is_public,
        admin_console: client.id() == clients::ADMIN_CONSOLE_ID,
    };
    let request = match authorize::validate(&raw, &client_id, &policy) {
        Ok(r) => r,
        Err(AuthorizeError::Page(m)) => return bad_request_page(&s, &m),
        Err(AuthorizeError::Redirect {
            redirect_uri,
            error,
            state,
        }) => {
            return error_redirect(&s, &redirect_uri, &error, state.as_deref());
        }
    };
    let needs_mfa = match request.needs_second_factor(client.row.mfa_required) {
        Ok(m) => m,
        Err(e) => return error_redirect(&s, &request.redirect_uri, &e, request.state.as_deref()),
    };
    let now = s.now();
    let session = match cookies::get(&s.config, &headers, cookies::SESSION) {
        Some(c) => match sessions::lookup(&s.db, &c, now, s.config.session_idle).await {
            Ok(found) => found,
            Err(e) => return pages::internal(&s, &e),
        },
        None => None,
    };
    if let Some(session) = session {
        let fresh_enough = request.max_age.is_none_or(|m| {
            now - session.auth_time <= Duration::seconds(i64::try_from(m).unwrap_or(i64::MAX))
        });
        // A password-only session does not satisfy a client that needs the second factor.
        let strong_enough =
            !needs_mfa || session.acr.as_deref() == Some(crate::mfa::ACR_PASSWORD_OTP);
        if !request.prompt_login && fresh_enough && strong_enough {
            match accounts::find_by_id(&s.db, &session.user_id).await {
                Ok(Some(user)) if !user.disabled => {
                    return issue_code(&s, &request, &session, None).await;
                }
                Ok(_) => {}
                Err(e) => return pages::internal(&s, &e),
            }
        }
    }
    if request.prompt_none {
        let e = OAuthError::new(ErrorCode::LoginRequired, "the user must sign in");
        return error_redirect(&s, &request.redirect_uri, &e, request.state.as_deref());
    }
    let steps = if needs_mfa {
        vec![journey::Step::Password, journey::Step::SecondFactor]
    } else {
        vec![journey::Step::Password]
    };
    start_journey(&s, &headers, Some(request), steps, None).await
}

pub(crate) async fn start_journey(
    s: &AppState,
    headers: &HeaderMap,
    request: Option<AuthRequest>,
    steps: Vec<journey::Step>,
    return_to: Option<String>,
) -> Response {
    let now = s.now();
    let (browser_key, new_cookie) = match cookies::get(&s.config, headers, cookies::BROWSER) {
        Some(k) if k.len() == 43 => (k, None),
        _ => match crate::secret::random_token() {
            Ok(k) => {
                let c = cookies::set(&s.config, cookies::BROWSER, &k);
                (k, Some(c))
            }
            Err(e) => return pages::internal(s, &e),
        },
    };
    let j = match journey::start(
        &s.db,
        &browser_key,
        request,
        steps,
        return_to,
        now,
        s.config.journey_ttl,
    )
    .await
    {
        Ok(j) => j,
        Err(e) => return pages::internal(s, &e),
    };
    let location = format!("{}{}/{}", s.config.base_path(), paths::SIGNIN, j.id);
    let mut res = see_other(&location);
    if let Some(c) = new_cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}

/// A 303 to `location`.
pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(v) => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Appends parameters to a (registered) redirect URI, keeping its own query.
fn redirect_with(redirect_uri: &str, params: &[(&str, &str)]) -> Option<String> {
    let mut url = url::Url::parse(redirect_uri).ok()?;
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
    }
    Some(url.to_string())
}

/// RFC 6749 §4.1.2.1 with RFC 9207 `iss`.
pub(crate) fn error_redirect(
    s: &AppState,
    redirect_uri: &str,
    error: &OAuthError,
    state: Option<&str>,
) -> Response {
    let mut params = vec![
        ("error", error.code.as_str()),
        ("error_description", error.description.as_str()),
    ];
    if let Some(st) = state {
        params.push(("state", st));
    }
    params.push(("iss", s.config.issuer()));
    match redirect_with(redirect_uri, &params) {
        Some(url) => see_other(&url),
        None => bad_request_page(s, "The application's redirect address is invalid."),
    }
}

/// Issues a code for `request` in `session` and sends the browser back to the client (RFC 6749
/// §4.1.2 with RFC 9207 `iss`). `set_cookie` carries a new session cookie after a sign-in.
pub(crate) async fn issue_code(
    s: &AppState,
    request: &AuthRequest,
    session: &Session,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let grant = tokens::CodeGrant {
        grant_id: String::new(),
        client_id: request.client_id.clone(),
        user_id: session.user_id.clone(),
        session_id: session.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scope: request.scope(),
        nonce: request.nonce.clone(),
        code_challenge: request.code_challenge.clone(),
        auth_time: session.auth_time,
        amr: session.amr.clone(),
        acr: session.acr.clone(),
    };
    let code = match tokens::issue_code(&s.db, grant, s.now(), s.config.code_ttl).await {
        Ok(c) => c,
        Err(e) => return pages::internal(s, &e),
    };
    let mut params = vec![("code", code.as_str())];
    if let Some(st) = &request.state {
        params.push(("state", st));
    }
    params.push(("iss", s.config.issuer()));
    let mut res = match redirect_with(&request.redirect_uri, &params) {
        Some(url) => see_other(&url),
        None => bad_request_page(s, "The application's redirect address is invalid."),
    };
    if let Some(c) = set_cookie {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}
