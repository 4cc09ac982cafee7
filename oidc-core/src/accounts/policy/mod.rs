//! The password rules: a configurable [`PasswordPolicy`], checked on the server, which is the
//! authority (the page only lists the rules, [`PasswordPolicy::rules`]).
//!
//! Passwords are compared and measured in their NFKC form (`normalize`): a full-width
//! `ＰＡＳＳＷＯＲＤ１２３４` is `PASSWORD1234`, a ligature `ﬁ` is `fi`, and an `e` followed by a
//! combining accent is one character `é`. Hashing and verification must use the same form, so that
//! a password typed on another keyboard or input method still matches.
//!
//! The blocklist is the 30,000 most common passwords of the `zxcvbn` crate (MIT), shipped in
//! `data/common-passwords.txt` (see `data/README.md` beside it) and compiled into the crate.
//!
//! The history rule needs the database: [`PasswordPolicy::check`] reports every other rule, and the
//! caller adds [`RuleViolation::Reused`] when `in_history` says so.

use std::collections::HashSet;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use unicode_normalization::UnicodeNormalization;

use super::password;
use crate::error::Error;
use crate::store::models::PasswordHistoryRow;
use crate::store::schema::{password_history, users};
use crate::store::{Db, naive, new_id};

/// The blocklist, one lower-case password a line (source and licence: `data/README.md`).
const BLOCKLIST: &str = include_str!("../../../data/common-passwords.txt");

/// The default minimum length, in characters of the normalised form.
pub const DEFAULT_MIN_LENGTH: usize = 12;
/// No configuration can set a minimum length below this.
pub const MIN_LENGTH_FLOOR: usize = 8;
/// The default maximum length, in characters of the normalised form.
pub const DEFAULT_MAX_LENGTH: usize = 128;
/// No configuration can set a maximum length below this: long pass phrases are always allowed.
pub const MAX_LENGTH_FLOOR: usize = 64;
/// How many previous passwords are remembered and refused by default.
pub const DEFAULT_HISTORY: usize = 5;
/// Words of the name, e-mail and organisation shorter than this are not looked for.
const MIN_WORD_CHARS: usize = 3;
/// The character classes a composition rule counts: lower case, upper case, digits, symbols.
const CLASSES: u8 = 4;
/// A character of the normalised form never takes more than this many bytes of input (a
/// composed character comes from a few combining characters of at most 4 bytes each), so longer
/// input is too long without normalising it.
const MAX_INPUT_BYTES_PER_CHAR: usize = 16;

/// The organisation's words that a password must not contain, by default.
pub const DEFAULT_ORGANISATION_WORDS: [&str; 5] = ["ahs", "alberta", "health", "services", "cpar"];

/// The password rules. Build one with [`PasswordPolicy::default`] and the builder-style setters,
/// which keep every value within its bounds:
///
/// ```
/// use oidc_core::{PasswordPolicy, PolicyContext, RuleViolation};
/// let policy = PasswordPolicy::default().min_length(14).require_classes(3);
/// assert_eq!(policy.min_length, 14);
/// assert_eq!(PasswordPolicy::default().min_length(4).min_length, 8);
/// let ctx = PolicyContext { username: "nakitt", name: Some("Nancy Akitt"), email: None };
/// assert_eq!(
///     policy.check("kettle drums", &ctx),
///     vec![
///         RuleViolation::TooShort { min: 14 },
///         RuleViolation::TooFewClasses { required: 3 },
///     ]
/// );
/// assert!(policy.check("Kettle drums, rolling", &ctx).is_empty());
/// ```
///
/// The fields are public for reading and for configuration files; [`PasswordPolicy::check`] raises
/// a field set out of bounds directly to its floor (minimum length 8, maximum length 64 and at
/// least the minimum, at most 4 classes), so no configuration can weaken those bounds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// The minimum length in characters of the normalised form (default 12, never below 8).
    pub min_length: usize,
    /// The maximum length in characters of the normalised form (default 128, never below 64).
    pub max_length: usize,
    /// How many of the classes lower-case letter, capital letter, digit and symbol a password must
    /// use (0 by default: no composition rule; at most 4).
    pub require_classes: u8,
    /// How many previous passwords are refused (default 5; 0 turns the rule off).
    pub history: usize,
    /// Words (of at least 3 characters) that a password must not contain, compared without case
    /// (default: `ahs`, `alberta`, `health`, `services`, `cpar`).
    pub organisation_words: Vec<String>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_length: DEFAULT_MIN_LENGTH,
            max_length: DEFAULT_MAX_LENGTH,
            require_classes: 0,
            history: DEFAULT_HISTORY,
            organisation_words: DEFAULT_ORGANISATION_WORDS
                .iter()
                .map(|w| (*w).to_string())
                .collect(),
        }
    }
}

