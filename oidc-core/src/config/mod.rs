//! Provider configuration: issuer, lifetimes and policies, validated once at start-up.

use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use crate::accounts::policy::PasswordPolicy;
use crate::error::Error;

/// The default logo of the pages (`ProviderConfigBuilder::logo_svg`).
const DEFAULT_LOGO_SVG: &str = include_str!("../../assets/logo.svg");

/// A JWS algorithm the provider can sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys: OpenID Connect's mandatory default.
    RS256,
    /// ECDSA on P-256 with SHA-256: ten times cheaper to sign than RS256.
    ES256,
    /// EdDSA on Ed25519 (RFC 8037): JWKS entries `kty: OKP`, `crv: Ed25519`.
    EdDSA,
}

impl SigningAlg {
    /// The JWA name (`"RS256"`, `"ES256"`, `"EdDSA"`).
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    /// Parses a JWA name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "RS256" => Some(SigningAlg::RS256),
            "ES256" => Some(SigningAlg::ES256),
            "EdDSA" => Some(SigningAlg::EdDSA),
            _ => None,
        }
    }

    /// Every algorithm the provider can hold keys for, in the order discovery lists them.
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];
}

impl serde::Serialize for SigningAlg {
    /// As its JWA name.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    /// Starts a builder for the given issuer URL (the public base URL of the provider, exactly as
    /// clients will see it in `iss`).
    pub fn builder(issuer: impl Into<String>) -> ProviderConfigBuilder {
        ProviderConfigBuilder {
            issuer: issuer.into(),
            code_ttl: Duration::from_secs(60),
            id_token_ttl: Duration::from_secs(600),
            access_token_ttl: Duration::from_secs(600),
            session_idle: Duration::from_secs(30 * 60),
            session_absolute: Duration::from_secs(12 * 3600),
            journey_ttl: Duration::from_secs(30 * 60),
            admin_recent_auth: Duration::from_secs(15 * 60),
            refresh_idle: Duration::from_secs(14 * 86400),
            refresh_absolute: Duration::from_secs(90 * 86400),
            refresh_reuse_grace: Duration::from_secs(10),
            id_token_alg: SigningAlg::RS256,
            access_token_alg: SigningAlg::RS256,
            kek: None,
            previous_keks: Vec::new(),
            audit_key: None,
            service_name: "AHS IAM".into(),
            reveal_password_result: false,
            open_registration: false,
            require_pushed_authorization_requests: false,
            fallback_factor: None,
            soft_token_activation_ttl: Duration::from_secs(7 * 86400),
            lockout_threshold: 100,
            lockout_duration: Duration::from_secs(3600),
            pair_free_failures: 5,
            pair_initial_delay: Duration::from_secs(1),
            pair_max_delay: Duration::from_secs(60),
            address_failure_limit: 100,
            address_window: Duration::from_secs(15 * 60),
            trusted_proxies: Vec::new(),
            password_policy: PasswordPolicy::default(),
            temporary_password_ttl: Duration::from_secs(72 * 3600),
            recovery_questions: DEFAULT_RECOVERY_QUESTIONS
                .iter()
                .map(|q| q.to_string())
                .collect(),
            support_phone: "1-877-311-4300".into(),
            support_hours: "24/7".into(),
            token_support_phone: "1-844-542-7876".into(),
            logo_svg: DEFAULT_LOGO_SVG.into(),
            key_algorithms: SigningAlg::ALL.to_vec(),
            key_rotation_interval: DEFAULT_KEY_ROTATION_INTERVAL,
            key_publish_delay: DEFAULT_KEY_PUBLISH_DELAY,
            key_retire_after: None,
            key_refresh_interval: DEFAULT_KEY_REFRESH_INTERVAL,
            housekeeping_interval: DEFAULT_HOUSEKEEPING_INTERVAL,
            housekeeping_batch: DEFAULT_HOUSEKEEPING_BATCH,
            outbound_allowed_networks: Vec::new(),
            assertion_token_endpoint_audience: false,
            backchannel_poll_interval: Duration::from_secs(2),
            backchannel_max_attempts: 8,
        }
    }

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

/// Builder for [`ProviderConfig`]. Every setter has a safe default, named in its documentation;
/// only the issuer is required.
///
/// [`build`](ProviderConfigBuilder::build) validates the whole: the issuer (an absolute https
/// URL, or http on a loopback host; no query or fragment), a key-encryption key for any
/// non-loopback issuer, lifetimes that are not zero and agree with each other, key timings that
/// let relying parties see a key before it signs, and configured algorithms that include the ID
/// token and access token ones. The first rule broken comes back as
/// [`Error::Config`](crate::Error::Config) naming the setting.
///
/// ```
/// use std::time::Duration;
/// use oidc_core::{ProviderConfig, SigningAlg};
///
/// let config = ProviderConfig::builder("https://id.example.org")
///     .key_encryption_key([7; 32]) // from your secret store, never a constant
///     .id_token_alg(SigningAlg::ES256)
///     .session_idle(Duration::from_secs(15 * 60))
///     .build()?;
/// assert_eq!(config.issuer(), "https://id.example.org");
///
/// // No key-encryption key for a public issuer: refused.
/// assert!(ProviderConfig::builder("https://id.example.org").build().is_err());
/// # Ok::<(), oidc_core::Error>(())
/// ```
#[derive(Clone)]
pub struct ProviderConfigBuilder {
    issuer: String,
    code_ttl: Duration,
    id_token_ttl: Duration,
    access_token_ttl: Duration,
    session_idle: Duration,
    session_absolute: Duration,
    journey_ttl: Duration,
    admin_recent_auth: Duration,
    refresh_idle: Duration,
    refresh_absolute: Duration,
    refresh_reuse_grace: Duration,
    id_token_alg: SigningAlg,
    access_token_alg: SigningAlg,
    kek: Option<[u8; 32]>,
    previous_keks: Vec<[u8; 32]>,
    audit_key: Option<[u8; 32]>,
    service_name: String,
    reveal_password_result: bool,
    open_registration: bool,
    require_pushed_authorization_requests: bool,
    fallback_factor: Option<String>,
    soft_token_activation_ttl: Duration,
    lockout_threshold: u32,
    lockout_duration: Duration,
    pair_free_failures: u32,
    pair_initial_delay: Duration,
    pair_max_delay: Duration,
    address_failure_limit: u32,
    address_window: Duration,
    trusted_proxies: Vec<IpNet>,
    password_policy: PasswordPolicy,
    temporary_password_ttl: Duration,
    recovery_questions: Vec<String>,
    support_phone: String,
    support_hours: String,
    token_support_phone: String,
    logo_svg: String,
    key_algorithms: Vec<SigningAlg>,
    key_rotation_interval: Duration,
    key_publish_delay: Duration,
    key_retire_after: Option<Duration>,
    key_refresh_interval: Duration,
    housekeeping_interval: Duration,
    housekeeping_batch: usize,
    outbound_allowed_networks: Vec<IpNet>,
    assertion_token_endpoint_audience: bool,
    backchannel_poll_interval: Duration,
    backchannel_max_attempts: u32,
}

impl std::fmt::Debug for ProviderConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfigBuilder")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

impl ProviderConfigBuilder {
    /// Lifetime of an authorization code. Default 60 s (RFC 6749 §4.1.2 recommends at most 10 min).
    pub fn code_ttl(mut self, d: Duration) -> Self {
        self.code_ttl = d;
        self
    }
    /// Lifetime of an ID token. Default 10 min.
    pub fn id_token_ttl(mut self, d: Duration) -> Self {
        self.id_token_ttl = d;
        self
    }
    /// Lifetime of an access token. Default 10 min.
    pub fn access_token_ttl(mut self, d: Duration) -> Self {
        self.access_token_ttl = d;
        self
    }
    /// A browser session ends after this long without use. Default 30 min.
    pub fn session_idle(mut self, d: Duration) -> Self {
        self.session_idle = d;
        self
    }
    /// A browser session ends this long after sign-in, used or not. Default 12 h.
    pub fn session_absolute(mut self, d: Duration) -> Self {
        self.session_absolute = d;
        self
    }
    /// Admin actions (admin pages and admin API) need a sign-in with password and passcode at most
    /// this old; older ones are asked to sign in again (RFC 9470 step-up). Default 15 min.
    pub fn admin_recent_auth(mut self, d: Duration) -> Self {
        self.admin_recent_auth = d;
        self
    }
    /// A refresh token unused this long stops working (RFC 9700 §4.14.2). Default 14 days.
    pub fn refresh_idle(mut self, d: Duration) -> Self {
        self.refresh_idle = d;
        self
    }
    /// A refresh token family ends this long after the sign-in that started it, used or not.
    /// Default 90 days.
    pub fn refresh_absolute(mut self, d: Duration) -> Self {
        self.refresh_absolute = d;
        self
    }
    /// A rotated refresh token presented again within this time (a lost response, two tabs racing)
    /// is only refused; later, its whole family is revoked as stolen. Default 10 s.
    pub fn refresh_reuse_grace(mut self, d: Duration) -> Self {
        self.refresh_reuse_grace = d;
        self
    }
    /// How long a sign-in may take from the authorization request to the last step. Default 30 min.
    pub fn journey_ttl(mut self, d: Duration) -> Self {
        self.journey_ttl = d;
        self
    }
    /// Default algorithm of ID tokens (a client may ask for another with
    /// [`NewClient::id_token_signed_response_alg`](crate::NewClient::id_token_signed_response_alg)).
    /// Default RS256, as OIDC Core §15.1 requires.
    pub fn id_token_alg(mut self, alg: SigningAlg) -> Self {
        self.id_token_alg = alg;
        self
    }
    /// Algorithm of access tokens (RFC 9068 JWTs). Default RS256 (RFC 9068 §2.1 requires resource
    /// servers to support it); ES256 is ten times cheaper to sign; EdDSA is possible where every
    /// resource server supports it.
    pub fn access_token_alg(mut self, alg: SigningAlg) -> Self {
        self.access_token_alg = alg;
        self
    }
    /// The 32-byte key that encrypts signing keys at rest. Without it the built-in development
    /// key is used, which `build()` refuses for any issuer but loopback.
    pub fn key_encryption_key(mut self, kek: [u8; 32]) -> Self {
        self.kek = Some(kek);
        self
    }
    /// Key-encryption keys that the current one replaces, during a KEK rotation: values sealed
    /// under them still open, nothing is sealed under them, and
    /// [`Provider::rotate_key_encryption_key`](crate::Provider::rotate_key_encryption_key)
    /// re-seals everything under the current key. Drop them once the rotation ran.
    pub fn previous_key_encryption_keys(mut self, keks: Vec<[u8; 32]>) -> Self {
        self.previous_keks = keks;
        self
    }
    /// The key of the audit log's MAC chain. Default: derived from the key-encryption key when
    /// the database is first used, then kept in the database sealed under the key-encryption key
    /// (so that it survives a KEK rotation); either way whoever can edit the database cannot
    /// forge the chain without the configuration.
    pub fn audit_key(mut self, key: [u8; 32]) -> Self {
        self.audit_key = Some(key);
        self
    }
    /// The service's name as people see it on pages (default "AHS IAM").
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = name.into();
        self
    }

