//! The endpoint paths, relative to the issuer. Discovery is built from these same constants.
//!
//! This module imports nothing, so that protocol rules and HTTP handlers can share it.

/// OpenID Provider metadata (OIDC Discovery §4).
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// The JSON Web Key Set.
pub const JWKS: &str = "/jwks";
/// The authorization endpoint (GET and POST).
pub const AUTHORIZE: &str = "/authorize";
/// The token endpoint.
pub const TOKEN: &str = "/token";
/// Token revocation (RFC 7009).
pub const REVOCATION: &str = "/revoke";
/// Token introspection (RFC 7662).
pub const INTROSPECTION: &str = "/introspect";
/// The pushed authorization request endpoint (RFC 9126).
pub const PAR: &str = "/par";
/// The userinfo endpoint (GET and POST).
pub const USERINFO: &str = "/userinfo";
/// Dynamic client registration (RFC 7591 §3); each client's configuration endpoint
/// (RFC 7592) is `/register/{client_id}`.
pub const REGISTRATION: &str = "/register";
/// The sign-in journey's pages: `/signin/{journey id}`.
pub const SIGNIN: &str = "/signin";
/// First-time activation at the IAM portal (token passcode, temporary password, new password,
/// recovery data).
pub const ACTIVATE_ACCOUNT: &str = "/activate";
/// "Update / Change your password".
pub const CHANGE_PASSWORD: &str = "/change-password";
/// "Forgot your password?".
pub const FORGOT_PASSWORD: &str = "/forgot-password";
/// Soft-token activation (username + activation code, then the first code).
pub const ACTIVATE_TOKEN: &str = "/activate-token";
/// RP-Initiated Logout 1.0's `end_session_endpoint` (GET and POST).
pub const END_SESSION: &str = "/logout";
/// The admin pages (sign in through the provider with the admin console client).
pub const ADMIN: &str = "/admin";
/// Where the admin console client receives its authorization code.
pub const ADMIN_CALLBACK: &str = "/admin/callback";
/// The admin JSON API (bearer access tokens of the admin console, scope `admin`).
pub const ADMIN_API: &str = "/admin/api";
/// Liveness: the process answers.
pub const HEALTHZ: &str = "/healthz";
/// Readiness: the database answers and the signing keys are loaded.
pub const READYZ: &str = "/readyz";
/// The stylesheet of the provider's pages.
pub const STYLESHEET: &str = "/assets/iam.css";
/// The script that submits a `response_mode=form_post` answer (no inline scripts under the
/// provider's CSP).
pub const FORM_POST_SCRIPT: &str = "/assets/form_post.js";
/// The IAM portal page where a person sees the applications they allowed (consent) and
/// withdraws a permission (POST `{ACCOUNT_APPS}/withdraw`).
pub const ACCOUNT_APPS: &str = "/account/apps";