/// Who the password is for: what it must not contain.
#[derive(Debug, Clone, Copy, Default)]
pub struct PolicyContext<'a> {
    /// The account's sign-in name.
    pub username: &'a str,
    /// The display name, if any: each of its words of 3 or more characters is refused.
    pub name: Option<&'a str>,
    /// The e-mail address, if any: its local part (3 or more characters) and that part's words
    /// are refused.
    pub email: Option<&'a str>,
}

/// A rule that a password breaks. [`RuleViolation::message`] says it in words fit to show next to
/// the password field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleViolation {
    /// Shorter than the minimum length.
    TooShort {
        /// The minimum length, in characters.
        min: usize,
    },
    /// Longer than the maximum length.
    TooLong {
        /// The maximum length, in characters.
        max: usize,
    },
    /// Uses fewer character classes than the (configured) composition rule asks for.
    TooFewClasses {
        /// How many of lower case, upper case, digits and symbols are required.
        required: u8,
    },
    /// One of the common or breached passwords of the blocklist.
    Blocklisted,
    /// Contains the username, a word of the name or the e-mail address.
    ContainsPersonalInfo,
    /// Contains one of the organisation's words.
    ContainsOrganisationWord,
    /// The same as the current password or one of the previous ones (`in_history`).
    Reused,
    /// Contains control characters (tabs, line breaks and the like).
    ControlCharacters,
}

impl RuleViolation {
    /// The rule broken, in plain English, fit to show next to the password field.
    pub fn message(&self) -> String {
        match self {
            RuleViolation::TooShort { min } => {
                format!("Your password must be at least {min} characters long.")
            }
            RuleViolation::TooLong { max } => {
                format!("Your password must be at most {max} characters long.")
            }
            RuleViolation::TooFewClasses { required } => format!(
                "Your password must use at least {required} of these: lower-case letters, \
                 capital letters, digits and symbols."
            ),
            RuleViolation::Blocklisted => "This password is too common: it is on lists of \
                                           passwords that attackers try first. Choose another."
                .into(),
            RuleViolation::ContainsPersonalInfo => {
                "Your password must not contain your username, your name or your email address."
                    .into()
            }
            RuleViolation::ContainsOrganisationWord => {
                "Your password must not contain the organisation's name or words from it.".into()
            }
            RuleViolation::Reused => {
                "You have used this password before. Choose one you have not used recently.".into()
            }
            RuleViolation::ControlCharacters => {
                "Your password must not contain control characters, such as tabs or line breaks."
                    .into()
            }
        }
    }
}

impl std::fmt::Display for RuleViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

/// The form in which a password is checked, hashed and verified: Unicode NFKC. Lengths are
/// counted in `char`s of this form: `"ＰＡＳＳ ﬁve"` becomes `"PASS five"`.
pub fn normalize(password: &str) -> String {
    password.nfkc().collect()
}

/// The normalised, lower-cased form used for every comparison.
fn folded(s: &str) -> String {
    normalize(s).to_lowercase()
}

/// The blocklist as a set, built on first use.
fn blocklist() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        BLOCKLIST
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

/// Words of `s` (split at anything that is not a letter or digit) of at least 3 characters.
fn words(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= MIN_WORD_CHARS)
        .map(str::to_string)
}

/// What a password must not contain about its owner, folded: the username (and its local part if
/// it is an e-mail address), each word of the name, the e-mail's local part and its words; each of
/// at least 3 characters.
fn personal_tokens(ctx: &PolicyContext<'_>) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut push = |t: &str| {
        let t = folded(t.trim());
        if t.chars().count() >= MIN_WORD_CHARS && !tokens.contains(&t) {
            tokens.push(t);
        }
    };
    push(ctx.username);
    if let Some((local, _)) = ctx.username.trim().rsplit_once('@') {
        push(local);
    }
    if let Some(name) = ctx.name {
        for w in words(&normalize(name)) {
            push(&w);
        }
    }
    if let Some(email) = ctx.email {
        let local = email
            .trim()
            .rsplit_once('@')
            .map_or(email.trim(), |(l, _)| l);
        push(local);
        for w in words(&normalize(local)) {
            push(&w);
        }
    }
    tokens
}

