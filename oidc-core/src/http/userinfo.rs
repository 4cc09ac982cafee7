//! The userinfo endpoint (OIDC Core §5.3) with bearer tokens (RFC 6750).

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
use crate::accounts;
use crate::tokens::{self, TokenRejected};

/// An RFC 6750 §3 error answer.
pub(super) fn bearer_error(status: StatusCode, error: Option<(&str, &str)>) -> Response {
    let challenge = match error {
        Some((code, desc)) => format!("Bearer error=\"{code}\", error_description=\"{desc}\""),
        None => "Bearer".to_string(),
    };
    let mut res = match error {
        Some((code, desc)) => (
            status,
            Json(json!({ "error": code, "error_description": desc })),
        )
            .into_response(),
        None => status.into_response(),
    };
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A failure of ours: 503 with `Retry-After` when the database is out of reach, else 500.
pub(super) fn failed(e: &crate::error::Error) -> Response {
    if e.is_unavailable() {
        tracing::warn!(error = %e, "database unavailable");
        return super::pages::retry_later(StatusCode::SERVICE_UNAVAILABLE.into_response());
    }
    tracing::error!(error = %e, "request failed");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

fn invalid_token(desc: &str) -> Response {
    bearer_error(StatusCode::UNAUTHORIZED, Some(("invalid_token", desc)))
}

pub(super) fn header_token(headers: &HeaderMap) -> Result<Option<String>, Response> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| invalid_request("malformed Authorization header"))?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_string()))
        }
        _ => Err(bearer_error(StatusCode::UNAUTHORIZED, None)),
    }
}

fn invalid_request(desc: &str) -> Response {
    bearer_error(StatusCode::BAD_REQUEST, Some(("invalid_request", desc)))
}

pub(crate) async fn get(State(s): State<AppState>, headers: HeaderMap) -> Response {
    match header_token(&headers) {
        Ok(Some(t)) => answer(&s, &t).await,
        Ok(None) => bearer_error(StatusCode::UNAUTHORIZED, None),
        Err(r) => r,
    }
}

/// RFC 6750 §2.2 also allows the token in a form body; exactly one method per request (§2).
pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let in_header = match header_token(&headers) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let in_body = super::form_pairs(&headers, &body).and_then(|p| {
        p.into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
    });
    match (in_header, in_body) {
        (Some(_), Some(_)) => invalid_request("send the access token by one method only"),
        (Some(t), None) | (None, Some(t)) => answer(&s, &t).await,
        (None, None) => bearer_error(StatusCode::UNAUTHORIZED, None),
    }
}

async fn answer(s: &AppState, token: &str) -> Response {
    let now = s.now();
    let claims =
        match tokens::verify_access_token(&s.config, &s.keys, token, &s.userinfo_audience, now) {
            Ok(c) => c,
            Err(TokenRejected(why)) => return invalid_token(why),
        };
    let requested = match tokens::active_grant_claims(&s.db, &claims.gid).await {
        Ok(Some(requested)) => requested,
        Ok(None) => return invalid_token("the token has been revoked"),
        Err(e) => return failed(&e),
    };
    // RFC 9068 §2.2: an application-only token (client credentials) names the client as `sub`.
    if claims.sub == claims.client_id {
        return invalid_token("the token carries no user");
    }
    let scopes: Vec<&str> = claims.scope.split(' ').collect();
    if !scopes.contains(&"openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            Some((
                "insufficient_scope",
                "the token was not granted the openid scope",
            )),
        );
    }
    let user = match accounts::find_by_subject(&s.db, &claims.sub).await {
        Ok(Some(u)) if !u.disabled => u,
        Ok(_) => return invalid_token("the account is no longer active"),
        Err(e) => return failed(&e),
    };
    let mut out = Map::new();
    out.insert("sub".into(), json!(user.subject));
    // The granted scopes' claims (OIDC Core §5.4) and those the request asked for at userinfo
    // one by one (§5.5).
    let subject = tokens::Subject::with_hook(
        s,
        &user,
        &claims.client_id,
        &claims.scope,
        crate::claims::ClaimsTarget::Userinfo,
    )
    .await;
    let asked = requested.as_ref().map(|c| &c.userinfo);
    for (k, v) in tokens::claims::release(&subject.claims, &scopes, asked.into_iter().flatten()) {
        out.insert(k, v);
    }
    subject.add_extra(&mut out);
    let mut res = Json(Value::Object(out)).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
