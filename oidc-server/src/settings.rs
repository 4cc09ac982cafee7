//! Settings: a TOML file, each value overridable by an `IAM_*` environment variable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;

use oidc_core::{ProviderConfig, SigningAlg};

/// The settings file's shape. Every field is optional; defaults suit a development run on
/// loopback.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// The public issuer URL (`IAM_ISSUER`).
    pub issuer: Option<String>,
    /// Where to listen, host:port (`IAM_BIND`).
    pub bind: Option<String>,
    /// Where to serve Prometheus `/metrics`, host:port (`IAM_METRICS_BIND`); off when unset. Keep
    /// it private: a separate address that only the monitoring system reaches.
    pub metrics_bind: Option<String>,
    /// `sqlite://PATH` or `postgres://…` (`IAM_DATABASE_URL`).
    pub database_url: Option<String>,
    /// Folder for the default SQLite database (`IAM_DATA_DIR`).
    pub data_dir: Option<PathBuf>,
    /// Base64 of 32 random bytes (`IAM_KEY_ENCRYPTION_KEY`): seals signing keys, token seeds and
    /// the audit key at rest.
    pub key_encryption_key: Option<String>,
    /// During a key-encryption key rotation, the keys it replaces, base64 each
    /// (`IAM_PREVIOUS_KEY_ENCRYPTION_KEYS`, comma-separated): they only open values not yet
    /// re-sealed by `oidc-server keys rotate-kek`.
    pub previous_key_encryption_keys: Option<Vec<String>>,
    /// The service's name on pages (`IAM_SERVICE_NAME`).
    pub service_name: Option<String>,
    /// Lifetimes in seconds.
    #[serde(default)]
    pub lifetimes: Lifetimes,
    /// `RS256` (default), `ES256` or `EdDSA` (`IAM_ID_TOKEN_ALG`): ID tokens of clients that do
    /// not ask for another algorithm.
    pub id_token_alg: Option<String>,
    /// `RS256` (default), `ES256` or `EdDSA` (`IAM_ACCESS_TOKEN_ALG`).
    pub access_token_alg: Option<String>,
    /// Signing keys: algorithms and rotation.
    #[serde(default)]
    pub keys: KeySettings,
    /// The purge of expired rows.
    #[serde(default)]
    pub housekeeping: HousekeepingSettings,
    /// Sign-in throttling and the account lock.
    #[serde(default)]
    pub throttle: ThrottleSettings,
    /// Second-factor behaviour.
    #[serde(default)]
    pub mfa: MfaSettings,
    /// A RADIUS server (RSA Authentication Manager or any RADIUS MFA server) as a second factor.
    pub radius: Option<RadiusSettings>,
    /// The From address of the provider's mail (`IAM_MAIL_FROM`, default
    /// "AHS IAM <no-reply@iam.localhost>").
    pub mail_from: Option<String>,
    /// An SMTP relay; without it mail goes to `.eml` files in DATA_DIR/outbox.
    pub smtp: Option<SmtpSettings>,
    /// The service desk's number shown to people (`IAM_SUPPORT_PHONE`).
    pub support_phone: Option<String>,
    /// The pages' logo and help lines (the name is `service_name`, the desk's number
    /// `support_phone`).
    #[serde(default)]
    pub branding: BrandingSettings,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` are believed, as addresses or CIDR
    /// ranges (`IAM_TRUSTED_PROXIES`, comma-separated). Without them the peer address counts.
    pub trusted_proxies: Option<Vec<String>>,
    /// Dynamic client registration without an initial access token (`IAM_OPEN_REGISTRATION`,
    /// default false: `oidc-server client initial-token` hands tokens out).
    pub open_registration: Option<bool>,
    /// Every client must push its authorization requests, RFC 9126 §5
    /// (`IAM_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS`, default false: only clients registered so).
    pub require_pushed_authorization_requests: Option<bool>,
    /// Networks the outbound fetch guard allows for clients' `jwks_uri` and
    /// `backchannel_logout_uri` although they are private, loopback or link-local, as CIDR
    /// ranges or addresses (`IAM_OUTBOUND_ALLOWED_NETWORKS`, comma-separated). Default none.
    pub outbound_allowed_networks: Option<Vec<String>>,
    /// Legacy: accept the token endpoint URL as a client assertion's `aud`
    /// (`IAM_CLIENT_ASSERTION_TOKEN_ENDPOINT_AUDIENCE`, default false: the issuer only).
    pub client_assertion_token_endpoint_audience: Option<bool>,
}

/// The `[smtp]` section.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSettings {
    /// The relay's host.
    pub host: String,
    /// Its port (default 587).
    pub port: Option<u16>,
    /// `none`, `starttls` (default) or `tls`.
    pub tls: Option<String>,
    /// Login, if the relay wants one.
    pub username: Option<String>,
    /// Password (`IAM_SMTP_PASSWORD` overrides it).
    pub password: Option<String>,
}

/// The `[radius]` section: registers the `radius` factor (use `[mfa] fallback_factor = "radius"`
/// to make it the factor of every account without a token of the provider's own).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusSettings {
    /// The NAS-Identifier sent with each request (default "ahs-iam").
    pub nas_identifier: Option<String>,
    /// Seconds to wait for each answer (default 3).
    pub timeout_secs: Option<u64>,
    /// Retransmissions per server (default 2).
    pub retries: Option<u32>,
    /// The servers, primary first.
    pub servers: Vec<RadiusServerSettings>,
}

/// One RADIUS server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RadiusServerSettings {
    /// host:port (UDP).
    pub address: String,
    /// The shared secret.
    pub secret: String,
}

/// The `[branding]` section: what the pages show besides the service's name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BrandingSettings {
    /// An SVG file shown as the logo in the pages' header (`IAM_LOGO_FILE`; default a built-in
    /// mark). Served as an image at `/assets/logo.svg`.
    pub logo_file: Option<PathBuf>,
    /// When the service desk answers (`IAM_SUPPORT_HOURS`, default "24/7").
    pub support_hours: Option<String>,
    /// The number to call about a token (`IAM_TOKEN_SUPPORT_PHONE`, default 1-844-542-7876).
    pub token_support_phone: Option<String>,
}

/// The `[mfa]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaSettings {
    /// Report a wrong password at once instead of always continuing to the passcode page
    /// (`IAM_REVEAL_PASSWORD_RESULT`, default false).
    pub reveal_password_result: Option<bool>,
    /// The factor for accounts without a token of the provider's own, e.g. `radius`
    /// (`IAM_FALLBACK_FACTOR`).
    pub fallback_factor: Option<String>,
    /// Days a soft token's activation code stays valid (default 7).
    pub activation_days: Option<u64>,
}

