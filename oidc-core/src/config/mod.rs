//! Provider configuration: issuer, lifetimes and policies, validated once at start-up.

use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use crate::accounts::policy::PasswordPolicy;

mod build;
mod builder;
mod signing_alg;

pub use builder::ProviderConfigBuilder;
pub use signing_alg::SigningAlg;

/// The default logo of the pages (`ProviderConfigBuilder::logo_svg`).
const DEFAULT_LOGO_SVG: &str = include_str!("../../assets/logo.svg");

/// The challenge questions offered by default.
pub const DEFAULT_RECOVERY_QUESTIONS: [&str; 10] = [
    "What was the name of your first pet?",
    "In what city or town were you born?",
    "What was the name of your first school?",
    "What is your oldest sibling's middle name?",
    "What was the make of your first car?",
    "What was your childhood nickname?",
    "In what city did your parents meet?",
    "What was the name of the street you grew up on?",
    "What is the name of your favourite teacher?",
    "What was your first job?",
];

/// The `max-age` of the JWKS and discovery responses' `Cache-Control`: how long a relying party
/// may keep a JWKS document before fetching it again.
pub(crate) const JWKS_MAX_AGE: Duration = Duration::from_secs(300);
/// Default [`ProviderConfigBuilder::key_rotation_interval`]: 90 days.
const DEFAULT_KEY_ROTATION_INTERVAL: Duration = Duration::from_secs(90 * 86400);
/// Default [`ProviderConfigBuilder::key_publish_delay`]: max-age 300 s + refresh 30 s + margin.
const DEFAULT_KEY_PUBLISH_DELAY: Duration = Duration::from_secs(600);
/// Default [`ProviderConfigBuilder::key_refresh_interval`].
const DEFAULT_KEY_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Default [`ProviderConfigBuilder::housekeeping_interval`].
const DEFAULT_HOUSEKEEPING_INTERVAL: Duration = Duration::from_secs(3600);
/// Default [`ProviderConfigBuilder::housekeeping_batch`].
const DEFAULT_HOUSEKEEPING_BATCH: usize = 500;

/// The development key-encryption key. Usable only with a loopback issuer: anyone can read it here.
pub(crate) const DEVELOPMENT_KEK: [u8; 32] = *b"oidc-core DEVELOPMENT key; never";

