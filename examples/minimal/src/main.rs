//! A provider in a few dozen lines: SQLite, one client, one user, nested into an existing axum app
//! under `/iam`.
//!
//! ```text
//! cargo run -p example-minimal
//! # then open http://127.0.0.1:3000/iam/.well-known/openid-configuration
//! ```

use axum::{Router, routing::get};
use oidc_core::{Error, NewClient, NewUser, Provider, ProviderConfig};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = ProviderConfig::builder("http://127.0.0.1:3000/iam").build()?;
    let provider = Provider::builder(config, "sqlite://example-minimal.db")
        .build()
        .await?;

    match provider
        .create_user(NewUser {
            username: "demo".into(),
            email: "demo@example.org".into(),
            name: Some("Demo User".into()),
            roles: vec![],
            password: Some("demo password 123".into()),
        })
        .await
    {
        Ok(_) | Err(Error::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    if !provider
        .list_clients()
        .await?
        .iter()
        .any(|c| c.name == "Example app")
    {
        let reg = provider
            .register_client(
                NewClient::new("Example app", ["http://127.0.0.1:4000/callback"]).first_party(true),
            )
            .await?;
        let secret = reg
            .client_secret
            .as_ref()
            .map(|s| s.secret().to_string())
            .unwrap_or_default();
        println!("client_id={} client_secret={secret}", reg.client.client_id);
    }

    // The host application's own routes, with the provider nested under its issuer path.
    let app = Router::new()
        .route(
            "/",
            get(|| async { "The host app. The provider lives under /iam." }),
        )
        .nest("/iam", provider.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    axum::serve(listener, app)
        .await
        .map_err(|e| Error::Internal(e.to_string()))
}
