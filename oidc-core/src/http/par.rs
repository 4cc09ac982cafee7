//! The pushed authorization request endpoint (RFC 9126): a client posts its authorization
//! request directly, authenticated exactly as at the token endpoint, and gets a `request_uri`
//! that the browser then carries to the authorization endpoint alone with the `client_id`.
//!
//! The pushed parameters go through the authorization endpoint's own rules
//! ([`authorize::validate`]) here, with errors as JSON (RFC 9126 §2.3); a pushed request object
//! (RFC 9126 §3) is verified first and its members become the parameters. What is stored is the
//! parameter list (never the client's credentials), under the SHA-256 of the `request_uri`'s
//! random part, for [`LIFETIME_SECS`]; the authorization endpoint claims it once ([`claim`])
//! and validates it again, so the two endpoints can never disagree.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::AppState;
use super::token::{self, Params, TokenError};
use crate::error::Error;
use crate::protocol::authorize::{self, AuthorizeError, RawParams};
use crate::protocol::errors::ErrorCode;
use crate::secret::{digest, random_token};
use crate::store::models::PushedRequestRow;
use crate::store::schema::pushed_requests;
use crate::store::{Db, naive};

/// The prefix of every `request_uri` this endpoint issues (RFC 9126 §2.2).
pub(crate) const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How long a pushed request waits for the browser: long enough for a redirect, short enough
/// that a leaked `request_uri` is soon worthless (RFC 9126 §2.2 suggests 5 to 600 seconds).
pub(crate) const LIFETIME_SECS: i64 = 60;

/// Client authentication parameters (RFC 6749 §2.3.1, RFC 7523 §2.2): never part of the
/// authorization request, never stored.
const CLIENT_AUTH_PARAMS: [&str; 3] =
    ["client_secret", "client_assertion", "client_assertion_type"];

pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match push(&s, &headers, &body).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
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
    let request_uri = store(
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

/// Stores a pushed request of `client_id` made of `params` (validated by the caller); returns
/// its `request_uri`. Also used by the provider itself to send a browser back through the
/// authorization endpoint on behalf of a client that must use PAR.
pub(crate) async fn store(
    db: &Db,
    client_id: &str,
    params: impl Iterator<Item = (String, String)>,
    now: DateTime<Utc>,
) -> Result<String, Error> {
    let secret = random_token()?;
    let mut stored: serde_json::Map<String, serde_json::Value> = params
        .map(|(k, v)| (k, serde_json::Value::String(v)))
        .collect();
    stored.insert(
        "client_id".into(),
        serde_json::Value::String(client_id.to_string()),
    );
    let row = PushedRequestRow {
        id: digest(&secret),
        client_id: client_id.to_string(),
        params: serde_json::Value::Object(stored).to_string(),
        created_at: naive(now),
        expires_at: naive(now + chrono::Duration::seconds(LIFETIME_SECS)),
        used_at: None,
    };
    db.write(move |conn| {
        diesel::insert_into(pushed_requests::table)
            .values(&row)
            .execute(conn)?;
        Ok(())
    })
    .await?;
    Ok(format!("{REQUEST_URI_PREFIX}{secret}"))
}

/// Claims the pushed request `request_uri` names for `client_id` (RFC 9126 §4): one conditional
/// update, so of two uses (on any replica) exactly one gets it. `None` when it is unknown,
/// expired, used, or another client's (whose request stays usable by that client).
pub(crate) async fn claim(
    db: &Db,
    request_uri: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Vec<(String, String)>>, Error> {
    let Some(secret) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
        return Ok(None);
    };
    if secret.len() != 43 {
        return Ok(None);
    }
    let id = digest(secret);
    let client_id = client_id.to_string();
    let params: Option<String> = db
        .run(move |conn| {
            let claimed = diesel::update(
                pushed_requests::table
                    .find(&id)
                    .filter(pushed_requests::client_id.eq(&client_id))
                    .filter(pushed_requests::used_at.is_null())
                    .filter(pushed_requests::expires_at.gt(naive(now))),
            )
            .set(pushed_requests::used_at.eq(naive(now)))
            .execute(conn)?;
            if claimed != 1 {
                return Ok(None);
            }
            Ok(pushed_requests::table
                .find(&id)
                .select(pushed_requests::params)
                .first(conn)
                .optional()?)
        })
        .await?;
    let Some(params) = params else {
        return Ok(None);
    };
    // Written by `push` from validated parameters: unreadable only if tampered with.
    let map: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(&params) {
        Ok(m) => m,
        Err(_) => return Ok(None),
    };
    Ok(Some(
        map.into_iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(v) => Some((k, v)),
                _ => None,
            })
            .collect(),
    ))
}
