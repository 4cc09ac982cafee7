//! Validation of the authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636 §4.3),
//! as pure functions: no I/O, so every rule is unit-tested against the spec text.

use serde::{Deserialize, Serialize};

use super::errors::{ErrorCode, OAuthError};
use super::pkce;
use super::redirect_uri::redirect_uri_matches;

mod claims;
mod params;

pub use claims::{ClaimRequest, ClaimsRequest};
pub use params::RawParams;
use params::locales;

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
pub const SUPPORTED_PROMPTS: [&str; 4] = ["none", "login", "consent", "select_account"];

/// The `display` values of OIDC Core §3.1.2.1. Every one gets the same responsive page.
pub const DISPLAY_VALUES: [&str; 4] = ["page", "popup", "touch", "wap"];

/// The `response_mode` values this provider answers with (OAuth 2.0 Multiple Response Type
/// Encoding Practices §2.1, OAuth 2.0 Form Post Response Mode §2). `fragment` is refused: a code
/// in a fragment is read by scripts and never reaches a confidential client's server.
pub const RESPONSE_MODES: [&str; 2] = ["query", "form_post"];

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

/// How the authorization response travels to the redirect URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    /// Parameters in the redirect URI's query (RFC 6749 §4.1.2), the default for `code`.
    #[default]
    Query,
    /// An HTML form that the browser posts to the redirect URI (OAuth 2.0 Form Post Response
    /// Mode): the code stays out of URLs, histories and `Referer`.
    FormPost,
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
    /// How the answer travels to the redirect URI.
    #[serde(default)]
    pub response_mode: ResponseMode,
    /// `prompt=consent`: ask for consent even when it was given before.
    #[serde(default)]
    pub prompt_consent: bool,
    /// `prompt=select_account`: show the signed-in account with a way to switch.
    #[serde(default)]
    pub prompt_select_account: bool,
    /// `display` (one of [`DISPLAY_VALUES`]).
    #[serde(default)]
    pub display: Option<String>,
    /// `ui_locales`: BCP 47 tags in order of preference.
    #[serde(default)]
    pub ui_locales: Vec<String>,
    /// `claims_locales`: BCP 47 tags in order of preference.
    #[serde(default)]
    pub claims_locales: Vec<String>,
    /// The `claims` parameter, parsed.
    #[serde(default)]
    pub claims: Option<ClaimsRequest>,
    /// `id_token_hint` as sent: verified by the endpoint (signature, issuer), never stored.
    #[serde(skip)]
    pub id_token_hint: Option<String>,
    /// The `sub` the answer must be for: the verified `id_token_hint`'s, or the `claims`
    /// parameter's `sub` value (OIDC Core §3.1.2.1, §5.5.1).
    #[serde(default)]
    pub required_subject: Option<String>,
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
        match (&self.claims, &self.essential_acr) {
            (Some(c), _) => {
                if let Ok(json) = serde_json::to_string(c) {
                    p.push(("claims", json));
                }
            }
            // A journey saved before the whole parameter was kept.
            (None, Some(values)) => {
                let claims = serde_json::json!({ "id_token": { "acr": { "essential": true, "values": values } } });
                p.push(("claims", claims.to_string()));
            }
            (None, None) => {}
        }
        if self.response_mode == ResponseMode::FormPost {
            p.push(("response_mode", "form_post".to_string()));
        }
        if let Some(d) = &self.display {
            p.push(("display", d.clone()));
        }
        if !self.ui_locales.is_empty() {
            p.push(("ui_locales", self.ui_locales.join(" ")));
        }
        if !self.claims_locales.is_empty() {
            p.push(("claims_locales", self.claims_locales.join(" ")));
        }
        if let Some(h) = &self.login_hint {
            p.push(("login_hint", h.clone()));
        }
        p
    }

    /// The scopes and individually requested claims a consent must cover (OIDC Core §3.1.2.4,
    /// §5.5): `openid` needs none (it only says this is OpenID Connect).
    pub fn consent_scopes(&self) -> Vec<&str> {
        self.scopes
            .iter()
            .map(String::as_str)
            .filter(|s| *s != "openid")
            .collect()
    }

    /// Does this sign-in need the second factor? `client_requires` is the client's policy.
    ///
    /// # Errors
    /// `unmet_authentication_requirements` when an essential `acr` asks for values this provider
    /// cannot give the client.
    pub fn needs_second_factor(&self, client_requires: bool) -> Result<bool, OAuthError> {
        use crate::protocol::acr::{ACR_PASSWORD, ACR_PASSWORD_OTP};
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
        /// How to send it: the request's own response mode once that is known to be valid.
        response_mode: ResponseMode,
    },
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

