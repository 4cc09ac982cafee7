//! The IAM admin JSON API under `/admin/api`.
//!
//! Every call carries a user-delegated bearer access token (RFC 6750) of the admin console client
//! with the `admin` scope and the admin API's audience, from a sign-in with password and passcode
//! no older than the configured limit (RFC 9470 step-up otherwise). The person behind the token
//! is the actor of every change, and the library checks their role; the API never acts as itself.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::userinfo::{bearer_error, header_token};
use crate::Provider;
use crate::accounts::desk::ROLE_IAM_ADMIN;
use crate::accounts::provisioning::ROLE_ACCESS_ADMIN;
use crate::error::Error;

use crate::accounts::staff::Refused;
pub(crate) use crate::accounts::staff::{AdminCaller, STAFF};

/// Checks the bearer token and returns the person behind it.
pub(crate) async fn admin_caller(
    s: &AppState,
    headers: &HeaderMap,
) -> Result<AdminCaller, Response> {
    let Some(token) = header_token(headers)? else {
        return Err(bearer_error(StatusCode::UNAUTHORIZED, None));
    };
    crate::accounts::staff::admin_caller(s, &token)
        .await
        .map_err(refusal)
}

/// The API's answer to a refused caller.
fn refusal(r: Refused) -> Response {
    match r {
        Refused::InvalidToken(d) => invalid_token(d),
        Refused::InsufficientScope(d) => insufficient_scope(d),
        Refused::StepUp { max_age } => step_up(max_age),
        Refused::NoRole => forbidden("your account holds no IAM administration role"),
        Refused::Failed(e) => server_error(&e),
    }
}

fn invalid_token(desc: &str) -> Response {
    bearer_error(StatusCode::UNAUTHORIZED, Some(("invalid_token", desc)))
}

fn insufficient_scope(desc: &str) -> Response {
    bearer_error(StatusCode::FORBIDDEN, Some(("insufficient_scope", desc)))
}

/// RFC 9470 §3: the sign-in is too old or too weak; the challenge says what would do.
fn step_up(max_age: u64) -> Response {
    let desc = "a recent sign-in with password and passcode is required";
    let mut res = (
        StatusCode::UNAUTHORIZED,
        Json(json!({ "error": "insufficient_user_authentication", "error_description": desc })),
    )
        .into_response();
    let challenge = format!(
        "Bearer error=\"insufficient_user_authentication\", error_description=\"{desc}\", acr_values=\"{}\", max_age={max_age}",
        crate::mfa::ACR_PASSWORD_OTP
    );
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    no_store(res)
}

fn no_store(mut res: Response) -> Response {
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn json_error(status: StatusCode, code: &str, desc: &str) -> Response {
    no_store(
        (
            status,
            Json(json!({ "error": code, "error_description": desc })),
        )
            .into_response(),
    )
}

fn forbidden(desc: &str) -> Response {
    json_error(StatusCode::FORBIDDEN, "forbidden", desc)
}

fn server_error(e: &Error) -> Response {
    if e.is_unavailable() {
        return super::pages::retry_later(json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the service is briefly unavailable; nothing was changed, try again",
        ));
    }
    tracing::error!(error = %e, "admin API call failed");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "the request could not be completed",
    )
}

/// Maps a library error to the API's answer: the message of input, role and state errors is
/// meant for the administrator; internal ones go to the log only.
fn api_error(e: Error) -> Response {
    match e {
        Error::Forbidden(m) => forbidden(&m),
        Error::InvalidInput(m) => json_error(StatusCode::BAD_REQUEST, "invalid_request", &m),
        Error::NotFound(m) => json_error(StatusCode::NOT_FOUND, "not_found", &m),
        Error::Conflict(m) => json_error(StatusCode::CONFLICT, "conflict", &m),
        other => server_error(&other),
    }
}

fn ok(value: Value) -> Response {
    no_store((StatusCode::OK, Json(value)).into_response())
}

/// Parses a JSON body; a missing or wrong content type or bad JSON is a 400 with the reason.
fn body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, Response> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return Err(json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request",
            "send a JSON body with Content-Type: application/json",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| json_error(StatusCode::BAD_REQUEST, "invalid_request", &e.to_string()))
}

fn provider(s: &AppState) -> Provider {
    Provider { inner: s.clone() }
}

