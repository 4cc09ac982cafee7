//! The claims hook: extra claims about a person from a source of the developer's own (roles from
//! another system, a department, an employee number), added to the ID token and the userinfo
//! response.
//!
//! Register one [`ClaimsSource`] with
//! [`ProviderBuilder::claims_source`](crate::ProviderBuilder::claims_source). The provider asks
//! it each time it releases claims about a person: once per ID token (at the code exchange and at
//! every refresh) and once per userinfo request, never for application-only tokens
//! (`client_credentials`) and never for the access token, which carries no claims about the person
//! beyond `sub`.
//!
//! ## What the provider does with the answer
//! - The claims are added after the provider's own: a hook's value replaces a claim of the
//!   granted scopes (`name`, `email`, `roles`, …), so a hook can supply `roles` from elsewhere.
//! - The claims that make a token what it is are never taken from a hook, whatever it returns:
//!   [`PROTECTED_CLAIMS`] (`iss`, `sub`, `aud`, `exp`, `iat`, `auth_time`, `nonce`, `acr`, `amr`,
//!   `azp`, `at_hash`, `sid`, and `nbf`, `jti`, `c_hash`, `s_hash`). They are dropped, with a
//!   warning in the log.
//! - **A failing hook does not fail the sign-in**: when [`ClaimsSource::claims`] returns an
//!   error, the provider logs it (`error` level, with the client id and the target; never in a
//!   response) and releases the token or the userinfo answer **without** the hook's claims. A
//!   hook failure at the token endpoint would otherwise burn the single-use code or the rotated
//!   refresh token, and sign the person out for a passing outage of the other system. The
//!   consequence to design for: a relying party must treat a missing custom claim as "nothing
//!   granted" (an allow-list such as roles is safe; never put a deny-list, such as a
//!   `suspended` flag, in a hook's claims). A hook that prefers another fallback (a cached
//!   value) implements it itself and returns `Ok`.
//! - The hook runs inside the request: keep it fast (time out calls to other systems well under
//!   a second) and cache what you can.
//!
//! ```
//! use oidc_core::claims::{Claims, ClaimsContext, ClaimsSource, ClaimsTarget};
//! use oidc_core::mfa::BoxFuture;
//!
//! /// Roles from a directory of the developer's own (here: a fixed table).
//! struct DirectoryRoles;
//!
//! impl ClaimsSource for DirectoryRoles {
//!     fn claims<'a>(&'a self, cx: &'a ClaimsContext<'a>) -> BoxFuture<'a, Result<Claims, oidc_core::Error>> {
//!         Box::pin(async move {
//!             let mut out = Claims::new();
//!             // Only for clients that were granted the `roles` scope.
//!             if cx.scopes.iter().any(|s| s == "roles") {
//!                 let roles = if cx.user.username == "nakitt" { vec!["registry.editor"] } else { vec![] };
//!                 out.insert("roles".into(), serde_json::json!(roles));
//!             }
//!             if cx.target == ClaimsTarget::Userinfo {
//!                 out.insert("department".into(), serde_json::json!("Primary Care"));
//!             }
//!             Ok(out)
//!         })
//!     }
//! }
//! ```

use serde_json::{Map, Value};

use crate::accounts::User;
use crate::error::Error;
use crate::mfa::BoxFuture;

/// A set of claims by name (a JSON object).
pub type Claims = Map<String, Value>;

/// The claims a [`ClaimsSource`] can never set: the provider's own, which say who issued the
/// token, for whom, to whom, when, and how the person authenticated. Whatever a hook returns for
/// these is dropped.
pub const PROTECTED_CLAIMS: [&str; 16] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "at_hash",
    "sid",
    "nbf",
    "jti",
    "c_hash",
    "s_hash",
];

/// Where the claims are going.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsTarget {
    /// An ID token (at the code exchange or a refresh). Every relying party library reads it;
    /// keep it small.
    IdToken,
    /// The userinfo response (OIDC Core §5.3), fetched with the access token.
    Userinfo,
}

/// What the provider knows when it asks a [`ClaimsSource`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClaimsContext<'a> {
    /// The account the claims are about (active: a disabled account gets no tokens).
    pub user: &'a User,
    /// The `client_id` of the relying party that receives them.
    pub client_id: &'a str,
    /// The scopes granted to the relying party for this token (always including `openid`).
    pub scopes: &'a [String],
    /// Whether they go into an ID token or the userinfo response.
    pub target: ClaimsTarget,
}

/// A source of extra claims about a person: the claims hook. See the [module](self) for what the
/// provider does with the answer.
pub trait ClaimsSource: Send + Sync + 'static {
    /// The extra claims for this person, relying party and target; an empty map for none.
    ///
    /// # Errors
    /// When the source cannot answer (its system is down, a timeout). The provider then releases
    /// the token or userinfo answer without the hook's claims and logs the error; the message
    /// never reaches a client.
    fn claims<'a>(&'a self, context: &'a ClaimsContext<'a>)
    -> BoxFuture<'a, Result<Claims, Error>>;
}

/// Asks `source` and keeps what a hook may set: the protected claims are dropped (with a warning),
/// and an error yields no claims (logged, never shown).
pub(crate) async fn ask(source: &dyn ClaimsSource, context: &ClaimsContext<'_>) -> Claims {
    match source.claims(context).await {
        Ok(mut claims) => {
            let dropped: Vec<&str> = PROTECTED_CLAIMS
                .into_iter()
                .filter(|c| claims.remove(*c).is_some())
                .collect();
            if !dropped.is_empty() {
                tracing::warn!(
                    client_id = context.client_id,
                    ?dropped,
                    "the claims source returned protected claims: they were dropped"
                );
            }
            claims
        }
        Err(e) => {
            tracing::error!(
                error = %e,
                client_id = context.client_id,
                target = ?context.target,
                "the claims source failed: its claims are left out"
            );
            Claims::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Fixed(Result<Claims, ()>);

    impl ClaimsSource for Fixed {
        fn claims<'a>(&'a self, _: &'a ClaimsContext<'a>) -> BoxFuture<'a, Result<Claims, Error>> {
            Box::pin(async move {
                self.0
                    .clone()
                    .map_err(|()| Error::Internal("directory at 10.0.0.7 refused".into()))
            })
        }
    }

    fn user() -> User {
        User {
            id: "u".into(),
            subject: "s".into(),
            username: "nakitt".into(),
            email: "n@example.org".into(),
            name: None,
            roles: vec![],
            disabled: false,
        }
    }

    #[tokio::test]
    async fn protected_claims_are_dropped_and_errors_yield_nothing() {
        let user = user();
        let scopes = vec!["openid".to_string()];
        let cx = ClaimsContext {
            user: &user,
            client_id: "c",
            scopes: &scopes,
            target: ClaimsTarget::IdToken,
        };
        let mut returned = Claims::new();
        for c in PROTECTED_CLAIMS {
            returned.insert(c.into(), json!("forged"));
        }
        returned.insert("roles".into(), json!(["editor"]));
        let kept = ask(&Fixed(Ok(returned)), &cx).await;
        assert_eq!(
            kept,
            json!({"roles": ["editor"]}).as_object().cloned().unwrap()
        );
        assert!(ask(&Fixed(Err(())), &cx).await.is_empty());
    }
}