/// Where errors about this request may go: its redirect URI once that is the client's, with its
/// `state` and response mode. `Err` is the page to show instead (RFC 6749 §4.1.2.1).
struct Destination<'r> {
    redirect_uri: &'r str,
    state: Option<String>,
    response_mode: ResponseMode,
}

fn destination<'r>(
    raw: &'r RawParams,
    client: &ClientPolicy<'_>,
) -> Result<Destination<'r>, AuthorizeError> {
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
    // Errors travel by the requested response mode once it is known to be one we support
    // (OAuth 2.0 Form Post Response Mode §2); before that, and for a bad one, by query.
    let response_mode = match raw.get("response_mode") {
        Some("form_post") if !raw.dup("response_mode") => ResponseMode::FormPost,
        _ => ResponseMode::Query,
    };
    Ok(Destination {
        redirect_uri,
        state,
        response_mode,
    })
}

/// An error found before the request's own rules apply (a request object that does not verify,
/// a client that must use PAR), delivered as [`validate`] delivers its errors: to the request's
/// redirect URI when it is the client's, otherwise as a page naming the error.
pub fn refuse(raw: &RawParams, client: &ClientPolicy<'_>, error: OAuthError) -> AuthorizeError {
    match destination(raw, client) {
        Ok(d) => AuthorizeError::Redirect {
            redirect_uri: d.redirect_uri.to_string(),
            error,
            state: d.state,
            response_mode: d.response_mode,
        },
        Err(AuthorizeError::Page(_)) | Err(AuthorizeError::Redirect { .. }) => {
            AuthorizeError::Page(format!("{} ({}).", error.description, error.code))
        }
    }
}

/// Step two: every other rule, once the client is known.
pub fn validate(
    raw: &RawParams,
    client_id: &str,
    client: &ClientPolicy<'_>,
) -> Result<AuthRequest, AuthorizeError> {
    let Destination {
        redirect_uri,
        state,
        response_mode,
    } = destination(raw, client)?;
    let fail = |code: ErrorCode, msg: &str| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_string(),
        error: OAuthError::new(code, msg),
        state: state.clone(),
        response_mode,
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
        None | Some("query") | Some("form_post") => {}
        Some(_) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "response_mode must be query or form_post (fragment is not offered for the code flow)",
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
    let claims = match raw.get("claims") {
        Some(c) => Some(ClaimsRequest::parse(c).map_err(|m| fail(ErrorCode::InvalidRequest, &m))?),
        None => None,
    };
    let essential_acr = claims.as_ref().and_then(ClaimsRequest::essential_acr);
    let display = match raw.get("display") {
        None => None,
        Some(d) if DISPLAY_VALUES.contains(&d) => Some(d.to_string()),
        Some(_) => {
            return Err(fail(
                ErrorCode::InvalidRequest,
                "display must be one of page, popup, touch, wap",
            ));
        }
    };
    let ui_locales = locales(raw.get("ui_locales"), "ui_locales")
        .map_err(|m| fail(ErrorCode::InvalidRequest, &m))?;
    let claims_locales = locales(raw.get("claims_locales"), "claims_locales")
        .map_err(|m| fail(ErrorCode::InvalidRequest, &m))?;
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
        required_subject: claims.as_ref().and_then(ClaimsRequest::required_subject),
        essential_acr,
        response_mode,
        prompt_consent: prompts.contains(&"consent"),
        prompt_select_account: prompts.contains(&"select_account"),
        display,
        ui_locales,
        claims_locales,
        claims,
        id_token_hint: raw.get("id_token_hint").map(str::to_string),
    })
}

#[cfg(test)]
mod tests;
