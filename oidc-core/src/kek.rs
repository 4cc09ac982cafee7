//! Secrets at rest: the registry of sealed columns, the start-up check of the key-encryption key
//! and its rotation. `secret` holds the sealing itself; this module is where it meets the
//! database.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;

use crate::config::ProviderConfig;
use crate::error::Error;
use crate::secret::{KeyRing, SealedBy, b64url};
use crate::store::schema::meta;
use crate::store::{Db, DbConnection};

/// One place where values rest sealed under the KEK. [`SEALED_AT_REST`] lists them all, and the
/// KEK rotation re-seals each.
pub(crate) struct SealedColumn {
    /// `table.column`, as the rotation report names it.
    pub name: &'static str,
    /// Re-seals every value of the column under the ring's current key inside the caller's write
    /// transaction (see [`KeyRing::reseal`]); returns what it did.
    pub reseal: fn(&mut DbConnection, &KeyRing) -> Result<Resealed, Error>,
}

/// How many values a [`SealedColumn::reseal`] re-sealed, and how many of them were under a
/// previous key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Resealed {
    pub values: usize,
    pub from_previous: usize,
}

impl Resealed {
    /// Counts one value re-sealed.
    pub(crate) fn add(&mut self, by: SealedBy) {
        self.values += 1;
        if by == SealedBy::Previous {
            self.from_previous += 1;
        }
    }
}

/// Every sealed column. A feature that seals a new kind of secret (for example the
/// `client_secret_jwt` secrets of `clients`) seals it with [`KeyRing::seal`] (the row's id and the
/// column's name as `aad`), opens it with [`KeyRing::open`], and adds its column here, so that
/// `oidc-server keys rotate-kek` re-seals it with the rest, in the same transaction.
pub(crate) const SEALED_AT_REST: &[SealedColumn] = &[
    SealedColumn {
        name: "signing_keys.private_key",
        reseal: crate::keys::reseal_all,
    },
    SealedColumn {
        name: "otp_tokens.secret",
        reseal: crate::mfa::tokens::reseal_all,
    },
    SealedColumn {
        name: "meta (kek_check, audit_key)",
        reseal: reseal_meta,
    },
    SealedColumn {
        name: "clients.secret_sealed",
        reseal: crate::clients::registration::reseal_all,
    },
];

/// The `meta` row that proves which KEK this database's secrets are sealed under.
const KEK_CHECK_ROW: &str = "kek_check";
/// The `meta` row holding the audit log's MAC key, sealed, when the configuration sets none.
const AUDIT_KEY_ROW: &str = "audit_key";
const KEK_CHECK_PLAINTEXT: &[u8] = b"oidc-core key-encryption key check";

fn read_meta(conn: &mut DbConnection, name: &str) -> Result<Option<Vec<u8>>, Error> {
    let value: Option<String> = meta::table
        .find(name)
        .select(meta::value)
        .first(conn)
        .optional()?;
    match value {
        None => Ok(None),
        Some(v) => URL_SAFE_NO_PAD
            .decode(v.as_bytes())
            .map(Some)
            .map_err(|_| Error::Crypto(format!("meta row {name} is not base64url"))),
    }
}

fn write_meta(conn: &mut DbConnection, name: &str, sealed: &[u8]) -> Result<(), Error> {
    let value = b64url(sealed);
    let n = diesel::update(meta::table.find(name))
        .set(meta::value.eq(&value))
        .execute(conn)?;
    if n == 0 {
        diesel::insert_into(meta::table)
            .values((meta::name.eq(name), meta::value.eq(&value)))
            .execute(conn)?;
    }
    Ok(())
}

fn reseal_meta(conn: &mut DbConnection, ring: &KeyRing) -> Result<Resealed, Error> {
    let mut done = Resealed::default();
    for name in [KEK_CHECK_ROW, AUDIT_KEY_ROW] {
        if let Some(sealed) = read_meta(conn, name)? {
            let (fresh, by) = ring.reseal(&sealed, name.as_bytes())?;
            write_meta(conn, name, &fresh)?;
            done.add(by);
        }
    }
    Ok(done)
}

