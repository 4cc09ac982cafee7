//! Service desk and account administration as library calls: caller verification, disabling,
//! roles, a lost token with an emergency passcode, resetting recovery data, deleting an
//! account's credentials. Every call names its actor and is audited; changes that touch a
//! person's access end their sessions at once.

use chrono::Duration;
use diesel::prelude::*;

use crate::accounts::changes;
use crate::audit::{self, Actor};
use crate::error::Error;
use crate::mfa::{BoxFuture, FactorAccount, Prompt, SecondFactor, Verification};
use crate::notify::Email;
use crate::secret::{Secret, random_bytes};
use crate::store::schema::{otp_tokens, password_history, users};
use crate::store::{Db, naive};
use crate::{Provider, User, accounts, sessions};

/// A caller verification stays good this long for the agent who made it.
const CALLER_VERIFIED_FOR_MINUTES: i64 = 15;
/// A one-time code mailed to a first-time caller is good this long.
const CALLER_CODE_MINUTES: i64 = 10;

/// The IAM role of service desk agents: verify callers, issue temporary passwords, unlock, report
/// lost tokens.
pub const ROLE_SERVICE_DESK: &str = "iam_service_desk";
/// The IAM role of IAM administrators: everything the service desk does, and accounts' state.
pub const ROLE_IAM_ADMIN: &str = "iam_admin";

/// `acr` of a sign-in with a password and an emergency passcode (not token-based MFA).
pub const ACR_PASSWORD_EMERGENCY: &str = "urn:oidc-core:acr:password+emergency";

fn digits(n: usize) -> Result<String, Error> {
    let bytes = random_bytes(n * 2)?;
    let out: String = bytes
        .iter()
        .filter(|b| **b < 250)
        .map(|b| char::from(b'0' + b % 10))
        .take(n)
        .collect();
    if out.len() < n {
        return Err(Error::Crypto("not enough random bytes".into()));
    }
    Ok(out)
}