/// Everything the provider needs to know that is not in the database.
///
/// Build it with [`ProviderConfig::builder`]; `build()` checks it. Defaults follow the specs and the
/// OAuth 2.0 Security BCP (RFC 9700).
///
/// ```
/// use oidc_core::ProviderConfig;
/// let config = ProviderConfig::builder("http://127.0.0.1:8080")
///     .code_ttl(std::time::Duration::from_secs(60))
///     .build()
///     .unwrap();
/// assert_eq!(config.issuer(), "http://127.0.0.1:8080");
/// // Plain http is refused for anything but loopback.
/// assert!(ProviderConfig::builder("http://iam.example.org").build().is_err());
/// ```
#[derive(Clone)]
pub struct ProviderConfig {
    pub(crate) issuer: String,
    pub(crate) issuer_url: Url,
    pub(crate) loopback: bool,
    pub(crate) code_ttl: Duration,
    pub(crate) id_token_ttl: Duration,
    pub(crate) access_token_ttl: Duration,
    pub(crate) session_idle: Duration,
    pub(crate) session_absolute: Duration,
    pub(crate) journey_ttl: Duration,
    pub(crate) admin_recent_auth: Duration,
    pub(crate) refresh_idle: Duration,
    pub(crate) refresh_absolute: Duration,
    pub(crate) refresh_reuse_grace: Duration,
    pub(crate) id_token_alg: SigningAlg,
    pub(crate) access_token_alg: SigningAlg,
    pub(crate) kek: [u8; 32],
    /// Keys a KEK rotation replaces: they only open (see `secret::KeyRing`).
    pub(crate) previous_keks: Vec<[u8; 32]>,
    pub(crate) development_kek: bool,
    /// Keys the audit log's MAC chain. When configured it stays in configuration; otherwise the
    /// provider replaces this derived value at start with the one sealed in the database
    /// (`kek::open_at_rest`), so that it survives a KEK rotation.
    pub(crate) audit_key: [u8; 32],
    /// True when `audit_key` was not configured.
    pub(crate) audit_key_derived: bool,
    pub(crate) service_name: String,
    pub(crate) reveal_password_result: bool,
    /// Dynamic client registration without an initial access token (RFC 7591 §3).
    pub(crate) open_registration: bool,
    /// Every client must push its authorization requests (RFC 9126 §5).
    pub(crate) require_pushed_authorization_requests: bool,
    pub(crate) fallback_factor: Option<String>,
    pub(crate) soft_token_activation_ttl: Duration,
    pub(crate) lockout_threshold: u32,
    pub(crate) lockout_duration: Duration,
    pub(crate) pair_free_failures: u32,
    pub(crate) pair_initial_delay: Duration,
    pub(crate) pair_max_delay: Duration,
    pub(crate) address_failure_limit: u32,
    pub(crate) address_window: Duration,
    pub(crate) trusted_proxies: Vec<IpNet>,
    pub(crate) password_policy: PasswordPolicy,
    pub(crate) temporary_password_ttl: Duration,
    pub(crate) recovery_questions: Vec<String>,
    pub(crate) support_phone: String,
    pub(crate) support_hours: String,
    pub(crate) token_support_phone: String,
    pub(crate) logo_svg: String,
    /// The algorithms the provider holds signing keys for (and advertises).
    pub(crate) key_algorithms: Vec<SigningAlg>,
    /// How long a key signs before its successor takes over; `None`: no scheduled rotation.
    pub(crate) key_rotation_interval: Option<Duration>,
    /// How long a new key is published in JWKS before it signs.
    pub(crate) key_publish_delay: Duration,
    /// How long a retired key stays published and verifying after it stopped signing.
    pub(crate) key_retire_after: Duration,
    /// How often each replica looks for key changes made by another.
    pub(crate) key_refresh_interval: Duration,
    /// How often expired rows are purged; `None`: only on request.
    pub(crate) housekeeping_interval: Option<Duration>,
    /// Rows deleted per statement by the purge.
    pub(crate) housekeeping_batch: usize,
    /// Networks the outbound fetch guard allows whatever they are (see `outbound`).
    pub(crate) outbound_allowed_networks: Vec<IpNet>,
    /// RFC 7523 legacy: also accept the token endpoint URL as a client assertion's `aud`.
    pub(crate) assertion_token_endpoint_audience: bool,
    /// How often each replica looks for back-channel logout deliveries that are due.
    pub(crate) backchannel_poll_interval: Duration,
    /// Attempts per back-channel logout delivery before it is given up.
    pub(crate) backchannel_max_attempts: u32,
}

