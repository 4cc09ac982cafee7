//! Validation of the authorization request (RFC 6749 §4.1.1, OIDC Core §3.1.2.1, RFC 7636 §4.3),
//! as pure functions: no I/O, so every rule is unit-tested against the spec text.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::errors::{ErrorCode, OAuthError};
use super::pkce;
use super::redirect_uri::redirect_uri_matches;

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

/// The longest `claims` parameter accepted (its JSON is kept with the grant).
const MAX_CLAIMS_PARAM: usize = 4096;
/// The most claims one member (`id_token`, `userinfo`) of the `claims` parameter may name.
const MAX_CLAIMS_PER_MEMBER: usize = 32;
/// The longest `ui_locales` or `claims_locales` value accepted.
const MAX_LOCALES: usize = 256;

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

/// One claim of the `claims` parameter (OIDC Core §5.5.1): `null` (a plain request) or an
/// object with `essential`, `value` or `values`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// The client says the claim is essential to it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub essential: bool,
    /// A particular value asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// A set of acceptable values, in order of preference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<serde_json::Value>>,
}

impl ClaimRequest {
    /// `value` and `values` as strings, in that order.
    pub fn string_values(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(s) = self.value.as_ref().and_then(serde_json::Value::as_str) {
            out.push(s.to_string());
        }
        if let Some(list) = &self.values {
            out.extend(list.iter().filter_map(|x| x.as_str().map(str::to_string)));
        }
        out
    }
}

/// The `claims` request parameter (OIDC Core §5.5): individual claims asked for in the ID token
/// and at userinfo. Members other than `id_token` and `userinfo` are ignored, as §5.5 says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims for the ID token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub id_token: BTreeMap<String, ClaimRequest>,
    /// Claims for the userinfo response.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub userinfo: BTreeMap<String, ClaimRequest>,
}

impl ClaimsRequest {
    /// Parses the parameter. The error is the `error_description` of an `invalid_request`.
    pub fn parse(raw: &str) -> Result<ClaimsRequest, String> {
        if raw.len() > MAX_CLAIMS_PARAM {
            return Err("the claims parameter is too long".into());
        }
        let v: serde_json::Value = serde_json::from_str(raw)
            .map_err(|_| "the claims parameter is not JSON".to_string())?;
        let serde_json::Value::Object(top) = v else {
            return Err("the claims parameter must be a JSON object".into());
        };
        let member = |name: &str| -> Result<BTreeMap<String, ClaimRequest>, String> {
            let mut out = BTreeMap::new();
            let Some(m) = top.get(name) else {
                return Ok(out);
            };
            let serde_json::Value::Object(m) = m else {
                return Err(format!("claims.{name} must be a JSON object"));
            };
            if m.len() > MAX_CLAIMS_PER_MEMBER {
                return Err(format!("claims.{name} names too many claims"));
            }
            for (claim, req) in m {
                let parsed = match req {
                    serde_json::Value::Null => ClaimRequest::default(),
                    serde_json::Value::Object(o) => {
                        let essential = match o.get("essential") {
                            None | Some(serde_json::Value::Null) => false,
                            Some(serde_json::Value::Bool(b)) => *b,
                            Some(_) => {
                                return Err(format!(
                                    "claims.{name}.{claim}.essential must be a boolean"
                                ));
                            }
                        };
                        let values = match o.get("values") {
                            None | Some(serde_json::Value::Null) => None,
                            Some(serde_json::Value::Array(a)) => Some(a.clone()),
                            Some(_) => {
                                return Err(format!(
                                    "claims.{name}.{claim}.values must be an array"
                                ));
                            }
                        };
                        ClaimRequest {
                            essential,
                            value: o.get("value").filter(|x| !x.is_null()).cloned(),
                            values,
                        }
                    }
                    _ => {
                        return Err(format!(
                            "claims.{name}.{claim} must be null or a JSON object"
                        ));
                    }
                };
                out.insert(claim.clone(), parsed);
            }
            Ok(out)
        };
        Ok(ClaimsRequest {
            id_token: member("id_token")?,
            userinfo: member("userinfo")?,
        })
    }

    /// The essential `acr` request for the ID token (OIDC Core §5.5.1.1): `None` when `acr` is
    /// not essential; an empty list when any `acr` will do.
    pub fn essential_acr(&self) -> Option<Vec<String>> {
        self.id_token
            .get("acr")
            .filter(|r| r.essential)
            .map(ClaimRequest::string_values)
    }

    /// The `sub` the ID token must have (§5.5.1: only that person may get a positive answer).
    pub fn required_subject(&self) -> Option<String> {
        self.id_token
            .get("sub")
            .and_then(|r| r.value.as_ref())
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
    }

    /// Every claim named, in either member, without duplicates.
    pub fn names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self.id_token.keys().map(String::as_str).collect();
        for k in self.userinfo.keys() {
            if !out.contains(&k.as_str()) {
                out.push(k);
            }
        }
        out
    }
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

