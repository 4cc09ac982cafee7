//! OAuth 2.0 and OpenID Connect rules as pure functions and types: no I/O here.

pub(crate) mod acr;
pub mod authorize;
pub(crate) mod client_rules;
pub mod discovery;
pub mod errors;
pub mod pkce;
pub(crate) mod redirect_uri;
pub mod request_object;
pub mod scope;
