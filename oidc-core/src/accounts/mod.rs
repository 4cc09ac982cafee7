//! Accounts: creation, look-up and password verification.

pub(crate) mod account;
pub(crate) mod changes;
pub(crate) mod desk;
pub(crate) mod password;
pub(crate) mod policy;
pub(crate) mod provisioning;
pub(crate) mod required;
pub(crate) mod staff;
pub(crate) mod throttle;

use diesel::prelude::*;

use crate::error::Error;
use crate::provider::Inner;
use crate::store::models::UserRow;
use crate::store::schema::users;
use crate::store::{Db, DbConnection, naive, new_id};
pub(crate) use account::Account;

/// What an administrator supplies to create an account.
///
/// ```
/// use oidc_core::NewUser;
/// let user = NewUser {
///     username: "nakitt".into(),
///     email: "nancy.akitt@example.org".into(),
///     name: Some("Nancy Akitt".into()),
///     roles: vec!["cpar_panel_admin".into()],
///     password: Some("a long pass phrase".into()),
/// };
/// assert_eq!(user.username, "nakitt");
/// ```
#[derive(Clone)]
pub struct NewUser {
    /// The sign-in name (the "AHS Network ID"). Case-insensitive; stored in lower case.
    pub username: String,
    /// The registered email address.
    pub email: String,
    /// The display name (`name` claim).
    pub name: Option<String>,
    /// Role names, released in the `roles` claim.
    pub roles: Vec<String>,
    /// An initial password; `None` creates an account that cannot sign in with a password yet.
    pub password: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("roles", &self.roles)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// An account as the library reports it (no credentials).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    /// Internal id (UUID v7).
    pub id: String,
    /// The `sub` claim: stable, opaque, unrelated to the username.
    pub subject: String,
    /// The sign-in name.
    pub username: String,
    /// The registered email.
    pub email: String,
    /// The display name.
    pub name: Option<String>,
    /// Role names.
    pub roles: Vec<String>,
    /// A disabled account cannot sign in and its tokens stop working.
    pub disabled: bool,
}

impl From<&Account> for User {
    fn from(r: &Account) -> Self {
        User {
            id: r.id.clone(),
            subject: r.subject.clone(),
            username: r.username.clone(),
            email: r.email.clone(),
            name: r.name.clone(),
            roles: r.roles.clone(),
            disabled: r.disabled,
        }
    }
}

pub(crate) fn split_roles(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// Usernames compare case-insensitively, as people type them.
pub(crate) fn normalize_username(u: &str) -> String {
    u.trim().to_lowercase()
}

fn validate(new: &NewUser, rules: &policy::PasswordPolicy) -> Result<(), Error> {
    let u = normalize_username(&new.username);
    if u.is_empty() || u.len() > 64 {
        return Err(Error::InvalidInput(
            "username must be 1 to 64 characters".into(),
        ));
    }
    if !u
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(Error::InvalidInput(
            "username may contain only letters, digits, '.', '_', '-' and '@'".into(),
        ));
    }
    let email = new.email.trim();
    let valid_email = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid_email {
        return Err(Error::InvalidInput(format!(
            "{email:?} is not an email address"
        )));
    }
    for role in &new.roles {
        if role.is_empty() || role.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Error::InvalidInput(format!(
                "role {role:?} must be one word"
            )));
        }
    }
    if let Some(p) = &new.password {
        let ctx = policy::PolicyContext {
            username: &new.username,
            name: new.name.as_deref(),
            email: Some(&new.email),
        };
        let broken: Vec<String> = rules.check(p, &ctx).iter().map(|v| v.message()).collect();
        if !broken.is_empty() {
            return Err(Error::InvalidInput(broken.join(" ")));
        }
    }
    Ok(())
}

