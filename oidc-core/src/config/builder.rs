//! The builder of [`ProviderConfig`]: every setting with its default and its rules.

use std::time::Duration;

use ipnet::IpNet;

use super::{
    DEFAULT_HOUSEKEEPING_BATCH, DEFAULT_HOUSEKEEPING_INTERVAL, DEFAULT_KEY_PUBLISH_DELAY,
    DEFAULT_KEY_REFRESH_INTERVAL, DEFAULT_KEY_ROTATION_INTERVAL, DEFAULT_LOGO_SVG,
    DEFAULT_RECOVERY_QUESTIONS, ProviderConfig, SigningAlg,
};
use crate::accounts::policy::PasswordPolicy;

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
    pub(super) issuer: String,
    pub(super) code_ttl: Duration,
    pub(super) id_token_ttl: Duration,
    pub(super) access_token_ttl: Duration,
    pub(super) session_idle: Duration,
    pub(super) session_absolute: Duration,
    pub(super) journey_ttl: Duration,
    pub(super) admin_recent_auth: Duration,
    pub(super) refresh_idle: Duration,
    pub(super) refresh_absolute: Duration,
    pub(super) refresh_reuse_grace: Duration,
    pub(super) id_token_alg: SigningAlg,
    pub(super) access_token_alg: SigningAlg,
    pub(super) kek: Option<[u8; 32]>,
    pub(super) previous_keks: Vec<[u8; 32]>,
    pub(super) audit_key: Option<[u8; 32]>,
    pub(super) service_name: String,
    pub(super) reveal_password_result: bool,
    pub(super) open_registration: bool,
    pub(super) require_pushed_authorization_requests: bool,
    pub(super) fallback_factor: Option<String>,
    pub(super) soft_token_activation_ttl: Duration,
    pub(super) lockout_threshold: u32,
    pub(super) lockout_duration: Duration,
    pub(super) pair_free_failures: u32,
    pub(super) pair_initial_delay: Duration,
    pub(super) pair_max_delay: Duration,
    pub(super) address_failure_limit: u32,
    pub(super) address_window: Duration,
    pub(super) trusted_proxies: Vec<IpNet>,
    pub(super) password_policy: PasswordPolicy,
    pub(super) temporary_password_ttl: Duration,
    pub(super) recovery_questions: Vec<String>,
    pub(super) support_phone: String,
    pub(super) support_hours: String,
    pub(super) token_support_phone: String,
    pub(super) logo_svg: String,
    pub(super) key_algorithms: Vec<SigningAlg>,
    pub(super) key_rotation_interval: Duration,
    pub(super) key_publish_delay: Duration,
    pub(super) key_retire_after: Option<Duration>,
    pub(super) key_refresh_interval: Duration,
    pub(super) housekeeping_interval: Duration,
    pub(super) housekeeping_batch: usize,
    pub(super) outbound_allowed_networks: Vec<IpNet>,
    pub(super) assertion_token_endpoint_audience: bool,
    pub(super) backchannel_poll_interval: Duration,
    pub(super) backchannel_max_attempts: u32,
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
}
