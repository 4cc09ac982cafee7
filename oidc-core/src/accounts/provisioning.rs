//! Provisioning by User Registration Form (URF): an Access Administrator (AA) enters or reviews a
//! CPAR Panel Administrator registration, and another AA approves it (creating the account with
//! exactly the role requested and a token, then mailing the Welcome email) or rejects it with a
//! reason. The AA role itself grants no CPAR access: the `roles` claim shows only what was
//! granted.
//!
//! Approval claims the registration first (`pending` → `approving`, a single conditional
//! `UPDATE`; the affected-row count decides), so two concurrent approvals cannot both create an
//! account. Then the username is checked, the account created and the token assigned; the claim
//! becomes `approved` only when all of that succeeded. On any failure the account just created
//! is removed (its token taken back) and the registration returns to `pending`, so nothing is
//! left half-done and the approval can be retried (with another username, say).
//!
//! A process that dies between the claim and its end leaves the registration `approving`. The
//! claim records when it started and the username, so that an Access Administrator can
//! settle it later ([`Provider::reset_stuck_registration`]): back to `pending` when no account
//! was created for it, or `approved` when one was.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use crate::audit::{self, Actor};
use crate::error::Error;
use crate::mfa::SoftTokenEnrolment;
use crate::mfa::tokens::TokenStore;
use crate::notify::Email;
use crate::store::models::RegistrationRow;
use crate::store::schema::{registrations, users};
use crate::store::{naive, new_id, utc};
use crate::{NewUser, Provider, User, accounts};

/// The Access Administrator role: may submit, approve and reject registrations. It grants no
/// access to CPAR itself.
pub const ROLE_ACCESS_ADMIN: &str = "iam_access_admin";
/// The CPAR panel administrator role, the default role a registration requests.
pub const ROLE_CPAR_PANEL_ADMIN: &str = "cpar_panel_admin";

const MAX_NAME: usize = 200;
const MAX_ID: usize = 64;
const MAX_REASON: usize = 500;

const PENDING: &str = "pending";
const APPROVING: &str = "approving";
const APPROVED: &str = "approved";
const REJECTED: &str = "rejected";

/// A User Registration Form as an Access Administrator enters it.
#[derive(Debug, Clone)]
pub struct NewRegistration {
    /// The person's legal name.
    pub legal_name: String,
    /// Where the Welcome email goes (and the account's registered email).
    pub email: String,
    /// The clinic or panel.
    pub clinic: String,
    /// The practitioner or clinic identifier.
    pub practitioner_id: String,
    /// The role requested; `None` means [`ROLE_CPAR_PANEL_ADMIN`].
    pub role_requested: Option<String>,
}

/// A registration as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    /// Its id (UUID v7).
    pub id: String,
    /// The person's legal name.
    pub legal_name: String,
    /// The email address.
    pub email: String,
    /// The clinic or panel.
    pub clinic: String,
    /// The practitioner or clinic identifier.
    pub practitioner_id: String,
    /// The role requested (the only role the account gets).
    pub role_requested: String,
    /// The username (AHS Network ID): once approved, or being approved.
    pub username: Option<String>,
    /// `pending`, `approving` (an approval in progress), `approved` or `rejected`.
    pub status: String,
    /// Who entered it (`user:NAME` or `break-glass`).
    pub submitted_by: String,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// When it was entered.
    pub created_at: DateTime<Utc>,
    /// When it was approved or rejected; while `approving`, when the approval started.
    pub decided_at: Option<DateTime<Utc>>,
}

impl From<RegistrationRow> for Registration {
    fn from(r: RegistrationRow) -> Self {
        Registration {
            id: r.id,
            legal_name: r.legal_name,
            email: r.email,
            clinic: r.clinic,
            practitioner_id: r.practitioner_id,
            role_requested: r.role_requested,
            username: r.username,
            status: r.status,
            submitted_by: r.submitted_by,
            decided_by: r.decided_by,
            reason: r.reason,
            created_at: utc(r.created_at),
            decided_at: r.decided_at.map(utc),
        }
    }
}

