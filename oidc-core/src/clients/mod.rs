//! Relying parties: registration, look-up, authentication and redirect URI rules.
//!
//! `metadata` holds the registration metadata and its rules per `application_type`;
//! `registration` the dynamic registration (RFC 7591), its management (RFC 7592), initial access
//! tokens, and the administrators' changes (update, rotate the secret, delete).

mod admin_console;
pub(crate) mod assertion;
pub(crate) mod authenticate;
mod lookup;
pub(crate) mod metadata;
pub(crate) mod registration;

use diesel::prelude::*;
use url::Url;

pub use admin_console::ADMIN_CONSOLE_ID;
pub(crate) use admin_console::ensure_admin_console;
pub(crate) use lookup::{Client, any_client_has_origin, find};
pub use metadata::{ApplicationType, AuthMethod, ClientMetadata};
pub use registration::{ClientUpdate, InitialAccessToken};

pub use crate::protocol::client_rules::GRANT_TYPES;
use crate::protocol::redirect_uri::is_loopback_ip;
// The fuzz targets reach the matching rule here, next to the clients it applies to.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) use crate::protocol::redirect_uri::redirect_uri_matches;

use crate::error::Error;
use crate::secret::{Secret, digest, random_token};
use crate::store::models::ClientRow;
use crate::store::schema::clients;
use crate::store::{Db, naive, new_id};

/// What an administrator supplies to register a client.
///
/// ```
/// use oidc_core::NewClient;
/// let c = NewClient::new("CPAR", ["https://cpar.example.org/callback"]).first_party(true);
/// assert!(!c.public);
/// ```
#[derive(Debug, Clone)]
pub struct NewClient {
    /// The name people see.
    pub name: String,
    /// Exact redirect URIs (https; http only on loopback; a private-use scheme for native apps).
    pub redirect_uris: Vec<String>,
    /// Where the client may ask to land after logout.
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (native or browser app) holds no secret and authenticates with `none`.
    pub public: bool,
    /// First-party clients skip the consent page.
    pub first_party: bool,
    /// Require PKCE. May be turned off only for a confidential client (older certified clients).
    pub pkce_required: bool,
    /// The `aud` of this client's access tokens; `None` means the provider's userinfo resource.
    pub access_token_audience: Option<String>,
    /// Sign-ins to this client need a second factor after the password. Default: true.
    pub mfa_required: bool,
    /// The grants the client may use (RFC 7591 §2 `grant_types`): `authorization_code`,
    /// `refresh_token`, `client_credentials`. Default: the first two.
    pub grant_types: Vec<String>,
    /// Scopes the client may ask for with `client_credentials` (RFC 7591 §2 `scope`). Default none.
    pub scope: Vec<String>,
    /// When the client receives refresh tokens. Default [`RefreshPolicy::OfflineAccess`].
    pub refresh_policy: RefreshPolicy,
    /// The client's `id_token_signed_response_alg` (OpenID Connect Dynamic Client Registration
    /// §2); `None` means the provider's default ([`ProviderConfigBuilder::id_token_alg`], RS256
    /// unless changed). Must be one of the provider's
    /// [key algorithms](crate::ProviderConfigBuilder::key_algorithms).
    ///
    /// [`ProviderConfigBuilder::id_token_alg`]: crate::ProviderConfigBuilder::id_token_alg
    pub id_token_signed_response_alg: Option<crate::config::SigningAlg>,
    /// The rest of the registration metadata (RFC 7591 §2, OpenID Connect Registration §2):
    /// `application_type`, `token_endpoint_auth_method`, keys, logout and display URLs.
    pub metadata: ClientMetadata,
}

/// When a client that may use the `refresh_token` grant receives a refresh token with its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefreshPolicy {
    /// Never.
    Never,
    /// When the request asked for the `offline_access` scope (OIDC Core §11).
    #[default]
    OfflineAccess,
    /// With every code exchange (a first-party app that keeps people signed in).
    Always,
}

