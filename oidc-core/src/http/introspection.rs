//! Token introspection (RFC 7662) for resource servers and clients.
//!
//! Callers authenticate as confidential clients. A caller sees a token only when it was issued to
//! it or is meant for it (its `aud` names the caller's client id or the caller's registered
//! resource audience); for anything else, and for unknown, expired or revoked tokens, the answer
//! is `{"active": false}` (§2.2), so introspection cannot be used to probe other clients' tokens.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::token::{Params, TokenError, authenticate, no_store};
use crate::clients::Client;
use crate::protocol::errors::ErrorCode;
use crate::{accounts, tokens, tokens::refresh};

pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match introspect(&s, &headers, &body).await {
        Ok(v) => no_store(Json(v).into_response()),
        Err(e) => super::token::error_response(&s, e),
    }
}

fn inactive() -> Value {
    json!({ "active": false })
}

fn audience_names(aud: &Value, who: &[&str]) -> bool {
    match aud {
        Value::String(a) => who.contains(&a.as_str()),
        Value::Array(v) => v
            .iter()
            .any(|a| a.as_str().is_some_and(|a| who.contains(&a))),
        _ => false,
    }
}

async fn introspect(s: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, TokenError> {
    let params = Params(super::form_pairs(headers, body).ok_or_else(|| {
        TokenError::new(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        )
    })?);
    let client = authenticate(s, headers, &params).await?;
    if client.row.is_public {
        // §2.1: the endpoint requires authorization; a public client proves nothing.
        return Err(TokenError::client(
            "introspection needs a confidential client",
        ));
    }
    let token = params.require("token")?;
    let _ = params.get("token_type_hint")?;
    let now = s.now();
    if let Some(c) = tokens::decode_access_token(&s.config, &s.keys, token) {
        return access_token(s, &client, c, now).await;
    }
    let Some(info) = refresh::lookup(&s.db, token, now)
        .await
        .map_err(|e| TokenError::server(&e))?
    else {
        return Ok(inactive());
    };
    if !info.active || info.client_id != client.id() {
        return Ok(inactive());
    }
    let Some(user) = accounts::find_by_id(&s.db, &info.user_id)
        .await
        .map_err(|e| TokenError::server(&e))?
        .filter(|u| !u.disabled)
    else {
        return Ok(inactive());
    };
    Ok(json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": info.scope,
        "client_id": info.client_id,
        "username": user.username,
        "sub": user.subject,
        "iss": s.config.issuer(),
        "iat": info.created_at.timestamp(),
        "exp": info.expires_at.timestamp(),
    }))
}

async fn access_token(
    s: &AppState,
    client: &Client,
    c: tokens::AccessClaims,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Value, TokenError> {
    let mut mine = vec![client.id()];
    if let Some(a) = client.row.access_token_audience.as_deref() {
        mine.push(a);
    }
    let visible = c.client_id == client.id() || audience_names(&c.aud, &mine);
    if !visible || c.exp <= now.timestamp() {
        return Ok(inactive());
    }
    if !tokens::grant_active(&s.db, &c.gid)
        .await
        .map_err(|e| TokenError::server(&e))?
    {
        return Ok(inactive());
    }
    let mut out = json!({
        "active": true,
        "token_type": "Bearer",
        "scope": c.scope,
        "client_id": c.client_id,
        "sub": c.sub,
        "aud": c.aud,
        "iss": c.iss,
        "iat": c.iat,
        "exp": c.exp,
    });
    if let Some(j) = &c.jti {
        out["jti"] = json!(j);
    }
    if c.sub != c.client_id {
        let user = accounts::find_by_subject(&s.db, &c.sub)
            .await
            .map_err(|e| TokenError::server(&e))?
            .filter(|u| !u.disabled);
        let Some(user) = user else {
            return Ok(inactive());
        };
        out["username"] = json!(user.username);
        if c.auth_time > 0 {
            out["auth_time"] = json!(c.auth_time);
        }
        if let Some(acr) = &c.acr {
            out["acr"] = json!(acr);
        }
    }
    Ok(out)
}
