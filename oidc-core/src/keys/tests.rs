use std::sync::atomic::{AtomicI64, Ordering};

use josekit::jwk::Jwk;
use josekit::jws::{ES256, EdDSA, JwsHeader, RS256};

use super::rows::generate;
use super::set::test_keyset_from;
use super::*;
use crate::store::models::SigningKeyRow;
use crate::store::naive;

fn keyset() -> KeySet {
    test_keyset()
}

struct MovableClock(AtomicI64);
impl Clock for MovableClock {
    fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.0.load(Ordering::SeqCst), 0).unwrap_or_default()
    }
}

#[test]
fn sign_verify_round_trip_with_kid_and_typ() {
    let ks = keyset();
    for alg in SigningAlg::ALL {
        let jws = ks.sign(alg, "JWT", br#"{"a":1}"#).unwrap();
        let (payload, header) = ks.verify(&jws).unwrap();
        assert_eq!(payload, br#"{"a":1}"#);
        assert_eq!(header.algorithm(), Some(alg.as_str()));
        assert!(header.key_id().is_some());
        assert_eq!(header.token_type(), Some("JWT"));
    }
}

#[test]
fn tampered_or_foreign_tokens_fail() {
    let ks = keyset();
    for alg in SigningAlg::ALL {
        let jws = ks.sign(alg, "JWT", br#"{"a":1}"#).unwrap();
        let mut parts: Vec<&str> = jws.split('.').collect();
        let other = crate::secret::b64url(br#"{"a":2}"#);
        parts[1] = &other;
        assert!(ks.verify(&parts.join(".")).is_err(), "{alg:?}");
    }
    // A token signed by another key set (same shape, other keys) is refused.
    let other = keyset();
    for alg in SigningAlg::ALL {
        let foreign = other.sign(alg, "JWT", b"{}").unwrap();
        assert!(ks.verify(&foreign).is_err(), "{alg:?}");
    }
    // alg=none is refused (RFC 7515 §10.7, RFC 8725 §2.1).
    let none = format!(
        "{}.{}.",
        crate::secret::b64url(br#"{"alg":"none"}"#),
        crate::secret::b64url(b"{}")
    );
    assert!(ks.verify(&none).is_err());
}

#[test]
fn rfc8725_3_1_the_header_alg_must_be_the_keys() {
    // An EdDSA signature presented under the RS256 key's kid (or with its alg relabelled)
    // is refused: the key decides the algorithm, never the header alone.
    let ks = keyset();
    let view = ks.current();
    let rsa_kid = view.active[&SigningAlg::RS256].kid.clone();
    let ed = &view.active[&SigningAlg::EdDSA];
    let mut header = JwsHeader::new();
    header.set_key_id(rsa_kid);
    header.set_token_type("JWT");
    let forged =
        josekit::jws::serialize_compact(b"{}", &header, ed.crypto.signer.as_ref()).unwrap();
    assert!(ks.verify(&forged).is_err());
}

#[test]
fn jwks_has_public_keys_only() {
    let ks = keyset();
    let v: serde_json::Value = serde_json::from_slice(&ks.jwks()).unwrap();
    let keys = v["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 3);
    for k in keys {
        assert!(k["kid"].is_string());
        assert_eq!(k["use"], "sig");
        assert!(k.get("d").is_none(), "private part leaked: {k}");
    }
    assert_eq!(keys[0]["kty"], "RSA");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[1]["kty"], "EC");
    assert_eq!(keys[1]["crv"], "P-256");
    // RFC 8037 §2: Ed25519 public keys are OKP with x only.
    assert_eq!(keys[2]["kty"], "OKP");
    assert_eq!(keys[2]["crv"], "Ed25519");
    assert_eq!(keys[2]["alg"], "EdDSA");
    assert!(keys[2]["x"].is_string());
}

#[test]
fn jwks_bytes_are_shared_not_rebuilt() {
    let ks = keyset();
    assert!(Arc::ptr_eq(&ks.jwks(), &ks.jwks()));
}

#[test]
fn a_key_moves_through_published_active_retired_removed_by_time_alone() {
    let kek = KeyRing::new([5u8; 32], &[]);
    let t0 = 1_000_000i64;
    let at = |s: i64| DateTime::from_timestamp(t0 + s, 0).unwrap();
    let old = generate(SigningAlg::ES256, &kek, at(0), at(0)).unwrap();
    let mut new = generate(SigningAlg::ES256, &kek, at(100), at(700)).unwrap();
    new.retired_at = None;
    let mut old = old;
    old.retired_at = Some(naive(at(700)));
    let clock = Arc::new(MovableClock(AtomicI64::new(t0 + 100)));
    let ks = test_keyset_from(&[old.clone(), new.clone()], &kek, clock.clone());
    let kids = |ks: &KeySet| -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&ks.jwks()).unwrap();
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_string())
            .collect()
    };
    let signer_kid = |ks: &KeySet| {
        let jws = ks.sign(SigningAlg::ES256, "JWT", b"{}").unwrap();
        ks.verify(&jws).unwrap().1.key_id().unwrap().to_string()
    };
    // Published: in JWKS (newest first), the old key still signs.
    assert_eq!(kids(&ks), [new.kid.clone(), old.kid.clone()]);
    assert_eq!(signer_kid(&ks), old.kid);
    let by_old = ks.sign(SigningAlg::ES256, "JWT", b"{}").unwrap();
    // Active at activates_at; the old key is retired but verifies.
    clock.0.store(t0 + 700, Ordering::SeqCst);
    assert_eq!(signer_kid(&ks), new.kid);
    assert_eq!(kids(&ks).len(), 2);
    assert!(ks.verify(&by_old).is_ok());
    // 12 h after retirement the old key is removed: out of JWKS, refused.
    clock.0.store(t0 + 700 + 12 * 3600 - 1, Ordering::SeqCst);
    assert!(ks.verify(&by_old).is_ok());
    clock.0.store(t0 + 700 + 12 * 3600, Ordering::SeqCst);
    assert_eq!(kids(&ks), [new.kid.clone()]);
    assert!(ks.verify(&by_old).is_err());
    assert_eq!(signer_kid(&ks), new.kid);
}

#[test]
fn phases_follow_the_successor_when_retired_at_is_missing() {
    let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
    let keys = [
        Times {
            alg: SigningAlg::RS256,
            activates_at: at(0),
            created_at: at(0),
            retired_at: None,
        },
        Times {
            alg: SigningAlg::RS256,
            activates_at: at(100),
            created_at: at(50),
            retired_at: None,
        },
        Times {
            alg: SigningAlg::ES256,
            activates_at: at(0),
            created_at: at(0),
            retired_at: None,
        },
    ];
    let ra = chrono::Duration::seconds(1000);
    let p = phases(&keys, at(60), ra);
    assert_eq!(p[0].state, KeyState::Active);
    assert_eq!(p[1].state, KeyState::Published);
    assert_eq!(p[2].state, KeyState::Active);
    assert_eq!(p[0].retired, Some(at(100)));
    assert_eq!(p[0].removed, Some(at(1100)));
    let p = phases(&keys, at(100), ra);
    assert_eq!(
        (p[0].state, p[1].state),
        (KeyState::Retired, KeyState::Active)
    );
    let p = phases(&keys, at(1100), ra);
    assert_eq!(
        (p[0].state, p[1].state),
        (KeyState::Removed, KeyState::Active)
    );
}

// RFC 7515 Appendix A.1 payload, shared by A.2 and A.3 (note the CR LF line breaks).
const A1_PAYLOAD: &[u8] =
    b"{\"iss\":\"joe\",\r\n \"exp\":1300819380,\r\n \"http://example.com/is_root\":true}";

#[test]
fn rfc7515_a2_rs256_vector_through_the_sealed_key_path() {
    // RSASSA-PKCS1-v1_5 is deterministic: signing A.1's payload with A.2's key through our
    // storage path (DER, sealed, opened, parsed) must give the RFC's exact JWS.
    let expected = "eyJhbGciOiJSUzI1NiJ9\
            .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
            .cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5\
            jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L0\
            7Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUip\
            UTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    let kek = KeyRing::new([9u8; 32], &[]);
    let pair = RS256
        .key_pair_from_pem(include_str!("rfc7515_a2_rsa.pem"))
        .unwrap();
    let kid = "rfc7515-a2".to_string();
    let epoch = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
    let row = SigningKeyRow {
        private_key: kek
            .seal(&pair.to_der_private_key(), kid.as_bytes())
            .unwrap(),
        public_jwk: serde_json::to_string(pair.to_jwk_public_key().as_ref()).unwrap(),
        kid: kid.clone(),
        alg: "RS256".into(),
        created_at: epoch,
        retired_at: None,
        activates_at: epoch,
    };
    let ks = test_keyset_from(&[row], &kek, Arc::new(crate::clock::SystemClock));
    let view = ks.current();
    let mut header = JwsHeader::new();
    header.set_algorithm("RS256");
    let signer = view.active[&SigningAlg::RS256].crypto.signer.as_ref();
    let jws = josekit::jws::serialize_compact(A1_PAYLOAD, &header, signer).unwrap();
    assert_eq!(jws, expected);
    let (payload, _) =
        josekit::jws::deserialize_compact(expected, view.verifiers[&kid].crypto.verifier.as_ref())
            .unwrap();
    assert_eq!(payload, A1_PAYLOAD);
}

#[test]
fn rfc7515_a3_es256_vector_verifies() {
    // ECDSA signatures are randomised, so only verification can be checked against A.3.
    let token = "eyJhbGciOiJFUzI1NiJ9\
            .eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ\
            .DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    let jwk = Jwk::from_bytes(
            br#"{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#,
        )
        .unwrap();
    let verifier = ES256.verifier_from_jwk(&jwk).unwrap();
    let (payload, _) = josekit::jws::deserialize_compact(token, &verifier).unwrap();
    assert_eq!(payload, A1_PAYLOAD);
    let mut tampered = token.to_string();
    tampered.replace_range(token.len() - 3.., "AAA");
    assert!(josekit::jws::deserialize_compact(&tampered, &verifier).is_err());
}

#[test]
fn rfc8037_a4_ed25519_vector_through_the_sealed_key_path() {
    // RFC 8037 Appendix A.1 key, A.4 signature of "Example of Ed25519 signing" under the
    // protected header {"alg":"EdDSA"}. Ed25519 is deterministic, so the JWS must match.
    let d = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A";
    let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    let expected = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc\
            .hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
    let private = Jwk::from_bytes(
        format!(r#"{{"kty":"OKP","crv":"Ed25519","d":"{d}","x":"{x}"}}"#).as_bytes(),
    )
    .unwrap();
    let pair = josekit::jwk::alg::ed::EdKeyPair::from_jwk(&private).unwrap();
    let kek = KeyRing::new([7u8; 32], &[]);
    let kid = "rfc8037-a1".to_string();
    let epoch = chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc();
    let row = SigningKeyRow {
        private_key: kek
            .seal(&pair.to_der_private_key(), kid.as_bytes())
            .unwrap(),
        public_jwk: serde_json::to_string(pair.to_jwk_public_key().as_ref()).unwrap(),
        kid: kid.clone(),
        alg: "EdDSA".into(),
        created_at: epoch,
        retired_at: None,
        activates_at: epoch,
    };
    let ks = test_keyset_from(&[row], &kek, Arc::new(crate::clock::SystemClock));
    let view = ks.current();
    let mut header = JwsHeader::new();
    header.set_algorithm("EdDSA");
    let signer = view.active[&SigningAlg::EdDSA].crypto.signer.as_ref();
    let jws =
        josekit::jws::serialize_compact(b"Example of Ed25519 signing", &header, signer).unwrap();
    assert_eq!(jws, expected);
    // The published JWK is the RFC's public key, and it verifies the RFC's JWS.
    assert_eq!(view.verifiers[&kid].crypto.jwk["x"], x);
    assert_eq!(view.verifiers[&kid].crypto.jwk["kty"], "OKP");
    assert!(
        ks.verify(expected).is_err(),
        "no kid in the RFC's header: not ours"
    );
    let verifier = EdDSA
        .verifier_from_jwk(
            &Jwk::from_bytes(format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#).as_bytes())
                .unwrap(),
        )
        .unwrap();
    assert!(josekit::jws::deserialize_compact(expected, &verifier).is_ok());
}