/// Checks a new account and builds its row (hashing its password, if it has one): the slow part
/// of creating an account, done before any transaction.
pub(crate) async fn prepare(
    rules: &policy::PasswordPolicy,
    new: NewUser,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<UserRow, Error> {
    validate(&new, rules)?;
    let password_hash = match new.password.clone() {
        Some(p) => Some(password::hash(&crate::Secret::new(p)).await?),
        None => None,
    };
    Ok(UserRow {
        id: new_id(),
        subject: uuid::Uuid::new_v4().to_string(),
        username: normalize_username(&new.username),
        email: new.email.trim().to_string(),
        name: new
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_string),
        password_hash,
        roles: new.roles.join(" "),
        disabled: false,
        created_at: naive(now),
        updated_at: naive(now),
        failed_attempts: 0,
        locked_until: None,
        password_temporary: false,
        password_expires_at: None,
        secret_word_hash: None,
        recovery_answers: None,
        emergency_hash: None,
        emergency_expires_at: None,
        caller_code_hash: None,
        caller_code_expires_at: None,
        caller_verified_by: None,
        caller_verified_at: None,
        required_actions: String::new(),
    })
}

/// Inserts a prepared account inside the caller's transaction; [`Error::Conflict`] when the
/// username is taken.
pub(crate) fn insert_in(conn: &mut DbConnection, row: &UserRow) -> Result<(), Error> {
    let exists: i64 = users::table
        .filter(users::username.eq(&row.username))
        .count()
        .get_result(conn)?;
    if exists > 0 {
        return Err(Error::Conflict(format!(
            "username {:?} is taken",
            row.username
        )));
    }
    diesel::insert_into(users::table)
        .values(row)
        .execute(conn)?;
    Ok(())
}

pub(crate) async fn create(
    db: &Db,
    rules: &policy::PasswordPolicy,
    new: NewUser,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<User, Error> {
    let row = prepare(rules, new, now).await?;
    let user = User::from(&Account::from(row.clone()));
    db.write(move |conn| insert_in(conn, &row)).await?;
    Ok(user)
}

pub(crate) async fn find_by_username(db: &Db, username: &str) -> Result<Option<Account>, Error> {
    let username = normalize_username(username);
    db.run(move |conn| {
        Ok(users::table
            .filter(users::username.eq(username))
            .select(UserRow::as_select())
            .first::<UserRow>(conn)
            .optional()?
            .map(Account::from))
    })
    .await
}

pub(crate) async fn find_by_id(db: &Db, id: &str) -> Result<Option<Account>, Error> {
    let id = id.to_string();
    db.run(move |conn| {
        Ok(users::table
            .find(id)
            .select(UserRow::as_select())
            .first::<UserRow>(conn)
            .optional()?
            .map(Account::from))
    })
    .await
}

pub(crate) async fn list(db: &Db) -> Result<Vec<User>, Error> {
    db.run(|conn| {
        let rows: Vec<UserRow> = users::table
            .order(users::username.asc())
            .select(UserRow::as_select())
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|r| User::from(&Account::from(r)))
            .collect())
    })
    .await
}

pub(crate) async fn find_by_subject(db: &Db, subject: &str) -> Result<Option<Account>, Error> {
    let subject = subject.to_string();
    db.run(move |conn| {
        Ok(users::table
            .filter(users::subject.eq(subject))
            .select(UserRow::as_select())
            .first::<UserRow>(conn)
            .optional()?
            .map(Account::from))
    })
    .await
}

/// Counts a failure against the account in a transaction of its own (see
/// [`changes::count_failure`]) and tells the owner of a lock it starts.
pub(crate) async fn count_account_failure(s: &Inner, user: &Account) -> Result<(), Error> {
    let now = s.now();
    let (id, key, threshold, lock_for) = (
        user.id.clone(),
        s.config.audit_key,
        s.config.lockout_threshold,
        s.config.lockout_duration,
    );
    let locked =
        s.db.write(move |conn| {
            let ctx = changes::Ctx {
                audit_key: &key,
                actor: &crate::audit::Actor::System,
                now,
            };
            changes::count_failure(conn, ctx, &id, threshold, lock_for)
        })
        .await?;
    if let Some(until) = locked {
        s.metrics.lockout();
        tell_locked(s, &user.username, &user.email, until).await;
    }
    Ok(())
}

