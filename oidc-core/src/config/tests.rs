use std::net::IpAddr;

use super::*;

#[test]
fn issuer_rules() {
    assert!(
        ProviderConfig::builder("https://iam.example.org")
            .key_encryption_key([1; 32])
            .build()
            .is_ok()
    );
    assert!(
        ProviderConfig::builder("http://127.0.0.1:8080")
            .build()
            .is_ok()
    );
    assert!(ProviderConfig::builder("http://[::1]:8080").build().is_ok());
    assert!(ProviderConfig::builder("http://localhost").build().is_ok());
    assert!(
        ProviderConfig::builder("http://iam.example.org")
            .key_encryption_key([1; 32])
            .build()
            .is_err()
    );
    assert!(
        ProviderConfig::builder("https://iam.example.org/?a=b")
            .key_encryption_key([1; 32])
            .build()
            .is_err()
    );
    assert!(
        ProviderConfig::builder("https://iam.example.org/#x")
            .key_encryption_key([1; 32])
            .build()
            .is_err()
    );
    assert!(ProviderConfig::builder("ftp://127.0.0.1").build().is_err());
    assert!(ProviderConfig::builder("not a url").build().is_err());
}

#[test]
fn development_key_only_on_loopback() {
    let e = ProviderConfig::builder("https://iam.example.org")
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("IAM_KEY_ENCRYPTION_KEY"), "{e}");
    let c = ProviderConfig::builder("https://127.0.0.1:8443")
        .build()
        .unwrap();
    assert!(c.uses_development_key());
    assert!(!c.is_loopback_http());

    // Nor as an explicitly configured or previous key: it is public.
    for b in [
        ProviderConfig::builder("https://iam.example.org").key_encryption_key(DEVELOPMENT_KEK),
        ProviderConfig::builder("https://iam.example.org")
            .key_encryption_key([1; 32])
            .previous_key_encryption_keys(vec![DEVELOPMENT_KEK]),
    ] {
        let e = b.build().unwrap_err();
        assert!(e.to_string().contains("development"), "{e}");
    }
    let c = ProviderConfig::builder("https://iam.example.org")
        .key_encryption_key([1; 32])
        .previous_key_encryption_keys(vec![[2; 32]])
        .build()
        .unwrap();
    assert_eq!(c.previous_keks, vec![[2u8; 32]]);
    assert!(c.audit_key_derived);
}

#[test]
fn trailing_slash_and_prefix() {
    let c = ProviderConfig::builder("http://127.0.0.1:8080/iam/")
        .build()
        .unwrap();
    assert_eq!(c.issuer(), "http://127.0.0.1:8080/iam");
    assert_eq!(c.base_path(), "/iam");
    assert_eq!(c.endpoint("/token"), "http://127.0.0.1:8080/iam/token");
}

#[test]
fn debug_output_never_shows_keys() {
    let c = ProviderConfig::builder("http://127.0.0.1")
        .key_encryption_key([0xab; 32])
        .build()
        .unwrap();
    let shown = format!("{c:?}");
    assert!(shown.contains("[redacted]"));
    assert!(!shown.contains("171"), "{shown}");
}

#[test]
fn throttling_defaults() {
    let c = ProviderConfig::builder("http://127.0.0.1").build().unwrap();
    assert_eq!(c.lockout_threshold, 100);
    assert_eq!(c.lockout_duration, Duration::from_secs(3600));
    assert_eq!(c.pair_free_failures, 5);
    assert_eq!(c.pair_initial_delay, Duration::from_secs(1));
    assert_eq!(c.pair_max_delay, Duration::from_secs(60));
    assert_eq!(c.address_failure_limit, 100);
    assert_eq!(c.address_window, Duration::from_secs(900));
    assert!(c.trusted_proxies.is_empty());
    let c = ProviderConfig::builder("http://127.0.0.1")
        .trusted_proxies([
            IpAddr::from([10, 0, 0, 1]).into(),
            "192.168.0.0/16".parse::<IpNet>().unwrap(),
        ])
        .build()
        .unwrap();
    assert_eq!(c.trusted_proxies.len(), 2);
    assert!(
        ProviderConfig::builder("http://127.0.0.1")
            .throttle_initial_delay(Duration::from_secs(120))
            .build()
            .is_err()
    );
}

