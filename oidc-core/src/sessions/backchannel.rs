//! OpenID Connect Back-Channel Logout 1.0: when a provider session ends (sign-out, a new sign-in
//! replacing it, and every account event that ends all of a person's sessions: disable, lock,
//! password change or reset, lost token, role removal), each client that received tokens in it
//! (its grants carry the session id) and registered a `backchannel_logout_uri` receives a logout
//! token there.
//!
//! **Outbox.** The deliveries are rows of `backchannel_deliveries`, written in the same
//! transaction that ends the session(s) (`enqueue`), so a session never ends without its
//! deliveries recorded, and nothing is sent for a session that did not end. A background task on
//! every replica ([`deliver_due`], every
//! [`backchannel_logout_poll_interval`](crate::ProviderConfigBuilder::backchannel_logout_poll_interval))
//! claims due rows one by one with a conditional update that moves `next_attempt_at` forward by
//! [`LEASE_SECS`] and counts the attempt: exactly one replica wins a row, and a replica that dies
//! mid-delivery only delays it by the lease.
//!
//! **Token** (§2.4): signed like the client's ID tokens, header `typ: logout+jwt` (so no endpoint
//! that expects an ID token or an access token accepts it: those check `typ`), claims `iss`,
//! `aud` (the client id), `iat`, `exp` ([`LOGOUT_TOKEN_TTL_SECS`]), a fresh `jti` per attempt,
//! `events` with the back-channel logout member, `sid` and `sub`, never `nonce`.
//!
//! **Retries and bounds.** A 2xx answer (§2.8: 200, or the 204 some frameworks send) delivers;
//! a failure (connection, timeout, another status) is retried with exponential back-off from
//! [`FIRST_RETRY_SECS`], at most [`MAX_BACKOFF_SECS`] apart, for at most
//! [`backchannel_logout_max_attempts`](crate::ProviderConfigBuilder::backchannel_logout_max_attempts)
//! attempts and [`MAX_AGE_SECS`]; a URL the outbound guard refuses, a deleted or disabled client,
//! or a removed URI gives up at once. Finished rows are purged a day later (housekeeping).

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde_json::json;

use crate::error::Error;
use crate::outbound::FetchError;
use crate::provider::Inner;
use crate::store::models::BackchannelDeliveryRow;
use crate::store::schema::{backchannel_deliveries, clients, grants, sessions, users};
use crate::store::{DbConnection, naive, new_id, utc};

/// The `typ` of logout tokens (§2.4).
pub(crate) const LOGOUT_TOKEN_TYP: &str = "logout+jwt";
/// The event member of `events` (§2.4).
pub(crate) const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// Lifetime of a logout token (the spec recommends at most two minutes).
pub const LOGOUT_TOKEN_TTL_SECS: i64 = 120;
/// How long a claimed delivery belongs to the replica that claimed it.
pub const LEASE_SECS: i64 = 60;
/// The wait before the first retry; doubled after each failure.
pub const FIRST_RETRY_SECS: i64 = 2;
/// The longest wait between two attempts.
pub const MAX_BACKOFF_SECS: i64 = 600;
/// A delivery not done this long after its session ended is given up.
pub const MAX_AGE_SECS: i64 = 86_400;
/// Deliveries claimed per run of the task.
const BATCH: i64 = 20;
/// The most of a receiver's answer read (and ignored).
const MAX_ANSWER_BYTES: usize = 4096;

/// The outcome of a finished delivery, as stored.
pub(crate) const DELIVERED: &str = "delivered";
/// A delivery given up.
pub(crate) const GAVE_UP: &str = "gave_up";

