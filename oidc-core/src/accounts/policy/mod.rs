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

use unicode_normalization::UnicodeNormalization;

mod blocklist;
mod history;

use blocklist::blocklist;
pub(crate) use history::{in_history, remember_in};

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

#[cfg(test)]
mod tests;
