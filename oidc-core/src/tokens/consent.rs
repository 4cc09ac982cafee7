//! Consent (OIDC Core §3.1.2.4): what a person allowed a third-party client, remembered per
//! person and client until they revoke it at the portal. Revoking it also revokes every grant
//! of that client for that person, so its refresh tokens stop and its access tokens are refused
//! at userinfo and introspection.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::error::Error;
use crate::store::models::ConsentRow;
use crate::store::schema::{clients, consents, grants};
use crate::store::{Db, naive, utc};

/// What a person allowed a client: scopes (without `openid`) and claims asked for one by one
/// beyond those scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Allowed {
    pub scopes: Vec<String>,
    pub claims: Vec<String>,
}

impl Allowed {
    /// Does this consent cover a request for `scopes` and individual `claims`? A claim is
    /// covered by its own consent or by the consented scope that carries it.
    pub(crate) fn covers(&self, scopes: &[&str], claims: &[&str]) -> bool {
        scopes.iter().all(|s| self.scopes.iter().any(|x| x == s))
            && claims.iter().all(|c| {
                self.claims.iter().any(|x| x == c)
                    || super::claims::scope_of(c)
                        .is_some_and(|s| self.scopes.iter().any(|x| x == s))
            })
    }

    fn merge(&mut self, scopes: &[&str], claims: &[&str]) {
        for s in scopes {
            if !self.scopes.iter().any(|x| x == s) {
                self.scopes.push((*s).to_string());
            }
        }
        for c in claims {
            if !self.claims.iter().any(|x| x == c) {
                self.claims.push((*c).to_string());
            }
        }
    }
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

/// The consent `user_id` gave `client_id`, if any.
pub(crate) async fn find(
    db: &Db,
    user_id: &str,
    client_id: &str,
) -> Result<Option<Allowed>, Error> {
    let key = (user_id.to_string(), client_id.to_string());
    db.run(move |conn| {
        let row: Option<ConsentRow> = consents::table
            .find(key)
            .select(ConsentRow::as_select())
            .first(conn)
            .optional()?;
        Ok(row.map(|r| Allowed {
            scopes: words(&r.scopes),
            claims: words(&r.claims),
        }))
    })
    .await
}

/// Records that `user_id` allowed `client_id` these scopes and claims, adding to what they
/// allowed before (a narrower request later must not take back what a wider one got).
pub(crate) async fn record(
    db: &Db,
    user_id: &str,
    client_id: &str,
    scopes: &[&str],
    claims: &[&str],
    now: DateTime<Utc>,
) -> Result<(), Error> {
    let key = (user_id.to_string(), client_id.to_string());
    let scopes: Vec<String> = scopes.iter().map(|s| (*s).to_string()).collect();
    let claims: Vec<String> = claims.iter().map(|s| (*s).to_string()).collect();
    db.write(move |conn| {
        let row: Option<ConsentRow> = consents::table
            .find(key.clone())
            .select(ConsentRow::as_select())
            .first(conn)
            .optional()?;
        let s: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let c: Vec<&str> = claims.iter().map(String::as_str).collect();
        match row {
            Some(r) => {
                let mut allowed = Allowed {
                    scopes: words(&r.scopes),
                    claims: words(&r.claims),
                };
                allowed.merge(&s, &c);
                diesel::update(consents::table.find(key))
                    .set((
                        consents::scopes.eq(allowed.scopes.join(" ")),
                        consents::claims.eq(allowed.claims.join(" ")),
                        consents::updated_at.eq(naive(now)),
                    ))
                    .execute(conn)?;
            }
            None => {
                diesel::insert_into(consents::table)
                    .values(&ConsentRow {
                        user_id: key.0,
                        client_id: key.1,
                        scopes: s.join(" "),
                        claims: c.join(" "),
                        created_at: naive(now),
                        updated_at: naive(now),
                    })
                    .execute(conn)?;
            }
        }
        Ok(())
    })
    .await
}

/// A consent as the portal lists it.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    pub client_id: String,
    pub client_name: String,
    pub allowed: Allowed,
    pub updated_at: DateTime<Utc>,
}

/// Every consent of `user_id`, most recent first.
pub(crate) async fn list(db: &Db, user_id: &str) -> Result<Vec<Listed>, Error> {
    let id = user_id.to_string();
    db.run(move |conn| {
        let rows: Vec<(ConsentRow, String)> = consents::table
            .inner_join(clients::table.on(clients::id.eq(consents::client_id)))
            .filter(consents::user_id.eq(id))
            .order(consents::updated_at.desc())
            .select((ConsentRow::as_select(), clients::name))
            .load(conn)?;
        Ok(rows
            .into_iter()
            .map(|(r, name)| Listed {
                client_id: r.client_id,
                client_name: name,
                allowed: Allowed {
                    scopes: words(&r.scopes),
                    claims: words(&r.claims),
                },
                updated_at: utc(r.updated_at),
            })
            .collect())
    })
    .await
}

/// Withdraws the consent and, in the same transaction, revokes every live grant of that client
/// for that person. Returns whether there was a consent to withdraw.
pub(crate) async fn revoke(
    db: &Db,
    user_id: &str,
    client_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let (user, client) = (user_id.to_string(), client_id.to_string());
    db.write(move |conn| {
        let deleted =
            diesel::delete(consents::table.find((user.clone(), client.clone()))).execute(conn)?;
        diesel::update(
            grants::table
                .filter(grants::user_id.eq(&user))
                .filter(grants::client_id.eq(&client))
                .filter(grants::revoked_at.is_null()),
        )
        .set(grants::revoked_at.eq(naive(now)))
        .execute(conn)?;
        Ok(deleted == 1)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consent_covers_its_scopes_their_claims_and_its_own_claims() {
        let a = Allowed {
            scopes: vec!["profile".into()],
            claims: vec!["email".into()],
        };
        assert!(a.covers(&[], &[]));
        assert!(a.covers(&["profile"], &["name", "email"]));
        assert!(!a.covers(&["profile", "email"], &[]));
        assert!(!a.covers(&[], &["roles"]));
        let mut b = a.clone();
        b.merge(&["roles"], &["email", "roles"]);
        assert_eq!(b.scopes, ["profile", "roles"]);
        assert_eq!(b.claims, ["email", "roles"]);
    }
}
