//! Browser sessions at the provider: the cookie holds a 256-bit secret, the database its digest.
//! Idle and absolute limits are enforced on every look-up; a sign-in always makes a new session
//! (and a new cookie value), so a session id planted before sign-in is worthless.
//!
//! Ending a session (here, in [`end`] and [`end_all_for_user`]) records its back-channel logout
//! deliveries in the same transaction (see [`backchannel`]).

pub(crate) mod backchannel;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::error::Error;
use crate::secret::{digest, random_token};
use crate::store::models::SessionRow;
use crate::store::schema::{grants, sessions};
use crate::store::{Db, DbConnection, naive, utc};

/// A live session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub id: String,
    pub user_id: String,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Session {
            id: r.id,
            user_id: r.user_id,
            auth_time: utc(r.auth_time),
            amr: r.amr.split_whitespace().map(str::to_string).collect(),
            acr: r.acr,
        }
    }
}

/// Starts a session inside the caller's transaction; returns it and the cookie value (the only
/// copy of the secret).
pub(crate) fn create_in(
    conn: &mut DbConnection,
    user_id: &str,
    auth_time: DateTime<Utc>,
    amr: &[String],
    acr: Option<String>,
    now: DateTime<Utc>,
    absolute: std::time::Duration,
) -> Result<(Session, String), Error> {
    let secret = random_token()?;
    let absolute = Duration::from_std(absolute).map_err(|e| Error::Config(e.to_string()))?;
    let row = SessionRow {
        // The sid claim: random, so it tells nothing about when or for whom.
        id: uuid::Uuid::new_v4().to_string(),
        secret_hash: digest(&secret),
        user_id: user_id.to_string(),
        auth_time: naive(auth_time),
        amr: amr.join(" "),
        acr,
        created_at: naive(now),
        last_seen_at: naive(now),
        expires_at: naive(now + absolute),
        ended_at: None,
    };
    diesel::insert_into(sessions::table)
        .values(&row)
        .execute(conn)?;
    Ok((Session::from(row), secret))
}

/// The id of the live session behind a cookie value, inside the caller's transaction.
pub(crate) fn live_id_in(
    conn: &mut DbConnection,
    cookie: &str,
    now: DateTime<Utc>,
    idle: std::time::Duration,
) -> Result<Option<String>, Error> {
    if cookie.len() != 43 {
        return Ok(None);
    }
    let idle = Duration::from_std(idle).map_err(|e| Error::Config(e.to_string()))?;
    Ok(sessions::table
        .filter(sessions::secret_hash.eq(digest(cookie)))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(naive(now)))
        .filter(sessions::last_seen_at.gt(naive(now - idle)))
        .select(sessions::id)
        .first(conn)
        .optional()?)
}

/// Finds the live session behind a cookie value, refreshing its idle timer (at most once a
/// minute, to keep writes off the hot path).
pub(crate) async fn lookup(
    db: &Db,
    cookie: &str,
    now: DateTime<Utc>,
    idle: std::time::Duration,
) -> Result<Option<Session>, Error> {
    if cookie.len() != 43 {
        return Ok(None);
    }
    let hash = digest(cookie);
    let idle = Duration::from_std(idle).map_err(|e| Error::Config(e.to_string()))?;
    db.run(move |conn| {
        let row: Option<SessionRow> = sessions::table
            .filter(sessions::secret_hash.eq(&hash))
            .filter(sessions::ended_at.is_null())
            .filter(sessions::expires_at.gt(naive(now)))
            .filter(sessions::last_seen_at.gt(naive(now - idle)))
            .select(SessionRow::as_select())
            .first(conn)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        if utc(row.last_seen_at) < now - Duration::seconds(60) {
            diesel::update(sessions::table.find(&row.id))
                .set(sessions::last_seen_at.eq(naive(now)))
                .execute(conn)?;
        }
        Ok(Some(Session::from(row)))
    })
    .await
}

/// Holds a live session (not ended, not past its absolute end) for the rest of the caller's
/// transaction. On PostgreSQL a `SELECT … FOR SHARE` of its row: an [`end_in`] or
/// [`end_all_for_user_in`] running at the same time either committed before (the row no longer
/// matches) or waits until the caller commits (and then, each of its statements seeing what is
/// committed, also revokes what the caller created). On SQLite the write transaction already
/// runs alone (`BEGIN IMMEDIATE`), so a plain read holds. Nothing is written: the hot paths pay
/// no extra write for the check.
pub(crate) fn hold_live(
    conn: &mut DbConnection,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let live = sessions::table
        .find(id)
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(naive(now)))
        .select(sessions::id);
    let found = match conn {
        DbConnection::Postgresql(c) => live.for_share().first::<String>(c).optional()?,
        DbConnection::Sqlite(c) => live.first::<String>(c).optional()?,
    };
    Ok(found.is_some())
}

/// Ends a session inside the caller's transaction (sign-out, or replaced by a new sign-in):
/// records the back-channel logout of the clients that got tokens in it, and revokes the grants
/// it bound (all but `offline_access` ones, which OIDC Core §11 lets outlive it). Returns
/// whether this call ended it.
pub(crate) fn end_in(conn: &mut DbConnection, id: &str, now: DateTime<Utc>) -> Result<bool, Error> {
    let ended = diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::ended_at.is_null()),
    )
    .set(sessions::ended_at.eq(naive(now)))
    .returning(sessions::user_id)
    .get_result::<String>(conn)
    .optional()?;
    let Some(user_id) = ended else {
        return Ok(false);
    };
    backchannel::enqueue(conn, &user_id, &[id.to_string()], None, now)?;
    diesel::update(
        grants::table
            .filter(grants::session_id.eq(id))
            .filter(grants::offline.eq(false))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(naive(now)))
    .execute(conn)?;
    Ok(true)
}

/// Ends a session in a transaction of its own (see [`end_in`]).
pub(crate) async fn end(db: &Db, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let id = id.to_string();
    db.write(move |conn| end_in(conn, &id, now).map(|_| ()))
        .await
}

/// What ending a user's access did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Ended {
    pub sessions: usize,
    pub grants: usize,
    pub journeys: usize,
}

/// Ends every live session of a user, revokes every grant (so refresh tokens and access tokens
/// stop at once) and expires every unfinished sign-in that has identified the account, except
/// `keep_journey` (the one making the change), inside the caller's transaction: password change
/// or reset, temporary password, lock, disable, lost token, role removal, deleted credentials.
pub(crate) fn end_all_for_user_in(
    conn: &mut DbConnection,
    user_id: &str,
    now: DateTime<Utc>,
    keep_journey: Option<&str>,
) -> Result<Ended, Error> {
    let ended: Vec<String> = diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::ended_at.is_null()),
    )
    .set(sessions::ended_at.eq(naive(now)))
    .returning(sessions::id)
    .get_results(conn)?;
    // Before the grants are revoked: their clients are told too.
    backchannel::enqueue(conn, user_id, &ended, Some(user_id), now)?;
    let grants = diesel::update(
        grants::table
            .filter(grants::user_id.eq(user_id))
            .filter(grants::revoked_at.is_null()),
    )
    .set(grants::revoked_at.eq(naive(now)))
    .execute(conn)?;
    let journeys = crate::journey::expire_all_for_user_in(conn, user_id, now, keep_journey)?;
    Ok(Ended {
        sessions: ended.len(),
        grants,
        journeys,
    })
}