/// Start-up check of the secrets at rest, in one write transaction under the key lock (so that
/// replicas starting together agree):
///
/// * the `kek_check` row must open under the configured key ring, otherwise the provider refuses
///   to start (the wrong key would fail later, on the first token seed, in a user's sign-in); a
///   database without it (new, or from before the row existed) gets it sealed under the current
///   key; one still under a previous key is a warning: `rotate-kek` has not run yet;
/// * when the configuration sets no audit key, the audit log's MAC key rests sealed in the
///   `audit_key` row, so that it survives a KEK rotation. A database without it adopts the key
///   derived from the current KEK (the default before the row existed, so an existing chain
///   stays valid). Returns that key, or `None` when the audit key is configured.
pub(crate) async fn open_at_rest(
    db: &Db,
    config: &ProviderConfig,
) -> Result<Option<[u8; 32]>, Error> {
    let ring = config.key_ring();
    let derived = config.audit_key_derived.then_some(config.audit_key);
    db.write(move |conn| {
        crate::keys::lock_keys(conn)?;
        match read_meta(conn, KEK_CHECK_ROW)? {
            None => {
                let sealed = ring.seal(KEK_CHECK_PLAINTEXT, KEK_CHECK_ROW.as_bytes())?;
                write_meta(conn, KEK_CHECK_ROW, &sealed)?;
            }
            Some(sealed) => match ring.open_which(&sealed, KEK_CHECK_ROW.as_bytes()) {
                Ok((_, SealedBy::Current)) => {}
                Ok((_, SealedBy::Previous)) => tracing::warn!(
                    "this database's secrets are still sealed under a previous key-encryption \
                     key: run `oidc-server keys rotate-kek`, then drop the previous key"
                ),
                Err(_) => {
                    return Err(Error::Config(
                        "the configured key-encryption key is not the one this database's \
                         secrets are sealed under (during a rotation, list the old key in \
                         previous_key_encryption_keys)"
                            .into(),
                    ));
                }
            },
        }
        let Some(derived) = derived else {
            return Ok(None);
        };
        match read_meta(conn, AUDIT_KEY_ROW)? {
            Some(sealed) => {
                let key = ring.open(&sealed, AUDIT_KEY_ROW.as_bytes())?;
                let key: [u8; 32] = key
                    .try_into()
                    .map_err(|_| Error::Crypto("the stored audit key is not 32 bytes".into()))?;
                Ok(Some(key))
            }
            None => {
                let sealed = ring.seal(&derived, AUDIT_KEY_ROW.as_bytes())?;
                write_meta(conn, AUDIT_KEY_ROW, &sealed)?;
                Ok(Some(derived))
            }
        }
    })
    .await
}

/// One sealed column in a [`KekRotation`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ResealedColumn {
    /// `table.column`.
    pub column: String,
    /// Values re-sealed under the current key-encryption key.
    pub values: usize,
    /// How many of them had still been sealed under a previous key.
    pub from_previous: usize,
}

/// What [`Provider::rotate_key_encryption_key`](crate::Provider::rotate_key_encryption_key) did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct KekRotation {
    /// Every sealed column, in the order they were re-sealed.
    pub columns: Vec<ResealedColumn>,
}

/// Secrets at rest.
impl crate::Provider {
    /// Re-seals every secret at rest (signing keys, token seeds, the stored audit key and the
    /// key-check row) under the configured key-encryption key, opening each with that key or one
    /// of the [previous keys](crate::ProviderConfigBuilder::previous_key_encryption_keys), in one
    /// write transaction: either everything is under the new key afterwards, or nothing changed.
    /// Run it (`oidc-server keys rotate-kek`) once every replica has the new key as current and
    /// the old one as previous; then drop the old key from the configuration.
    ///
    /// # Errors
    /// [`Error::Config`] when the current key is the built-in development key (re-sealing under a
    /// public key protects nothing); [`Error::Crypto`] when a value opens under no configured key
    /// (nothing is changed then); [`Error::Database`] when the database fails.
    pub async fn rotate_key_encryption_key(&self) -> Result<KekRotation, Error> {
        let config = &self.inner.config;
        if config.development_kek {
            return Err(Error::Config(
                "no key-encryption key is configured: set key_encryption_key to the new key and \
                 previous_key_encryption_keys to the old one"
                    .into(),
            ));
        }
        let ring = config.key_ring();
        let columns = self
            .inner
            .db
            .write(move |conn| {
                crate::keys::lock_keys(conn)?;
                let mut out = Vec::new();
                for col in SEALED_AT_REST {
                    let done = (col.reseal)(conn, &ring)?;
                    out.push(ResealedColumn {
                        column: col.name.to_string(),
                        values: done.values,
                        from_previous: done.from_previous,
                    });
                }
                Ok(out)
            })
            .await?;
        for c in &columns {
            tracing::info!(column = %c.column, values = c.values, from_previous = c.from_previous,
                "re-sealed under the current key-encryption key");
        }
        Ok(KekRotation { columns })
    }
}