    /// By default the passcode page follows every password attempt, right or wrong, and one
    /// message covers every failure, so the password step reveals nothing. `true` switches to the
    /// simpler behaviour: a wrong password is reported at once and the passcode page follows only a
    /// right one.
    pub fn reveal_password_result(mut self, reveal: bool) -> Self {
        self.reveal_password_result = reveal;
        self
    }

    /// Open dynamic client registration: anyone may register a client at the registration
    /// endpoint without an initial access token (RFC 7591 §3). Default false: an administrator
    /// hands out initial access tokens ([`Provider::create_initial_access_token`]). Either way
    /// dynamically registered clients are third-party (people consent) and need the second
    /// factor.
    ///
    /// [`Provider::create_initial_access_token`]: crate::Provider::create_initial_access_token
    pub fn open_registration(mut self, open: bool) -> Self {
        self.open_registration = open;
        self
    }
    /// Every client must send its authorization requests through the pushed authorization
    /// request endpoint (RFC 9126 §5): a plain request at the authorization endpoint is refused.
    /// Default false: only clients registered with `require_pushed_authorization_requests` must.
    pub fn require_pushed_authorization_requests(mut self, required: bool) -> Self {
        self.require_pushed_authorization_requests = required;
        self
    }
    /// The factor (by [`SecondFactor::kind`](crate::mfa::SecondFactor::kind), e.g. `"radius"`)
    /// for accounts that hold no token of the provider's own. Default: none (such accounts cannot
    /// pass a second-factor step).
    pub fn fallback_factor(mut self, kind: impl Into<String>) -> Self {
        self.fallback_factor = Some(kind.into());
        self
    }
    /// How long a soft token's activation code stays valid. Default 7 days.
    pub fn soft_token_activation_ttl(mut self, d: Duration) -> Self {
        self.soft_token_activation_ttl = d;
        self
    }
    /// The per-account backstop (NIST SP 800-63B §5.2.2 allows at most 100): after this many
    /// consecutive failed sign-ins (passwords, passcodes, recovery answers), from any addresses,
    /// the account is locked for [`lockout_duration`](Self::lockout_duration) or until the
    /// service desk unlocks it ([`Provider::unlock_account`](crate::Provider::unlock_account)).
    /// A success or an unlock clears the count; after a lock expires, each further failure locks
    /// again until one succeeds. Default 100. The everyday defence is the throttling per
    /// (account, address) and per address below, which never locks the account's owner out.
    pub fn lockout_threshold(mut self, n: u32) -> Self {
        self.lockout_threshold = n;
        self
    }
    /// How long a backstop lock lasts. Default 1 h.
    pub fn lockout_duration(mut self, d: Duration) -> Self {
        self.lockout_duration = d;
        self
    }
    /// Failures per (account, client address) before that pair is slowed down. From this many
    /// on, each failure blocks the pair for a delay that doubles (see
    /// [`throttle_initial_delay`](Self::throttle_initial_delay)); a success from the address
    /// clears it, and so does a day without failures. Other addresses are not affected.
    /// Default 5.
    pub fn throttle_free_failures(mut self, n: u32) -> Self {
        self.pair_free_failures = n;
        self
    }
    /// The block after the [free failures](Self::throttle_free_failures) of an (account,
    /// address) pair; each further failure doubles it. Default 1 s.
    pub fn throttle_initial_delay(mut self, d: Duration) -> Self {
        self.pair_initial_delay = d;
        self
    }
    /// The longest block of an (account, address) pair. Default 60 s.
    pub fn throttle_max_delay(mut self, d: Duration) -> Self {
        self.pair_max_delay = d;
        self
    }
    /// Failed sign-ins from one client address, across all usernames (known or not), allowed per
    /// [`address_failure_window`](Self::address_failure_window): a rate limit against password
    /// spraying. Reaching it blocks the address for the rest of the window. Default 100.
    pub fn address_failure_limit(mut self, n: u32) -> Self {
        self.address_failure_limit = n;
        self
    }
    /// The window of [`address_failure_limit`](Self::address_failure_limit). Default 15 min.
    pub fn address_failure_window(mut self, d: Duration) -> Self {
        self.address_window = d;
        self
    }
    /// Reverse proxies (addresses or networks) whose `Forwarded` / `X-Forwarded-For` headers are
    /// believed. The client address is the connection's peer unless that peer is one of these;
    /// then it is the nearest address in the header that is not a trusted proxy. Default: none
    /// (the headers are ignored). Behind a proxy, set this: otherwise every client shares the
    /// proxy's address and its throttling.
    pub fn trusted_proxies<I, N>(mut self, proxies: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<IpNet>,
    {
        self.trusted_proxies = proxies.into_iter().map(Into::into).collect();
        self
    }

    /// The password rules. Default: [`PasswordPolicy::default`].
    pub fn password_policy(mut self, policy: PasswordPolicy) -> Self {
        self.password_policy = policy;
        self
    }
    /// How long a temporary password from the service desk works. Default 72 h.
    pub fn temporary_password_ttl(mut self, d: Duration) -> Self {
        self.temporary_password_ttl = d;
        self
    }
    /// The challenge questions people choose five of (at least five distinct ones). Default
    /// [`DEFAULT_RECOVERY_QUESTIONS`](crate::DEFAULT_RECOVERY_QUESTIONS).
    pub fn recovery_questions<I, S>(mut self, questions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.recovery_questions = questions.into_iter().map(Into::into).collect();
        self
    }
    /// The service desk's phone number, shown where a person needs help (default the AHS IT
    /// Service Desk, 1-877-311-4300).
    pub fn support_phone(mut self, phone: impl Into<String>) -> Self {
        self.support_phone = phone.into();
        self
    }
    /// When the service desk answers, shown beside its number (default "24/7").
    pub fn support_hours(mut self, hours: impl Into<String>) -> Self {
        self.support_hours = hours.into();
        self
    }
    /// The number to call about a token (default RSA Remote Token Support, 1-844-542-7876).
    pub fn token_support_phone(mut self, phone: impl Into<String>) -> Self {
        self.token_support_phone = phone.into();
        self
    }
    /// The logo in the pages' header, as SVG markup (default: a plain mark in the service's
    /// colours). It is served as an image at `/assets/logo.svg`, never inlined, so it cannot run
    /// script or restyle a page; the pages show the service's name as text beside it.
    pub fn logo_svg(mut self, svg: impl Into<String>) -> Self {
        self.logo_svg = svg.into();
        self
    }

    /// The algorithms to hold signing keys for (generated at start, rotated on schedule) and to
    /// advertise in `id_token_signing_alg_values_supported`. Default RS256, ES256 and EdDSA. Must
    /// include the [ID token](Self::id_token_alg) and [access token](Self::access_token_alg)
    /// algorithms.
    pub fn key_algorithms<I>(mut self, algs: I) -> Self
    where
        I: IntoIterator<Item = SigningAlg>,
    {
        self.key_algorithms = algs.into_iter().collect();
        self
    }
    /// How long a key signs before a successor takes over. The successor is published
    /// [`key_publish_delay`](Self::key_publish_delay) before that, so that it is in every
    /// relying party's JWKS when it starts signing. Default 90 days; `Duration::ZERO` turns
    /// scheduled rotation off (rotation then happens only through
    /// [`Provider::rotate_keys`](crate::Provider::rotate_keys)). Must exceed the publish delay.
    pub fn key_rotation_interval(mut self, d: Duration) -> Self {
        self.key_rotation_interval = d;
        self
    }
    /// How long a new key is in JWKS before it signs. Must exceed the JWKS `Cache-Control`
    /// max-age (300 s) plus the replicas' [refresh interval](Self::key_refresh_interval), so that
    /// every relying party and every replica has the key before the first token it signs.
    /// Default 10 min.
    pub fn key_publish_delay(mut self, d: Duration) -> Self {
        self.key_publish_delay = d;
        self
    }
    /// How long a retired key (one that no longer signs) stays in JWKS and keeps verifying.
    /// Default and minimum: the longest of the ID token lifetime, the access token lifetime and
    /// the session's absolute lifetime (an `id_token_hint` may come back for as long as the
    /// session it names can live), 12 h with the defaults.
    pub fn key_retire_after(mut self, d: Duration) -> Self {
        self.key_retire_after = Some(d);
        self
    }
    /// How often each replica checks the database for keys another replica rotated (and whether
    /// a scheduled rotation is due). A replica serves a key change within this bound. Default
    /// 30 s; 1 s to 5 min.
    pub fn key_refresh_interval(mut self, d: Duration) -> Self {
        self.key_refresh_interval = d;
        self
    }
    /// How often expired codes, sessions, journeys, throttle rows and removed keys are purged.
    /// Default 1 h; `Duration::ZERO` turns the schedule off
    /// ([`Provider::purge_expired`](crate::Provider::purge_expired) still works).
    pub fn housekeeping_interval(mut self, d: Duration) -> Self {
        self.housekeeping_interval = d;
        self
    }
    /// Rows deleted per statement by the purge, so that no statement holds locks for long.
    /// Default 500; 1 to 10 000.
    pub fn housekeeping_batch(mut self, rows: usize) -> Self {
        self.housekeeping_batch = rows;
        self
    }
    /// Networks the provider may call although the outbound fetch guard refuses them by default
    /// (private, loopback, link-local, shared/CGNAT, …): for relying parties on an internal
    /// network whose `jwks_uri` or `backchannel_logout_uri` resolves to such an address. Default
    /// none. Every resolved address of a registered URL is checked; allowing a network also
    /// allows whatever else lives there (never allow 169.254.0.0/16, the cloud metadata
    /// service, unless you mean it).
    pub fn outbound_allowed_networks<I, N>(mut self, networks: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<IpNet>,
    {
        self.outbound_allowed_networks = networks.into_iter().map(Into::into).collect();
        self
    }
    /// A legacy switch: also accept the token endpoint URL as the `aud` of a client assertion
    /// (`private_key_jwt`, `client_secret_jwt`). Default off: the audience must be the issuer
    /// identifier, as a single string (the update of RFC 7523 after the 2025 audience-confusion
    /// findings). Turn it on only for clients that cannot be changed.
    pub fn client_assertion_token_endpoint_audience(mut self, accept: bool) -> Self {
        self.assertion_token_endpoint_audience = accept;
        self
    }
    /// How often each replica looks for back-channel logout tokens to deliver (one indexed
    /// query when there is nothing to do). Default 2 s; 100 ms to 60 s.
    pub fn backchannel_logout_poll_interval(mut self, d: Duration) -> Self {
        self.backchannel_poll_interval = d;
        self
    }
    /// Attempts per back-channel logout delivery (with exponential back-off from 2 s, at most
    /// 10 min apart) before it is given up. Default 8; 1 to 50.
    pub fn backchannel_logout_max_attempts(mut self, attempts: u32) -> Self {
        self.backchannel_max_attempts = attempts;
        self
    }

    /// Validates and builds.
    ///
    /// # Errors
    /// [`Error::Config`] when the issuer is not an absolute https URL (http is allowed only on a
    /// loopback host), has a query or fragment, when a lifetime is zero or inconsistent, or when no
    /// key-encryption key is given for a non-loopback issuer.
    pub fn build(self) -> Result<ProviderConfig, Error> {
        let issuer = self.issuer.trim_end_matches('/').to_string();
        let url = Url::parse(&issuer)
            .map_err(|e| Error::Config(format!("issuer {issuer:?} is not a URL: {e}")))?;
        if url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Config(
                "issuer must not have a query or fragment (OpenID Connect Discovery §2)".into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Config("issuer must not carry credentials".into()));
        }
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            None => return Err(Error::Config("issuer has no host".into())),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                return Err(Error::Config(format!(
                    "issuer {issuer} uses plain http on a non-loopback host; use https"
                )));
            }
            other => {
                return Err(Error::Config(format!(
                    "issuer scheme {other:?} is not https"
                )));
            }
        }
        for (name, d) in [
            ("code_ttl", self.code_ttl),
            ("id_token_ttl", self.id_token_ttl),
            ("access_token_ttl", self.access_token_ttl),
            ("session_idle", self.session_idle),
            ("session_absolute", self.session_absolute),
            ("journey_ttl", self.journey_ttl),
            ("admin_recent_auth", self.admin_recent_auth),
            ("refresh_idle", self.refresh_idle),
            ("refresh_absolute", self.refresh_absolute),
            ("soft_token_activation_ttl", self.soft_token_activation_ttl),
            ("lockout_duration", self.lockout_duration),
            ("throttle_initial_delay", self.pair_initial_delay),
            ("throttle_max_delay", self.pair_max_delay),
            ("address_failure_window", self.address_window),
            ("temporary_password_ttl", self.temporary_password_ttl),
        ] {
            if d.is_zero() {
                return Err(Error::Config(format!("{name} must be greater than zero")));
            }
            if d > Duration::from_secs(366 * 86400) {
                return Err(Error::Config(format!("{name} is longer than a year")));
            }
        }
        if self.pair_initial_delay > self.pair_max_delay {
            return Err(Error::Config(
                "throttle_initial_delay must not exceed throttle_max_delay".into(),
            ));
        }
        if self.session_idle > self.session_absolute {
            return Err(Error::Config(
                "session_idle must not exceed session_absolute".into(),
            ));
        }
        if self.refresh_idle > self.refresh_absolute {
            return Err(Error::Config(
                "refresh_idle must not exceed refresh_absolute".into(),
            ));
        }
        let mut questions: Vec<String> = Vec::new();
        for q in &self.recovery_questions {
            let q = q.trim().to_string();
            if !q.is_empty() && !questions.contains(&q) {
                questions.push(q);
            }
        }
        if questions.len() < 5 {
            return Err(Error::Config(
                "at least five distinct recovery questions are needed".into(),
            ));
        }
        let mut key_algorithms: Vec<SigningAlg> = Vec::new();
        for a in SigningAlg::ALL {
            if self.key_algorithms.contains(&a) {
                key_algorithms.push(a);
            }
        }
        for (name, alg) in [
            ("id_token_alg", self.id_token_alg),
            ("access_token_alg", self.access_token_alg),
        ] {
            if !key_algorithms.contains(&alg) {
                return Err(Error::Config(format!(
                    "{name} {} is not among the key algorithms",
                    alg.as_str()
                )));
            }
        }
        if self.key_refresh_interval < Duration::from_secs(1)
            || self.key_refresh_interval > Duration::from_secs(300)
        {
            return Err(Error::Config(
                "key_refresh_interval must be between 1 s and 5 min".into(),
            ));
        }
        let publish_floor = JWKS_MAX_AGE + self.key_refresh_interval;
        if self.key_publish_delay <= publish_floor {
            return Err(Error::Config(format!(
                "key_publish_delay must exceed the JWKS max-age ({} s) plus key_refresh_interval \
                 ({} s), so that every relying party and replica has a key before it signs",
                JWKS_MAX_AGE.as_secs(),
                self.key_refresh_interval.as_secs()
            )));
        }
        if self.key_publish_delay > Duration::from_secs(30 * 86400) {
            return Err(Error::Config(
                "key_publish_delay is longer than 30 days".into(),
            ));
        }
        let key_rotation_interval = if self.key_rotation_interval.is_zero() {
            None
        } else {
            if self.key_rotation_interval <= self.key_publish_delay {
                return Err(Error::Config(
                    "key_rotation_interval must exceed key_publish_delay".into(),
                ));
            }
            if self.key_rotation_interval > Duration::from_secs(10 * 366 * 86400) {
                return Err(Error::Config(
                    "key_rotation_interval is longer than ten years".into(),
                ));
            }
            Some(self.key_rotation_interval)
        };
        let retire_floor = self
            .id_token_ttl
            .max(self.access_token_ttl)
            .max(self.session_absolute);
        let key_retire_after = match self.key_retire_after {
            None => retire_floor,
            Some(d) if d < retire_floor => {
                return Err(Error::Config(format!(
                    "key_retire_after must be at least {} s: the longest of the ID token and \
                     access token lifetimes and the session's absolute lifetime (id_token_hint)",
                    retire_floor.as_secs()
                )));
            }
            Some(d) if d > Duration::from_secs(366 * 86400) => {
                return Err(Error::Config(
                    "key_retire_after is longer than a year".into(),
                ));
            }
            Some(d) => d,
        };
        let housekeeping_interval = if self.housekeeping_interval.is_zero() {
            None
        } else if self.housekeeping_interval < Duration::from_secs(60) {
            return Err(Error::Config(
                "housekeeping_interval must be at least 60 s (or zero to turn it off)".into(),
            ));
        } else {
            Some(self.housekeeping_interval)
        };
        if !(Duration::from_millis(100)..=Duration::from_secs(60))
            .contains(&self.backchannel_poll_interval)
        {
            return Err(Error::Config(
                "backchannel_logout_poll_interval must be between 100 ms and 60 s".into(),
            ));
        }
        if !(1..=10_000).contains(&self.housekeeping_batch) {
            return Err(Error::Config(
                "housekeeping_batch must be between 1 and 10000 rows".into(),
            ));
        }
        let development_kek = self.kek.is_none();
        if development_kek && !loopback {
            return Err(Error::Config(format!(
                "no key-encryption key is configured and the issuer {issuer} is not loopback: \
                 refusing to keep signing keys under the built-in development key \
                 (set IAM_KEY_ENCRYPTION_KEY to base64 of 32 random bytes)"
            )));
        }
        // The development key is public: as a configured or previous key it would let whoever
        // can write the database plant values that open, so only loopback may use it.
        if !loopback
            && (self.kek == Some(DEVELOPMENT_KEK) || self.previous_keks.contains(&DEVELOPMENT_KEK))
        {
            return Err(Error::Config(format!(
                "the issuer {issuer} is not loopback: refusing the built-in development \
                 key-encryption key"
            )));
        }
        if development_kek && !self.previous_keks.is_empty() {
            return Err(Error::Config(
                "previous_key_encryption_keys needs a key_encryption_key to rotate to".into(),
            ));
        }
        let kek = self.kek.unwrap_or(DEVELOPMENT_KEK);
        let audit_key_derived = self.audit_key.is_none();
        let audit_key = match self.audit_key {
            Some(k) => k,
            None => {
                let mac = crate::secret::hmac_sha256(&kek, b"oidc-core audit log key")?;
                mac.try_into()
                    .map_err(|_| Error::Crypto("HMAC-SHA-256 is not 32 bytes".into()))?
            }
        };
        Ok(ProviderConfig {
            issuer,
            issuer_url: url,
            loopback,
            code_ttl: self.code_ttl,
            id_token_ttl: self.id_token_ttl,
            access_token_ttl: self.access_token_ttl,
            session_idle: self.session_idle,
            session_absolute: self.session_absolute,
            journey_ttl: self.journey_ttl,
            admin_recent_auth: self.admin_recent_auth,
            refresh_idle: self.refresh_idle,
            refresh_absolute: self.refresh_absolute,
            refresh_reuse_grace: self.refresh_reuse_grace,
            id_token_alg: self.id_token_alg,
            access_token_alg: self.access_token_alg,
            kek,
            previous_keks: self.previous_keks,
            development_kek,
            audit_key,
            audit_key_derived,
            service_name: self.service_name,
            reveal_password_result: self.reveal_password_result,
            open_registration: self.open_registration,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            fallback_factor: self.fallback_factor,
            soft_token_activation_ttl: self.soft_token_activation_ttl,
            lockout_threshold: self.lockout_threshold.max(1),
            lockout_duration: self.lockout_duration,
            pair_free_failures: self.pair_free_failures.max(1),
            pair_initial_delay: self.pair_initial_delay,
            pair_max_delay: self.pair_max_delay,
            address_failure_limit: self.address_failure_limit.max(1),
            address_window: self.address_window,
            trusted_proxies: self.trusted_proxies,
            password_policy: self.password_policy,
            temporary_password_ttl: self.temporary_password_ttl,
            recovery_questions: questions,
            support_phone: self.support_phone,
            support_hours: self.support_hours,
            token_support_phone: self.token_support_phone,
            logo_svg: self.logo_svg,
            key_algorithms,
            key_rotation_interval,
            key_publish_delay: self.key_publish_delay,
            key_retire_after,
            key_refresh_interval: self.key_refresh_interval,
            housekeeping_interval,
            housekeeping_batch: self.housekeeping_batch,
            outbound_allowed_networks: self.outbound_allowed_networks,
            assertion_token_endpoint_audience: self.assertion_token_endpoint_audience,
            backchannel_poll_interval: self.backchannel_poll_interval,
            backchannel_max_attempts: self.backchannel_max_attempts.clamp(1, 50),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_rules() {
        assert!(
            ProviderConfig::builder("https://iam.example.org")
                .key_encryption_key([1; 32])
                .build()
                .is_ok()
        );
        assert!(
            ProviderConfig::builder("http://127.0.0.1:8080")
                .build()
                .is_ok()
        );
        assert!(ProviderConfig::builder("http://[::1]:8080").build().is_ok());
        assert!(ProviderConfig::builder("http://localhost").build().is_ok());
        assert!(
            ProviderConfig::builder("http://iam.example.org")
                .key_encryption_key([1; 32])
                .build()
                .is_err()
        );
        assert!(
            ProviderConfig::builder("https://iam.example.org/?a=b")
                .key_encryption_key([1; 32])
                .build()
                .is_err()
        );
        assert!(
            ProviderConfig::builder("https://iam.example.org/#x")
                .key_encryption_key([1; 32])
                .build()
                .is_err()
        );
        assert!(ProviderConfig::builder("ftp://127.0.0.1").build().is_err());
        assert!(ProviderConfig::builder("not a url").build().is_err());
    }

    #[test]
    fn development_key_only_on_loopback() {
        let e = ProviderConfig::builder("https://iam.example.org")
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("IAM_KEY_ENCRYPTION_KEY"), "{e}");
        let c = ProviderConfig::builder("https://127.0.0.1:8443")
            .build()
            .unwrap();
        assert!(c.uses_development_key());
        assert!(!c.is_loopback_http());

        // Nor as an explicitly configured or previous key: it is public.
        for b in [
            ProviderConfig::builder("https://iam.example.org").key_encryption_key(DEVELOPMENT_KEK),
            ProviderConfig::builder("https://iam.example.org")
                .key_encryption_key([1; 32])
                .previous_key_encryption_keys(vec![DEVELOPMENT_KEK]),
        ] {
            let e = b.build().unwrap_err();
            assert!(e.to_string().contains("development"), "{e}");
        }
        let c = ProviderConfig::builder("https://iam.example.org")
            .key_encryption_key([1; 32])
            .previous_key_encryption_keys(vec![[2; 32]])
            .build()
            .unwrap();
        assert_eq!(c.previous_keks, vec![[2u8; 32]]);
        assert!(c.audit_key_derived);
    }

    #[test]
    fn trailing_slash_and_prefix() {
        let c = ProviderConfig::builder("http://127.0.0.1:8080/iam/")
            .build()
            .unwrap();
        assert_eq!(c.issuer(), "http://127.0.0.1:8080/iam");
        assert_eq!(c.base_path(), "/iam");
        assert_eq!(c.endpoint("/token"), "http://127.0.0.1:8080/iam/token");
    }

    #[test]
    fn debug_output_never_shows_keys() {
        let c = ProviderConfig::builder("http://127.0.0.1")
            .key_encryption_key([0xab; 32])
            .build()
            .unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains("[redacted]"));
        assert!(!shown.contains("171"), "{shown}");
    }

