//! The account changes, each one transaction over a connection: the account row is held (its
//! lock taken) first, its state re-checked, the change written, and then, for a change that ends
//! access, the sessions, grants and unfinished sign-ins ended and the audit entry appended, all
//! before the commit. A crash or error anywhere leaves nothing half done. Hashing and mail
//! happen before and after, in the callers (the pages, the admin API, the CLI all call these
//! through [`crate::Provider`] or the sign-in steps).

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::Account;
use super::required::RequiredAction;
use crate::audit::{self, Actor};
use crate::error::Error;
use crate::fail;
use crate::sessions::{self, Ended};
use crate::store::models::UserRow;
use crate::store::schema::users;
use crate::store::{DbConnection, naive};

/// What every change needs to record itself.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'a> {
    pub audit_key: &'a [u8; 32],
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
}

impl Ctx<'_> {
    fn audit(
        &self,
        conn: &mut DbConnection,
        event: &str,
        user: &Account,
        detail: serde_json::Value,
    ) -> Result<(), Error> {
        audit::append(
            conn,
            self.audit_key,
            self.now,
            self.actor,
            event,
            Some(&user.username),
            &detail,
        )
        .map(|_| ())
    }
}

/// Takes the account row's lock for the rest of the transaction (a no-op update: PostgreSQL
/// then queues any other change of the account behind this one; SQLite's write transaction
/// already does) and reads it as it is now.
pub(crate) fn hold(conn: &mut DbConnection, user_id: &str) -> Result<Option<Account>, Error> {
    let n = diesel::update(users::table.find(user_id))
        .set(users::updated_at.eq(users::updated_at))
        .execute(conn)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(users::table
        .find(user_id)
        .select(UserRow::as_select())
        .first::<UserRow>(conn)
        .optional()?
        .map(Account::from))
}

fn hold_existing(conn: &mut DbConnection, user_id: &str) -> Result<Account, Error> {
    hold(conn, user_id)?.ok_or_else(|| Error::NotFound("the account no longer exists".into()))
}

/// A new permanent password (the person's own change, the forced change after a temporary
/// password, or a reset after "Forgot your password?"): the password and its history, the
/// `change_password` debt paid, every session and grant of the account ended and every other
/// unfinished sign-in expired (`keep_journey` is the one making the change), audited as
/// `password.changed`. `None` when the account can no longer change its password (disabled, or
/// its credentials deleted since the person was checked).
pub(crate) fn change_password(
    conn: &mut DbConnection,
    ctx: Ctx<'_>,
    user_id: &str,
    new_hash: &str,
    history: usize,
    keep_journey: Option<&str>,
) -> Result<Option<Ended>, Error> {
    let Some(u) = hold(conn, user_id)? else {
        return Ok(None);
    };
    if u.disabled || !u.password.is_set() {
        return Ok(None);
    }
    let owed = u.owed.clone().without(RequiredAction::ChangePassword);
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(Some(new_hash)),
            users::password_temporary.eq(false),
            users::password_expires_at.eq(None::<NaiveDateTime>),
            users::required_actions.eq(owed.column()),
            users::updated_at.eq(naive(ctx.now)),
        ))
        .execute(conn)?;
    fail::point("password.change:after_update", user_id)?;
    super::policy::remember_in(conn, user_id, new_hash, ctx.now, history)?;
    fail::point("password.change:after_history", user_id)?;
    let ended = sessions::end_all_for_user_in(conn, user_id, ctx.now, keep_journey)?;
    fail::point("password.change:after_sessions", user_id)?;
    ctx.audit(conn, "password.changed", &u, json!({}))?;
    Ok(Some(ended))
}

