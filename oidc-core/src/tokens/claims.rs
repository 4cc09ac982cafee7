//! Which facts about a person a token or the userinfo response carries: the claims of the
//! granted scopes (OIDC Core §5.4) and the claims asked for one by one with the `claims`
//! parameter (§5.5). Only claims this provider knows and the account has are ever released.

use serde_json::{Map, Value, json};

use crate::accounts::Account;
use crate::protocol::authorize::ClaimRequest;

/// The claims about a person this provider can release, each with the scope that covers it.
pub(crate) const USER_CLAIMS: [(&str, &str); 5] = [
    ("name", "profile"),
    ("preferred_username", "profile"),
    ("email", "email"),
    ("email_verified", "email"),
    ("roles", "roles"),
];

/// The scope that covers `claim`, when it is a claim about the person this provider knows.
pub(crate) fn scope_of(claim: &str) -> Option<&'static str> {
    USER_CLAIMS
        .iter()
        .find(|(c, _)| *c == claim)
        .map(|(_, scope)| *scope)
}

/// The person's claims, by name; a claim the account has no value for is absent.
pub(crate) fn values_of(user: &Account) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(n) = &user.name {
        out.insert("name".into(), json!(n));
    }
    out.insert("preferred_username".into(), json!(user.username));
    out.insert("email".into(), json!(user.email));
    // Addresses are registered by administrators from verified records.
    out.insert("email_verified".into(), json!(true));
    out.insert("roles".into(), json!(user.roles));
    out
}

/// The claims to release: those the `scopes` cover, and those `requested` one by one (the
/// consent, where one is needed, has already covered them). Unknown claims and claims the
/// person has no value for are left out (§5.5.1: the OP MAY omit claims it cannot supply).
pub(crate) fn release<'a>(
    values: &Map<String, Value>,
    scopes: &[&str],
    requested: impl IntoIterator<Item = (&'a String, &'a ClaimRequest)>,
) -> Map<String, Value> {
    let mut out = Map::new();
    for (claim, scope) in USER_CLAIMS {
        if scopes.contains(&scope)
            && let Some(v) = values.get(claim)
        {
            out.insert(claim.to_string(), v.clone());
        }
    }
    for (claim, _) in requested {
        if scope_of(claim).is_some()
            && let Some(v) = values.get(claim.as_str())
        {
            out.insert(claim.clone(), v.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn values() -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("preferred_username".into(), json!("nakitt"));
        m.insert("email".into(), json!("n@example.org"));
        m.insert("email_verified".into(), json!(true));
        m.insert("roles".into(), json!(["a"]));
        m
    }

    #[test]
    fn oidc_core_5_4_scopes_release_their_claims_only() {
        let out = release(&values(), &["openid", "email"], BTreeMap::new().iter());
        assert_eq!(out.keys().collect::<Vec<_>>(), ["email", "email_verified"]);
    }

    #[test]
    fn oidc_core_5_5_requested_claims_are_added_unknown_and_missing_ones_dropped() {
        let mut req = BTreeMap::new();
        for c in ["roles", "name", "phone_number", "sub"] {
            req.insert(c.to_string(), ClaimRequest::default());
        }
        let out = release(&values(), &["openid"], req.iter());
        // name: the account has none; phone_number: unknown; sub: not a claim released here.
        assert_eq!(out.keys().collect::<Vec<_>>(), ["roles"]);
    }
}
