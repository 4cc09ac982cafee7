//! An account as the domain sees it: the `users` row read once at the storage edge into typed
//! facts (parsed roles, the password's kind, the recovery enrolment, what is owed), so that no
//! rule elsewhere reads a column or a JSON string of its own.

use chrono::{DateTime, Utc};

use super::required::Owed;
use crate::store::models::UserRow;
use crate::store::utc;

/// The account's password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Password {
    /// None yet (a new account, or its credentials deleted): no password sign-in.
    Unset,
    /// The person's own (its argon2id hash).
    Permanent(String),
    /// The service desk's: usable only to set a new one, until `expires_at`.
    Temporary {
        hash: String,
        expires_at: Option<DateTime<Utc>>,
    },
}

impl Password {
    /// The hash to verify a typed password against, whatever its kind.
    pub(crate) fn hash(&self) -> Option<&str> {
        match self {
            Password::Unset => None,
            Password::Permanent(h) | Password::Temporary { hash: h, .. } => Some(h),
        }
    }

    pub(crate) fn is_set(&self) -> bool {
        !matches!(self, Password::Unset)
    }

    /// A temporary password past its end (or without one).
    pub(crate) fn temporary_expired(&self, now: DateTime<Utc>) -> bool {
        matches!(self, Password::Temporary { expires_at, .. } if expires_at.is_none_or(|t| t <= now))
    }
}

/// One enrolled challenge question: its text and the answer's argon2id hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub question: String,
    pub hash: String,
}

/// The account's recovery data (the secret word and five challenge questions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recovery {
    /// Never enrolled (or taken away with the credentials).
    NotEnrolled,
    /// The secret word's hash and the answers.
    Enrolled {
        secret_word_hash: String,
        answers: Vec<Answer>,
    },
    /// Cleared by the service desk: to be chosen again at the next sign-in.
    Reset,
}

impl Recovery {
    fn of(row: &UserRow) -> Recovery {
        match (&row.secret_word_hash, row.recovery_answers.as_deref()) {
            (_, Some(super::RECOVERY_RESET)) => Recovery::Reset,
            (Some(word), Some(json)) => Recovery::Enrolled {
                secret_word_hash: word.clone(),
                answers: parse_answers(json),
            },
            _ => Recovery::NotEnrolled,
        }
    }

    pub(crate) fn is_enrolled(&self) -> bool {
        matches!(self, Recovery::Enrolled { .. })
    }

    pub(crate) fn secret_word_hash(&self) -> Option<&str> {
        match self {
            Recovery::Enrolled {
                secret_word_hash, ..
            } => Some(secret_word_hash),
            _ => None,
        }
    }

    pub(crate) fn answers(&self) -> &[Answer] {
        match self {
            Recovery::Enrolled { answers, .. } => answers,
            _ => &[],
        }
    }
}

/// `[{"q": question, "h": hash}, …]` as written at enrolment; an entry that does not read is
/// left out (it then matches nothing).
fn parse_answers(json: &str) -> Vec<Answer> {
    serde_json::from_str::<Vec<serde_json::Value>>(json)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| {
            Some(Answer {
                question: v.get("q")?.as_str()?.to_string(),
                hash: v.get("h")?.as_str()?.to_string(),
            })
        })
        .collect()
}

/// A hashed one-time secret with its end (an emergency passcode, a caller code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Expiring {
    pub hash: String,
    pub expires_at: DateTime<Utc>,
}

impl Expiring {
    fn of(hash: &Option<String>, expires: Option<chrono::NaiveDateTime>) -> Option<Expiring> {
        Some(Expiring {
            hash: hash.clone()?,
            expires_at: utc(expires?),
        })
    }

    /// The hash while the secret is still good at `now`.
    pub(crate) fn live_hash(&self, now: DateTime<Utc>) -> Option<&str> {
        (self.expires_at > now).then_some(self.hash.as_str())
    }
}

/// An account.
#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: String,
    /// The `sub` claim.
    pub subject: String,
    pub username: String,
    pub email: String,
    pub name: Option<String>,
    pub roles: Vec<String>,
    pub disabled: bool,
    /// Consecutive failed sign-ins (the backstop lock's counter).
    pub failed_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
    pub password: Password,
    pub recovery: Recovery,
    /// What it owes before a sign-in may finish.
    pub owed: Owed,
    /// The service desk's emergency passcode for a lost token.
    pub emergency: Option<Expiring>,
    /// A one-time code mailed to verify a first-time caller.
    pub caller_code: Option<Expiring>,
    /// Which agent verified the caller, and when.
    pub caller_verified: Option<(String, DateTime<Utc>)>,
}

