//! Signing keys: rotation with pre-publication and grace (OIDC Core §10.1.1, "Rotation of
//! Asymmetric Signing Keys": a new key goes into the JWKS before it is used, and verifiers look
//! keys up by `kid`), EdDSA (RFC 8037) per client (`id_token_signed_response_alg`, OpenID Connect
//! Dynamic Client Registration §2), atomic rotation among replicas sharing one database, and the
//! `keys` CLI.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::common::replicas::{self, Replica, SharedClock, SharedDb, shared_clock};
use crate::common::*;
use oidc_core::{KeyInfo, KeyState, NewClient, NewUser, Provider, ProviderConfig, SigningAlg};
use oidc_server::cli::{Cli, Command, KeysCommand};
use openidconnect::core::{CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{AccessTokenHash, ClientId, ClientSecret, IssuerUrl, Nonce};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

/// The defaults the tests move the clock by.
const PUBLISH_DELAY: i64 = 600;
const RETIRE_AFTER: i64 = 12 * 3600;
const POST_LOGOUT: &str = "http://127.0.0.1:9999/signed-out";

/// Rotation only when a test asks; ID tokens live 3 h so that one minted before a rotation is
/// still unexpired for the relying-party library after the clock moved past activation.
fn manual_rotation(c: oidc_core::ProviderConfigBuilder) -> oidc_core::ProviderConfigBuilder {
    c.key_rotation_interval(Duration::ZERO)
        .id_token_ttl(Duration::from_secs(3 * 3600))
}

async fn jwks(http: &reqwest::Client, base: &str) -> Value {
    let res = http.get(format!("{base}/jwks")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

fn kid_of(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_string()
}

/// A fresh browser signs the seeded user in to the seeded client; returns the token response.
async fn tokens(server: &TestServer) -> Value {
    let http = browser();
    let code = server.code_for_default_request(&http).await;
    let answer = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    answer.json
}

async fn id_token(server: &TestServer) -> String {
    tokens(server).await["id_token"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn discover(server: &TestServer) -> CoreProviderMetadata {
    CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &browser())
        .await
        .expect("discovery")
}

/// Verifies an ID token of the seeded client as a relying party holding `metadata` (and the
/// JWKS fetched with it) would, on the provider's clock.
fn rp_verifies(
    server: &TestServer,
    metadata: &CoreProviderMetadata,
    token: &str,
) -> Result<(), String> {
    let client = CoreClient::from_provider_metadata(
        metadata.clone(),
        ClientId::new(server.client_id().to_string()),
        Some(ClientSecret::new(server.client_secret().to_string())),
    );
    let token: CoreIdToken = token.parse().map_err(|e| format!("{e:?}"))?;
    let now = server.now();
    token
        .claims(
            &client.id_token_verifier().set_time_fn(move || now),
            &Nonce::new("n-456".into()),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn by_alg(keys: &[KeyInfo], alg: SigningAlg) -> Vec<&KeyInfo> {
    keys.iter().filter(|k| k.alg == alg).collect()
}

#[tokio::test]
async fn oidc_core_10_1_1_rotation_publish_then_activate_then_retire_then_remove() {
    let server = TestServer::start_with(manual_rotation, vec![]).await;
    let http = browser();
    let before = kids(&jwks(&http, &server.issuer).await);
    assert_eq!(before.len(), 3, "one key per algorithm: {before:?}");
    let old_token = id_token(&server).await;
    let old_kid = kid_of(&old_token);
    assert!(before.contains(&old_kid));

    // Publish: the new keys are in JWKS at once, but do not sign yet.
    let published = server.provider.rotate_keys(None).await.unwrap();
    assert_eq!(published.len(), 3);
    for k in &published {
        assert_eq!(k.state, KeyState::Published);
        assert_eq!(
            (k.activates_at - k.published_at).num_seconds(),
            PUBLISH_DELAY
        );
    }
    let new_rs = published
        .iter()
        .find(|k| k.alg == SigningAlg::RS256)
        .unwrap()
        .kid
        .clone();
    let during = kids(&jwks(&http, &server.issuer).await);
    assert_eq!(during.len(), 6);
    assert!(during.contains(&new_rs) && during.contains(&old_kid));
    let still_old = id_token(&server).await;
    assert_eq!(kid_of(&still_old), old_kid, "a published key does not sign");
    // A relying party caches the JWKS now, inside the publish window.
    let cached_by_rp = discover(&server).await;

    // Activate: after the publish delay the new key signs; the old one is retired.
    server.advance_clock(PUBLISH_DELAY - 1);
    assert_eq!(kid_of(&id_token(&server).await), old_kid);
    server.advance_clock(1);
    let new_token = id_token(&server).await;
    assert_eq!(
        kid_of(&new_token),
        new_rs,
        "the new key signs after the delay"
    );
    let keys = server.provider.list_keys().await.unwrap();
    let rs = by_alg(&keys, SigningAlg::RS256);
    assert_eq!(
        rs.iter()
            .map(|k| (k.kid.clone(), k.state))
            .collect::<Vec<_>>(),
        [
            (new_rs.clone(), KeyState::Active),
            (old_kid.clone(), KeyState::Retired)
        ]
    );
    // The relying party's cached JWKS (fetched before activation) already verifies the new
    // key's tokens: the point of pre-publication.
    rp_verifies(&server, &cached_by_rp, &new_token).expect("pre-published key verifies");
    // A relying party fetching now verifies tokens of both keys (JWKS has both).
    let fresh = discover(&server).await;
    rp_verifies(&server, &fresh, &old_token).expect("the retired key's token verifies");
    rp_verifies(&server, &fresh, &new_token).expect("the new key's token verifies");

    // Retire window: the old key stays published until retire_after has passed...
    server.advance_clock(RETIRE_AFTER - 1);
    assert!(kids(&jwks(&http, &server.issuer).await).contains(&old_kid));
    // ...then it is removed from JWKS.
    server.advance_clock(1);
    let after = kids(&jwks(&http, &server.issuer).await);
    assert_eq!(after.len(), 3, "{after:?}");
    assert!(!after.contains(&old_kid));
    assert!(after.contains(&new_rs));
    let keys = server.provider.list_keys().await.unwrap();
    assert_eq!(
        by_alg(&keys, SigningAlg::RS256)
            .iter()
            .map(|k| k.state)
            .collect::<Vec<_>>(),
        [KeyState::Active, KeyState::Removed]
    );
    // The removed rows go with the next purge; the keys in force stay.
    let report = server.provider.purge_expired().await.unwrap();
    assert_eq!(report.get("signing_keys"), 3);
    let keys = server.provider.list_keys().await.unwrap();
    assert_eq!(keys.len(), 3);
    assert!(keys.iter().all(|k| k.state == KeyState::Active));

    // Each rotation is in the audit log.
    let audit = server.provider.audit_events(None, 1000).await.unwrap();
    assert_eq!(
        audit.iter().filter(|e| e.event == "keys.rotated").count(),
        3
    );
}

#[tokio::test]
async fn oidc_core_10_1_1_a_second_rotation_waits_for_the_published_key() {
    let server = TestServer::start_with(manual_rotation, vec![]).await;
    let first = server
        .provider
        .rotate_keys(Some(SigningAlg::ES256))
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].alg, SigningAlg::ES256);
    // A key is already waiting to sign: nothing more until it activates.
    assert!(server.provider.rotate_keys(None).await.unwrap().len() == 2);
    assert!(server.provider.rotate_keys(None).await.unwrap().is_empty());
    server.advance_clock(PUBLISH_DELAY);
    assert_eq!(server.provider.rotate_keys(None).await.unwrap().len(), 3);
    // An algorithm the provider does not hold keys for is refused.
    let only_rsa = TestServer::start_with(
        |c| manual_rotation(c).key_algorithms([SigningAlg::RS256]),
        vec![],
    )
    .await;
    assert!(matches!(
        only_rsa.provider.rotate_keys(Some(SigningAlg::EdDSA)).await,
        Err(oidc_core::Error::InvalidInput(_))
    ));
}

#[tokio::test]
async fn rp_initiated_logout_2_id_token_hint_of_a_retired_key_works_until_removal() {
    // Sessions live as long as the retire period, so the first hint ends a live session.
    let server = TestServer::start_with(
        |c| {
            manual_rotation(c)
                .session_idle(Duration::from_secs(RETIRE_AFTER as u64))
                .session_absolute(Duration::from_secs(RETIRE_AFTER as u64))
        },
        vec![],
    )
    .await;
    let reg = server
        .provider
        .register_client(
            NewClient::new("Logout RP", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false)
                .post_logout_redirect_uris([POST_LOGOUT]),
        )
        .await
        .unwrap();
    let client_id = reg.client.client_id.clone();
    let secret = reg.client_secret.unwrap().secret().to_string();
    // Two people sign in before the rotation: their ID tokens carry the old key's kid.
    let mut signed_in = Vec::new();
    for _ in 0..2 {
        let http = browser();
        let mut params = server.authorize_params();
        for (k, v) in params.iter_mut() {
            if k == "client_id" {
                *v = client_id.clone();
            }
        }
        let redirect = sign_in(&http, &server.authorize_url(&params)).await;
        let code = query_of(&redirect)["code"].clone();
        let answer = server
            .token_request(
                &http,
                &[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("redirect_uri", REDIRECT_URI),
                    ("code_verifier", PKCE_VERIFIER),
                ],
                Some((&client_id, &secret)),
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK);
        signed_in.push((http, answer.json["id_token"].as_str().unwrap().to_string()));
    }
    let old_kid = kid_of(&signed_in[0].1);
    server.provider.rotate_keys(None).await.unwrap();
    server.advance_clock(PUBLISH_DELAY); // the new key signs; the old one is retired
    server.advance_clock(RETIRE_AFTER - 60); // a minute before its removal
    assert!(kids(&jwks(&browser(), &server.issuer).await).contains(&old_kid));

    let logout = |http: &reqwest::Client, hint: &str| {
        http.get(server.url("/logout"))
            .query(&[
                ("id_token_hint", hint),
                ("post_logout_redirect_uri", POST_LOGOUT),
                ("state", "bye"),
            ])
            .send()
    };
    // During the retire window the hint verifies: the session ends and the browser goes back.
    let (http, hint) = &signed_in[0];
    let res = logout(http, hint).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()[LOCATION].to_str().unwrap(),
        format!("{POST_LOGOUT}?state=bye")
    );

    // After removal the same kind of hint is refused: no redirect to the client, only the
    // provider's own signed-out page (§2: a hint the OP cannot verify earns no redirect).
    server.advance_clock(60);
    assert!(!kids(&jwks(&browser(), &server.issuer).await).contains(&old_kid));
    let (http, hint) = &signed_in[1];
    let res = logout(http, hint).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().get(LOCATION).is_none());
    assert!(res.text().await.unwrap().contains("You have signed out"));
}

#[tokio::test]
async fn rfc8037_eddsa_client_gets_an_eddsa_id_token_that_verifies_against_jwks() {
    let server = TestServer::start_with(manual_rotation, vec![]).await;
    let reg = server
        .provider
        .register_client(
            NewClient::new("EdDSA RP", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false)
                .id_token_signed_response_alg(SigningAlg::EdDSA),
        )
        .await
        .unwrap();
    let client_id = reg.client.client_id.clone();
    let secret = reg.client_secret.unwrap().secret().to_string();
    let http = browser();
    let mut params = server.authorize_params();
    for (k, v) in params.iter_mut() {
        if k == "client_id" {
            *v = client_id.clone();
        }
    }
    let redirect = sign_in(&http, &server.authorize_url(&params)).await;
    let code = query_of(&redirect)["code"].clone();
    let answer = server
        .token_request(
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", PKCE_VERIFIER),
            ],
            Some((&client_id, &secret)),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    let id_token = answer.json["id_token"].as_str().unwrap();
    let header = jwt_part(id_token, 0);
    assert_eq!(header["alg"], "EdDSA");
    // The access token keeps the configured algorithm (RS256 by default, RFC 9068 §2.1).
    let access = answer.json["access_token"].as_str().unwrap();
    assert_eq!(jwt_part(access, 0)["alg"], "RS256");

    // The JWKS entry is an RFC 8037 OKP key.
    let set = jwks(&http, &server.issuer).await;
    let jwk = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == header["kid"])
        .expect("the kid is published")
        .clone();
    assert_eq!(jwk["kty"], "OKP");
    assert_eq!(jwk["crv"], "Ed25519");
    assert_eq!(jwk["alg"], "EdDSA");

    // openidconnect verifies it from discovery (signature, iss, aud, exp, nonce)...
    let metadata = discover(&server).await;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.clone()),
        Some(ClientSecret::new(secret.clone())),
    );
    let token: CoreIdToken = id_token.parse().unwrap();
    let claims = token
        .claims(&client.id_token_verifier(), &Nonce::new("n-456".into()))
        .expect("the EdDSA ID token verifies");
    assert_eq!(claims.subject().as_str(), server.user.subject);
    // ...and josekit with the published key; a flipped signature byte fails.
    let verifier = josekit::jws::EdDSA
        .verifier_from_jwk(&josekit::jwk::Jwk::from_bytes(jwk.to_string().as_bytes()).unwrap())
        .unwrap();
    assert!(josekit::jws::deserialize_compact(id_token, &verifier).is_ok());
    let mut bad = id_token.to_string().into_bytes();
    let i = bad.len() - 3;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    assert!(
        josekit::jws::deserialize_compact(std::str::from_utf8(&bad).unwrap(), &verifier).is_err()
    );
}

