//! Signs in through the minimal example: the provider nested under `/iam` of the host app.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../support/relying_party.rs"]
mod relying_party;

use relying_party::{Rp, no_passcode, sign_in};

#[tokio::test]
async fn a_relying_party_signs_in_through_the_provider_nested_under_iam() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("minimal.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let host = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{host}/iam");
    let (app, credentials) = example_minimal::app(&issuer, &db).await.unwrap();
    let (client_id, secret) = credentials.expect("a new database registers the client");
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The host app's own route is still there.
    let home = reqwest::get(format!("{host}/"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(home, "The host app. The provider lives under /iam.");

    let rp = Rp {
        issuer: &issuer,
        client_id: &client_id,
        client_secret: &secret,
        redirect_uri: "http://127.0.0.1:4000/callback",
        scopes: &["profile", "email"],
    };
    let signed_in = sign_in(&rp, "demo", "quiet river lantern 7", no_passcode).await;
    assert_eq!(signed_in.id_token["iss"], issuer.as_str());
    assert_eq!(signed_in.id_token["amr"], serde_json::json!(["pwd"]));
    assert_eq!(signed_in.userinfo["preferred_username"], "demo");
    assert_eq!(signed_in.userinfo["name"], "Demo User");
    assert_eq!(signed_in.userinfo["email"], "demo@example.org");

    // A second start over the same database keeps the user and the client.
    let (_, again) = example_minimal::app(&issuer, &db).await.unwrap();
    assert!(again.is_none());
}
