//! The HTTP layer: thin axum handlers that parse, call the domain modules and map results to the
//! responses the specs require. Routes come from [`paths`], which discovery uses too.

// Handlers return a finished `Response` as their error: boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

mod actions;
mod activation;
mod admin_api;
mod admin_pages;
mod authorize;
mod client_addr;
mod consent;
mod cookies;
mod cors;
mod forgot;
mod introspection;
mod logout;
mod pages;
mod par;
mod portal;
mod registration;
mod revocation;
mod signin;
pub(crate) mod token;
mod userinfo;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::provider::Inner;

// The route constants live at the crate root; handlers keep reaching them as `super::paths`.
pub(crate) use crate::paths;

pub(crate) type AppState = Arc<Inner>;

pub(crate) fn router(inner: AppState) -> Router {
    Router::new()
        .route(paths::DISCOVERY, get(discovery))
        .route(paths::JWKS, get(jwks))
        .route(paths::AUTHORIZE, get(authorize::get).post(authorize::post))
        .route(
            paths::TOKEN,
            post(token::post).layer(axum::middleware::from_fn_with_state(
                inner.clone(),
                cors::client_based,
            )),
        )
        .route(
            paths::REVOCATION,
            post(revocation::post).layer(axum::middleware::from_fn_with_state(
                inner.clone(),
                cors::client_based,
            )),
        )
        .route(paths::INTROSPECTION, post(introspection::post))
        .route(paths::PAR, post(par::post))
        .route(
            paths::USERINFO,
            get(userinfo::get)
                .post(userinfo::post)
                .layer(axum::middleware::from_fn_with_state(
                    inner.clone(),
                    cors::client_based,
                )),
        )
        .route(paths::REGISTRATION, post(registration::register))
        .route(
            &format!("{}/{{client_id}}", paths::REGISTRATION),
            get(registration::read)
                .put(registration::update)
                .delete(registration::delete),
        )
        .route(
            &format!("{}/{{id}}", paths::SIGNIN),
            get(signin::show).post(signin::submit),
        )
        .route(paths::ACTIVATE_ACCOUNT, get(portal::start))
        .route(paths::CHANGE_PASSWORD, get(portal::change_start))
        .route(paths::FORGOT_PASSWORD, get(forgot::start))
        .route(
            paths::ACTIVATE_TOKEN,
            get(activation::show).post(activation::submit),
        )
        .route(
            &format!("{}/confirm", paths::ACTIVATE_TOKEN),
            post(activation::confirm),
        )
        .route(paths::END_SESSION, get(logout::get).post(logout::post))
        .nest(paths::ADMIN_API, admin_api_routes())
        .route(paths::ADMIN, get(admin_pages::home))
        .route(paths::ADMIN_CALLBACK, get(admin_pages::callback))
        .route("/admin/logout", post(admin_pages::sign_out))
        .route("/admin/users", get(admin_pages::users))
        .route("/admin/users/{username}", get(admin_pages::user))
        .route(
            "/admin/users/{username}/{action}",
            post(admin_pages::user_action),
        )
        .route(
            "/admin/registrations",
            get(admin_pages::registrations).post(admin_pages::submit_registration),
        )
        .route(
            "/admin/registrations/{id}/{action}",
            post(admin_pages::registration_action),
        )
        .route("/admin/audit", get(admin_pages::audit))
        .route(paths::STYLESHEET, get(stylesheet))
        .route(pages::SCRIPT, get(pages::script))
        .route(pages::LOGO, get(pages::logo))
        .route(paths::FORM_POST_SCRIPT, get(form_post_script))
        .route(paths::ACCOUNT_APPS, get(portal::apps))
        .route(
            &format!("{}/withdraw", paths::ACCOUNT_APPS),
            post(portal::withdraw),
        )
        .route(paths::HEALTHZ, get(healthz))
        .route(paths::READYZ, get(readyz))
        .fallback(not_found)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            inner.clone(),
            limit_body,
        ))
        .layer(axum::middleware::map_response_with_state(
            inner.clone(),
            security_headers,
        ))
        .layer(axum::middleware::from_fn_with_state(
            inner.clone(),
            request_span,
        ))
        .with_state(inner)
}

