//! Two replicas over `DATABASE_URL` behind a round-robin balancer on <http://127.0.0.1:3003>.

use oidc_core::{Error, NewClient, NewUser};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let issuer = "http://127.0.0.1:3003";
    let db = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/iam_example".into());
    let kek = example_postgres::key_encryption_key()?;
    let a = example_postgres::replica(issuer, &db, kek).await?;
    let b = example_postgres::replica(issuer, &db, kek).await?;

    // Administration goes through any replica: they share the database.
    let user = NewUser {
        username: "demo".into(),
        email: "demo@example.org".into(),
        name: Some("Demo User".into()),
        roles: vec![],
        password: Some("quiet river lantern 7".into()),
    };
    match a.create_user(user).await {
        Ok(_) | Err(Error::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    if b.list_clients()
        .await?
        .iter()
        .all(|c| c.name != "Example app")
    {
        let client = NewClient::new("Example app", ["http://127.0.0.1:4000/callback"])
            .first_party(true)
            .mfa_required(false);
        let reg = b.register_client(client).await?;
        let secret = reg
            .client_secret
            .map(|s| s.secret().to_string())
            .unwrap_or_default();
        println!("client_id={} client_secret={secret}", reg.client.client_id);
    }

    let (app, _) = example_postgres::balancer(&[a, b]);
    let io = |e: std::io::Error| Error::Internal(e.to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3003")
        .await
        .map_err(io)?;
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await.map_err(io)
}