impl RefreshPolicy {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshPolicy::Never => "never",
            RefreshPolicy::OfflineAccess => "offline_access",
            RefreshPolicy::Always => "always",
        }
    }
    pub(crate) fn parse(s: &str) -> RefreshPolicy {
        match s {
            "never" => RefreshPolicy::Never,
            "always" => RefreshPolicy::Always,
            _ => RefreshPolicy::OfflineAccess,
        }
    }
}

impl NewClient {
    /// A confidential, first-party client that requires PKCE (see [`NewClient::third_party`]).
    pub fn new<I, S>(name: impl Into<String>, redirect_uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        NewClient {
            name: name.into(),
            redirect_uris: redirect_uris.into_iter().map(Into::into).collect(),
            post_logout_redirect_uris: Vec::new(),
            public: false,
            // Clients an administrator registers are the organisation's own.
            first_party: true,
            pkce_required: true,
            access_token_audience: None,
            mfa_required: true,
            grant_types: vec!["authorization_code".into(), "refresh_token".into()],
            scope: Vec::new(),
            refresh_policy: RefreshPolicy::OfflineAccess,
            id_token_signed_response_alg: None,
            metadata: ClientMetadata::default(),
        }
    }

    /// Sets the registration metadata beyond the basics (see [`ClientMetadata`]).
    pub fn metadata(mut self, metadata: ClientMetadata) -> Self {
        self.metadata = metadata;
        self
    }

    /// Sets the algorithm of this client's ID tokens (`id_token_signed_response_alg`), e.g.
    /// [`SigningAlg::EdDSA`](crate::SigningAlg::EdDSA) for a relying party that asks for it.
    pub fn id_token_signed_response_alg(mut self, alg: crate::config::SigningAlg) -> Self {
        self.id_token_signed_response_alg = Some(alg);
        self
    }

    /// A confidential service client: no people, no redirect URIs; it gets access tokens for
    /// itself with `client_credentials` (RFC 6749 §4.4), and may introspect and revoke.
    ///
    /// ```
    /// use oidc_core::NewClient;
    /// let s = NewClient::service("Nightly import").scope(["registry.read"]);
    /// assert_eq!(s.grant_types, ["client_credentials"]);
    /// ```
    pub fn service(name: impl Into<String>) -> Self {
        let mut c = NewClient::new(name, Vec::<String>::new());
        c.grant_types = vec!["client_credentials".into()];
        c.refresh_policy = RefreshPolicy::Never;
        c
    }

    /// Sets the grant types: `authorization_code`, `refresh_token` and `client_credentials`
    /// (default: the first two; [`NewClient::service`] sets the last alone).
    pub fn grant_types<I, S>(mut self, grants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.grant_types = grants.into_iter().map(Into::into).collect();
        self
    }

    /// Sets the scopes the client may ask for with `client_credentials`.
    pub fn scope<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scope = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets when the client receives refresh tokens.
    pub fn refresh_policy(mut self, policy: RefreshPolicy) -> Self {
        self.refresh_policy = policy;
        self
    }
    /// Whether sign-ins to this client need a second factor (default true).
    pub fn mfa_required(mut self, required: bool) -> Self {
        self.mfa_required = required;
        self
    }
    /// Marks the client public (no secret).
    pub fn public(mut self, public: bool) -> Self {
        self.public = public;
        self
    }
    /// Marks the client first-party (no consent page).
    pub fn first_party(mut self, first_party: bool) -> Self {
        self.first_party = first_party;
        self
    }
    /// Marks the client third-party: people see a consent page listing what it asks for, and
    /// their decision is remembered until they withdraw it at the portal.
    ///
    /// ```
    /// use oidc_core::NewClient;
    /// let c = NewClient::new("Partner app", ["https://partner.example/cb"]).third_party();
    /// assert!(!c.first_party);
    /// ```
    pub fn third_party(mut self) -> Self {
        self.first_party = false;
        self
    }
    /// Sets the post-logout redirect URIs.
    pub fn post_logout_redirect_uris<I, S>(mut self, uris: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.post_logout_redirect_uris = uris.into_iter().map(Into::into).collect();
        self
    }
}

