//! A provider in a few dozen lines: SQLite, one client, one user, nested into an existing axum
//! app under `/iam`. `main.rs` serves it on <http://127.0.0.1:3000>; the test signs in through it.
//!
//! ```text
//! cargo run -p example-minimal
//! curl http://127.0.0.1:3000/iam/.well-known/openid-configuration
//! ```
//!
//! Sign in as `demo` / `quiet river lantern 7` with any OpenID Connect client, using the printed
//! client id and secret and the redirect URI `http://127.0.0.1:4000/callback`. The client is
//! registered without the second factor: `examples/custom_factor` shows one.

use axum::{Router, routing::get};
use oidc_core::{Error, NewClient, NewUser, Provider, ProviderConfig};

/// The host application's routes with the provider under `/iam`, and the client's credentials
/// (`None` when the client was registered by an earlier run: its secret was shown then).
pub async fn app(
    issuer: &str,
    database_url: &str,
) -> Result<(Router, Option<(String, String)>), Error> {
    let config = ProviderConfig::builder(issuer).build()?;
    let provider = Provider::builder(config, database_url).build().await?;

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
    if !provider
        .list_clients()
        .await?
        .iter()
        .any(|c| c.name == "Example app")
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

    let app = Router::new()
        .route(
            "/",
            get(|| async { "The host app. The provider lives under /iam." }),
        )
        .nest("/iam", provider.router());
    Ok((app, credentials))
}
