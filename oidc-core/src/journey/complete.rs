//! The last step of a sign-in, as one transaction: the journey is finished (exactly once), the
//! account re-checked (enabled, unlocked, with credentials, owing nothing), the browser's
//! previous session ended, the failure count cleared, the new session created and, for an
//! authorization request, the grant and its code recorded. Nothing of it is left half done, and
//! a revocation that commits first is seen (see [`crate::sessions::hold_live`]).

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::error::Error;
use crate::sessions::{self, Session};
use crate::store::schema::journeys;
use crate::store::{Db, naive};
use crate::tokens::{self, CodeGrant};

/// What finishing needs.
pub(crate) struct Completion {
    pub journey_id: String,
    pub user_id: String,
    pub amr: Vec<String>,
    pub acr: Option<String>,
    /// The browser's current session cookie, if any: that session ends.
    pub old_cookie: Option<String>,
    /// The code to issue in the new session (its session fields are filled in here).
    pub code: Option<CodeGrant>,
    pub now: DateTime<Utc>,
    pub session_idle: std::time::Duration,
    pub session_absolute: std::time::Duration,
    pub code_ttl: std::time::Duration,
}

/// How it went.
#[derive(Debug)]
pub(crate) enum Completed {
    /// Signed in: the session, its cookie secret, and the code when there was a request.
    SignedIn {
        cookie: String,
        code: Option<crate::Secret>,
    },
    /// Another request finished this journey first (a double submit).
    AlreadyFinished,
    /// The account was disabled, locked, lost its credentials or owes a required action since
    /// its steps were checked.
    AccountInactive,
    /// The client was disabled or deleted meanwhile.
    ClientGone,
}

/// Finishes a journey (see the module's documentation).
pub(crate) async fn complete(db: &Db, c: Completion) -> Result<Completed, Error> {
    let code_secret = crate::Secret::new(crate::secret::random_token()?);
    db.write(move |conn| {
        // Checked before anything is written, so that a client deleted meanwhile leaves the
        // journey as it was.
        if let Some(g) = &c.code
            && !tokens::code::client_enabled(conn, g.client_id.as_str())?
        {
            return Ok(Completed::ClientGone);
        }
        let finished = diesel::update(
            journeys::table
                .find(&c.journey_id)
                .filter(journeys::finished_at.is_null()),
        )
        .set(journeys::finished_at.eq(naive(c.now)))
        .execute(conn)?;
        if finished != 1 {
            return Ok(Completed::AlreadyFinished);
        }
        let Some(user) = crate::accounts::changes::hold(conn, &c.user_id)? else {
            return Ok(Completed::AccountInactive);
        };
        if !user.may_sign_in(c.now) {
            return Ok(Completed::AccountInactive);
        }
        if let Some(cookie) = &c.old_cookie
            && let Some(old) = sessions::live_id_in(conn, cookie, c.now, c.session_idle)?
        {
            sessions::end_in(conn, &old, c.now)?;
        }
        crate::accounts::record_success_in(conn, &c.user_id)?;
        let (session, cookie): (Session, String) = sessions::create_in(
            conn,
            &c.user_id,
            c.now,
            &c.amr,
            c.acr.clone(),
            c.now,
            c.session_absolute,
        )?;
        crate::fail::point("signin.complete:after_session", &c.user_id)?;
        let code = match c.code {
            None => None,
            Some(mut g) => {
                g.user_id = crate::ids::UserId::new(c.user_id.clone());
                g.session_id = session.id.clone();
                g.auth_time = session.auth_time;
                g.amr = session.amr.clone();
                g.acr = session.acr.clone();
                // The account, the client and the new session were all checked above in this
                // transaction: a refusal here means something changed underneath it, and
                // nothing of the sign-in is kept.
                if let Err(refused) =
                    tokens::issue_code_in(conn, &g, &code_secret, c.now, c.code_ttl)?
                {
                    return Err(Error::Conflict(format!(
                        "the sign-in changed while it finished ({refused:?})"
                    )));
                }
                Some(code_secret)
            }
        };
        Ok(Completed::SignedIn { cookie, code })
    })
    .await
}

/// How finishing a journey that answers with an existing session went.
#[derive(Debug)]
pub(crate) enum Answered {
    /// The code for the client.
    Code(crate::Secret),
    /// Another request finished this journey first.
    AlreadyFinished,
    /// The session, account or client changed since the journey's steps were checked.
    Refused,
}

/// Finishes a journey that answers with the browser's existing session (consent or account
/// selection, no new sign-in) and issues its code, in one transaction: the journey is finished
/// exactly once, and only while the session is live and the account and client still allowed.
pub(crate) async fn answer_with_session(
    db: &Db,
    journey_id: &str,
    grant: CodeGrant,
    now: DateTime<Utc>,
    code_ttl: std::time::Duration,
) -> Result<Answered, Error> {
    let code = crate::Secret::new(crate::secret::random_token()?);
    let id = journey_id.to_string();
    db.write(move |conn| {
        let finished = diesel::update(
            journeys::table
                .find(&id)
                .filter(journeys::finished_at.is_null()),
        )
        .set(journeys::finished_at.eq(naive(now)))
        .execute(conn)?;
        if finished != 1 {
            return Ok(Answered::AlreadyFinished);
        }
        match tokens::issue_code_in(conn, &grant, &code, now, code_ttl)? {
            Ok(()) => Ok(Answered::Code(code)),
            Err(_) => Ok(Answered::Refused),
        }
    })
    .await
}