    #[test]
    fn throttling_defaults() {
        let c = ProviderConfig::builder("http://127.0.0.1").build().unwrap();
        assert_eq!(c.lockout_threshold, 100);
        assert_eq!(c.lockout_duration, Duration::from_secs(3600));
        assert_eq!(c.pair_free_failures, 5);
        assert_eq!(c.pair_initial_delay, Duration::from_secs(1));
        assert_eq!(c.pair_max_delay, Duration::from_secs(60));
        assert_eq!(c.address_failure_limit, 100);
        assert_eq!(c.address_window, Duration::from_secs(900));
        assert!(c.trusted_proxies.is_empty());
        let c = ProviderConfig::builder("http://127.0.0.1")
            .trusted_proxies([
                IpAddr::from([10, 0, 0, 1]).into(),
                "192.168.0.0/16".parse::<IpNet>().unwrap(),
            ])
            .build()
            .unwrap();
        assert_eq!(c.trusted_proxies.len(), 2);
        assert!(
            ProviderConfig::builder("http://127.0.0.1")
                .throttle_initial_delay(Duration::from_secs(120))
                .build()
                .is_err()
        );
    }

    #[test]
    fn key_policy_defaults() {
        let c = ProviderConfig::builder("http://127.0.0.1").build().unwrap();
        assert_eq!(c.key_algorithms(), &SigningAlg::ALL);
        assert_eq!(
            c.key_rotation_interval(),
            Some(Duration::from_secs(90 * 86400))
        );
        assert_eq!(c.key_publish_delay(), Duration::from_secs(600));
        // The session's absolute lifetime (12 h) is the longest of the three by default.
        assert_eq!(c.key_retire_after(), Duration::from_secs(12 * 3600));
        assert_eq!(c.key_refresh_interval(), Duration::from_secs(30));
        assert_eq!(c.housekeeping_interval(), Some(Duration::from_secs(3600)));
        assert_eq!(c.housekeeping_batch(), 500);
        assert!(c.key_publish_delay() > JWKS_MAX_AGE + c.key_refresh_interval());
        let c = ProviderConfig::builder("http://127.0.0.1")
            .key_rotation_interval(Duration::ZERO)
            .housekeeping_interval(Duration::ZERO)
            .build()
            .unwrap();
        assert_eq!(c.key_rotation_interval(), None);
        assert_eq!(c.housekeeping_interval(), None);
    }

