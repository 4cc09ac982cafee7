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

/// An answer of the admin API other than success: JSON `{error, error_description}` with its
/// status, never cached. Library errors map to it through `?`.
pub(crate) struct ApiError(Response);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(api_error(e))
    }
}

impl ApiError {
    fn forbidden(desc: &str) -> Self {
        ApiError(forbidden(desc))
    }

    fn bad_request(desc: &str) -> Self {
        ApiError(json_error(StatusCode::BAD_REQUEST, "invalid_request", desc))
    }
}

/// What an admin API handler answers.
pub(crate) type ApiResult = Result<Response, ApiError>;

/// The person behind the request's bearer token (see [`admin_caller`]), as an extractor: a
/// handler that takes it runs only for an administrator.
pub(crate) struct Caller(pub AdminCaller);

impl axum::extract::FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        admin_caller(s, &parts.headers)
            .await
            .map(Caller)
            .map_err(ApiError)
    }
}

/// The JSON body of a request (`Content-Type: application/json`).
pub(crate) struct ApiJson<T>(pub T);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = Bytes::from_request(req, s)
            .await
            .map_err(|e| ApiError(e.into_response()))?;
        body(&headers, &bytes).map(ApiJson).map_err(ApiError)
    }
}

/// A JSON body that may be empty (for the defaults).
pub(crate) struct MaybeJson<T>(pub Option<T>);

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for MaybeJson<T> {
    type Rejection = ApiError;

    async fn from_request(
        req: axum::extract::Request,
        s: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let headers = req.headers().clone();
        let bytes = Bytes::from_request(req, s)
            .await
            .map_err(|e| ApiError(e.into_response()))?;
        if bytes.is_empty() {
            return Ok(MaybeJson(None));
        }
        body(&headers, &bytes)
            .map(|v| MaybeJson(Some(v)))
            .map_err(ApiError)
    }
}

fn created(value: Value) -> Response {
    no_store((StatusCode::CREATED, Json(value)).into_response())
}

/// `GET /admin/api/me`: who the token speaks for.
pub(crate) async fn me(Caller(c): Caller) -> ApiResult {
    Ok(ok(json!({
        "username": c.user.username,
        "roles": c.user.roles,
    })))
}

/// `GET /admin/api/users`.
pub(crate) async fn list_users(State(s): State<AppState>, _: Caller) -> ApiResult {
    Ok(ok(json!(provider(&s).list_users().await?)))
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
    Caller(c): Caller,
    ApiJson(req): ApiJson<CreateUser>,
) -> ApiResult {
    if !c.holds_any(&[ROLE_IAM_ADMIN]) {
        return Err(ApiError::forbidden(
            "creating accounts needs the iam_admin role",
        ));
    }
    let p = provider(&s);
    let user = p
        .create_user(crate::NewUser {
            username: req.username,
            email: req.email,
            name: req.name,
            roles: req.roles,
            password: None,
        })
        .await?;
    p.record_audit(
        &c.actor,
        "user.created",
        Some(&user.username),
        json!({ "roles": user.roles, "via": "admin_api" }),
    )
    .await
    .map_err(|e| ApiError(server_error(&e)))?;
    Ok(created(json!(user)))
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
    Caller(c): Caller,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<VerifyCaller>,
) -> ApiResult {
    let p = provider(&s);
    let matched = match (req.secret_word, req.send_code, req.code) {
        (Some(w), false, None) => p.verify_caller_secret_word(&c.actor, &username, &w).await?,
        (None, false, Some(code)) => p.verify_caller_code(&c.actor, &username, &code).await?,
        (None, true, None) => {
            p.send_caller_code(&c.actor, &username).await?;
            return Ok(ok(json!({ "code_sent": true })));
        }
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of secret_word, send_code or code",
            ));
        }
    };
    Ok(ok(json!({ "match": matched })))
}

/// `POST /admin/api/users/{username}/temporary-password`: shown once in the answer.
pub(crate) async fn temporary_password(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(username): Path<String>,
) -> ApiResult {
    let secret = provider(&s)
        .issue_temporary_password(&c.actor, &username)
        .await?;
    Ok(ok(json!({ "temporary_password": secret.secret() })))
}

/// `POST /admin/api/users/{username}/unlock`.
pub(crate) async fn unlock(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(username): Path<String>,
) -> ApiResult {
    provider(&s).unlock_account(&c.actor, &username).await?;
    Ok(ok(json!({ "unlocked": true })))
}

/// `POST /admin/api/users/{username}/disable`: sessions end at once.
pub(crate) async fn disable(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(username): Path<String>,
) -> ApiResult {
    let u = provider(&s)
        .set_account_disabled(&c.actor, &username, true)
        .await?;
    Ok(ok(json!(u)))
}

