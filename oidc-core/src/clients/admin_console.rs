//! The provider's own admin console client, created (or refreshed) at start.

use diesel::prelude::*;

use super::{ApplicationType, AuthMethod, RefreshPolicy};
use crate::error::Error;
use crate::store::models::ClientRow;
use crate::store::schema::clients;
use crate::store::{Db, naive};

/// The client id of the provider's own admin console: a public client (PKCE) that signs IAM
/// staff in to the admin pages and admin tools. It is the only client that may ask for the `admin`
/// scope; the provider creates it at start, so no one can register a look-alike.
pub const ADMIN_CONSOLE_ID: &str = "iam-admin-console";

/// Advisory lock that serialises the admin console's creation among replicas on PostgreSQL.
const ADMIN_CONSOLE_LOCK_KEY: i64 = 0x01dc_c04c;

/// Creates the admin console client, or refreshes its redirect URIs (the issuer may have moved).
/// Replicas may race at first start: the loser's insert fails on the primary key and it updates.
pub(crate) async fn ensure_admin_console(
    db: &Db,
    redirect_uris: Vec<String>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    let uris = redirect_uris.join("\n");
    db.write(move |conn| {
        // Replicas starting together on a new PostgreSQL database queue here (a failed insert
        // would abort PostgreSQL's transaction); SQLite's BEGIN IMMEDIATE already serialises.
        if let crate::store::DbConnection::Postgresql(pg) = conn {
            diesel::sql_query(format!(
                "SELECT pg_advisory_xact_lock({ADMIN_CONSOLE_LOCK_KEY})"
            ))
            .execute(pg)?;
        }
        let updated = diesel::update(clients::table.find(ADMIN_CONSOLE_ID))
            .set((
                clients::redirect_uris.eq(&uris),
                clients::is_public.eq(true),
                clients::pkce_required.eq(true),
                clients::mfa_required.eq(true),
                clients::first_party.eq(true),
            ))
            .execute(conn)?;
        if updated == 0 {
            // Another replica may insert it first: the primary key then says so, and its row is
            // the same as ours.
            let inserted = diesel::insert_into(clients::table)
                .values(&ClientRow {
                    id: ADMIN_CONSOLE_ID.into(),
                    name: "IAM admin console".into(),
                    secret_hash: None,
                    is_public: true,
                    first_party: true,
                    redirect_uris: uris.clone(),
                    post_logout_redirect_uris: String::new(),
                    pkce_required: true,
                    access_token_audience: None,
                    id_token_alg: None,
                    disabled: false,
                    created_at: naive(now),
                    mfa_required: true,
                    grant_types: "authorization_code refresh_token".into(),
                    scope: String::new(),
                    refresh_policy: RefreshPolicy::Never.as_str().into(),
                    application_type: ApplicationType::Native.as_str().into(),
                    token_endpoint_auth_method: AuthMethod::None.as_str().into(),
                    secret_sealed: None,
                    jwks: None,
                    jwks_uri: None,
                    backchannel_logout_uri: None,
                    backchannel_logout_session_required: false,
                    require_pushed_authorization_requests: false,
                    logo_uri: None,
                    client_uri: None,
                    policy_uri: None,
                    tos_uri: None,
                    contacts: String::new(),
                    registration_token_hash: None,
                    dynamic_registration: false,
                })
                .execute(conn);
            match inserted {
                Ok(_) => {}
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    })
    .await
}
