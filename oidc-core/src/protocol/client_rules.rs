//! What a client may be registered for and authenticate with: the lists that registration checks
//! and discovery advertises, kept in one place so that the two cannot disagree.

/// The grant types a client may be registered for.
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// Signature algorithms accepted for `private_key_jwt` (advertised in discovery).
pub const PRIVATE_KEY_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];
/// The MAC algorithm accepted for `client_secret_jwt` (advertised in discovery).
pub const SECRET_ALGS: [&str; 1] = ["HS256"];