/// Mails the owner of an account that a lock started (a failure is logged: the lock stands).
pub(crate) async fn tell_locked(
    s: &Inner,
    username: &str,
    email: &str,
    until: chrono::NaiveDateTime,
) {
    let service = &s.config.service_name;
    let notice = crate::notify::Email {
        to: email.to_string(),
        subject: format!("{service}: your account was locked"),
        body: format!(
            "Hello,\n\nYour {service} account ({username}) was locked after {n} failed sign-in attempts in a row. \
             It unlocks by itself at {until} UTC, or the service desk can unlock it after checking that it is you: \
             call {phone}.\n\nIf these attempts were not yours, someone may be trying to get into your account: \
             call the service desk at {phone}.\n",
            n = s.config.lockout_threshold,
            until = crate::store::utc(until).format("%Y-%m-%d %H:%M"),
            phone = s.config.support_phone,
        ),
    };
    if let Err(e) = s.mailer.send(&notice).await {
        tracing::warn!(error = %e, "could not send the lockout notification");
    }
}

/// A successful sign-in clears the failure count.
pub(crate) fn record_success_in(conn: &mut DbConnection, user_id: &str) -> Result<(), Error> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::failed_attempts.gt(0)),
    )
    .set(users::failed_attempts.eq(0))
    .execute(conn)?;
    Ok(())
}

/// As [`record_success_in`], in a statement of its own.
pub(crate) async fn record_success(db: &Db, user_id: &str) -> Result<(), Error> {
    let id = user_id.to_string();
    db.run(move |conn| record_success_in(conn, &id)).await
}

/// `users.recovery_answers` after the service desk reset the recovery data: an empty list, which
/// makes the next sign-in ask for new data even with a permanent password. (An account that
/// never had any is asked only with a temporary password, at its first sign-in, so that an
/// account created with a password by an administrator is not stopped by a page it never
/// expected.)
pub(crate) const RECOVERY_RESET: &str = "[]";

