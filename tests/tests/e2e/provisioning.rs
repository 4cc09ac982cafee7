//! Provisioning by User Registration Form (URF): one Access Administrator submits, another
//! approves (creating the account with exactly the role requested, assigning a token and mailing
//! the Welcome email) or rejects with a reason.

use crate::common::*;
use oidc_core::mfa::TokenState;
use oidc_core::{
    Actor, Error, NewRegistration, NewUser, ROLE_ACCESS_ADMIN, ROLE_CPAR_PANEL_ADMIN, TokenChoice,
};

const PHONE: &str = "1-800-555-0142";
const SERIAL: &str = "URF-0001";

async fn setup() -> (TestServer, Actor, Actor) {
    let server = TestServer::start_with(|c| c.support_phone(PHONE), Vec::new()).await;
    let csv = format!("{SERIAL},3132333435363738393031323334353637383930\n");
    server
        .provider
        .import_tokens(csv.as_bytes(), None, false)
        .await
        .unwrap();
    for (name, email) in [
        ("aa.one", "aa.one@example.org"),
        ("aa.two", "aa.two@example.org"),
    ] {
        server
            .provider
            .create_user(NewUser {
                username: name.into(),
                email: email.into(),
                name: None,
                roles: vec![ROLE_ACCESS_ADMIN.into()],
                password: None,
            })
            .await
            .unwrap();
    }
    (
        server,
        Actor::User("aa.one".into()),
        Actor::User("aa.two".into()),
    )
}

fn form(email: &str) -> NewRegistration {
    NewRegistration {
        legal_name: "Priya Raman".into(),
        email: email.into(),
        clinic: "Northgate Family Clinic".into(),
        practitioner_id: "PRAC-20417".into(),
        role_requested: None,
    }
}