impl std::fmt::Debug for ProviderConfig {
    // Keys never reach a log through a `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("issuer", &self.issuer)
            .field("code_ttl", &self.code_ttl)
            .field("id_token_ttl", &self.id_token_ttl)
            .field("access_token_ttl", &self.access_token_ttl)
            .field("session_idle", &self.session_idle)
            .field("session_absolute", &self.session_absolute)
            .field("id_token_alg", &self.id_token_alg)
            .field("access_token_alg", &self.access_token_alg)
            .field("kek", &"[redacted]")
            .field("previous_keks", &self.previous_keks.len())
            .field("development_kek", &self.development_kek)
            .field("audit_key", &"[redacted]")
            .field("service_name", &self.service_name)
            .field("reveal_password_result", &self.reveal_password_result)
            .field("open_registration", &self.open_registration)
            .field(
                "require_pushed_authorization_requests",
                &self.require_pushed_authorization_requests,
            )
            .field("fallback_factor", &self.fallback_factor)
            .field("lockout_threshold", &self.lockout_threshold)
            .field("lockout_duration", &self.lockout_duration)
            .field("pair_free_failures", &self.pair_free_failures)
            .field("pair_initial_delay", &self.pair_initial_delay)
            .field("pair_max_delay", &self.pair_max_delay)
            .field("address_failure_limit", &self.address_failure_limit)
            .field("address_window", &self.address_window)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("key_algorithms", &self.key_algorithms)
            .field("key_rotation_interval", &self.key_rotation_interval)
            .field("key_publish_delay", &self.key_publish_delay)
            .field("key_retire_after", &self.key_retire_after)
            .field("key_refresh_interval", &self.key_refresh_interval)
            .field("housekeeping_interval", &self.housekeeping_interval)
            .field("housekeeping_batch", &self.housekeeping_batch)
            .field("outbound_allowed_networks", &self.outbound_allowed_networks)
            .field(
                "assertion_token_endpoint_audience",
                &self.assertion_token_endpoint_audience,
            )
            .field("backchannel_poll_interval", &self.backchannel_poll_interval)
            .field("backchannel_max_attempts", &self.backchannel_max_attempts)
            .finish_non_exhaustive()
    }
}

impl ProviderConfig {
    /// The issuer identifier, without a trailing slash.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// True when the issuer is plain http on a loopback address (development): cookies then fall
    /// back to `SameSite=Lax` without `Secure`.
    pub fn is_loopback_http(&self) -> bool {
        self.loopback && self.issuer_url.scheme() == "http"
    }

    /// True when the built-in development key-encryption key is in use.
    pub fn uses_development_key(&self) -> bool {
        self.development_kek
    }

    /// The current key-encryption key with the previous ones.
    pub(crate) fn key_ring(&self) -> crate::secret::KeyRing {
        crate::secret::KeyRing::new(self.kek, &self.previous_keks)
    }

    /// An absolute URL for an endpoint path of this provider.
    pub(crate) fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// The path prefix of the issuer (empty, or `/iam` when nested), for cookies and redirects
    /// between the provider's own pages.
    pub(crate) fn base_path(&self) -> &str {
        self.issuer_url.path().trim_end_matches('/')
    }

    /// The algorithms the provider holds signing keys for, as discovery lists them.
    pub fn key_algorithms(&self) -> &[SigningAlg] {
        &self.key_algorithms
    }

    /// How long a key signs before its successor takes over (`None`: rotation only on request).
    pub fn key_rotation_interval(&self) -> Option<Duration> {
        self.key_rotation_interval
    }

    /// How long a new key is published before it signs.
    pub fn key_publish_delay(&self) -> Duration {
        self.key_publish_delay
    }

    /// How long a retired key stays published after it stopped signing.
    pub fn key_retire_after(&self) -> Duration {
        self.key_retire_after
    }

    /// How often a replica looks for key changes made by another replica.
    pub fn key_refresh_interval(&self) -> Duration {
        self.key_refresh_interval
    }

    /// Whether every client must push its authorization requests (RFC 9126 §5).
    pub fn require_pushed_authorization_requests(&self) -> bool {
        self.require_pushed_authorization_requests
    }

    /// How often expired rows are purged (`None`: only on request).
    pub fn housekeeping_interval(&self) -> Option<Duration> {
        self.housekeeping_interval
    }

    /// Rows deleted per statement by the purge.
    pub fn housekeeping_batch(&self) -> usize {
        self.housekeeping_batch
    }

    /// Networks the outbound fetch guard allows although they are private, loopback, link-local
    /// and so on (see [`ProviderConfigBuilder::outbound_allowed_networks`]).
    pub fn outbound_allowed_networks(&self) -> &[IpNet] {
        &self.outbound_allowed_networks
    }
}

#[cfg(test)]
mod tests;
