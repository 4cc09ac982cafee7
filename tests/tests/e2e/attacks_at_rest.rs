//! A copy of the database is worth nothing without the key-encryption key (KEK): signing keys,
//! token seeds and the audit key rest sealed under it, the provider refuses to start with
//! another key, and `rotate_key_encryption_key` (`oidc-server keys rotate-kek`) moves everything
//! to a new key in one transaction, after which the old key opens nothing.

use crate::common::replicas::SharedDb;
use diesel::{Connection, RunQueryDsl};
use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use oidc_core::{Actor, Provider, ProviderConfig};

const ISSUER: &str = "http://127.0.0.1:9";
const OLD: [u8; 32] = [0x11; 32];
const NEW: [u8; 32] = [0x22; 32];
const SEED: &[u8] = b"12345678901234567890";

#[derive(diesel::QueryableByName)]
struct Blob {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    value: Vec<u8>,
}

/// Every stored secret blob (private keys, seeds), read straight from the database.
fn blobs(url: &str) -> Vec<Vec<u8>> {
    let q = "SELECT private_key AS value FROM signing_keys UNION ALL SELECT secret AS value FROM otp_tokens";
    let rows: Vec<Blob> = if url.starts_with("postgres") {
        let mut c = diesel::PgConnection::establish(url).unwrap();
        diesel::sql_query(q).load(&mut c).unwrap()
    } else {
        let path = url.trim_start_matches("sqlite://");
        let mut c = diesel::SqliteConnection::establish(path).unwrap();
        diesel::sql_query(q).load(&mut c).unwrap()
    };
    rows.into_iter().map(|b| b.value).collect()
}

async fn start(
    db: &SharedDb,
    current: [u8; 32],
    previous: &[[u8; 32]],
) -> Result<Provider, oidc_core::Error> {
    let config = ProviderConfig::builder(ISSUER)
        .key_encryption_key(current)
        .previous_key_encryption_keys(previous.to_vec())
        .build()
        .unwrap();
    Provider::builder(config, db.url.clone())
        .background_tasks(false)
        .build()
        .await
}

/// The codes of this step and the one before (the provider may have read its clock just before
/// a step boundary).
fn codes_now() -> Vec<String> {
    #[allow(clippy::disallowed_methods)] // the providers here run on the system clock
    let step = time_step(chrono::Utc::now().timestamp(), 30);
    [step, step - 1]
        .iter()
        .map(|s| totp_at_step(SEED, *s, 6, OtpAlgorithm::Sha1).unwrap())
        .collect()
}

/// RFC 9700 §4.13-style defence in depth and the issue's "secrets at rest": no seed or private key
/// is stored in the clear; a provider with another KEK refuses to start (before any sign-in could
/// fail on a seed); a rotation with the old key as previous re-seals everything in one go and
/// keeps the signing keys, the seeds and the audit chain working; the old key then opens nothing.
#[tokio::test]
async fn secrets_rest_sealed_and_a_kek_rotation_moves_all_of_them_to_the_new_key() {
    let db = SharedDb::create();
    let old = start(&db, OLD, &[]).await.expect("first start");
    old.create_user(oidc_core::NewUser {
        username: "sealed.user".into(),
        email: "sealed@example.org".into(),
        name: None,
        roles: vec![],
        password: Some("correct horse battery staple".into()),
    })
    .await
    .unwrap();
    let hex: String = SEED.iter().map(|b| format!("{b:02x}")).collect();
    old.import_tokens(format!("KEK-0001,{hex}\n").as_bytes(), None, false)
        .await
        .unwrap();
    old.add_soft_token("sealed.user", None, false)
        .await
        .unwrap();
    old.record_audit(
        &Actor::BreakGlass,
        "test.before_rotation",
        None,
        serde_json::json!({}),
    )
    .await
    .unwrap();
    let kids: Vec<String> = old
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    drop(old);

    // At rest: nothing in the clear (the seed's bytes appear in no blob).
    let stored = blobs(&db.url);
    assert_eq!(stored.len(), kids.len() + 2, "every key and both seeds");
    assert!(
        stored
            .iter()
            .all(|b| !b.windows(SEED.len()).any(|w| w == SEED)),
        "a seed is stored in the clear"
    );

    // Another key alone: refused at start, with the reason.
    let err = start(&db, NEW, &[]).await.err().expect("must refuse");
    assert!(
        err.to_string()
            .contains("not the one this database's secrets are sealed under"),
        "{err}"
    );

    // The rotation: new key current, old key previous.
    let mid = start(&db, NEW, &[OLD])
        .await
        .expect("starts during the rotation");
    let done = mid.rotate_key_encryption_key().await.unwrap();
    let by_column: Vec<(String, usize, usize)> = done
        .columns
        .iter()
        .map(|c| (c.column.clone(), c.values, c.from_previous))
        .collect();
    // Columns sealed by other features (`secret::SEALED_AT_REST`) follow these three.
    assert_eq!(
        by_column[..3],
        [
            (
                "signing_keys.private_key".to_string(),
                kids.len(),
                kids.len()
            ),
            ("otp_tokens.secret".to_string(), 2, 2),
            ("meta (kek_check, audit_key)".to_string(), 2, 2),
        ]
    );
    // Every blob changed (fresh nonces under the new key).
    let after = blobs(&db.url);
    assert!(after.iter().all(|b| !stored.contains(b)));
    // Run again: all already under the new key.
    let again = mid.rotate_key_encryption_key().await.unwrap();
    assert!(
        again.columns.iter().all(|c| c.from_previous == 0),
        "{again:?}"
    );
    drop(mid);

    // The new key alone: starts, signs with the same keys, verifies the seed, keeps the chain.
    let new = start(&db, NEW, &[])
        .await
        .expect("starts on the new key alone");
    let kids_after: Vec<String> = new
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids_after, kids, "the same signing keys");
    // The seed opens under the new key: the provider computes the token's current code.
    let code = new.current_tokencode("KEK-0001", true).await.unwrap();
    assert!(codes_now().contains(&code), "{code}");
    let report = new.verify_audit_log().await.unwrap();
    assert_eq!(report.first_broken, None, "{report:?}");
    new.record_audit(
        &Actor::BreakGlass,
        "test.after_rotation",
        None,
        serde_json::json!({}),
    )
    .await
    .unwrap();
    assert_eq!(new.verify_audit_log().await.unwrap().first_broken, None);
    drop(new);

    // The old key opens nothing any more.
    let err = start(&db, OLD, &[])
        .await
        .err()
        .expect("the old key is refused");
    assert!(err.to_string().contains("not the one"), "{err}");
}
