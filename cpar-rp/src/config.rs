//! CPAR's configuration: a TOML file, then `CPAR_*` environment variables on top, validated once
//! at start-up.
//!
//! ```toml
//! issuer = "https://iam.example.org"
//! client_id = "…"
//! client_secret = "…"
//! base_url = "https://cpar.example.org"
//! bind = "0.0.0.0:8081"
//! database = "/var/lib/cpar/cpar.db"
//! idle_timeout_secs = 900
//! absolute_timeout_secs = 43200
//!
//! [support]
//! token_support_phone = "1-844-542-7876"
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::Error;

/// The phone numbers and hours printed in every page's Support Information footer, and on the
/// page that turns away users without CPAR access. The defaults are those of the CPAR quick
/// reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct SupportInfo {
    /// RSA Remote Token Support, for every token question.
    pub token_support_phone: String,
    /// The AHS IT Service Desk, for passwords.
    pub service_desk_phone: String,
    /// When the service desk answers.
    pub service_desk_hours: String,
    /// The menu choices to reach the right desk.
    pub service_desk_options: String,
    /// eHealth Services Provider Support, for other log-in questions.
    pub provider_support_phone: String,
    /// eHealth Services Provider Support's address.
    pub provider_support_email: String,
    /// When eHealth Services Provider Support answers.
    pub provider_support_hours: String,
}

impl Default for SupportInfo {
    fn default() -> Self {
        SupportInfo {
            token_support_phone: "1-844-542-7876".into(),
            service_desk_phone: "1-877-311-4300".into(),
            service_desk_hours: "24/7".into(),
            service_desk_options: "option 4, then option 1".into(),
            provider_support_phone: "1-855-643-8649".into(),
            provider_support_email: "eHealthProviderSupport@gov.ab.ca".into(),
            provider_support_hours: "8:15 a.m. – 4:30 p.m. Monday – Friday".into(),
        }
    }
}

/// Everything CPAR needs to run. Build it with [`Config::new`] (then change fields), or read it
/// with [`Config::load`] / [`Config::from_toml`]; [`crate::App::start`] validates it.
///
/// ```
/// let mut config = cpar_rp::Config::new(
///     "http://127.0.0.1:8080",
///     "cpar-client-id",
///     "cpar-client-secret",
///     "http://127.0.0.1:8081",
/// );
/// config.idle_timeout = std::time::Duration::from_secs(10 * 60);
/// assert!(config.validate().is_ok());
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Config {
    /// AHS IAM's issuer URL (discovery is at `{issuer}/.well-known/openid-configuration`).
    /// `CPAR_ISSUER`.
    pub issuer: String,
    /// CPAR's client id at AHS IAM. `CPAR_CLIENT_ID`.
    pub client_id: String,
    /// CPAR's client secret (sent with `client_secret_basic`). `CPAR_CLIENT_SECRET`.
    pub client_secret: String,
    /// CPAR's public URL, without a path: the redirect URI is `{base_url}/callback`, the
    /// post-logout redirect URI `{base_url}/signed-out`. Under `https` the cookies are `Secure`.
    /// `CPAR_BASE_URL`.
    pub base_url: String,
    /// Where the `cpar-rp` binary listens. Default `127.0.0.1:8081`. `CPAR_BIND`.
    pub bind: SocketAddr,
    /// CPAR's SQLite database file (a `sqlite://` prefix is accepted); its folder is created if
    /// missing. Default `cpar-data/cpar.db`. `CPAR_DATABASE_URL`, or `CPAR_DATA_DIR` for
    /// `DIR/cpar.db`.
    pub database: PathBuf,
    /// A session unused this long ends. Default 15 minutes. `CPAR_IDLE_TIMEOUT_SECS`.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not. Default 12 hours.
    /// `CPAR_ABSOLUTE_TIMEOUT_SECS`.
    pub absolute_timeout: Duration,
    /// How long [`crate::App::start`] keeps retrying discovery while AHS IAM is not up.
    /// Default 60 s. `CPAR_DISCOVERY_TIMEOUT_SECS`.
    pub discovery_timeout: Duration,
    /// The time limit of each call to AHS IAM. Default 10 s. `CPAR_HTTP_TIMEOUT_SECS`.
    pub http_timeout: Duration,
    /// The Support Information. `CPAR_SUPPORT_TOKEN_PHONE`, `CPAR_SUPPORT_SERVICE_DESK_PHONE`,
    /// `CPAR_SUPPORT_SERVICE_DESK_HOURS`, `CPAR_SUPPORT_SERVICE_DESK_OPTIONS`,
    /// `CPAR_SUPPORT_PROVIDER_PHONE`, `CPAR_SUPPORT_PROVIDER_EMAIL`,
    /// `CPAR_SUPPORT_PROVIDER_HOURS`.
    pub support: SupportInfo,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("base_url", &self.base_url)
            .field("bind", &self.bind)
            .field("database", &self.database)
            .field("idle_timeout", &self.idle_timeout)
            .field("absolute_timeout", &self.absolute_timeout)
            .field("discovery_timeout", &self.discovery_timeout)
            .field("http_timeout", &self.http_timeout)
            .field("support", &self.support)
            .finish()
    }
}

