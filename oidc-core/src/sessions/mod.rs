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
use crate::store::{Db, naive, utc};

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

/// Starts a session; returns it and the cookie value (the only copy of the secret).
pub(crate) async fn create(
    db: &Db,
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
    let session = Session::from(row.clone());
    db.write(move |conn| {
        diesel::insert_into(sessions::table)
            .values(&row)
            .execute(conn)?;
        Ok(())
    })
    .await?;
    Ok((session, secret))
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

/// Ends a session (sign-out, or replaced by a new sign-in), recording the back-channel logout
/// of the clients that got tokens in it when this call is the one that ended it.
pub(crate) async fn end(db: &Db, id: &str, now: DateTime<Utc>) -> Result<(), Error> {
    let id = id.to_string();
    db.write(move |conn| {
        let ended = diesel::update(
            sessions::table
                .find(&id)
                .filter(sessions::ended_at.is_null()),
        )
        .set(sessions::ended_at.eq(naive(now)))
        .returning(sessions::user_id)
        .get_result::<String>(conn)
        .optional()?;
        if let Some(user_id) = ended {
            backchannel::enqueue(conn, &user_id, &[id], None, now)?;
        }
        Ok(())
    })
    .await
}

/// Ends every live session of a user and revokes every grant (so refresh tokens and access
/// tokens stop at once): password change or reset, lock, disable, lost token, role removal.
/// Returns how many sessions ended.
pub(crate) async fn end_all_for_user(
    db: &Db,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let id = user_id.to_string();
    db.write(move |conn| {
        let ended: Vec<String> = diesel::update(
            sessions::table
                .filter(sessions::user_id.eq(&id))
                .filter(sessions::ended_at.is_null()),
        )
        .set(sessions::ended_at.eq(naive(now)))
        .returning(sessions::id)
        .get_results(conn)?;
        // Before the grants are revoked: their clients are told too.
        backchannel::enqueue(conn, &id, &ended, Some(&id), now)?;
        diesel::update(
            grants::table
                .filter(grants::user_id.eq(&id))
                .filter(grants::revoked_at.is_null()),
        )
        .set(grants::revoked_at.eq(naive(now)))
        .execute(conn)?;
        Ok(ended.len())
    })
    .await
}
