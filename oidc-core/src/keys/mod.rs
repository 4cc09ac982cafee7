//! Signing keys: generated on first start, sealed at rest with the key-encryption key, parsed once
//! into signers and verifiers, published as a precomputed JWKS document, and rotated with
//! pre-publication and grace.
//!
//! # The life of a key
//! Every state follows from timestamps stored on the key's row, so that every replica reaches the
//! same view from the same rows without anyone writing a state change at the right moment:
//!
//! 1. **Published** from `created_at`: in JWKS and accepted by [`KeySet::verify`], not yet used to
//!    sign. A rotation publishes the new key [`key_publish_delay`] before it signs (longer than
//!    the JWKS `Cache-Control` max-age plus the replicas' refresh bound, so that every relying
//!    party and every replica has it first). A first key, made when there is none, signs at once.
//! 2. **Active** from `activates_at`: the newest key of its algorithm whose `activates_at` has
//!    passed signs.
//! 3. **Retired** from `retired_at` (its successor's `activates_at`, written by the rotation):
//!    it no longer signs but stays in JWKS and verifies, for [`key_retire_after`] (the longest
//!    token lifetime it may have signed, and the session's absolute lifetime for an
//!    `id_token_hint`).
//! 4. **Removed** after `retired_at + retire_after`: out of JWKS, refused by `verify`; the row is
//!    deleted by housekeeping.
//!
//! # Replicas
//! A rotation runs in one write transaction under an advisory lock (PostgreSQL) or `BEGIN
//! IMMEDIATE` (SQLite), and retires the previous key with a conditional `UPDATE … WHERE
//! retired_at IS NULL` whose row count decides: of several replicas (or several calls) rotating
//! at once, exactly one publishes a key per algorithm. Each rotation changes the `meta` row
//! `signing_keys_version`; every replica reads that one row every [`key_refresh_interval`]
//! (default 30 s) and reloads its keys when it changed, so a replica serves another replica's
//! rotation within that bound. Time-driven changes (activation, removal) need no database read:
//! the in-memory view knows the next instant it changes and rebuilds itself then.
//!
//! [`key_publish_delay`]: crate::ProviderConfigBuilder::key_publish_delay
//! [`key_retire_after`]: crate::ProviderConfigBuilder::key_retire_after
//! [`key_refresh_interval`]: crate::ProviderConfigBuilder::key_refresh_interval

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jwk::{Jwk, KeyPair};
use josekit::jws::{ES256, EdDSA, JwsHeader, JwsSigner, JwsVerifier, RS256};

use crate::clock::Clock;
use crate::config::{ProviderConfig, SigningAlg};
use crate::error::Error;
use crate::kek::Resealed;
use crate::secret::{KeyRing, random_bytes};
use crate::store::models::SigningKeyRow;
use crate::store::schema::{meta, signing_keys};
use crate::store::{Db, DbConnection, naive, new_id, utc};

/// Advisory lock that serialises key generation and rotation among replicas on PostgreSQL.
const KEYGEN_LOCK_KEY: i64 = 0x01dc_c04b;

/// The `meta` row that changes with every change of the key set.
pub(crate) const VERSION_ROW: &str = "signing_keys_version";

/// Where a key is in its life at a given instant: published (`created_at`), active
/// (`activates_at`, after the publish delay), retired (once its successor activates), removed
/// (`retired_at` plus the retire period; out of JWKS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// In JWKS and verifying, not signing yet.
    Published,
    /// The signing key of its algorithm.
    Active,
    /// No longer signing; still in JWKS and verifying until its removal time.
    Retired,
    /// Out of JWKS and refused; the row waits for housekeeping.
    Removed,
}

impl KeyState {
    /// `published`, `active`, `retired` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Published => "published",
            KeyState::Active => "active",
            KeyState::Retired => "retired",
            KeyState::Removed => "removed",
        }
    }
}