/// The service desk's temporary password: usable only to set a new one until `expires`; the
/// account is unlocked, owes a new password (and recovery data if it has none), and every
/// session, grant and unfinished sign-in of it ends. Audited as `password.temporary_issued`.
pub(crate) fn issue_temporary_password(
    conn: &mut DbConnection,
    ctx: Ctx<'_>,
    user_id: &str,
    hash: &str,
    expires: DateTime<Utc>,
) -> Result<Ended, Error> {
    let u = hold_existing(conn, user_id)?;
    let mut owed = u.owed.clone().with(RequiredAction::ChangePassword);
    if !u.recovery.is_enrolled() {
        owed = owed.with(RequiredAction::EnrolRecovery);
    }
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(Some(hash)),
            users::password_temporary.eq(true),
            users::password_expires_at.eq(Some(naive(expires))),
            users::failed_attempts.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
            users::required_actions.eq(owed.column()),
            users::updated_at.eq(naive(ctx.now)),
        ))
        .execute(conn)?;
    fail::point("password.temporary:after_update", user_id)?;
    let ended = sessions::end_all_for_user_in(conn, user_id, ctx.now, None)?;
    fail::point("password.temporary:after_sessions", user_id)?;
    ctx.audit(
        conn,
        "password.temporary_issued",
        &u,
        json!({ "expires_at": expires.to_rfc3339() }),
    )?;
    Ok(ended)
}

/// The recovery data chosen on the enrolment pages, written together (the secret word's hash
/// and the answers' hashes), paying the `enrol_recovery` debt; audited as `recovery.enrolled`.
/// `false` when the account can no longer sign in (disabled or credentials deleted meanwhile).
pub(crate) fn enrol_recovery(
    conn: &mut DbConnection,
    ctx: Ctx<'_>,
    user_id: &str,
    secret_word_hash: &str,
    answers_json: &str,
) -> Result<bool, Error> {
    let Some(u) = hold(conn, user_id)? else {
        return Ok(false);
    };
    if u.disabled || !u.password.is_set() {
        return Ok(false);
    }
    let owed = u.owed.clone().without(RequiredAction::EnrolRecovery);
    diesel::update(users::table.find(user_id))
        .set((
            users::secret_word_hash.eq(Some(secret_word_hash)),
            users::recovery_answers.eq(Some(answers_json)),
            users::required_actions.eq(owed.column()),
            users::updated_at.eq(naive(ctx.now)),
        ))
        .execute(conn)?;
    fail::point("recovery.enrol:after_update", user_id)?;
    ctx.audit(conn, "recovery.enrolled", &u, json!({}))?;
    Ok(true)
}

/// Clears the recovery data and makes the account owe it again (the next sign-in asks);
/// audited as `recovery.reset`.
pub(crate) fn reset_recovery(
    conn: &mut DbConnection,
    ctx: Ctx<'_>,
    user_id: &str,
) -> Result<(), Error> {
    let u = hold_existing(conn, user_id)?;
    let owed = u.owed.clone().with(RequiredAction::EnrolRecovery);
    diesel::update(users::table.find(user_id))
        .set((
            users::secret_word_hash.eq(None::<String>),
            users::recovery_answers.eq(Some(super::RECOVERY_RESET)),
            users::required_actions.eq(owed.column()),
            users::updated_at.eq(naive(ctx.now)),
        ))
        .execute(conn)?;
    ctx.audit(conn, "recovery.reset", &u, json!({}))
}

/// Disables or enables an account; disabling ends every session, grant and unfinished sign-in.
pub(crate) fn set_disabled(
    conn: &mut DbConnection,
    ctx: Ctx<'_>,
    user_id: &str,
    disabled: bool,
) -> Result<Account, Error> {
    let u = hold_existing(conn, user_id)?;
    diesel::update(users::table.find(user_id))
        .set((
            users::disabled.eq(disabled),
            users::updated_at.eq(naive(ctx.now)),
        ))
        .execute(conn)?;
    fail::point("account.disable:after_update", user_id)?;
    if disabled {
        sessions::end_all_for_user_in(conn, user_id, ctx.now, None)?;
    }
    let event = if disabled {
        "account.disabled"
    } else {
        "account.enabled"
    };
    ctx.audit(conn, event, &u, json!({}))?;
    hold_existing(conn, user_id)
}