/// The token an approval assigns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenChoice {
    /// An imported, unassigned hardware token, by serial.
    Hardware {
        /// The serial printed on the token.
        serial: String,
    },
    /// A new soft token; its activation code is returned to the approver, never mailed.
    Soft,
}

/// The outcome of an approval.
#[derive(Debug, Clone)]
pub struct Approval {
    /// The account created.
    pub user: User,
    /// The serial of the token assigned.
    pub serial: String,
    /// For a soft token: the enrolment, whose activation code the approver passes on by another
    /// channel than email (by phone). `None` for a hardware token.
    pub soft_token: Option<SoftTokenEnrolment>,
    /// The registration, now approved.
    pub registration: Registration,
}

fn text(field: &str, value: &str, max: usize) -> Result<String, Error> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(Error::InvalidInput(format!(
            "{field} must be 1 to {max} characters"
        )));
    }
    if v.chars().any(char::is_control) {
        return Err(Error::InvalidInput(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(v.to_string())
}

fn email(value: &str) -> Result<String, Error> {
    let e = value.trim();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(e.to_string())
    } else {
        Err(Error::InvalidInput(format!(
            "{e:?} is not an email address"
        )))
    }
}

fn role(value: Option<&str>) -> Result<String, Error> {
    let r = value.map_or(ROLE_CPAR_PANEL_ADMIN, str::trim);
    if r.is_empty() || r.len() > MAX_ID || r.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::InvalidInput(format!(
            "the role requested must be one word of 1 to {MAX_ID} characters"
        )));
    }
    // A registration provisions CPAR access; it never grants IAM administration.
    if r == ROLE_ACCESS_ADMIN || r.starts_with("iam_") {
        return Err(Error::InvalidInput(format!(
            "a registration cannot request the IAM role {r:?}"
        )));
    }
    Ok(r.to_string())
}

impl Provider {
    /// Refuses unless the actor is an enabled account holding [`ROLE_ACCESS_ADMIN`] (or
    /// break-glass).
    async fn require_access_admin(&self, actor: &Actor) -> Result<(), Error> {
        match actor {
            Actor::BreakGlass => Ok(()),
            Actor::User(name) => {
                let row = accounts::find_by_username(&self.inner.db, name).await?;
                if row
                    .is_some_and(|u| !u.disabled && u.roles.iter().any(|r| r == ROLE_ACCESS_ADMIN))
                {
                    Ok(())
                } else {
                    Err(Error::InvalidInput(format!(
                        "{actor} is not an Access Administrator (role {ROLE_ACCESS_ADMIN})"
                    )))
                }
            }
            _ => Err(Error::InvalidInput(
                "only an Access Administrator can act on registrations".into(),
            )),
        }
    }

    async fn registration_row(&self, id: &str) -> Result<RegistrationRow, Error> {
        let id = id.trim().to_string();
        self.inner
            .db
            .run(move |conn| {
                registrations::table
                    .find(&id)
                    .select(RegistrationRow::as_select())
                    .first(conn)
                    .optional()?
                    .ok_or_else(|| Error::NotFound(format!("no registration {id:?}")))
            })
            .await
    }

    async fn audit_urf(
        &self,
        actor: &Actor,
        event: &str,
        subject: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), Error> {
        let s = &self.inner;
        audit::record(
            &s.db,
            &s.config.audit_key,
            s.now(),
            actor,
            event,
            subject,
            detail,
        )
        .await
    }

