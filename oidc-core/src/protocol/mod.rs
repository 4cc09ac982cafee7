//! OAuth 2.0 and OpenID Connect rules as pure functions and types: no I/O here.

pub mod authorize;
pub mod discovery;
pub mod errors;
pub mod pkce;
pub mod request_object;
pub mod scope;