#[tokio::test]
async fn oidc_core_3_1_3_6_at_hash_of_an_eddsa_id_token_uses_sha512() {
    let server = TestServer::start_with(manual_rotation, vec![]).await;
    let reg = server
        .provider
        .register_client(
            NewClient::new("EdDSA RP", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false)
                .id_token_signed_response_alg(SigningAlg::EdDSA),
        )
        .await
        .unwrap();
    let client_id = reg.client.client_id.clone();
    let secret = reg.client_secret.unwrap().secret().to_string();
    let http = browser();
    let mut params = server.authorize_params();
    for (k, v) in params.iter_mut() {
        if k == "client_id" {
            *v = client_id.clone();
        }
    }
    let redirect = sign_in(&http, &server.authorize_url(&params)).await;
    let code = query_of(&redirect)["code"].clone();
    let answer = server
        .token_request(
            &http,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", PKCE_VERIFIER),
            ],
            Some((&client_id, &secret)),
        )
        .await;
    let id_token: CoreIdToken = answer.json["id_token"].as_str().unwrap().parse().unwrap();
    let access =
        openidconnect::AccessToken::new(answer.json["access_token"].as_str().unwrap().to_string());
    let client = CoreClient::from_provider_metadata(
        discover(&server).await,
        ClientId::new(client_id),
        Some(ClientSecret::new(secret)),
    );
    let verifier = client.id_token_verifier();
    let claims = id_token
        .claims(&verifier, &Nonce::new("n-456".into()))
        .unwrap();
    // openidconnect computes it with the alg's hash (SHA-512 for Ed25519), left half.
    let expected = AccessTokenHash::from_token(
        &access,
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&expected));
}

