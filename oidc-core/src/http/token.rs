//! The token endpoint (RFC 6749 §3.2, §5): the authorization_code (§4.1.3), refresh_token (§6,
//! with rotation) and client_credentials (§4.4) grants.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::AppState;
use crate::clients::{self, Client};
use crate::protocol::errors::ErrorCode;
use crate::protocol::scope::Scope;
use crate::secret::Secret;
pub(crate) use crate::tokens::exchange::TokenError;
use crate::tokens::{self, exchange::TokenRequest};

pub(super) fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

/// The token endpoint's error answer (RFC 6749 §5.2): 400 (401 with a `WWW-Authenticate`
/// challenge for failed client authentication, 500 or 503 for ours), never cached.
pub(crate) fn error_response(s: &AppState, e: TokenError) -> Response {
    let body = Json(serde_json::json!({
        "error": e.error.code.as_str(),
        "error_description": e.error.description,
    }));
    let status = match e.error.code {
        _ if e.client_auth_failed => StatusCode::UNAUTHORIZED,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut res = (status, body).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        res = super::pages::retry_later(res);
    }
    if e.client_auth_failed {
        let challenge = format!("Basic realm=\"{}\"", s.config.issuer().replace('"', ""));
        if let Ok(v) = HeaderValue::from_str(&challenge) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
    }
    no_store(res)
}

pub(crate) async fn post(State(s): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&s, &headers, &body).await {
        Ok(res) => no_store(Json(res).into_response()),
        Err(e) => error_response(&s, e),
    }
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

/// The client's credentials as this request presents them (RFC 6749 §2.3.1, RFC 7523 §2.2).
pub(crate) fn credentials(
    headers: &HeaderMap,
    params: &Params,
) -> Result<clients::authenticate::Credentials, TokenError> {
    let own = |v: Option<&str>| v.map(str::to_string);
    Ok(clients::authenticate::Credentials {
        basic: basic_credentials(headers),
        client_id: own(params.get("client_id")?),
        client_secret: own(params.get("client_secret")?),
        client_assertion: own(params.get("client_assertion")?),
        client_assertion_type: own(params.get("client_assertion_type")?),
    })
}

/// Authenticates the request's client (see [`clients::authenticate`]): shared by the token,
/// introspection, revocation and PAR endpoints.
pub(crate) async fn authenticate(
    s: &AppState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Client, TokenError> {
    clients::authenticate::authenticate(s, &credentials(headers, params)?).await
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
    if !tokens::exchange::supported(grant_type) {
        return Err(TokenError::new(
            ErrorCode::UnsupportedGrantType,
            "supported: authorization_code, refresh_token, client_credentials",
        ));
    }
    // RFC 6749 §5.2: a grant type this client is not registered for (before its parameters).
    if !client.allows_grant(grant_type) {
        return Err(TokenError::new(
            ErrorCode::UnauthorizedClient,
            &format!("this client is not registered for the {grant_type} grant"),
        ));
    }
    let request = match grant_type {
        "authorization_code" => TokenRequest::AuthorizationCode {
            code: Secret::new(params.require("code")?),
            redirect_uri: params.require("redirect_uri")?.to_string(),
            code_verifier: params.get("code_verifier")?.map(str::to_string),
        },
        "refresh_token" => TokenRequest::RefreshToken {
            refresh_token: Secret::new(params.require("refresh_token")?),
            scope: requested_scope(&params)?,
        },
        "client_credentials" => TokenRequest::ClientCredentials {
            scope: requested_scope(&params)?,
        },
        _ => {
            return Err(TokenError::new(
                ErrorCode::UnsupportedGrantType,
                "supported: authorization_code, refresh_token, client_credentials",
            ));
        }
    };
    tokens::exchange::exchange(s, &client, request).await
}

/// RFC 6749 §3.3 scope: a set of NQCHAR tokens, space-delimited; `None` when absent.
pub(crate) fn requested_scope(params: &Params) -> Result<Option<Scope>, TokenError> {
    let Some(raw) = params.get("scope")? else {
        return Ok(None);
    };
    Scope::parse(raw)
        .map(Some)
        .map_err(|e| TokenError::new(ErrorCode::InvalidScope, &e.to_string()))
}