/// Sets an account's roles; removing one ends every session, grant and unfinished sign-in (the
/// clients decide access from the roles they were given).
pub(crate) fn set_roles(
    conn: &mut DbConnection,
    ctx: Ctx<'_>,
    user_id: &str,
    roles: &[String],
) -> Result<Account, Error> {
    let u = hold_existing(conn, user_id)?;
    let before = u.roles.clone();
    let removed = before.iter().any(|r| !roles.contains(r));
    diesel::update(users::table.find(user_id))
        .set((
            users::roles.eq(roles.join(" ")),
            users::updated_at.eq(naive(ctx.now)),
        ))
        .execute(conn)?;
    fail::point("account.roles:after_update", user_id)?;
    if removed {
        sessions::end_all_for_user_in(conn, user_id, ctx.now, None)?;
    }
    fail::point("account.roles:after_sessions", user_id)?;
    ctx.audit(
        conn,
        "account.roles_set",
        &u,
        json!({ "before": before, "after": roles }),
    )?;
    hold_existing(conn, user_id)
}

/// Clears a lock, its failure count and (by the caller, in the same transaction) the throttling
/// of the account's address pairs; audited as `account.unlocked`.
pub(crate) fn unlock(conn: &mut DbConnection, ctx: Ctx<'_>, user_id: &str) -> Result<(), Error> {
    let u = hold_existing(conn, user_id)?;
    diesel::update(users::table.find(user_id))
        .set((
            users::failed_attempts.eq(0),
            users::locked_until.eq(None::<NaiveDateTime>),
        ))
        .execute(conn)?;
    super::throttle::clear_account_in(conn, user_id)?;
    ctx.audit(conn, "account.unlocked", &u, json!({}))
}

/// A failed sign-in counted against the account, from any address: at `threshold` consecutive
/// failures the account locks for `lock_for`; the lock that this failure starts ends every
/// session, grant and unfinished sign-in and is audited as `account.locked`, in the same
/// transaction. Each statement on the counter is a single conditional one, so concurrent
/// failures on any replica are all counted and exactly one of them starts a lock.
///
/// Returns the end of the lock when this failure started one, so that the caller tells the
/// owner (once per lock).
pub(crate) fn count_failure(
    conn: &mut DbConnection,
    ctx: Ctx<'_>,
    user_id: &str,
    threshold: u32,
    lock_for: std::time::Duration,
) -> Result<Option<NaiveDateTime>, Error> {
    let until = naive(
        ctx.now + chrono::Duration::from_std(lock_for).map_err(|e| Error::Config(e.to_string()))?,
    );
    let at = naive(ctx.now);
    let threshold_i = i32::try_from(threshold).unwrap_or(i32::MAX);
    diesel::update(users::table.find(user_id))
        .set(users::failed_attempts.eq(users::failed_attempts + 1))
        .execute(conn)?;
    let started = diesel::update(
        users::table
            .find(user_id)
            .filter(users::failed_attempts.ge(threshold_i))
            .filter(users::locked_until.is_null().or(users::locked_until.le(at))),
    )
    .set(users::locked_until.eq(Some(until)))
    .execute(conn)?;
    if started == 1 {
        fail::point("account.lock:after_update", user_id)?;
        let u = hold_existing(conn, user_id)?;
        sessions::end_all_for_user_in(conn, user_id, ctx.now, None)?;
        fail::point("account.lock:after_sessions", user_id)?;
        ctx.audit(
            conn,
            "account.locked",
            &u,
            json!({
                "threshold": threshold,
                "locked_until": crate::store::utc(until).to_rfc3339(),
            }),
        )?;
        tracing::warn!(user_id = %user_id, "account locked after repeated failed sign-ins (backstop)");
        return Ok(Some(until));
    }
    // Already locked (the service desk's caller checks count even then): the lock runs from
    // the latest failure.
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::failed_attempts.ge(threshold_i))
            .filter(users::locked_until.lt(until)),
    )
    .set(users::locked_until.eq(Some(until)))
    .execute(conn)?;
    Ok(None)
}

/// Runs one account change in a write transaction of its own, with what it needs to record
/// itself.
pub(crate) async fn run<T, F>(
    db: &crate::store::Db,
    audit_key: &[u8; 32],
    actor: &Actor,
    now: DateTime<Utc>,
    f: F,
) -> Result<T, Error>
where
    T: Send + 'static,
    F: FnOnce(&mut DbConnection, Ctx<'_>) -> Result<T, Error> + Send + 'static,
{
    let (key, actor) = (*audit_key, actor.clone());
    db.write(move |conn| {
        f(
            conn,
            Ctx {
                audit_key: &key,
                actor: &actor,
                now,
            },
        )
    })
    .await
}