/// How many of the classes lower case, upper case, digit and other (symbols, spaces and letters
/// without case, such as Chinese characters) `s` uses.
fn classes(s: &str) -> u8 {
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for c in s.chars() {
        if c.is_lowercase() {
            lower = true;
        } else if c.is_uppercase() {
            upper = true;
        } else if c.is_numeric() {
            digit = true;
        } else {
            other = true;
        }
    }
    [lower, upper, digit, other]
        .iter()
        .map(|b| u8::from(*b))
        .sum()
}

impl PasswordPolicy {
    /// Sets the minimum length in characters; values below 8 are raised to 8.
    #[must_use]
    pub fn min_length(mut self, chars: usize) -> Self {
        self.min_length = chars.max(MIN_LENGTH_FLOOR);
        self
    }

    /// Sets the maximum length in characters; values below 64 are raised to 64.
    #[must_use]
    pub fn max_length(mut self, chars: usize) -> Self {
        self.max_length = chars.max(MAX_LENGTH_FLOOR);
        self
    }

    /// Sets how many of lower case, upper case, digits and symbols a password must use (0 to 4;
    /// 0, the default, means no composition rule).
    #[must_use]
    pub fn require_classes(mut self, classes: u8) -> Self {
        self.require_classes = classes.min(CLASSES);
        self
    }

    /// Sets how many previous passwords are refused (0 turns the rule off).
    #[must_use]
    pub fn history(mut self, passwords: usize) -> Self {
        self.history = passwords;
        self
    }

    /// Replaces the organisation's words (each compared without case; words shorter than 3
    /// characters are ignored).
    #[must_use]
    pub fn organisation_words<I, S>(mut self, words: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.organisation_words = words.into_iter().map(Into::into).collect();
        self
    }

    /// The minimum length in force (the field, raised to the floor of 8).
    pub fn effective_min_length(&self) -> usize {
        self.min_length.max(MIN_LENGTH_FLOOR)
    }

    /// The maximum length in force (the field, raised to 64 and to the minimum length).
    pub fn effective_max_length(&self) -> usize {
        self.max_length
            .max(MAX_LENGTH_FLOOR)
            .max(self.effective_min_length())
    }

    fn effective_classes(&self) -> u8 {
        self.require_classes.min(CLASSES)
    }

    /// The organisation's words in force, folded, of at least 3 characters.
    fn organisation_tokens(&self) -> Vec<String> {
        self.organisation_words
            .iter()
            .map(|w| folded(w.trim()))
            .filter(|w| w.chars().count() >= MIN_WORD_CHARS)
            .collect()
    }

    /// Checks `password` against every rule but the history (see `in_history`) and returns all
    /// the rules it breaks; empty means acceptable.
    ///
    /// The password is normalised first (`normalize`); lengths count its characters, and the
    /// blocklist, personal information and organisation words are compared without case. Input of
    /// more than 16 bytes per allowed character is reported as too long without further checks.
    pub fn check(&self, password: &str, ctx: &PolicyContext<'_>) -> Vec<RuleViolation> {
        let min = self.effective_min_length();
        let max = self.effective_max_length();
        if password.len() > max.saturating_mul(MAX_INPUT_BYTES_PER_CHAR) {
            return vec![RuleViolation::TooLong { max }];
        }
        let normalized = normalize(password);
        let lower = normalized.to_lowercase();
        let mut violations = Vec::new();
        if normalized.chars().any(char::is_control) {
            violations.push(RuleViolation::ControlCharacters);
        }
        let length = normalized.chars().count();
        if length < min {
            violations.push(RuleViolation::TooShort { min });
        }
        if length > max {
            violations.push(RuleViolation::TooLong { max });
        }
        let required = self.effective_classes();
        if classes(&normalized) < required {
            violations.push(RuleViolation::TooFewClasses { required });
        }
        if blocklist().contains(lower.as_str()) {
            violations.push(RuleViolation::Blocklisted);
        }
        if personal_tokens(ctx)
            .iter()
            .any(|t| lower.contains(t.as_str()))
        {
            violations.push(RuleViolation::ContainsPersonalInfo);
        }
        if self
            .organisation_tokens()
            .iter()
            .any(|w| lower.contains(w.as_str()))
        {
            violations.push(RuleViolation::ContainsOrganisationWord);
        }
        violations
    }