/// A signing key as [`Provider::list_keys`](crate::Provider::list_keys) and
/// [`Provider::rotate_keys`](crate::Provider::rotate_keys) report it (never its private part).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KeyInfo {
    /// The `kid` in JWS headers and JWKS.
    pub kid: String,
    /// The JWS algorithm.
    pub alg: SigningAlg,
    /// Its state now.
    pub state: KeyState,
    /// When it entered JWKS.
    pub published_at: DateTime<Utc>,
    /// When it signs (or signed) first.
    pub activates_at: DateTime<Utc>,
    /// When it stops (or stopped) signing, once a successor is published.
    pub retired_at: Option<DateTime<Utc>>,
    /// When it leaves (or left) JWKS: `retired_at` plus the retire period.
    pub removed_at: Option<DateTime<Utc>>,
}

/// A key's timestamps, enough to place it in its life.
#[derive(Debug, Clone, Copy)]
struct Times {
    alg: SigningAlg,
    activates_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

/// Where a key is at an instant, with its effective retirement and removal times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Phase {
    state: KeyState,
    retired: Option<DateTime<Utc>>,
    removed: Option<DateTime<Utc>>,
}

/// Where each key is at `now`, with its effective retirement and removal times. A key retires at
/// its stored `retired_at` or, should that be missing, when the next key of its algorithm
/// activates; the newest started key of each algorithm that is not removed is the active one.
fn phases(keys: &[Times], now: DateTime<Utc>, retire_after: chrono::Duration) -> Vec<Phase> {
    let mut out = vec![
        Phase {
            state: KeyState::Removed,
            retired: None,
            removed: None,
        };
        keys.len()
    ];
    for alg in SigningAlg::ALL {
        let mut idx: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].alg == alg).collect();
        idx.sort_by_key(|&i| (keys[i].activates_at, keys[i].created_at));
        let mut active: Option<usize> = None;
        for (pos, &i) in idx.iter().enumerate() {
            let k = &keys[i];
            let successor = idx.get(pos + 1).map(|&j| keys[j].activates_at);
            let retired = match (k.retired_at, successor) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let removed = retired.map(|r| r + retire_after);
            let state = if removed.is_some_and(|r| r <= now) {
                KeyState::Removed
            } else if k.activates_at > now {
                KeyState::Published
            } else {
                active = Some(i);
                KeyState::Retired
            };
            out[i] = Phase {
                state,
                retired,
                removed,
            };
        }
        if let Some(i) = active {
            out[i].state = KeyState::Active;
        }
    }
    out
}

/// A key's parsed cryptographic material, shared between views.
struct Crypto {
    signer: Box<dyn JwsSigner>,
    verifier: Box<dyn JwsVerifier>,
    jwk: serde_json::Value,
}

#[derive(Clone)]
struct Key {
    kid: String,
    times: Times,
    crypto: Arc<Crypto>,
}

/// The key set as of one instant: what signs, what verifies, and the JWKS bytes.
struct View {
    /// The `meta` version the keys were loaded at.
    version: String,
    /// Every loaded key (removed ones are dropped at the next rebuild).
    keys: Vec<Key>,
    active: HashMap<SigningAlg, Key>,
    verifiers: HashMap<String, Key>,
    jwks: Arc<[u8]>,
    /// The next instant this view is out of date (an activation, a retirement, a removal).
    next_change: Option<DateTime<Utc>>,
}

