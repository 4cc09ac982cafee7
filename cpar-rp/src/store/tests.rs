use super::*;

const MIN: i64 = 60 * 1_000_000;

async fn store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("sub/cpar.db")).await.unwrap();
    (store, dir)
}

fn attempt(state: &str, browser: &str, at: i64) -> NewAttempt {
    NewAttempt {
        state_digest: state.into(),
        browser_digest: browser.into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        return_to: "/panels/P1".into(),
        prompt_login: false,
        notice: None,
        created_at: at,
    }
}

fn session(id: &str, at: i64) -> SessionRow {
    SessionRow {
        id_digest: id.into(),
        subject: "sub".into(),
        username: "nakitt".into(),
        name: "Nancy Akitt".into(),
        email: "n@example.org".into(),
        roles: "cpar_panel_admin".into(),
        id_token: "h.p.s".into(),
        csrf: "c".into(),
        notice: Some("welcome back".into()),
        created_at: at,
        last_seen_at: at,
        ended_reason: None,
        sid: Some(format!("sid-{id}")),
    }
}

#[tokio::test]
async fn backchannel_logout_2_7_ends_the_sessions_of_the_sid_and_refuses_a_replayed_jti() {
    let (s, _d) = store().await;
    for id in ["a", "b"] {
        s.insert_session(session(id, 0), None, -1).await.unwrap();
    }
    // A sid with another subject ends nothing.
    let n = s
        .end_sessions_for_logout(Some("sid-a".into()), Some("other".into()))
        .await
        .unwrap();
    assert_eq!(n, 0);
    let n = s
        .end_sessions_for_logout(Some("sid-a".into()), Some("sub".into()))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let a = s.find_session("a".into()).await.unwrap().unwrap();
    assert_eq!(a.ended_reason.as_deref(), Some(BACKCHANNEL));
    let b = s.find_session("b".into()).await.unwrap().unwrap();
    assert!(b.ended_reason.is_none());
    // sub alone ends every session of the subject.
    let n = s
        .end_sessions_for_logout(None, Some("sub".into()))
        .await
        .unwrap();
    assert_eq!(n, 1);
    assert!(s.claim_logout_token("j".into(), 100, 0).await.unwrap());
    assert!(!s.claim_logout_token("j".into(), 100, 50).await.unwrap());
    // Once expired, the claim is forgotten.
    assert!(s.claim_logout_token("j".into(), 300, 200).await.unwrap());
}

