//! Time as a parameter: CPAR reads the time only through [`Clock`], so tests can move it to check
//! the idle and absolute session limits without sleeping.

use chrono::{DateTime, SubsecRound, Utc};

/// The source of the current time for every decision CPAR makes (session limits, sign-in attempt
/// expiry, ID token expiry).
///
/// ```
/// use cpar_rp::{Clock, SystemClock};
/// assert!(SystemClock.now().timestamp() > 1_700_000_000);
/// ```
pub trait Clock: Send + Sync + 'static {
    /// The current time, truncated to microseconds.
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