impl View {
    fn build(
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

/// The database behind a key set (absent for the unit tests' in-memory sets).
struct Source {
    db: Db,
    kek: KeyRing,
    /// One reload at a time on this replica.
    reload: tokio::sync::Mutex<()>,
}

/// The provider's signing keys: a reloadable view, swapped whole.
///
/// [`sign`](Self::sign), [`verify`](Self::verify) and [`jwks`](Self::jwks) read the current view
/// (a read lock and an `Arc` clone; the JWKS bytes are precomputed). After a rotation on this
/// replica the view is reloaded at once; after one on another replica, within
/// [`key_refresh_interval`](crate::ProviderConfigBuilder::key_refresh_interval) (default 30 s),
/// when the provider's background task calls [`refresh`](Self::refresh).
pub(crate) struct KeySet {
    view: RwLock<Arc<View>>,
    clock: Arc<dyn Clock>,
    retire_after: chrono::Duration,
    source: Option<Source>,
}

fn chrono_duration(d: std::time::Duration) -> Result<chrono::Duration, Error> {
    chrono::Duration::from_std(d).map_err(|e| Error::Config(e.to_string()))
}

/// A key newly published by a rotation.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub kid: String,
    pub alg: SigningAlg,
    pub activates_at: DateTime<Utc>,
}

/// Why a rotation is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trigger {
    /// By an operator: rotate unless a key is already waiting to sign.
    Request,
    /// By the schedule: rotate only where the active key has signed for the interval (less the
    /// publish delay, so that its successor takes over exactly at the end of the interval).
    Schedule(chrono::Duration),
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
    fn current(&self) -> Arc<View> {
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

    async fn reload(&self, src: &Source) -> Result<(), Error> {
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

    /// The algorithms due for a scheduled rotation now, judged on this replica's view (the
    /// rotation itself re-checks under the lock).
    pub(crate) fn due(
        &self,
        algs: &[SigningAlg],
        interval: chrono::Duration,
        publish_delay: chrono::Duration,
    ) -> Vec<SigningAlg> {
        let view = self.current();
        let now = self.clock.now();
        algs.iter()
            .copied()
            .filter(|alg| {
                let newest = view
                    .keys
                    .iter()
                    .filter(|k| k.times.alg == *alg)
                    .map(|k| k.times.activates_at)
                    .max();
                match newest {
                    None => true,
                    Some(a) => a <= now && a + interval - publish_delay <= now,
                }
            })
            .collect()
    }

    /// Publishes a new key for each of `algs` that needs one (see [`Trigger`]); it signs after
    /// `publish_delay`, and the key it succeeds retires then. Returns the keys published by this
    /// call: of concurrent calls (on any replica), exactly one publishes per algorithm.
    pub(crate) async fn rotate(
        &self,
        algs: &[SigningAlg],
        trigger: Trigger,
        publish_delay: chrono::Duration,
    ) -> Result<Vec<Published>, Error> {
        let Some(src) = &self.source else {
            return Err(Error::Internal("this key set has no database".into()));
        };
        if algs.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let activates_at = now + publish_delay;
        let kek = src.kek.clone();
        let wanted = algs.to_vec();
        // Key generation (RSA especially) is slow: done before the transaction, on the blocking
        // pool, and wasted only when another rotation wins.
        let fresh: Vec<(SigningAlg, SigningKeyRow)> = tokio::task::spawn_blocking(move || {
            wanted
                .into_iter()
                .map(|alg| Ok((alg, generate(alg, &kek, now, activates_at)?)))
                .collect::<Result<Vec<_>, Error>>()
        })
        .await??;
        let published = src
            .db
            .write(move |conn| {
                lock_keys(conn)?;
                let mut published = Vec::new();
                for (alg, mut row) in fresh {
                    let newest: Option<SigningKeyRow> = signing_keys::table
                        .filter(signing_keys::alg.eq(&row.alg))
                        .filter(signing_keys::retired_at.is_null())
                        .order(signing_keys::activates_at.desc())
                        .select(SigningKeyRow::as_select())
                        .first(conn)
                        .optional()?;
                    match &newest {
                        None => {
                            // No key in force at all (a newly configured algorithm): sign at once.
                            row.activates_at = naive(now);
                        }
                        Some(n) => {
                            let started = utc(n.activates_at);
                            if started > now {
                                continue; // a key is already waiting to sign
                            }
                            if let Trigger::Schedule(interval) = trigger
                                && started + interval - publish_delay > now
                            {
                                continue; // not due
                            }
                            // The claim: of concurrent rotations only one retires this key.
                            let claimed = diesel::update(
                                signing_keys::table
                                    .find(&n.kid)
                                    .filter(signing_keys::retired_at.is_null()),
                            )
                            .set(signing_keys::retired_at.eq(Some(row.activates_at)))
                            .execute(conn)?;
                            if claimed != 1 {
                                continue;
                            }
                        }
                    }
                    diesel::insert_into(signing_keys::table)
                        .values(&row)
                        .execute(conn)?;
                    published.push(Published {
                        kid: row.kid.clone(),
                        alg,
                        activates_at: utc(row.activates_at),
                    });
                }
                if !published.is_empty() {
                    bump_version(conn)?;
                }
                Ok(published)
            })
            .await?;
        for p in &published {
            tracing::info!(kid = %p.kid, alg = p.alg.as_str(), activates_at = %p.activates_at,
                "published a new signing key");
        }
        if !published.is_empty() {
            let _one_at_a_time = src.reload.lock().await;
            self.reload(src).await?;
        }
        Ok(published)
    }

    /// Every key row (removed ones until housekeeping deletes them), newest first per algorithm.
    pub(crate) async fn list(&self) -> Result<Vec<KeyInfo>, Error> {
        let Some(src) = &self.source else {
            return Ok(Vec::new());
        };
        let rows: Vec<(
            String,
            String,
            NaiveDateTime,
            NaiveDateTime,
            Option<NaiveDateTime>,
        )> = src
            .db
            .run(|conn| {
                Ok(signing_keys::table
                    .select((
                        signing_keys::kid,
                        signing_keys::alg,
                        signing_keys::created_at,
                        signing_keys::activates_at,
                        signing_keys::retired_at,
                    ))
                    .load(conn)?)
            })
            .await?;
        let rows: Vec<(String, Times)> = rows
            .into_iter()
            .filter_map(|(kid, alg, created, activates, retired)| {
                Some((
                    kid,
                    Times {
                        alg: SigningAlg::parse(&alg)?,
                        activates_at: utc(activates),
                        created_at: utc(created),
                        retired_at: retired.map(utc),
                    },
                ))
            })
            .collect();
        let times: Vec<Times> = rows.iter().map(|r| r.1).collect();
        let now = self.clock.now();
        let mut out: Vec<KeyInfo> = rows
            .iter()
            .zip(phases(&times, now, self.retire_after))
            .map(|((kid, t), p)| KeyInfo {
                kid: kid.clone(),
                alg: t.alg,
                state: p.state,
                published_at: t.created_at,
                activates_at: t.activates_at,
                retired_at: p.retired,
                removed_at: p.removed,
            })
            .collect();
        out.sort_by(|a, b| {
            let pos = |x: SigningAlg| SigningAlg::ALL.iter().position(|a| *a == x);
            pos(a.alg)
                .cmp(&pos(b.alg))
                .then(b.activates_at.cmp(&a.activates_at))
        });
        Ok(out)
    }
}

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
fn live_rows(
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

fn read_version(conn: &mut DbConnection) -> Result<String, Error> {
    Ok(meta::table
        .find(VERSION_ROW)
        .select(meta::value)
        .first::<String>(conn)
        .optional()?
        .unwrap_or_default())
}

fn bump_version(conn: &mut DbConnection) -> Result<(), Error> {
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
fn parse_rows(
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

fn generate(
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
fn test_keyset_from(rows: &[SigningKeyRow], kek: &KeyRing, clock: Arc<dyn Clock>) -> KeySet {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

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
        let (payload, _) = josekit::jws::deserialize_compact(
            expected,
            view.verifiers[&kid].crypto.verifier.as_ref(),
        )
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
        let jws = josekit::jws::serialize_compact(b"Example of Ed25519 signing", &header, signer)
            .unwrap();
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
                &Jwk::from_bytes(
                    format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}"#).as_bytes(),
                )
                .unwrap(),
            )
            .unwrap();
        assert!(josekit::jws::deserialize_compact(expected, &verifier).is_ok());
    }
}
