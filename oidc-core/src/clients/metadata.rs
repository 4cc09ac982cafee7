//! Client metadata (RFC 7591 §2, OpenID Connect Dynamic Client Registration 1.0 §2): the types,
//! the rules per `application_type`, and the JSON shapes of the registration endpoint.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use url::Url;

use super::{GRANT_TYPES, NewClient, RefreshPolicy, is_loopback_ip};
use crate::config::SigningAlg;
use crate::store::models::ClientRow;

/// OpenID Connect Dynamic Client Registration §2 `application_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationType {
    /// A web application (the default): https redirect URIs.
    #[default]
    Web,
    /// A native application (RFC 8252): loopback, private-use scheme or claimed https redirect
    /// URIs.
    Native,
}

impl ApplicationType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApplicationType::Web => "web",
            ApplicationType::Native => "native",
        }
    }
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "web" => Some(ApplicationType::Web),
            "native" => Some(ApplicationType::Native),
            _ => None,
        }
    }
}

/// RFC 7591 §2 `token_endpoint_auth_method`: how the client authenticates at the token,
/// revocation and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client secret (RFC 6749 §2.3.1); the RFC 7591 default.
    ClientSecretBasic,
    /// The client secret in the form body.
    ClientSecretPost,
    /// A public client: no authentication, PKCE only.
    None,
    /// A JWT signed with the client's private key (RFC 7523, OIDC Core §9); keys from `jwks` or
    /// `jwks_uri`.
    PrivateKeyJwt,
    /// A JWT MACed with the client secret (OIDC Core §9); the secret rests sealed, not digested.
    ClientSecretJwt,
}

impl AuthMethod {
    /// Every method a client may register.
    pub const ALL: [AuthMethod; 5] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::ClientSecretJwt,
    ];

    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::ClientSecretJwt => "client_secret_jwt",
        }
    }

    /// The method for a registered name.
    pub fn parse(s: &str) -> Option<Self> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the provider issues this client a `client_secret`.
    pub fn uses_secret(self) -> bool {
        matches!(
            self,
            AuthMethod::ClientSecretBasic
                | AuthMethod::ClientSecretPost
                | AuthMethod::ClientSecretJwt
        )
    }
}

/// Registration metadata beyond what every client has: the RFC 7591 and OpenID Connect
/// registration fields the provider stores and returns.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ClientMetadata {
    /// `web` (default) or `native`: decides which redirect URIs are allowed.
    pub application_type: ApplicationType,
    /// How the client authenticates; `None` means `client_secret_basic`, or `none` for a public
    /// client.
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// The client's JWK Set by value (JSON text), for `private_key_jwt`.
    pub jwks: Option<String>,
    /// Where the client publishes its JWK Set, for `private_key_jwt`.
    pub jwks_uri: Option<String>,
    /// OpenID Connect Back-Channel Logout 1.0 §2.2.
    pub backchannel_logout_uri: Option<String>,
    /// Whether the logout token must carry `sid`.
    pub backchannel_logout_session_required: bool,
    /// RFC 9126 §6: this client's authorization requests must come through PAR.
    pub require_pushed_authorization_requests: bool,
    /// A logo people see (RFC 7591 §2).
    pub logo_uri: Option<String>,
    /// The client's home page.
    pub client_uri: Option<String>,
    /// Its privacy policy.
    pub policy_uri: Option<String>,
    /// Its terms of service.
    pub tos_uri: Option<String>,
    /// People responsible for the client (email addresses).
    pub contacts: Vec<String>,
}

/// A refused metadata value, with the RFC 7591 §3.2.2 error code it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetadataError {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    pub code: &'static str,
    pub description: String,
}

impl MetadataError {
    pub(crate) fn redirect(description: impl Into<String>) -> Self {
        MetadataError {
            code: "invalid_redirect_uri",
            description: description.into(),
        }
    }
    pub(crate) fn metadata(description: impl Into<String>) -> Self {
        MetadataError {
            code: "invalid_client_metadata",
            description: description.into(),
        }
    }
}

impl From<MetadataError> for crate::error::Error {
    fn from(e: MetadataError) -> Self {
        crate::error::Error::InvalidInput(e.description)
    }
}