    /// Enters a User Registration Form (status `pending`). The actor must be an Access
    /// Administrator; audited as `urf.submitted`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a refused actor, an empty or too long field (names up to 200
    /// characters, identifiers up to 64), a malformed email, or an IAM role requested.
    pub async fn submit_registration(
        &self,
        actor: &Actor,
        new: NewRegistration,
    ) -> Result<Registration, Error> {
        self.require_access_admin(actor).await?;
        let row = RegistrationRow {
            id: new_id(),
            legal_name: text("legal name", &new.legal_name, MAX_NAME)?,
            email: email(&new.email)?,
            clinic: text("clinic/panel", &new.clinic, MAX_NAME)?,
            practitioner_id: text(
                "practitioner or clinic identifier",
                &new.practitioner_id,
                MAX_ID,
            )?,
            role_requested: role(new.role_requested.as_deref())?,
            username: None,
            status: PENDING.into(),
            submitted_by: actor.to_string(),
            decided_by: None,
            reason: None,
            created_at: naive(self.inner.now()),
            decided_at: None,
        };
        let insert = row.clone();
        self.inner
            .db
            .run(move |conn| {
                diesel::insert_into(registrations::table)
                    .values(&insert)
                    .execute(conn)?;
                Ok(())
            })
            .await?;
        self.audit_urf(
            actor,
            "urf.submitted",
            None,
            serde_json::json!({
                "registration": row.id,
                "clinic": row.clinic,
                "practitioner_id": row.practitioner_id,
                "role_requested": row.role_requested,
            }),
        )
        .await?;
        Ok(Registration::from(row))
    }

    /// Registrations, oldest first; only those with `status` (`pending`, `approving`,
    /// `approved`, `rejected`) when given.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an unknown status.
    pub async fn list_registrations(
        &self,
        status: Option<&str>,
    ) -> Result<Vec<Registration>, Error> {
        let status = status.map(|s| s.trim().to_lowercase());
        if let Some(s) = &status
            && ![PENDING, APPROVING, APPROVED, REJECTED].contains(&s.as_str())
        {
            return Err(Error::InvalidInput(format!(
                "status {s:?} is not one of pending, approving, approved, rejected"
            )));
        }
        self.inner
            .db
            .run(move |conn| {
                let mut q = registrations::table
                    .select(RegistrationRow::as_select())
                    .order((registrations::created_at.asc(), registrations::id.asc()))
                    .into_boxed();
                if let Some(s) = status {
                    q = q.filter(registrations::status.eq(s));
                }
                Ok(q.load(conn)?.into_iter().map(Registration::from).collect())
            })
            .await
    }

