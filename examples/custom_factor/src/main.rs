//! Serves the custom-factor example on <http://127.0.0.1:3001>; mail goes to `./outbox/`.

use std::sync::Arc;

use oidc_core::Error;
use oidc_core::notify::FileOutbox;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mailer = Arc::new(FileOutbox::new("outbox", "iam@example.org")?);
    let (app, credentials) = example_custom_factor::app(
        "http://127.0.0.1:3001",
        "sqlite://example-custom-factor.db",
        mailer,
    )
    .await?;
    if let Some((id, secret)) = credentials {
        println!("client_id={id} client_secret={secret}");
    }
    println!("Sign in as demo / quiet river lantern 7; the code is mailed to ./outbox/");
    let io = |e: std::io::Error| Error::Internal(e.to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001")
        .await
        .map_err(io)?;
    // The peer address feeds the sign-in throttle.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await.map_err(io)
}
