//! Client authentication (RFC 6749 §2.3, RFC 7521 §4.2, RFC 7523 §2.2) for the token,
//! introspection, revocation and PAR endpoints: exactly one method per request, and only the
//! `token_endpoint_auth_method` the client registered (RFC 7591 §2): a `client_secret_basic`
//! client cannot use `client_secret_post` and vice versa, a `private_key_jwt` or
//! `client_secret_jwt` client must send an assertion.

use super::{AuthMethod, Client, assertion};
use crate::protocol::errors::ErrorCode;
use crate::provider::Inner;
use crate::tokens::exchange::TokenError;

/// What a request presented to authenticate its client, as parsed from its headers and form.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    /// HTTP Basic credentials (already form-decoded); `Err` for a malformed header.
    pub basic: Result<Option<(String, String)>, ()>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_assertion: Option<String>,
    pub client_assertion_type: Option<String>,
}

impl Default for Credentials {
    fn default() -> Self {
        Credentials {
            basic: Ok(None),
            client_id: None,
            client_secret: None,
            client_assertion: None,
            client_assertion_type: None,
        }
    }
}

/// How a request authenticated its client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presented {
    Basic,
    Post,
    None,
}

/// Authenticates the client (see the module's documentation).
pub(crate) async fn authenticate(s: &Inner, c: &Credentials) -> Result<Client, TokenError> {
    let basic = c
        .basic
        .clone()
        .map_err(|_| TokenError::client("malformed Authorization header"))?;
    let body_id = c.client_id.as_deref();
    let body_secret = c.client_secret.as_deref();
    let methods = [
        basic.is_some(),
        body_secret.is_some(),
        c.client_assertion.is_some(),
    ]
    .iter()
    .filter(|m| **m)
    .count();
    if methods > 1 {
        return Err(TokenError::new(
            ErrorCode::InvalidRequest,
            "use only one client authentication method",
        ));
    }
    if let Some(assertion) = &c.client_assertion {
        return authenticate_assertion(s, body_id, c.client_assertion_type.as_deref(), assertion)
            .await;
    }
    if c.client_assertion_type.is_some() {
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
                    "client_id does not match the authenticated client",
                ));
            }
            (id, Some(secret), Presented::Basic)
        }
        (None, Some(secret)) => match body_id {
            Some(id) => (id.to_string(), Some(secret.to_string()), Presented::Post),
            None => return Err(TokenError::client("client_id is required")),
        },
        (None, None) => match body_id {
            Some(id) => (id.to_string(), None, Presented::None),
            None => return Err(TokenError::client("client authentication is required")),
        },
    };
    let client = super::find(&s.db, &client_id)
        .await
        .map_err(|e| TokenError::server(&e))?
        .ok_or_else(|| TokenError::client("client authentication failed"))?;
    let registered = client.token_endpoint_auth_method();
    match (registered, presented, secret) {
        (AuthMethod::None, Presented::None, _) if client.row.is_public => Ok(client),
        (AuthMethod::None, _, _) => Err(TokenError::client("a public client has no secret")),
        (AuthMethod::ClientSecretBasic, Presented::Basic, Some(secret))
        | (AuthMethod::ClientSecretPost, Presented::Post, Some(secret))
            if client.secret_matches(&secret) =>
        {
            Ok(client)
        }
        (AuthMethod::ClientSecretBasic, Presented::Basic, _)
        | (AuthMethod::ClientSecretPost, Presented::Post, _)
        | (_, Presented::None, _) => Err(TokenError::client("client authentication failed")),
        (m, _, _) => Err(TokenError::client(&format!(
            "this client is registered to authenticate with {}",
            m.as_str()
        ))),
    }
}

/// RFC 7523 §2.2: `client_assertion_type` and `client_assertion` (`private_key_jwt`,
/// `client_secret_jwt`).
async fn authenticate_assertion(
    s: &Inner,
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
        .ok_or_else(|| TokenError::client("the client assertion is malformed"))?;
    // RFC 7521 §4.2: a client_id sent beside the assertion must name the same client.
    if body_id.is_some_and(|b| b != claimed) {
        return Err(TokenError::client(
            "client_id does not match the client assertion",
        ));
    }
    let client = super::find(&s.db, &claimed)
        .await
        .map_err(|e| TokenError::server(&e))?
        .ok_or_else(|| TokenError::client("client authentication failed"))?;
    let method = client.token_endpoint_auth_method();
    if !matches!(
        method,
        AuthMethod::PrivateKeyJwt | AuthMethod::ClientSecretJwt
    ) {
        return Err(TokenError::client(&format!(
            "this client is registered to authenticate with {}",
            method.as_str()
        )));
    }
    let legacy = s.config.endpoint(crate::paths::TOKEN);
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
            Err(TokenError::client(&why))
        }
        Err(assertion::Rejected::Failed(e)) => Err(TokenError::server(&e)),
    }
}
