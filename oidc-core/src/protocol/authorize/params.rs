//! The raw parameters of an authorization request, and the language-tag lists among them.

use std::collections::HashMap;

/// The longest `ui_locales` or `claims_locales` value accepted.
const MAX_LOCALES: usize = 256;

/// Is `tag` shaped like a BCP 47 language tag (RFC 5646 §2.1: alphanumeric subtags of 1 to 8
/// characters, the first alphabetic)? Only the shape is checked: pages are in English whatever
/// is asked, which §3.1.2.1 allows ("an error SHOULD NOT result").
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A space-separated list of language tags (`ui_locales`, `claims_locales`).
pub(super) fn locales(raw: Option<&str>, name: &str) -> Result<Vec<String>, String> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if raw.len() > MAX_LOCALES {
        return Err(format!("{name} is too long"));
    }
    let tags: Vec<String> = raw
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    match tags.iter().find(|t| !is_language_tag(t)) {
        Some(bad) => Err(format!("{name} value {bad:?} is not a BCP 47 language tag")),
        None => Ok(tags),
    }
}

/// The parameters as sent, each at most once (RFC 6749 §3.1: "Request and response parameters
/// MUST NOT be included more than once").
#[derive(Debug, Clone, Default)]
pub struct RawParams {
    map: HashMap<String, String>,
    pub(super) duplicated: Vec<String>,
}

impl RawParams {
    /// Collects decoded `name=value` pairs. Parameters sent without a value are treated as
    /// omitted (RFC 6749 §3.1).
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut raw = RawParams::default();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            match raw.map.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    if !raw.duplicated.contains(e.key()) {
                        raw.duplicated.push(e.key().clone());
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        raw
    }

    /// One parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// Every parameter with its value (a repeated one with its first value), in no particular
    /// order: what a pushed request keeps once [`validate`](super::validate) accepted it.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The names of parameters sent more than once, in the order first seen.
    pub fn duplicated(&self) -> &[String] {
        &self.duplicated
    }

    pub(super) fn dup(&self, name: &str) -> bool {
        self.duplicated.iter().any(|d| d == name)
    }
}