impl Provider {
    async fn user_row(&self, username: &str) -> Result<accounts::Account, Error> {
        accounts::find_by_username(&self.inner.db, username)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no user {:?}",
                    accounts::normalize_username(username)
                ))
            })
    }

    async fn audit(
        &self,
        actor: &Actor,
        event: &str,
        user: &accounts::Account,
        detail: serde_json::Value,
    ) -> Result<(), Error> {
        let s = &self.inner;
        audit::record(
            &s.db,
            &s.config.audit_key,
            s.now(),
            actor,
            event,
            Some(&user.username),
            detail,
        )
        .await
    }

    /// The service desk checks the secret word the caller says: match or no match (the word is
    /// never shown). A match lets this agent act on the account for 15 minutes.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username; [`Error::InvalidInput`] when the account has
    /// no secret word yet (verify by a mailed code instead).
    pub async fn verify_caller_secret_word(
        &self,
        actor: &Actor,
        username: &str,
        word: &str,
    ) -> Result<bool, Error> {
        self.require_role(actor, &[ROLE_SERVICE_DESK, ROLE_IAM_ADMIN])
            .await?;
        let u = self.user_row(username).await?;
        let Some(hash) = u.recovery.secret_word_hash().map(str::to_string) else {
            return Err(Error::InvalidInput(
                "this account has no secret word yet: send the caller a one-time code instead"
                    .into(),
            ));
        };
        let ok = accounts::password::verify(
            &crate::Secret::new(accounts::normalize_answer(word)),
            Some(hash),
        )
        .await?;
        self.caller_result(actor, &u, ok, "secret_word").await?;
        Ok(ok)
    }

    /// Mails a one-time code to the account's registered address (for a first-time caller with
    /// no secret word); the caller reads it back to the agent.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username; mail failures.
    pub async fn send_caller_code(&self, actor: &Actor, username: &str) -> Result<(), Error> {
        self.require_role(actor, &[ROLE_SERVICE_DESK, ROLE_IAM_ADMIN])
            .await?;
        let s = &self.inner;
        let u = self.user_row(username).await?;
        let code = digits(6)?;
        let hash = accounts::password::hash(&crate::Secret::new(code.clone())).await?;
        let expires = naive(s.now() + Duration::minutes(CALLER_CODE_MINUTES));
        let id = u.id.clone();
        s.db.run(move |conn| {
            diesel::update(users::table.find(&id))
                .set((
                    users::caller_code_hash.eq(Some(hash)),
                    users::caller_code_expires_at.eq(Some(expires)),
                ))
                .execute(conn)?;
            Ok(())
        })
        .await?;
        s.mailer
            .send(&Email {
                to: u.email.clone(),
                subject: format!("{}: your verification code", s.config.service_name),
                body: format!(
                    "Hello,\n\nThe service desk asked to verify that it is you on the phone. Read them this code: {code}\n\n\
                     It works for {CALLER_CODE_MINUTES} minutes. If you did not call the service desk, do not share it.\n"
                ),
            })
            .await?;
        self.audit(actor, "caller.code_sent", &u, serde_json::json!({}))
            .await
    }

    /// Checks the code the caller reads back (single use).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn verify_caller_code(
        &self,
        actor: &Actor,
        username: &str,
        code: &str,
    ) -> Result<bool, Error> {
        self.require_role(actor, &[ROLE_SERVICE_DESK, ROLE_IAM_ADMIN])
            .await?;
        let s = &self.inner;
        let u = self.user_row(username).await?;
        let stored = u
            .caller_code
            .as_ref()
            .and_then(|c| c.live_hash(s.now()))
            .map(str::to_string);
        let ok = accounts::password::verify(&crate::Secret::new(code.trim().to_string()), stored)
            .await?;
        if ok {
            let id = u.id.clone();
            s.db.run(move |conn| {
                diesel::update(users::table.find(&id))
                    .set((
                        users::caller_code_hash.eq(None::<String>),
                        users::caller_code_expires_at.eq(None::<chrono::NaiveDateTime>),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await?;
        }
        self.caller_result(actor, &u, ok, "email_code").await?;
        Ok(ok)
    }

    async fn caller_result(
        &self,
        actor: &Actor,
        u: &accounts::Account,
        ok: bool,
        method: &str,
    ) -> Result<(), Error> {
        let s = &self.inner;
        if ok {
            let id = u.id.clone();
            let by = actor.to_string();
            let at = naive(s.now());
            s.db.run(move |conn| {
                diesel::update(users::table.find(&id))
                    .set((
                        users::caller_verified_by.eq(Some(by)),
                        users::caller_verified_at.eq(Some(at)),
                    ))
                    .execute(conn)?;
                Ok(())
            })
            .await?;
        } else {
            // Guessing the secret word counts like any failed sign-in.
            accounts::count_account_failure(s, u).await?;
        }
        let event = if ok {
            "caller.verified"
        } else {
            "caller.verification_failed"
        };
        self.audit(actor, event, u, serde_json::json!({ "method": method }))
            .await
    }

    /// Refuses ([`Error::Forbidden`]) unless the actor is an enabled account holding one of
    /// `roles` (break-glass is allowed and recorded as such; the system and anonymous actors
    /// never are).
    pub(crate) async fn require_role(&self, actor: &Actor, roles: &[&str]) -> Result<(), Error> {
        let name = match actor {
            Actor::BreakGlass => return Ok(()),
            Actor::User(name) => name,
            other => {
                return Err(Error::Forbidden(format!("{other} cannot act on accounts")));
            }
        };
        let held = accounts::find_by_username(&self.inner.db, name)
            .await?
            .filter(|u| !u.disabled)
            .map(|u| u.roles)
            .unwrap_or_default();
        if held.iter().any(|r| roles.contains(&r.as_str())) {
            Ok(())
        } else {
            Err(Error::Forbidden(format!(
                "{actor} does not hold the role for this ({})",
                roles.join(" or ")
            )))
        }
    }

    /// Refuses ([`Error::Forbidden`]) a service-desk change unless this agent verified the
    /// caller in the last 15 minutes. Break-glass is allowed and recorded as such.
    pub(crate) async fn require_verified_caller(
        &self,
        actor: &Actor,
        username: &str,
    ) -> Result<(), Error> {
        if matches!(actor, Actor::BreakGlass) {
            return Ok(());
        }
        let u = self.user_row(username).await?;
        let since = self.inner.now() - Duration::minutes(CALLER_VERIFIED_FOR_MINUTES);
        let by_this_agent_recently = u
            .caller_verified
            .as_ref()
            .is_some_and(|(by, at)| *at > since && *by == actor.to_string());
        if by_this_agent_recently {
            Ok(())
        } else {
            Err(Error::Forbidden(
                "verify the caller first (their secret word, or a one-time code to their email)"
                    .into(),
            ))
        }
    }

    /// Disables or re-enables an account; disabling ends its sessions at once.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn set_account_disabled(
        &self,
        actor: &Actor,
        username: &str,
        disabled: bool,
    ) -> Result<User, Error> {
        self.require_role(
            actor,
            &[
                ROLE_IAM_ADMIN,
                crate::accounts::provisioning::ROLE_ACCESS_ADMIN,
            ],
        )
        .await?;
        let s = &self.inner;
        let u = self.user_row(username).await?;
        let row = changes::run(
            &s.db,
            &s.config.audit_key,
            actor,
            s.now(),
            move |conn, ctx| changes::set_disabled(conn, ctx, &u.id, disabled),
        )
        .await?;
        Ok(User::from(&row))
    }

    /// Sets an account's roles; removing a role ends its sessions at once.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username; [`Error::InvalidInput`] for a role that is not
    /// one word.
    pub async fn set_roles(
        &self,
        actor: &Actor,
        username: &str,
        roles: Vec<String>,
    ) -> Result<User, Error> {
        self.require_role(
            actor,
            &[
                ROLE_IAM_ADMIN,
                crate::accounts::provisioning::ROLE_ACCESS_ADMIN,
            ],
        )
        .await?;
        let s = &self.inner;
        if roles
            .iter()
            .any(|r| r.is_empty() || r.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(Error::InvalidInput("a role is one word".into()));
        }
        let u = self.user_row(username).await?;
        let row = changes::run(
            &s.db,
            &s.config.audit_key,
            actor,
            s.now(),
            move |conn, ctx| changes::set_roles(conn, ctx, &u.id, &roles),
        )
        .await?;
        Ok(User::from(&row))
    }

    /// A lost token: the account's tokens are marked lost, its sessions end, and an emergency
    /// passcode (8 digits, shown once) works instead of the token for `hours` (default 24) or
    /// until a replacement is active. A sign-in with it gets `acr`
    /// [`ACR_PASSWORD_EMERGENCY`], not token-based MFA. The caller must have been verified.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username; [`Error::Forbidden`] for a refused actor or
    /// without a verified caller.
    pub async fn report_token_lost(
        &self,
        actor: &Actor,
        username: &str,
        hours: Option<u32>,
    ) -> Result<Secret, Error> {
        self.require_role(actor, &[ROLE_SERVICE_DESK, ROLE_IAM_ADMIN])
            .await?;
        self.require_verified_caller(actor, username).await?;
        let s = &self.inner;
        let u = self.user_row(username).await?;
        let code = digits(8)?;
        let hash = accounts::password::hash(&crate::Secret::new(code.clone())).await?;
        let hours = i64::from(hours.unwrap_or(24).clamp(1, 168));
        let expires = naive(s.now() + Duration::hours(hours));
        let id = u.id.clone();
        changes::run(
            &s.db,
            &s.config.audit_key,
            actor,
            s.now(),
            move |conn, ctx| {
                let u = changes::hold(conn, &id)?
                    .ok_or_else(|| Error::NotFound("the account no longer exists".into()))?;
                diesel::update(
                    otp_tokens::table
                        .filter(otp_tokens::user_id.eq(&id))
                        .filter(otp_tokens::state.eq_any(["assigned", "active"])),
                )
                .set(otp_tokens::state.eq("lost"))
                .execute(conn)?;
                diesel::update(users::table.find(&id))
                    .set((
                        users::emergency_hash.eq(Some(hash)),
                        users::emergency_expires_at.eq(Some(expires)),
                    ))
                    .execute(conn)?;
                crate::fail::point("token.lost:after_update", &id)?;
                sessions::end_all_for_user_in(conn, &id, ctx.now, None)?;
                audit::append(
                    conn,
                    ctx.audit_key,
                    ctx.now,
                    ctx.actor,
                    "token.lost",
                    Some(&u.username),
                    &serde_json::json!({ "emergency_hours": hours }),
                )?;
                Ok(())
            },
        )
        .await?;
        let notice = Email {
            to: u.email.clone(),
            subject: format!("{}: your token was reported lost", s.config.service_name),
            body: format!(
                "Hello,\n\nYour token was reported lost and can no longer be used. If you did not report it, call the \
                 service desk at {} now.\n",
                s.config.support_phone
            ),
        };
        if let Err(e) = s.mailer.send(&notice).await {
            tracing::warn!(error = %e, "could not send the lost-token notification");
        }
        Ok(Secret::new(code))
    }

    /// Clears an account's recovery data: the secret word, the challenge questions with their
    /// answers, and with them the pair of questions "Forgot your password?" asks. The next
    /// sign-in at the provider (after the password and passcode) or activation at the portal
    /// asks for new ones, before anything else. For a caller who forgot their secret word or
    /// answers: verify them by a one-time code to their email
    /// ([`Provider::send_caller_code`]). The actor needs [`ROLE_SERVICE_DESK`] or
    /// [`ROLE_IAM_ADMIN`] and must have verified the caller; audited as `recovery.reset`, and
    /// the user is told by email.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username; [`Error::Forbidden`] for a refused actor or
    /// without a verified caller.
    pub async fn reset_recovery_data(&self, actor: &Actor, username: &str) -> Result<(), Error> {
        self.require_role(actor, &[ROLE_SERVICE_DESK, ROLE_IAM_ADMIN])
            .await?;
        self.require_verified_caller(actor, username).await?;
        let s = &self.inner;
        let u = self.user_row(username).await?;
        let id = u.id.clone();
        changes::run(
            &s.db,
            &s.config.audit_key,
            actor,
            s.now(),
            move |conn, ctx| changes::reset_recovery(conn, ctx, &id),
        )
        .await?;
        let notice = Email {
            to: u.email.clone(),
            subject: format!(
                "{}: your recovery information was reset",
                s.config.service_name
            ),
            body: format!(
                "Hello,\n\nThe service desk reset the secret word and challenge questions of your {} account ({}). \
                 You will be asked to choose new ones the next time you sign in.\n\nIf you did not ask for this, call \
                 the service desk at {} now.\n",
                s.config.service_name, u.username, s.config.support_phone
            ),
        };
        if let Err(e) = s.mailer.send(&notice).await {
            tracing::warn!(error = %e, "could not send the recovery-reset notification");
        }
        Ok(())
    }

    /// Deprovisioning: deletes an account's credentials and keeps the account (its username,
    /// `sub`, roles and audit trail). In one transaction: the password (permanent or temporary)
    /// and its history, the recovery data, an emergency passcode and any pending caller
    /// verification are removed, and every token is taken away (a hardware token in use goes
    /// back to the pool, a soft token is disabled); then its sessions (with their grants) and
    /// unfinished sign-ins end. The person cannot sign in again until the service desk issues
    /// a temporary password and a token is assigned; they then enrol recovery data anew. The
    /// actor needs [`ROLE_IAM_ADMIN`] or the Access Administrator role
    /// ([`ROLE_ACCESS_ADMIN`](crate::ROLE_ACCESS_ADMIN)), as for disabling; no caller
    /// verification, since the person is not the one asking. Audited as
    /// `account.credentials_deleted` with the serials taken back. Returns those serials.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username; [`Error::Forbidden`] for a refused actor.
    pub async fn delete_credentials(
        &self,
        actor: &Actor,
        username: &str,
    ) -> Result<Vec<String>, Error> {
        self.require_role(
            actor,
            &[
                ROLE_IAM_ADMIN,
                crate::accounts::provisioning::ROLE_ACCESS_ADMIN,
            ],
        )
        .await?;
        let s = &self.inner;
        let u = self.user_row(username).await?;
        let now = s.now();
        let at = naive(now);
        let id = u.id.clone();
        let serials = changes::run(&s.db, &s.config.audit_key, actor, now, move |conn, ctx| {
            let u = changes::hold(conn, &id)?
                .ok_or_else(|| Error::NotFound("the account no longer exists".into()))?;
            diesel::update(users::table.find(&id))
                .set((
                    users::password_hash.eq(None::<String>),
                    users::password_temporary.eq(false),
                    users::password_expires_at.eq(None::<chrono::NaiveDateTime>),
                    users::secret_word_hash.eq(None::<String>),
                    users::recovery_answers.eq(None::<String>),
                    users::emergency_hash.eq(None::<String>),
                    users::emergency_expires_at.eq(None::<chrono::NaiveDateTime>),
                    users::caller_code_hash.eq(None::<String>),
                    users::caller_code_expires_at.eq(None::<chrono::NaiveDateTime>),
                    users::caller_verified_by.eq(None::<String>),
                    users::caller_verified_at.eq(None::<chrono::NaiveDateTime>),
                    users::required_actions.eq(""),
                    users::updated_at.eq(at),
                ))
                .execute(conn)?;
            diesel::delete(password_history::table.filter(password_history::user_id.eq(&id)))
                .execute(conn)?;
            let serials = crate::mfa::tokens::TokenStore::unassign_all(conn, &id)?;
            crate::fail::point("account.delete_credentials:after_update", &id)?;
            let ended = sessions::end_all_for_user_in(conn, &id, ctx.now, None)?;
            audit::append(
                conn,
                ctx.audit_key,
                ctx.now,
                ctx.actor,
                "account.credentials_deleted",
                Some(&u.username),
                &serde_json::json!({ "tokens": serials, "sessions_ended": ended.sessions }),
            )?;
            Ok(serials)
        })
        .await?;
        Ok(serials)
    }
}

/// The service desk's password and lock actions.
impl Provider {
    /// The service desk's temporary password for an account: random, easy to read aloud, shown
    /// once (returned here), stored hashed, valid for the configured time (72 h by default) and
    /// usable only to set a new password. The account is unlocked and its sessions end at once.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn issue_temporary_password(
        &self,
        actor: &crate::audit::Actor,
        username: &str,
    ) -> Result<crate::Secret, Error> {
        self.require_role(actor, &[ROLE_SERVICE_DESK, ROLE_IAM_ADMIN])
            .await?;
        self.require_verified_caller(actor, username).await?;
        let s = &self.inner;
        let user = self.user_row(username).await?;
        let temporary = accounts::readable_password()?;
        let hash = accounts::password::hash(&crate::Secret::new(temporary.clone())).await?;
        let now = s.now();
        let ttl = chrono::Duration::from_std(s.config.temporary_password_ttl)
            .map_err(|e| Error::Config(e.to_string()))?;
        let expires = now + ttl;
        crate::accounts::changes::run(&s.db, &s.config.audit_key, actor, now, move |conn, ctx| {
            crate::accounts::changes::issue_temporary_password(conn, ctx, &user.id, &hash, expires)
        })
        .await?;
        Ok(crate::Secret::new(temporary))
    }

    /// The [`Actor`](crate::Actor) for changes made on behalf of `username` (an administrator at
    /// a console, a script), after checking that the account exists and is active, and, when
    /// `roles` is not empty, that it holds one of them. Operations that take an actor check their
    /// own roles again; the others ([`Provider::create_user`], [`Provider::register_client`],
    /// [`Provider::rotate_keys`], the token operations, [`Provider::purge_expired`]) trust their
    /// caller, which should ask for [`ROLE_IAM_ADMIN`](crate::ROLE_IAM_ADMIN) here first, as
    /// `oidc-server` and the admin API do.
    ///
    /// # Errors
    /// [`Error::NotFound`] when there is no active account of that name; [`Error::Forbidden`]
    /// when it holds none of `roles`.
    pub async fn acting_as(&self, username: &str, roles: &[&str]) -> Result<crate::Actor, Error> {
        let name = accounts::normalize_username(username);
        let active = accounts::find_by_username(&self.inner.db, &name)
            .await?
            .is_some_and(|u| !u.disabled);
        if !active {
            return Err(Error::NotFound(format!("there is no active user {name:?}")));
        }
        let actor = crate::Actor::User(name);
        if !roles.is_empty() {
            self.require_role(&actor, roles).await?;
        }
        Ok(actor)
    }

    /// Unlocks an account locked by failed sign-ins.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn unlock_account(
        &self,
        actor: &crate::audit::Actor,
        username: &str,
    ) -> Result<(), Error> {
        self.require_role(actor, &[ROLE_SERVICE_DESK, ROLE_IAM_ADMIN])
            .await?;
        self.require_verified_caller(actor, username).await?;
        let s = &self.inner;
        let user = self.user_row(username).await?;
        crate::accounts::changes::run(
            &s.db,
            &s.config.audit_key,
            actor,
            s.now(),
            move |conn, ctx| crate::accounts::changes::unlock(conn, ctx, &user.id),
        )
        .await
    }
}

