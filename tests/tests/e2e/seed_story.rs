//! The whole story of the quick reference, end to end: a URF is approved (hard token), the
//! Welcome email arrives, the service desk verifies the first-time caller by a mailed code and
//! issues a temporary password, the person activates at the IAM portal (passcode, temporary
//! password, new password, recovery data), then signs in to an app through the openidconnect
//! crate with username, password and passcode.

use crate::common::*;
use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use oidc_core::{Actor, NewClient, NewRegistration, NewUser, TokenChoice};
use openidconnect::core::{CoreClient, CoreProviderMetadata, CoreResponseType};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce,
    PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
};
use reqwest::StatusCode;

const SEED: &[u8] = b"12345678901234567890";

fn code(server: &TestServer) -> String {
    totp_at_step(
        SEED,
        time_step(server.now().timestamp(), 30),
        6,
        OtpAlgorithm::Sha1,
    )
    .unwrap()
}

async fn staff(server: &TestServer, name: &str, role: &str) -> Actor {
    server
        .provider
        .create_user(NewUser {
            username: name.into(),
            email: format!("{name}@ahs.example"),
            name: None,
            roles: vec![role.into()],
            password: None,
        })
        .await
        .unwrap();
    Actor::User(name.into())
}

fn location(server: &TestServer, res: &reqwest::Response) -> String {
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let l = res.headers()["location"].to_str().unwrap();
    if l.starts_with('/') {
        server.url(l)
    } else {
        l.to_string()
    }
}

