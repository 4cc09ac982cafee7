//! [`ProviderConfigBuilder::build`]: the validation of the whole configuration.

use std::net::IpAddr;
use std::time::Duration;

use url::Url;

use super::{DEVELOPMENT_KEK, JWKS_MAX_AGE, ProviderConfig, ProviderConfigBuilder, SigningAlg};
use crate::error::Error;

impl ProviderConfigBuilder {
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
