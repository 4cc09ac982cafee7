//! Serves the minimal example on <http://127.0.0.1:3000> (the provider under `/iam`), over
//! `example-minimal.db` in the current directory.

use oidc_core::Error;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (app, credentials) =
        example_minimal::app("http://127.0.0.1:3000/iam", "sqlite://example-minimal.db").await?;
    if let Some((id, secret)) = credentials {
        println!("client_id={id} client_secret={secret}");
    }
    let io = |e: std::io::Error| Error::Internal(e.to_string());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000")
        .await
        .map_err(io)?;
    // The peer address feeds the sign-in throttle.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await.map_err(io)
}
