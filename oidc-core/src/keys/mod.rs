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

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};
use josekit::jws::{JwsSigner, JwsVerifier};

use crate::clock::Clock;
use crate::config::SigningAlg;
use crate::error::Error;
use crate::secret::KeyRing;
use crate::store::Db;

mod rotation;
mod rows;
mod set;

pub(crate) use rotation::{Published, Trigger};
pub(crate) use rows::{lock_keys, reseal_all};
use set::View;
#[cfg(any(test, feature = "fuzzing", feature = "bench"))]
pub(crate) use set::test_keyset;

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

#[cfg(test)]
mod tests;
