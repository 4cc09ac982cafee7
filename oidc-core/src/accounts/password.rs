//! Password hashing (argon2id, m=19456 KiB, t=2, p=1: the OWASP minimum) on the blocking pool, and
//! the dummy verification that makes an unknown username cost the same as a wrong password.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::Error;
use crate::secret::random_bytes;

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(19_456, 2, 1, None).map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_blocking(password: &str) -> Result<String, Error> {
    let salt =
        SaltString::encode_b64(&random_bytes(16)?).map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Crypto(e.to_string()))?
        .to_string())
}

/// Hashes a password on the blocking pool (about 20 ms of one core).
/// Passwords are hashed in their NFKC form (the form the rules count), so that the same password
/// typed on another keyboard or system still matches.
pub(crate) async fn hash(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash_blocking(&super::policy::normalize(&password))).await?
}

/// A hash of a random password, made once: verifying against it costs what a real verification
/// costs, and never succeeds.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random = random_bytes(24)
            .map(|b| crate::secret::b64url(&b))
            .unwrap_or_default();
        hash_blocking(&random).unwrap_or_default()
    })
}

/// Counts dummy verifications, so that tests can check the mechanism that hides unknown users.
pub(crate) static DUMMY_VERIFICATIONS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(0);

/// Verifies `password` against `stored` (the account's hash), or against the dummy hash when there
/// is no account or no password, so that both paths take the same time.
pub(crate) async fn verify(password: String, stored: Option<String>) -> Result<bool, Error> {
    let password = super::policy::normalize(&password);
    tokio::task::spawn_blocking(move || {
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => {
                DUMMY_VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (dummy_hash(), false)
            }
        };
        let parsed = match PasswordHash::new(hash) {
            Ok(p) => p,
            Err(_) => return Ok(false),
        };
        let ok = argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(ok && real)
    })
    .await?
}

/// Computes the dummy hash ahead of the first sign-in, so that the first unknown-user attempt is
/// not slower than the rest.
pub(crate) fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash("correct horse battery".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify("correct horse battery".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse battery".into(), Some(h)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_runs_the_dummy_hash_and_fails() {
        let before = DUMMY_VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed);
        assert!(!verify("anything at all".into(), None).await.unwrap());
        assert!(DUMMY_VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed) > before);
    }
}