    /// Approves a pending registration: creates the account `username` (the AHS Network ID) with
    /// exactly the role requested and no password (the service desk issues a temporary one),
    /// assigns the token, and mails the Welcome email (username and next steps, never the soft
    /// token's activation code, which is returned here for the approver to pass on by phone).
    /// The actor must be an Access Administrator other than the one who submitted it; audited
    /// as `urf.approved`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a refused actor (including the submitter) or a malformed
    /// username; [`Error::NotFound`] for an unknown registration or serial;
    /// [`Error::Conflict`] when the registration is not pending, the username is taken or the
    /// token is not available. On any error the registration stays pending and no account is
    /// left behind.
    pub async fn approve_registration(
        &self,
        actor: &Actor,
        id: &str,
        username: &str,
        token: TokenChoice,
    ) -> Result<Approval, Error> {
        self.require_access_admin(actor).await?;
        let reg = self.registration_row(id).await?;
        let me = actor.to_string();
        if reg.submitted_by == me {
            return Err(Error::InvalidInput(
                "an Access Administrator cannot approve a registration they submitted".into(),
            ));
        }
        let s = &self.inner;
        let now = s.now();
        // The slow parts first, outside the transaction: the account's row and, for a soft
        // token, its sealed seed and the activation code's hash.
        let row = accounts::prepare(
            &s.config.password_policy,
            NewUser {
                username: username.to_string(),
                email: reg.email.clone(),
                name: Some(reg.legal_name.clone()),
                roles: vec![reg.role_requested.clone()],
                password: None,
            },
            now,
        )
        .await?;
        let (soft_row, soft_token, serial) = match &token {
            TokenChoice::Hardware { serial } => (None, None, serial.trim().to_string()),
            TokenChoice::Soft => {
                let (r, e) = s.tokens.prepare_soft(&row.id, &row.username, None).await?;
                let serial = e.serial.clone();
                (Some(r), Some(e), serial)
            }
        };
        let user = User::from(&accounts::Account::from(row.clone()));
        let (reg_id, uname, tserial) = (reg.id.clone(), row.username.clone(), serial.clone());
        let detail = serde_json::json!({
            "registration": reg.id,
            "role": reg.role_requested,
            "token": serial,
            "token_kind": if soft_token.is_some() { "soft" } else { "hardware" },
        });
        // One transaction: the registration moves from pending to approved (only one approval
        // can), the account is created, the token assigned and the approval audited; any
        // failure (a taken username, a token not available) leaves all of it as it was.
        accounts::changes::run(&s.db, &s.config.audit_key, actor, now, move |conn, ctx| {
            let claimed = diesel::update(
                registrations::table
                    .find(&reg_id)
                    .filter(registrations::status.eq(PENDING))
                    .filter(registrations::submitted_by.ne(&me)),
            )
            .set((
                registrations::status.eq(APPROVED),
                registrations::decided_by.eq(Some(me.clone())),
                registrations::decided_at.eq(Some(naive(ctx.now))),
                registrations::username.eq(Some(uname.clone())),
            ))
            .execute(conn)?;
            if claimed != 1 {
                let status: String = registrations::table
                    .find(&reg_id)
                    .select(registrations::status)
                    .first(conn)?;
                return Err(Error::Conflict(format!(
                    "registration {reg_id} is {status}, not pending"
                )));
            }
            crate::fail::point("urf.approve:after_claim", &reg_id)?;
            accounts::insert_in(conn, &row)?;
            match &soft_row {
                Some(r) => TokenStore::insert_soft_in(conn, &row.id, r, false)?,
                None => TokenStore::assign_in(conn, &row.id, &tserial, None, false)?,
            }
            crate::fail::point("urf.approve:after_account", &reg_id)?;
            audit::append(
                conn,
                ctx.audit_key,
                ctx.now,
                ctx.actor,
                "urf.approved",
                Some(&uname),
                &detail,
            )?;
            Ok(())
        })
        .await?;
        // The mail goes after the commit; an approval whose mail failed stands, and says so.
        if !self.send_welcome(&reg, &user.username).await
            && let Err(e) = self
                .audit_urf(
                    actor,
                    "urf.welcome_not_sent",
                    Some(&user.username),
                    serde_json::json!({ "registration": reg.id }),
                )
                .await
        {
            tracing::error!(error = %e, "could not audit a Welcome email that was not sent");
        }
        let registration = Registration::from(self.registration_row(&reg.id).await?);
        Ok(Approval {
            user,
            serial,
            soft_token,
            registration,
        })
    }

