//! Validation of the authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636 §4.3),
//! as pure functions: no I/O, so every rule is unit-tested against the spec text.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::errors::{ErrorCode, OAuthError};
use super::pkce;
use crate::clients::redirect_uri_matches;

/// Scopes the provider understands; others are ignored (OIDC Core §3.1.2.1).
pub const SUPPORTED_SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "roles",
    "offline_access",
    ADMIN_SCOPE,
];

/// The scope of the IAM admin API. Only the provider's own admin console client may ask for it;
/// its access tokens are for the admin API's audience and nothing else.
pub const ADMIN_SCOPE: &str = "admin";

/// The `prompt` values this provider acts on (OIDC Core §3.1.2.1).
pub const SUPPORTED_PROMPTS: [&str; 3] = ["none", "login", "consent"];

/// The longest `state` accepted (and echoed).
const MAX_STATE: usize = 4096;

/// What the client needs to supply for its request to be checked.
#[derive(Debug, Clone)]
pub struct ClientPolicy<'a> {
    /// The registered redirect URIs.
    pub redirect_uris: &'a [String],
    /// Whether PKCE is required for this client.
    pub pkce_required: bool,
    /// A public (native) client: its loopback redirect URIs match on any port (RFC 8252 §7.3).
    pub native: bool,
    /// The provider's own admin console, the only client that may ask for [`ADMIN_SCOPE`].
    pub admin_console: bool,
}

/// A validated authorization request, kept server-side for the length of the sign-in journey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    /// The client.
    pub client_id: String,
    /// The redirect URI, exactly as sent (it matched a registered one).
    pub redirect_uri: String,
    /// Granted scopes: the requested ones the provider understands, in request order.
    pub scopes: Vec<String>,
    /// Echoed back unchanged.
    pub state: Option<String>,
    /// Put in the ID token unchanged.
    pub nonce: Option<String>,
    /// The S256 PKCE challenge.
    pub code_challenge: Option<String>,
    /// `prompt=none`: never show a page.
    pub prompt_none: bool,
    /// `prompt=login`: authenticate again even with a session.
    pub prompt_login: bool,
    /// `max_age` in seconds.
    pub max_age: Option<u64>,
    /// `login_hint`: prefills the username.
    pub login_hint: Option<String>,
    /// `acr_values`: a voluntary preference (OIDC Core §3.1.2.1).
    #[serde(default)]
    pub acr_values: Vec<String>,
    /// The values of an essential `acr` claim request (`claims` parameter, OIDC Core §5.5.1.1);
    /// empty when any `acr` will do, `None` when `acr` is not essential.
    #[serde(default)]
    pub essential_acr: Option<Vec<String>>,
}

impl AuthRequest {
    /// The scope string as granted (space-separated).
    pub fn scope(&self) -> String {
        self.scopes.join(" ")
    }

    /// The request as authorization-endpoint parameters, to send the browser through the endpoint
    /// again once it has a session (after a finished sign-in whose answer the browser never saw).
    /// `prompt` and `max_age` are left out: the authentication they asked for has just happened.
    pub fn continuation_params(&self) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("response_type", "code".to_string()),
            ("scope", self.scope()),
        ];
        if let Some(v) = &self.state {
            p.push(("state", v.clone()));
        }
        if let Some(v) = &self.nonce {
            p.push(("nonce", v.clone()));
        }
        if let Some(v) = &self.code_challenge {
            p.push(("code_challenge", v.clone()));
            p.push(("code_challenge_method", "S256".to_string()));
        }
        if !self.acr_values.is_empty() {
            p.push(("acr_values", self.acr_values.join(" ")));
        }
        if let Some(values) = &self.essential_acr {
            let claims = serde_json::json!({ "id_token": { "acr": { "essential": true, "values": values } } });
            p.push(("claims", claims.to_string()));
        }
        p
    }

    /// Does this sign-in need the second factor? `client_requires` is the client's policy.
    ///
    /// # Errors
    /// `unmet_authentication_requirements` when an essential `acr` asks for values this provider
    /// cannot give the client.
    pub fn needs_second_factor(&self, client_requires: bool) -> Result<bool, OAuthError> {
        use crate::mfa::{ACR_PASSWORD, ACR_PASSWORD_OTP};
        let voluntary = self.acr_values.iter().any(|v| v == ACR_PASSWORD_OTP);
        match &self.essential_acr {
            Some(values) if !values.is_empty() => {
                let mfa_ok = values.iter().any(|v| v == ACR_PASSWORD_OTP);
                let pwd_ok = values.iter().any(|v| v == ACR_PASSWORD);
                if !mfa_ok && (!pwd_ok || client_requires) {
                    return Err(OAuthError::new(
                        ErrorCode::UnmetAuthenticationRequirements,
                        "none of the essential acr values can be met",
                    ));
                }
                Ok(client_requires || !pwd_ok || voluntary)
            }
            _ => Ok(client_requires || voluntary),
        }
    }
}

