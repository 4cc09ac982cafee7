//! Signs in through two replicas behind one issuer: every request of the sign-in goes to the
//! other replica than the one before. On PostgreSQL when `TEST_DATABASE_URL` is set (a fresh
//! database, dropped afterwards), else on one SQLite file both replicas open.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../support/relying_party.rs"]
mod relying_party;

use std::sync::atomic::Ordering;

use diesel::{Connection, PgConnection, RunQueryDsl};
use oidc_core::{NewClient, NewUser};
use relying_party::{Rp, no_passcode, sign_in};

/// A database both replicas open: `(url, what to drop afterwards)`.
fn database(dir: &std::path::Path) -> (String, Option<(String, String)>) {
    match std::env::var("TEST_DATABASE_URL") {
        Ok(admin) if !admin.trim().is_empty() => {
            let name = format!("example_pg_{}", uuid::Uuid::new_v4().simple());
            let mut conn = PgConnection::establish(&admin).unwrap();
            diesel::sql_query(format!("CREATE DATABASE {name}"))
                .execute(&mut conn)
                .unwrap();
            let mut url = url::Url::parse(&admin).unwrap();
            url.set_path(&format!("/{name}"));
            println!("example-postgres: two replicas on PostgreSQL ({name} at {admin})");
            (url.to_string(), Some((admin, name)))
        }
        _ => {
            let url = format!("sqlite://{}", dir.join("shared.db").display());
            println!(
                "example-postgres: two replicas on a shared SQLite file (set TEST_DATABASE_URL for PostgreSQL)"
            );
            (url, None)
        }
    }
}

#[tokio::test]
async fn a_sign_in_crosses_both_replicas_behind_one_issuer() {
    let dir = tempfile::tempdir().unwrap();
    let (db, drop_after) = database(dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let kek = example_postgres::key_encryption_key().unwrap();
    // Started together, as replicas do: migrations and the first keys are made once.
    let (a, b) = tokio::join!(
        example_postgres::replica(&issuer, &db, kek),
        example_postgres::replica(&issuer, &db, kek)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.list_keys().await.unwrap().len(),
        b.list_keys().await.unwrap().len()
    );

    // The user on one replica, the client on the other.
    a.create_user(NewUser {
        username: "demo".into(),
        email: "demo@example.org".into(),
        name: Some("Demo User".into()),
        roles: vec![],
        password: Some("quiet river lantern 7".into()),
    })
    .await
    .unwrap();
    let reg = b
        .register_client(
            NewClient::new("Example app", ["http://127.0.0.1:4000/callback"])
                .first_party(true)
                .mfa_required(false),
        )
        .await
        .unwrap();
    let (app, served) = example_postgres::balancer(&[a.clone(), b.clone()]);
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap()
    });

    let secret = reg.client_secret.as_ref().unwrap().secret().to_string();
    let rp = Rp {
        issuer: &issuer,
        client_id: &reg.client.client_id,
        client_secret: &secret,
        redirect_uri: "http://127.0.0.1:4000/callback",
        scopes: &["profile"],
    };
    for _ in 0..2 {
        let signed_in = sign_in(&rp, "demo", "quiet river lantern 7", no_passcode).await;
        assert_eq!(signed_in.id_token["iss"], issuer.as_str());
        assert_eq!(signed_in.userinfo["preferred_username"], "demo");
    }
    let (on_a, on_b) = (
        served[0].load(Ordering::Relaxed),
        served[1].load(Ordering::Relaxed),
    );
    println!("requests served: replica a {on_a}, replica b {on_b}");
    assert!(
        on_a >= 5 && on_b >= 5 && on_a.abs_diff(on_b) <= 1,
        "{on_a} / {on_b}"
    );

    server.abort();
    a.stop_background_tasks();
    b.stop_background_tasks();
    drop((a, b));
    if let Some((admin, name)) = drop_after {
        let mut conn = PgConnection::establish(&admin).unwrap();
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .unwrap();
    }
}
