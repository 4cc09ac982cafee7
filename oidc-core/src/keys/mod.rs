//! Signing keys: generated on first start, sealed at rest with the key-encryption key, parsed once
//! into signers and verifiers, and published as a precomputed JWKS document.

use std::collections::HashMap;
use std::sync::Arc;

use diesel::prelude::*;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{ES256, JwsHeader, JwsSigner, JwsVerifier, RS256};

use crate::clock::Clock;
use crate::config::{ProviderConfig, SigningAlg};
use crate::error::Error;
use crate::secret::{open, random_bytes, seal};
use crate::store::models::SigningKeyRow;
use crate::store::schema::signing_keys;
use crate::store::{Db, DbConnection, naive};

/// Advisory lock that serialises first-start key generation among replicas on PostgreSQL.
const KEYGEN_LOCK_KEY: i64 = 0x01dc_c04b;

struct ActiveKey {
    kid: String,
    signer: Box<dyn JwsSigner>,
}

/// The provider's signing keys, parsed once.
pub(crate) struct KeySet {
    active: HashMap<SigningAlg, ActiveKey>,
    verifiers: HashMap<String, (SigningAlg, Box<dyn JwsVerifier>)>,
    jwks: Arc<[u8]>,
}

impl KeySet {
    /// Loads the keys, generating one per algorithm where none exists yet.
    pub(crate) async fn load(
        db: &Db,
        config: &ProviderConfig,
        clock: &dyn Clock,
    ) -> Result<KeySet, Error> {
        let kek = config.kek;
        let now = naive(clock.now());
        let rows = db
            .write(move |conn| {
                if let DbConnection::Postgresql(pg) = conn {
                    diesel::sql_query(format!("SELECT pg_advisory_xact_lock({KEYGEN_LOCK_KEY})")).execute(pg)?;
                }
                let mut rows: Vec<SigningKeyRow> = signing_keys::table
                    .filter(signing_keys::retired_at.is_null())
                    .order(signing_keys::created_at.asc())
                    .select(SigningKeyRow::as_select())
                    .load(conn)?;
                for alg in SigningAlg::ALL {
                    if !rows.iter().any(|r| r.alg == alg.as_str()) {
                        let row = generate(alg, &kek, now)?;
                        diesel::insert_into(signing_keys::table).values(&row).execute(conn)?;
                        tracing::info!(kid = %row.kid, alg = alg.as_str(), "generated a signing key");
                        rows.push(row);
                    }
                }
                Ok(rows)
            })
            .await?;
        KeySet::from_rows(&rows, &kek)
    }

    fn from_rows(rows: &[SigningKeyRow], kek: &[u8; 32]) -> Result<KeySet, Error> {
        let mut active = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut keys = Vec::new();
        // Rows come oldest first, so the newest key of each algorithm ends up active.
        for row in rows {
            let Some(alg) = SigningAlg::parse(&row.alg) else {
                tracing::warn!(kid = %row.kid, alg = %row.alg, "skipping a key of an unknown algorithm");
                continue;
            };
            let der = open(kek, &row.private_key, row.kid.as_bytes())?;
            let (signer, verifier): (Box<dyn JwsSigner>, Box<dyn JwsVerifier>) = match alg {
                SigningAlg::RS256 => {
                    let pair = RS256.key_pair_from_der(&der)?;
                    (
                        Box::new(RS256.signer_from_der(&der)?),
                        Box::new(RS256.verifier_from_der(pair.to_der_public_key())?),
                    )
                }
                SigningAlg::ES256 => {
                    let pair = ES256.key_pair_from_der(&der)?;
                    (
                        Box::new(ES256.signer_from_der(&der)?),
                        Box::new(ES256.verifier_from_der(pair.to_der_public_key())?),
                    )
                }
            };
            active.insert(
                alg,
                ActiveKey {
                    kid: row.kid.clone(),
                    signer,
                },
            );
            verifiers.insert(row.kid.clone(), (alg, verifier));
            let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk).map_err(|e| {
                Error::Crypto(format!("stored JWK of {} is not JSON: {e}", row.kid))
            })?;
            keys.push(jwk);
        }
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": keys }))
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(KeySet {
            active,
            verifiers,
            jwks: jwks.into(),
        })
    }

    /// The JWKS document (RFC 7517 §5), serialised once.
    pub(crate) fn jwks(&self) -> Arc<[u8]> {
        self.jwks.clone()
    }

    /// Signs `payload` as a compact JWS with the active key of `alg`, setting `kid` and `typ`.
    pub(crate) fn sign(&self, alg: SigningAlg, typ: &str, payload: &[u8]) -> Result<String, Error> {
        let key = self
            .active
            .get(&alg)
            .ok_or_else(|| Error::Crypto(format!("no active {} key", alg.as_str())))?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(key.kid.clone());
        Ok(josekit::jws::serialize_compact(
            payload,
            &header,
            key.signer.as_ref(),
        )?)
    }

    /// Verifies a compact JWS made by one of our keys; returns its payload and header. Fails when
    /// the `kid` is unknown or the header's `alg` is not the key's (no algorithm confusion).
    pub(crate) fn verify(&self, token: &str) -> Result<(Vec<u8>, JwsHeader), Error> {
        Ok(josekit::jws::deserialize_compact_with_selector(
            token,
            |header| {
                let found = header.key_id().and_then(|kid| self.verifiers.get(kid));
                Ok(match found {
                    Some((alg, v)) if header.algorithm() == Some(alg.as_str()) => Some(v.as_ref()),
                    _ => None,
                })
            },
        )?)
    }
}

