//! Fail points: with the `fail-points` feature (tests only), a use case can be made to fail
//! between two of its statements, so that a test shows its transaction leaves everything or
//! nothing. Each point is armed for one key (the id of the account or grant the use case acts
//! on), so that tests running side by side in one process never trip each other's points.
//! Without the feature a point compiles to nothing.

use crate::error::Error;

#[cfg(any(test, feature = "fail-points"))]
static ARMED: std::sync::Mutex<Vec<(String, String)>> = std::sync::Mutex::new(Vec::new());

/// Makes the fail point `name` fail for `key` (once armed, every pass fails until
/// [`disarm`]).
#[cfg(any(test, feature = "fail-points"))]
pub fn arm(name: &str, key: &str) {
    if let Ok(mut armed) = ARMED.lock() {
        armed.push((name.to_string(), key.to_string()));
    }
}

/// Disarms the fail point `name` for `key`.
#[cfg(any(test, feature = "fail-points"))]
pub fn disarm(name: &str, key: &str) {
    if let Ok(mut armed) = ARMED.lock() {
        armed.retain(|(n, k)| !(n == name && k == key));
    }
}

/// Fails with [`Error::Internal`] when `name` is armed for `key`.
#[cfg(any(test, feature = "fail-points"))]
pub(crate) fn point(name: &str, key: &str) -> Result<(), Error> {
    let armed = ARMED
        .lock()
        .map(|a| a.iter().any(|(n, k)| n == name && k == key))
        .unwrap_or(false);
    if armed {
        return Err(Error::Internal(format!("fail point {name}")));
    }
    Ok(())
}

/// Without the `fail-points` feature: nothing.
#[cfg(not(any(test, feature = "fail-points")))]
#[inline(always)]
pub(crate) fn point(_name: &str, _key: &str) -> Result<(), Error> {
    Ok(())
}