    #[test]
    fn key_policy_is_validated() {
        let b = || ProviderConfig::builder("http://127.0.0.1");
        // Published for less than max-age + refresh: a relying party could miss the key.
        let e = b()
            .key_publish_delay(Duration::from_secs(330))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("key_publish_delay"), "{e}");
        assert!(
            b().key_publish_delay(Duration::from_secs(331))
                .build()
                .is_ok()
        );
        // Retired keys must outlive every token and hint they signed.
        let e = b()
            .key_retire_after(Duration::from_secs(3600))
            .build()
            .unwrap_err();
        assert!(e.to_string().contains("key_retire_after"), "{e}");
        assert!(
            b().session_absolute(Duration::from_secs(3600))
                .session_idle(Duration::from_secs(600))
                .key_retire_after(Duration::from_secs(3600))
                .build()
                .is_ok()
        );
        assert!(
            b().key_rotation_interval(Duration::from_secs(600))
                .build()
                .is_err()
        );
        assert!(
            b().key_refresh_interval(Duration::from_millis(10))
                .build()
                .is_err()
        );
        assert!(b().housekeeping_batch(0).build().is_err());
        assert!(
            b().housekeeping_interval(Duration::from_secs(5))
                .build()
                .is_err()
        );
        // The configured token algorithms need keys.
        let e = b().key_algorithms([SigningAlg::ES256]).build().unwrap_err();
        assert!(e.to_string().contains("RS256"), "{e}");
        let c = b()
            .id_token_alg(SigningAlg::EdDSA)
            .access_token_alg(SigningAlg::ES256)
            .key_algorithms([SigningAlg::EdDSA, SigningAlg::ES256, SigningAlg::EdDSA])
            .build()
            .unwrap();
        // Deduplicated, in discovery order.
        assert_eq!(c.key_algorithms(), &[SigningAlg::ES256, SigningAlg::EdDSA]);
    }

    #[test]
    fn signing_alg_names_round_trip() {
        for a in SigningAlg::ALL {
            assert_eq!(SigningAlg::parse(a.as_str()), Some(a));
        }
        assert_eq!(SigningAlg::parse("EdDSA"), Some(SigningAlg::EdDSA));
        assert_eq!(SigningAlg::parse("eddsa"), None);
        assert_eq!(SigningAlg::parse("HS256"), None);
        assert_eq!(SigningAlg::parse("none"), None);
    }

    #[test]
    fn lifetimes_validated() {
        assert!(
            ProviderConfig::builder("http://127.0.0.1")
                .code_ttl(Duration::ZERO)
                .build()
                .is_err()
        );
        assert!(
            ProviderConfig::builder("http://127.0.0.1")
                .session_idle(Duration::from_secs(100))
                .session_absolute(Duration::from_secs(10))
                .build()
                .is_err()
        );
    }
}
