//! The client registration endpoint (RFC 7591 §3, OpenID Connect Dynamic Client Registration
//! §3) and the client configuration endpoint of each registered client (RFC 7592 §2): thin
//! handlers over the `Provider` calls in `clients::registration`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use super::userinfo::{bearer_error, header_token};
use crate::Provider;
use crate::clients::registration::RegistrationError;

fn provider(s: &AppState) -> Provider {
    Provider { inner: s.clone() }
}

/// RFC 7591 §3.2.1: no caching of answers that carry credentials.
fn no_store(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    res
}

fn answer(status: StatusCode, body: Value) -> Response {
    no_store((status, Json(body)).into_response())
}

fn metadata_error(code: &str, description: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({ "error": code, "error_description": description }),
    )
}

fn refused(e: RegistrationError) -> Response {
    match e {
        RegistrationError::InvalidToken(desc) => {
            bearer_error(StatusCode::UNAUTHORIZED, Some(("invalid_token", desc)))
        }
        RegistrationError::Metadata(m) => metadata_error(m.code, &m.description),
        RegistrationError::Failed(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, "registration: database unavailable");
            super::pages::retry_later(answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "error": "temporarily_unavailable",
                    "error_description": "the service is briefly unavailable; nothing was changed, try again",
                }),
            ))
        }
        RegistrationError::Failed(e) => {
            tracing::error!(error = %e, "registration failed");
            answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({ "error": "server_error", "error_description": "the request could not be completed" }),
            )
        }
    }
}

/// The request must carry JSON (RFC 7591 §3.1).
fn json_body(headers: &HeaderMap) -> Result<(), Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") {
        Ok(())
    } else {
        Err(metadata_error(
            "invalid_client_metadata",
            "send the client metadata as a JSON object with Content-Type: application/json",
        ))
    }
}

/// The bearer token of a management request (RFC 7592 §2: the registration access token).
fn required_token(headers: &HeaderMap) -> Result<String, Response> {
    match header_token(headers)? {
        Some(t) => Ok(t),
        None => Err(bearer_error(StatusCode::UNAUTHORIZED, None)),
    }
}

/// `POST /register`: registers a client; 201 with its metadata, `client_id`, the secret (once),
/// the registration access token and `registration_client_uri`.
pub(crate) async fn register(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match header_token(&headers) {
        Ok(t) => t,
        Err(res) => return res,
    };
    if token.is_none() && !s.config.open_registration {
        // RFC 6750 §3.1: a request without credentials gets the bare challenge.
        return bearer_error(StatusCode::UNAUTHORIZED, None);
    }
    if let Err(res) = json_body(&headers) {
        return res;
    }
    match provider(&s)
        .register_dynamically(token.as_deref(), &body)
        .await
    {
        Ok(v) => answer(StatusCode::CREATED, v),
        Err(e) => refused(e),
    }
}

/// `GET /register/{client_id}` (RFC 7592 §2.1).
pub(crate) async fn read(
    State(s): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = match required_token(&headers) {
        Ok(t) => t,
        Err(res) => return res,
    };
    match provider(&s).read_registration(&client_id, &token).await {
        Ok(v) => answer(StatusCode::OK, v),
        Err(e) => refused(e),
    }
}

/// `PUT /register/{client_id}` (RFC 7592 §2.2): replaces the metadata; the answer carries a new
/// registration access token.
pub(crate) async fn update(
    State(s): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let token = match required_token(&headers) {
        Ok(t) => t,
        Err(res) => return res,
    };
    if let Err(res) = json_body(&headers) {
        return res;
    }
    match provider(&s)
        .update_registration(&client_id, &token, &body)
        .await
    {
        Ok(v) => answer(StatusCode::OK, v),
        Err(e) => refused(e),
    }
}

/// `DELETE /register/{client_id}` (RFC 7592 §2.3): 204.
pub(crate) async fn delete(
    State(s): State<AppState>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let token = match required_token(&headers) {
        Ok(t) => t,
        Err(res) => return res,
    };
    match provider(&s).delete_registration(&client_id, &token).await {
        Ok(()) => no_store(StatusCode::NO_CONTENT.into_response()),
        Err(e) => refused(e),
    }
}