fn admin_api_routes() -> Router<AppState> {
    use admin_api as a;
    Router::new()
        .route("/me", get(a::me))
        .route("/users", get(a::list_users).post(a::create_user))
        .route("/users/{username}/verify-caller", post(a::verify_caller))
        .route(
            "/users/{username}/temporary-password",
            post(a::temporary_password),
        )
        .route("/users/{username}/unlock", post(a::unlock))
        .route("/users/{username}/disable", post(a::disable))
        .route("/users/{username}/enable", post(a::enable))
        .route("/users/{username}/roles", axum::routing::put(a::set_roles))
        .route("/users/{username}/lost-token", post(a::lost_token))
        .route(
            "/registrations",
            get(a::list_registrations).post(a::submit_registration),
        )
        .route("/registrations/{id}/approve", post(a::approve_registration))
        .route("/registrations/{id}/reject", post(a::reject_registration))
        .route("/audit", get(a::audit))
        .route("/audit/verify", get(a::audit_verify))
        .route("/clients", get(a::list_clients))
        .route("/clients/initial-tokens", post(a::create_initial_token))
        .route(
            "/clients/{client_id}",
            get(a::get_client)
                .patch(a::update_client)
                .delete(a::delete_client),
        )
        .route(
            "/clients/{client_id}/rotate-secret",
            post(a::rotate_client_secret),
        )
}

/// A unique request id: a random prefix drawn once per process and a counter (32 hex digits),
/// so that no request pays for a random draw.
fn request_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().as_u64_pair().0);
    format!(
        "{prefix:016x}{:016x}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs each request in a `request` span with a fresh id (also sent back as `X-Request-Id`), so
/// every log line of one request can be found together. Only the method and path are recorded:
/// queries carry codes and tokens. Also counts the request in the metrics, under its route
/// template.
async fn request_span(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use tracing::Instrument;
    let started = std::time::Instant::now();
    let _in_flight = s.metrics.start_request();
    let endpoint = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .cloned();
    let method = req.method().clone();
    let id = request_id();
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %req.method(),
        path = %req.uri().path()
    );
    let mut res = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    s.metrics.observe_request(
        endpoint.as_ref().map_or("unmatched", |p| p.as_str()),
        method.as_str(),
        res.status().as_u16(),
        started.elapsed(),
    );
    res
}

/// The largest request body any endpoint reads. Forms and JSON documents here are a few KiB;
/// more is refused (413) before it is buffered, so that nobody can make a handler hold megabytes.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// Endpoints whose callers are programs: their errors are JSON (RFC 6749 §5.2), not pages.
fn is_json_endpoint(path: &str) -> bool {
    let under = |prefix: &str| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    };
    [
        paths::TOKEN,
        paths::REVOCATION,
        paths::INTROSPECTION,
        paths::PAR,
        paths::USERINFO,
        paths::REGISTRATION,
        paths::ADMIN_API,
    ]
    .into_iter()
    .any(under)
}

/// Screens every request before a handler sees it:
/// - a body longer than [`MAX_BODY_BYTES`] (declared, or found while reading it) is refused with
///   413, before it is buffered whole;
/// - a NUL character anywhere in the path, query or body (raw, `%00`, or JSON's `\u0000`) is
///   refused with 400: no parameter has a use for it, and PostgreSQL cannot store or even compare
///   text holding one, so it would otherwise fail lookups there (and not on SQLite).
///
/// The answer is the one the caller understands: `invalid_request` for programs, a plain page for
/// people.
async fn limit_body(
    State(s): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let path = req.uri().path().to_string();
    let json = is_json_endpoint(&path);
    let declared_too_long = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES as u64);
    if declared_too_long {
        // Read (and drop) a moderately oversized body before answering: a client still sending
        // when the connection closes gets a reset instead of the 413. Bigger or slower bodies
        // are cut off.
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(2),
            axum::body::to_bytes(req.into_body(), DRAIN_BYTES),
        )
        .await;
        return too_large(&s, json);
    }
    if has_nul_escape(path.as_bytes()) {
        return nul_refused(&s, &path, json, None);
    }
    if let Some(q) = req.uri().query()
        && has_nul_escape(q.as_bytes())
    {
        return nul_refused(&s, &path, json, Some(q.as_bytes()));
    }
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return too_large(&s, json);
    };
    if bytes.contains(&0)
        || has_nul_escape(&bytes)
        || bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000"))
    {
        return nul_refused(&s, &path, json, Some(&bytes));
    }
    let res = next
        .run(axum::extract::Request::from_parts(
            parts,
            axum::body::Body::from(bytes),
        ))
        .await;
    if res.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(&s, json);
    }
    res
}

/// How much of an oversized body is read before the 413 (see `limit_body`).
const DRAIN_BYTES: usize = 2 * 1024 * 1024;

fn has_nul_escape(bytes: &[u8]) -> bool {
    bytes.windows(3).any(|w| w == b"%00")
}