/// Records the deliveries for sessions that are ending in the current transaction: every
/// client with a grant in one of `ended_sessions`, plus (for `revoked_grants_of`, the user
/// whose grants are being revoked) every client with a live grant of that user whose session
/// was not already logged out explicitly. Only clients with a `backchannel_logout_uri`, not
/// disabled. Returns how many deliveries were recorded.
pub(crate) fn enqueue(
    conn: &mut DbConnection,
    user_id: &str,
    ended_sessions: &[String],
    revoked_grants_of: Option<&str>,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let mut pairs: Vec<(String, Option<String>)> = Vec::new();
    if !ended_sessions.is_empty() {
        pairs.extend(
            grants::table
                .filter(grants::session_id.eq_any(ended_sessions))
                .select((grants::client_id, grants::session_id))
                .distinct()
                .load::<(String, Option<String>)>(conn)?,
        );
    }
    if let Some(user) = revoked_grants_of {
        let live: Vec<(String, Option<String>)> = grants::table
            .filter(grants::user_id.eq(user))
            .filter(grants::revoked_at.is_null())
            .select((grants::client_id, grants::session_id))
            .distinct()
            .load(conn)?;
        // A session that already ended by sign-out had its logout tokens sent then.
        let sids: Vec<&String> = live
            .iter()
            .filter_map(|(_, s)| s.as_ref())
            .filter(|s| !ended_sessions.contains(s))
            .collect();
        let already: HashSet<String> = if sids.is_empty() {
            HashSet::new()
        } else {
            sessions::table
                .filter(sessions::id.eq_any(sids))
                .filter(sessions::ended_at.is_not_null())
                .select(sessions::id)
                .load::<String>(conn)?
                .into_iter()
                .collect()
        };
        pairs.extend(
            live.into_iter()
                .filter(|(_, s)| s.as_ref().is_none_or(|s| !already.contains(s))),
        );
    }
    if pairs.is_empty() {
        return Ok(0);
    }
    let client_ids: Vec<&String> = pairs.iter().map(|(c, _)| c).collect();
    let receivers: HashSet<String> = clients::table
        .filter(clients::id.eq_any(client_ids))
        .filter(clients::disabled.eq(false))
        .filter(clients::backchannel_logout_uri.is_not_null())
        .select(clients::id)
        .load::<String>(conn)?
        .into_iter()
        .collect();
    let mut seen = HashSet::new();
    let rows: Vec<BackchannelDeliveryRow> = pairs
        .into_iter()
        .filter(|(c, _)| receivers.contains(c))
        .filter(|p| seen.insert(p.clone()))
        .map(|(client_id, session_id)| BackchannelDeliveryRow {
            id: new_id(),
            client_id,
            user_id: user_id.to_string(),
            session_id,
            created_at: naive(now),
            next_attempt_at: naive(now),
            attempts: 0,
            last_error: None,
            done_at: None,
            outcome: None,
        })
        .collect();
    // One insert per row: MultiConnection has no batch insert (and a session has few clients).
    let mut n = 0;
    for row in &rows {
        n += diesel::insert_into(backchannel_deliveries::table)
            .values(row)
            .execute(conn)?;
    }
    Ok(n)
}

/// The wait after `attempts` failed attempts.
pub(crate) fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    Duration::seconds(
        FIRST_RETRY_SECS
            .saturating_mul(1_i64 << exp)
            .min(MAX_BACKOFF_SECS),
    )
}

/// Claims and delivers the deliveries due now (at most a batch); returns how many were
/// delivered.
pub(crate) async fn deliver_due(inner: &Inner) -> Result<usize, Error> {
    let now = inner.now();
    let due: Vec<String> = inner
        .db
        .run(move |conn| {
            Ok(backchannel_deliveries::table
                .filter(backchannel_deliveries::done_at.is_null())
                .filter(backchannel_deliveries::next_attempt_at.le(naive(now)))
                .order(backchannel_deliveries::next_attempt_at.asc())
                .select(backchannel_deliveries::id)
                .limit(BATCH)
                .load(conn)?)
        })
        .await?;
    let mut delivered = 0;
    for id in due {
        if let Some(row) = claim(inner, id, now).await?
            && deliver(inner, row).await?
        {
            delivered += 1;
        }
    }
    Ok(delivered)
}

/// Claims one delivery for this replica (for the lease), counting the attempt.
async fn claim(
    inner: &Inner,
    id: String,
    now: DateTime<Utc>,
) -> Result<Option<BackchannelDeliveryRow>, Error> {
    inner
        .db
        .run(move |conn| {
            let won = diesel::update(
                backchannel_deliveries::table
                    .find(&id)
                    .filter(backchannel_deliveries::done_at.is_null())
                    .filter(backchannel_deliveries::next_attempt_at.le(naive(now))),
            )
            .set((
                backchannel_deliveries::next_attempt_at
                    .eq(naive(now + Duration::seconds(LEASE_SECS))),
                backchannel_deliveries::attempts.eq(backchannel_deliveries::attempts + 1),
            ))
            .execute(conn)?;
            if won != 1 {
                return Ok(None);
            }
            Ok(backchannel_deliveries::table
                .find(&id)
                .select(BackchannelDeliveryRow::as_select())
                .first(conn)
                .optional()?)
        })
        .await
}

/// What became of one attempt.
enum Attempt {
    Delivered,
    /// Retry later (unless the bounds are reached).
    Failed(String),
    /// Never retry.
    GiveUp(String),
}

