//! The token endpoint (RFC 6749 §3.2, §4.1.3, §5), authorization_code grant.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::AppState;
use crate::accounts;
use crate::clients::{self, Client};
use crate::config::SigningAlg;
use crate::protocol::errors::{ErrorCode, OAuthError};
use crate::protocol::pkce;
use crate::tokens::{self, Redeemed, Subject};

/// An error answer of the token endpoint (RFC 6749 §5.2).
pub(crate) struct TokenError {
    error: OAuthError,
    /// Failed client authentication answers 401 with a `WWW-Authenticate` challenge.
    client_auth_failed: bool,
    realm: String,
}

impl TokenError {
    fn new(code: ErrorCode, description: &str) -> Self {
        TokenError {
            error: OAuthError::new(code, description),
            client_auth_failed: false,
            realm: String::new(),
        }
    }
    fn client(s: &AppState, description: &str) -> Self {
        TokenError {
            error: OAuthError::new(ErrorCode::InvalidClient, description),
            client_auth_failed: true,
            realm: s.config.issuer().to_string(),
        }
    }
    fn server(e: &crate::error::Error) -> Self {
        tracing::error!(error = %e, "token request failed");
        TokenError::new(ErrorCode::ServerError, "the request could not be completed")
    }
}

fn no_store(mut res: Response) -> Response {
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
            _ => StatusCode::BAD_REQUEST,
        };
        let mut res = (status, body).into_response();
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
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Result<Option<&str>, TokenError> {
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
    fn require(&self, name: &str) -> Result<&str, TokenError> {
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

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ()> {
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

/// Authenticates the client by exactly one method (RFC 6749 §2.3).
async fn authenticate(
    s: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, TokenError> {
    let basic = basic_credentials(headers)
        .map_err(|_| TokenError::client(s, "malformed Authorization header"))?;
    let body_id = params.get("client_id")?;
    let body_secret = params.get("client_secret")?;
    let (client_id, secret) = match (basic, body_secret) {
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
            (id, Some(secret))
        }
        (None, Some(secret)) => match body_id {
            Some(id) => (id.to_string(), Some(secret.to_string())),
            None => return Err(TokenError::client(s, "client_id is required")),
        },
        (None, None) => match body_id {
            Some(id) => (id.to_string(), None),
            None => return Err(TokenError::client(s, "client authentication is required")),
        },
    };
    let client = clients::find(&s.db, &client_id)
        .await
        .map_err(|e| TokenError::server(&e))?
        .ok_or_else(|| TokenError::client(s, "client authentication failed"))?;
    match (client.row.is_public, secret) {
        (true, None) => Ok(client),
        (true, Some(_)) => Err(TokenError::client(s, "a public client has no secret")),
        (false, Some(secret)) if client.secret_matches(&secret) => Ok(client),
        (false, _) => Err(TokenError::client(s, "client authentication failed")),
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
    if grant_type != "authorization_code" {
        return Err(TokenError::new(
            ErrorCode::UnsupportedGrantType,
            "only authorization_code is supported",
        ));
    }
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
    // Admin tokens are for the admin API only, whatever else the grant holds.
    let audience = if grant
        .scope
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
    };
    let alg = client
        .row
        .id_token_alg
        .as_deref()
        .and_then(SigningAlg::parse)
        .unwrap_or(s.config.id_token_alg);
    tokens::mint(
        &s.config,
        &s.keys,
        &grant,
        &Subject {
            subject: user.subject,
        },
        &audience,
        alg,
        now,
    )
    .map_err(|e| TokenError::server(&e))
}