/// The file's shape: every field optional, so the environment can supply what the file leaves
/// out.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    issuer: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    base_url: Option<String>,
    bind: Option<String>,
    database: Option<String>,
    data_dir: Option<String>,
    idle_timeout_secs: Option<u64>,
    absolute_timeout_secs: Option<u64>,
    discovery_timeout_secs: Option<u64>,
    http_timeout_secs: Option<u64>,
    support: Option<SupportInfo>,
}

const DEFAULT_BIND: &str = "127.0.0.1:8081";
const DEFAULT_DATABASE: &str = "cpar-data/cpar.db";

impl Config {
    /// A configuration with these four required values and the defaults for everything else.
    pub fn new(
        issuer: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        base_url: impl Into<String>,
    ) -> Config {
        Config {
            issuer: issuer.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            base_url: base_url.into(),
            bind: SocketAddr::from(([127, 0, 0, 1], 8081)),
            database: PathBuf::from(DEFAULT_DATABASE),
            idle_timeout: Duration::from_secs(15 * 60),
            absolute_timeout: Duration::from_secs(12 * 3600),
            discovery_timeout: Duration::from_secs(60),
            http_timeout: Duration::from_secs(10),
            support: SupportInfo::default(),
        }
    }

    /// Reads the TOML file (if given), applies the process's `CPAR_*` environment variables on
    /// top, and validates the result.
    pub fn load(file: Option<&Path>) -> Result<Config, Error> {
        let text = match file {
            Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                Error::Config(format!(
                    "cannot read the configuration file {}: {e}",
                    p.display()
                ))
            })?),
            None => None,
        };
        Config::from_sources(text.as_deref(), |k| std::env::var(k).ok())
    }

    /// Parses a TOML configuration (no environment) and validates it.
    pub fn from_toml(text: &str) -> Result<Config, Error> {
        Config::from_sources(Some(text), |_| None)
    }

    /// The file's values, then the variables `env` returns (`CPAR_ISSUER`, …) over them.
    pub fn from_sources(
        toml_text: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, Error> {
        let file: FileConfig = match toml_text {
            Some(t) => toml::from_str(t)
                .map_err(|e| Error::Config(format!("the configuration file is not valid: {e}")))?,
            None => FileConfig::default(),
        };
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let pick = |key: &str, from_file: Option<String>| env(key).or(from_file);
        let secs = |key: &str, from_file: Option<u64>| -> Result<Option<u64>, Error> {
            match env(key) {
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| Error::Config(format!("{key} must be a number of seconds"))),
                None => Ok(from_file),
            }
        };
        let required = |key: &str, name: &str, v: Option<String>| {
            v.ok_or_else(|| Error::Config(format!("{name} is required (or set {key})")))
        };
        let mut config = Config::new(
            required("CPAR_ISSUER", "issuer", pick("CPAR_ISSUER", file.issuer))?,
            required(
                "CPAR_CLIENT_ID",
                "client_id",
                pick("CPAR_CLIENT_ID", file.client_id),
            )?,
            required(
                "CPAR_CLIENT_SECRET",
                "client_secret",
                pick("CPAR_CLIENT_SECRET", file.client_secret),
            )?,
            required(
                "CPAR_BASE_URL",
                "base_url",
                pick("CPAR_BASE_URL", file.base_url),
            )?,
        );
        let bind = pick("CPAR_BIND", file.bind).unwrap_or_else(|| DEFAULT_BIND.into());
        config.bind = bind
            .trim()
            .parse()
            .map_err(|_| Error::Config(format!("bind {bind:?} is not an address:port")))?;
        // An explicit database wins over a data folder, the environment over the file.
        let database = env("CPAR_DATABASE_URL")
            .or_else(|| env("CPAR_DATA_DIR").map(|d| format!("{d}/cpar.db")))
            .or(file.database)
            .or_else(|| file.data_dir.map(|d| format!("{d}/cpar.db")));
        if let Some(d) = database {
            config.database = database_path(&d)?;
        }
        if let Some(s) = secs("CPAR_IDLE_TIMEOUT_SECS", file.idle_timeout_secs)? {
            config.idle_timeout = Duration::from_secs(s);
        }
        if let Some(s) = secs("CPAR_ABSOLUTE_TIMEOUT_SECS", file.absolute_timeout_secs)? {
            config.absolute_timeout = Duration::from_secs(s);
        }
        if let Some(s) = secs("CPAR_DISCOVERY_TIMEOUT_SECS", file.discovery_timeout_secs)? {
            config.discovery_timeout = Duration::from_secs(s);
        }
        if let Some(s) = secs("CPAR_HTTP_TIMEOUT_SECS", file.http_timeout_secs)? {
            config.http_timeout = Duration::from_secs(s);
        }
        let mut support = file.support.unwrap_or_default();
        for (key, field) in [
            ("CPAR_SUPPORT_TOKEN_PHONE", &mut support.token_support_phone),
            (
                "CPAR_SUPPORT_SERVICE_DESK_PHONE",
                &mut support.service_desk_phone,
            ),
            (
                "CPAR_SUPPORT_SERVICE_DESK_HOURS",
                &mut support.service_desk_hours,
            ),
            (
                "CPAR_SUPPORT_SERVICE_DESK_OPTIONS",
                &mut support.service_desk_options,
            ),
            (
                "CPAR_SUPPORT_PROVIDER_PHONE",
                &mut support.provider_support_phone,
            ),
            (
                "CPAR_SUPPORT_PROVIDER_EMAIL",
                &mut support.provider_support_email,
            ),
            (
                "CPAR_SUPPORT_PROVIDER_HOURS",
                &mut support.provider_support_hours,
            ),
        ] {
            if let Some(v) = env(key) {
                *field = v;
            }
        }
        config.support = support;
        config.validate()?;
        Ok(config)
    }

    /// Checks that the values can work: URLs that parse (the issuer and base URL over http or
    /// https, the base URL without a path, query or fragment), a client id and secret, limits above
    /// zero with the idle limit not above the absolute one.
    pub fn validate(&self) -> Result<(), Error> {
        let issuer = Url::parse(&self.issuer)
            .map_err(|e| Error::Config(format!("issuer {:?} is not a URL: {e}", self.issuer)))?;
        if !matches!(issuer.scheme(), "http" | "https") || issuer.host().is_none() {
            return Err(Error::Config("issuer must be an http(s) URL".into()));
        }
        if issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(Error::Config(
                "issuer must not have a query or fragment".into(),
            ));
        }
        self.base()?;
        if self.client_id.trim().is_empty() {
            return Err(Error::Config("client_id is empty".into()));
        }
        if self.client_secret.is_empty() {
            return Err(Error::Config("client_secret is empty".into()));
        }
        for (name, d) in [
            ("idle_timeout", self.idle_timeout),
            ("absolute_timeout", self.absolute_timeout),
            ("http_timeout", self.http_timeout),
        ] {
            if d.is_zero() {
                return Err(Error::Config(format!("{name} must be above zero")));
            }
        }
        if self.idle_timeout > self.absolute_timeout {
            return Err(Error::Config(
                "idle_timeout must not be longer than absolute_timeout".into(),
            ));
        }
        if chrono::Duration::from_std(self.absolute_timeout).is_err() {
            return Err(Error::Config("absolute_timeout is too long".into()));
        }
        Ok(())
    }

    /// The base URL as written back in redirects: scheme, host and port, no trailing slash.
    pub(crate) fn base(&self) -> Result<String, Error> {
        let url = Url::parse(&self.base_url).map_err(|e| {
            Error::Config(format!("base_url {:?} is not a URL: {e}", self.base_url))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::Config("base_url must be an http(s) URL".into()));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(Error::Config(
                "base_url must be an origin only (no path, query or fragment): CPAR serves from /"
                    .into(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::Config("base_url must not carry credentials".into()));
        }
        Ok(url.as_str().trim_end_matches('/').to_string())
    }

    /// Whether the cookies are `Secure` (and `__Host-` prefixed): the base URL is https.
    pub(crate) fn secure_cookies(&self) -> bool {
        self.base_url
            .trim()
            .to_ascii_lowercase()
            .starts_with("https:")
    }
}

/// The file path of a `database` value: a path, or a `sqlite://` URL of one.
fn database_path(value: &str) -> Result<PathBuf, Error> {
    let v = value.trim();
    let path = v
        .strip_prefix("sqlite://")
        .or_else(|| v.strip_prefix("sqlite:"))
        .unwrap_or(v);
    if v.contains("://") && !v.starts_with("sqlite://") {
        return Err(Error::Config(format!(
            "database {v:?}: CPAR keeps its data in SQLite; give a file path or a sqlite:// URL"
        )));
    }
    if path.is_empty() {
        return Err(Error::Config("database is empty".into()));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const MINIMAL: &str = r#"
        issuer = "http://127.0.0.1:8080"
        client_id = "cid"
        client_secret = "s3cret"
        base_url = "http://127.0.0.1:8081"
    "#;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let c = Config::from_toml(MINIMAL).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:8080");
        assert_eq!(c.idle_timeout, Duration::from_secs(900));
        assert_eq!(c.absolute_timeout, Duration::from_secs(43_200));
        assert_eq!(c.bind, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(c.database, PathBuf::from("cpar-data/cpar.db"));
        assert_eq!(c.support.token_support_phone, "1-844-542-7876");
        assert_eq!(c.support.service_desk_phone, "1-877-311-4300");
        assert_eq!(c.support.service_desk_hours, "24/7");
        assert!(!c.secure_cookies());
        assert_eq!(c.base().unwrap(), "http://127.0.0.1:8081");
    }

    #[test]
    fn the_environment_overrides_the_file() {
        let c = Config::from_sources(
            Some(MINIMAL),
            env(&[
                ("CPAR_ISSUER", "https://iam.example.org"),
                ("CPAR_BASE_URL", "https://cpar.example.org/"),
                ("CPAR_IDLE_TIMEOUT_SECS", "600"),
                ("CPAR_ABSOLUTE_TIMEOUT_SECS", "3600"),
                ("CPAR_DATABASE_URL", "sqlite:///var/lib/cpar/cpar.db"),
                ("CPAR_BIND", "0.0.0.0:9000"),
                ("CPAR_SUPPORT_TOKEN_PHONE", "1-800-000-0000"),
            ]),
        )
        .unwrap();
        assert_eq!(c.issuer, "https://iam.example.org");
        assert_eq!(c.idle_timeout, Duration::from_secs(600));
        assert_eq!(c.absolute_timeout, Duration::from_secs(3600));
        assert_eq!(c.database, PathBuf::from("/var/lib/cpar/cpar.db"));
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.support.token_support_phone, "1-800-000-0000");
        assert_eq!(c.support.service_desk_phone, "1-877-311-4300");
        assert!(c.secure_cookies());
        assert_eq!(c.base().unwrap(), "https://cpar.example.org");
    }

    #[test]
    fn everything_can_come_from_the_environment() {
        let c = Config::from_sources(
            None,
            env(&[
                ("CPAR_ISSUER", "http://127.0.0.1:8080"),
                ("CPAR_CLIENT_ID", "cid"),
                ("CPAR_CLIENT_SECRET", "secret"),
                ("CPAR_BASE_URL", "http://127.0.0.1:8081"),
                ("CPAR_DATA_DIR", "/tmp/cpar"),
            ]),
        )
        .unwrap();
        assert_eq!(c.client_id, "cid");
        assert_eq!(c.database, PathBuf::from("/tmp/cpar/cpar.db"));
    }

    #[test]
    fn the_file_support_section_is_read() {
        let text = format!("{MINIMAL}\n[support]\nservice_desk_hours = \"weekdays\"\n");
        let c = Config::from_toml(&text).unwrap();
        assert_eq!(c.support.service_desk_hours, "weekdays");
        assert_eq!(c.support.token_support_phone, "1-844-542-7876");
    }

    #[test]
    fn missing_and_bad_values_are_refused() {
        let err = |text: &str| Config::from_toml(text).unwrap_err().to_string();
        assert!(err("issuer = \"http://x\"").contains("client_id is required"));
        assert!(
            err(&MINIMAL.replace("http://127.0.0.1:8081", "http://h/cpar")).contains("origin only")
        );
        assert!(err(&MINIMAL.replace("http://127.0.0.1:8080", "not a url")).contains("issuer"));
        assert!(err(&format!("{MINIMAL}\nidle_timeout_secs = 0")).contains("above zero"));
        assert!(
            err(&format!(
                "{MINIMAL}\nidle_timeout_secs = 100\nabsolute_timeout_secs = 50"
            ))
            .contains("idle_timeout")
        );
        assert!(err(&format!("{MINIMAL}\nunknown = 1")).contains("unknown"));
        assert!(err(&format!("{MINIMAL}\ndatabase = \"postgres://x/y\"")).contains("SQLite"));
        let e = Config::from_sources(Some(MINIMAL), env(&[("CPAR_IDLE_TIMEOUT_SECS", "soon")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("CPAR_IDLE_TIMEOUT_SECS"), "{e}");
    }

    #[test]
    fn the_secret_is_not_printed() {
        let c = Config::from_toml(MINIMAL).unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("[redacted]"),
            "{shown}"
        );
    }
}
