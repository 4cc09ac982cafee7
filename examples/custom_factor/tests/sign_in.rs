//! Signs in through the custom-factor example: password, then the code from the email.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../support/relying_party.rs"]
mod relying_party;

use std::sync::Arc;

use example_custom_factor::SUBJECT;
use oidc_core::notify::MemoryMailer;
use relying_party::{Rp, sign_in};

#[tokio::test]
async fn the_code_sent_by_the_mailer_is_the_second_factor() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("factor.db").display());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let mail = Arc::new(MemoryMailer::new());
    let (app, credentials) = example_custom_factor::app(&issuer, &db, mail.clone())
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
    let rp = Rp {
        issuer: &issuer,
        client_id: &client_id,
        client_secret: &secret,
        redirect_uri: "http://127.0.0.1:4000/callback",
        scopes: &["email"],
    };

    let signed_in = sign_in(&rp, "demo", "quiet river lantern 7", async |page: &str| {
        assert!(
            page.contains("Enter the 6-digit code we sent to your email address."),
            "{page}"
        );
        let codes: Vec<_> = mail
            .take()
            .into_iter()
            .filter(|m| m.subject == SUBJECT)
            .collect();
        assert_eq!(codes.len(), 1, "one message: {codes:?}");
        assert_eq!(codes[0].to, "demo@example.org");
        let code: String = codes[0]
            .body
            .chars()
            .filter(char::is_ascii_digit)
            .take(6)
            .collect();
        assert_eq!(code.len(), 6, "{}", codes[0].body);
        code
    })
    .await;
    assert_eq!(
        signed_in.id_token["amr"],
        serde_json::json!(["pwd", "otp", "mfa"])
    );
    assert_eq!(signed_in.id_token["acr"], oidc_core::mfa::ACR_PASSWORD_OTP);
    assert_eq!(signed_in.userinfo["email"], "demo@example.org");
}