#[tokio::test]
async fn oidc_discovery_3_advertises_rs256_es256_eddsa_and_publishes_a_key_for_each() {
    let server = TestServer::start().await;
    let http = browser();
    let meta: Value = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256", "EdDSA"])
    );
    let set = jwks(&http, &server.issuer).await;
    let algs: Vec<&str> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap())
        .collect();
    assert_eq!(algs, ["RS256", "ES256", "EdDSA"]);

    // A provider configured without EdDSA neither advertises it nor registers a client for it.
    let server = TestServer::start_with(
        |c| c.key_algorithms([SigningAlg::RS256, SigningAlg::ES256]),
        vec![],
    )
    .await;
    let meta: Value = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["id_token_signing_alg_values_supported"],
        serde_json::json!(["RS256", "ES256"])
    );
    assert_eq!(kids(&jwks(&http, &server.issuer).await).len(), 2);
    let refused = server
        .provider
        .register_client(
            NewClient::new("EdDSA RP", [REDIRECT_URI])
                .id_token_signed_response_alg(SigningAlg::EdDSA),
        )
        .await;
    assert!(matches!(refused, Err(oidc_core::Error::InvalidInput(_))));
}

#[tokio::test]
async fn scheduled_rotation_publishes_the_successor_a_publish_delay_before_the_interval_ends() {
    let day = 86400;
    let server = TestServer::start_with(
        |c| c.key_rotation_interval(Duration::from_secs(day as u64)),
        vec![],
    )
    .await;
    let started = server.provider.list_keys().await.unwrap();
    assert!(server.provider.rotate_due_keys().await.unwrap().is_empty());
    server.advance_clock(day - PUBLISH_DELAY - 1);
    assert!(
        server.provider.rotate_due_keys().await.unwrap().is_empty(),
        "not due yet"
    );
    server.advance_clock(1);
    let published = server.provider.rotate_due_keys().await.unwrap();
    assert_eq!(published.len(), 3);
    for k in &published {
        let predecessor = started.iter().find(|s| s.alg == k.alg).unwrap();
        // The successor signs exactly when the predecessor has signed for the interval.
        assert_eq!(
            (k.activates_at - predecessor.activates_at).num_seconds(),
            day
        );
        assert_eq!(k.state, KeyState::Published);
    }
    assert!(server.provider.rotate_due_keys().await.unwrap().is_empty());
    let audit = server.provider.audit_events(None, 1000).await.unwrap();
    let rotated: Vec<_> = audit.iter().filter(|e| e.event == "keys.rotated").collect();
    assert_eq!(rotated.len(), 3);
    assert!(rotated.iter().all(|e| e.actor == "system"));
}