/// What the rules depend on besides the metadata.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules<'a> {
    /// Plain http loopback URLs for web clients and the client's other URLs: only in development
    /// (a plain-http loopback issuer), or when an administrator registers the client.
    pub allow_http_loopback: bool,
    /// An administrator's public client may use a private-use scheme whatever its
    /// `application_type` (the rule before `application_type` existed).
    pub public_is_native: bool,
    /// The algorithms the provider holds keys for.
    pub key_algorithms: &'a [SigningAlg],
}

fn is_loopback_host(url: &Url) -> bool {
    is_loopback_ip(url) || url.host_str() == Some("localhost")
}

/// Checks one redirect URI (RFC 6749 §3.1.2, RFC 8252 §7, OIDC Registration §2, RFC 9700 §2.1):
/// absolute, no fragment, no wildcard, no credentials; web clients https (http only on loopback
/// where allowed); native clients loopback http (any port at authorization), a private-use
/// scheme in reverse-domain form, or claimed https.
pub(crate) fn check_redirect_uri(
    uri: &str,
    native: bool,
    allow_http_loopback: bool,
) -> Result<(), MetadataError> {
    let url = Url::parse(uri)
        .map_err(|e| MetadataError::redirect(format!("{uri:?} is not an absolute URI: {e}")))?;
    if url.fragment().is_some() || uri.contains('#') {
        return Err(MetadataError::redirect(format!(
            "{uri:?} must not contain a fragment (RFC 6749 §3.1.2)"
        )));
    }
    if uri.contains('*') {
        return Err(MetadataError::redirect(format!(
            "{uri:?}: wildcards are not allowed; register every redirect URI exactly"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(MetadataError::redirect(format!(
            "{uri:?} must not carry credentials"
        )));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if is_loopback_host(&url) && (native || allow_http_loopback) => Ok(()),
        "http" if is_loopback_host(&url) => Err(MetadataError::redirect(format!(
            "{uri:?}: a web client's redirect URIs use https (plain http on loopback only in development)"
        ))),
        "http" => Err(MetadataError::redirect(format!(
            "{uri:?}: plain http is allowed only for loopback redirect URIs"
        ))),
        // RFC 8252 §7.1: a private-use scheme is a reverse domain name the app controls.
        s if native && s.contains('.') => Ok(()),
        _ if native => Err(MetadataError::redirect(format!(
            "{uri:?}: a private-use scheme must be a reverse domain name, such as com.example.app (RFC 8252 §7.1)"
        ))),
        s => Err(MetadataError::redirect(format!(
            "{uri:?}: scheme {s:?} is not allowed for a web client (use https)"
        ))),
    }
}

/// Checks a URL the client registers for people (`logo_uri`, `client_uri`, …) or for the
/// provider to call (`jwks_uri`, `backchannel_logout_uri`): https, or http on loopback where
/// allowed; no fragment, no credentials.
fn check_url(name: &str, value: &str, allow_http_loopback: bool) -> Result<(), MetadataError> {
    let bad = |why: &str| MetadataError::metadata(format!("{name} {value:?} {why}"));
    if value.len() > 2000 {
        return Err(bad("is too long"));
    }
    let url = Url::parse(value).map_err(|_| bad("is not an absolute URL"))?;
    if url.fragment().is_some() || value.contains('#') {
        return Err(bad("must not contain a fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if allow_http_loopback && is_loopback_host(&url) => Ok(()),
        _ => Err(bad("must be an https URL")),
    }
}

/// Checks everything about `new` that is metadata (the redirect URIs, the URLs, the
/// authentication method and its keys), per `rules`. The remaining rules (name, grant types,
/// scopes) are in [`super::register`]'s common checks.
pub(crate) fn check(new: &NewClient, rules: &Rules<'_>) -> Result<(), MetadataError> {
    let m = &new.metadata;
    let native =
        m.application_type == ApplicationType::Native || (rules.public_is_native && new.public);
    for uri in &new.redirect_uris {
        check_redirect_uri(uri, native, rules.allow_http_loopback)?;
    }
    for uri in &new.post_logout_redirect_uris {
        // OIDC RP-Initiated Logout §3.1: the same rules as redirect URIs.
        check_redirect_uri(uri, native, rules.allow_http_loopback).map_err(|e| {
            MetadataError::metadata(format!("post_logout_redirect_uris: {}", e.description))
        })?;
    }
    for (name, value) in [
        ("logo_uri", &m.logo_uri),
        ("client_uri", &m.client_uri),
        ("policy_uri", &m.policy_uri),
        ("tos_uri", &m.tos_uri),
        ("jwks_uri", &m.jwks_uri),
        ("backchannel_logout_uri", &m.backchannel_logout_uri),
    ] {
        if let Some(v) = value {
            check_url(name, v, rules.allow_http_loopback)?;
        }
    }
    if m.backchannel_logout_session_required && m.backchannel_logout_uri.is_none() {
        return Err(MetadataError::metadata(
            "backchannel_logout_session_required needs a backchannel_logout_uri",
        ));
    }
    if m.contacts.len() > 20 {
        return Err(MetadataError::metadata("at most 20 contacts"));
    }
    for c in &m.contacts {
        if c.is_empty() || c.len() > 254 || c.chars().any(char::is_control) {
            return Err(MetadataError::metadata(format!(
                "contact {c:?} is not an email address"
            )));
        }
    }
    if m.jwks.is_some() && m.jwks_uri.is_some() {
        // RFC 7591 §2: "MUST NOT both be present".
        return Err(MetadataError::metadata(
            "jwks and jwks_uri must not both be present",
        ));
    }
    if let Some(jwks) = &m.jwks {
        check_jwks(jwks)?;
    }
    let method = effective_method(new);
    match method {
        AuthMethod::None if !new.public => {
            return Err(MetadataError::metadata(
                "token_endpoint_auth_method none is for public clients",
            ));
        }
        m2 if m2 != AuthMethod::None && new.public => {
            return Err(MetadataError::metadata(format!(
                "a public client authenticates with none, not {}",
                m2.as_str()
            )));
        }
        AuthMethod::PrivateKeyJwt if m.jwks.is_none() && m.jwks_uri.is_none() => {
            return Err(MetadataError::metadata(
                "private_key_jwt needs the client's keys: jwks or jwks_uri",
            ));
        }
        _ => {}
    }
    if let Some(alg) = new.id_token_signed_response_alg
        && !rules.key_algorithms.contains(&alg)
    {
        return Err(MetadataError::metadata(format!(
            "id_token_signed_response_alg {alg} is not offered by this provider"
        )));
    }
    Ok(())
}

/// A JWK Set by value: an object whose `keys` is an array of objects with a `kty`, and no
/// private key material (RFC 7517 §5; a client must never send its private key).
fn check_jwks(text: &str) -> Result<(), MetadataError> {
    let bad = |why: &str| MetadataError::metadata(format!("jwks {why}"));
    if text.len() > 64 * 1024 {
        return Err(bad("is too large"));
    }
    let v: Value = serde_json::from_str(text).map_err(|_| bad("is not JSON"))?;
    let keys = v
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("must be a JWK Set: an object with a keys array"))?;
    if keys.is_empty() {
        return Err(bad("has no keys"));
    }
    for k in keys {
        let Some(obj) = k.as_object() else {
            return Err(bad("keys must be objects"));
        };
        if !obj.get("kty").is_some_and(Value::is_string) {
            return Err(bad("keys must have a kty"));
        }
        if ["d", "p", "q", "dp", "dq", "qi", "k"]
            .iter()
            .any(|f| obj.contains_key(*f))
        {
            return Err(bad("must hold public keys only"));
        }
    }
    Ok(())
}

/// The authentication method a client registers with.
pub(crate) fn effective_method(new: &NewClient) -> AuthMethod {
    new.metadata
        .token_endpoint_auth_method
        .unwrap_or(if new.public {
            AuthMethod::None
        } else {
            AuthMethod::ClientSecretBasic
        })
}

// ---------------------------------------------------------------------------------------------
// The registration endpoint's JSON.

/// Metadata a client may send to the registration endpoint. Unknown members are ignored
/// (RFC 7591 §2: "the authorization server MUST ignore any client metadata sent by the client
/// that it does not understand"); a known member of the wrong type is `invalid_client_metadata`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RegistrationRequest {
    redirect_uris: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    application_type: Option<String>,
    client_name: Option<String>,
    client_uri: Option<String>,
    logo_uri: Option<String>,
    policy_uri: Option<String>,
    tos_uri: Option<String>,
    contacts: Option<Vec<String>>,
    scope: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    id_token_signed_response_alg: Option<String>,
    post_logout_redirect_uris: Option<Vec<String>>,
    backchannel_logout_uri: Option<String>,
    backchannel_logout_session_required: Option<bool>,
    require_pushed_authorization_requests: Option<bool>,
    subject_type: Option<String>,
    userinfo_signed_response_alg: Option<String>,
    id_token_encrypted_response_alg: Option<String>,
    userinfo_encrypted_response_alg: Option<String>,
    request_object_encryption_alg: Option<String>,
    /// RFC 7592 §2.2: the update names the client it replaces.
    pub client_id: Option<String>,
    /// RFC 7592 §2.2: a secret in an update must be the current one.
    pub client_secret: Option<String>,
}

/// Parses a registration request body. A body that is not a JSON object, or a known member of
/// the wrong type, is `invalid_client_metadata`.
pub(crate) fn parse_request(body: &[u8]) -> Result<RegistrationRequest, MetadataError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| MetadataError::metadata("the body is not JSON"))?;
    if !v.is_object() {
        return Err(MetadataError::metadata("the body must be a JSON object"));
    }
    serde_json::from_value(v).map_err(|e| MetadataError::metadata(e.to_string()))
}

/// Scopes a dynamically registered client may list that are about people: accepted, not stored
/// (any client may ask for them at sign-in; the stored `scope` is for `client_credentials`).
fn is_sign_in_scope(s: &str) -> bool {
    crate::protocol::authorize::SUPPORTED_SCOPES.contains(&s)
        && s != crate::protocol::authorize::ADMIN_SCOPE
}

impl RegistrationRequest {
    /// The client this request describes: third-party (consent required), second factor
    /// required, PKCE required, with RFC 7591's defaults for what it leaves out.
    pub(crate) fn into_new_client(self) -> Result<NewClient, MetadataError> {
        let application_type = match self.application_type.as_deref() {
            None => ApplicationType::Web,
            Some(s) => ApplicationType::parse(s).ok_or_else(|| {
                MetadataError::metadata(format!("application_type {s:?}: use web or native"))
            })?,
        };
        let method = match self.token_endpoint_auth_method.as_deref() {
            None => AuthMethod::ClientSecretBasic,
            Some(s) => AuthMethod::parse(s).ok_or_else(|| {
                MetadataError::metadata(format!(
                    "token_endpoint_auth_method {s:?} is not supported (use {})",
                    AuthMethod::ALL.map(AuthMethod::as_str).join(", ")
                ))
            })?,
        };
        // RFC 7591 §2: grant_types defaults to authorization_code.
        let grant_types = self
            .grant_types
            .unwrap_or_else(|| vec!["authorization_code".into()]);
        for g in &grant_types {
            if !GRANT_TYPES.contains(&g.as_str()) {
                return Err(MetadataError::metadata(format!(
                    "grant type {g:?} is not supported (use {})",
                    GRANT_TYPES.join(", ")
                )));
            }
        }
        let uses_code = grant_types.iter().any(|g| g == "authorization_code");
        // RFC 7591 §2.1: response_types and grant_types must agree; only "code" exists here.
        let response_types = self.response_types.unwrap_or_else(|| {
            if uses_code {
                vec!["code".into()]
            } else {
                Vec::new()
            }
        });
        for r in &response_types {
            if r != "code" {
                return Err(MetadataError::metadata(format!(
                    "response type {r:?} is not supported (use code)"
                )));
            }
        }
        if uses_code == response_types.is_empty() {
            return Err(MetadataError::metadata(
                "grant_types and response_types disagree: the code response type goes with the authorization_code grant (RFC 7591 §2.1)",
            ));
        }
        if grant_types.iter().any(|g| g == "refresh_token") && !uses_code {
            return Err(MetadataError::metadata(
                "the refresh_token grant needs authorization_code",
            ));
        }
        let redirect_uris = self.redirect_uris.unwrap_or_default();
        if uses_code && redirect_uris.is_empty() {
            return Err(MetadataError::redirect(
                "redirect_uris is required for the authorization_code grant",
            ));
        }
        if redirect_uris.len() > 20 {
            return Err(MetadataError::redirect("at most 20 redirect URIs"));
        }
        if let Some(st) = self.subject_type.as_deref()
            && st != "public"
        {
            return Err(MetadataError::metadata(format!(
                "subject_type {st:?} is not supported (public)"
            )));
        }
        // Asking for what the provider does not do would leave the client expecting it.
        for (name, value) in [
            (
                "userinfo_signed_response_alg",
                &self.userinfo_signed_response_alg,
            ),
            (
                "id_token_encrypted_response_alg",
                &self.id_token_encrypted_response_alg,
            ),
            (
                "userinfo_encrypted_response_alg",
                &self.userinfo_encrypted_response_alg,
            ),
            (
                "request_object_encryption_alg",
                &self.request_object_encryption_alg,
            ),
        ] {
            if value.is_some() {
                return Err(MetadataError::metadata(format!("{name} is not supported")));
            }
        }
        let id_alg = match self.id_token_signed_response_alg.as_deref() {
            None => None,
            Some(a) => Some(SigningAlg::parse(a).ok_or_else(|| {
                MetadataError::metadata(format!(
                    "id_token_signed_response_alg {a:?} is not supported"
                ))
            })?),
        };
        let mut scope = Vec::new();
        for s in self.scope.as_deref().unwrap_or("").split(' ') {
            if s.is_empty() || is_sign_in_scope(s) {
                continue;
            }
            if s == crate::protocol::authorize::ADMIN_SCOPE {
                return Err(MetadataError::metadata(
                    "the admin scope belongs to the IAM admin console",
                ));
            }
            scope.push(s.to_string());
        }
        if !scope.is_empty() && !grant_types.iter().any(|g| g == "client_credentials") {
            return Err(MetadataError::metadata(format!(
                "scope {:?} is for a client's own tokens: register the client_credentials grant, or ask for it at sign-in",
                scope.join(" ")
            )));
        }
        let jwks = match self.jwks {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.to_string()),
        };
        let name = self
            .client_name
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "Unnamed application".into());
        let public = method == AuthMethod::None;
        Ok(NewClient {
            name,
            redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris.unwrap_or_default(),
            public,
            // Dynamically registered clients are third-party: people consent to what they get.
            first_party: false,
            pkce_required: true,
            access_token_audience: None,
            mfa_required: true,
            grant_types,
            scope,
            refresh_policy: RefreshPolicy::OfflineAccess,
            id_token_signed_response_alg: id_alg,
            metadata: ClientMetadata {
                application_type,
                token_endpoint_auth_method: Some(method),
                jwks,
                jwks_uri: self.jwks_uri,
                backchannel_logout_uri: self.backchannel_logout_uri,
                backchannel_logout_session_required: self
                    .backchannel_logout_session_required
                    .unwrap_or(false),
                require_pushed_authorization_requests: self
                    .require_pushed_authorization_requests
                    .unwrap_or(false),
                logo_uri: self.logo_uri,
                client_uri: self.client_uri,
                policy_uri: self.policy_uri,
                tos_uri: self.tos_uri,
                contacts: self.contacts.unwrap_or_default(),
            },
        })
    }
}

