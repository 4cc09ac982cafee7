//! The token endpoint (RFC 6749 §3.2, §5): the authorization_code (§4.1.3), refresh_token (§6,
//! with rotation) and client_credentials (§4.4) grants.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::AppState;
use crate::accounts;
use crate::clients::RefreshPolicy;
use crate::clients::{self, AuthMethod, Client, assertion};
use crate::config::SigningAlg;
use crate::protocol::errors::{ErrorCode, OAuthError};
use crate::protocol::pkce;
use crate::tokens::{self, Redeemed, Subject, refresh};

/// The claims hook is asked for ID token claims here (crate::claims).
const ID_TOKEN: crate::claims::ClaimsTarget = crate::claims::ClaimsTarget::IdToken;

/// An error answer of the token endpoint (RFC 6749 §5.2).
pub(crate) struct TokenError {
    error: OAuthError,
    /// Failed client authentication answers 401 with a `WWW-Authenticate` challenge.
    client_auth_failed: bool,
    realm: String,
}

impl TokenError {
    pub(super) fn new(code: ErrorCode, description: &str) -> Self {
        TokenError {
            error: OAuthError::new(code, description),
            client_auth_failed: false,
            realm: String::new(),
        }
    }
    pub(super) fn client(s: &AppState, description: &str) -> Self {
        TokenError {
            error: OAuthError::new(ErrorCode::InvalidClient, description),
            client_auth_failed: true,
            realm: s.config.issuer().to_string(),
        }
    }
    pub(super) fn server(e: &crate::error::Error) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "token request: database unavailable");
            return TokenError::new(
                ErrorCode::TemporarilyUnavailable,
                "the service is briefly unavailable; nothing was changed, try again",
            );
        }
        tracing::error!(error = %e, "token request failed");
        TokenError::new(ErrorCode::ServerError, "the request could not be completed")
    }
}

pub(super) fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

impl IntoResponse for TokenError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({
            "error": self.error.code.as_str(),
            "error_description": self.error.description,
        }));
        let status = match self.error.code {
            _ if self.client_auth_failed => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut res = (status, body).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            res = super::pages::retry_later(res);
        }
        if self.client_auth_failed {
            let challenge = format!("Basic realm=\"{}\"", self.realm.replace('"', ""));
            if let Ok(v) = HeaderValue::from_str(&challenge) {
                res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
        }
        no_store(res)
    }
}

pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&s, &headers, &body).await {
        Ok(res) => no_store(Json(res).into_response()),
        Err(e) => e.into_response(),
    }
}

/// The token endpoint's answer to a form posted from inside the provider (the admin pages
/// redeem the admin console's code through exactly the rules a remote client meets).
pub(crate) async fn exchange_internal(
    s: &AppState,
    form: &[(&str, &str)],
) -> Result<tokens::TokenResponse, String> {
    let body = serde_urlencoded::to_string(form).map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    handle(s, &headers, body.as_bytes())
        .await
        .map_err(|e| e.error.to_string())
}

/// Form parameters, each at most once (RFC 6749 §3.2).
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    pub(crate) fn get(&self, name: &str) -> Result<Option<&str>, TokenError> {
        let mut it = self.0.iter().filter(|(k, v)| k == name && !v.is_empty());
        let first = it.next().map(|(_, v)| v.as_str());
        if it.next().is_some() {
            return Err(TokenError::new(
                ErrorCode::InvalidRequest,
                &format!("parameter {name} is repeated"),
            ));
        }
        Ok(first)
    }
    pub(crate) fn require(&self, name: &str) -> Result<&str, TokenError> {
        self.get(name)?.ok_or_else(|| {
            TokenError::new(
                ErrorCode::InvalidRequest,
                &format!("parameter {name} is required"),
            )
        })
    }
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded before base64.
fn form_decode(s: &str) -> Option<String> {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

pub(crate) fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| ())?;
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Err(());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| ())?;
    let decoded = String::from_utf8(decoded).map_err(|_| ())?;
    let (id, secret) = decoded.split_once(':').ok_or(())?;
    Ok(Some((
        form_decode(id).ok_or(())?,
        form_decode(secret).ok_or(())?,
    )))
}

/// How a request authenticated its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Basic,
    Post,
    None,
}

