//! Random values, digests and secrets that never print.
//!
//! Everything here leans on OpenSSL, which `josekit` already links, so the crate carries no second
//! cryptography stack.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use diesel::prelude::*;
use std::fmt;

use crate::config::ProviderConfig;
use crate::error::Error;
use crate::store::schema::meta;
use crate::store::{Db, DbConnection};

/// base64url without padding, the encoding of every token and digest the provider emits.
pub(crate) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `n` bytes from OpenSSL's CSPRNG.
pub(crate) fn random_bytes(n: usize) -> Result<Vec<u8>, Error> {
    let mut buf = vec![0u8; n];
    openssl::rand::rand_bytes(&mut buf).map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(buf)
}

/// A fresh 256-bit random token, base64url (43 characters).
pub(crate) fn random_token() -> Result<String, Error> {
    Ok(b64url(&random_bytes(32)?))
}

/// SHA-256 of `value`, base64url: how high-entropy secrets (client secrets, codes, session ids) are
/// stored, so that a database leak yields nothing usable.
pub(crate) fn digest(value: &str) -> String {
    b64url(&openssl::sha::sha256(value.as_bytes()))
}

/// Constant-time equality of two byte strings (length may leak, content does not).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a, b)
}

/// A secret value (client secret, password, code) that prints as `[redacted]` and is reached only
/// through [`Secret::secret`], so that it cannot end up in a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The value itself. Call this only where the secret must leave the process (shown once to an
    /// administrator, sent to the client) or be checked.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

/// AES-256-GCM with a random 96-bit nonce, laid out as `nonce || ciphertext || tag`: how signing
/// keys (and later token seeds) rest in the database.
pub(crate) fn seal(kek: &[u8; 32], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
    let nonce = random_bytes(12)?;
    let mut tag = [0u8; 16];
    let ct = openssl::symm::encrypt_aead(
        openssl::symm::Cipher::aes_256_gcm(),
        kek,
        Some(&nonce),
        aad,
        plaintext,
        &mut tag,
    )
    .map_err(|e| Error::Crypto(e.to_string()))?;
    let mut out = nonce;
    out.extend_from_slice(&ct);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// The inverse of [`seal`]; fails if the key is wrong or the data was altered.
pub(crate) fn open(kek: &[u8; 32], sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
    if sealed.len() < 12 + 16 {
        return Err(Error::Crypto("sealed value too short".into()));
    }
    let (nonce, rest) = sealed.split_at(12);
    let (ct, tag) = rest.split_at(rest.len() - 16);
    openssl::symm::decrypt_aead(
        openssl::symm::Cipher::aes_256_gcm(),
        kek,
        Some(nonce),
        aad,
        ct,
        tag,
    )
    .map_err(|_| {
        Error::Crypto(
            "cannot decrypt a stored key: the key-encryption key differs from the one that sealed it"
                .into(),
        )
    })
}

/// The key-encryption keys (KEK): the current one seals, the current and the previous ones open.
///
/// Every secret the provider must read back (signing keys, token seeds, the audit MAC key, and
/// any later sealed column such as `client_secret_jwt` secrets) rests as [`seal`]ed bytes under
/// the current KEK. During a KEK rotation the operator configures the new key as current and the
/// old one as previous: values still sealed under the old key keep opening while
/// [`Provider::rotate_key_encryption_key`](crate::Provider::rotate_key_encryption_key)
/// re-seals them, and every value sealed meanwhile is under the new key. The built-in
/// development key is never tried unless it is the configured one: a row planted under a public
/// key must not open.
#[derive(Clone)]
pub(crate) struct KeyRing {
    current: [u8; 32],
    previous: Vec<[u8; 32]>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("previous", &self.previous.len())
            .finish_non_exhaustive()
    }
}

/// Which key of a [`KeyRing`] opened a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealedBy {
    /// The current key: nothing to re-seal.
    Current,
    /// A previous key: `rotate-kek` has not re-sealed it yet.
    Previous,
}

impl KeyRing {
    /// A ring with `current` and the keys it replaces (duplicates of `current` are dropped).
    pub(crate) fn new(current: [u8; 32], previous: &[[u8; 32]]) -> Self {
        let mut prev: Vec<[u8; 32]> = Vec::new();
        for k in previous {
            if !ct_eq(k, &current) && !prev.iter().any(|p| ct_eq(p, k)) {
                prev.push(*k);
            }
        }
        Self {
            current,
            previous: prev,
        }
    }

