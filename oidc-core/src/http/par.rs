//! The pushed authorization request endpoint (RFC 9126): a client posts its authorization
//! request directly, authenticated exactly as at the token endpoint, and gets a `request_uri`
//! that the browser then carries to the authorization endpoint alone with the `client_id`.
//!
//! The pushed parameters go through the authorization endpoint's own rules
//! ([`authorize::validate`]) here, with errors as JSON (RFC 9126 §2.3); a pushed request object
//! (RFC 9126 §3) is verified first and its members become the parameters. What is stored is the
//! parameter list (never the client's credentials), under the SHA-256 of the `request_uri`'s
//! random part, for [`LIFETIME_SECS`]; the authorization endpoint claims it once
//! ([`pushed::claim`])
//! and validates it again, so the two endpoints can never disagree.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::token::{self, Params, TokenError};
use crate::protocol::authorize::{self, AuthorizeError, RawParams};
use crate::protocol::errors::ErrorCode;
use crate::tokens::pushed::{self, LIFETIME_SECS};

/// Client authentication parameters (RFC 6749 §2.3.1, RFC 7523 §2.2): never part of the
/// authorization request, never stored.
const CLIENT_AUTH_PARAMS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match push(&s, &headers, &body).await {
        Ok(res) => res,
        Err(e) => super::token::error_response(&s, e),
    }
}

async fn push(s: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Response, TokenError> {
    let pairs = super::form_pairs(headers, body).ok_or_else(|| {
        TokenError::new(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        )
    })?;
    let params = Params(pairs);
    // RFC 9126 §2: the same client authentication as at the token endpoint.
    let client = token::authenticate(s, headers, &params).await?;
    let pushed = RawParams::from_pairs(
        params
            .0
            .into_iter()
            .filter(|(k, _)| !CLIENT_AUTH_PARAMS.contains(&k.as_str())),
    );
    if pushed.get("request_uri").is_some() {
        // RFC 9126 §2.1: a pushed request never refers to another.
        return Err(TokenError::new(
            ErrorCode::InvalidRequest,
            "request_uri must not be pushed",
        ));
    }
    let raw = match pushed.get("request") {
        // RFC 9126 §3: a request object's members are the request.
        Some(object) if !pushed.duplicated().iter().any(|d| d == "request") => {
            match super::authorize::request_object_params(s, &client, object).await {
                Ok(pairs) => RawParams::from_pairs(pairs),
                Err(rejected) => {
                    return Err(TokenError::new(
                        ErrorCode::InvalidRequestObject,
                        rejected.description(),
                    ));
                }
            }
        }
        _ => pushed,
    };
    let policy = super::authorize::policy_of(&client);
    if let Err(e) = authorize::validate(&raw, client.id(), &policy) {
        let (code, description) = match e {
            // A missing or unregistered redirect URI: a page at the authorization endpoint, an
            // error for the client here (RFC 9126 §2.3 uses RFC 6749 §4.1.2.1's codes).
            AuthorizeError::Page(m) => (ErrorCode::InvalidRequest, m),
            AuthorizeError::Redirect { error, .. } => (error.code, error.description),
        };
        return Err(TokenError::new(code, &description));
    }
    let request_uri = pushed::store(
        &s.db,
        client.id(),
        raw.pairs().map(|(k, v)| (k.to_string(), v.to_string())),
        s.now(),
    )
    .await
    .map_err(|e| TokenError::server(&e))?;
    let body = Json(serde_json::json!({
        "request_uri": request_uri,
        "expires_in": LIFETIME_SECS,
    }));
    Ok(token::no_store((StatusCode::CREATED, body).into_response()))
}
