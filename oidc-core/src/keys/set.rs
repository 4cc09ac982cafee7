//! The key set in memory: the view of one instant (what signs, what verifies, the JWKS bytes),
//! loading, signing and verifying, and reloading when another replica changed the keys.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use josekit::jws::JwsHeader;

use super::rows::{bump_version, generate, live_rows, lock_keys, parse_rows, read_version};
use super::{Crypto, Key, KeySet, KeyState, Phase, Source, Times, chrono_duration, phases};
use crate::clock::Clock;
use crate::config::{ProviderConfig, SigningAlg};
use crate::error::Error;
#[cfg(any(test, feature = "fuzzing", feature = "bench"))]
use crate::secret::KeyRing;
use crate::store::Db;
#[cfg(any(test, feature = "fuzzing", feature = "bench"))]
use crate::store::models::SigningKeyRow;
use crate::store::schema::signing_keys;

/// The key set as of one instant: what signs, what verifies, and the JWKS bytes.
pub(super) struct View {
    /// The `meta` version the keys were loaded at.
    pub(super) version: String,
    /// Every loaded key (removed ones are dropped at the next rebuild).
    pub(super) keys: Vec<Key>,
    pub(super) active: HashMap<SigningAlg, Key>,
    pub(super) verifiers: HashMap<String, Key>,
    pub(super) jwks: Arc<[u8]>,
    /// The next instant this view is out of date (an activation, a retirement, a removal).
    pub(super) next_change: Option<DateTime<Utc>>,
}

impl View {
    pub(super) fn build(
        version: String,
        keys: Vec<Key>,
        now: DateTime<Utc>,
        retire_after: chrono::Duration,
    ) -> Result<View, Error> {
        let times: Vec<Times> = keys.iter().map(|k| k.times).collect();
        let phases = phases(&times, now, retire_after);
        let mut active = HashMap::new();
        let mut verifiers = HashMap::new();
        let mut next_change: Option<DateTime<Utc>> = None;
        let mut later = |t: DateTime<Utc>| {
            if t > now && next_change.is_none_or(|n| t < n) {
                next_change = Some(t);
            }
        };
        let mut kept = Vec::new();
        let mut published: Vec<(usize, DateTime<Utc>, &serde_json::Value)> = Vec::new();
        for (
            key,
            Phase {
                state,
                retired,
                removed,
            },
        ) in keys.iter().zip(phases)
        {
            if state == KeyState::Removed {
                continue;
            }
            later(key.times.activates_at);
            if let Some(r) = retired {
                later(r);
            }
            if let Some(r) = removed {
                later(r);
            }
            if state == KeyState::Active {
                active.insert(key.times.alg, key.clone());
            }
            verifiers.insert(key.kid.clone(), key.clone());
            let order = SigningAlg::ALL
                .iter()
                .position(|a| *a == key.times.alg)
                .unwrap_or(usize::MAX);
            published.push((order, key.times.activates_at, &key.crypto.jwk));
            kept.push(key.clone());
        }
        // By algorithm in discovery order, newest first within each.
        published.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        let jwks: Vec<&serde_json::Value> = published.into_iter().map(|p| p.2).collect();
        let jwks = serde_json::to_vec(&serde_json::json!({ "keys": jwks }))
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(View {
            version,
            keys: kept,
            active,
            verifiers,
            jwks: jwks.into(),
            next_change,
        })
    }
}

