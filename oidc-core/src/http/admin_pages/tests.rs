//! The admin pages' own rules: return paths, the login cookie, nonces, messages.
use super::*;

#[test]
fn the_return_leg_stays_on_admin_pages() {
    for ok in [
        "/admin",
        "/admin/users?q=a%40b",
        "/admin/users/john.doe",
        "/admin/audit",
    ] {
        assert_eq!(safe_return("", ok), ok);
    }
    assert_eq!(safe_return("/iam", "/iam/admin/users"), "/iam/admin/users");
    for bad in [
        "https://evil.example/admin",
        "//evil.example/admin",
        "/administrator",
        "/admin/../authorize",
        "/admin/%2e%2e/authorize",
        "/admin/%2E%2E%2Fauthorize",
        "/admin\\..\\x",
        "/admin/callback?code=x",
        "/admin/api/users",
        "/admin/logout",
        "/admin/users#x",
        "/admin/users/a b",
        "/authorize",
        "",
    ] {
        assert_eq!(safe_return("", bad), "/admin", "{bad}");
    }
    assert_eq!(safe_return("/iam", "/admin/users"), "/iam/admin");
    assert_eq!(
        safe_return("", &format!("/admin/{}", "a".repeat(MAX_RETURN))),
        "/admin"
    );
}

#[test]
fn the_login_cookie_round_trips_and_refuses_damage() {
    let p = Pending {
        state: "st".into(),
        nonce: "no".into(),
        verifier: "ve".into(),
        reauth: true,
        return_to: "/admin/users?q=x".into(),
    };
    let back = Pending::decode(&p.encode()).unwrap();
    assert_eq!(
        (
            back.state,
            back.nonce,
            back.verifier,
            back.reauth,
            back.return_to
        ),
        (
            "st".to_string(),
            "no".to_string(),
            "ve".to_string(),
            true,
            "/admin/users?q=x".to_string()
        )
    );
    for bad in ["", "a.b.c.0", "a.b.c.0.!!", "a.b.c.0.x.y", "..c.0.x"] {
        assert!(Pending::decode(bad).is_none(), "{bad}");
    }
}

#[test]
fn the_nonce_is_read_from_the_id_token_payload() {
    let payload = b64url(br#"{"nonce":"n-1","sub":"x"}"#);
    let token = format!("h.{payload}.sig");
    assert!(nonce_matches(&token, "n-1"));
    assert!(!nonce_matches(&token, "n-2"));
    assert!(!nonce_matches("h.!!.sig", "n-1"));
    assert!(!nonce_matches(&format!("h.{}.s", b64url(b"{}")), "n-1"));
}

#[test]
fn library_messages_become_sentences() {
    assert_eq!(
        sentence("verify the caller first"),
        "Verify the caller first."
    );
    assert_eq!(sentence("done."), "Done.");
    assert_eq!(sentence(""), "");
}