/// The `[keys]` section: signing algorithms and the rotation policy. Unset values keep the
/// library's defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// The algorithms to hold keys for and advertise (default `["RS256", "ES256", "EdDSA"]`;
    /// `IAM_KEY_ALGORITHMS`, comma-separated). Must include the ID token and access token
    /// algorithms.
    pub algorithms: Option<Vec<String>>,
    /// Days a key signs before its successor takes over (default 90; 0 turns scheduled rotation
    /// off; `IAM_KEY_ROTATION_DAYS`).
    pub rotation_interval_days: Option<u64>,
    /// Seconds a new key is published before it signs (default 600; must exceed the JWKS max-age
    /// of 300 s plus `refresh_interval_secs`).
    pub publish_delay_secs: Option<u64>,
    /// Seconds a retired key stays published (default and minimum: the longest of the ID token,
    /// access token and session absolute lifetimes).
    pub retire_after_secs: Option<u64>,
    /// Seconds between each replica's checks for keys rotated elsewhere (default 30).
    pub refresh_interval_secs: Option<u64>,
}

/// The `[housekeeping]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HousekeepingSettings {
    /// Seconds between purges of expired rows (default 3600; 0 turns the schedule off, `purge`
    /// still works; `IAM_HOUSEKEEPING_INTERVAL_SECS`).
    pub interval_secs: Option<u64>,
    /// Rows deleted per statement (default 500).
    pub batch: Option<usize>,
}

