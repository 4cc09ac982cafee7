//! RP-Initiated Logout 1.0: the `end_session_endpoint`, GET and POST.
//!
//! A relying party sends the browser here with the ID token it holds (`id_token_hint`), where to
//! come back (`post_logout_redirect_uri`) and `state`. With a valid hint for the signed-in person
//! the session ends at once; otherwise the person is asked first (§2: the OP MUST ask when there is
//! no hint or it is not for the current session). Redirection back happens only with a valid hint
//! and only to a URI registered exactly for the hint's client (§3), so a forged request can neither
//! log someone out silently nor turn this endpoint into an open redirector.

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

use super::authorize::see_other;
use super::{AppState, cookies, pages, paths};
use crate::protocol::authorize::RawParams;
use crate::secret::{b64url, ct_eq, hmac_sha256};
use crate::sessions::Session;
use crate::tokens::{self, IdTokenHint};
use crate::{accounts, audit, clients, sessions};

/// The longest `state` or URI echoed into a page or a redirect.
const MAX_PARAM_LEN: usize = 2048;

pub(crate) async fn get(
    State(s): State<AppState>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let pairs = serde_urlencoded::from_str::<Vec<(String, String)>>(q.as_deref().unwrap_or(""));
    logout(s, headers, pairs.ok()).await
}

/// §2: the endpoint supports POST with form serialisation too; the confirmation form posts here.
pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let pairs = super::form_pairs(&headers, &body);
    logout(s, headers, pairs).await
}

fn bad_request(s: &AppState, message: &str) -> Response {
    pages::error(
        s,
        StatusCode::BAD_REQUEST,
        "This sign-out request cannot be processed",
        message,
    )
}

/// Where to send the browser once signed out, already validated.
struct Return {
    uri: String,
}

async fn logout(s: AppState, headers: HeaderMap, pairs: Option<Vec<(String, String)>>) -> Response {
    let Some(pairs) = pairs else {
        return bad_request(&s, "The request is not correctly encoded.");
    };
    let raw = RawParams::from_pairs(pairs);
    if let Some(name) = raw.duplicated().first() {
        return bad_request(&s, &format!("The request repeats the {name} parameter."));
    }
    if ["state", "post_logout_redirect_uri", "client_id"]
        .iter()
        .any(|n| raw.get(n).is_some_and(|v| v.len() > MAX_PARAM_LEN))
    {
        return bad_request(&s, "A parameter of the request is too long.");
    }
    let session = match current_session(&s, &headers).await {
        Ok(found) => found,
        Err(e) => return pages::internal(&s, &e),
    };
    if raw.get("confirm").is_some() {
        return confirmed(&s, &raw, session).await;
    }
    let hint = match raw.get("id_token_hint") {
        Some(t) => match tokens::verify_id_token_hint(&s.config, &s.keys, t) {
            Ok(h) => Some(h),
            Err(reason) => {
                tracing::info!(reason = reason.0, "logout: id_token_hint refused");
                None
            }
        },
        None => None,
    };
    let target = match return_target(&s, &raw, hint.as_ref()).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let owner = match &session {
        Some((sess, _)) => match accounts::find_by_id(&s.db, &sess.user_id).await {
            Ok(row) => row,
            Err(e) => return pages::internal(&s, &e),
        },
        None => None,
    };
    let hint_is_for_this_session = match (&hint, &owner) {
        (Some(h), Some(user)) => user.subject == h.sub,
        // Nothing to end: a valid hint still earns the way back.
        (Some(_), None) => session.is_none(),
        (None, _) => false,
    };
    if hint_is_for_this_session || session.is_none() {
        return sign_out(&s, session.map(|(sess, _)| sess), owner, target).await;
    }
    let Some((sess, _)) = session else {
        return sign_out(&s, None, owner, target).await;
    };
    let token = match confirm_token(&s, &sess.id) {
        Ok(t) => t,
        Err(e) => return pages::internal(&s, &e),
    };
    let page = pages::LogoutConfirmPage {
        service: &s.config.service_name,
        base: s.config.base_path(),
        title: "Sign out",
        action: &format!("{}{}", s.config.base_path(), paths::END_SESSION),
        confirm_token: &token,
        username: owner.as_ref().map(|u| u.username.as_str()).unwrap_or(""),
        // Carried through the form only when they were valid: the confirmation re-checks them.
        id_token_hint: if target.is_some() {
            raw.get("id_token_hint").unwrap_or("")
        } else {
            ""
        },
        post_logout_redirect_uri: if target.is_some() {
            raw.get("post_logout_redirect_uri").unwrap_or("")
        } else {
            ""
        },
        client_id: raw.get("client_id").unwrap_or(""),
        state: raw.get("state").unwrap_or(""),
    };
    pages::render(StatusCode::OK, &page)
}