/// `POST /admin/api/users/{username}/enable`.
pub(crate) async fn enable(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(username): Path<String>,
) -> ApiResult {
    let u = provider(&s)
        .set_account_disabled(&c.actor, &username, false)
        .await?;
    Ok(ok(json!(u)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Roles {
    roles: Vec<String>,
}

/// `PUT /admin/api/users/{username}/roles`: `{"roles": [...]}` replaces the account's roles.
pub(crate) async fn set_roles(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(username): Path<String>,
    ApiJson(req): ApiJson<Roles>,
) -> ApiResult {
    let u = provider(&s)
        .set_roles(&c.actor, &username, req.roles)
        .await?;
    Ok(ok(json!(u)))
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
    Caller(c): Caller,
    Path(username): Path<String>,
    MaybeJson(req): MaybeJson<LostToken>,
) -> ApiResult {
    let hours = req.and_then(|r| r.hours);
    let code = provider(&s)
        .report_token_lost(&c.actor, &username, hours)
        .await?;
    Ok(ok(json!({ "emergency_passcode": code.secret() })))
}

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
}

/// `GET /admin/api/registrations?status=pending`.
pub(crate) async fn list_registrations(
    State(s): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult {
    if !c.holds_any(&[ROLE_ACCESS_ADMIN, ROLE_IAM_ADMIN]) {
        return Err(ApiError::forbidden(
            "registrations are for Access Administrators",
        ));
    }
    let list = provider(&s).list_registrations(q.status.as_deref()).await?;
    Ok(ok(json!(list)))
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
    Caller(c): Caller,
    ApiJson(req): ApiJson<SubmitRegistration>,
) -> ApiResult {
    let r = provider(&s)
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
        .await?;
    Ok(created(json!(r)))
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
    Caller(c): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Approve>,
) -> ApiResult {
    let choice = match (req.serial, req.soft) {
        (Some(serial), false) => crate::TokenChoice::Hardware { serial },
        (None, true) => crate::TokenChoice::Soft,
        _ => return Err(ApiError::bad_request("give either serial or soft: true")),
    };
    let a = provider(&s)
        .approve_registration(&c.actor, &id, &req.username, choice)
        .await?;
    let mut v = json!({
        "registration": a.registration,
        "user": a.user,
        "serial": a.serial,
    });
    if let Some(e) = &a.soft_token {
        v["activation_code"] = json!(e.activation_code.secret());
        v["activation_expires_at"] = json!(e.activation_expires_at.to_rfc3339());
    }
    Ok(ok(v))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reject {
    reason: String,
}

/// `POST /admin/api/registrations/{id}/reject`: `{"reason": …}`.
pub(crate) async fn reject_registration(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<Reject>,
) -> ApiResult {
    let r = provider(&s)
        .reject_registration(&c.actor, &id, &req.reason)
        .await?;
    Ok(ok(json!(r)))
}

#[derive(Deserialize)]
pub(crate) struct AuditQuery {
    since: Option<i64>,
    limit: Option<i64>,
}

/// `GET /admin/api/audit?since=SEQ&limit=N` (IAM administrators).
pub(crate) async fn audit(
    State(s): State<AppState>,
    Caller(c): Caller,
    Query(q): Query<AuditQuery>,
) -> ApiResult {
    if !c.holds_any(&[ROLE_IAM_ADMIN]) {
        return Err(ApiError::forbidden(
            "the audit log needs the iam_admin role",
        ));
    }
    let limit = q.limit.unwrap_or(100).clamp(0, crate::audit::MAX_LIST);
    Ok(ok(json!(provider(&s).audit_events(q.since, limit).await?)))
}

/// `GET /admin/api/audit/verify` (IAM administrators): the chain check's report.
pub(crate) async fn audit_verify(State(s): State<AppState>, Caller(c): Caller) -> ApiResult {
    if !c.holds_any(&[ROLE_IAM_ADMIN]) {
        return Err(ApiError::forbidden(
            "the audit log needs the iam_admin role",
        ));
    }
    Ok(ok(json!(provider(&s).verify_audit_log().await?)))
}

// ---------------------------------------------------------------------------------------------
// Clients: list, show, update, rotate the secret, delete, and initial access tokens for dynamic
// registration. Reading is for any staff; changes need iam_admin (the library checks).

/// `GET /admin/api/clients`.
pub(crate) async fn list_clients(State(s): State<AppState>, _: Caller) -> ApiResult {
    Ok(ok(json!(provider(&s).list_clients().await?)))
}

/// `GET /admin/api/clients/{client_id}`.
pub(crate) async fn get_client(
    State(s): State<AppState>,
    _: Caller,
    Path(client_id): Path<String>,
) -> ApiResult {
    Ok(ok(json!(provider(&s).client(&client_id).await?)))
}

/// `PATCH /admin/api/clients/{client_id}`: the fields of [`crate::ClientUpdate`] to change.
pub(crate) async fn update_client(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(client_id): Path<String>,
    ApiJson(req): ApiJson<crate::ClientUpdate>,
) -> ApiResult {
    let info = provider(&s)
        .update_client(&c.actor, &client_id, req)
        .await?;
    Ok(ok(json!(info)))
}

/// `POST /admin/api/clients/{client_id}/rotate-secret`: the new secret, shown once.
pub(crate) async fn rotate_client_secret(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(client_id): Path<String>,
) -> ApiResult {
    let secret = provider(&s)
        .rotate_client_secret(&c.actor, &client_id)
        .await?;
    Ok(ok(
        json!({ "client_id": client_id, "client_secret": secret.secret() }),
    ))
}

/// `DELETE /admin/api/clients/{client_id}`: 204; the client's tokens stop working.
pub(crate) async fn delete_client(
    State(s): State<AppState>,
    Caller(c): Caller,
    Path(client_id): Path<String>,
) -> ApiResult {
    provider(&s).delete_client(&c.actor, &client_id).await?;
    Ok(no_store(StatusCode::NO_CONTENT.into_response()))
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
    Caller(c): Caller,
    MaybeJson(req): MaybeJson<NewInitialToken>,
) -> ApiResult {
    let (ttl_secs, single_use) = req.map_or((None, None), |r| (r.ttl_secs, r.single_use));
    let ttl = std::time::Duration::from_secs(ttl_secs.unwrap_or(24 * 3600));
    let t = provider(&s)
        .create_initial_access_token(&c.actor, ttl, single_use.unwrap_or(true))
        .await?;
    Ok(created(json!({
        "initial_access_token": t.token.secret(),
        "id": t.id,
        "expires_at": t.expires_at.to_rfc3339(),
        "single_use": t.single_use,
    })))
}