    /// The Welcome email: the username and what to do next. Never a code. Returns whether it
    /// was sent (a failure is logged; the approval stands).
    async fn send_welcome(&self, reg: &RegistrationRow, username: &str) -> bool {
        let s = &self.inner;
        let service = &s.config.service_name;
        let phone = &s.config.support_phone;
        let activate = format!(
            "{}{}",
            s.config.issuer.trim_end_matches('/'),
            crate::paths::ACTIVATE_ACCOUNT
        );
        let mail = Email {
            to: reg.email.clone(),
            subject: format!("{service}: welcome, your account is ready"),
            body: format!(
                "Hello {name},\n\n\
                 Your {service} account for {clinic} has been created.\n\n\
                 Your username (AHS Network ID) is: {username}\n\n\
                 What to do next:\n\
                 1. Call the service desk at {phone} to get a temporary password.\n\
                 2. Go to {activate} and sign in with your username and the temporary password; \
                 you will set your own password and recovery questions.\n\
                 3. Set up your token: a hardware token comes separately; for a soft token, your \
                 Access Administrator gives you an activation code by phone (it is never sent by \
                 email).\n\n\
                 If you did not expect this email, call the service desk at {phone}.\n",
                name = reg.legal_name,
                clinic = reg.clinic,
            ),
        };
        match s.mailer.send(&mail).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, "could not send the Welcome email");
                false
            }
        }
    }

    /// Rejects a pending registration with a reason (1 to 500 characters). The actor must be an
    /// Access Administrator; audited as `urf.rejected`.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a refused actor or reason; [`Error::NotFound`] for an unknown
    /// registration; [`Error::Conflict`] when it is not pending.
    pub async fn reject_registration(
        &self,
        actor: &Actor,
        id: &str,
        reason: &str,
    ) -> Result<Registration, Error> {
        self.require_access_admin(actor).await?;
        let reason = text("the reason", reason, MAX_REASON)?;
        let reg = self.registration_row(id).await?;
        let rid = reg.id.clone();
        let by = actor.to_string();
        let at = naive(self.inner.now());
        let why = reason.clone();
        let changed = self
            .inner
            .db
            .run(move |conn| {
                Ok(diesel::update(
                    registrations::table
                        .find(&rid)
                        .filter(registrations::status.eq(PENDING)),
                )
                .set((
                    registrations::status.eq(REJECTED),
                    registrations::reason.eq(Some(why)),
                    registrations::decided_by.eq(Some(by)),
                    registrations::decided_at.eq(Some(at)),
                ))
                .execute(conn)?)
            })
            .await?;
        if changed != 1 {
            let now = self.registration_row(&reg.id).await?;
            return Err(Error::Conflict(format!(
                "registration {} is {}, not pending",
                now.id, now.status
            )));
        }
        self.audit_urf(
            actor,
            "urf.rejected",
            None,
            serde_json::json!({ "registration": reg.id, "reason": reason }),
        )
        .await?;
        Ok(Registration::from(self.registration_row(&reg.id).await?))
    }

    /// Settles a registration left `approving` by an approval that never finished (its process
    /// died): when the approval started at least `min_age` ago, the registration goes back to
    /// `pending` if no account was created for it (audited as `urf.approval_released`; it can
    /// then be approved again), or becomes `approved` if the account exists (audited as
    /// `urf.approval_completed`, with the account's tokens; the Welcome email is sent now).
    /// An account counts as created for it when it has the username the approval recorded
    /// and the registration's email, and was created after the approval started (for a claim
    /// made before claims recorded a username: the registration's email, legal name and role,
    /// created after it was entered). If the account has no token (the process died before
    /// assigning it), assign one the usual way. A soft token's activation code was shown only
    /// to the approver who never got it: issue a new soft token with `replace`. The actor must
    /// be an Access Administrator.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a refused actor; [`Error::NotFound`] for an unknown
    /// registration; [`Error::Conflict`] when it is not `approving`, its approval started less
    /// than `min_age` ago (it may still be running), or it changed meanwhile.
    pub async fn reset_stuck_registration(
        &self,
        actor: &Actor,
        id: &str,
        min_age: std::time::Duration,
    ) -> Result<Registration, Error> {
        self.require_access_admin(actor).await?;
        let reg = self.registration_row(id).await?;
        if reg.status != APPROVING {
            return Err(Error::Conflict(format!(
                "registration {} is {}, not approving",
                reg.id, reg.status
            )));
        }
        let now = self.inner.now();
        let min_age =
            chrono::Duration::from_std(min_age).map_err(|e| Error::InvalidInput(e.to_string()))?;
        let cutoff = naive(now - min_age);
        if let Some(started) = reg.decided_at
            && started > cutoff
        {
            return Err(Error::Conflict(format!(
                "the approval of registration {} started at {} UTC, less than {} minutes ago: it \
                 may still be running",
                reg.id,
                started.format("%Y-%m-%d %H:%M:%S"),
                min_age.num_minutes()
            )));
        }
        let account = self.account_of_claim(&reg).await?;
        let rid = reg.id.clone();
        let at = naive(now);
        let approved_as = account.as_ref().map(|u| u.username.clone());
        let settled = self
            .inner
            .db
            .run(move |conn| {
                // Only the claim as read: still approving, still as old.
                let claim = registrations::table
                    .find(&rid)
                    .filter(registrations::status.eq(APPROVING))
                    .filter(
                        registrations::decided_at
                            .is_null()
                            .or(registrations::decided_at.le(cutoff)),
                    );
                let n = match approved_as {
                    Some(name) => diesel::update(claim)
                        .set((
                            registrations::status.eq(APPROVED),
                            registrations::username.eq(Some(name)),
                            registrations::decided_at.eq(Some(at)),
                        ))
                        .execute(conn)?,
                    None => diesel::update(claim)
                        .set((
                            registrations::status.eq(PENDING),
                            registrations::decided_by.eq(None::<String>),
                            registrations::decided_at.eq(None::<chrono::NaiveDateTime>),
                            registrations::username.eq(None::<String>),
                        ))
                        .execute(conn)?,
                };
                Ok(n)
            })
            .await?;
        if settled != 1 {
            return Err(Error::Conflict(format!(
                "registration {} changed while it was being settled",
                reg.id
            )));
        }
        match account {
            Some(user) => {
                let tokens: Vec<String> = self
                    .list_tokens()
                    .await?
                    .into_iter()
                    .filter(|t| t.username.as_deref() == Some(user.username.as_str()))
                    .map(|t| t.serial)
                    .collect();
                let welcome_sent = self.send_welcome(&reg, &user.username).await;
                self.audit_urf(
                    actor,
                    "urf.approval_completed",
                    Some(&user.username),
                    serde_json::json!({
                        "registration": reg.id,
                        "approval_started_by": reg.decided_by,
                        "role": reg.role_requested,
                        "tokens": tokens,
                        "welcome_sent": welcome_sent,
                    }),
                )
                .await?;
            }
            None => {
                self.audit_urf(
                    actor,
                    "urf.approval_released",
                    None,
                    serde_json::json!({
                        "registration": reg.id,
                        "approval_started_by": reg.decided_by,
                        "username": reg.username,
                    }),
                )
                .await?;
            }
        }
        Ok(Registration::from(self.registration_row(&reg.id).await?))
    }

    /// The account an unfinished approval created, if any (see
    /// [`Provider::reset_stuck_registration`]).
    async fn account_of_claim(
        &self,
        reg: &RegistrationRow,
    ) -> Result<Option<crate::store::models::UserRow>, Error> {
        let email = reg.email.clone();
        let since = reg.decided_at.unwrap_or(reg.created_at);
        let candidates: Vec<crate::store::models::UserRow> = self
            .inner
            .db
            .run(move |conn| {
                Ok(users::table
                    .filter(users::email.eq(email))
                    .filter(users::created_at.ge(since))
                    .select(crate::store::models::UserRow::as_select())
                    .load(conn)?)
            })
            .await?;
        let found: Vec<_> = candidates
            .into_iter()
            .filter(|u| match &reg.username {
                Some(name) => &u.username == name,
                None => {
                    u.name.as_deref() == Some(reg.legal_name.as_str())
                        && accounts::split_roles(&u.roles) == [reg.role_requested.clone()]
                }
            })
            .collect();
        match <[_; 1]>::try_from(found) {
            Ok([u]) => Ok(Some(u)),
            Err(v) if v.is_empty() => Ok(None),
            Err(_) => Err(Error::Conflict(format!(
                "more than one account matches registration {} (email, name and role): cannot \
                 tell which one its approval created",
                reg.id
            ))),
        }
    }
}