    /// The rules in force, one sentence each, for the page that asks for a new password.
    pub fn rules(&self) -> Vec<String> {
        let mut rules = vec![
            format!("At least {} characters.", self.effective_min_length()),
            format!("At most {} characters.", self.effective_max_length()),
            "Any characters may be used, including spaces and letters of any language.".into(),
        ];
        let required = self.effective_classes();
        if required > 0 {
            rules.push(format!(
                "At least {required} of: lower-case letters, capital letters, digits, symbols."
            ));
        }
        rules.push("Not a common password, or one found in data breaches.".into());
        rules.push("Not containing your username, your name or your email address.".into());
        let org: Vec<String> = self
            .organisation_words
            .iter()
            .map(|w| w.trim())
            .filter(|w| w.chars().count() >= MIN_WORD_CHARS)
            .map(|w| format!("\u{201c}{w}\u{201d}"))
            .collect();
        if !org.is_empty() {
            rules.push(format!("Not containing the words {}.", join_or(&org)));
        }
        match self.history {
            0 => {}
            1 => rules.push("Not the same as your current or previous password.".into()),
            n => rules.push(format!("Not one of your last {n} passwords.")),
        }
        rules
    }
}

/// "a", "a or b", "a, b or c".
fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// Is `password` (normalised here) the account's current password or one of its last `history`
/// previous ones? Verifies against the current `users.password_hash` and the newest `history`
/// rows of `password_history` (argon2, about 20 ms each, on the blocking pool). `history` 0 turns
/// the rule off.
///
/// A hash made before passwords were normalised is also tried with the password as typed, when
/// that differs from its normalised form.
pub(crate) async fn in_history(
    db: &Db,
    user_id: &str,
    password: &str,
    history: usize,
) -> Result<bool, Error> {
    if history == 0 {
        return Ok(false);
    }
    let id = user_id.to_string();
    let limit = i64::try_from(history).unwrap_or(i64::MAX);
    let hashes = db
        .run(move |conn| {
            let current: Option<String> = users::table
                .find(&id)
                .select(users::password_hash)
                .first::<Option<String>>(conn)
                .optional()?
                .flatten();
            let past: Vec<String> = password_history::table
                .filter(password_history::user_id.eq(&id))
                .order((
                    password_history::created_at.desc(),
                    password_history::id.desc(),
                ))
                .limit(limit)
                .select(password_history::password_hash)
                .load(conn)?;
            let mut hashes: Vec<String> = Vec::with_capacity(past.len() + 1);
            for h in current.into_iter().chain(past) {
                if !hashes.contains(&h) {
                    hashes.push(h);
                }
            }
            Ok(hashes)
        })
        .await?;
    let normalized = normalize(password);
    let mut candidates = vec![normalized.clone()];
    if normalized != password {
        candidates.push(password.to_string());
    }
    for hash in hashes {
        for candidate in &candidates {
            if password::verify(candidate.clone(), Some(hash.clone())).await? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Remembers `password_hash` (the hash of the normalised password just set) for the account, and
/// forgets all but the newest `history` remembered hashes (all of them when `history` is 0). Call
/// it whenever a password is set, in the same flow that stores the new `users.password_hash`.
pub(crate) async fn remember(
    db: &Db,
    user_id: &str,
    password_hash: &str,
    now: DateTime<Utc>,
    history: usize,
) -> Result<(), Error> {
    let row = PasswordHistoryRow {
        id: new_id(),
        user_id: user_id.to_string(),
        password_hash: password_hash.to_string(),
        created_at: naive(now),
    };
    db.write(move |conn| {
        if history > 0 {
            diesel::insert_into(password_history::table)
                .values(&row)
                .execute(conn)?;
        }
        let ids: Vec<String> = password_history::table
            .filter(password_history::user_id.eq(&row.user_id))
            .order((
                password_history::created_at.desc(),
                password_history::id.desc(),
            ))
            .select(password_history::id)
            .load(conn)?;
        let stale: Vec<String> = ids.into_iter().skip(history).collect();
        if !stale.is_empty() {
            diesel::delete(password_history::table.filter(password_history::id.eq_any(&stale)))
                .execute(conn)?;
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> PolicyContext<'static> {
        PolicyContext {
            username: "nakitt",
            name: Some("Nancy O'Brien-Akitt"),
            email: Some("nancy.akitt@example.org"),
        }
    }

    fn nobody() -> PolicyContext<'static> {
        PolicyContext::default()
    }

    fn check(password: &str) -> Vec<RuleViolation> {
        PasswordPolicy::default().check(password, &ctx())
    }

    #[test]
    fn defaults() {
        let p = PasswordPolicy::default();
        assert_eq!(p.min_length, 12);
        assert_eq!(p.max_length, 128);
        assert_eq!(p.require_classes, 0);
        assert_eq!(p.history, 5);
        assert_eq!(
            p.organisation_words,
            vec!["ahs", "alberta", "health", "services", "cpar"]
        );
    }

    #[test]
    fn setters_clamp_to_the_floors() {
        let p = PasswordPolicy::default()
            .min_length(4)
            .max_length(20)
            .require_classes(9)
            .history(3)
            .organisation_words(["acme"]);
        assert_eq!(p.min_length, 8);
        assert_eq!(p.max_length, 64);
        assert_eq!(p.require_classes, 4);
        assert_eq!(p.history, 3);
        assert_eq!(p.organisation_words, vec!["acme".to_string()]);
        // Fields set directly out of bounds are raised when checking.
        let raw = PasswordPolicy {
            min_length: 2,
            max_length: 10,
            ..PasswordPolicy::default()
        };
        assert_eq!(raw.effective_min_length(), 8);
        assert_eq!(raw.effective_max_length(), 64);
        assert_eq!(
            raw.check("seven c", &nobody()),
            vec![RuleViolation::TooShort { min: 8 }]
        );
        // The maximum is never below the minimum.
        let long = PasswordPolicy::default().min_length(100);
        assert_eq!(long.effective_max_length(), 128);
        let longer = PasswordPolicy::default().min_length(200);
        assert_eq!(longer.effective_max_length(), 200);
    }

    #[test]
    fn boundary_11_and_12_characters() {
        assert_eq!(
            check("kettle drum"),
            vec![RuleViolation::TooShort { min: 12 }]
        );
        assert_eq!(check("kettle drums"), vec![]);
    }

    #[test]
    fn eight_character_floor() {
        let p = PasswordPolicy::default().min_length(1);
        assert_eq!(
            p.check("zebra q", &nobody()),
            vec![RuleViolation::TooShort { min: 8 }]
        );
        assert_eq!(p.check("zebra qv", &nobody()), vec![]);
        let ten = PasswordPolicy::default().min_length(10);
        assert_eq!(
            ten.check("zebra qvx", &nobody()),
            vec![RuleViolation::TooShort { min: 10 }]
        );
        assert_eq!(ten.check("zebra qvxy", &nobody()), vec![]);
    }

    #[test]
    fn maximum_length_at_least_64() {
        let p = PasswordPolicy::default();
        let ok = "correct horse ".repeat(10)[..128].to_string();
        assert_eq!(p.check(&ok, &nobody()), vec![]);
        let too_long = format!("{ok}x");
        assert_eq!(
            p.check(&too_long, &nobody()),
            vec![RuleViolation::TooLong { max: 128 }]
        );
        let short_max = PasswordPolicy::default().max_length(64);
        let sixty_four = &ok[..64];
        assert_eq!(short_max.check(sixty_four, &nobody()), vec![]);
        assert_eq!(
            short_max.check(&ok[..65], &nobody()),
            vec![RuleViolation::TooLong { max: 64 }]
        );
        // Huge input is refused without normalising it.
        let huge = "x".repeat(1 << 20);
        assert_eq!(
            p.check(&huge, &nobody()),
            vec![RuleViolation::TooLong { max: 128 }]
        );
    }

    #[test]
    fn multibyte_characters_count_as_chars() {
        // 11 × 'é' is 22 bytes but 11 characters: too short; 12 is enough.
        let eleven = "é".repeat(11);
        assert_eq!(eleven.len(), 22);
        assert_eq!(check(&eleven), vec![RuleViolation::TooShort { min: 12 }]);
        assert_eq!(check(&"é".repeat(12)), vec![]);
        // 'e' + combining acute accent composes to one character under NFKC.
        let decomposed = "e\u{301}".repeat(12);
        assert_eq!(decomposed.chars().count(), 24);
        assert_eq!(normalize(&decomposed).chars().count(), 12);
        assert_eq!(check(&decomposed), vec![]);
        assert_eq!(
            check(&"e\u{301}".repeat(11)),
            vec![RuleViolation::TooShort { min: 12 }]
        );
        // Emoji and other scripts are allowed and counted as characters.
        assert_eq!(check("🐻🐻🐻 北極熊 pôlaire"), vec![]);
        assert_eq!(
            check("🐻🐻🐻 北極熊 pôl"),
            vec![RuleViolation::TooShort { min: 12 }]
        );
    }

    #[test]
    fn nfkc_fullwidth_variant_of_a_blocklisted_password_is_blocklisted() {
        let fullwidth = "ＰＡＳＳＷＯＲＤ１２３４";
        assert_eq!(normalize(fullwidth), "PASSWORD1234");
        assert_eq!(check(fullwidth), vec![RuleViolation::Blocklisted]);
        assert_eq!(check("password1234"), vec![RuleViolation::Blocklisted]);
    }

    #[test]
    fn ligatures_are_normalised() {
        assert_eq!(normalize("\u{fb01}"), "fi");
        assert_eq!(normalize("\u{fb04}"), "ffl");
        // "ﬁnalfantasy" is "finalfantasy", on the blocklist.
        assert_eq!(
            check("\u{fb01}nalfantasy"),
            vec![RuleViolation::Blocklisted]
        );
        // Lengths count the normalised form: 11 characters typed, 12 after NFKC.
        let typed = "wa\u{fb01}e ironsz";
        assert_eq!(typed.chars().count(), 11);
        assert_eq!(normalize(typed).chars().count(), 12);
        assert_eq!(check(typed), vec![]);
    }

    #[test]
    fn blocklist_has_at_least_10000_entries() {
        assert!(blocklist().len() >= 10_000, "{}", blocklist().len());
        assert_eq!(blocklist().len(), 30_000);
    }

    #[test]
    fn blocklist_entries_are_in_folded_form() {
        for entry in blocklist() {
            assert_eq!(folded(entry), *entry);
        }
    }

    #[test]
    fn blocklist_has_known_entries() {
        for known in [
            "password",
            "123456",
            "qwerty",
            "password1234",
            "qwerty123456",
        ] {
            assert!(blocklist().contains(known), "{known}");
        }
        assert!(!blocklist().contains("kettle drums"));
    }

    #[test]
    fn blocklist_is_case_insensitive() {
        let p = PasswordPolicy::default().min_length(8);
        assert_eq!(
            p.check("PassWord", &nobody()),
            vec![RuleViolation::Blocklisted]
        );
        assert_eq!(
            p.check("QWERTY123456", &nobody()),
            vec![RuleViolation::Blocklisted]
        );
        // Short blocklisted passwords fail both rules; all violations are reported.
        assert_eq!(
            check("123456"),
            vec![
                RuleViolation::TooShort { min: 12 },
                RuleViolation::Blocklisted
            ]
        );
    }

    #[test]
    fn control_characters_are_refused() {
        assert_eq!(
            check("kettle\tdrums!"),
            vec![RuleViolation::ControlCharacters]
        );
        assert_eq!(
            check("kettle drums\n"),
            vec![RuleViolation::ControlCharacters]
        );
        assert_eq!(
            check("kettle\u{0}drums!"),
            vec![RuleViolation::ControlCharacters]
        );
        // Spaces are fine.
        assert_eq!(check("  kettle drums  "), vec![]);
    }

    #[test]
    fn personal_info_is_refused() {
        for pw in [
            "my NAKITT pass phrase",     // username, any case
            "nancy likes long walks",    // a word of the name
            "the o'brien family dog",    // a word of a hyphenated name
            "akitt-family-dog-2024",     // another word of the name
            "nancy.akitt forever!",      // the email's local part
            "ＮＡＮＣＹ rides bicycles", // full-width, after NFKC
        ] {
            assert_eq!(check(pw), vec![RuleViolation::ContainsPersonalInfo], "{pw}");
        }
        assert_eq!(check("kettle drums rolling"), vec![]);
    }

    #[test]
    fn short_name_words_are_ignored() {
        let c = PolicyContext {
            username: "ab",
            name: Some("Al Bo"),
            email: Some("al@example.org"),
        };
        let p = PasswordPolicy::default();
        assert_eq!(p.check("ab al bo kettle drums", &c), vec![]);
        let username_email = PolicyContext {
            username: "jsmith@example.org",
            name: None,
            email: None,
        };
        assert_eq!(
            p.check("hello jsmith friends", &username_email),
            vec![RuleViolation::ContainsPersonalInfo]
        );
        let email_parts = PolicyContext {
            username: "u123",
            name: None,
            email: Some("jo.smithers+iam@example.org"),
        };
        assert_eq!(
            p.check("the smithers family", &email_parts),
            vec![RuleViolation::ContainsPersonalInfo]
        );
    }

    #[test]
    fn organisation_words_are_refused() {
        for pw in [
            "I work at AHS every day",
            "wild rose alberta 1905",
            "HealthyHabits4Life",
            "customer services rock",
            "cpar panel reviewer",
            "ａｌｂｅｒｔａ ｒｏｃｋｉｅｓ",
        ] {
            assert_eq!(
                check(pw),
                vec![RuleViolation::ContainsOrganisationWord],
                "{pw}"
            );
        }
        let acme = PasswordPolicy::default().organisation_words(["ACME", "x"]);
        assert_eq!(
            acme.check("acme widgets 4 all", &nobody()),
            vec![RuleViolation::ContainsOrganisationWord]
        );
        assert_eq!(acme.check("health x widgets", &nobody()), vec![]);
        let none = PasswordPolicy::default().organisation_words(Vec::<String>::new());
        assert_eq!(none.check("alberta health services", &nobody()), vec![]);
    }

    #[test]
    fn no_composition_rules_by_default() {
        assert_eq!(check("alllowercaseletters"), vec![]);
        assert_eq!(check("738291047362"), vec![]);
    }

    #[test]
    fn composition_rules_when_configured() {
        let p = PasswordPolicy::default().require_classes(3);
        assert_eq!(
            p.check("alllowercaseletters", &nobody()),
            vec![RuleViolation::TooFewClasses { required: 3 }]
        );
        assert_eq!(
            p.check("TwoClassesOnlyHere", &nobody()),
            vec![RuleViolation::TooFewClasses { required: 3 }]
        );
        assert_eq!(p.check("Three classes here", &nobody()), vec![]);
        assert_eq!(p.check("Mixed5Case2Digits", &nobody()), vec![]);
        let four = PasswordPolicy::default().require_classes(4);
        assert_eq!(
            four.check("Mixed5Case2Digits", &nobody()),
            vec![RuleViolation::TooFewClasses { required: 4 }]
        );
        assert_eq!(four.check("Mixed5Case2Digits!", &nobody()), vec![]);
        assert_eq!(classes("Ünïcödé 9 ß"), 4);
    }

    #[test]
    fn all_violations_are_reported() {
        let p = PasswordPolicy::default().require_classes(4);
        assert_eq!(
            p.check("ahs\tnakitt", &ctx()),
            vec![
                RuleViolation::ControlCharacters,
                RuleViolation::TooShort { min: 12 },
                RuleViolation::TooFewClasses { required: 4 },
                RuleViolation::ContainsPersonalInfo,
                RuleViolation::ContainsOrganisationWord,
            ]
        );
    }

    #[test]
    fn messages_are_sentences() {
        let all = [
            RuleViolation::TooShort { min: 12 },
            RuleViolation::TooLong { max: 128 },
            RuleViolation::TooFewClasses { required: 3 },
            RuleViolation::Blocklisted,
            RuleViolation::ContainsPersonalInfo,
            RuleViolation::ContainsOrganisationWord,
            RuleViolation::Reused,
            RuleViolation::ControlCharacters,
        ];
        for v in &all {
            let m = v.message();
            assert!(m.ends_with('.') && m.len() > 20, "{m}");
            assert!(m.chars().next().is_some_and(char::is_uppercase), "{m}");
            assert_eq!(v.to_string(), m);
        }
        assert!(all[0].message().contains("12"));
        assert!(all[1].message().contains("128"));
        assert!(all[2].message().contains('3'));
    }

    #[test]
    fn rules_list_the_active_rules() {
        let rules = PasswordPolicy::default().rules();
        assert_eq!(rules[0], "At least 12 characters.");
        assert!(rules.contains(&"At most 128 characters.".to_string()));
        assert!(rules.contains(&"Not one of your last 5 passwords.".to_string()));
        assert!(rules.iter().any(|r| r.contains("common password")));
        assert!(rules.iter().any(|r| r.contains("username")));
        assert!(
            rules.iter().any(|r| r.contains("\u{201c}ahs\u{201d}")
                && r.contains("or \u{201c}cpar\u{201d}")),
            "{rules:?}"
        );
        assert!(!rules.iter().any(|r| r.contains("capital letters")));
        assert!(rules.iter().all(|r| r.ends_with('.')));

        let strict = PasswordPolicy::default()
            .min_length(14)
            .require_classes(3)
            .history(0)
            .organisation_words(Vec::<String>::new());
        let rules = strict.rules();
        assert_eq!(rules[0], "At least 14 characters.");
        assert!(rules.contains(
            &"At least 3 of: lower-case letters, capital letters, digits, symbols.".to_string()
        ));
        assert!(!rules.iter().any(|r| r.contains("last")));
        assert!(!rules.iter().any(|r| r.contains("the words")));
        let one = PasswordPolicy::default().history(1).rules();
        assert!(one.iter().any(|r| r.contains("current or previous")));
    }

    #[test]
    fn join_or_reads_naturally() {
        let s = |v: &[&str]| join_or(&v.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert_eq!(s(&[]), "");
        assert_eq!(s(&["a"]), "a");
        assert_eq!(s(&["a", "b"]), "a or b");
        assert_eq!(s(&["a", "b", "c"]), "a, b or c");
    }

    async fn temp_db() -> (tempfile::TempDir, Db, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("policy.db").display());
        let db = Db::open(&url).await.unwrap();
        let user = crate::accounts::create(
            &db,
            &PasswordPolicy::default(),
            crate::accounts::NewUser {
                username: "nakitt".into(),
                email: "nancy.akitt@example.org".into(),
                name: Some("Nancy Akitt".into()),
                roles: vec![],
                password: None,
            },
            chrono::DateTime::UNIX_EPOCH,
        )
        .await
        .unwrap();
        (dir, db, user.id)
    }

    async fn history_count(db: &Db, user_id: &str) -> i64 {
        let id = user_id.to_string();
        db.run(move |conn| {
            Ok(password_history::table
                .filter(password_history::user_id.eq(id))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn history_remembers_the_newest_five_and_forgets_the_oldest() {
        let (_dir, db, user_id) = temp_db().await;
        let start = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
        let passwords: Vec<String> = (0..6).map(|i| format!("pass phrase number {i}")).collect();
        for (i, pw) in passwords.iter().enumerate() {
            let hash = password::hash(normalize(pw)).await.unwrap();
            let at = start + chrono::Duration::days(i64::try_from(i).unwrap());
            remember(&db, &user_id, &hash, at, 5).await.unwrap();
        }
        assert_eq!(history_count(&db, &user_id).await, 5);
        assert!(!in_history(&db, &user_id, &passwords[0], 5).await.unwrap());
        for pw in &passwords[1..] {
            assert!(in_history(&db, &user_id, pw, 5).await.unwrap(), "{pw}");
        }
        assert!(
            !in_history(&db, &user_id, "never used before", 5)
                .await
                .unwrap()
        );
        // A smaller window looks at the newest only.
        assert!(in_history(&db, &user_id, &passwords[5], 1).await.unwrap());
        assert!(!in_history(&db, &user_id, &passwords[4], 1).await.unwrap());
        // History 0 turns the rule off.
        assert!(!in_history(&db, &user_id, &passwords[5], 0).await.unwrap());
        // Another account's history is its own.
        assert!(
            !in_history(&db, "someone-else", &passwords[5], 5)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn history_checks_the_current_password_and_normalises() {
        let (_dir, db, user_id) = temp_db().await;
        // The current hash is of the normalised form; a full-width variant matches it.
        let current = password::hash(normalize("ＣＵＲＲＥＮＴ pass phrase"))
            .await
            .unwrap();
        let (id, h) = (user_id.clone(), current.clone());
        db.run(move |conn| {
            diesel::update(users::table.find(id))
                .set(users::password_hash.eq(Some(h)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(
            in_history(&db, &user_id, "CURRENT pass phrase", 5)
                .await
                .unwrap()
        );
        assert!(
            in_history(&db, &user_id, "ＣＵＲＲＥＮＴ pass phrase", 5)
                .await
                .unwrap()
        );
        assert!(
            !in_history(&db, &user_id, "current pass phrase", 5)
                .await
                .unwrap()
        );
        // Forgetting everything (history 0) empties the table for the account.
        remember(&db, &user_id, &current, chrono::DateTime::UNIX_EPOCH, 5)
            .await
            .unwrap();
        assert_eq!(history_count(&db, &user_id).await, 1);
        remember(&db, &user_id, &current, chrono::DateTime::UNIX_EPOCH, 0)
            .await
            .unwrap();
        assert_eq!(history_count(&db, &user_id).await, 0);
    }
}