/// A client as the library reports it (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClientInfo {
    /// The `client_id`.
    pub client_id: String,
    /// The name people see.
    pub name: String,
    /// Public clients hold no secret.
    pub public: bool,
    /// First-party clients skip consent.
    pub first_party: bool,
    /// Registered redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Registered post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Whether PKCE is required.
    pub pkce_required: bool,
    /// Whether sign-ins need a second factor.
    pub mfa_required: bool,
    /// The grant types it may use.
    pub grant_types: Vec<String>,
    /// Scopes it may ask for with `client_credentials`.
    pub scope: Vec<String>,
    /// How it authenticates at the token endpoint.
    pub token_endpoint_auth_method: AuthMethod,
    /// Its ID token algorithm, when it chose one.
    pub id_token_signed_response_alg: Option<crate::config::SigningAlg>,
    /// The rest of its registration metadata.
    #[serde(flatten)]
    pub metadata: ClientMetadata,
    /// Registered through the registration endpoint (RFC 7591) rather than by an administrator.
    pub dynamic_registration: bool,
    /// A disabled client can do nothing.
    pub disabled: bool,
    /// When it was registered.
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// The result of a registration: the only time the secret is available.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    /// The client as stored.
    pub client: ClientInfo,
    /// The `client_secret` of a confidential client, shown once; only its digest is stored.
    pub client_secret: Option<Secret>,
    /// The RFC 7592 registration access token of a dynamically registered client, shown once.
    pub registration_access_token: Option<Secret>,
}

impl From<&ClientRow> for ClientInfo {
    fn from(r: &ClientRow) -> Self {
        ClientInfo {
            client_id: r.id.clone(),
            name: r.name.clone(),
            public: r.is_public,
            first_party: r.first_party,
            redirect_uris: split_lines(&r.redirect_uris),
            post_logout_redirect_uris: split_lines(&r.post_logout_redirect_uris),
            pkce_required: r.pkce_required,
            mfa_required: r.mfa_required,
            grant_types: split_words(&r.grant_types),
            scope: split_words(&r.scope),
            token_endpoint_auth_method: auth_method_of(r),
            id_token_signed_response_alg: r
                .id_token_alg
                .as_deref()
                .and_then(crate::config::SigningAlg::parse),
            metadata: ClientMetadata {
                application_type: metadata::ApplicationType::parse(&r.application_type)
                    .unwrap_or_default(),
                token_endpoint_auth_method: Some(auth_method_of(r)),
                jwks: r.jwks.clone(),
                jwks_uri: r.jwks_uri.clone(),
                backchannel_logout_uri: r.backchannel_logout_uri.clone(),
                backchannel_logout_session_required: r.backchannel_logout_session_required,
                require_pushed_authorization_requests: r.require_pushed_authorization_requests,
                logo_uri: r.logo_uri.clone(),
                client_uri: r.client_uri.clone(),
                policy_uri: r.policy_uri.clone(),
                tos_uri: r.tos_uri.clone(),
                contacts: split_lines(&r.contacts),
            },
            dynamic_registration: r.dynamic_registration,
            disabled: r.disabled,
            created_at: crate::store::utc(r.created_at),
        }
    }
}

/// The stored method; a row from before the column existed says it by `is_public`.
fn auth_method_of(r: &ClientRow) -> AuthMethod {
    AuthMethod::parse(&r.token_endpoint_auth_method).unwrap_or(if r.is_public {
        AuthMethod::None
    } else {
        AuthMethod::ClientSecretBasic
    })
}

fn split_words(s: &str) -> Vec<String> {
    s.split(' ')
        .filter(|g| !g.is_empty())
        .map(str::to_string)
        .collect()
}