/// Makes one attempt at a claimed delivery and records its outcome; true when delivered.
async fn deliver(inner: &Inner, row: BackchannelDeliveryRow) -> Result<bool, Error> {
    let attempt = attempt(inner, &row).await?;
    let now = inner.now();
    let age = now - utc(row.created_at);
    let (done, outcome, error, next) = match attempt {
        Attempt::Delivered => (true, Some(DELIVERED), None, now),
        Attempt::GiveUp(why) => (true, Some(GAVE_UP), Some(why), now),
        Attempt::Failed(why)
            if row.attempts
                >= i32::try_from(inner.config.backchannel_max_attempts).unwrap_or(i32::MAX)
                || age > Duration::seconds(MAX_AGE_SECS) =>
        {
            (true, Some(GAVE_UP), Some(why), now)
        }
        Attempt::Failed(why) => (false, None, Some(why), now + backoff(row.attempts)),
    };
    match (outcome, &error) {
        (Some(DELIVERED), _) => {
            tracing::info!(client_id = %row.client_id, attempts = row.attempts, "back-channel logout delivered")
        }
        (Some(_), Some(e)) => {
            tracing::warn!(client_id = %row.client_id, attempts = row.attempts, error = %e, "back-channel logout given up")
        }
        (_, Some(e)) => {
            tracing::info!(client_id = %row.client_id, attempts = row.attempts, error = %e, "back-channel logout failed; will retry")
        }
        _ => {}
    }
    let id = row.id.clone();
    inner
        .db
        .run(move |conn| {
            diesel::update(backchannel_deliveries::table.find(&id))
                .set((
                    backchannel_deliveries::done_at.eq(done.then(|| naive(now))),
                    backchannel_deliveries::outcome.eq(outcome),
                    backchannel_deliveries::last_error.eq(error),
                    backchannel_deliveries::next_attempt_at.eq(naive(next)),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await?;
    Ok(done && outcome == Some(DELIVERED))
}

async fn attempt(inner: &Inner, row: &BackchannelDeliveryRow) -> Result<Attempt, Error> {
    let Some(client) = crate::clients::find(&inner.db, &row.client_id).await? else {
        return Ok(Attempt::GiveUp("the client is gone or disabled".into()));
    };
    let Some((uri, session_required)) = client.backchannel_logout() else {
        return Ok(Attempt::GiveUp(
            "the client has no backchannel_logout_uri".into(),
        ));
    };
    if session_required && row.session_id.is_none() {
        return Ok(Attempt::GiveUp(
            "the client requires sid and the grant has no session".into(),
        ));
    }
    let user_id = row.user_id.clone();
    let subject: Option<String> = inner
        .db
        .run(move |conn| {
            Ok(users::table
                .find(user_id)
                .select(users::subject)
                .first(conn)
                .optional()?)
        })
        .await?;
    let now = inner.now();
    let mut claims = json!({
        "iss": inner.config.issuer(),
        "aud": client.id(),
        "iat": now.timestamp(),
        "exp": now.timestamp() + LOGOUT_TOKEN_TTL_SECS,
        "jti": crate::secret::random_token()?,
        "events": { EVENT: {} },
    });
    if let Some(sub) = subject {
        claims["sub"] = json!(sub);
    }
    if let Some(sid) = &row.session_id {
        claims["sid"] = json!(sid);
    }
    if claims.get("sub").is_none() && claims.get("sid").is_none() {
        return Ok(Attempt::GiveUp("neither sub nor sid is known".into()));
    }
    let alg = client
        .row
        .id_token_alg
        .as_deref()
        .and_then(crate::config::SigningAlg::parse)
        .filter(|a| inner.keys.can_sign(*a))
        .unwrap_or(inner.config.id_token_alg);
    let payload = serde_json::to_vec(&claims).map_err(|e| Error::Internal(e.to_string()))?;
    let token = inner.keys.sign(alg, LOGOUT_TOKEN_TYP, &payload)?;
    Ok(
        match inner
            .outbound
            .post_form(uri, &[("logout_token", &token)], MAX_ANSWER_BYTES)
            .await
        {
            Ok(_) => Attempt::Delivered,
            Err(FetchError::Refused(why)) => Attempt::GiveUp(why),
            Err(FetchError::Failed(why)) => Attempt::Failed(why),
        },
    )
}

/// One delivery, as the library reports it (tests and operators).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryInfo {
    /// The receiving client.
    pub client_id: String,
    /// The `sid` of the ended session, when the grant had one.
    pub sid: Option<String>,
    /// Attempts made so far.
    pub attempts: i32,
    /// `delivered`, `gave_up`, or `None` while pending.
    pub outcome: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// Every delivery recorded (newest first, at most 1000).
pub(crate) async fn list(inner: &Inner) -> Result<Vec<DeliveryInfo>, Error> {
    inner
        .db
        .run(|conn| {
            let rows: Vec<BackchannelDeliveryRow> = backchannel_deliveries::table
                .order(backchannel_deliveries::created_at.desc())
                .select(BackchannelDeliveryRow::as_select())
                .limit(1000)
                .load(conn)?;
            Ok(rows
                .into_iter()
                .map(|r| DeliveryInfo {
                    client_id: r.client_id,
                    sid: r.session_id,
                    attempts: r.attempts,
                    outcome: r.outcome,
                    last_error: r.last_error,
                })
                .collect())
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff(1), Duration::seconds(2));
        assert_eq!(backoff(2), Duration::seconds(4));
        assert_eq!(backoff(5), Duration::seconds(32));
        assert_eq!(backoff(10), Duration::seconds(MAX_BACKOFF_SECS));
        assert_eq!(backoff(1000), Duration::seconds(MAX_BACKOFF_SECS));
    }
}
