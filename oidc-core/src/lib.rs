//! # oidc-core: an OpenID Connect provider as a library
//!
//! Build a [`Provider`] from a [`ProviderConfig`] and a database URL, and serve
//! [`Provider::router`] with axum. The provider implements the OpenID Connect authorization code
//! flow with PKCE (S256), discovery, JWKS, the token and userinfo endpoints, and a server-side
//! sign-in journey, over SQLite (default) or PostgreSQL.
//!
//! ```no_run
//! # async fn demo() -> Result<(), oidc_core::Error> {
//! use oidc_core::{NewUser, Provider, ProviderConfig};
//! let config = ProviderConfig::builder("http://127.0.0.1:8080").build()?;
//! let provider = Provider::builder(config, "sqlite://iam.db").build().await?;
//! provider.create_user(NewUser {
//!     username: "nakitt".into(),
//!     email: "nancy@example.org".into(),
//!     name: Some("Nancy Akitt".into()),
//!     roles: vec![],
//!     password: Some("a long pass phrase".into()),
//! }).await?;
//! let app = axum::Router::new().merge(provider.router());
//! # let _ = app; Ok(()) }
//! ```
//!
//! ## Assembly
//! 1. [`ProviderConfig::builder`] with the issuer (the public URL, path included when you nest
//!    the router), a key-encryption key, and any setting to change from its default
//!    ([`ProviderConfigBuilder`] documents each default and rule).
//! 2. [`Provider::builder`] with the database URL (`sqlite://PATH` or `postgres://…`) and the
//!    plug-ins: a [`notify::Mailer`], extra [`mfa::SecondFactor`]s, a
//!    [`claims::ClaimsSource`] (the claims hook), a [`Clock`]. [`ProviderBuilder::build`] runs
//!    the migrations and loads the keys.
//! 3. Nest [`Provider::router`] in your axum app, served with
//!    `into_make_service_with_connect_info::<SocketAddr>()` so that throttling knows the client
//!    address; serve [`Provider::metrics_router`] on a private address.
//! 4. Administer with `Provider` methods: [`Provider::create_user`],
//!    [`Provider::register_client`], [`Provider::add_soft_token`],
//!    [`Provider::issue_temporary_password`], [`Provider::rotate_keys`],
//!    [`Provider::purge_expired`], … (the `oidc-server` CLI and the admin API are shells over
//!    them).
//!
//! The workspace's `examples/` each show one of these and are tested by signing in through them:
//! `minimal` (a provider nested under `/iam` of another app), `custom_factor` (a
//! [`mfa::SecondFactor`] sending a code through the [`notify::Mailer`]), `custom_claims` (roles from another system
//! through [`claims::ClaimsSource`]) and `postgres` (two replicas behind one issuer).
//! `docs/getting-started.md` walks through them.
//!
//! ## What is public
//! The provider and its builders, the plug-in traits ([`Clock`], [`notify::Mailer`],
//! [`mfa::SecondFactor`], [`claims::ClaimsSource`]), the inputs and outputs of the admin
//! operations, [`Error`], the route constants in [`paths`] and the pure protocol rules in
//! [`protocol`] (no I/O: authorization request validation, PKCE, discovery metadata, error
//! codes). Storage, the sign-in journey and the HTTP handlers are private.
//!
//! ## Security
//! - Authorization code flow only; PKCE S256 required by default; exact redirect URI matching.
//! - Client secrets, codes and session ids are stored as SHA-256 digests; passwords with argon2id.
//! - Signing keys are encrypted at rest with the configured key-encryption key; the built-in
//!   development key is refused for any issuer that is not loopback.
//! - Codes are single use: a replayed code revokes the tokens it issued.
#![deny(missing_docs)]

mod accounts;
mod audit;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench_api;
pub mod claims;
mod clients;
mod clock;
mod config;
mod error;
/// Fail points for the tests that abort a use case between its statements (feature
/// `fail-points`).
#[cfg(feature = "fail-points")]
pub mod fail_points {
    pub use crate::fail::{arm, disarm};
}
mod fail;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
mod housekeeping;
mod http;
mod ids;
mod journey;
mod kek;
mod keys;
mod metrics;
pub mod mfa;
pub mod notify;
mod outbound;
pub mod paths;
pub mod protocol;
mod provider;
mod secret;
mod sessions;
mod store;
mod tokens;
#[cfg(test)]
mod use_case_tests;

pub use accounts::desk::{ACR_PASSWORD_EMERGENCY, ROLE_IAM_ADMIN, ROLE_SERVICE_DESK};
pub use accounts::policy::{PasswordPolicy, PolicyContext, RuleViolation};
pub use accounts::provisioning::{
    Approval, NewRegistration, ROLE_ACCESS_ADMIN, ROLE_CPAR_PANEL_ADMIN, Registration, TokenChoice,
};
pub use accounts::{NewUser, User};
pub use audit::{Actor, AuditEvent, VerifyReport};
pub use clients::{
    ADMIN_CONSOLE_ID, ApplicationType, AuthMethod, ClientInfo, ClientMetadata, ClientUpdate,
    InitialAccessToken, NewClient, RefreshPolicy, RegisteredClient,
};
pub use clock::{Clock, SystemClock};
pub use config::{DEFAULT_RECOVERY_QUESTIONS, ProviderConfig, ProviderConfigBuilder, SigningAlg};
pub use error::Error;
pub use housekeeping::PurgeReport;
/// Networks of trusted reverse proxies ([`ProviderConfigBuilder::trusted_proxies`]).
pub use ipnet::IpNet;
pub use kek::{KekRotation, ResealedColumn};
pub use keys::{KeyInfo, KeyState};
pub use provider::{Provider, ProviderBuilder};
pub use secret::Secret;
pub use sessions::backchannel::DeliveryInfo;
