//! Token revocation (RFC 7009) for our access tokens and refresh tokens.
//!
//! Revoking either kind revokes its grant: the refresh token family and every access token the
//! grant issued (§2.1 allows revoking the related tokens). `/userinfo`, introspection and the
//! refresh grant see it at once; a resource server that validates access tokens offline cannot,
//! which is why access tokens live only minutes.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::token::{Params, TokenError, authenticate, no_store};
use crate::protocol::errors::ErrorCode;
use crate::tokens::{self, refresh};

pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match revoke(&s, &headers, &body).await {
        Ok(()) => no_store(StatusCode::OK.into_response()),
        Err(e) => super::token::error_response(&s, e),
    }
}

async fn revoke(s: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), TokenError> {
    let params = Params(super::form_pairs(headers, body).ok_or_else(|| {
        TokenError::new(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        )
    })?);
    // §2.1: confidential clients authenticate; a public client names itself.
    let client = authenticate(s, headers, &params).await?;
    let token = params.require("token")?;
    // §2.1: an unknown token_type_hint is ignored; the hint only orders the look-ups.
    let _ = params.get("token_type_hint")?;
    let now = s.now();
    let other_client = || {
        TokenError::new(
            ErrorCode::InvalidRequest,
            "the token was not issued to this client",
        )
    };
    if let Some(claims) = tokens::decode_access_token(&s.config, &s.keys, token) {
        if claims.client_id != client.id() {
            return Err(other_client());
        }
        return tokens::revoke_grant(&s.db, &claims.gid, now)
            .await
            .map_err(|e| TokenError::server(&e));
    }
    match refresh::lookup(&s.db, token, now)
        .await
        .map_err(|e| TokenError::server(&e))?
    {
        Some(info) if info.client_id != client.id() => Err(other_client()),
        Some(info) => tokens::revoke_grant(&s.db, &info.grant_id, now)
            .await
            .map_err(|e| TokenError::server(&e)),
        // §2.2: an invalid or unknown token is not an error.
        None => Ok(()),
    }
}
