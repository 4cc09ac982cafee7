//! The error of CPAR's public API (start-up, configuration, seeding). Request handling never
//! returns it: every failure there becomes a page.

use std::time::Duration;

/// What can go wrong when configuring or starting CPAR.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is missing a value or has one that cannot work.
    #[error("configuration: {0}")]
    Config(String),
    /// CPAR's own database could not be opened, migrated or used.
    #[error("database: {0}")]
    Database(String),
    /// AHS IAM's discovery document (or its key set) could not be fetched in time.
    #[error(
        "AHS IAM at {issuer} could not be discovered after {attempts} attempt(s) in {waited:?}: {last_error}"
    )]
    Discovery {
        /// The configured issuer.
        issuer: String,
        /// How many times discovery was tried.
        attempts: u32,
        /// How long CPAR waited in total.
        waited: Duration,
        /// The last failure, for the log.
        last_error: String,
    },
    /// Reading the configuration file or binding a socket failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The message of `e` followed by the messages of its sources, for logs.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}