#[test]
fn key_policy_defaults() {
    let c = ProviderConfig::builder("http://127.0.0.1").build().unwrap();
    assert_eq!(c.key_algorithms(), &SigningAlg::ALL);
    assert_eq!(
        c.key_rotation_interval(),
        Some(Duration::from_secs(90 * 86400))
    );
    assert_eq!(c.key_publish_delay(), Duration::from_secs(600));
    // The session's absolute lifetime (12 h) is the longest of the three by default.
    assert_eq!(c.key_retire_after(), Duration::from_secs(12 * 3600));
    assert_eq!(c.key_refresh_interval(), Duration::from_secs(30));
    assert_eq!(c.housekeeping_interval(), Some(Duration::from_secs(3600)));
    assert_eq!(c.housekeeping_batch(), 500);
    assert!(c.key_publish_delay() > JWKS_MAX_AGE + c.key_refresh_interval());
    let c = ProviderConfig::builder("http://127.0.0.1")
        .key_rotation_interval(Duration::ZERO)
        .housekeeping_interval(Duration::ZERO)
        .build()
        .unwrap();
    assert_eq!(c.key_rotation_interval(), None);
    assert_eq!(c.housekeeping_interval(), None);
}

#[test]
fn key_policy_is_validated() {
    let b = || ProviderConfig::builder("http://127.0.0.1");
    // Published for less than max-age + refresh: a relying party could miss the key.
    let e = b()
        .key_publish_delay(Duration::from_secs(330))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("key_publish_delay"), "{e}");
    assert!(
        b().key_publish_delay(Duration::from_secs(331))
            .build()
            .is_ok()
    );
    // Retired keys must outlive every token and hint they signed.
    let e = b()
        .key_retire_after(Duration::from_secs(3600))
        .build()
        .unwrap_err();
    assert!(e.to_string().contains("key_retire_after"), "{e}");
    assert!(
        b().session_absolute(Duration::from_secs(3600))
            .session_idle(Duration::from_secs(600))
            .key_retire_after(Duration::from_secs(3600))
            .build()
            .is_ok()
    );
    assert!(
        b().key_rotation_interval(Duration::from_secs(600))
            .build()
            .is_err()
    );
    assert!(
        b().key_refresh_interval(Duration::from_millis(10))
            .build()
            .is_err()
    );
    assert!(b().housekeeping_batch(0).build().is_err());
    assert!(
        b().housekeeping_interval(Duration::from_secs(5))
            .build()
            .is_err()
    );
    // The configured token algorithms need keys.
    let e = b().key_algorithms([SigningAlg::ES256]).build().unwrap_err();
    assert!(e.to_string().contains("RS256"), "{e}");
    let c = b()
        .id_token_alg(SigningAlg::EdDSA)
        .access_token_alg(SigningAlg::ES256)
        .key_algorithms([SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::EdDSA])
        .build()
        .unwrap();
    // Deduplicated, in discovery order.
    assert_eq!(c.key_algorithms(), &[SigningAlg::ES256, SigningAlg::EdDSA]);
}

#[test]
fn signing_alg_names_round_trip() {
    for a in SigningAlg::ALL {
        assert_eq!(SigningAlg::parse(a.as_str()), Some(a));
    }
    assert_eq!(SigningAlg::parse("EdDSA"), Some(SigningAlg::EdDSA));
    assert_eq!(SigningAlg::parse("eddsa"), None);
    assert_eq!(SigningAlg::parse("HS256"), None);
    assert_eq!(SigningAlg::parse("none"), None);
}

#[test]
fn lifetimes_validated() {
    assert!(
        ProviderConfig::builder("http://127.0.0.1")
            .code_ttl(Duration::ZERO)
            .build()
            .is_err()
    );
    assert!(
        ProviderConfig::builder("http://127.0.0.1")
            .session_idle(Duration::from_secs(100))
            .session_absolute(Duration::from_secs(10))
            .build()
            .is_err()
    );
}
