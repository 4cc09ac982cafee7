//! Signs in through the custom-claims example: the roles come from the outside file, change with
//! it, and are left out (the sign-in still works) when it cannot be read.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../support/relying_party.rs"]
mod relying_party;

use relying_party::{Rp, no_passcode, sign_in};
use serde_json::json;

#[tokio::test]
async fn roles_from_the_outside_source_reach_id_token_and_userinfo() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("claims.db").display());
    let roles = dir.path().join("roles.json");
    std::fs::write(
        &roles,
        r#"{"demo": {"roles": ["registry.editor"], "department": "Primary Care"}}"#,
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let (app, credentials) = example_custom_claims::app(&issuer, &db, roles.clone())
        .await
        .unwrap();
    let (client_id, secret) = credentials.unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let rp = |scopes| Rp {
        issuer: &issuer,
        client_id: &client_id,
        client_secret: &secret,
        redirect_uri: "http://127.0.0.1:4000/callback",
        scopes,
    };

    let signed_in = sign_in(
        &rp(&["roles"]),
        "demo",
        "quiet river lantern 7",
        no_passcode,
    )
    .await;
    assert_eq!(signed_in.id_token["roles"], json!(["registry.editor"]));
    assert!(
        signed_in.id_token.get("department").is_none(),
        "{}",
        signed_in.id_token
    );
    assert_eq!(signed_in.userinfo["roles"], json!(["registry.editor"]));
    assert_eq!(signed_in.userinfo["department"], "Primary Care");

    // Without the `roles` scope the hook adds nothing.
    let signed_in = sign_in(&rp(&[]), "demo", "quiet river lantern 7", no_passcode).await;
    assert!(
        signed_in.id_token.get("roles").is_none(),
        "{}",
        signed_in.id_token
    );
    assert!(
        signed_in.userinfo.get("department").is_none(),
        "{}",
        signed_in.userinfo
    );

    // A change in the source shows in the next sign-in.
    std::fs::write(&roles, r#"{"demo": {"roles": ["registry.viewer"]}}"#).unwrap();
    let signed_in = sign_in(
        &rp(&["roles"]),
        "demo",
        "quiet river lantern 7",
        no_passcode,
    )
    .await;
    assert_eq!(signed_in.id_token["roles"], json!(["registry.viewer"]));

    // The source is unreadable: the sign-in works, without its claims (the account's own roles,
    // none here, at userinfo).
    std::fs::write(&roles, "not json").unwrap();
    let signed_in = sign_in(
        &rp(&["roles"]),
        "demo",
        "quiet river lantern 7",
        no_passcode,
    )
    .await;
    assert!(
        signed_in.id_token.get("roles").is_none(),
        "{}",
        signed_in.id_token
    );
    assert_eq!(signed_in.userinfo["roles"], json!([]));
    assert!(
        signed_in.userinfo.get("department").is_none(),
        "{}",
        signed_in.userinfo
    );
}
