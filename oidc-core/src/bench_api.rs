//! The hot functions, for the criterion benchmarks in `benches/` (feature `bench`; not part of
//! the API). Each wraps exactly what the provider runs per request, so that a benchmark measures
//! the real code rather than a copy of it.

use chrono::{DateTime, Utc};

use crate::config::{ProviderConfig, SigningAlg};
use crate::keys::KeySet;
use crate::tokens::{self, CodeGrant, Subject};

/// A provider's signing keys (one per algorithm) and configuration, in memory.
pub struct Fixture {
    config: ProviderConfig,
    keys: KeySet,
    grant: CodeGrant,
    subject: Subject,
    now: DateTime<Utc>,
}

/// `alg` by name: `RS256`, `ES256` or `EdDSA`.
pub fn alg(name: &str) -> Option<SigningAlg> {
    SigningAlg::parse(name)
}

impl Fixture {
    /// Keys for every algorithm; access tokens signed with `access_token_alg`.
    ///
    /// # Errors
    /// A configuration the library refuses.
    pub fn new(access_token_alg: SigningAlg) -> Result<Fixture, crate::Error> {
        let config = ProviderConfig::builder("http://127.0.0.1:8080")
            .access_token_alg(access_token_alg)
            .build()?;
        let now = chrono::DateTime::<Utc>::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        let mut claims = serde_json::Map::new();
        claims.insert("name".into(), "Nancy Akitt".into());
        claims.insert("email".into(), "nancy.akitt@example.org".into());
        Ok(Fixture {
            config,
            keys: crate::keys::test_keyset(),
            grant: CodeGrant {
                grant_id: "0193d5a8-7c1e-7b3a-9f00-5b1c2d3e4f50".into(),
                client_id: crate::ids::ClientId::new("cpar"),
                user_id: crate::ids::UserId::new("0193d5a8-7c1e-7b3a-9f00-000000000001"),
                session_id: "0193d5a8-7c1e-7b3a-9f00-000000000002".into(),
                redirect_uri: "https://cpar.example.org/callback".into(),
                scope: "openid profile email".into(),
                nonce: Some("n-0S6_WzA2Mj".into()),
                code_challenge: None,
                auth_time: now,
                amr: vec!["pwd".into(), "otp".into(), "mfa".into()],
                acr: Some("urn:oidc-core:acr:password+otp".into()),
                claims: None,
            },
            subject: Subject {
                subject: "248289761001".into(),
                claims,
                extra: serde_json::Map::new(),
            },
            now,
        })
    }

    /// One code exchange's tokens: an RFC 9068 access token and an ID token signed with
    /// `id_token_alg` (claims built, serialised and signed, as at the token endpoint).
    ///
    /// # Errors
    /// A signing failure.
    pub fn mint(&self, id_token_alg: SigningAlg) -> Result<String, crate::Error> {
        let res = tokens::mint(
            &self.config,
            &self.keys,
            &self.grant,
            &self.subject,
            "http://127.0.0.1:8080/userinfo",
            id_token_alg,
            self.now,
        )?;
        Ok(res.access_token)
    }

    /// Reads an access token back as userinfo and introspection do (signature, `typ`, issuer).
    pub fn read_access_token(&self, token: &str) -> bool {
        tokens::decode_access_token(&self.config, &self.keys, token).is_some()
    }
}

/// An argon2id hash with the provider's parameters.
///
/// # Errors
/// The hasher's failure.
pub fn hash_password(password: &str) -> Result<String, crate::Error> {
    crate::accounts::password::hash_blocking(password)
}

/// The provider's password check against a stored hash.
///
/// # Errors
/// The hasher's failure.
pub fn verify_password(password: &str, hash: &str) -> Result<bool, crate::Error> {
    crate::accounts::password::verify_blocking(password, hash)
}