macro_rules! caller {
    ($s:expr, $h:expr) => {
        match admin_caller(&$s, &$h).await {
            Ok(c) => c,
            Err(res) => return res,
        }
    };
}

/// The request's JSON body, or the 4xx answer for it.
macro_rules! json_body {
    ($h:expr, $b:expr) => {
        match body(&$h, &$b) {
            Ok(r) => r,
            Err(res) => return res,
        }
    };
}

/// `GET /admin/api/me`: who the token speaks for.
pub(crate) async fn me(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let c = caller!(s, headers);
    ok(json!({
        "username": c.user.username,
        "roles": c.user.roles,
    }))
}

/// `GET /admin/api/users`.
pub(crate) async fn list_users(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let _c = caller!(s, headers);
    match provider(&s).list_users().await {
        Ok(users) => ok(json!(users)),
        Err(e) => api_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateUser {
    username: String,
    email: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// `POST /admin/api/users` (IAM administrators): an account without a password; the service desk
/// issues a temporary one.
pub(crate) async fn create_user(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let c = caller!(s, headers);
    if !c.holds_any(&[ROLE_IAM_ADMIN]) {
        return forbidden("creating accounts needs the iam_admin role");
    }
    let req: CreateUser = json_body!(headers, bytes);
    let p = provider(&s);
    let user = match p
        .create_user(crate::NewUser {
            username: req.username,
            email: req.email,
            name: req.name,
            roles: req.roles,
            password: None,
        })
        .await
    {
        Ok(u) => u,
        Err(e) => return api_error(e),
    };
    if let Err(e) = p
        .record_audit(
            &c.actor,
            "user.created",
            Some(&user.username),
            json!({ "roles": user.roles, "via": "admin_api" }),
        )
        .await
    {
        return server_error(&e);
    }
    no_store((StatusCode::CREATED, Json(json!(user))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VerifyCaller {
    #[serde(default)]
    secret_word: Option<String>,
    #[serde(default)]
    send_code: bool,
    #[serde(default)]
    code: Option<String>,
}

/// `POST /admin/api/users/{username}/verify-caller`: `{"secret_word": …}`, `{"send_code": true}`
/// or `{"code": …}`; answers `{"match": bool}` (never the word).
pub(crate) async fn verify_caller(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(username): Path<String>,
    bytes: Bytes,
) -> Response {
    let c = caller!(s, headers);
    let req: VerifyCaller = json_body!(headers, bytes);
    let p = provider(&s);
    let result = match (req.secret_word, req.send_code, req.code) {
        (Some(w), false, None) => p.verify_caller_secret_word(&c.actor, &username, &w).await,
        (None, false, Some(code)) => p.verify_caller_code(&c.actor, &username, &code).await,
        (None, true, None) => {
            return match p.send_caller_code(&c.actor, &username).await {
                Ok(()) => ok(json!({ "code_sent": true })),
                Err(e) => api_error(e),
            };
        }
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "give exactly one of secret_word, send_code or code",
            );
        }
    };
    match result {
        Ok(m) => ok(json!({ "match": m })),
        Err(e) => api_error(e),
    }
}

/// `POST /admin/api/users/{username}/temporary-password`: shown once in the answer.
pub(crate) async fn temporary_password(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    let c = caller!(s, headers);
    match provider(&s)
        .issue_temporary_password(&c.actor, &username)
        .await
    {
        Ok(secret) => ok(json!({ "temporary_password": secret.secret() })),
        Err(e) => api_error(e),
    }
}

/// `POST /admin/api/users/{username}/unlock`.
pub(crate) async fn unlock(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    let c = caller!(s, headers);
    match provider(&s).unlock_account(&c.actor, &username).await {
        Ok(()) => ok(json!({ "unlocked": true })),
        Err(e) => api_error(e),
    }
}

async fn set_disabled(
    s: AppState,
    headers: HeaderMap,
    username: String,
    disabled: bool,
) -> Response {
    let c = caller!(s, headers);
    match provider(&s)
        .set_account_disabled(&c.actor, &username, disabled)
        .await
    {
        Ok(u) => ok(json!(u)),
        Err(e) => api_error(e),
    }
}

/// `POST /admin/api/users/{username}/disable`: sessions end at once.
pub(crate) async fn disable(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    set_disabled(s, headers, username, true).await
}

/// `POST /admin/api/users/{username}/enable`.
pub(crate) async fn enable(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(username): Path<String>,
) -> Response {
    set_disabled(s, headers, username, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Roles {
    roles: Vec<String>,
}

/// `PUT /admin/api/users/{username}/roles`: `{"roles": [...]}` replaces the account's roles.
pub(crate) async fn set_roles(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(username): Path<String>,
    bytes: Bytes,
) -> Response {
    let c = caller!(s, headers);
    let req: Roles = json_body!(headers, bytes);
    match provider(&s).set_roles(&c.actor, &username, req.roles).await {
        Ok(u) => ok(json!(u)),
        Err(e) => api_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LostToken {
    #[serde(default)]
    hours: Option<u32>,
}

/// `POST /admin/api/users/{username}/lost-token`: the emergency passcode, shown once.
pub(crate) async fn lost_token(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(username): Path<String>,
    bytes: Bytes,
) -> Response {
    let c = caller!(s, headers);
    let req: LostToken = if bytes.is_empty() {
        LostToken { hours: None }
    } else {
        match body(&headers, &bytes) {
            Ok(r) => r,
            Err(res) => return res,
        }
    };
    match provider(&s)
        .report_token_lost(&c.actor, &username, req.hours)
        .await
    {
        Ok(code) => ok(json!({ "emergency_passcode": code.secret() })),
        Err(e) => api_error(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
}

/// `GET /admin/api/registrations?status=pending`.
pub(crate) async fn list_registrations(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let c = caller!(s, headers);
    if !c.holds_any(&[ROLE_ACCESS_ADMIN, ROLE_IAM_ADMIN]) {
        return forbidden("registrations are for Access Administrators");
    }
    match provider(&s).list_registrations(q.status.as_deref()).await {
        Ok(list) => ok(json!(list)),
        Err(e) => api_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitRegistration {
    legal_name: String,
    email: String,
    clinic: String,
    practitioner_id: String,
    #[serde(default)]
    role_requested: Option<String>,
}

/// `POST /admin/api/registrations`: an Access Administrator enters a URF.
pub(crate) async fn submit_registration(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let c = caller!(s, headers);
    let req: SubmitRegistration = json_body!(headers, bytes);
    match provider(&s)
        .submit_registration(
            &c.actor,
            crate::NewRegistration {
                legal_name: req.legal_name,
                email: req.email,
                clinic: req.clinic,
                practitioner_id: req.practitioner_id,
                role_requested: req.role_requested,
            },
        )
        .await
    {
        Ok(r) => no_store((StatusCode::CREATED, Json(json!(r))).into_response()),
        Err(e) => api_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Approve {
    username: String,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    soft: bool,
}

/// `POST /admin/api/registrations/{id}/approve`: `{"username": …, "serial": …}` or
/// `{"username": …, "soft": true}` (the activation code is in the answer, for the phone).
pub(crate) async fn approve_registration(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let c = caller!(s, headers);
    let req: Approve = json_body!(headers, bytes);
    let choice = match (req.serial, req.soft) {
        (Some(serial), false) => crate::TokenChoice::Hardware { serial },
        (None, true) => crate::TokenChoice::Soft,
        _ => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "give either serial or soft: true",
            );
        }
    };
    match provider(&s)
        .approve_registration(&c.actor, &id, &req.username, choice)
        .await
    {
        Ok(a) => {
            let mut v = json!({
                "registration": a.registration,
                "user": a.user,
                "serial": a.serial,
            });
            if let Some(e) = &a.soft_token {
                v["activation_code"] = json!(e.activation_code.secret());
                v["activation_expires_at"] = json!(e.activation_expires_at.to_rfc3339());
            }
            ok(v)
        }
        Err(e) => api_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reject {
    reason: String,
}

/// `POST /admin/api/registrations/{id}/reject`: `{"reason": …}`.
pub(crate) async fn reject_registration(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Response {
    let c = caller!(s, headers);
    let req: Reject = json_body!(headers, bytes);
    match provider(&s)
        .reject_registration(&c.actor, &id, &req.reason)
        .await
    {
        Ok(r) => ok(json!(r)),
        Err(e) => api_error(e),
    }
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    since: Option<i64>,
    limit: Option<i64>,
}

/// `GET /admin/api/audit?since=SEQ&limit=N` (IAM administrators).
pub(crate) async fn audit(
    State(s): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<AuditQuery>,
) -> Response {
    let c = caller!(s, headers);
    if !c.holds_any(&[ROLE_IAM_ADMIN]) {
        return forbidden("the audit log needs the iam_admin role");
    }
    let limit = q.limit.unwrap_or(100).clamp(0, crate::audit::MAX_LIST);
    match provider(&s).audit_events(q.since, limit).await {
        Ok(list) => ok(json!(list)),
        Err(e) => api_error(e),
    }
}

/// `GET /admin/api/audit/verify` (IAM administrators): the chain check's report.
pub(crate) async fn audit_verify(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let c = caller!(s, headers);
    if !c.holds_any(&[ROLE_IAM_ADMIN]) {
        return forbidden("the audit log needs the iam_admin role");
    }
    match provider(&s).verify_audit_log().await {
        Ok(report) => ok(json!(report)),
        Err(e) => api_error(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Clients: list, show, update, rotate the secret, delete, and initial access tokens for dynamic
// registration. Reading is for any staff; changes need iam_admin (the library checks).

/// `GET /admin/api/clients`.
pub(crate) async fn list_clients(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let _c = caller!(s, headers);
    match provider(&s).list_clients().await {
        Ok(list) => ok(json!(list)),
        Err(e) => api_error(e),
    }
}

/// `GET /admin/api/clients/{client_id}`.
pub(crate) async fn get_client(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    let _c = caller!(s, headers);
    match provider(&s).client(&client_id).await {
        Ok(c) => ok(json!(c)),
        Err(e) => api_error(e),
    }
}

/// `PATCH /admin/api/clients/{client_id}`: the fields of [`crate::ClientUpdate`] to change.
pub(crate) async fn update_client(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
    bytes: Bytes,
) -> Response {
    let c = caller!(s, headers);
    let req: crate::ClientUpdate = json_body!(headers, bytes);
    match provider(&s).update_client(&c.actor, &client_id, req).await {
        Ok(info) => ok(json!(info)),
        Err(e) => api_error(e),
    }
}

/// `POST /admin/api/clients/{client_id}/rotate-secret`: the new secret, shown once.
pub(crate) async fn rotate_client_secret(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    let c = caller!(s, headers);
    match provider(&s)
        .rotate_client_secret(&c.actor, &client_id)
        .await
    {
        Ok(secret) => ok(json!({ "client_id": client_id, "client_secret": secret.secret() })),
        Err(e) => api_error(e),
    }
}

/// `DELETE /admin/api/clients/{client_id}`: 204; the client's tokens stop working.
pub(crate) async fn delete_client(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(client_id): Path<String>,
) -> Response {
    let c = caller!(s, headers);
    match provider(&s).delete_client(&c.actor, &client_id).await {
        Ok(()) => no_store(StatusCode::NO_CONTENT.into_response()),
        Err(e) => api_error(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewInitialToken {
    #[serde(default)]
    ttl_secs: Option<u64>,
    #[serde(default)]
    single_use: Option<bool>,
}

/// `POST /admin/api/clients/initial-tokens`: `{"ttl_secs": …, "single_use": …}` (defaults 24 h,
/// single use); the token is shown once.
pub(crate) async fn create_initial_token(
    State(s): State<AppState>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Response {
    let c = caller!(s, headers);
    let req: NewInitialToken = if bytes.is_empty() {
        NewInitialToken {
            ttl_secs: None,
            single_use: None,
        }
    } else {
        json_body!(headers, bytes)
    };
    let ttl = std::time::Duration::from_secs(req.ttl_secs.unwrap_or(24 * 3600));
    match provider(&s)
        .create_initial_access_token(&c.actor, ttl, req.single_use.unwrap_or(true))
        .await
    {
        Ok(t) => no_store(
            (
                StatusCode::CREATED,
                Json(json!({
                    "initial_access_token": t.token.secret(),
                    "id": t.id,
                    "expires_at": t.expires_at.to_rfc3339(),
                    "single_use": t.single_use,
                })),
            )
                .into_response(),
        ),
        Err(e) => api_error(e),
    }
}
