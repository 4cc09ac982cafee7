//! The `scope` parameter (RFC 6749 §3.3): a set of case-sensitive tokens, space-delimited, each
//! `1*NQCHAR` (`%x21 / %x23-5B / %x5D-7E`: printable ASCII except space, `"` and `\`).

use std::fmt;

/// The longest `scope` value accepted (a bound on what one request may make the provider hold).
pub const MAX_SCOPE_LEN: usize = 2048;

/// A set of scope tokens, in the order first given, without repeats.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(Vec<String>);

/// Why a `scope` value was refused (RFC 6749 §5.2 `invalid_scope`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeError {
    /// Longer than [`MAX_SCOPE_LEN`].
    TooLong,
    /// A token with a character outside NQCHAR.
    BadToken(String),
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScopeError::TooLong => f.write_str("scope is too long"),
            ScopeError::BadToken(t) => write!(f, "scope token {t:?} is not allowed (RFC 6749 3.3)"),
        }
    }
}

fn is_nqchar(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

impl Scope {
    /// Parses a `scope` value: tokens separated by spaces (several spaces count as one), each of
    /// NQCHARs; repeats are dropped.
    pub fn parse(raw: &str) -> Result<Scope, ScopeError> {
        if raw.len() > MAX_SCOPE_LEN {
            return Err(ScopeError::TooLong);
        }
        let mut out: Vec<String> = Vec::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if !token.chars().all(is_nqchar) {
                return Err(ScopeError::BadToken(token.to_string()));
            }
            if !out.iter().any(|o| o == token) {
                out.push(token.to_string());
            }
        }
        Ok(Scope(out))
    }

    /// Whether it holds `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.0.iter().any(|t| t == token)
    }

    /// Whether every token is also in `other` (a refresh may only narrow, RFC 6749 §6).
    pub fn is_within(&self, other: &Scope) -> bool {
        self.0.iter().all(|t| other.contains(t))
    }

    /// The first token not in `allowed`, if any.
    pub fn first_outside<'a>(&'a self, allowed: &Scope) -> Option<&'a str> {
        self.0
            .iter()
            .find(|t| !allowed.contains(t))
            .map(String::as_str)
    }

    /// The tokens, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// Whether it holds no token.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Scope {
    /// The space-delimited value, as it goes into a response or a token's `scope` claim.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_3_3_tokens_are_space_delimited_case_sensitive_and_a_set() {
        let s = Scope::parse("openid  profile Profile openid").unwrap();
        assert_eq!(s.to_string(), "openid profile Profile");
        assert!(s.contains("Profile") && s.contains("profile"));
        assert!(Scope::parse("").unwrap().is_empty());
    }

    #[test]
    fn rfc6749_3_3_only_nqchar_tokens() {
        // %x21, %x23-5B, %x5D-7E: "!" and "~" are in; '"', '\' and controls are out.
        assert!(Scope::parse("! # [ ] ~ a:b/c").is_ok());
        for bad in ["a\"b", "a\\b", "a\tb", "é"] {
            assert_eq!(
                Scope::parse(bad),
                Err(ScopeError::BadToken(bad.to_string())),
                "{bad}"
            );
        }
        assert_eq!(Scope::parse(&"a ".repeat(1025)), Err(ScopeError::TooLong));
    }

    #[test]
    fn rfc6749_6_a_refresh_may_only_narrow() {
        let granted = Scope::parse("openid profile offline_access").unwrap();
        assert!(Scope::parse("openid").unwrap().is_within(&granted));
        let wider = Scope::parse("openid email").unwrap();
        assert!(!wider.is_within(&granted));
        assert_eq!(wider.first_outside(&granted), Some("email"));
    }
}