fn split_lines(s: &str) -> Vec<String> {
    s.lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Checks one redirect URI as an administrator registers it (RFC 6749 §3.1.2, RFC 8252 §7,
/// OAuth 2.0 Security BCP): http on loopback allowed, a private-use scheme for a public client.
#[cfg(test)]
pub(crate) fn validate_redirect_uri(uri: &str, public: bool) -> Result<(), String> {
    metadata::check_redirect_uri(uri, public, true).map_err(|e| e.description)
}

/// The checks every registration passes, whoever registers: the metadata rules of
/// [`metadata::check`], then the name, grant types and scopes.
pub(crate) fn check_new(
    new: &NewClient,
    rules: &metadata::Rules<'_>,
) -> Result<(), metadata::MetadataError> {
    use metadata::MetadataError as M;
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(M::metadata(
            "client name must be 1 to 200 characters, without control characters",
        ));
    }
    for g in &new.grant_types {
        if !GRANT_TYPES.contains(&g.as_str()) {
            return Err(M::metadata(format!(
                "grant type {g:?} is not supported (use {})",
                GRANT_TYPES.join(", ")
            )));
        }
    }
    let uses_code = new.grant_types.iter().any(|g| g == "authorization_code");
    if uses_code && new.redirect_uris.is_empty() {
        return Err(M::redirect("at least one redirect URI is required"));
    }
    if new.public && new.grant_types.iter().any(|g| g == "client_credentials") {
        return Err(M::metadata(
            "a public client cannot use client_credentials (RFC 6749 §4.4)",
        ));
    }
    for sc in &new.scope {
        // RFC 6749 §3.3 scope-token: printable ASCII without space, quote or backslash.
        if sc.is_empty()
            || sc.len() > 100
            || !sc
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
        {
            return Err(M::metadata(format!(
                "scope {sc:?} is not a valid scope token"
            )));
        }
        if crate::protocol::authorize::SUPPORTED_SCOPES.contains(&sc.as_str()) {
            // Those are about a person; a client's own tokens carry no person.
            return Err(M::metadata(format!(
                "scope {sc:?} is for sign-ins, not for a client's own tokens"
            )));
        }
    }
    if let Some(aud) = &new.access_token_audience {
        Url::parse(aud).map_err(|e| {
            M::metadata(format!(
                "access token audience {aud:?} is not an absolute URI: {e}"
            ))
        })?;
    }
    if new.public && !new.pkce_required {
        return Err(M::metadata("a public client must use PKCE"));
    }
    metadata::check(new, rules)
}

/// The secret material of a client with `method`: the secret to show once, its digest (for the
/// methods that send it) and, for `client_secret_jwt`, the secret sealed under the
/// key-encryption key (the provider must compute the HMAC with it).
pub(crate) struct SecretMaterial {
    pub shown: Option<Secret>,
    pub hash: Option<String>,
    pub sealed: Option<Vec<u8>>,
}

/// The additional authenticated data of a sealed client secret: the column and the client, so
/// that a sealed value cannot be moved to another row.
fn sealed_aad(client_id: &str) -> Vec<u8> {
    format!("clients.secret_sealed:{client_id}").into_bytes()
}

pub(crate) fn secret_material(
    method: AuthMethod,
    client_id: &str,
    ring: &crate::secret::KeyRing,
) -> Result<SecretMaterial, Error> {
    if !method.uses_secret() {
        return Ok(SecretMaterial {
            shown: None,
            hash: None,
            sealed: None,
        });
    }
    let secret = Secret::new(random_token()?);
    let (hash, sealed) = if method == AuthMethod::ClientSecretJwt {
        (
            None,
            Some(ring.seal(secret.secret().as_bytes(), &sealed_aad(client_id))?),
        )
    } else {
        (Some(digest(secret.secret())), None)
    };
    Ok(SecretMaterial {
        shown: Some(secret),
        hash,
        sealed,
    })
}

/// The row for a checked [`NewClient`] under `id`, with its secret material.
pub(crate) fn row_for(
    id: String,
    new: NewClient,
    secret: &SecretMaterial,
    created_at: chrono::NaiveDateTime,
    dynamic_registration: bool,
    registration_token_hash: Option<String>,
) -> ClientRow {
    let method = metadata::effective_method(&new);
    let m = new.metadata;
    ClientRow {
        id,
        name: new.name.trim().to_string(),
        secret_hash: secret.hash.clone(),
        is_public: new.public,
        first_party: new.first_party,
        redirect_uris: new.redirect_uris.join("\n"),
        post_logout_redirect_uris: new.post_logout_redirect_uris.join("\n"),
        pkce_required: new.pkce_required,
        access_token_audience: new.access_token_audience,
        id_token_alg: new
            .id_token_signed_response_alg
            .map(|a| a.as_str().to_string()),
        disabled: false,
        created_at,
        mfa_required: new.mfa_required,
        grant_types: new.grant_types.join(" "),
        scope: new.scope.join(" "),
        refresh_policy: new.refresh_policy.as_str().into(),
        application_type: m.application_type.as_str().into(),
        token_endpoint_auth_method: method.as_str().into(),
        secret_sealed: secret.sealed.clone(),
        jwks: m.jwks,
        jwks_uri: m.jwks_uri,
        backchannel_logout_uri: m.backchannel_logout_uri,
        backchannel_logout_session_required: m.backchannel_logout_session_required,
        require_pushed_authorization_requests: m.require_pushed_authorization_requests,
        logo_uri: m.logo_uri,
        client_uri: m.client_uri,
        policy_uri: m.policy_uri,
        tos_uri: m.tos_uri,
        contacts: m.contacts.join("\n"),
        registration_token_hash,
        dynamic_registration,
    }
}

/// Registers a client as an administrator does (rules of [`metadata::Rules`] for
/// administrators: http loopback allowed, a public client counts as native).
pub(crate) async fn register(
    db: &Db,
    ring: &crate::secret::KeyRing,
    key_algorithms: &[crate::config::SigningAlg],
    new: NewClient,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<RegisteredClient, Error> {
    let rules = metadata::Rules {
        allow_http_loopback: true,
        public_is_native: true,
        key_algorithms,
    };
    check_new(&new, &rules)?;
    let id = new_id();
    let secret = secret_material(metadata::effective_method(&new), &id, ring)?;
    let row = row_for(id, new, &secret, naive(now), false, None);
    let client = ClientInfo::from(&row);
    db.write(move |conn| {
        diesel::insert_into(clients::table)
            .values(&row)
            .execute(conn)?;
        Ok(())
    })
    .await?;
    Ok(RegisteredClient {
        client,
        client_secret: secret.shown,
        registration_access_token: None,
    })
}

pub(crate) async fn list(db: &Db) -> Result<Vec<ClientInfo>, Error> {
    db.run(|conn| {
        let rows: Vec<ClientRow> = clients::table
            .order(clients::created_at.asc())
            .select(ClientRow::as_select())
            .load(conn)?;
        Ok(rows.iter().map(ClientInfo::from).collect())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6749_3_1_2_redirect_uri_registration() {
        assert!(validate_redirect_uri("https://rp.example.org/cb", false).is_ok());
        assert!(validate_redirect_uri("http://127.0.0.1/cb", false).is_ok());
        assert!(validate_redirect_uri("http://[::1]:8080/cb", false).is_ok());
        assert!(validate_redirect_uri("http://rp.example.org/cb", false).is_err());
        assert!(validate_redirect_uri("https://rp.example.org/cb#frag", false).is_err());
        assert!(validate_redirect_uri("/relative", false).is_err());
        assert!(validate_redirect_uri("com.example.app:/cb", true).is_ok());
        assert!(validate_redirect_uri("com.example.app:/cb", false).is_err());
        assert!(validate_redirect_uri("javascript:alert(1)", true).is_err());
    }
}