/// The `[throttle]` section; unset keys keep the library's defaults (see the rustdoc of
/// `oidc_core::ProviderConfigBuilder`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    /// Consecutive failures that lock an account (default 100).
    pub lockout_threshold: Option<u32>,
    /// Seconds an account stays locked (default 3600).
    pub lockout_duration: Option<u64>,
    /// Failures of one account from one address before delays start (default 5).
    pub free_failures: Option<u32>,
    /// Failures from one address, any account, per window (default 100).
    pub address_failure_limit: Option<u32>,
    /// That window in seconds (default 900).
    pub address_failure_window: Option<u64>,
}

/// Lifetimes in seconds; unset ones keep the library's defaults.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lifetimes {
    /// Authorization code (default 60).
    pub code: Option<u64>,
    /// ID token (default 600).
    pub id_token: Option<u64>,
    /// Access token (default 600).
    pub access_token: Option<u64>,
    /// Session idle limit (default 1800).
    pub session_idle: Option<u64>,
    /// Session absolute limit (default 43200).
    pub session_absolute: Option<u64>,
    /// A refresh token unused this long stops working (default 1209600, 14 days).
    pub refresh_idle: Option<u64>,
    /// A refresh token family ends this long after sign-in (default 7776000, 90 days).
    pub refresh_absolute: Option<u64>,
    /// A rotated refresh token presented again within this many seconds is only refused; later,
    /// its family is revoked (default 10).
    pub refresh_reuse_grace: Option<u64>,
}

/// The resolved settings.
#[derive(Debug)]
pub struct Settings {
    /// The provider configuration, validated.
    pub config: ProviderConfig,
    /// Where to listen.
    pub bind: String,
    /// Where to serve Prometheus `/metrics`, if anywhere.
    pub metrics_bind: Option<String>,
    /// The database URL.
    pub database_url: String,
    /// The RADIUS factor's configuration, when `[radius]` is present.
    pub radius: Option<RadiusSettings>,
    /// The data folder (the default SQLite database and the mail outbox live there).
    pub data_dir: PathBuf,
    /// The From address of the provider's mail.
    pub mail_from: String,
    /// The SMTP relay, when configured.
    pub smtp: Option<SmtpSettings>,
}

/// Why settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The file could not be read or parsed.
    #[error("settings file {0}: {1}")]
    File(PathBuf, String),
    /// A value is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The library refused the configuration.
    #[error(transparent)]
    Core(#[from] oidc_core::Error),
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A key-encryption key: base64 (standard alphabet) of exactly 32 bytes.
fn kek_of(name: &str, value: &str) -> Result<[u8; 32], SettingsError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| SettingsError::Invalid(format!("{name} is not base64")))?;
    bytes
        .try_into()
        .map_err(|_| SettingsError::Invalid(format!("{name} must decode to exactly 32 bytes")))
}

fn alg(name: &str, v: Option<String>) -> Result<Option<SigningAlg>, SettingsError> {
    v.map(|v| {
        SigningAlg::parse(v.trim()).ok_or_else(|| {
            SettingsError::Invalid(format!("{name}: {v:?} is not RS256, ES256 or EdDSA"))
        })
    })
    .transpose()
}

