//! Sign-in attempts, sessions, logout tokens and sign-out states: the single-use rows.

use diesel::prelude::*;

use super::schema::{login_attempts, logout_states, logout_tokens, sessions};
use super::{Attempt, BACKCHANNEL, NewAttempt, SessionLookup, SessionRow, Store, StoreError};

impl Store {
    /// Keeps a new attempt, and drops attempts older than `purge_before`.
    pub(crate) async fn insert_attempt(
        &self,
        attempt: NewAttempt,
        purge_before: i64,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            diesel::delete(
                login_attempts::table.filter(login_attempts::created_at.lt(purge_before)),
            )
            .execute(c)?;
            diesel::insert_into(login_attempts::table)
                .values(&attempt)
                .execute(c)?;
            Ok(())
        })
        .await
    }

    /// Claims the attempt of this state started by this browser: deletes it and returns it. A
    /// second claim (a replay), another browser's state or an unknown state get `None`.
    pub(crate) async fn claim_attempt(
        &self,
        state_digest: String,
        browser_digest: String,
    ) -> Result<Option<Attempt>, StoreError> {
        self.run(move |c| {
            Ok(diesel::delete(
                login_attempts::table
                    .filter(login_attempts::state_digest.eq(state_digest))
                    .filter(login_attempts::browser_digest.eq(browser_digest)),
            )
            .returning((
                login_attempts::nonce,
                login_attempts::pkce_verifier,
                login_attempts::return_to,
                login_attempts::prompt_login,
                login_attempts::notice,
                login_attempts::created_at,
            ))
            .get_result::<Attempt>(c)
            .optional()?)
        })
        .await
    }

    // -- sessions -----------------------------------------------------------------------------

    /// Keeps a new session; removes the one it replaces (if any) and sessions not seen since
    /// `purge_before`.
    pub(crate) async fn insert_session(
        &self,
        row: SessionRow,
        replaces: Option<String>,
        purge_before: i64,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            if let Some(old) = replaces {
                diesel::delete(sessions::table.find(old)).execute(c)?;
            }
            diesel::delete(sessions::table.filter(sessions::last_seen_at.lt(purge_before)))
                .execute(c)?;
            diesel::insert_into(sessions::table)
                .values(&row)
                .execute(c)?;
            Ok(())
        })
        .await
    }

    /// Finds the session and applies the limits at `now`: a session past its absolute or idle
    /// limit is ended (with that reason) and reported as ended; a live one has `last_seen_at`
    /// moved to `now` by a conditional update (it cannot revive a session that another request
    /// has just ended) and its one-time notice cleared.
    pub(crate) async fn lookup_session(
        &self,
        id_digest: String,
        now: i64,
        idle_micros: i64,
        absolute_micros: i64,
    ) -> Result<SessionLookup, StoreError> {
        self.run(move |c| {
            let Some(row) = sessions::table
                .find(&id_digest)
                .first::<SessionRow>(c)
                .optional()?
            else {
                return Ok(SessionLookup::Unknown);
            };
            if row.ended_reason.is_some() {
                return Ok(SessionLookup::Ended(row));
            }
            let reason = if now.saturating_sub(row.created_at) >= absolute_micros {
                Some("absolute")
            } else if now.saturating_sub(row.last_seen_at) >= idle_micros {
                Some("idle")
            } else {
                None
            };
            if let Some(reason) = reason {
                diesel::update(
                    sessions::table
                        .find(&id_digest)
                        .filter(sessions::ended_reason.is_null()),
                )
                .set(sessions::ended_reason.eq(reason))
                .execute(c)?;
                let mut ended = row;
                ended.ended_reason = Some(reason.to_string());
                return Ok(SessionLookup::Ended(ended));
            }
            let touched = diesel::update(
                sessions::table
                    .find(&id_digest)
                    .filter(sessions::ended_reason.is_null())
                    .filter(sessions::created_at.gt(now.saturating_sub(absolute_micros)))
                    .filter(sessions::last_seen_at.gt(now.saturating_sub(idle_micros))),
            )
            .set((
                sessions::last_seen_at.eq(now.max(row.last_seen_at)),
                sessions::notice.eq(None::<String>),
            ))
            .execute(c)?;
            if touched == 1 {
                Ok(SessionLookup::Live(row))
            } else {
                Ok(SessionLookup::Unknown)
            }
        })
        .await
    }

    /// The session row as it is, live or ended, without touching it.
    pub(crate) async fn find_session(
        &self,
        id_digest: String,
    ) -> Result<Option<SessionRow>, StoreError> {
        self.run(move |c| {
            Ok(sessions::table
                .find(id_digest)
                .first::<SessionRow>(c)
                .optional()?)
        })
        .await
    }

    /// Deletes the session (sign-out); returns its ID token if this call deleted it.
    pub(crate) async fn delete_session(
        &self,
        id_digest: String,
    ) -> Result<Option<String>, StoreError> {
        self.run(move |c| {
            Ok(diesel::delete(sessions::table.find(id_digest))
                .returning(sessions::id_token)
                .get_result::<String>(c)
                .optional()?)
        })
        .await
    }

    /// Ends (with the reason `backchannel`) the live sessions a logout token names: those with
    /// its `sid` (and, when it has one too, its `sub`), or without a `sid` every session of its
    /// `sub`. Returns how many ended.
    pub(crate) async fn end_sessions_for_logout(
        &self,
        sid: Option<String>,
        sub: Option<String>,
    ) -> Result<usize, StoreError> {
        self.run(move |c| {
            let live = sessions::table.filter(sessions::ended_reason.is_null());
            let n = match (sid, sub) {
                (Some(sid), Some(sub)) => diesel::update(
                    live.filter(sessions::sid.eq(sid))
                        .filter(sessions::subject.eq(sub)),
                )
                .set(sessions::ended_reason.eq(BACKCHANNEL))
                .execute(c)?,
                (Some(sid), None) => diesel::update(live.filter(sessions::sid.eq(sid)))
                    .set(sessions::ended_reason.eq(BACKCHANNEL))
                    .execute(c)?,
                (None, Some(sub)) => diesel::update(live.filter(sessions::subject.eq(sub)))
                    .set(sessions::ended_reason.eq(BACKCHANNEL))
                    .execute(c)?,
                (None, None) => 0,
            };
            Ok(n)
        })
        .await
    }

    /// Claims a logout token's jti (its digest) until `expires_at`: false when it was already
    /// claimed (a replay). Forgets the claims that have expired.
    pub(crate) async fn claim_logout_token(
        &self,
        jti_digest: String,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.run(move |c| {
            diesel::delete(logout_tokens::table.filter(logout_tokens::expires_at.lt(now)))
                .execute(c)?;
            match diesel::insert_into(logout_tokens::table)
                .values((
                    logout_tokens::jti_digest.eq(jti_digest),
                    logout_tokens::expires_at.eq(expires_at),
                ))
                .execute(c)
            {
                Ok(_) => Ok(true),
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    // -- sign-out states ----------------------------------------------------------------------

    /// Keeps the state of a sign-out sent to the provider; drops states older than `purge_before`.
    pub(crate) async fn insert_logout_state(
        &self,
        state_digest: String,
        browser_digest: String,
        now: i64,
        purge_before: i64,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            diesel::delete(logout_states::table.filter(logout_states::created_at.lt(purge_before)))
                .execute(c)?;
            diesel::insert_into(logout_states::table)
                .values((
                    logout_states::state_digest.eq(state_digest),
                    logout_states::browser_digest.eq(browser_digest),
                    logout_states::created_at.eq(now),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
    }

    /// Claims a sign-out state of this browser not older than `not_before`; true when it was
    /// there (and is now gone).
    pub(crate) async fn claim_logout_state(
        &self,
        state_digest: String,
        browser_digest: String,
        not_before: i64,
    ) -> Result<bool, StoreError> {
        self.run(move |c| {
            let n = diesel::delete(
                logout_states::table
                    .filter(logout_states::state_digest.eq(state_digest))
                    .filter(logout_states::browser_digest.eq(browser_digest))
                    .filter(logout_states::created_at.ge(not_before)),
            )
            .execute(c)?;
            Ok(n == 1)
        })
        .await
    }

    // -- panels -------------------------------------------------------------------------------
}