#[tokio::test]
async fn an_attempt_is_claimed_once_and_only_by_its_browser() {
    let (s, _d) = store().await;
    s.insert_attempt(attempt("st", "b1", 0), -1).await.unwrap();
    assert!(
        s.claim_attempt("st".into(), "b2".into())
            .await
            .unwrap()
            .is_none()
    );
    let a = s.claim_attempt("st".into(), "b1".into()).await.unwrap();
    assert_eq!(a.unwrap().return_to, "/panels/P1");
    assert!(
        s.claim_attempt("st".into(), "b1".into())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn concurrent_claims_let_exactly_one_through() {
    let (s, _d) = store().await;
    s.insert_attempt(attempt("st", "b", 0), -1).await.unwrap();
    let tries: Vec<_> = (0..8)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.claim_attempt("st".into(), "b".into()).await })
        })
        .collect();
    let mut won = 0;
    for t in tries {
        if t.await.unwrap().unwrap().is_some() {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

#[tokio::test]
async fn old_attempts_are_purged() {
    let (s, _d) = store().await;
    s.insert_attempt(attempt("old", "b", 0), -1).await.unwrap();
    s.insert_attempt(attempt("new", "b", 100 * MIN), 60 * MIN)
        .await
        .unwrap();
    assert!(
        s.claim_attempt("old".into(), "b".into())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        s.claim_attempt("new".into(), "b".into())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_the_absolute_limit() {
    let (s, _d) = store().await;
    let (idle, absolute) = (15 * MIN, 60 * MIN);
    s.insert_session(session("a", 0), None, -1).await.unwrap();
    // Used every 14 minutes: live, and the notice is shown once.
    match s
        .lookup_session("a".into(), 14 * MIN, idle, absolute)
        .await
        .unwrap()
    {
        SessionLookup::Live(r) => assert_eq!(r.notice.as_deref(), Some("welcome back")),
        _ => panic!("live"),
    }
    match s
        .lookup_session("a".into(), 28 * MIN, idle, absolute)
        .await
        .unwrap()
    {
        SessionLookup::Live(r) => assert_eq!(r.notice, None),
        _ => panic!("live"),
    }
    for t in [42, 56] {
        assert!(matches!(
            s.lookup_session("a".into(), t * MIN, idle, absolute)
                .await
                .unwrap(),
            SessionLookup::Live(_)
        ));
    }
    match s
        .lookup_session("a".into(), 60 * MIN, idle, absolute)
        .await
        .unwrap()
    {
        SessionLookup::Ended(r) => assert_eq!(r.ended_reason.as_deref(), Some("absolute")),
        _ => panic!("ended"),
    }
    // Ended stays ended, and keeps its ID token for the logout hint.
    match s
        .lookup_session("a".into(), 61 * MIN, idle, absolute)
        .await
        .unwrap()
    {
        SessionLookup::Ended(r) => assert_eq!(r.id_token, "h.p.s"),
        _ => panic!("ended"),
    }

    s.insert_session(session("b", 0), None, -1).await.unwrap();
    match s
        .lookup_session("b".into(), 15 * MIN, idle, absolute)
        .await
        .unwrap()
    {
        SessionLookup::Ended(r) => assert_eq!(r.ended_reason.as_deref(), Some("idle")),
        _ => panic!("ended"),
    }
    assert!(matches!(
        s.lookup_session("none".into(), 0, idle, absolute)
            .await
            .unwrap(),
        SessionLookup::Unknown
    ));
    // A new session replaces the old one; sign-out deletes it once.
    s.insert_session(session("c", 70 * MIN), Some("b".into()), -1)
        .await
        .unwrap();
    assert!(s.find_session("b".into()).await.unwrap().is_none());
    assert_eq!(
        s.delete_session("c".into()).await.unwrap().as_deref(),
        Some("h.p.s")
    );
    assert!(s.delete_session("c".into()).await.unwrap().is_none());
}

#[tokio::test]
async fn a_logout_state_is_claimed_once_by_its_browser_while_fresh() {
    let (s, _d) = store().await;
    s.insert_logout_state("st".into(), "b".into(), 10, 0)
        .await
        .unwrap();
    assert!(
        !s.claim_logout_state("st".into(), "x".into(), 0)
            .await
            .unwrap()
    );
    assert!(
        !s.claim_logout_state("st".into(), "b".into(), 11)
            .await
            .unwrap()
    );
    assert!(
        s.claim_logout_state("st".into(), "b".into(), 0)
            .await
            .unwrap()
    );
    assert!(
        !s.claim_logout_state("st".into(), "b".into(), 0)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn demo_panels_are_seeded_once_per_administrator() {
    let (s, _d) = store().await;
    let first = s
        .seed_panels("nakitt".into(), crate::demo::panels())
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    let again = s
        .seed_panels("nakitt".into(), crate::demo::panels())
        .await
        .unwrap();
    assert_eq!(first, again);
    let listed = s.panels_of("nakitt".into()).await.unwrap();
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0].0.name, "Demo Panel A (fictitious)");
    assert_eq!(listed[0].1, 4);
    let (panel, patients) = s
        .panel_for(first[0].clone(), "nakitt".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(panel.id, first[0]);
    assert!(patients.iter().all(|p| p.phn.starts_with("00000-")));
    assert!(
        s.panel_for(first[0].clone(), "someone.else".into())
            .await
            .unwrap()
            .is_none()
    );
}