impl Settings {
    /// Reads the file (if given) and applies the environment over it.
    ///
    /// # Errors
    /// A file that cannot be read or parsed, a malformed key-encryption key, or a configuration
    /// the library refuses (for example plain http on a public host).
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let f: FileSettings = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| SettingsError::File(p.into(), e.to_string()))?;
                toml::from_str(&text).map_err(|e| SettingsError::File(p.into(), e.to_string()))?
            }
            None => FileSettings::default(),
        };
        Self::resolve(f)
    }

    /// Resolves parsed file settings, with `IAM_*` environment variables over them (a host
    /// that builds its settings in code, such as the demo, starts here).
    ///
    /// # Errors
    /// As [`Settings::load`], without the file errors.
    pub fn resolve(f: FileSettings) -> Result<Settings, SettingsError> {
        let bind = env("IAM_BIND")
            .or(f.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".into());
        let issuer = env("IAM_ISSUER")
            .or(f.issuer)
            .unwrap_or_else(|| format!("http://{bind}"));
        let data_dir = env("IAM_DATA_DIR")
            .map(PathBuf::from)
            .or(f.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let database_url = env("IAM_DATABASE_URL")
            .or(f.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("iam.db").display()));
        let mut b = ProviderConfig::builder(issuer);
        if let Some(k) = env("IAM_KEY_ENCRYPTION_KEY").or(f.key_encryption_key) {
            b = b.key_encryption_key(kek_of("IAM_KEY_ENCRYPTION_KEY", &k)?);
        }
        let previous: Vec<String> = match env("IAM_PREVIOUS_KEY_ENCRYPTION_KEYS") {
            Some(v) => v.split(',').map(str::to_string).collect(),
            None => f.previous_key_encryption_keys.unwrap_or_default(),
        };
        let mut previous_keks = Vec::new();
        for k in previous.iter().filter(|k| !k.trim().is_empty()) {
            previous_keks.push(kek_of("IAM_PREVIOUS_KEY_ENCRYPTION_KEYS", k)?);
        }
        if !previous_keks.is_empty() {
            b = b.previous_key_encryption_keys(previous_keks);
        }
        if let Some(n) = env("IAM_SERVICE_NAME").or(f.service_name) {
            b = b.service_name(n);
        }
        if let Some(a) = alg("id_token_alg", env("IAM_ID_TOKEN_ALG").or(f.id_token_alg))? {
            b = b.id_token_alg(a);
        }
        if let Some(a) = alg(
            "access_token_alg",
            env("IAM_ACCESS_TOKEN_ALG").or(f.access_token_alg),
        )? {
            b = b.access_token_alg(a);
        }
        let reveal = match env("IAM_REVEAL_PASSWORD_RESULT") {
            Some(v) => Some(matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes"
            )),
            None => f.mfa.reveal_password_result,
        };
        if let Some(r) = reveal {
            b = b.reveal_password_result(r);
        }
        let open_registration = match env("IAM_OPEN_REGISTRATION") {
            Some(v) => Some(matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes"
            )),
            None => f.open_registration,
        };
        if let Some(open) = open_registration {
            b = b.open_registration(open);
        }
        let require_par = match env("IAM_REQUIRE_PUSHED_AUTHORIZATION_REQUESTS") {
            Some(v) => Some(matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes"
            )),
            None => f.require_pushed_authorization_requests,
        };
        if let Some(required) = require_par {
            b = b.require_pushed_authorization_requests(required);
        }
        if let Some(factor) = env("IAM_FALLBACK_FACTOR").or(f.mfa.fallback_factor) {
            b = b.fallback_factor(factor);
        }
        if let Some(days) = f.mfa.activation_days {
            b = b.soft_token_activation_ttl(Duration::from_secs(days.saturating_mul(86400)));
        }
        let proxies: Vec<String> = match env("IAM_TRUSTED_PROXIES") {
            Some(v) => v
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            None => f.trusted_proxies.unwrap_or_default(),
        };
        let mut nets: Vec<oidc_core::IpNet> = Vec::new();
        for p in &proxies {
            let net = p
                .parse::<oidc_core::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(oidc_core::IpNet::from))
                .map_err(|_| {
                    SettingsError::Invalid(format!(
                        "trusted proxy {p:?} is not an address or CIDR range"
                    ))
                })?;
            nets.push(net);
        }
        if !nets.is_empty() {
            b = b.trusted_proxies(nets);
        }
        let allowed: Vec<String> = match env("IAM_OUTBOUND_ALLOWED_NETWORKS") {
            Some(v) => v
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect(),
            None => f.outbound_allowed_networks.unwrap_or_default(),
        };
        let mut allowed_nets: Vec<oidc_core::IpNet> = Vec::new();
        for p in &allowed {
            let net = p
                .parse::<oidc_core::IpNet>()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(oidc_core::IpNet::from))
                .map_err(|_| {
                    SettingsError::Invalid(format!(
                        "outbound allowed network {p:?} is not an address or CIDR range"
                    ))
                })?;
            allowed_nets.push(net);
        }
        if !allowed_nets.is_empty() {
            b = b.outbound_allowed_networks(allowed_nets);
        }
        let legacy_aud = match env("IAM_CLIENT_ASSERTION_TOKEN_ENDPOINT_AUDIENCE") {
            Some(v) => Some(matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes"
            )),
            None => f.client_assertion_token_endpoint_audience,
        };
        if let Some(accept) = legacy_aud {
            b = b.client_assertion_token_endpoint_audience(accept);
        }
        if let Some(phone) = env("IAM_SUPPORT_PHONE").or(f.support_phone) {
            b = b.support_phone(phone);
        }
        let brand = f.branding;
        if let Some(hours) = env("IAM_SUPPORT_HOURS").or(brand.support_hours) {
            b = b.support_hours(hours);
        }
        if let Some(phone) = env("IAM_TOKEN_SUPPORT_PHONE").or(brand.token_support_phone) {
            b = b.token_support_phone(phone);
        }
        if let Some(file) = env("IAM_LOGO_FILE").map(PathBuf::from).or(brand.logo_file) {
            let svg = std::fs::read_to_string(&file)
                .map_err(|e| SettingsError::File(file.clone(), e.to_string()))?;
            if !svg.contains("<svg") {
                return Err(SettingsError::Invalid(format!(
                    "logo_file {}: not an SVG image",
                    file.display()
                )));
            }
            b = b.logo_svg(svg);
        }
        let k = f.keys;
        let algorithms: Option<Vec<String>> = match env("IAM_KEY_ALGORITHMS") {
            Some(v) => Some(
                v.split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect(),
            ),
            None => k.algorithms,
        };
        if let Some(names) = algorithms {
            let mut algs = Vec::new();
            for n in names {
                if let Some(a) = alg("keys.algorithms", Some(n))? {
                    algs.push(a);
                }
            }
            if algs.is_empty() {
                return Err(SettingsError::Invalid(
                    "keys.algorithms must name at least one algorithm".into(),
                ));
            }
            b = b.key_algorithms(algs);
        }
        let rotation_days = match env("IAM_KEY_ROTATION_DAYS") {
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                SettingsError::Invalid(format!("IAM_KEY_ROTATION_DAYS: {v:?} is not a number"))
            })?),
            None => k.rotation_interval_days,
        };
        if let Some(days) = rotation_days {
            b = b.key_rotation_interval(Duration::from_secs(days.saturating_mul(86400)));
        }
        if let Some(v) = k.publish_delay_secs {
            b = b.key_publish_delay(Duration::from_secs(v));
        }
        if let Some(v) = k.retire_after_secs {
            b = b.key_retire_after(Duration::from_secs(v));
        }
        if let Some(v) = k.refresh_interval_secs {
            b = b.key_refresh_interval(Duration::from_secs(v));
        }
        let h = f.housekeeping;
        let interval = match env("IAM_HOUSEKEEPING_INTERVAL_SECS") {
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                SettingsError::Invalid(format!(
                    "IAM_HOUSEKEEPING_INTERVAL_SECS: {v:?} is not a number"
                ))
            })?),
            None => h.interval_secs,
        };
        if let Some(v) = interval {
            b = b.housekeeping_interval(Duration::from_secs(v));
        }
        if let Some(v) = h.batch {
            b = b.housekeeping_batch(v);
        }
        let t = f.throttle;
        if let Some(n) = t.lockout_threshold {
            b = b.lockout_threshold(n);
        }
        if let Some(v) = t.lockout_duration {
            b = b.lockout_duration(Duration::from_secs(v));
        }
        if let Some(n) = t.free_failures {
            b = b.throttle_free_failures(n);
        }
        if let Some(n) = t.address_failure_limit {
            b = b.address_failure_limit(n);
        }
        if let Some(v) = t.address_failure_window {
            b = b.address_failure_window(Duration::from_secs(v));
        }
        let l = f.lifetimes;
        let secs = Duration::from_secs;
        if let Some(v) = l.code {
            b = b.code_ttl(secs(v));
        }
        if let Some(v) = l.id_token {
            b = b.id_token_ttl(secs(v));
        }
        if let Some(v) = l.access_token {
            b = b.access_token_ttl(secs(v));
        }
        if let Some(v) = l.session_idle {
            b = b.session_idle(secs(v));
        }
        if let Some(v) = l.session_absolute {
            b = b.session_absolute(secs(v));
        }
        if let Some(v) = l.refresh_idle {
            b = b.refresh_idle(secs(v));
        }
        if let Some(v) = l.refresh_absolute {
            b = b.refresh_absolute(secs(v));
        }
        if let Some(v) = l.refresh_reuse_grace {
            b = b.refresh_reuse_grace(secs(v));
        }
        let metrics_bind = env("IAM_METRICS_BIND").or(f.metrics_bind);
        if metrics_bind.as_deref() == Some(bind.as_str()) {
            return Err(SettingsError::Invalid(
                "metrics_bind must be another address than bind: metrics are not for the public"
                    .into(),
            ));
        }
        Ok(Settings {
            config: b.build()?,
            bind,
            metrics_bind,
            database_url,
            radius: f.radius,
            data_dir,
            mail_from: env("IAM_MAIL_FROM")
                .or(f.mail_from)
                .unwrap_or_else(|| "AHS IAM <no-reply@iam.localhost>".into()),
            smtp: f.smtp.map(|mut s| {
                if let Some(p) = env("IAM_SMTP_PASSWORD") {
                    s.password = Some(p);
                }
                s
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Settings, SettingsError> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("iam.toml");
        std::fs::write(&p, text).unwrap();
        Settings::load(Some(&p))
    }

    #[test]
    fn file_values_are_applied() {
        let s = load(
            "issuer = \"https://iam.example.org\"\nbind = \"0.0.0.0:9443\"\n\
             database_url = \"postgres://iam@db/iam\"\n\
             key_encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n\
             [lifetimes]\ncode = 30\n",
        )
        .unwrap();
        assert_eq!(s.config.issuer(), "https://iam.example.org");
        assert_eq!(s.bind, "0.0.0.0:9443");
        assert_eq!(s.database_url, "postgres://iam@db/iam");
        assert!(!s.config.uses_development_key());
    }

    #[test]
    fn bad_values_are_refused_with_a_reason() {
        let e = load("key_encryption_key = \"c2hvcnQ=\"\n").unwrap_err();
        assert!(e.to_string().contains("32 bytes"), "{e}");
        let e = load("issuer = \"https://iam.example.org\"\n").unwrap_err();
        assert!(e.to_string().contains("IAM_KEY_ENCRYPTION_KEY"), "{e}");
        let e = load("isuer = \"typo\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
        let e = load("id_token_alg = \"HS256\"\n").unwrap_err();
        assert!(e.to_string().contains("HS256"), "{e}");
    }

    #[test]
    fn previous_key_encryption_keys_for_a_rotation() {
        let s = load(
            "key_encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n\
             previous_key_encryption_keys = [\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\"]\n",
        )
        .unwrap();
        assert!(!s.config.uses_development_key());
        let e = load(
            "key_encryption_key = \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"\n\
             previous_key_encryption_keys = [\"c2hvcnQ=\"]\n",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("IAM_PREVIOUS_KEY_ENCRYPTION_KEYS must decode to exactly 32 bytes"),
            "{e}"
        );
        // A previous key without a current one to rotate to.
        let e = load(
            "previous_key_encryption_keys = [\"ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=\"]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("needs a key_encryption_key"), "{e}");
    }

    #[test]
    fn keys_and_housekeeping_sections() {
        let s = load(
            "id_token_alg = \"EdDSA\"\n\
             [keys]\nalgorithms = [\"EdDSA\", \"RS256\"]\nrotation_interval_days = 30\n\
             publish_delay_secs = 900\nretire_after_secs = 86400\nrefresh_interval_secs = 10\n\
             [housekeeping]\ninterval_secs = 600\nbatch = 100\n",
        )
        .unwrap();
        let c = &s.config;
        assert_eq!(c.key_algorithms(), &[SigningAlg::RS256, SigningAlg::EdDSA]);
        assert_eq!(
            c.key_rotation_interval(),
            Some(Duration::from_secs(30 * 86400))
        );
        assert_eq!(c.key_publish_delay(), Duration::from_secs(900));
        assert_eq!(c.key_retire_after(), Duration::from_secs(86400));
        assert_eq!(c.key_refresh_interval(), Duration::from_secs(10));
        assert_eq!(c.housekeeping_interval(), Some(Duration::from_secs(600)));
        assert_eq!(c.housekeeping_batch(), 100);
        let s = load("[keys]\nrotation_interval_days = 0\n[housekeeping]\ninterval_secs = 0\n")
            .unwrap();
        assert_eq!(s.config.key_rotation_interval(), None);
        assert_eq!(s.config.housekeeping_interval(), None);
    }

    #[test]
    fn key_settings_are_validated() {
        let e = load("[keys]\npublish_delay_secs = 60\n").unwrap_err();
        assert!(e.to_string().contains("key_publish_delay"), "{e}");
        let e = load("[keys]\nalgorithms = [\"HS256\"]\n").unwrap_err();
        assert!(e.to_string().contains("HS256"), "{e}");
        let e = load("[keys]\nalgorithms = [\"ES256\"]\n").unwrap_err();
        assert!(e.to_string().contains("RS256"), "{e}");
        let e = load("[keys]\nretire_after_secs = 60\n").unwrap_err();
        assert!(e.to_string().contains("key_retire_after"), "{e}");
        let e = load("[keys]\nrotation_days = 1\n").unwrap_err();
        assert!(e.to_string().contains("unknown field"), "{e}");
    }

    #[test]
    fn outbound_allowed_networks_parse_addresses_and_ranges() {
        let c = load("outbound_allowed_networks = [\"10.20.0.0/16\", \"192.168.1.5\"]\n").unwrap();
        assert_eq!(c.config.outbound_allowed_networks().len(), 2);
        let e = load("outbound_allowed_networks = [\"intranet\"]\n").unwrap_err();
        assert!(e.to_string().contains("intranet"), "{e}");
    }

    #[test]
    fn trusted_proxies_parse_addresses_and_ranges() {
        assert!(load("trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"::1\"]\n").is_ok());
        let e = load("trusted_proxies = [\"not an address\"]\n").unwrap_err();
        assert!(e.to_string().contains("not an address"), "{e}");
    }

    #[test]
    fn defaults_are_a_loopback_sqlite_development_setup() {
        let s = load("").unwrap();
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.config.issuer(), "http://127.0.0.1:8080");
        assert_eq!(s.database_url, "sqlite://data/iam.db");
        assert!(s.config.uses_development_key());
    }
}