impl KeySet {
    /// Loads the keys, generating one per configured algorithm where none is in force yet (such a
    /// first key signs at once: nobody can hold tokens of an algorithm that had no key).
    pub(crate) async fn load(
        db: &Db,
        config: &ProviderConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<KeySet, Error> {
        let kek = config.key_ring();
        let retire_after = chrono_duration(config.key_retire_after)?;
        let now = clock.now();
        let algs = config.key_algorithms.clone();
        let ring = kek.clone();
        let (rows, version) = db
            .write(move |conn| {
                lock_keys(conn)?;
                let mut rows = live_rows(conn, now, retire_after)?;
                let mut generated = false;
                for alg in algs {
                    if !rows
                        .iter()
                        .any(|r| r.alg == alg.as_str() && r.retired_at.is_none())
                    {
                        let row = generate(alg, &ring, now, now)?;
                        diesel::insert_into(signing_keys::table)
                            .values(&row)
                            .execute(conn)?;
                        tracing::info!(kid = %row.kid, alg = alg.as_str(), "generated a signing key");
                        rows.push(row);
                        generated = true;
                    }
                }
                if generated {
                    bump_version(conn)?;
                }
                Ok((rows, read_version(conn)?))
            })
            .await?;
        let keys = parse_rows(&rows, &kek, &HashMap::new())?;
        let view = View::build(version, keys, now, retire_after)?;
        Ok(KeySet {
            view: RwLock::new(Arc::new(view)),
            clock,
            retire_after,
            source: Some(Source {
                db: db.clone(),
                kek,
                reload: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// The view in force now: rebuilt in memory when an activation or removal time has passed.
    pub(super) fn current(&self) -> Arc<View> {
        let view = self
            .view
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        match view.next_change {
            Some(t) if self.clock.now() >= t => self.rebuild(),
            _ => view,
        }
    }

    fn rebuild(&self) -> Arc<View> {
        let mut guard = self
            .view
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = self.clock.now();
        if guard.next_change.is_some_and(|t| now >= t) {
            match View::build(
                guard.version.clone(),
                guard.keys.clone(),
                now,
                self.retire_after,
            ) {
                Ok(v) => *guard = Arc::new(v),
                Err(e) => tracing::error!(error = %e, "could not rebuild the key set"),
            }
        }
        guard.clone()
    }

    fn swap(&self, view: View) {
        *self
            .view
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(view);
    }

    /// Whether there is an active signing key for `alg`.
    pub(crate) fn can_sign(&self, alg: SigningAlg) -> bool {
        self.current().active.contains_key(&alg)
    }

    /// The JWKS document (RFC 7517 §5), serialised once per change of the key set.
    pub(crate) fn jwks(&self) -> Arc<[u8]> {
        self.current().jwks.clone()
    }

    /// Signs `payload` as a compact JWS with the active key of `alg`, setting `kid` and `typ`.
    pub(crate) fn sign(&self, alg: SigningAlg, typ: &str, payload: &[u8]) -> Result<String, Error> {
        let view = self.current();
        let key = view
            .active
            .get(&alg)
            .ok_or_else(|| Error::Crypto(format!("no active {} key", alg.as_str())))?;
        let mut header = JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(key.kid.clone());
        Ok(josekit::jws::serialize_compact(
            payload,
            &header,
            key.crypto.signer.as_ref(),
        )?)
    }

    /// Verifies a compact JWS made by one of our published or retired (not removed) keys; returns
    /// its payload and header. Fails when the `kid` is unknown or removed, or the header's `alg`
    /// is not the key's (no algorithm confusion).
    pub(crate) fn verify(&self, token: &str) -> Result<(Vec<u8>, JwsHeader), Error> {
        let view = self.current();
        Ok(josekit::jws::deserialize_compact_with_selector(
            token,
            |header| {
                let found = header.key_id().and_then(|kid| view.verifiers.get(kid));
                Ok(match found {
                    Some(k) if header.algorithm() == Some(k.times.alg.as_str()) => {
                        Some(k.crypto.verifier.as_ref())
                    }
                    _ => None,
                })
            },
        )?)
    }

    /// Reloads the keys when another replica (or this one) changed them: one primary-key read of
    /// the `meta` version when nothing changed. Returns whether the keys were reloaded.
    pub(crate) async fn refresh(&self) -> Result<bool, Error> {
        let Some(src) = &self.source else {
            return Ok(false);
        };
        let _one_at_a_time = src.reload.lock().await;
        let seen = self.current().version.clone();
        let version = src.db.run(read_version).await?;
        if version == seen {
            return Ok(false);
        }
        self.reload(src).await?;
        Ok(true)
    }

    pub(super) async fn reload(&self, src: &Source) -> Result<(), Error> {
        let now = self.clock.now();
        let retire_after = self.retire_after;
        let (version, rows) = src
            .db
            .run(move |conn| {
                // The version first: a change between the two reads is seen again next time.
                let version = read_version(conn)?;
                Ok((version, live_rows(conn, now, retire_after)?))
            })
            .await?;
        let known: HashMap<String, Arc<Crypto>> = self
            .current()
            .keys
            .iter()
            .map(|k| (k.kid.clone(), k.crypto.clone()))
            .collect();
        let keys = parse_rows(&rows, &src.kek, &known)?;
        let view = View::build(version, keys, self.clock.now(), retire_after)?;
        tracing::info!(keys = view.keys.len(), "signing keys reloaded");
        self.swap(view);
        Ok(())
    }
}

/// A fresh key set (one active key per algorithm) for unit tests of the modules that sign and
/// verify, and for the fuzz targets (`crate::fuzzing`).
#[cfg(any(test, feature = "fuzzing", feature = "bench"))]
pub(crate) fn test_keyset() -> KeySet {
    let kek = KeyRing::new([3u8; 32], &[]);
    let now = chrono::DateTime::<Utc>::default();
    let rows = SigningAlg::ALL.map(|alg| {
        generate(alg, &kek, now, now).unwrap_or_else(|e| unreachable!("test key generation: {e}"))
    });
    test_keyset_from(&rows, &kek, Arc::new(crate::clock::SystemClock))
}

#[cfg(any(test, feature = "fuzzing", feature = "bench"))]
pub(super) fn test_keyset_from(
    rows: &[SigningKeyRow],
    kek: &KeyRing,
    clock: Arc<dyn Clock>,
) -> KeySet {
    let retire_after = chrono::Duration::hours(12);
    let keys = parse_rows(rows, kek, &HashMap::new())
        .unwrap_or_else(|e| unreachable!("test key set: {e}"));
    let view = View::build(String::new(), keys, clock.now(), retire_after)
        .unwrap_or_else(|e| unreachable!("test key view: {e}"));
    KeySet {
        view: RwLock::new(Arc::new(view)),
        clock,
        retire_after,
        source: None,
    }
}