/// The essential `acr` request of a `claims` parameter (OIDC Core §5.5): `Ok(None)` when `acr` is
/// not requested as essential in the ID token.
fn essential_acr(claims: &str) -> Result<Option<Vec<String>>, String> {
    let v: serde_json::Value =
        serde_json::from_str(claims).map_err(|_| "the claims parameter is not JSON".to_string())?;
    if !v.is_object() {
        return Err("the claims parameter must be a JSON object".into());
    }
    let Some(acr) = v.get("id_token").and_then(|t| t.get("acr")) else {
        return Ok(None);
    };
    if acr.get("essential").and_then(serde_json::Value::as_bool) != Some(true) {
        return Ok(None);
    }
    let mut values: Vec<String> = Vec::new();
    if let Some(s) = acr.get("value").and_then(serde_json::Value::as_str) {
        values.push(s.to_string());
    }
    if let Some(list) = acr.get("values").and_then(serde_json::Value::as_array) {
        values.extend(list.iter().filter_map(|x| x.as_str().map(str::to_string)));
    }
    Ok(Some(values))
}

/// Why a request cannot proceed, and how the answer must be delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect
    /// (RFC 6749 §4.1.2.1 first paragraph).
    Page(String),
    /// Answer the client at its redirect URI with `error`, `state` and `iss`.
    Redirect {
        /// Where to send the error (a registered redirect URI).
        redirect_uri: String,
        /// The error.
        error: OAuthError,
        /// The request's `state`, echoed.
        state: Option<String>,
    },
}

/// The parameters as sent, each at most once (RFC 6749 §3.1: "Request and response parameters
/// MUST NOT be included more than once").
#[derive(Debug, Clone, Default)]
pub struct RawParams {
    map: HashMap<String, String>,
    duplicated: Vec<String>,
}

impl RawParams {
    /// Collects decoded `name=value` pairs. Parameters sent without a value are treated as
    /// omitted (RFC 6749 §3.1).
    pub fn from_pairs<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut raw = RawParams::default();
        for (k, v) in pairs {
            if v.is_empty() {
                continue;
            }
            match raw.map.entry(k) {
                std::collections::hash_map::Entry::Occupied(e) => {
                    if !raw.duplicated.contains(e.key()) {
                        raw.duplicated.push(e.key().clone());
                    }
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(v);
                }
            }
        }
        raw
    }

    /// One parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// The names of parameters sent more than once, in the order first seen.
    pub fn duplicated(&self) -> &[String] {
        &self.duplicated
    }

    fn dup(&self, name: &str) -> bool {
        self.duplicated.iter().any(|d| d == name)
    }
}

/// Step one: the client id, before the client is looked up. A missing or repeated `client_id`
/// gives an error page.
pub fn client_id(raw: &RawParams) -> Result<&str, AuthorizeError> {
    if raw.dup("client_id") {
        return Err(AuthorizeError::Page(
            "The request repeats the client_id parameter.".into(),
        ));
    }
    raw.get("client_id")
        .ok_or_else(|| AuthorizeError::Page("The request has no client_id.".into()))
}