impl From<UserRow> for Account {
    fn from(r: UserRow) -> Account {
        let password = match (r.password_hash.clone(), r.password_temporary) {
            (None, _) => Password::Unset,
            (Some(hash), false) => Password::Permanent(hash),
            (Some(hash), true) => Password::Temporary {
                hash,
                expires_at: r.password_expires_at.map(utc),
            },
        };
        Account {
            recovery: Recovery::of(&r),
            owed: Owed::parse(&r.required_actions),
            emergency: Expiring::of(&r.emergency_hash, r.emergency_expires_at),
            caller_code: Expiring::of(&r.caller_code_hash, r.caller_code_expires_at),
            caller_verified: r
                .caller_verified_by
                .clone()
                .zip(r.caller_verified_at.map(utc)),
            roles: super::split_roles(&r.roles),
            locked_until: r.locked_until.map(utc),
            password,
            id: r.id,
            subject: r.subject,
            username: r.username,
            email: r.email,
            name: r.name,
            disabled: r.disabled,
            failed_attempts: r.failed_attempts,
        }
    }
}

impl Account {
    /// Locked now by the backstop (see `accounts::throttle`)?
    pub(crate) fn is_locked(&self, now: DateTime<Utc>) -> bool {
        self.locked_until.is_some_and(|t| t > now)
    }

    /// May a sign-in finish, or a token be issued, for it now: enabled, unlocked, with a
    /// password, owing nothing.
    pub(crate) fn may_sign_in(&self, now: DateTime<Utc>) -> bool {
        !self.disabled && self.password.is_set() && !self.is_locked(now) && self.owed.is_empty()
    }

    pub(crate) fn holds_any(&self, roles: &[&str]) -> bool {
        self.roles.iter().any(|r| roles.contains(&r.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> UserRow {
        let t = chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc();
        UserRow {
            id: "id".into(),
            subject: "sub".into(),
            username: "pat".into(),
            email: "pat@example.org".into(),
            name: None,
            password_hash: Some("h".into()),
            roles: "a  b".into(),
            disabled: false,
            created_at: t,
            updated_at: t,
            failed_attempts: 0,
            locked_until: None,
            password_temporary: true,
            password_expires_at: Some(t),
            secret_word_hash: Some("w".into()),
            recovery_answers: Some(r#"[{"q":"Q1","h":"H1"},{"bad":1},{"q":"Q2","h":"H2"}]"#.into()),
            emergency_hash: None,
            emergency_expires_at: Some(t),
            caller_code_hash: None,
            caller_code_expires_at: None,
            caller_verified_by: Some("user:agent".into()),
            caller_verified_at: Some(t),
            required_actions: "change_password".into(),
        }
    }

    #[test]
    fn the_row_reads_into_typed_facts() {
        let a = Account::from(row());
        let t = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert_eq!(a.roles, ["a", "b"]);
        assert_eq!(
            a.password,
            Password::Temporary {
                hash: "h".into(),
                expires_at: Some(t)
            }
        );
        assert!(a.password.temporary_expired(t));
        assert!(
            !a.password
                .temporary_expired(t - chrono::Duration::seconds(1))
        );
        assert_eq!(a.recovery.secret_word_hash(), Some("w"));
        assert_eq!(
            a.recovery
                .answers()
                .iter()
                .map(|x| x.question.as_str())
                .collect::<Vec<_>>(),
            ["Q1", "Q2"]
        );
        assert_eq!(a.emergency, None, "an end without a hash is no passcode");
        assert_eq!(a.caller_verified, Some(("user:agent".into(), t)));
        assert!(!a.may_sign_in(t), "owes a new password");
        let mut r = row();
        r.recovery_answers = Some("[]".into());
        assert_eq!(Account::from(r).recovery, Recovery::Reset);
        let mut r = row();
        r.secret_word_hash = None;
        assert_eq!(Account::from(r).recovery, Recovery::NotEnrolled);
    }
}
