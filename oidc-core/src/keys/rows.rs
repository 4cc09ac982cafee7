//! The `signing_keys` rows: the lock, the version row, generation, parsing and re-sealing.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{ES256, EdDSA, JwsSigner, JwsVerifier, RS256};

use super::{Crypto, KEYGEN_LOCK_KEY, Key, Times, VERSION_ROW};
use crate::config::SigningAlg;
use crate::error::Error;
use crate::kek::Resealed;
use crate::secret::{KeyRing, random_bytes};
use crate::store::models::SigningKeyRow;
use crate::store::schema::{meta, signing_keys};
use crate::store::{DbConnection, naive, new_id, utc};

/// Serialises key changes among replicas: an advisory lock on PostgreSQL (the write transaction's
/// `BEGIN IMMEDIATE` already does it on SQLite). The KEK check and rotation take it too.
pub(crate) fn lock_keys(conn: &mut DbConnection) -> Result<(), Error> {
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({KEYGEN_LOCK_KEY})"))
            .execute(pg)?;
    }
    Ok(())
}

/// Rows not removed at `now` (retired less than `retire_after` ago, or not retired).
pub(super) fn live_rows(
    conn: &mut DbConnection,
    now: DateTime<Utc>,
    retire_after: chrono::Duration,
) -> Result<Vec<SigningKeyRow>, Error> {
    Ok(signing_keys::table
        .filter(
            signing_keys::retired_at
                .is_null()
                .or(signing_keys::retired_at.gt(naive(now - retire_after))),
        )
        .order(signing_keys::activates_at.asc())
        .select(SigningKeyRow::as_select())
        .load(conn)?)
}

pub(super) fn read_version(conn: &mut DbConnection) -> Result<String, Error> {
    Ok(meta::table
        .find(VERSION_ROW)
        .select(meta::value)
        .first::<String>(conn)
        .optional()?
        .unwrap_or_default())
}

pub(super) fn bump_version(conn: &mut DbConnection) -> Result<(), Error> {
    let v = new_id();
    let n = diesel::update(meta::table.find(VERSION_ROW))
        .set(meta::value.eq(&v))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(meta::table)
            .values((meta::name.eq(VERSION_ROW), meta::value.eq(&v)))
            .execute(conn)?;
    }
    Ok(())
}

/// Re-seals every stored private key under the ring's current key (the KEK rotation; see
/// `kek::SEALED_AT_REST`). Removed keys waiting for housekeeping are re-sealed too: every
/// value in the table must open under the new key alone.
pub(crate) fn reseal_all(conn: &mut DbConnection, ring: &KeyRing) -> Result<Resealed, Error> {
    let rows: Vec<(String, Vec<u8>)> = signing_keys::table
        .select((signing_keys::kid, signing_keys::private_key))
        .load(conn)?;
    let mut done = Resealed::default();
    for (kid, sealed) in rows {
        let (fresh, by) = ring.reseal(&sealed, kid.as_bytes())?;
        diesel::update(signing_keys::table.find(&kid))
            .set(signing_keys::private_key.eq(fresh))
            .execute(conn)?;
        done.add(by);
    }
    Ok(done)
}

/// Opens and parses rows, reusing what `known` already holds by `kid`.
pub(super) fn parse_rows(
    rows: &[SigningKeyRow],
    kek: &KeyRing,
    known: &HashMap<String, Arc<Crypto>>,
) -> Result<Vec<Key>, Error> {
    let mut keys = Vec::new();
    for row in rows {
        let Some(alg) = SigningAlg::parse(&row.alg) else {
            tracing::warn!(kid = %row.kid, alg = %row.alg, "skipping a key of an unknown algorithm");
            continue;
        };
        let crypto = match known.get(&row.kid) {
            Some(c) => c.clone(),
            None => Arc::new(parse_row(row, alg, kek)?),
        };
        keys.push(Key {
            kid: row.kid.clone(),
            times: Times {
                alg,
                activates_at: utc(row.activates_at),
                created_at: utc(row.created_at),
                retired_at: row.retired_at.map(utc),
            },
            crypto,
        });
    }
    Ok(keys)
}

fn parse_row(row: &SigningKeyRow, alg: SigningAlg, kek: &KeyRing) -> Result<Crypto, Error> {
    let der = kek.open(&row.private_key, row.kid.as_bytes())?;
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
        SigningAlg::EdDSA => {
            let pair = EdDSA.key_pair_from_der(&der)?;
            (
                Box::new(EdDSA.signer_from_der(&der)?),
                Box::new(EdDSA.verifier_from_der(pair.to_der_public_key())?),
            )
        }
    };
    let jwk: serde_json::Value = serde_json::from_str(&row.public_jwk)
        .map_err(|e| Error::Crypto(format!("stored JWK of {} is not JSON: {e}", row.kid)))?;
    Ok(Crypto {
        signer,
        verifier,
        jwk,
    })
}

pub(super) fn generate(
    alg: SigningAlg,
    kek: &KeyRing,
    now: DateTime<Utc>,
    activates_at: DateTime<Utc>,
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
        SigningAlg::EdDSA => {
            // RFC 8037 §2: kty OKP, crv Ed25519, x.
            let pair = EdDSA.generate_key_pair(EdCurve::Ed25519)?;
            (pair.to_der_private_key(), pair.to_jwk_public_key())
        }
    };
    jwk.set_key_id(kid.clone());
    jwk.set_algorithm(alg.as_str());
    jwk.set_key_use("sig");
    Ok(SigningKeyRow {
        private_key: kek.seal(&der, kid.as_bytes())?,
        public_jwk: serde_json::to_string(jwk.as_ref())
            .map_err(|e| Error::Internal(e.to_string()))?,
        kid,
        alg: alg.as_str().into(),
        created_at: naive(now),
        retired_at: None,
        activates_at: naive(activates_at),
    })
}