/// Step two: every other rule, once the client is known.
pub fn validate(
    raw: &RawParams,
    client_id: &str,
    client: &ClientPolicy<'_>,
) -> Result<AuthRequest, AuthorizeError> {
    // Until the redirect URI is verified, nothing may be sent to it.
    if raw.dup("redirect_uri") {
        return Err(AuthorizeError::Page(
            "The request repeats the redirect_uri parameter.".into(),
        ));
    }
    let Some(redirect_uri) = raw.get("redirect_uri") else {
        // OIDC Core §3.1.2.1: redirect_uri is REQUIRED.
        return Err(AuthorizeError::Page(
            "The request has no redirect_uri.".into(),
        ));
    };
    if !redirect_uri_matches(client.redirect_uris, redirect_uri, client.native) {
        return Err(AuthorizeError::Page(
            "The redirect_uri is not registered for this application.".into(),
        ));
    }
    // An over-long state is refused and not echoed: it would only bloat the error redirect.
    let state = if raw.dup("state") {
        None
    } else {
        raw.get("state")
            .filter(|s| s.len() <= MAX_STATE)
            .map(str::to_string)
    };
    let fail = |code: ErrorCode, msg: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_string(),
        error: OAuthError::new(code, msg),
        state: state.clone(),
    };

    if let Some(name) = raw.duplicated.first() {
        return Err(fail(
            ErrorCode::InvalidRequest,
            &format!("parameter {name} is repeated"),
        ));
    }
    // OIDC Core §6: refuse what is not supported rather than silently ignoring it.
    if raw.get("request").is_some() {
        return Err(fail(
            ErrorCode::RequestNotSupported,
            "the request parameter is not supported",
        ));
    }
    if raw.get("request_uri").is_some() {
        return Err(fail(
            ErrorCode::RequestUriNotSupported,
            "the request_uri parameter is not supported",
        ));
    }
    if raw.get("registration").is_some() {
        return Err(fail(
            ErrorCode::RegistrationNotSupported,
            "the registration parameter is not supported",
        ));
    }
    match raw.get("response_type") {
        None => return Err(fail(ErrorCode::InvalidRequest, "response_type is required")),
        Some("code") => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::UnsupportedResponseType,
                "only response_type=code is supported (no implicit or hybrid flow)",
            ));
        }
    }
    match raw.get("response_mode") {
        None | Some("query") => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "only response_mode=query is supported",
            ));
        }
    }
    let requested: Vec<&str> = raw
        .get("scope")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if !requested.contains(&"openid") {
        return Err(fail(
            ErrorCode::InvalidScope,
            "the openid scope is required",
        ));
    }
    if requested.contains(&ADMIN_SCOPE) && !client.admin_console {
        // Dropping it silently would let a client believe it could become an admin tool.
        return Err(fail(
            ErrorCode::InvalidScope,
            "the admin scope is only for the IAM admin console",
        ));
    }
    let mut scopes: Vec<String> = Vec::new();
    for s in requested {
        if SUPPORTED_SCOPES.contains(&s) && !scopes.iter().any(|x| x == s) {
            scopes.push(s.to_string());
        }
    }

    let method = raw.get("code_challenge_method");
    let code_challenge = match (raw.get("code_challenge"), method) {
        (Some(c), Some("S256")) => {
            if !pkce::is_valid_s256_challenge(c) {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "code_challenge is not a valid S256 challenge",
                ));
            }
            Some(c.to_string())
        }
        (Some(_), None) | (Some(_), Some(_)) | (None, Some(_)) => {
            // Absent means "plain" (RFC 7636 §4.3), which gives no protection: refused.
            return Err(fail(
                ErrorCode::InvalidRequest,
                "code_challenge with code_challenge_method=S256 is required; plain is not supported",
            ));
        }
        (None, None) if client.pkce_required => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "PKCE is required: send code_challenge and code_challenge_method=S256",
            ));
        }
        (None, None) => None,
    };

    let prompts: Vec<&str> = raw
        .get("prompt")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if let Some(p) = prompts.iter().find(|p| !SUPPORTED_PROMPTS.contains(p)) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            &format!("prompt value {p} is not supported"),
        ));
    }
    let prompt_none = prompts.contains(&"none");
    if prompt_none && prompts.len() > 1 {
        // OIDC Core §3.1.2.1: none with any other value is an error.
        return Err(fail(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        ));
    }
    let max_age = match raw.get("max_age") {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(n) if v.bytes().all(|b| b.is_ascii_digit()) => Some(n),
            _ => {
                return Err(fail(
                    ErrorCode::InvalidRequest,
                    "max_age must be a non-negative integer",
                ));
            }
        },
    };
    let nonce = raw.get("nonce").map(str::to_string);
    if nonce.as_ref().is_some_and(|n| n.len() > 512) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "nonce is longer than 512 characters",
        ));
    }
    if raw.get("state").is_some_and(|s| s.len() > MAX_STATE) {
        return Err(fail(
            ErrorCode::InvalidRequest,
            "state is longer than 4096 characters",
        ));
    }
    let essential_acr = match raw.get("claims") {
        Some(c) => essential_acr(c).map_err(|m| fail(ErrorCode::InvalidRequest, &m))?,
        None => None,
    };
    let acr_values: Vec<String> = raw
        .get("acr_values")
        .unwrap_or("")
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let login_hint = raw
        .get("login_hint")
        .filter(|h| h.len() <= 254)
        .map(str::to_string);

    Ok(AuthRequest {
        client_id: client_id.to_string(),
        redirect_uri: redirect_uri.to_string(),
        scopes,
        state,
        nonce,
        code_challenge,
        prompt_none,
        // max_age=0 means the user must authenticate now (OIDC Core §3.1.2.1).
        prompt_login: prompts.contains(&"login") || max_age == Some(0),
        max_age,
        login_hint,
        acr_values,
        essential_acr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CB: &str = "https://rp.example.org/cb";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn base() -> Vec<(String, String)> {
        [
            ("client_id", "c1"),
            ("redirect_uri", CB),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", "xyz"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn with(mut pairs: Vec<(String, String)>, k: &str, v: Option<&str>) -> Vec<(String, String)> {
        pairs.retain(|(n, _)| n != k);
        if let Some(v) = v {
            pairs.push((k.into(), v.into()));
        }
        pairs
    }

    fn check(pairs: Vec<(String, String)>) -> Result<AuthRequest, AuthorizeError> {
        let regs = vec![CB.to_string()];
        let raw = RawParams::from_pairs(pairs);
        let id = client_id(&raw)?.to_string();
        validate(
            &raw,
            &id,
            &ClientPolicy {
                redirect_uris: &regs,
                pkce_required: true,
                native: false,
                admin_console: false,
            },
        )
    }

    fn code_of(r: Result<AuthRequest, AuthorizeError>) -> ErrorCode {
        match r {
            Err(AuthorizeError::Redirect {
                error,
                state,
                redirect_uri,
            }) => {
                assert_eq!(redirect_uri, CB);
                assert_eq!(
                    state.as_deref(),
                    Some("xyz"),
                    "state must be echoed with errors"
                );
                error.code
            }
            other => panic!("expected an error redirect, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request() {
        let r = check(base()).unwrap();
        assert_eq!(r.scopes, vec!["openid", "profile"]);
        assert_eq!(r.state.as_deref(), Some("xyz"));
        assert_eq!(r.code_challenge.as_deref(), Some(CHALLENGE));
        assert!(!r.prompt_none && !r.prompt_login);
    }

    #[test]
    fn rfc6749_4_1_2_1_untrusted_client_or_redirect_uri_is_never_redirected_to() {
        assert!(matches!(
            check(with(base(), "client_id", None)),
            Err(AuthorizeError::Page(_))
        ));
        assert!(matches!(
            check(with(base(), "redirect_uri", None)),
            Err(AuthorizeError::Page(_))
        ));
        assert!(matches!(
            check(with(
                base(),
                "redirect_uri",
                Some("https://evil.example/cb")
            )),
            Err(AuthorizeError::Page(_))
        ));
        let mut dup = base();
        dup.push(("redirect_uri".into(), CB.into()));
        assert!(matches!(check(dup), Err(AuthorizeError::Page(_))));
    }

    #[test]
    fn rfc6749_3_1_repeated_parameters_are_invalid_request() {
        let mut dup = base();
        dup.push(("scope".into(), "openid".into()));
        assert_eq!(code_of(check(dup)), ErrorCode::InvalidRequest);
    }

    #[test]
    fn response_type_rules() {
        assert_eq!(
            code_of(check(with(base(), "response_type", None))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code_of(check(with(base(), "response_type", Some("token")))),
            ErrorCode::UnsupportedResponseType
        );
        assert_eq!(
            code_of(check(with(base(), "response_type", Some("code id_token")))),
            ErrorCode::UnsupportedResponseType
        );
        assert_eq!(
            code_of(check(with(base(), "response_mode", Some("fragment")))),
            ErrorCode::InvalidRequest
        );
        assert!(check(with(base(), "response_mode", Some("query"))).is_ok());
    }

    #[test]
    fn oidc_core_3_1_2_1_openid_scope_required_and_unknown_scopes_ignored() {
        assert_eq!(
            code_of(check(with(base(), "scope", Some("profile")))),
            ErrorCode::InvalidScope
        );
        assert_eq!(
            code_of(check(with(base(), "scope", None))),
            ErrorCode::InvalidScope
        );
        let r = check(with(base(), "scope", Some("openid  email unknown openid"))).unwrap();
        assert_eq!(r.scopes, vec!["openid", "email"]);
    }

    #[test]
    fn rfc6749_3_3_the_admin_scope_is_refused_to_every_client_but_the_admin_console() {
        assert_eq!(
            code_of(check(with(base(), "scope", Some("openid admin")))),
            ErrorCode::InvalidScope
        );
        let regs = vec![CB.to_string()];
        let console = ClientPolicy {
            redirect_uris: &regs,
            pkce_required: true,
            native: true,
            admin_console: true,
        };
        let raw = RawParams::from_pairs(with(base(), "scope", Some("openid admin")));
        let r = validate(&raw, "c", &console).unwrap();
        assert_eq!(r.scopes, vec!["openid", "admin"]);
    }

    #[test]
    fn rfc7636_pkce_s256_required_plain_refused() {
        assert_eq!(
            code_of(check(with(base(), "code_challenge", None))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code_of(check(with(base(), "code_challenge_method", Some("plain")))),
            ErrorCode::InvalidRequest
        );
        // RFC 7636 §4.3: an absent method defaults to plain, which is refused.
        assert_eq!(
            code_of(check(with(base(), "code_challenge_method", None))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code_of(check(with(base(), "code_challenge", Some("short")))),
            ErrorCode::InvalidRequest
        );
        // A confidential client allowed to skip PKCE may omit it, but never send plain.
        let regs = vec![CB.to_string()];
        let relaxed = ClientPolicy {
            redirect_uris: &regs,
            pkce_required: false,
            native: false,
            admin_console: false,
        };
        let raw = RawParams::from_pairs(with(
            with(base(), "code_challenge", None),
            "code_challenge_method",
            None,
        ));
        assert!(
            validate(&raw, "c1", &relaxed)
                .unwrap()
                .code_challenge
                .is_none()
        );
    }

    #[test]
    fn oidc_core_6_request_objects_refused_not_ignored() {
        assert_eq!(
            code_of(check(with(base(), "request", Some("eyJ...")))),
            ErrorCode::RequestNotSupported
        );
        assert_eq!(
            code_of(check(with(base(), "request_uri", Some("https://x/r")))),
            ErrorCode::RequestUriNotSupported
        );
        assert_eq!(
            code_of(check(with(base(), "registration", Some("{}")))),
            ErrorCode::RegistrationNotSupported
        );
    }

    #[test]
    fn prompt_and_max_age() {
        assert!(
            check(with(base(), "prompt", Some("none")))
                .unwrap()
                .prompt_none
        );
        assert!(
            check(with(base(), "prompt", Some("login")))
                .unwrap()
                .prompt_login
        );
        assert_eq!(
            code_of(check(with(base(), "prompt", Some("none login")))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code_of(check(with(base(), "prompt", Some("bogus")))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            check(with(base(), "max_age", Some("300"))).unwrap().max_age,
            Some(300)
        );
        assert!(
            check(with(base(), "max_age", Some("0")))
                .unwrap()
                .prompt_login
        );
        assert_eq!(
            code_of(check(with(base(), "max_age", Some("-1")))),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            code_of(check(with(base(), "max_age", Some("+5")))),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn empty_values_are_omitted_and_unknown_parameters_ignored() {
        let r = check(with(with(base(), "nonce", Some("")), "foo", Some("bar"))).unwrap();
        assert_eq!(r.nonce, None);
    }

    #[test]
    fn an_over_long_state_is_refused_and_not_echoed() {
        let long = "s".repeat(MAX_STATE + 1);
        match check(with(base(), "state", Some(&long))) {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(error.code, ErrorCode::InvalidRequest);
                assert_eq!(state, None);
            }
            other => panic!("expected an error redirect, got {other:?}"),
        }
        assert!(check(with(base(), "state", Some(&"s".repeat(MAX_STATE)))).is_ok());
    }

    #[test]
    fn oidc_core_5_5_1_1_essential_acr_from_the_claims_parameter() {
        use crate::mfa::{ACR_PASSWORD, ACR_PASSWORD_OTP};
        let claims = |v: &str| check(with(base(), "claims", Some(v))).unwrap();
        let r = claims(&format!(
            r#"{{"id_token":{{"acr":{{"essential":true,"values":["{ACR_PASSWORD_OTP}"]}}}}}}"#
        ));
        assert_eq!(r.essential_acr, Some(vec![ACR_PASSWORD_OTP.to_string()]));
        assert_eq!(r.needs_second_factor(false), Ok(true));
        // Not essential: a mere preference.
        let r = claims(&format!(
            r#"{{"id_token":{{"acr":{{"values":["{ACR_PASSWORD_OTP}"]}}}}}}"#
        ));
        assert_eq!(r.essential_acr, None);
        assert_eq!(r.needs_second_factor(false), Ok(false));
        // An essential value nobody can give.
        let r = claims(r#"{"id_token":{"acr":{"essential":true,"value":"urn:example:loa:4"}}}"#);
        assert_eq!(
            r.needs_second_factor(true).unwrap_err().code,
            ErrorCode::UnmetAuthenticationRequirements
        );
        // Password only, but the client insists on a second factor: unmet.
        let r = claims(&format!(
            r#"{{"id_token":{{"acr":{{"essential":true,"value":"{ACR_PASSWORD}"}}}}}}"#
        ));
        assert!(r.needs_second_factor(true).is_err());
        assert_eq!(r.needs_second_factor(false), Ok(false));
        // acr_values is voluntary: honoured, never an error.
        let r = check(with(
            base(),
            "acr_values",
            Some(&format!("urn:x {ACR_PASSWORD_OTP}")),
        ))
        .unwrap();
        assert_eq!(r.needs_second_factor(false), Ok(true));
        assert_eq!(
            code_of(check(with(base(), "claims", Some("not json")))),
            ErrorCode::InvalidRequest
        );
    }
}