#[tokio::test]
async fn second_aa_approves_with_a_hardware_token_and_the_welcome_email_follows() {
    let (server, aa1, aa2) = setup().await;
    assert_eq!(ROLE_CPAR_PANEL_ADMIN, ROLE);
    let reg = server
        .provider
        .submit_registration(&aa1, form("priya.raman@example.org"))
        .await
        .unwrap();
    assert_eq!(reg.status, "pending");
    assert_eq!(reg.role_requested, ROLE);
    assert_eq!(reg.submitted_by, "user:aa.one");

    // The submitter cannot approve their own registration.
    let own = server
        .provider
        .approve_registration(
            &aa1,
            &reg.id,
            "praman",
            TokenChoice::Hardware {
                serial: SERIAL.into(),
            },
        )
        .await;
    assert!(matches!(own, Err(Error::InvalidInput(_))), "{own:?}");
    assert!(
        !server
            .provider
            .list_users()
            .await
            .unwrap()
            .iter()
            .any(|u| u.username == "praman")
    );

    let mail_before = server.mail.sent().len();
    let approval = server
        .provider
        .approve_registration(
            &aa2,
            &reg.id,
            "PRaman",
            TokenChoice::Hardware {
                serial: SERIAL.into(),
            },
        )
        .await
        .unwrap();
    assert!(approval.soft_token.is_none());
    assert_eq!(approval.serial, SERIAL);
    assert_eq!(approval.user.username, "praman");
    assert_eq!(approval.user.roles, vec![ROLE.to_string()]);
    assert_eq!(approval.registration.status, "approved");
    assert_eq!(approval.registration.username.as_deref(), Some("praman"));
    assert_eq!(
        approval.registration.decided_by.as_deref(),
        Some("user:aa.two")
    );

    let users = server.provider.list_users().await.unwrap();
    let user = users.iter().find(|u| u.username == "praman").unwrap();
    assert_eq!(user.roles, vec!["cpar_panel_admin".to_string()]);
    assert_eq!(user.email, "priya.raman@example.org");
    // The approvers' own role grants no CPAR access.
    let aa = users.iter().find(|u| u.username == "aa.two").unwrap();
    assert_eq!(aa.roles, vec![ROLE_ACCESS_ADMIN.to_string()]);

    let tokens = server.provider.list_tokens().await.unwrap();
    let token = tokens.iter().find(|t| t.serial == SERIAL).unwrap();
    assert_eq!(token.username.as_deref(), Some("praman"));
    assert_eq!(token.state, TokenState::Assigned);

    let mail = server.mail.sent();
    assert_eq!(mail.len(), mail_before + 1);
    let welcome = mail.last().unwrap();
    assert_eq!(welcome.to, "priya.raman@example.org");
    assert!(welcome.body.contains("praman"), "{}", welcome.body);
    assert!(welcome.body.contains(PHONE), "{}", welcome.body);
    assert!(
        welcome.body.contains(&server.url("/activate")),
        "{}",
        welcome.body
    );

    // Approving again is refused, and creates nothing.
    let again = server
        .provider
        .approve_registration(&aa2, &reg.id, "praman2", TokenChoice::Soft)
        .await;
    assert!(matches!(again, Err(Error::Conflict(_))), "{again:?}");

    let events: Vec<String> = server
        .provider
        .audit_events(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(events.contains(&"urf.submitted".to_string()));
    assert!(events.contains(&"urf.approved".to_string()));
    let report = server.provider.verify_audit_log().await.unwrap();
    assert_eq!(report.first_broken, None, "{:?}", report.reason);
}

#[tokio::test]
async fn a_soft_token_code_goes_to_the_approver_never_into_the_email() {
    let (server, aa1, aa2) = setup().await;
    let reg = server
        .provider
        .submit_registration(&aa2, form("sam.lee@example.org"))
        .await
        .unwrap();
    let approval = server
        .provider
        .approve_registration(&aa1, &reg.id, "slee", TokenChoice::Soft)
        .await
        .unwrap();
    let soft = approval.soft_token.expect("a soft token enrolment");
    let code = soft.activation_code.secret().to_string();
    assert!(!code.is_empty());
    let welcome = server.mail.sent().last().cloned().unwrap();
    assert_eq!(welcome.to, "sam.lee@example.org");
    assert!(welcome.body.contains("slee"));
    assert!(!welcome.body.contains(&code), "{}", welcome.body);
    assert!(!welcome.subject.contains(&code));
    assert_eq!(approval.user.roles, vec![ROLE.to_string()]);
}

#[tokio::test]
async fn a_failed_approval_leaves_the_registration_pending() {
    let (server, aa1, aa2) = setup().await;
    let reg = server
        .provider
        .submit_registration(&aa1, form("kim.doe@example.org"))
        .await
        .unwrap();
    // The username is taken (the harness's seeded account).
    let taken = server
        .provider
        .approve_registration(&aa2, &reg.id, USERNAME, TokenChoice::Soft)
        .await;
    assert!(matches!(taken, Err(Error::Conflict(_))), "{taken:?}");
    // An unknown serial: the account created on the way is removed again.
    let no_token = server
        .provider
        .approve_registration(
            &aa2,
            &reg.id,
            "kdoe",
            TokenChoice::Hardware {
                serial: "NO-SUCH".into(),
            },
        )
        .await;
    assert!(matches!(no_token, Err(Error::NotFound(_))), "{no_token:?}");
    assert!(
        !server
            .provider
            .list_users()
            .await
            .unwrap()
            .iter()
            .any(|u| u.username == "kdoe")
    );
    let pending = server
        .provider
        .list_registrations(Some("pending"))
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, reg.id);
    // Now it works, with the same username.
    server
        .provider
        .approve_registration(
            &aa2,
            &reg.id,
            "kdoe",
            TokenChoice::Hardware {
                serial: SERIAL.into(),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn rejection_records_the_reason_and_blocks_approval() {
    let (server, aa1, aa2) = setup().await;
    let reg = server
        .provider
        .submit_registration(&aa1, form("alex.ng@example.org"))
        .await
        .unwrap();
    let empty = server
        .provider
        .reject_registration(&aa2, &reg.id, "   ")
        .await;
    assert!(matches!(empty, Err(Error::InvalidInput(_))), "{empty:?}");
    let long = server
        .provider
        .reject_registration(&aa2, &reg.id, &"x".repeat(501))
        .await;
    assert!(matches!(long, Err(Error::InvalidInput(_))), "{long:?}");

    let rejected = server
        .provider
        .reject_registration(
            &aa2,
            &reg.id,
            "Practitioner identifier not on the CPAR panel list",
        )
        .await
        .unwrap();
    assert_eq!(rejected.status, "rejected");
    assert_eq!(
        rejected.reason.as_deref(),
        Some("Practitioner identifier not on the CPAR panel list")
    );
    assert_eq!(rejected.decided_by.as_deref(), Some("user:aa.two"));
    let listed = server
        .provider
        .list_registrations(Some("rejected"))
        .await
        .unwrap();
    assert_eq!(listed, vec![rejected]);

    let approve = server
        .provider
        .approve_registration(&aa2, &reg.id, "ang", TokenChoice::Soft)
        .await;
    assert!(matches!(approve, Err(Error::Conflict(_))), "{approve:?}");
    assert!(
        !server
            .provider
            .list_users()
            .await
            .unwrap()
            .iter()
            .any(|u| u.username == "ang")
    );
    let events: Vec<String> = server
        .provider
        .audit_events(None, 1000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert!(events.contains(&"urf.rejected".to_string()));
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

#[tokio::test]
async fn only_access_administrators_act_and_input_is_checked() {
    let (server, aa1, aa2) = setup().await;
    // The harness's CPAR panel administrator is not an AA; nor is an unknown name or the system.
    for actor in [
        Actor::User(USERNAME.into()),
        Actor::User("nobody".into()),
        Actor::System,
        Actor::Anonymous,
    ] {
        let r = server
            .provider
            .submit_registration(&actor, form("a.b@example.org"))
            .await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{actor}: {r:?}");
    }
    let reg = server
        .provider
        .submit_registration(&aa1, form("a.b@example.org"))
        .await
        .unwrap();
    let outsider = Actor::User(USERNAME.into());
    let r = server
        .provider
        .approve_registration(&outsider, &reg.id, "ab", TokenChoice::Soft)
        .await;
    assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
    let r = server
        .provider
        .reject_registration(&outsider, &reg.id, "no")
        .await;
    assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");

    // Validation.
    let bad = [
        NewRegistration {
            legal_name: String::new(),
            ..form("a.b@example.org")
        },
        NewRegistration {
            legal_name: "x".repeat(201),
            ..form("a.b@example.org")
        },
        form("not-an-email"),
        NewRegistration {
            practitioner_id: "9".repeat(65),
            ..form("a.b@example.org")
        },
        NewRegistration {
            role_requested: Some(ROLE_ACCESS_ADMIN.into()),
            ..form("a.b@example.org")
        },
        NewRegistration {
            role_requested: Some("two words".into()),
            ..form("a.b@example.org")
        },
    ];
    for new in bad {
        let r = server.provider.submit_registration(&aa2, new.clone()).await;
        assert!(matches!(r, Err(Error::InvalidInput(_))), "{new:?}: {r:?}");
    }
    let r = server.provider.list_registrations(Some("bogus")).await;
    assert!(matches!(r, Err(Error::InvalidInput(_))), "{r:?}");
    let r = server
        .provider
        .approve_registration(&aa2, "no-such-id", "ab", TokenChoice::Soft)
        .await;
    assert!(matches!(r, Err(Error::NotFound(_))), "{r:?}");
    // A requested role other than the default is granted exactly.
    let other = server
        .provider
        .submit_registration(
            &aa1,
            NewRegistration {
                role_requested: Some("cpar_panel_viewer".into()),
                ..form("c.d@example.org")
            },
        )
        .await
        .unwrap();
    let a = server
        .provider
        .approve_registration(&aa2, &other.id, "cd", TokenChoice::Soft)
        .await
        .unwrap();
    assert_eq!(a.user.roles, vec!["cpar_panel_viewer".to_string()]);
}

#[tokio::test]
async fn concurrent_approvals_create_one_account() {
    let (server, aa1, aa2) = setup().await;
    server
        .provider
        .create_user(NewUser {
            username: "aa.three".into(),
            email: "aa.three@example.org".into(),
            name: None,
            roles: vec![ROLE_ACCESS_ADMIN.into()],
            password: None,
        })
        .await
        .unwrap();
    let aa3 = Actor::User("aa.three".into());
    let reg = server
        .provider
        .submit_registration(&aa1, form("e.f@example.org"))
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        server
            .provider
            .approve_registration(&aa2, &reg.id, "ef.one", TokenChoice::Soft),
        server
            .provider
            .approve_registration(&aa3, &reg.id, "ef.two", TokenChoice::Soft),
    );
    assert_eq!(
        u8::from(a.is_ok()) + u8::from(b.is_ok()),
        1,
        "{a:?} / {b:?}"
    );
    let created = server
        .provider
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.username.starts_with("ef."))
        .count();
    assert_eq!(created, 1);
}