/// Authenticates the client by exactly one method (RFC 6749 §2.3, RFC 7521 §4.2), and only by
/// the `token_endpoint_auth_method` it registered (RFC 7591 §2): a `client_secret_basic` client
/// cannot use `client_secret_post` and vice versa, a `private_key_jwt` or `client_secret_jwt`
/// client must send an assertion. Shared by the token, introspection and revocation endpoints
/// (and any endpoint that authenticates clients the same way).
pub(crate) async fn authenticate(
    s: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, TokenError> {
    let basic = basic_credentials(headers)
        .map_err(|_| TokenError::client(s, "malformed Authorization header"))?;
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    let assertion = params.get("client_assertion")?;
    let assertion_type = params.get("client_assertion_type")?;
    let methods = [basic.is_some(), body_secret.is_some(), assertion.is_some()]
        .iter()
        .filter(|m| **m)
        .count();
    if methods > 1 {
        return Err(TokenError::new(
            ErrorCode::InvalidRequest,
            "use only one client authentication method",
        ));
    }
    if let Some(assertion) = assertion {
        return authenticate_assertion(s, body_id, assertion_type, assertion).await;
    }
    if assertion_type.is_some() {
        return Err(TokenError::new(
            ErrorCode::InvalidRequest,
            "client_assertion_type needs a client_assertion",
        ));
    }
    let (client_id, secret, presented) = match (basic, body_secret) {
        (Some(_), Some(_)) => {
            return Err(TokenError::new(
                ErrorCode::InvalidRequest,
                "use only one client authentication method",
            ));
        }
        (Some((id, secret)), None) => {
            if body_id.is_some_and(|b| b != id) {
                return Err(TokenError::client(
                    s,
                    "client_id does not match the authenticated client",
                ));
            }
            (id, Some(secret), Presented::Basic)
        }
        (None, Some(secret)) => match body_id {
            Some(id) => (id.to_string(), Some(secret.to_string()), Presented::Post),
            None => return Err(TokenError::client(s, "client_id is required")),
        },
        (None, None) => match body_id {
            Some(id) => (id.to_string(), None, Presented::None),
            None => return Err(TokenError::client(s, "client authentication is required")),
        },
    };
    let client = clients::find(&s.db, &client_id)
        .await
        .map_err(|e| TokenError::server(&e))?
        .ok_or_else(|| TokenError::client(s, "client authentication failed"))?;
    let registered = client.token_endpoint_auth_method();
    match (registered, presented, secret) {
        (AuthMethod::None, Presented::None, _) if client.row.is_public => Ok(client),
        (AuthMethod::None, _, _) => Err(TokenError::client(s, "a public client has no secret")),
        (AuthMethod::ClientSecretBasic, Presented::Basic, Some(secret))
        | (AuthMethod::ClientSecretPost, Presented::Post, Some(secret))
            if client.secret_matches(&secret) =>
        {
            Ok(client)
        }
        (AuthMethod::ClientSecretBasic, Presented::Basic, _)
        | (AuthMethod::ClientSecretPost, Presented::Post, _)
        | (_, Presented::None, _) => Err(TokenError::client(s, "client authentication failed")),
        (m, _, _) => Err(TokenError::client(
            s,
            &format!(
                "this client is registered to authenticate with {}",
                m.as_str()
            ),
        )),
    }
}

/// RFC 7523 §2.2: `client_assertion_type` and `client_assertion` (`private_key_jwt`,
/// `client_secret_jwt`).
async fn authenticate_assertion(
    s: &AppState,
    body_id: Option<&str>,
    assertion_type: Option<&str>,
    assertion: &str,
) -> Result<Client, TokenError> {
    match assertion_type {
        Some(assertion::ASSERTION_TYPE) => {}
        Some(_) => {
            return Err(TokenError::new(
                ErrorCode::InvalidRequest,
                &format!(
                    "client_assertion_type must be {}",
                    assertion::ASSERTION_TYPE
                ),
            ));
        }
        None => {
            return Err(TokenError::new(
                ErrorCode::InvalidRequest,
                "client_assertion_type is required with client_assertion",
            ));
        }
    }
    let claimed = assertion::claimed_client(assertion)
        .ok_or_else(|| TokenError::client(s, "the client assertion is malformed"))?;
    // RFC 7521 §4.2: a client_id sent beside the assertion must name the same client.
    if body_id.is_some_and(|b| b != claimed) {
        return Err(TokenError::client(
            s,
            "client_id does not match the client assertion",
        ));
    }
    let client = clients::find(&s.db, &claimed)
        .await
        .map_err(|e| TokenError::server(&e))?
        .ok_or_else(|| TokenError::client(s, "client authentication failed"))?;
    let method = client.token_endpoint_auth_method();
    if !matches!(
        method,
        AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt
    ) {
        return Err(TokenError::client(
            s,
            &format!(
                "this client is registered to authenticate with {}",
                method.as_str()
            ),
        ));
    }
    let legacy = s.config.endpoint(super::paths::TOKEN);
    let ring = s.config.key_ring();
    let cx = assertion::Context {
        db: &s.db,
        ring: &ring,
        keys: &s.client_keys,
        issuer: s.config.issuer(),
        legacy_audience: s
            .config
            .assertion_token_endpoint_audience
            .then_some(legacy.as_str()),
        now: s.now(),
    };
    match assertion::verify(&cx, &client, method, assertion).await {
        Ok(()) => Ok(client),
        Err(assertion::Rejected::Invalid(why)) => {
            tracing::info!(client_id = %client.id(), reason = %why, "client assertion refused");
            Err(TokenError::client(s, &why))
        }
        Err(assertion::Rejected::Failed(e)) => Err(TokenError::server(&e)),
    }
}

async fn handle(
    s: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<tokens::TokenResponse, TokenError> {
    let params = Params(super::form_pairs(headers, body).ok_or_else(|| {
        TokenError::new(
            ErrorCode::InvalidRequest,
            "the body must be application/x-www-form-urlencoded",
        )
    })?);
    let grant_type = params.require("grant_type")?;
    let client = authenticate(s, headers, &params).await?;
    if !clients::GRANT_TYPES.contains(&grant_type) {
        return Err(TokenError::new(
            ErrorCode::UnsupportedGrantType,
            "supported: authorization_code, refresh_token, client_credentials",
        ));
    }
    // RFC 6749 §5.2: a grant type this client is not registered for.
    if !client.allows_grant(grant_type) {
        return Err(TokenError::new(
            ErrorCode::UnauthorizedClient,
            &format!("this client is not registered for the {grant_type} grant"),
        ));
    }
    let res = match grant_type {
        "refresh_token" => refresh(s, &client, &params).await,
        "client_credentials" => client_credentials(s, &client, &params).await,
        _ => authorization_code(s, &client, &params).await,
    }?;
    count_issued(s, grant_type, &res);
    Ok(res)
}

fn count_issued(s: &AppState, grant_type: &str, res: &tokens::TokenResponse) {
    use crate::metrics::TokenKind;
    s.metrics.token_issued(grant_type, TokenKind::AccessToken);
    if res.id_token.is_some() {
        s.metrics.token_issued(grant_type, TokenKind::IdToken);
    }
    if res.refresh_token.is_some() {
        s.metrics.token_issued(grant_type, TokenKind::RefreshToken);
    }
}

/// The access token audience of a grant: admin tokens are for the admin API only, whatever else
/// the grant holds; other tokens for the client's resource, or the provider's userinfo.
fn audience_of(s: &AppState, client: &Client, scope: &str) -> String {
    if scope
        .split(' ')
        .any(|sc| sc == crate::protocol::authorize::ADMIN_SCOPE)
    {
        s.admin_audience.clone()
    } else {
        client
            .row
            .access_token_audience
            .clone()
            .unwrap_or_else(|| s.userinfo_audience.clone())
    }
}

fn id_token_alg(s: &AppState, client: &Client) -> SigningAlg {
    client
        .row
        .id_token_alg
        .as_deref()
        .and_then(SigningAlg::parse)
        .unwrap_or(s.config.id_token_alg)
}

fn refresh_limits(s: &AppState) -> refresh::Limits {
    refresh::Limits {
        idle: s.config.refresh_idle,
        absolute: s.config.refresh_absolute,
        grace: s.config.refresh_reuse_grace,
    }
}

/// RFC 6749 §3.3 scope: space-delimited tokens; `None` when absent.
pub(crate) fn requested_scope(params: &Params) -> Result<Option<Vec<String>>, TokenError> {
    let Some(raw) = params.get("scope")? else {
        return Ok(None);
    };
    if raw.len() > 2048 {
        return Err(TokenError::new(
            ErrorCode::InvalidScope,
            "scope is too long",
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for sc in raw.split(' ').filter(|s| !s.is_empty()) {
        if !out.iter().any(|o| o == sc) {
            out.push(sc.to_string());
        }
    }
    Ok(Some(out))
}

/// RFC 6749 §6 with rotation (RFC 9700 §4.14.2).
async fn refresh(
    s: &AppState,
    client: &Client,
    params: &Params,
) -> Result<tokens::TokenResponse, TokenError> {
    let token = params.require("refresh_token")?;
    let scope = requested_scope(params)?;
    let now = s.now();
    let outcome = refresh::rotate(
        &s.db,
        token,
        client.id(),
        scope.clone(),
        now,
        refresh_limits(s),
    )
    .await
    .map_err(|e| TokenError::server(&e))?;
    let invalid = |d: &str| Err(TokenError::new(ErrorCode::InvalidGrant, d));
    let (grant, successor) = match outcome {
        refresh::Rotated::Fresh(g, t) => (g, t),
        refresh::Rotated::ScopeTooWide => {
            return Err(TokenError::new(
                ErrorCode::InvalidScope,
                "the requested scope exceeds the scope originally granted",
            ));
        }
        refresh::Rotated::ReusedInGrace => {
            return invalid("the refresh token was already used");
        }
        refresh::Rotated::ReusedFamilyRevoked { grant_id, user_id } => {
            let subject = accounts::find_by_id(&s.db, &user_id)
                .await
                .ok()
                .flatten()
                .map(|u| u.username);
            if let Err(e) = crate::audit::record(
                &s.db,
                &s.config.audit_key,
                now,
                &crate::audit::Actor::System,
                "security.refresh_token_reuse",
                subject.as_deref(),
                serde_json::json!({ "client_id": client.id(), "grant_id": grant_id }),
            )
            .await
            {
                tracing::error!(error = %e, "could not audit a refresh token reuse");
            }
            tracing::warn!(client_id = %client.id(), %grant_id, "refresh token reused after rotation: its family is revoked");
            return invalid("the refresh token was already used");
        }
        refresh::Rotated::Invalid => {
            return invalid("the refresh token is invalid, expired or revoked");
        }
    };
    let user = accounts::find_by_id(&s.db, &grant.user_id)
        .await
        .map_err(|e| TokenError::server(&e))?
        .filter(|u| !u.disabled);
    let Some(user) = user else {
        return invalid("the account is no longer active");
    };
    // The access token may be narrowed (RFC 6749 §6); the new refresh token keeps the scope.
    let access_scope = match &scope {
        Some(sc) => sc.join(" "),
        None => grant.scope.clone(),
    };
    let as_code = tokens::CodeGrant {
        grant_id: grant.grant_id.clone(),
        client_id: grant.client_id.clone(),
        user_id: grant.user_id.clone(),
        session_id: grant.session_id.clone(),
        redirect_uri: String::new(),
        scope: access_scope.clone(),
        nonce: None,
        code_challenge: None,
        auth_time: grant.auth_time,
        amr: grant.amr.clone(),
        acr: grant.acr.clone(),
        // The claims the sign-in asked for (OIDC Core §5.5) still shape the new ID token.
        claims: tokens::active_grant_claims(&s.db, &grant.grant_id)
            .await
            .map_err(|e| TokenError::server(&e))?
            .flatten(),
    };
    let subject = Subject::with_hook(s, &user, &as_code.client_id, &as_code.scope, ID_TOKEN).await;
    let mut res = tokens::mint(
        &s.config,
        &s.keys,
        &as_code,
        &subject,
        &audience_of(s, client, &access_scope),
        id_token_alg(s, client),
        now,
    )
    .map_err(|e| TokenError::server(&e))?;
    res.refresh_token = Some(successor);
    Ok(res)
}

/// RFC 6749 §4.4: a confidential client's token for itself.
async fn client_credentials(
    s: &AppState,
    client: &Client,
    params: &Params,
) -> Result<tokens::TokenResponse, TokenError> {
    if client.row.is_public {
        return Err(TokenError::new(
            ErrorCode::UnauthorizedClient,
            "a public client cannot use client_credentials",
        ));
    }
    let allowed: Vec<&str> = client
        .row
        .scope
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    let scope = match requested_scope(params)? {
        Some(wanted) => {
            if let Some(bad) = wanted.iter().find(|w| !allowed.contains(&w.as_str())) {
                return Err(TokenError::new(
                    ErrorCode::InvalidScope,
                    &format!("scope {bad:?} is not registered for this client"),
                ));
            }
            wanted.join(" ")
        }
        // RFC 6749 §3.3: without a scope, the registered default (all of them).
        None => allowed.join(" "),
    };
    let now = s.now();
    let grant_id = tokens::client_grant(
        &s.db,
        client.id(),
        &allowed.join(" "),
        now,
        s.config.code_ttl,
    )
    .await
    .map_err(|e| TokenError::server(&e))?;
    tokens::mint_for_client(
        &s.config,
        &s.keys,
        client.id(),
        &grant_id,
        &scope,
        &audience_of(s, client, &scope),
        now,
    )
    .map_err(|e| TokenError::server(&e))
}

/// RFC 6749 §4.1.3.
async fn authorization_code(
    s: &AppState,
    client: &Client,
    params: &Params,
) -> Result<tokens::TokenResponse, TokenError> {
    let code = params.require("code")?;
    let redirect_uri = params.require("redirect_uri")?;
    let verifier = params.get("code_verifier")?;
    let now = s.now();
    let grant = match tokens::redeem_code(&s.db, code, now)
        .await
        .map_err(|e| TokenError::server(&e))?
    {
        Redeemed::Fresh(g) => g,
        Redeemed::Replayed => {
            return Err(TokenError::new(
                ErrorCode::InvalidGrant,
                "the authorization code was already used",
            ));
        }
        Redeemed::Invalid => {
            return Err(TokenError::new(
                ErrorCode::InvalidGrant,
                "the authorization code is invalid or expired",
            ));
        }
    };
    let invalid = |d: &str| Err(TokenError::new(ErrorCode::InvalidGrant, d));
    if grant.client_id != client.id() {
        return invalid("the authorization code was issued to another client");
    }
    if grant.redirect_uri != redirect_uri {
        return invalid("redirect_uri does not match the authorization request");
    }
    match (&grant.code_challenge, verifier) {
        (Some(challenge), Some(v)) if pkce::verify_s256(v, challenge) => {}
        (Some(_), Some(_)) => return invalid("code_verifier does not match the code_challenge"),
        (Some(_), None) => return invalid("code_verifier is required"),
        // RFC 9700 §4.8.2: a verifier without a challenge is a PKCE downgrade attempt.
        (None, Some(_)) => return invalid("code_verifier sent but no code_challenge was"),
        (None, None) => {}
    }
    let user = accounts::find_by_id(&s.db, &grant.user_id)
        .await
        .map_err(|e| TokenError::server(&e))?
        .filter(|u| !u.disabled);
    let Some(user) = user else {
        return invalid("the account is no longer active");
    };
    let subject = Subject::with_hook(s, &user, &grant.client_id, &grant.scope, ID_TOKEN).await;
    let mut res = tokens::mint(
        &s.config,
        &s.keys,
        &grant,
        &subject,
        &audience_of(s, client, &grant.scope),
        id_token_alg(s, client),
        now,
    )
    .map_err(|e| TokenError::server(&e))?;
    let wants_refresh = match RefreshPolicy::parse(&client.row.refresh_policy) {
        RefreshPolicy::Never => false,
        RefreshPolicy::Always => true,
        RefreshPolicy::OfflineAccess => grant.scope.split(' ').any(|s| s == "offline_access"),
    };
    if wants_refresh && client.allows_grant("refresh_token") {
        let g = refresh::RefreshGrant {
            grant_id: grant.grant_id.clone(),
            client_id: grant.client_id.clone(),
            user_id: grant.user_id.clone(),
            session_id: grant.session_id.clone(),
            scope: grant.scope.clone(),
            auth_time: grant.auth_time,
            amr: grant.amr.clone(),
            acr: grant.acr.clone(),
        };
        res.refresh_token = Some(
            refresh::issue(&s.db, &g, now, refresh_limits(s))
                .await
                .map_err(|e| TokenError::server(&e))?,
        );
    }
    Ok(res)
}