fn too_large(s: &AppState, json: bool) -> Response {
    let mut res = refused(
        s,
        json,
        StatusCode::PAYLOAD_TOO_LARGE,
        &format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        "The request is too large",
        "The form sent more than this service accepts. Please go back and try again.",
    );
    // The rest of the body is never read: the connection cannot carry another request.
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

/// The refusal of a NUL character, naming the parameter that holds it when the `encoded`
/// parameters show one, under the title of the endpoint's own error page.
fn nul_refused(s: &AppState, path: &str, json: bool, encoded: Option<&[u8]>) -> Response {
    let name = encoded.and_then(|e| {
        url::form_urlencoded::parse(e)
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
            .map(|(k, _)| k.replace('\0', ""))
    });
    let (description, message) = match name.as_deref() {
        Some(n) if !n.is_empty() && n.len() <= 64 => (
            format!("the {n} parameter contains a NUL character"),
            format!("The {n} parameter contains characters that are not allowed."),
        ),
        _ => (
            "the request contains a NUL character".to_string(),
            "The request contains characters that are not allowed.".to_string(),
        ),
    };
    let title = match path {
        paths::AUTHORIZE => "This sign-in request cannot be processed",
        paths::END_SESSION => "This sign-out request cannot be processed",
        _ => "This request cannot be processed",
    };
    refused(
        s,
        json,
        StatusCode::BAD_REQUEST,
        &description,
        title,
        &message,
    )
}

fn refused(
    s: &AppState,
    json: bool,
    status: StatusCode,
    description: &str,
    title: &str,
    message: &str,
) -> Response {
    if json {
        let body = axum::Json(serde_json::json!({
            "error": "invalid_request",
            "error_description": description,
        }));
        (status, body).into_response()
    } else {
        pages::error(s, status, title, message)
    }
}

/// Headers every response carries: pages may load only our own assets and never be framed;
/// nothing is cached unless the handler says so (pages, codes in redirects and tokens are
/// personal); under https, browsers are told to use nothing else (RFC 6797).
async fn security_headers(State(s): State<AppState>, mut res: Response) -> Response {
    let h = res.headers_mut();
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if s.config.issuer().starts_with("https://") {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    // A handler may set a policy of its own: only the form post answer does, adding the one
    // `form-action` it needs to this policy.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
            ),
        );
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Codes travel in URLs: never leak them to another site through Referer.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// The decoded pairs of an `application/x-www-form-urlencoded` body; `None` for another content
/// type or a body that does not decode.
pub(crate) fn form_pairs(
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Option<Vec<(String, String)>> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim();
    if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return None;
    }
    serde_urlencoded::from_bytes(body).ok()
}

fn json_bytes(bytes: Arc<[u8]>, cache: &'static str) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
            (
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            ),
        ],
        axum::body::Bytes::from_owner(bytes),
    )
        .into_response()
}

/// `Cache-Control` of discovery and JWKS: the key rotation's publish delay is validated against
/// this max-age (`config::JWKS_MAX_AGE`), so that every relying party has a new key before it signs.
const CACHE_300: &str = "public, max-age=300";
const _: () = assert!(crate::config::JWKS_MAX_AGE.as_secs() == 300);

async fn discovery(State(s): State<AppState>) -> Response {
    json_bytes(s.discovery.clone(), CACHE_300)
}

async fn jwks(State(s): State<AppState>) -> Response {
    json_bytes(s.keys.jwks(), CACHE_300)
}

async fn healthz() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], "ok\n").into_response()
}

/// 200 when a database round trip works and a signing key is loaded; 503 (with `Retry-After`)
/// otherwise, so a load balancer takes the replica out until its database returns.
async fn readyz(State(s): State<AppState>) -> Response {
    let db = s.db.ping().await;
    let keys = s.keys.can_sign(s.config.id_token_alg) && s.keys.can_sign(s.config.access_token_alg);
    let (status, body) = match (&db, keys) {
        (Ok(()), true) => (StatusCode::OK, "ready\n"),
        (Err(e), _) => {
            tracing::warn!(error = %e, "not ready: database");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
        (Ok(()), false) => (StatusCode::SERVICE_UNAVAILABLE, "no signing keys\n"),
    };
    let mut res = ([(header::CACHE_CONTROL, "no-store")], body).into_response();
    *res.status_mut() = status;
    if status == StatusCode::OK {
        res
    } else {
        pages::retry_later(res)
    }
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/iam.css"),
    )
        .into_response()
}

async fn form_post_script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/form_post.js"),
    )
        .into_response()
}

/// No route: JSON (as the admin API's own `not_found`) under the endpoints programs call, a page
/// elsewhere.
async fn not_found(State(s): State<AppState>, uri: axum::http::Uri) -> Response {
    if is_json_endpoint(uri.path()) {
        let body = axum::Json(serde_json::json!({
            "error": "not_found",
            "error_description": "there is no endpoint at this address",
        }));
        return (StatusCode::NOT_FOUND, body).into_response();
    }
    pages::error(
        &s,
        StatusCode::NOT_FOUND,
        "Page not found",
        "There is no page at this address.",
    )
}