/// Is `tag` shaped like a BCP 47 language tag (RFC 5646 §2.1: alphanumeric subtags of 1 to 8
/// characters, the first alphabetic)? Only the shape is checked: pages are in English whatever
/// is asked, which §3.1.2.1 allows ("an error SHOULD NOT result").
fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let first_ok = parts
        .next()
        .is_some_and(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphabetic()));
    first_ok
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A space-separated list of language tags (`ui_locales`, `claims_locales`).
fn locales(raw: Option<&str>, name: &str) -> Result<Vec<String>, String> {
    let Some(raw) = raw else {
        return Ok(Vec::new());
    };
    if raw.len() > MAX_LOCALES {
        return Err(format!("{name} is too long"));
    }
    let tags: Vec<String> = raw
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    match tags.iter().find(|t| !is_language_tag(t)) {
        Some(bad) => Err(format!("{name} value {bad:?} is not a BCP 47 language tag")),
        None => Ok(tags),
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

    /// Every parameter with its value (a repeated one with its first value), in no particular
    /// order: what a pushed request keeps once [`validate`] accepted it.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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
                ..
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
    fn form_post_response_mode_2_errors_after_the_redirect_uri_travel_by_form_post() {
        let r = check(with(base(), "response_mode", Some("form_post"))).unwrap();
        assert_eq!(r.response_mode, ResponseMode::FormPost);
        let bad = with(
            with(base(), "response_mode", Some("form_post")),
            "response_type",
            Some("token"),
        );
        match check(bad) {
            Err(AuthorizeError::Redirect { response_mode, .. }) => {
                assert_eq!(response_mode, ResponseMode::FormPost)
            }
            other => panic!("expected an error redirect, got {other:?}"),
        }
        // An unsupported mode is itself reported by query.
        match check(with(base(), "response_mode", Some("fragment"))) {
            Err(AuthorizeError::Redirect { response_mode, .. }) => {
                assert_eq!(response_mode, ResponseMode::Query)
            }
            other => panic!("expected an error redirect, got {other:?}"),
        }
    }

    #[test]
    fn oidc_core_3_1_2_1_display_locales_and_select_account() {
        for d in DISPLAY_VALUES {
            assert_eq!(
                check(with(base(), "display", Some(d)))
                    .unwrap()
                    .display
                    .as_deref(),
                Some(d)
            );
        }
        assert_eq!(
            code_of(check(with(base(), "display", Some("fullscreen")))),
            ErrorCode::InvalidRequest
        );
        let r = check(with(
            with(base(), "ui_locales", Some("fr-CA fr en")),
            "claims_locales",
            Some("de"),
        ))
        .unwrap();
        assert_eq!(r.ui_locales, ["fr-CA", "fr", "en"]);
        assert_eq!(r.claims_locales, ["de"]);
        for bad in ["fr_CA", "en-", "123", "toolongtag1", "<x>"] {
            assert_eq!(
                code_of(check(with(base(), "ui_locales", Some(bad)))),
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
        let r = check(with(base(), "prompt", Some("select_account consent"))).unwrap();
        assert!(r.prompt_select_account && r.prompt_consent && !r.prompt_login);
        assert_eq!(
            code_of(check(with(base(), "prompt", Some("none select_account")))),
            ErrorCode::InvalidRequest
        );
    }

    #[test]
    fn oidc_core_5_5_the_claims_parameter_is_parsed_whole() {
        let r = check(with(
            base(),
            "claims",
            Some(
                r#"{"id_token":{"email":null,"sub":{"value":"s-1"},"auth_time":{"essential":true}},
                   "userinfo":{"name":{"essential":true},"roles":{"values":["a","b"]}},"other":1}"#,
            ),
        ))
        .unwrap();
        let c = r.claims.clone().unwrap();
        assert_eq!(c.id_token.len(), 3);
        assert!(c.id_token["auth_time"].essential);
        assert_eq!(c.userinfo["roles"].string_values(), ["a", "b"]);
        assert_eq!(r.required_subject.as_deref(), Some("s-1"));
        assert_eq!(r.essential_acr, None);
        let mut names = c.names();
        names.sort_unstable();
        assert_eq!(names, ["auth_time", "email", "name", "roles", "sub"]);
        // The kept request renders the same parameter again.
        let again = r
            .continuation_params()
            .into_iter()
            .find(|(k, _)| *k == "claims")
            .unwrap()
            .1;
        assert_eq!(ClaimsRequest::parse(&again).unwrap(), c);
        for bad in [
            r#"[]"#,
            r#"{"id_token":[]}"#,
            r#"{"userinfo":{"email":true}}"#,
            r#"{"userinfo":{"email":{"essential":"yes"}}}"#,
            r#"{"userinfo":{"email":{"values":"a"}}}"#,
        ] {
            assert_eq!(
                code_of(check(with(base(), "claims", Some(bad)))),
                ErrorCode::InvalidRequest,
                "{bad}"
            );
        }
        let long = format!(
            r#"{{"userinfo":{{"x":"{}"}}}}"#,
            "a".repeat(MAX_CLAIMS_PARAM)
        );
        assert_eq!(
            code_of(check(with(base(), "claims", Some(&long)))),
            ErrorCode::InvalidRequest
        );
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
        use crate::protocol::acr::{ACR_PASSWORD, ACR_PASSWORD_OTP};
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
