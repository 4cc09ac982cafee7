//! The token endpoint's use case (RFC 6749 §3.2, §5): a typed request for an authenticated
//! client in, a token response or the spec's error out. The HTTP handler only parses the form
//! into a [`TokenRequest`] and maps the outcome; the admin pages call [`exchange`] directly, so
//! both meet the same rules. Each grant runs one write transaction (the code's or refresh
//! token's claim with every re-check and the refresh token it issues); the claims hook and the
//! signing run after it.

use crate::clients::{self, Client, RefreshPolicy};
use crate::config::SigningAlg;
use crate::error::Error;
use crate::protocol::errors::{ErrorCode, OAuthError};
use crate::protocol::scope::Scope;
use crate::provider::Inner;
use crate::secret::Secret;

use super::{Redeemed, Subject, TokenResponse, refresh};

/// The claims hook is asked for ID token claims here (crate::claims).
const ID_TOKEN: crate::claims::ClaimsTarget = crate::claims::ClaimsTarget::IdToken;

/// A token request, parsed (RFC 6749 §4.1.3, §6, §4.4).
#[derive(Debug, Clone)]
pub(crate) enum TokenRequest {
    /// `authorization_code`.
    AuthorizationCode {
        code: Secret,
        redirect_uri: String,
        code_verifier: Option<String>,
    },
    /// `refresh_token`, with an optional narrower scope.
    RefreshToken {
        refresh_token: Secret,
        scope: Option<Scope>,
    },
    /// `client_credentials`, with an optional scope.
    ClientCredentials { scope: Option<Scope> },
}

impl TokenRequest {
    /// The `grant_type` value.
    pub(crate) fn grant_type(&self) -> &'static str {
        match self {
            TokenRequest::AuthorizationCode { .. } => "authorization_code",
            TokenRequest::RefreshToken { .. } => "refresh_token",
            TokenRequest::ClientCredentials { .. } => "client_credentials",
        }
    }
}

/// An error answer of the token endpoint and of the endpoints that authenticate clients the
/// same way (RFC 6749 §5.2).
#[derive(Debug, Clone)]
pub(crate) struct TokenError {
    pub error: OAuthError,
    /// Failed client authentication: 401 with a `WWW-Authenticate` challenge.
    pub client_auth_failed: bool,
}

impl TokenError {
    pub(crate) fn new(code: ErrorCode, description: &str) -> Self {
        TokenError {
            error: OAuthError::new(code, description),
            client_auth_failed: false,
        }
    }

    /// `invalid_client` after failed client authentication.
    pub(crate) fn client(description: &str) -> Self {
        TokenError {
            error: OAuthError::new(ErrorCode::InvalidClient, description),
            client_auth_failed: true,
        }
    }

