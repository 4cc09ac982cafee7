//! Pushed authorization requests (RFC 9126) at rest: what the PAR endpoint stores and the
//! authorization endpoint claims once. The parameter list is stored (never the client's
//! credentials) under the SHA-256 of the `request_uri`'s random part.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::error::Error;
use crate::secret::{digest, random_token};
use crate::store::models::PushedRequestRow;
use crate::store::schema::pushed_requests;
use crate::store::{Db, naive};

/// The prefix of every `request_uri` this endpoint issues (RFC 9126 §2.2).
pub(crate) const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How long a pushed request waits for the browser: long enough for a redirect, short enough
/// that a leaked `request_uri` is soon worthless (RFC 9126 §2.2 suggests 5 to 600 seconds).
pub(crate) const LIFETIME_SECS: i64 = 60;

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
