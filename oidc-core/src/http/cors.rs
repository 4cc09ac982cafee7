//! CORS (Fetch Standard §3.2) for browser-based clients at the token, userinfo and revocation
//! endpoints, from the web origins of the calling client only.
//!
//! Discovery and JWKS are public documents: they answer `Access-Control-Allow-Origin: *`
//! (OpenID Connect Discovery §4, as node-oidc-provider does) and need no preflight. Pages, the
//! authorization and logout endpoints, registration, introspection (resource servers, not
//! browsers) and the admin API answer no CORS at all.
//!
//! A client's web origins are the origins of its http(s) redirect URIs. A preflight carries no
//! credentials, so it is allowed when some enabled client has the origin; the actual request
//! names its client (client authentication, or the access token's `client_id`), and is refused
//! with `invalid_request` before it runs when the origin is not that client's. A request whose
//! client cannot be told (no client id, a malformed token) runs without CORS headers: the
//! browser keeps the answer from the page.

use axum::Json;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::json;

use super::AppState;
use crate::clients;

/// The most a credentialed cross-origin request body may hold (a token request is small).
const MAX_BODY: usize = 64 * 1024;
/// How long a browser may cache a preflight's answer.
const PREFLIGHT_MAX_AGE: &str = "600";
/// The request headers a client may send: its credentials and the form's type.
const ALLOWED_HEADERS: &str = "authorization, content-type";

fn vary_origin(res: &mut Response) {
    res.headers_mut()
        .append(header::VARY, HeaderValue::from_static("Origin"));
}

fn methods_for(path: &str) -> &'static str {
    if path.ends_with(super::paths::USERINFO) {
        "GET, POST"
    } else {
        "POST"
    }
}

/// The issuer's own origin: its requests are same-origin, not CORS.
fn own_origin(s: &AppState) -> String {
    s.config.issuer_url.origin().ascii_serialization()
}

/// The client a request to the token or revocation endpoint names: HTTP Basic's user, else the
/// form's `client_id`.
fn client_of_form(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some((scheme, rest)) = v.split_once(' ')
        && scheme.eq_ignore_ascii_case("basic")
    {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (id, _) = decoded.split_once(':')?;
        // RFC 6749 §2.3.1: form-urlencoded before base64.
        return percent_encoding::percent_decode_str(&id.replace('+', " "))
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned());
    }
    super::form_pairs(headers, body)?
        .into_iter()
        .find(|(k, v)| k == "client_id" && !v.is_empty())
        .map(|(_, v)| v)
}

/// The `client_id` claim of the access token sent to userinfo, read without verification: it
/// only decides which origin may read the answer, and userinfo itself verifies the token.
fn client_of_token(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_string());
    let token = from_header.or_else(|| {
        super::form_pairs(headers, body)?
            .into_iter()
            .find(|(k, _)| k == "access_token")
            .map(|(_, v)| v)
    })?;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims
        .get("client_id")
        .and_then(|c| c.as_str())
        .map(str::to_string)
}

fn refused_origin() -> Response {
    let mut res = (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "error": "invalid_request",
            "error_description": "this origin is not a web origin of the client",
        })),
    )
        .into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    vary_origin(&mut res);
    res
}

fn unavailable(e: &crate::error::Error) -> Response {
    tracing::warn!(error = %e, "CORS check failed");
    let mut res = if e.is_unavailable() {
        super::pages::retry_later(StatusCode::SERVICE_UNAVAILABLE.into_response())
    } else {
        StatusCode::INTERNAL_SERVER_ERROR.into_response()
    };
    vary_origin(&mut res);
    res
}

/// A preflight (Fetch §4.8): allowed for an origin some enabled client has, for the endpoint's
/// methods and the credential and content-type headers.
async fn preflight(s: &AppState, origin: &str, path: &str, headers: &HeaderMap) -> Response {
    let methods = methods_for(path);
    let asked = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let method_ok = methods.split(", ").any(|m| m == asked);
    let headers_ok = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(',')
        .map(|h| h.trim().to_ascii_lowercase())
        .filter(|h| !h.is_empty())
        .all(|h| ALLOWED_HEADERS.split(", ").any(|a| a == h));
    let known = match clients::any_client_has_origin(&s.db, origin).await {
        Ok(k) => k,
        Err(e) => return unavailable(&e),
    };
    let mut res = if method_ok && headers_ok && known {
        let mut res = StatusCode::NO_CONTENT.into_response();
        let h = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static(methods),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static(ALLOWED_HEADERS),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static(PREFLIGHT_MAX_AGE),
        );
        res
    } else {
        // No CORS headers: the browser refuses the actual request.
        StatusCode::FORBIDDEN.into_response()
    };
    vary_origin(&mut res);
    res
}

/// The middleware of the token, userinfo and revocation routes.
pub(crate) async fn client_based(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
    else {
        return next.run(req).await;
    };
    if origin == own_origin(&s) {
        let mut res = next.run(req).await;
        vary_origin(&mut res);
        return res;
    }
    if req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        let (path, headers) = (req.uri().path().to_string(), req.headers().clone());
        return preflight(&s, &origin, &path, &headers).await;
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        let mut res = StatusCode::PAYLOAD_TOO_LARGE.into_response();
        vary_origin(&mut res);
        return res;
    };
    let is_userinfo = parts.uri.path().ends_with(super::paths::USERINFO);
    let client_id = if is_userinfo {
        client_of_token(&parts.headers, &bytes)
    } else {
        client_of_form(&parts.headers, &bytes)
    };
    let allowed = match &client_id {
        None => None,
        Some(id) => match clients::find(&s.db, id).await {
            Ok(c) => Some(c.is_some_and(|c| c.web_origins().contains(&origin))),
            Err(e) => return unavailable(&e),
        },
    };
    if allowed == Some(false) {
        return refused_origin();
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    let mut res = next.run(req).await;
    if allowed == Some(true) {
        let h = res.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&origin) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        }
        // A client must read the RFC 6750 challenge of a userinfo error.
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("WWW-Authenticate"),
        );
    }
    vary_origin(&mut res);
    res
}
