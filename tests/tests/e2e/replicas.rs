//! Two replicas over one database behind one issuer, no sticky sessions: a sign-in started on one
//! finishes on the other, a code from one is redeemed at the other, and concurrent refreshes of one
//! token at both have exactly one winner. (SQLite file shared by both, or one PostgreSQL database
//! with `TEST_DATABASE_URL`.)

use crate::common::replicas::{Replica, SharedDb, replica, shared_clock};
use crate::common::*;
use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use oidc_core::{Clock, NewClient, NewUser, RefreshPolicy};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::Value;

const ISSUER: &str = "http://127.0.0.1:9";
const SEED: &[u8] = b"12345678901234567890";

fn location(res: &reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "from {}", res.url());
    res.headers()[LOCATION].to_str().unwrap().to_string()
}

async fn token(r: &Replica, form: &[(&str, &str)], id: &str, secret: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .post(format!("{}/token", r.base))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sign_in_started_on_one_replica_finishes_on_the_other_and_refresh_races_have_one_winner()
{
    let db = SharedDb::create();
    let clock = shared_clock();
    let a = replica(ISSUER, &db, clock.clone(), false, |c| c).await;
    let b = replica(ISSUER, &db, clock.clone(), false, |c| c).await;
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
    let hex: String = SEED.iter().map(|b| format!("{b:02x}")).collect();
    b.provider
        .import_tokens(format!("000111222333,{hex}\n").as_bytes(), None, false)
        .await
        .unwrap();
    a.provider
        .assign_token(USERNAME, "000111222333", None, false)
        .await
        .unwrap();
    let rp = b
        .provider
        .register_client(
            NewClient::new("RP", [REDIRECT_URI])
                .first_party(true)
                .refresh_policy(RefreshPolicy::Always),
        )
        .await
        .unwrap();
    let (id, secret) = (
        rp.client.client_id.clone(),
        rp.client_secret.unwrap().secret().to_string(),
    );

    // Cookies are per host, not per port: the browser carries its cookies to both replicas, as a
    // browser behind a load balancer would.
    let http = browser();
    let query = {
        let mut u = url::Url::parse("http://x/").unwrap();
        u.query_pairs_mut().extend_pairs([
            ("client_id", id.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid"),
            ("state", "s1"),
            ("nonce", "n1"),
            ("code_challenge", PKCE_CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        u.query().unwrap().to_string()
    };
    let res = http
        .get(format!("{}/authorize?{query}", a.base))
        .send()
        .await
        .unwrap();
    let journey = location(&res);
    assert!(journey.starts_with("/signin/"), "{journey}");
    // Password on A.
    let page = http
        .get(format!("{}{journey}", a.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = http
        .post(format!("{}{journey}", a.base))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("username", USERNAME),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&res), journey);
    // Passcode on B.
    let page = http
        .get(format!("{}{journey}", b.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Enter your RSA SecurID passcode."), "{page}");
    let step = time_step(clock.now().timestamp(), 30);
    let code = totp_at_step(SEED, step, 6, OtpAlgorithm::Sha1).unwrap();
    let res = http
        .post(format!("{}{journey}", b.base))
        .form(&[
            ("csrf", csrf_of(&page).as_str()),
            ("passcode", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(&location(&res)).unwrap();
    let params = query_of(&back);
    assert_eq!(params["state"], "s1");
    assert_eq!(params["iss"], ISSUER);
    // The code is redeemed at A.
    let (status, tokens) = token(
        &a,
        &[
            ("grant_type", "authorization_code"),
            ("code", &params["code"]),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", PKCE_VERIFIER),
        ],
        &id,
        &secret,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(
        jwt_part(tokens["id_token"].as_str().unwrap(), 1)["iss"],
        ISSUER
    );
    // The same session is known to B: prompt=none there gives a code at once.
    let res = http
        .get(format!("{}/authorize?{query}&prompt=none", b.base))
        .send()
        .await
        .unwrap();
    assert!(query_of(&url::Url::parse(&location(&res)).unwrap()).contains_key("code"));

    // The same refresh token at both replicas at once: exactly one winner, whose token works.
    let mut rt = tokens["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..3 {
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ];
        let ((sa, ja), (sb, jb)) = tokio::join!(
            token(&a, &form, &id, &secret),
            token(&b, &form, &id, &secret)
        );
        let winners = [sa, sb].iter().filter(|s| **s == StatusCode::OK).count();
        assert_eq!(winners, 1, "{ja} / {jb}");
        let (winner, loser) = if sa == StatusCode::OK {
            (ja, jb)
        } else {
            (jb, ja)
        };
        assert_eq!(loser["error"], "invalid_grant");
        rt = winner["refresh_token"].as_str().unwrap().to_string();
    }
    let (status, _) = token(
        &b,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt.as_str()),
        ],
        &id,
        &secret,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
