//! The blocklist of common passwords, compiled into the crate.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The blocklist, one lower-case password a line (source and licence: `data/README.md`).
const BLOCKLIST: &str = include_str!("../../../data/common-passwords.txt");

/// The blocklist as a set, built on first use.
pub(super) fn blocklist() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| {
        BLOCKLIST
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::super::folded;
    use super::*;

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
}