/// Recovery answers compare after normalisation: Unicode NFKC, lower case, single spaces.
pub(crate) fn normalize_answer(s: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let nfkc: String = s.nfkc().collect();
    nfkc.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A temporary password that is easy to read aloud: four groups of four characters from an
/// alphabet without look-alikes (no 0/o, 1/l/i), about 80 bits.
pub(crate) fn readable_password() -> Result<String, Error> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let bytes = crate::secret::random_bytes(64)?;
    let chars: Vec<char> = bytes
        .iter()
        .filter(|b| usize::from(**b) < 256 - 256 % ALPHABET.len())
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .take(16)
        .collect();
    if chars.len() < 16 {
        return Err(Error::Crypto("not enough random bytes".into()));
    }
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

impl crate::Provider {
    /// How many password, secret word and answer checks ran against the dummy hash, in this
    /// process (every provider in it), since it started. Those are the checks made where there
    /// is nothing real to check (an unknown username, an account without a password or recovery
    /// data, a throttled attempt), so that such a failure costs what a real one costs: a metric
    /// for monitoring, and what the enumeration tests watch.
    pub fn dummy_verifications(&self) -> u64 {
        password::DUMMY_VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use super::*;

    #[test]
    fn answers_normalise_case_spacing_and_compatibility_forms() {
        assert_eq!(normalize_answer("  Fluffy   the  CAT "), "fluffy the cat");
        assert_eq!(normalize_answer("ＦＬＵＦＦＹ"), "fluffy");
        assert_eq!(normalize_answer("ﬁsh"), "fish");
    }

    async fn temp_db() -> (tempfile::TempDir, Db) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&format!("sqlite://{}/a.db", dir.path().display()))
            .await
            .unwrap();
        (dir, db)
    }

    async fn user(db: &Db, t: chrono::DateTime<chrono::Utc>) -> Account {
        let new = NewUser {
            username: "pat".into(),
            email: "pat@example.org".into(),
            name: None,
            roles: Vec::new(),
            password: None,
        };
        let u = create(db, &policy::PasswordPolicy::default(), new, t)
            .await
            .unwrap();
        find_by_id(db, &u.id).await.unwrap().unwrap()
    }

    fn ctx(key: &[u8; 32], at: chrono::DateTime<chrono::Utc>) -> changes::Ctx<'_> {
        changes::Ctx {
            audit_key: key,
            actor: &crate::audit::Actor::System,
            now: at,
        }
    }

    #[tokio::test]
    async fn a_lock_starts_once_and_again_only_after_it_ran_out() {
        let (_dir, db) = temp_db().await;
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let u = user(&db, t0).await;
        let hour = std::time::Duration::from_secs(3600);
        let mut started = Vec::new();
        for (i, minutes) in [0, 1, 2, 3, 4, 70, 71].into_iter().enumerate() {
            let at = t0 + chrono::Duration::minutes(minutes);
            let id = u.id.clone();
            let lock = db
                .write(move |conn| changes::count_failure(conn, ctx(&[7; 32], at), &id, 3, hour))
                .await
                .unwrap();
            started.push((i + 1, lock.is_some()));
        }
        // The third failure locks; the fourth and fifth only extend that lock (to 05:00), which
        // has run out at the sixth: a new lock.
        assert_eq!(
            started,
            [
                (1, false),
                (2, false),
                (3, true),
                (4, false),
                (5, false),
                (6, true),
                (7, false)
            ]
        );
        let row = find_by_id(&db, &u.id).await.unwrap().unwrap();
        assert_eq!(row.failed_attempts, 7);
        assert_eq!(
            row.locked_until,
            Some(t0 + chrono::Duration::minutes(71 + 60))
        );
    }

    #[tokio::test]
    async fn enrolment_is_owed_after_a_temporary_password_until_paid_and_again_after_a_reset() {
        use required::RequiredAction;
        let (_dir, db) = temp_db().await;
        let t0 = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let u = user(&db, t0).await;
        // Created by an administrator with no recovery data: owes nothing.
        assert!(!u.recovery.is_enrolled());
        assert!(u.owed.is_empty());
        let id = u.id.clone();
        db.write(move |conn| {
            changes::issue_temporary_password(conn, ctx(&[7; 32], t0), &id, "h", t0)
        })
        .await
        .unwrap();
        let u = find_by_id(&db, &u.id).await.unwrap().unwrap();
        assert_eq!(u.owed.column(), "change_password enrol_recovery");
        let id = u.id.clone();
        db.write(move |conn| changes::change_password(conn, ctx(&[7; 32], t0), &id, "h2", 5, None))
            .await
            .unwrap()
            .unwrap();
        let u = find_by_id(&db, &u.id).await.unwrap().unwrap();
        assert!(matches!(u.password, account::Password::Permanent(_)));
        // The new password alone does not pay for the recovery data.
        assert_eq!(u.owed.column(), "enrol_recovery");
        let id = u.id.clone();
        db.write(move |conn| changes::enrol_recovery(conn, ctx(&[7; 32], t0), &id, "w", "[{}]"))
            .await
            .unwrap();
        let u = find_by_id(&db, &u.id).await.unwrap().unwrap();
        assert!(u.recovery.is_enrolled());
        assert!(u.owed.is_empty());
        let id = u.id.clone();
        db.write(move |conn| changes::reset_recovery(conn, ctx(&[7; 32], t0), &id))
            .await
            .unwrap();
        let u = find_by_id(&db, &u.id).await.unwrap().unwrap();
        assert_eq!(u.recovery, account::Recovery::Reset);
        assert!(!u.recovery.is_enrolled());
        assert!(u.owed.contains(RequiredAction::EnrolRecovery));
        // A second temporary password for an account with recovery data owes only the password.
        let id = u.id.clone();
        db.write(move |conn| changes::enrol_recovery(conn, ctx(&[7; 32], t0), &id, "w", "[{}]"))
            .await
            .unwrap();
        let id = u.id.clone();
        db.write(move |conn| {
            changes::issue_temporary_password(conn, ctx(&[7; 32], t0), &id, "h3", t0)
        })
        .await
        .unwrap();
        let u = find_by_id(&db, &u.id).await.unwrap().unwrap();
        assert_eq!(u.owed.column(), "change_password");
    }

    #[test]
    fn readable_passwords() {
        let p = readable_password().unwrap();
        assert_eq!(p.len(), 19);
        assert_eq!(p.matches('-').count(), 3);
        assert!(!p.contains(['0', 'o', '1', 'l', 'i']));
        assert_ne!(p, readable_password().unwrap());
    }
}
