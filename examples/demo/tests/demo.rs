//! Runs the demo's seeding on free ports and checks that every credential it prints really works:
//! each person signs in through CPAR at AHS IAM with password and passcode (and CPAR applies its
//! access rule), the new user's temporary password and activation code work, the `code` helper
//! agrees with an authenticator app, a second run keeps the data and `--reset` starts afresh.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // a test: failing loudly is the point

use std::net::SocketAddr;

use oidc_core::{Clock, SystemClock};
use reqwest::StatusCode;
use reqwest::header::LOCATION;

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

fn location(res: &reqwest::Response, base: &str) -> String {
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "expected a redirect from {}",
        res.url()
    );
    let loc = res.headers()[LOCATION].to_str().unwrap().to_string();
    if loc.starts_with('/') {
        format!("{base}{loc}")
    } else {
        loc
    }
}

fn csrf(body: &str) -> String {
    let mark = r#"name="csrf" value=""#;
    let start = body
        .find(mark)
        .unwrap_or_else(|| panic!("no csrf in {body}"))
        + mark.len();
    body[start..].split('"').next().unwrap().to_string()
}

fn now() -> i64 {
    SystemClock.now().timestamp()
}

/// Opens CPAR's home page and signs in at AHS IAM; returns the last answer (CPAR's page, or
/// IAM's page after the passcode when it did not go back to CPAR).
async fn sign_in(
    demo: &demo::Running,
    username: &str,
    password: &str,
    otpauth_uri: &str,
    step_offset: i64,
) -> (StatusCode, String) {
    let http = browser();
    let res = http
        .get(format!("{}/", demo.cpar_url))
        .send()
        .await
        .unwrap();
    let to_iam = location(&res, &demo.cpar_url);
    assert!(
        to_iam.starts_with(&format!("{}/authorize?", demo.iam_url)),
        "{to_iam}"
    );
    let res = http.get(&to_iam).send().await.unwrap();
    let signin = location(&res, &demo.iam_url);
    let page = http
        .get(&signin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Sign in with your AHS account"), "{page}");
    let res = http
        .post(&signin)
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap();
    let next = location(&res, &demo.iam_url);
    let page = http.get(&next).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Enter your RSA SecurID passcode."), "{page}");
    let code = demo::passcode(otpauth_uri, now(), step_offset).unwrap();
    let res = http
        .post(&next)
        .form(&[("csrf", csrf(&page).as_str()), ("passcode", code.as_str())])
        .send()
        .await
        .unwrap();
    if res.status() != StatusCode::SEE_OTHER {
        panic!(
            "{username}: passcode refused: {}",
            res.text().await.unwrap()
        );
    }
    let mut url = location(&res, &demo.iam_url);
    // Follow the redirects (IAM → CPAR callback → the deep link), wherever they lead.
    loop {
        let res = http.get(&url).send().await.unwrap();
        if res.status() != StatusCode::SEE_OTHER {
            let status = res.status();
            return (status, res.text().await.unwrap());
        }
        let base = if url.starts_with(&demo.cpar_url) {
            &demo.cpar_url
        } else {
            &demo.iam_url
        };
        url = location(&res, base);
    }
}

#[tokio::test]
async fn every_printed_credential_works_and_the_data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let opts = demo::Options {
        data_dir: dir.path().join("data"),
        iam_addr: any,
        cpar_addr: any,
        reset: false,
        ..Default::default()
    };
    let running = demo::start(opts.clone()).await.expect("the demo starts");
    let text = running.instructions();
    let c = running.credentials.clone();
    for p in &c.people {
        assert!(text.contains(&p.username), "{text}");
        for secret in [&p.password, &p.temporary_password, &p.activation_code]
            .into_iter()
            .flatten()
        {
            assert!(
                text.contains(secret.as_str()),
                "the instructions print {}'s credential",
                p.username
            );
        }
    }
    assert!(text.contains(&running.cpar_url) && text.contains(&running.iam_url));

    // The Panel Administrator reaches the deep link with panel data.
    let nakitt = c.person(demo::PANEL_ADMIN).unwrap();
    let (status, body) = sign_in(
        &running,
        &nakitt.username,
        nakitt.password.as_deref().unwrap(),
        &nakitt.otpauth_uri,
        0,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Nancy Akitt"), "{body}");
    // The other staff sign in (their password and token work), and CPAR turns them away.
    for who in [demo::ACCESS_ADMIN, demo::DESK_AGENT, demo::IAM_ADMIN] {
        let p = c.person(who).unwrap();
        let (status, body) = sign_in(
            &running,
            who,
            p.password.as_deref().unwrap(),
            &p.otpauth_uri,
            0,
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{who}: {body}");
        assert!(
            body.contains(cpar_rp::ACCESS_DENIED_MESSAGE),
            "{who}: {body}"
        );
    }
    // The `code` helper prints what an authenticator app shows.
    assert_eq!(
        demo::current_code(&running.data_dir, demo::PANEL_ADMIN, now()).unwrap(),
        demo::passcode(&nakitt.otpauth_uri, now(), 0).unwrap()
    );

    // The new user: the activation code activates the soft token, and the temporary password
    // then leads to the password change that first-time activation asks for.
    let pnew = c.person(demo::NEW_USER).unwrap();
    let code = demo::passcode(&pnew.otpauth_uri, now(), -1).unwrap();
    assert!(
        running
            .provider
            .activate_soft_token(
                demo::NEW_USER,
                pnew.activation_code.as_deref().unwrap(),
                &code
            )
            .await
            .unwrap()
    );
    let (status, body) = sign_in(
        &running,
        demo::NEW_USER,
        pnew.temporary_password.as_deref().unwrap(),
        &pnew.otpauth_uri,
        0,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("autocomplete=\"new-password\""),
        "asked for a new password: {body}"
    );

    // A second run over the same folder keeps everything; --reset starts afresh.
    let again = demo::Options {
        iam_addr: running
            .iam_url
            .trim_start_matches("http://")
            .parse()
            .unwrap(),
        cpar_addr: running
            .cpar_url
            .trim_start_matches("http://")
            .parse()
            .unwrap(),
        ..opts
    };
    running.shutdown().await;
    let second = demo::start(again.clone()).await.expect("the demo restarts");
    assert_eq!(second.credentials.cpar_client_secret, c.cpar_client_secret);
    assert_eq!(second.credentials.people.len(), c.people.len());
    let (status, body) = sign_in(
        &second,
        &nakitt.username,
        nakitt.password.as_deref().unwrap(),
        &nakitt.otpauth_uri,
        1,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    second.shutdown().await;
    let fresh = demo::start(demo::Options {
        reset: true,
        ..again
    })
    .await
    .expect("the demo resets");
    assert_ne!(fresh.credentials.cpar_client_secret, c.cpar_client_secret);
    fresh.shutdown().await;
}