    /// Seals `plaintext` under the current key. `aad` binds the value to where it rests (a key's
    /// `kid`, a token's id, a client's id with the column's name), so that a database writer
    /// cannot move a sealed value to another row.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        seal(&self.current, plaintext, aad)
    }

    /// Opens a value sealed under the current or a previous key.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
        self.open_which(sealed, aad).map(|(plain, _)| plain)
    }

    /// Opens a value and tells which key sealed it.
    pub(crate) fn open_which(
        &self,
        sealed: &[u8],
        aad: &[u8],
    ) -> Result<(Vec<u8>, SealedBy), Error> {
        if let Ok(plain) = open(&self.current, sealed, aad) {
            return Ok((plain, SealedBy::Current));
        }
        for k in &self.previous {
            if let Ok(plain) = open(k, sealed, aad) {
                return Ok((plain, SealedBy::Previous));
            }
        }
        Err(Error::Crypto(
            "cannot decrypt a sealed value: neither the key-encryption key nor any previous \
             key-encryption key configured sealed it"
                .into(),
        ))
    }

    /// Opens a value under any key of the ring and seals it again under the current key (with a
    /// fresh nonce). Returns the new bytes and which key had sealed it.
    pub(crate) fn reseal(&self, sealed: &[u8], aad: &[u8]) -> Result<(Vec<u8>, SealedBy), Error> {
        let (plain, by) = self.open_which(sealed, aad)?;
        Ok((self.seal(&plain, aad)?, by))
    }
}

// ---------------------------------------------------------------------------------------------
// Secrets at rest: the registry of sealed columns, the start-up check and the KEK rotation.

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

/// HMAC-SHA-256 of `data` under `key`: for values derived from a server secret (the fake masked
/// address of an unknown username, form tokens) that must be stable yet unpredictable.
pub(crate) fn hmac_sha256(key: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
    let pkey = openssl::pkey::PKey::hmac(key).map_err(|e| Error::Crypto(e.to_string()))?;
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &pkey)
        .map_err(|e| Error::Crypto(e.to_string()))?;
    signer
        .update(data)
        .map_err(|e| Error::Crypto(e.to_string()))?;
    signer
        .sign_to_vec()
        .map_err(|e| Error::Crypto(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_round_trips_and_detects_tampering() {
        let kek = [7u8; 32];
        let sealed = seal(&kek, b"private key", b"kid-1").unwrap();
        assert_eq!(open(&kek, &sealed, b"kid-1").unwrap(), b"private key");
        assert!(open(&[8u8; 32], &sealed, b"kid-1").is_err());
        assert!(open(&kek, &sealed, b"kid-2").is_err());
        let mut bad = sealed.clone();
        bad[14] ^= 1;
        assert!(open(&kek, &bad, b"kid-1").is_err());
    }

    #[test]
    fn the_ring_seals_under_the_current_key_and_opens_previous_ones() {
        let (old, new) = ([1u8; 32], [2u8; 32]);
        let sealed_old = seal(&old, b"seed", b"token-1").unwrap();
        let ring = KeyRing::new(new, &[old, new, old]);
        assert_eq!(
            ring.previous.len(),
            1,
            "duplicates and the current key are dropped"
        );
        let (plain, by) = ring.open_which(&sealed_old, b"token-1").unwrap();
        assert_eq!((plain.as_slice(), by), (&b"seed"[..], SealedBy::Previous));
        // Re-sealed: under the new key alone, bound to the same place.
        let (fresh, by) = ring.reseal(&sealed_old, b"token-1").unwrap();
        assert_eq!(by, SealedBy::Previous);
        assert_eq!(open(&new, &fresh, b"token-1").unwrap(), b"seed");
        assert!(open(&old, &fresh, b"token-1").is_err());
        assert!(ring.open(&fresh, b"token-2").is_err(), "aad binds the row");
        assert_eq!(
            ring.open_which(&fresh, b"token-1").unwrap().1,
            SealedBy::Current
        );
        // Without the old key in the ring, its values do not open; nor does the development key
        // unless configured.
        assert!(
            KeyRing::new(new, &[])
                .open(&sealed_old, b"token-1")
                .is_err()
        );
        let planted = seal(&crate::config::DEVELOPMENT_KEK, b"x", b"token-1").unwrap();
        assert!(ring.open(&planted, b"token-1").is_err());
        assert!(
            !format!("{ring:?}").contains('2'),
            "no key material in Debug"
        );
    }

    #[test]
    fn tokens_are_256_bit_base64url() {
        let t = random_token().unwrap();
        assert_eq!(t.len(), 43);
        assert!(
            t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(t, random_token().unwrap());
    }

    #[test]
    fn secret_debug_is_redacted() {
        assert_eq!(
            format!("{:?}", Secret::new("hunter2")),
            "Secret([redacted])"
        );
    }

    #[test]
    fn digest_is_sha256_base64url() {
        // SHA-256("abc") from FIPS 180-2, base64url.
        assert_eq!(digest("abc"), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
    }
}
