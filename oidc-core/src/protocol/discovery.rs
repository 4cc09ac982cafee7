//! The OpenID Provider metadata document (OIDC Discovery §3, RFC 8414 §2), built once from the
//! same path constants the router uses, and served as precomputed bytes.

use serde_json::json;

use super::acr::{ACR_PASSWORD, ACR_PASSWORD_OTP};
use super::authorize::{DISPLAY_VALUES, RESPONSE_MODES, SUPPORTED_PROMPTS, SUPPORTED_SCOPES};
use super::client_rules::{GRANT_TYPES, PRIVATE_KEY_ALGS, SECRET_ALGS};
use crate::config::ProviderConfig;
use crate::paths;

/// Claims the provider can release (OIDC Discovery `claims_supported`).
pub const SUPPORTED_CLAIMS: [&str; 17] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "azp",
    "sid",
    "name",
    "preferred_username",
    "email",
    "email_verified",
    "roles",
    "at_hash",
    "acr",
    "amr",
];

/// Client authentication methods at the token, revocation and introspection endpoints (RFC 8414
/// §2); the confidential ones first.
const CLIENT_AUTH_METHODS: [&str; 5] = [
    "client_secret_basic",
    "client_secret_post",
    "private_key_jwt",
    "client_secret_jwt",
    "none",
];

/// The metadata document. Every list is explicit: several of the specs' defaults (for example
/// `response_modes_supported` including fragment, `grant_types_supported` including implicit) would
/// advertise what this provider deliberately does not do.
pub fn metadata(config: &ProviderConfig) -> serde_json::Value {
    // Exactly the algorithms the provider holds keys for (RS256, ES256, EdDSA by default).
    let algs: Vec<&str> = config.key_algorithms().iter().map(|a| a.as_str()).collect();
    // RFC 8414 §2: the algorithms of private_key_jwt and client_secret_jwt assertions.
    let assertion_algs: Vec<&str> = PRIVATE_KEY_ALGS
        .iter()
        .chain(&SECRET_ALGS)
        .copied()
        .collect();
    json!({
        "issuer": config.issuer(),
        "authorization_endpoint": config.endpoint(paths::AUTHORIZE),
        "token_endpoint": config.endpoint(paths::TOKEN),
        "userinfo_endpoint": config.endpoint(paths::USERINFO),
        "jwks_uri": config.endpoint(paths::JWKS),
        "revocation_endpoint": config.endpoint(paths::REVOCATION),
        "revocation_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "revocation_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "introspection_endpoint": config.endpoint(paths::INTROSPECTION),
        // Introspection needs a confidential client (RFC 7662 §2.1).
        "introspection_endpoint_auth_methods_supported": &CLIENT_AUTH_METHODS[..4],
        "introspection_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "end_session_endpoint": config.endpoint(paths::END_SESSION),
        // RFC 7591 §3 / OIDC Discovery §3: gated by an initial access token unless registration
        // is open.
        "registration_endpoint": config.endpoint(paths::REGISTRATION),
        "scopes_supported": SUPPORTED_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": RESPONSE_MODES,
        "grant_types_supported": GRANT_TYPES,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": CLIENT_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": assertion_algs,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": SUPPORTED_CLAIMS,
        "claim_types_supported": ["normal"],
        "prompt_values_supported": SUPPORTED_PROMPTS,
        "display_values_supported": DISPLAY_VALUES,
        // Pages are in English; other ui_locales and claims_locales are accepted and ignored,
        // as OIDC Core §3.1.2.1 allows.
        "ui_locales_supported": ["en"],
        "claims_locales_supported": ["en"],
        "acr_values_supported": [ACR_PASSWORD_OTP, ACR_PASSWORD],
        "claims_parameter_supported": true,
        // RFC 9101: signed request objects by value, at the authorization endpoint and at PAR.
        "request_parameter_supported": true,
        "request_object_signing_alg_values_supported": super::request_object::SIGNING_ALGS,
        // A request_uri is accepted only as the URN the PAR endpoint returned; nothing is ever
        // fetched by reference.
        "request_uri_parameter_supported": false,
        "require_request_uri_registration": false,
        "authorization_response_iss_parameter_supported": true,
        // RFC 9126 §5.
        "pushed_authorization_request_endpoint": config.endpoint(paths::PAR),
        "require_pushed_authorization_requests": config.require_pushed_authorization_requests(),
        "frontchannel_logout_supported": false,
        // OpenID Connect Back-Channel Logout 1.0 §2.1: logout tokens carry sid (and sub).
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
    })
}