/// The emergency passcode as a factor: used only while the account has no usable token.
pub(crate) struct EmergencyFactor {
    pub db: Db,
    pub now: chrono::DateTime<chrono::Utc>,
}

impl SecondFactor for EmergencyFactor {
    fn kind(&self) -> &str {
        "emergency"
    }
    fn prompt(&self, _account: &FactorAccount) -> Prompt {
        crate::mfa::tokens::passcode_prompt()
    }
    fn verify<'a>(
        &'a self,
        account: &'a FactorAccount,
        response: &'a str,
        _challenge: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Verification, Error>> {
        Box::pin(async move {
            let u = accounts::find_by_id(&self.db, &account.user_id).await?;
            let stored = u
                .and_then(|u| u.emergency)
                .and_then(|e| e.live_hash(self.now).map(str::to_string));
            Ok(
                if accounts::password::verify(&crate::Secret::new(response.to_string()), stored)
                    .await?
                {
                    Verification::accepted(Vec::<String>::new())
                } else {
                    Verification::Rejected
                },
            )
        })
    }
}

/// The emergency factor for an account, if it holds a live emergency passcode.
pub(crate) fn emergency_for(
    db: &Db,
    u: &accounts::Account,
    now: chrono::DateTime<chrono::Utc>,
) -> Option<EmergencyFactor> {
    u.emergency
        .as_ref()
        .and_then(|e| e.live_hash(now))
        .is_some()
        .then(|| EmergencyFactor {
            db: db.clone(),
            now,
        })
}