// ---------------------------------------------------------------------------------------------
// Several replicas over one database
// ---------------------------------------------------------------------------------------------

/// A replica with this test's key settings (no scheduled rotation, 1 s refresh bound).
async fn replica(
    issuer: &str,
    db: &SharedDb,
    clock: Arc<SharedClock>,
    background: bool,
) -> Replica {
    replicas::replica(issuer, db, clock, background, |c| {
        c.key_rotation_interval(Duration::ZERO)
            .key_refresh_interval(Duration::from_secs(1))
            // The publish delay must exceed max-age (300 s) + the refresh bound (1 s).
            .key_publish_delay(Duration::from_secs(PUBLISH_DELAY as u64))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_rotations_on_two_replicas_publish_exactly_one_key_per_alg() {
    let db = SharedDb::create();
    let clock = shared_clock();
    let issuer = "http://127.0.0.1:1";
    // Started one after the other (two replicas starting at the same instant on a new PostgreSQL
    // database race in clients::ensure_admin_console, outside the keys); the second finds the
    // first one's keys and generates none.
    let a = replica(issuer, &db, clock.clone(), false).await;
    let b = replica(issuer, &db, clock.clone(), false).await;
    assert_eq!(a.provider.list_keys().await.unwrap().len(), 3);
    let (ra, rb, ra2, rb2) = tokio::join!(
        a.provider.rotate_keys(None),
        b.provider.rotate_keys(None),
        a.provider.rotate_keys(None),
        b.provider.rotate_keys(None),
    );
    let published: Vec<KeyInfo> = [ra, rb, ra2, rb2]
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect();
    let mut algs: Vec<&str> = published.iter().map(|k| k.alg.as_str()).collect();
    algs.sort();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"], "{published:?}");
    let keys = b.provider.list_keys().await.unwrap();
    assert_eq!(keys.len(), 6);
    for alg in SigningAlg::ALL {
        let states: Vec<KeyState> = by_alg(&keys, alg).iter().map(|k| k.state).collect();
        assert_eq!(states, [KeyState::Published, KeyState::Active], "{alg}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_serves_another_replicas_rotation_within_the_refresh_bound() {
    let db = SharedDb::create();
    let clock = shared_clock();
    let issuer = "http://127.0.0.1:1";
    let a = replica(issuer, &db, clock.clone(), false).await;
    // b refreshes only when asked; c runs the background task (every second here).
    let b = replica(issuer, &db, clock.clone(), false).await;
    let c = replica(issuer, &db, clock.clone(), true).await;
    let http = browser();
    let published = a
        .provider
        .rotate_keys(Some(SigningAlg::RS256))
        .await
        .unwrap();
    let new_kid = published[0].kid.clone();
    // The rotating replica serves it at once.
    assert!(kids(&jwks(&http, &a.base).await).contains(&new_kid));
    // b has not looked yet: the old document.
    assert!(!kids(&jwks(&http, &b.base).await).contains(&new_kid));
    assert!(
        b.provider.refresh_keys().await.unwrap(),
        "b reloads on request"
    );
    assert!(kids(&jwks(&http, &b.base).await).contains(&new_kid));
    assert!(
        !b.provider.refresh_keys().await.unwrap(),
        "nothing new the second time"
    );
    // c picks it up by itself within the bound (1 s here; 30 s by default).
    let started = std::time::Instant::now();
    loop {
        if kids(&jwks(&http, &c.base).await).contains(&new_kid) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "replica c did not reload within its refresh interval"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Stopped, c no longer follows the others (the tasks also stop when a provider is dropped).
    c.provider.stop_background_tasks();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let later = a
        .provider
        .rotate_keys(Some(SigningAlg::ES256))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(!kids(&jwks(&http, &c.base).await).contains(&later[0].kid));
    assert!(c.provider.refresh_keys().await.unwrap());

    // After the publish delay, the other replicas sign with the new key too: seed a person and a
    // client (shared database) and sign in at c.
    clock.offset.fetch_add(PUBLISH_DELAY, Ordering::SeqCst);
    a.provider
        .create_user(NewUser {
            username: USERNAME.into(),
            email: EMAIL.into(),
            name: Some(NAME.into()),
            roles: vec![],
            password: Some(PASSWORD.into()),
        })
        .await
        .unwrap();
    let reg = a
        .provider
        .register_client(
            NewClient::new("Replica RP", [REDIRECT_URI])
                .first_party(true)
                .mfa_required(false),
        )
        .await
        .unwrap();
    let secret = reg.client_secret.unwrap().secret().to_string();
    let mut url = url::Url::parse(&format!("{}/authorize", c.base)).unwrap();
    url.query_pairs_mut().extend_pairs([
        ("client_id", reg.client.client_id.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("response_type", "code"),
        ("scope", "openid"),
        ("state", "s"),
        ("nonce", "n"),
        ("code_challenge", PKCE_CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let res = http.get(url).send().await.unwrap();
    let signin = see_other_location(&res);
    let signin = url::Url::parse(&c.base)
        .unwrap()
        .join(signin.path())
        .unwrap();
    let page = http
        .get(signin.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = http
        .post(signin)
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("username", USERNAME),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    let code = query_of(&see_other_location(&res))["code"].clone();
    let answer: Value = http
        .post(format!("{}/token", c.base))
        .basic_auth(&reg.client.client_id, Some(&secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", PKCE_VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id_token = answer["id_token"].as_str().expect("an ID token");
    assert_eq!(
        kid_of(id_token),
        new_kid,
        "replica c signs with the new key"
    );
}

// ---------------------------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------------------------

fn settings_file(dir: &std::path::Path, database_url: &str) -> std::path::PathBuf {
    let path = dir.join("iam.toml");
    std::fs::write(
        &path,
        format!(
            "issuer = \"http://127.0.0.1:1\"\ndatabase_url = \"{database_url}\"\n\
             [keys]\nrotation_interval_days = 0\n"
        ),
    )
    .unwrap();
    path
}

/// Runs a command line as `oidc-server --config FILE [--break-glass] COMMAND` would (the test
/// crate does not link clap, so the parsed form is built here).
async fn run_cli(
    config: &std::path::Path,
    break_glass: bool,
    command: Command,
) -> Result<(), String> {
    let cli = Cli {
        config: Some(config.to_path_buf()),
        json: true,
        as_user: None,
        break_glass,
        command,
    };
    oidc_server::cli::run(cli).await.map_err(|e| e.to_string())
}

fn rotate(alg: Option<&str>) -> Command {
    Command::Keys(KeysCommand::Rotate {
        alg: alg.map(str::to_string),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_keys_rotate_needs_an_actor_and_is_audited_keys_list_does_not() {
    let db = SharedDb::create();
    let dir = tempfile::tempdir().unwrap();
    let config = settings_file(dir.path(), &db.url);
    run_cli(&config, false, Command::Keys(KeysCommand::List))
        .await
        .unwrap();
    let e = run_cli(&config, false, rotate(None)).await.unwrap_err();
    assert!(e.contains("--as USERNAME"), "{e}");
    let e = run_cli(&config, false, Command::Purge).await.unwrap_err();
    assert!(e.contains("--as USERNAME"), "{e}");
    let e = run_cli(&config, true, rotate(Some("HS256")))
        .await
        .unwrap_err();
    assert!(e.contains("HS256"), "{e}");
    run_cli(&config, true, rotate(Some("EdDSA"))).await.unwrap();
    run_cli(&config, true, Command::Purge).await.unwrap();

    let provider = Provider::builder(
        ProviderConfig::builder("http://127.0.0.1:1")
            .build()
            .unwrap(),
        db.url.clone(),
    )
    .background_tasks(false)
    .build()
    .await
    .unwrap();
    let keys = provider.list_keys().await.unwrap();
    let ed: Vec<KeyState> = by_alg(&keys, SigningAlg::EdDSA)
        .iter()
        .map(|k| k.state)
        .collect();
    assert_eq!(ed, [KeyState::Published, KeyState::Active]);
    assert_eq!(by_alg(&keys, SigningAlg::RS256).len(), 1);
    let audit = provider.audit_events(None, 1000).await.unwrap();
    let events: Vec<(&str, &str)> = audit
        .iter()
        .map(|e| (e.event.as_str(), e.actor.as_str()))
        .filter(|(e, _)| e.starts_with("admin.") || e.starts_with("keys."))
        .collect();
    // Commands without an actor are refused before anything happens; the refused --alg HS256
    // is recorded (as failed) like every other attempt.
    assert_eq!(
        events,
        [
            ("admin.keys.rotate", "break-glass"),
            ("keys.rotated", "system"),
            ("admin.keys.rotate", "break-glass"),
            ("admin.purge", "break-glass"),
        ]
    );
    assert_eq!(
        audit
            .iter()
            .find(|e| e.event == "admin.keys.rotate")
            .unwrap()
            .detail["ok"],
        false
    );
}