/// The client's registered metadata as the registration endpoint returns it (RFC 7591 §3.2.1,
/// RFC 7592 §3), without the secrets and management fields, which the caller adds.
pub(crate) fn response_metadata(row: &ClientRow, default_alg: SigningAlg) -> Map<String, Value> {
    let info = super::ClientInfo::from(row);
    let m = &info.metadata;
    let response_types: Vec<&str> = if info.grant_types.iter().any(|g| g == "authorization_code") {
        vec!["code"]
    } else {
        Vec::new()
    };
    let mut out = Map::new();
    out.insert("client_id".into(), json!(row.id));
    out.insert(
        "client_id_issued_at".into(),
        json!(row.created_at.and_utc().timestamp()),
    );
    out.insert("client_name".into(), json!(row.name));
    out.insert("redirect_uris".into(), json!(info.redirect_uris));
    out.insert(
        "post_logout_redirect_uris".into(),
        json!(info.post_logout_redirect_uris),
    );
    out.insert("application_type".into(), json!(m.application_type));
    out.insert(
        "token_endpoint_auth_method".into(),
        json!(info.token_endpoint_auth_method),
    );
    out.insert("grant_types".into(), json!(info.grant_types));
    out.insert("response_types".into(), json!(response_types));
    out.insert(
        "id_token_signed_response_alg".into(),
        json!(
            info.id_token_signed_response_alg
                .unwrap_or(default_alg)
                .as_str()
        ),
    );
    out.insert("subject_type".into(), json!("public"));
    if !info.scope.is_empty() {
        out.insert("scope".into(), json!(info.scope.join(" ")));
    }
    for (k, v) in [
        ("logo_uri", &m.logo_uri),
        ("client_uri", &m.client_uri),
        ("policy_uri", &m.policy_uri),
        ("tos_uri", &m.tos_uri),
        ("jwks_uri", &m.jwks_uri),
        ("backchannel_logout_uri", &m.backchannel_logout_uri),
    ] {
        if let Some(v) = v {
            out.insert(k.into(), json!(v));
        }
    }
    if let Some(jwks) = &m.jwks
        && let Ok(v) = serde_json::from_str::<Value>(jwks)
    {
        out.insert("jwks".into(), v);
    }
    if m.backchannel_logout_uri.is_some() {
        out.insert(
            "backchannel_logout_session_required".into(),
            json!(m.backchannel_logout_session_required),
        );
    }
    out.insert(
        "require_pushed_authorization_requests".into(),
        json!(m.require_pushed_authorization_requests),
    );
    if !m.contacts.is_empty() {
        out.insert("contacts".into(), json!(m.contacts));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8252_7_native_redirect_uris() {
        assert!(check_redirect_uri("http://127.0.0.1/cb", true, false).is_ok());
        assert!(check_redirect_uri("http://[::1]:8080/cb", true, false).is_ok());
        assert!(check_redirect_uri("com.example.app:/cb", true, false).is_ok());
        assert!(check_redirect_uri("https://app.example.org/cb", true, false).is_ok());
        assert!(check_redirect_uri("myapp:/cb", true, false).is_err());
        assert!(check_redirect_uri("javascript:alert(1)", true, false).is_err());
        assert!(check_redirect_uri("http://app.example.org/cb", true, false).is_err());
    }

    #[test]
    fn oidc_registration_2_web_redirect_uris() {
        assert!(check_redirect_uri("https://rp.example.org/cb", false, false).is_ok());
        assert!(check_redirect_uri("http://127.0.0.1/cb", false, true).is_ok());
        let e = check_redirect_uri("http://127.0.0.1/cb", false, false).unwrap_err();
        assert_eq!(e.code, "invalid_redirect_uri");
        for bad in [
            "https://rp.example.org/cb#x",
            "https://*.example.org/cb",
            "https://rp.example.org/*",
            "https://user:pw@rp.example.org/cb",
            "com.example.app:/cb",
            "/relative",
        ] {
            assert_eq!(
                check_redirect_uri(bad, false, true).unwrap_err().code,
                "invalid_redirect_uri",
                "{bad}"
            );
        }
    }

    #[test]
    fn rfc7591_2_unknown_metadata_is_ignored_and_defaults_apply() {
        let r = parse_request(
            br#"{"redirect_uris":["https://rp.example.org/cb"],"x_custom":{"a":1},"client_name#fr":"Appli"}"#,
        )
        .unwrap();
        let c = r.into_new_client().unwrap();
        assert_eq!(c.grant_types, ["authorization_code"]);
        assert_eq!(
            c.metadata.token_endpoint_auth_method,
            Some(AuthMethod::ClientSecretBasic)
        );
        assert!(!c.first_party);
        assert!(!c.public);
    }

    #[test]
    fn rfc7591_2_1_grant_and_response_types_must_agree() {
        let r = parse_request(
            br#"{"redirect_uris":["https://rp.example.org/cb"],"grant_types":["client_credentials"],"response_types":["code"]}"#,
        )
        .unwrap();
        assert_eq!(
            r.into_new_client().unwrap_err().code,
            "invalid_client_metadata"
        );
        let r = parse_request(br#"{"redirect_uris":"https://rp.example.org/cb"}"#);
        assert_eq!(r.unwrap_err().code, "invalid_client_metadata");
    }
}