#[tokio::test]
async fn seed_story_from_urf_to_a_cpar_sign_in() {
    let server = TestServer::start().await;
    let aa1 = staff(&server, "aa.one", "iam_access_admin").await;
    let aa2 = staff(&server, "aa.two", "iam_access_admin").await;
    let desk = staff(&server, "desk.agent", oidc_core::ROLE_SERVICE_DESK).await;
    server
        .provider
        .import_tokens(
            b"RSA-000123,3132333435363738393031323334353637383930\n",
            None,
            false,
        )
        .await
        .unwrap();
    let cpar = server
        .provider
        .register_client(NewClient::new("CPAR", [REDIRECT_URI]).first_party(true))
        .await
        .unwrap();

    // 1. The URF: submitted by one AA, approved by another, with a hard token.
    let form = server
        .provider
        .submit_registration(
            &aa1,
            NewRegistration {
                legal_name: "Nancy Akitt".into(),
                email: "nancy.akitt@healthy.example".into(),
                clinic: "Healthy Clinic".into(),
                practitioner_id: "PRAC-42".into(),
                role_requested: None,
            },
        )
        .await
        .unwrap();
    let approval = server
        .provider
        .approve_registration(
            &aa2,
            &form.id,
            "nancyakitt",
            TokenChoice::Hardware {
                serial: "RSA-000123".into(),
            },
        )
        .await
        .unwrap();
    assert_eq!(approval.user.roles, ["cpar_panel_admin"]);
    let welcome = server
        .mail
        .sent()
        .into_iter()
        .find(|m| m.to == "nancy.akitt@healthy.example")
        .expect("Welcome email");
    assert!(
        welcome.body.contains("nancyakitt") && welcome.body.contains("/activate"),
        "{}",
        welcome.body
    );

    // 2. The service desk verifies the first-time caller by a mailed code, then issues a
    //    temporary password.
    server
        .provider
        .send_caller_code(&desk, "nancyakitt")
        .await
        .unwrap();
    let mail = server.mail.sent();
    let code_mail = mail
        .iter()
        .rev()
        .find(|m| m.subject.contains("verification code"))
        .unwrap();
    let caller_code: String = code_mail
        .body
        .split("this code: ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(
        server
            .provider
            .verify_caller_code(&desk, "nancyakitt", &caller_code)
            .await
            .unwrap()
    );
    let temporary = server
        .provider
        .issue_temporary_password(&desk, "nancyakitt")
        .await
        .unwrap();

    // 3. Activation at the IAM portal.
    let http = browser();
    server.align_clock(30, 2);
    let res = http.get(server.url("/activate")).send().await.unwrap();
    let portal = location(&server, &res);
    let get = |u: String| {
        let http = http.clone();
        async move { http.get(u).send().await.unwrap().text().await.unwrap() }
    };
    let page = get(portal.clone()).await;
    http.post(&portal)
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", "nancyakitt".into()),
            ("passcode", code(&server)),
        ])
        .send()
        .await
        .unwrap();
    let page = get(portal.clone()).await;
    http.post(&portal)
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", "nancyakitt".into()),
            ("password", temporary.secret().into()),
        ])
        .send()
        .await
        .unwrap();
    let page = get(portal.clone()).await;
    assert!(page.contains("Create a new password"), "{page}");
    http.post(&portal)
        .form(&[
            ("csrf", csrf_of(&page)),
            ("new_password", "quiet river lantern".into()),
            ("confirm_password", "quiet river lantern".into()),
        ])
        .send()
        .await
        .unwrap();
    // Page 4: the secret word; page 5: five challenge questions.
    let page = get(portal.clone()).await;
    assert!(page.contains("Choose a secret word"), "{page}");
    http.post(&portal)
        .form(&[
            ("csrf", csrf_of(&page)),
            ("secret_word", "Sunflower".into()),
            ("confirm_secret_word", "Sunflower".into()),
        ])
        .send()
        .await
        .unwrap();
    let page = get(portal.clone()).await;
    assert!(page.contains("Choose your challenge questions"), "{page}");
    let mut recovery: Vec<(String, String)> = vec![("csrf".into(), csrf_of(&page))];
    for i in 0..5 {
        recovery.push((format!("question_{i}"), i.to_string()));
        recovery.push((format!("answer_{i}"), format!("my answer {i}")));
    }
    let done = http
        .post(&portal)
        .form(&recovery)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(done.contains("Your account is ready"), "{done}");

    // 4. Sign in to CPAR through the openidconnect crate: password, then passcode.
    server.advance_clock(30);
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(cpar.client.client_id.clone()),
        Some(ClientSecret::new(
            cpar.client_secret.as_ref().unwrap().secret().to_string(),
        )),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("roles".into()))
        .set_pkce_challenge(challenge)
        .url();
    let res = http.get(url.as_str()).send().await.unwrap();
    let signin = location(&server, &res);
    let page = get(signin.clone()).await;
    assert!(page.contains("Sign in with your AHS account"));
    http.post(&signin)
        .form(&[
            ("csrf", csrf_of(&page)),
            ("username", "nancyakitt".into()),
            ("password", "quiet river lantern".into()),
        ])
        .send()
        .await
        .unwrap();
    let page = get(signin.clone()).await;
    assert!(
        page.contains("Enter your RSA SecurID passcode.") && page.contains("n*****t@h*****"),
        "{page}"
    );
    let res = http
        .post(&signin)
        .form(&[("csrf", csrf_of(&page)), ("passcode", code(&server))])
        .send()
        .await
        .unwrap();
    let back = url::Url::parse(&location(&server, &res)).unwrap();
    let q: std::collections::HashMap<_, _> = back.query_pairs().into_owned().collect();
    assert_eq!(q["state"], *state.secret());
    let tokens = client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let claims = tokens
        .id_token()
        .unwrap()
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(claims.subject().as_str(), approval.user.subject);
    assert_eq!(
        claims.auth_context_ref().unwrap().as_str(),
        oidc_core::mfa::ACR_PASSWORD_OTP
    );

    // The audit log tells the whole story, intact.
    let events: Vec<String> = server
        .provider
        .audit_events(None, 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    for e in [
        "urf.submitted",
        "urf.approved",
        "caller.verified",
        "password.temporary_issued",
        "password.changed",
        "recovery.enrolled",
    ] {
        assert!(events.iter().any(|x| x == e), "{e} missing from {events:?}");
    }
    assert_eq!(
        server
            .provider
            .verify_audit_log()
            .await
            .unwrap()
            .first_broken,
        None
    );
}
