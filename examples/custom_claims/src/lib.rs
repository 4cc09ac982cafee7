//! Custom claims: roles from an outside source, through the claims hook
//! ([`ClaimsSource`]).
//!
//! ```text
//! cargo run -p example-custom-claims
//! ```
//!
//! serves a provider on <http://127.0.0.1:3002> whose ID tokens and userinfo answers carry the
//! `roles` that `roles.json` (in the current directory) lists for the person, in place of the
//! account's own, and userinfo also their `department`:
//!
//! ```json
//! { "demo": { "roles": ["registry.editor"], "department": "Primary Care" } }
//! ```
//!
//! The file stands for any other system (a directory, an HR database, an entitlement service):
//! it is read at every release, so a change shows in the next token. When it cannot be read the
//! provider still signs the person in, without these claims (and logs the error): a relying
//! party that authorizes by role then grants nothing, which is why a hook only ever adds
//! permissions, never takes them away. The hook cannot touch `iss`, `sub`, `aud`, `exp`, `nonce`,
//! `acr`, `amr` and the other protected claims.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use oidc_core::claims::{Claims, ClaimsContext, ClaimsSource, ClaimsTarget};
use oidc_core::mfa::BoxFuture;
use oidc_core::{Error, NewClient, NewUser, Provider, ProviderConfig};
use serde_json::Value;

/// Roles and department by username, from a JSON file.
pub struct RolesFile(pub PathBuf);

impl ClaimsSource for RolesFile {
    fn claims<'a>(&'a self, cx: &'a ClaimsContext<'a>) -> BoxFuture<'a, Result<Claims, Error>> {
        Box::pin(async move {
            let mut out = Claims::new();
            // Only a relying party granted the `roles` scope learns the roles.
            if !cx.scopes.iter().any(|s| s == "roles") {
                return Ok(out);
            }
            let unreadable = |e: String| Error::Unavailable(format!("{}: {e}", self.0.display()));
            let text = tokio::fs::read_to_string(&self.0)
                .await
                .map_err(|e| unreadable(e.to_string()))?;
            let all: Value = serde_json::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
            let person = &all[cx.user.username.as_str()];
            out.insert(
                "roles".into(),
                person.get("roles").cloned().unwrap_or(Value::Array(vec![])),
            );
            // The department only at userinfo: ID tokens stay small.
            if let (ClaimsTarget::Userinfo, Some(d)) = (cx.target, person.get("department")) {
                out.insert("department".into(), d.clone());
            }
            Ok(out)
        })
    }
}

/// The provider with the hook, one user and one client (its id and secret, on a new database).
pub async fn app(
    issuer: &str,
    database_url: &str,
    roles_file: PathBuf,
) -> Result<(Router, Option<(String, String)>), Error> {
    let config = ProviderConfig::builder(issuer).build()?;
    let provider = Provider::builder(config, database_url)
        .claims_source(Arc::new(RolesFile(roles_file)))
        .build()
        .await?;
    let user = NewUser {
        username: "demo".into(),
        email: "demo@example.org".into(),
        name: Some("Demo User".into()),
        roles: vec![],
        password: Some("quiet river lantern 7".into()),
    };
    match provider.create_user(user).await {
        Ok(_) | Err(Error::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    let mut credentials = None;
    if provider
        .list_clients()
        .await?
        .iter()
        .all(|c| c.name != "Example app")
    {
        let client = NewClient::new("Example app", ["http://127.0.0.1:4000/callback"])
            .first_party(true)
            .mfa_required(false);
        let reg = provider.register_client(client).await?;
        let secret = reg
            .client_secret
            .map(|s| s.secret().to_string())
            .unwrap_or_default();
        credentials = Some((reg.client.client_id, secret));
    }
    Ok((provider.router(), credentials))
}
