//! CPAR, the Central Patient Attachment Registry: a relying party that signs its users in
//! through AHS IAM with the `openidconnect` crate, and lets CPAR Panel Administrators see their
//! panels and the patients attached to them.
//!
//! CPAR talks to AHS IAM over HTTP only (discovery, `/authorize`, `/token`, `/userinfo`, the
//! key set, the end-session endpoint); it never links the provider's code. It keeps its own
//! SQLite database.
//!
//! # Assembly
//! 1. Register CPAR at AHS IAM as a first-party confidential client with the redirect URI
//!    [`Config::redirect_uri`] and the post-logout redirect URI
//!    [`Config::post_logout_redirect_uri`].
//! 2. Build a [`Config`] ([`Config::new`], or [`Config::load`] for a TOML file plus `CPAR_*`
//!    variables).
//! 3. [`App::start`] opens the database and discovers AHS IAM (retrying while it is not up);
//!    serve [`App::router`].
//!
//! ```no_run
//! use std::sync::Arc;
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = cpar_rp::Config::new(
//!     "http://127.0.0.1:8080",       // AHS IAM's issuer
//!     "the-client-id",
//!     "the-client-secret",
//!     "http://127.0.0.1:8081",       // CPAR's public URL
//! );
//! let app = cpar_rp::App::start(config, Arc::new(cpar_rp::SystemClock)).await?;
//! app.seed_demo_data("nakitt").await?; // fictitious panels for this AHS Network ID
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8081").await?;
//! axum::serve(listener, app.router()).await?;
//! # Ok(()) }
//! ```
//!
//! # Routes
//! - `GET /` (also `/panels`) the signed-in user's name, role and panels; `GET /panels/{id}` a
//!   panel's patients.
//!   Any other path is an application route too. Without a session the browser goes to AHS IAM
//!   and comes back to the same path and query ("deep links": bookmarks work).
//! - `GET /login?return_to=/path`, `GET /callback` (the redirect URI), `POST /logout`,
//!   `GET /signed-out` (the post-logout redirect URI), `GET /assets/cpar.css`.
//!
//! # Security
//! - Authorization code flow with PKCE S256; `state` and `nonce` are 256-bit random values kept
//!   server-side with the PKCE verifier and the return path, bound to the browser by the
//!   `cpar_browser` cookie, and claimed once (a replayed, foreign or unknown `state` creates no
//!   session). The callback checks RFC 9207 `iss` (required when discovery promises it), then
//!   the ID token's signature (algorithms from discovery, never `none` or HMAC), issuer, audience,
//!   nonce, expiry (on CPAR's [`Clock`]) and `at_hash`; after `prompt=login` also that `auth_time`
//!   is recent. Profile and `roles` come from userinfo, for the ID token's subject.
//! - The session cookie `cpar_session` (names distinct from AHS IAM's, since browsers do not
//!   separate cookies by port) is `HttpOnly; SameSite=Lax`, and `Secure` with the `__Host-`
//!   prefix under an https base URL. It holds a 256-bit random id; the database keeps its SHA-256.
//!   A new sign-in always gets a new id.
//! - Sessions end after [`Config::idle_timeout`] without use (15 minutes) and
//!   [`Config::absolute_timeout`] after sign-in (12 hours). The next request then signs in again
//!   with `prompt=login`, so an open AHS IAM session cannot silently sign an unattended
//!   workstation back in; the page after it says what happened.
//! - Every application route requires the role [`PANEL_ADMIN_ROLE`]; anyone else (an Access
//!   Administrator included) gets [`ACCESS_DENIED_MESSAGE`] and whom to contact, and no data.
//! - Log out is a POST with a per-session form token and an `Origin` check; it ends CPAR's
//!   session, then RP-Initiated Logout ends AHS IAM's (`id_token_hint`,
//!   `post_logout_redirect_uri`, `state`, which CPAR checks on return).
//! - Return paths are local paths only (never `//host` or `/\host`). Pages carry
//!   `Content-Security-Policy: default-src 'self'; frame-ancestors 'none'` (no inline script or
//!   style), `nosniff`, `Referrer-Policy: no-referrer`, `Cache-Control: no-store`.
//! - Bad input (a missing or wrong `state`, a provider error, a tampered ID token, AHS IAM
//!   unreachable) gets a page that says what happened, never a 5xx, and no session.

mod clock;
mod config;
mod cookies;
mod demo;
mod error;
mod oidc;
mod pages;
mod return_to;
mod store;
mod web;

use std::sync::Arc;

pub use clock::{Clock, SystemClock};
pub use config::{Config, SupportInfo};
pub use error::Error;
pub use pages::ACCESS_DENIED_MESSAGE;

/// The role (in AHS IAM's `roles` claim) that opens CPAR.
pub const PANEL_ADMIN_ROLE: &str = "cpar_panel_admin";

impl Config {
    /// The redirect URI to register at AHS IAM: `{base_url}/callback`.
    pub fn redirect_uri(&self) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), web::CALLBACK)
    }

    /// The post-logout redirect URI to register at AHS IAM: `{base_url}/signed-out`.
    pub fn post_logout_redirect_uri(&self) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), web::SIGNED_OUT)
    }

    /// The back-channel logout URI to register at AHS IAM (OpenID Connect Back-Channel Logout
    /// 1.0 `backchannel_logout_uri`): `{base_url}/backchannel-logout`.
    pub fn backchannel_logout_uri(&self) -> String {
        format!(
            "{}{}",
            self.base_url.trim_end_matches('/'),
            web::BACKCHANNEL_LOGOUT
        )
    }
}

/// A started CPAR: its database open and AHS IAM discovered. Cheap to clone.
#[derive(Clone)]
pub struct App {
    shared: Arc<web::Shared>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Validates `config`, opens (and migrates) the database, and discovers AHS IAM, retrying
    /// with back-off for up to [`Config::discovery_timeout`] (one log line per failed attempt).
    /// Fails with [`Error::Discovery`] when AHS IAM has not answered by then.
    pub async fn start(config: Config, clock: Arc<dyn Clock>) -> Result<App, Error> {
        config.validate()?;
        let base = config.base()?;
        let store = store::Store::open(&config.database).await?;
        let oidc = oidc::Oidc::discover(&config, clock.clone()).await?;
        let secure = config.secure_cookies();
        Ok(App {
            shared: Arc::new(web::Shared {
                config,
                base,
                secure,
                clock,
                store,
                oidc,
            }),
        })
    }

    /// The configuration CPAR runs with.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// CPAR's routes, ready for `axum::serve` (or to nest in a larger app at `/`).
    pub fn router(&self) -> axum::Router {
        web::router(self.shared.clone())
    }

    /// Gives the Panel Administrator `username` (their AHS Network ID, the `preferred_username`
    /// claim) three demonstration panels with fictitious patients, unless they already
    /// administer a panel. Returns the ids of their panels (for `/panels/{id}`), by name.
    pub async fn seed_demo_data(&self, username: &str) -> Result<Vec<String>, Error> {
        Ok(self
            .shared
            .store
            .seed_panels(username.to_string(), demo::panels())
            .await?)
    }
}
