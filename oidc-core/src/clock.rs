//! Time as a parameter, so that tests can move it and nothing else reads the wall clock.

use chrono::{DateTime, SubsecRound, Utc};

/// The source of the current time for everything the provider decides (expiry, `iat`, `auth_time`).
///
/// The default is [`SystemClock`]. Tests plug in a clock they can move forward to check expiry rules
/// without sleeping.
///
/// ```
/// use oidc_core::{Clock, SystemClock};
/// let now = SystemClock.now();
/// assert!(now.timestamp() > 1_700_000_000);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time, truncated to microseconds (PostgreSQL's precision) so that a value read
    /// back from the database compares equal to the one written.
    fn now(&self) -> DateTime<Utc>;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one place that reads the wall clock
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(6)
    }
}