    /// A failure of ours: `temporarily_unavailable` when the database is out of reach (nothing
    /// was changed), else `server_error`; logged here, never shown.
    pub(crate) fn server(e: &Error) -> Self {
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

    fn invalid_grant(description: &str) -> Self {
        TokenError::new(ErrorCode::InvalidGrant, description)
    }
}

/// Answers `request` for `client` (already authenticated by its registered method).
pub(crate) async fn exchange(
    s: &Inner,
    client: &Client,
    request: TokenRequest,
) -> Result<TokenResponse, TokenError> {
    let grant_type = request.grant_type();
    // RFC 6749 §5.2: a grant type this client is not registered for.
    if !client.allows_grant(grant_type) {
        return Err(TokenError::new(
            ErrorCode::UnauthorizedClient,
            &format!("this client is not registered for the {grant_type} grant"),
        ));
    }
    let res = match request {
        TokenRequest::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => authorization_code(s, client, &code, &redirect_uri, code_verifier.as_deref()).await,
        TokenRequest::RefreshToken {
            refresh_token,
            scope,
        } => refresh(s, client, &refresh_token, scope).await,
        TokenRequest::ClientCredentials { scope } => client_credentials(s, client, scope).await,
    }?;
    count_issued(s, grant_type, &res);
    Ok(res)
}

fn count_issued(s: &Inner, grant_type: &str, res: &TokenResponse) {
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
fn audience_of(s: &Inner, client: &Client, scope: &str) -> String {
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

fn id_token_alg(s: &Inner, client: &Client) -> SigningAlg {
    client
        .row
        .id_token_alg
        .as_deref()
        .and_then(SigningAlg::parse)
        .unwrap_or(s.config.id_token_alg)
}

fn refresh_limits(s: &Inner) -> refresh::Limits {
    refresh::Limits {
        idle: s.config.refresh_idle,
        absolute: s.config.refresh_absolute,
        grace: s.config.refresh_reuse_grace,
    }
}

/// RFC 6749 §4.1.3.
async fn authorization_code(
    s: &Inner,
    client: &Client,
    code: &Secret,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<TokenResponse, TokenError> {
    let now = s.now();
    let x = super::CodeExchange {
        code,
        client_id: client.id(),
        redirect_uri,
        verifier,
        refresh_policy: client
            .allows_grant("refresh_token")
            .then(|| RefreshPolicy::parse(&client.row.refresh_policy)),
        refresh_limits: refresh_limits(s),
    };
    let (grant, user, refresh_token) = match super::redeem_code(&s.db, x, now)
        .await
        .map_err(|e| TokenError::server(&e))?
    {
        Redeemed::Fresh {
            grant,
            user,
            refresh_token,
        } => (grant, user, refresh_token),
        Redeemed::Replayed => {
            return Err(TokenError::invalid_grant(
                "the authorization code was already used",
            ));
        }
        Redeemed::Invalid => {
            return Err(TokenError::invalid_grant(
                "the authorization code is invalid or expired",
            ));
        }
        Redeemed::Revoked => {
            return Err(TokenError::invalid_grant(
                "the authorization code's grant was revoked or its session ended since it was issued",
            ));
        }
        Redeemed::Mismatch(why) => return Err(TokenError::invalid_grant(why)),
    };
    let subject =
        Subject::with_hook(s, &user, grant.client_id.as_str(), &grant.scope, ID_TOKEN).await;
    let mut res = super::mint(
        &s.config,
        &s.keys,
        &grant,
        &subject,
        &audience_of(s, client, &grant.scope),
        id_token_alg(s, client),
        now,
    )
    .map_err(|e| TokenError::server(&e))?;
    res.refresh_token = refresh_token.map(|t| t.secret().to_string());
    Ok(res)
}

/// RFC 6749 §6 with rotation (RFC 9700 §4.14.2).
async fn refresh(
    s: &Inner,
    client: &Client,
    token: &Secret,
    scope: Option<Scope>,
) -> Result<TokenResponse, TokenError> {
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
    let (grant, successor, user, claims) = match outcome {
        refresh::Rotated::Fresh {
            grant,
            successor,
            user,
            claims,
        } => (grant, successor, user, claims),
        refresh::Rotated::ScopeTooWide => {
            return Err(TokenError::new(
                ErrorCode::InvalidScope,
                "the requested scope exceeds the scope originally granted",
            ));
        }
        refresh::Rotated::ReusedInGrace => {
            return Err(TokenError::invalid_grant(
                "the refresh token was already used",
            ));
        }
        refresh::Rotated::ReusedFamilyRevoked { grant_id, user_id } => {
            let subject = crate::accounts::find_by_id(&s.db, &user_id)
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
            return Err(TokenError::invalid_grant(
                "the refresh token was already used",
            ));
        }
        refresh::Rotated::Invalid => {
            return Err(TokenError::invalid_grant(
                "the refresh token is invalid, expired or revoked",
            ));
        }
    };
    // The access token may be narrowed (RFC 6749 §6); the new refresh token keeps the scope.
    let access_scope = match &scope {
        Some(sc) => sc.to_string(),
        None => grant.scope.clone(),
    };
    let as_code = super::CodeGrant {
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
        claims,
    };
    let subject = Subject::with_hook(
        s,
        &user,
        as_code.client_id.as_str(),
        &as_code.scope,
        ID_TOKEN,
    )
    .await;
    let mut res = super::mint(
        &s.config,
        &s.keys,
        &as_code,
        &subject,
        &audience_of(s, client, &access_scope),
        id_token_alg(s, client),
        now,
    )
    .map_err(|e| TokenError::server(&e))?;
    res.refresh_token = Some(successor.secret().to_string());
    Ok(res)
}

/// RFC 6749 §4.4: a confidential client's token for itself.
async fn client_credentials(
    s: &Inner,
    client: &Client,
    scope: Option<Scope>,
) -> Result<TokenResponse, TokenError> {
    if client.row.is_public {
        return Err(TokenError::new(
            ErrorCode::UnauthorizedClient,
            "a public client cannot use client_credentials",
        ));
    }
    // Registered through the client's metadata rules: it parses.
    let allowed = Scope::parse(&client.row.scope).unwrap_or_default();
    let scope = match scope {
        Some(wanted) => {
            if let Some(bad) = wanted.first_outside(&allowed) {
                return Err(TokenError::new(
                    ErrorCode::InvalidScope,
                    &format!("scope {bad:?} is not registered for this client"),
                ));
            }
            wanted.to_string()
        }
        // RFC 6749 §3.3: without a scope, the registered default (all of them).
        None => allowed.to_string(),
    };
    let now = s.now();
    let grant_id = super::client_grant(
        &s.db,
        client.id(),
        &allowed.to_string(),
        now,
        s.config.code_ttl,
    )
    .await
    .map_err(|e| TokenError::server(&e))?;
    super::mint_for_client(
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

/// Whether a grant type is one this provider implements.
pub(crate) fn supported(grant_type: &str) -> bool {
    clients::GRANT_TYPES.contains(&grant_type)
}
