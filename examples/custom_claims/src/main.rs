//! Serves the custom-claims example on <http://127.0.0.1:3002>, with roles from `./roles.json`.

use oidc_core::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (app, credentials) = example_custom_claims::app(
        "http://127.0.0.1:3002",
        "sqlite://example-custom-claims.db",
        "roles.json".into(),
    )
    .await?;
    if let Some((id, secret)) = credentials {
        println!("client_id={id} client_secret={secret}");
    }
    println!("Sign in as demo / quiet river lantern 7 with the scopes openid roles");
    let io = |e: std::io::Error| Error::Internal(e.to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3002")
        .await
        .map_err(io)?;
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await.map_err(io)
}
