//! Password hashing (argon2id, m=19456 KiB, t=2, p=1: the OWASP minimum) on the blocking pool, and
//! the dummy verification that makes an unknown username cost the same as a wrong password.
//!
//! At most [`hashers`] hashes run at once in the process (half the cores, at least one); further
//! ones wait their turn asynchronously. Without the bound a flood of sign-ins would take every
//! core and tokio's whole blocking pool (which the database calls share), and 19 MiB each: the
//! token and userinfo endpoints, which check no password, would starve with them.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::error::Error;
use crate::secret::Secret;
use crate::secret::random_bytes;

fn argon2() -> Result<Argon2<'static>, Error> {
    let params = Params::new(19_456, 2, 1, None).map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

pub(crate) fn hash_blocking(password: &str) -> Result<String, Error> {
    let salt =
        SaltString::encode_b64(&random_bytes(16)?).map_err(|e| Error::Crypto(e.to_string()))?;
    Ok(argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Crypto(e.to_string()))?
        .to_string())
}

/// How many argon2 computations may run at once in this process.
pub(crate) fn hashers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

fn hashing_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(hashers()))
}

/// Runs one argon2 computation on the blocking pool once a slot is free.
async fn bounded<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let _slot = hashing_slots()
        .acquire()
        .await
        .map_err(|e| Error::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(move || {
        use std::sync::atomic::Ordering;
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        PEAK.fetch_max(now, Ordering::SeqCst);
        let out = f();
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        out
    })
    .await?
}

/// Hashes running now, and the most ever seen at once (the tests check the bound with them).
static RUNNING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static PEAK: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Hashes a password on the blocking pool (about 20 ms of one core), within the bound.
/// Passwords are hashed in their NFKC form (the form the rules count), so that the same password
/// typed on another keyboard or system still matches.
pub(crate) async fn hash(password: &Secret) -> Result<String, Error> {
    let password = Secret::new(super::policy::normalize(password.secret()));
    bounded(move || hash_blocking(password.secret())).await
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
pub(crate) async fn verify(password: &Secret, stored: Option<String>) -> Result<bool, Error> {
    let password = Secret::new(super::policy::normalize(password.secret()));
    bounded(move || {
        let (hash, real) = match &stored {
            Some(h) => (h.as_str(), true),
            None => {
                DUMMY_VERIFICATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                (dummy_hash(), false)
            }
        };
        Ok(verify_blocking(password.secret(), hash)? && real)
    })
    .await
}

/// Checks `password` (already normalised) against an argon2 PHC string; a malformed one never
/// matches.
pub(crate) fn verify_blocking(password: &str, hash: &str) -> Result<bool, Error> {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return Ok(false);
    };
    Ok(argon2()?
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// Computes the dummy hash ahead of the first sign-in, so that the first unknown-user attempt is
/// not slower than the rest.
pub(crate) fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_the_bound() {
        let stored = hash(&Secret::new("a password")).await.unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let stored = stored.clone();
                tokio::spawn(async move { verify(&Secret::new("a password"), Some(stored)).await })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().unwrap());
        }
        let peak = PEAK.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            (1..=hashers()).contains(&peak),
            "peak {peak}, bound {}",
            hashers()
        );
    }

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash(&Secret::new("correct horse battery")).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            verify(&Secret::new("correct horse battery"), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(
            !verify(&Secret::new("wrong horse battery"), Some(h))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn unknown_user_runs_the_dummy_hash_and_fails() {
        let before = DUMMY_VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed);
        assert!(!verify(&Secret::new("anything at all"), None).await.unwrap());
        assert!(DUMMY_VERIFICATIONS.load(std::sync::atomic::Ordering::Relaxed) > before);
    }
}