fn generate(
    alg: SigningAlg,
    kek: &[u8; 32],
    now: chrono::NaiveDateTime,
) -> Result<SigningKeyRow, Error> {
    let kid = crate::secret::b64url(&random_bytes(12)?);
    let (der, mut jwk): (Vec<u8>, Jwk) = match alg {
        SigningAlg::RS256 => {
            let pair = RS256.generate_key_pair(2048)?;
            (pair.to_der_private_key(), pair.to_jwk_public_key())
        }
        SigningAlg::ES256 => {
            let pair = ES256.generate_key_pair()?;
            (pair.to_der_private_key(), pair.to_jwk_public_key())
        }
    };
    jwk.set_key_id(kid.clone());
    jwk.set_algorithm(alg.as_str());
    jwk.set_key_use("sig");
    Ok(SigningKeyRow {
        private_key: seal(kek, &der, kid.as_bytes())?,
        public_jwk: serde_json::to_string(jwk.as_ref())
            .map_err(|e| Error::Internal(e.to_string()))?,
        kid,
        alg: alg.as_str().into(),
        created_at: now,
        retired_at: None,
    })
}

/// A fresh RS256 + ES256 key set for unit tests of the modules that sign and verify.
#[cfg(test)]
pub(crate) fn test_keyset() -> KeySet {
    let kek = [3u8; 32];
    let now = chrono::NaiveDateTime::default();
    let rows = [SigningAlg::RS256, SigningAlg::ES256].map(|alg| {
        generate(alg, &kek, now).unwrap_or_else(|e| unreachable!("test key generation: {e}"))
    });
    KeySet::from_rows(&rows, &kek).unwrap_or_else(|e| unreachable!("test key set: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyset() -> KeySet {
        test_keyset()
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
        let jws = ks.sign(SigningAlg::RS256, "JWT", br#"{"a":1}"#).unwrap();
        let mut parts: Vec<&str> = jws.split('.').collect();
        let other = crate::secret::b64url(br#"{"a":2}"#);
        parts[1] = &other;
        assert!(ks.verify(&parts.join(".")).is_err());
        // A token signed by another key set (same shape, other keys) is refused.
        let foreign = keyset().sign(SigningAlg::ES256, "JWT", b"{}").unwrap();
        assert!(ks.verify(&foreign).is_err());
        // alg=none is refused (RFC 7515 §10.7, RFC 8725 §2.1).
        let none = format!(
            "{}.{}.",
            crate::secret::b64url(br#"{"alg":"none"}"#),
            crate::secret::b64url(b"{}")
        );
        assert!(ks.verify(&none).is_err());
    }

    #[test]
    fn jwks_has_public_keys_only() {
        let ks = keyset();
        let v: serde_json::Value = serde_json::from_slice(&ks.jwks()).unwrap();
        let keys = v["keys"].as_array().unwrap();
        assert_eq!(keys.len(), 2);
        for k in keys {
            assert!(k["kid"].is_string());
            assert_eq!(k["use"], "sig");
            assert!(k.get("d").is_none(), "private part leaked: {k}");
        }
        assert_eq!(keys[0]["kty"], "RSA");
        assert_eq!(keys[0]["alg"], "RS256");
        assert_eq!(keys[1]["kty"], "EC");
        assert_eq!(keys[1]["crv"], "P-256");
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
        let kek = [9u8; 32];
        let pair = RS256
            .key_pair_from_pem(include_str!("rfc7515_a2_rsa.pem"))
            .unwrap();
        let kid = "rfc7515-a2".to_string();
        let row = SigningKeyRow {
            private_key: seal(&kek, &pair.to_der_private_key(), kid.as_bytes()).unwrap(),
            public_jwk: serde_json::to_string(pair.to_jwk_public_key().as_ref()).unwrap(),
            kid: kid.clone(),
            alg: "RS256".into(),
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc(),
            retired_at: None,
        };
        let ks = KeySet::from_rows(&[row], &kek).unwrap();
        let mut header = JwsHeader::new();
        header.set_algorithm("RS256");
        let signer = ks.active[&SigningAlg::RS256].signer.as_ref();
        let jws = josekit::jws::serialize_compact(A1_PAYLOAD, &header, signer).unwrap();
        assert_eq!(jws, expected);
        let (payload, _) =
            josekit::jws::deserialize_compact(expected, ks.verifiers[&kid].1.as_ref()).unwrap();
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
}
