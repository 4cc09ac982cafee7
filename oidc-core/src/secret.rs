//! Random values, digests and secrets that never print.
//!
//! Everything here leans on OpenSSL, which `josekit` already links, so the crate carries no second
//! cryptography stack.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;

use crate::error::Error;

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

/// A secret value (client secret, password, code, refresh token) that prints as `[redacted]`, is
/// reached only through [`Secret::secret`] (so that it cannot end up in a log by accident),
/// compares in constant time, and is wiped from memory when dropped.
#[derive(Clone)]
pub struct Secret(String);

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        ct_eq(self.0.as_bytes(), other.0.as_bytes())
    }
}

impl Eq for Secret {}

impl Drop for Secret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    /// Form fields (a password, a code) are read straight into a secret.
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Default for Secret {
    /// The empty secret (an absent form field).
    fn default() -> Self {
        Secret(String::new())
    }
}

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