/// The validated `post_logout_redirect_uri` (with `state`), `None` when there is none to follow,
/// or the error page for an inconsistent request.
async fn return_target(
    s: &AppState,
    raw: &RawParams,
    hint: Option<&IdTokenHint>,
) -> Result<Option<Return>, Response> {
    let client_id = raw.get("client_id");
    // §2: when both are present, client_id must be an audience of the hint.
    if let (Some(h), Some(cid)) = (hint, client_id)
        && !h.aud.iter().any(|a| a == cid)
    {
        return Err(bad_request(
            s,
            "The application named in the request is not the one you signed in to.",
        ));
    }
    let Some(uri) = raw.get("post_logout_redirect_uri") else {
        return Ok(None);
    };
    // Without a valid hint nothing proves which application asked: never redirect.
    let Some(h) = hint else { return Ok(None) };
    let cid = match (client_id, h.aud.as_slice()) {
        (Some(c), _) => c,
        (None, [only]) => only.as_str(),
        (None, _) => return Ok(None),
    };
    let client = match clients::find(&s.db, cid).await {
        Ok(c) => c,
        Err(e) => return Err(pages::internal(s, &e)),
    };
    let registered = client.is_some_and(|c| c.post_logout_redirect_uris().iter().any(|r| r == uri));
    if !registered {
        return Err(bad_request(
            s,
            "The address to return to after signing out is not registered for this application.",
        ));
    }
    let mut url = match url::Url::parse(uri) {
        Ok(u) => u,
        Err(_) => return Err(bad_request(s, "The address to return to is not valid.")),
    };
    if let Some(st) = raw.get("state") {
        url.query_pairs_mut().append_pair("state", st);
    }
    Ok(Some(Return {
        uri: url.to_string(),
    }))
}

/// The browser's live session and its cookie value.
async fn current_session(
    s: &AppState,
    headers: &HeaderMap,
) -> Result<Option<(Session, String)>, crate::error::Error> {
    let Some(cookie) = cookies::get(&s.config, headers, cookies::SESSION) else {
        return Ok(None);
    };
    let found = sessions::lookup(&s.db, &cookie, s.now(), s.config.session_idle).await?;
    Ok(found.map(|sess| (sess, cookie)))
}

/// Binds the confirmation form to the session it would end, so another site cannot post it.
fn confirm_token(s: &AppState, session_id: &str) -> Result<String, crate::error::Error> {
    let mac = hmac_sha256(
        &s.config.audit_key,
        format!("oidc-core logout confirmation\0{session_id}").as_bytes(),
    )?;
    Ok(b64url(&mac))
}

/// The confirmation form came back: "Sign out" or "Stay signed in".
async fn confirmed(s: &AppState, raw: &RawParams, session: Option<(Session, String)>) -> Response {
    let Some((sess, _)) = session else {
        // Already gone (expired, or signed out in another tab): nothing left to confirm.
        return sign_out(s, None, None, None).await;
    };
    let expected = match confirm_token(s, &sess.id) {
        Ok(t) => t,
        Err(e) => return pages::internal(s, &e),
    };
    let presented = raw.get("confirm_token").unwrap_or("");
    if !ct_eq(expected.as_bytes(), presented.as_bytes()) {
        return bad_request(s, "The sign-out form has expired. Please try again.");
    }
    if raw.get("confirm") != Some("yes") {
        return pages::message(s, "You are still signed in", "Nothing has changed.");
    }
    let hint = raw
        .get("id_token_hint")
        .and_then(|t| tokens::verify_id_token_hint(&s.config, &s.keys, t).ok());
    let target = match return_target(s, raw, hint.as_ref()).await {
        Ok(t) => t,
        Err(page) => return page,
    };
    let owner = match accounts::find_by_id(&s.db, &sess.user_id).await {
        Ok(row) => row,
        Err(e) => return pages::internal(s, &e),
    };
    sign_out(s, Some(sess), owner, target).await
}

/// Ends the session (if any), forgets the cookie, and goes back or shows the signed-out page.
async fn sign_out(
    s: &AppState,
    session: Option<Session>,
    owner: Option<crate::accounts::Account>,
    target: Option<Return>,
) -> Response {
    let now = s.now();
    if let Some(sess) = &session {
        if let Err(e) = sessions::end(&s.db, &sess.id, now).await {
            return pages::internal(s, &e);
        }
        let actor = owner.as_ref().map_or(audit::Actor::Anonymous, |u| {
            audit::Actor::User(u.username.clone())
        });
        // The session is already over; a failed audit write must not undo the sign-out.
        if let Err(e) = audit::record(
            &s.db,
            &s.config.audit_key,
            now,
            &actor,
            "signout",
            owner.as_ref().map(|u| u.username.as_str()),
            serde_json::json!({ "sid": sess.id }),
        )
        .await
        {
            tracing::error!(error = %e, "could not record the sign-out in the audit log");
        }
    }
    let mut res = match target {
        Some(t) => see_other(&t.uri),
        None => pages::message(
            s,
            "You have signed out",
            &format!(
                "You have signed out of {}. If you are on a shared computer, close your browser.",
                s.config.service_name
            ),
        ),
    };
    res.headers_mut().append(
        header::SET_COOKIE,
        cookies::clear(&s.config, cookies::SESSION),
    );
    res
}
