//! Rows as diesel reads and writes them. Domain code converts these at the module boundary.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::*;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub id: String,
    pub subject: String,
    pub username: String,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub roles: String,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub failed_attempts: i32,
    pub locked_until: Option<NaiveDateTime>,
    pub password_temporary: bool,
    pub password_expires_at: Option<NaiveDateTime>,
    pub secret_word_hash: Option<String>,
    pub recovery_answers: Option<String>,
    pub emergency_hash: Option<String>,
    pub emergency_expires_at: Option<NaiveDateTime>,
    pub caller_code_hash: Option<String>,
    pub caller_code_expires_at: Option<NaiveDateTime>,
    pub caller_verified_by: Option<String>,
    pub caller_verified_at: Option<NaiveDateTime>,
    /// What the account still owes before a sign-in may finish (see `accounts::RequiredAction`).
    pub required_actions: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = clients)]
// A changeset replaces the whole row (RFC 7592 §2.2 replaces metadata): None clears a column.
#[diesel(treat_none_as_null = true)]
pub(crate) struct ClientRow {
    pub id: String,
    pub name: String,
    pub secret_hash: Option<String>,
    pub is_public: bool,
    pub first_party: bool,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub pkce_required: bool,
    pub access_token_audience: Option<String>,
    pub id_token_alg: Option<String>,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    pub mfa_required: bool,
    pub grant_types: String,
    pub scope: String,
    pub refresh_policy: String,
    pub application_type: String,
    pub token_endpoint_auth_method: String,
    /// A `client_secret_jwt` client's secret, sealed under the key-encryption key.
    pub secret_sealed: Option<Vec<u8>>,
    /// The client's JWK Set by value (JSON), for `private_key_jwt`.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub backchannel_logout_session_required: bool,
    pub require_pushed_authorization_requests: bool,
    pub logo_uri: Option<String>,
    pub client_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub tos_uri: Option<String>,
    /// Newline-separated.
    pub contacts: String,
    /// SHA-256 digest of the RFC 7592 registration access token.
    pub registration_token_hash: Option<String>,
    pub dynamic_registration: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = initial_access_tokens)]
pub(crate) struct InitialAccessTokenRow {
    pub id: String,
    pub token_hash: String,
    pub created_by: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub single_use: bool,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = signing_keys)]
pub(crate) struct SigningKeyRow {
    pub kid: String,
    pub alg: String,
    pub private_key: Vec<u8>,
    pub public_jwk: String,
    /// When the key was published (in JWKS, verifying).
    pub created_at: NaiveDateTime,
    /// When it stops signing (its successor's `activates_at`); it leaves JWKS a retire period
    /// later.
    pub retired_at: Option<NaiveDateTime>,
    /// When it starts signing: `created_at` plus the publish delay (at once for the first key).
    pub activates_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionRow {
    pub id: String,
    pub secret_hash: String,
    pub user_id: String,
    pub auth_time: NaiveDateTime,
    pub amr: String,
    pub acr: Option<String>,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub ended_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = journeys)]
pub(crate) struct JourneyRow {
    pub id: String,
    pub browser_hash: String,
    pub csrf: String,
    pub request: String,
    pub user_id: Option<String>,
    pub steps: String,
    pub amr: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub finished_at: Option<NaiveDateTime>,
    pub password_ok: bool,
    pub claimed_username: Option<String>,
    pub factor_state: Option<String>,
    pub acr: Option<String>,
    pub version: i32,
    pub held_passcode: Option<String>,
    pub portal: bool,
    pub return_to: Option<String>,
    /// The session a consent or account-selection journey answers with (no new sign-in).
    pub session_id: Option<String>,
    /// The person allowed the request on this journey's consent page.
    pub consented: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = grants)]
pub(crate) struct GrantRow {
    pub id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub scope: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    /// The request's `claims` parameter (JSON), for the ID token and userinfo.
    pub claims: Option<String>,
    /// Granted `offline_access`: outlives the session it came from (OIDC Core §11).
    pub offline: bool,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = auth_codes)]
pub(crate) struct AuthCodeRow {
    pub code_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: String,
    pub redirect_uri: String,
    pub scope: String,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub auth_time: NaiveDateTime,
    pub amr: String,
    pub acr: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = otp_tokens)]
pub(crate) struct OtpTokenRow {
    pub id: String,
    pub serial: String,
    pub kind: String,
    pub factor: String,
    pub user_id: Option<String>,
    pub state: String,
    pub secret: Vec<u8>,
    pub algorithm: String,
    pub digits: i32,
    pub period: i32,
    pub pin_hash: Option<String>,
    pub drift: i32,
    pub last_step: Option<i64>,
    pub failures: i32,
    pub next_code_mode: bool,
    pub activation_hash: Option<String>,
    pub activation_expires_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
    pub activated_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_log)]
pub(crate) struct AuditRow {
    pub id: String,
    pub seq: i64,
    pub at: NaiveDateTime,
    pub actor: String,
    pub event: String,
    pub subject: Option<String>,
    pub detail: String,
    pub prev_mac: String,
    pub mac: String,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = password_history)]
pub(crate) struct PasswordHistoryRow {
    pub id: String,
    pub user_id: String,
    pub password_hash: String,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = throttles)]
pub(crate) struct ThrottleRow {
    pub key: String,
    pub failures: i32,
    pub window_start: NaiveDateTime,
    pub blocked_until: Option<NaiveDateTime>,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = registrations)]
pub(crate) struct RegistrationRow {
    pub id: String,
    pub legal_name: String,
    pub email: String,
    pub clinic: String,
    pub practitioner_id: String,
    pub role_requested: String,
    pub username: Option<String>,
    pub status: String,
    pub submitted_by: String,
    pub decided_by: Option<String>,
    pub reason: Option<String>,
    pub created_at: NaiveDateTime,
    pub decided_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub(crate) struct RefreshTokenRow {
    pub token_hash: String,
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: String,
    pub scope: String,
    pub auth_time: NaiveDateTime,
    pub amr: String,
    pub acr: Option<String>,
    pub created_at: NaiveDateTime,
    pub idle_expires_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = consents)]
pub(crate) struct ConsentRow {
    pub user_id: String,
    pub client_id: String,
    pub scopes: String,
    pub claims: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

/// The jti of an accepted client assertion (RFC 7523 §3 item 7), kept until it expires.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = client_assertions)]
pub(crate) struct ClientAssertionRow {
    pub jti_hash: String,
    pub client_id: String,
    pub expires_at: NaiveDateTime,
}

/// A logout token to deliver (OpenID Connect Back-Channel Logout 1.0 §2.5).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = backchannel_deliveries)]
pub(crate) struct BackchannelDeliveryRow {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub session_id: Option<String>,
    pub created_at: NaiveDateTime,
    pub next_attempt_at: NaiveDateTime,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub done_at: Option<NaiveDateTime>,
    pub outcome: Option<String>,
}

/// A pushed authorization request (RFC 9126 §2), until its `request_uri` is used or expires.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = pushed_requests)]
pub(crate) struct PushedRequestRow {
    pub id: String,
    pub client_id: String,
    pub params: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}
