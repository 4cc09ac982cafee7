//! Authorization codes (RFC 6749 §4.1.2, §4.1.3): issued and redeemed each in one transaction
//! that re-checks what the code stands for (the session, the grant, the account, the client).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::{CodeGrant, claims_column, parse_claims_column, refresh};
use crate::accounts::Account;
use crate::error::Error;
use crate::fail;
use crate::ids::{ClientId, UserId};
use crate::secret::{Secret, digest, random_token};
use crate::sessions;
use crate::store::models::{AuthCodeRow, GrantRow, UserRow};
use crate::store::schema::{auth_codes, clients, grants, users};
use crate::store::{Db, DbConnection, naive, new_id, utc};

/// Why a code was not issued: the session, account or client changed since the request was
/// checked (found inside the issuing transaction, so nothing slips in after a revocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CodeRefused {
    /// The session ended (sign-out, a password change, a lock, …) or ran out.
    SessionEnded,
    /// The account is disabled, locked, without credentials, or owes a required action.
    AccountInactive,
    /// The client was disabled or deleted.
    ClientGone,
}

/// Does `scope` hold `offline_access` (OIDC Core §11)?
pub(crate) fn is_offline(scope: &str) -> bool {
    scope.split(' ').any(|s| s == "offline_access")
}

/// Is the account able to receive tokens now (inside the caller's transaction)?
pub(crate) fn account_active(
    conn: &mut DbConnection,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    Ok(active_account(conn, user_id, now)?.is_some())
}

pub(crate) fn client_enabled(conn: &mut DbConnection, client_id: &str) -> Result<bool, Error> {
    let disabled: Option<bool> = clients::table
        .find(client_id)
        .select(clients::disabled)
        .first(conn)
        .optional()?;
    Ok(disabled == Some(false))
}

/// Records a grant and its single-use code inside the caller's transaction, after holding the
/// session live (its row lock: see [`sessions::hold_live`]) and re-checking the account and the
/// client. `code` is the code's secret; only its digest is stored.
pub(crate) fn issue_code_in(
    conn: &mut DbConnection,
    g: &CodeGrant,
    code: &Secret,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<Result<(), CodeRefused>, Error> {
    let ttl = Duration::from_std(ttl).map_err(|e| Error::Config(e.to_string()))?;
    if !sessions::hold_live(conn, &g.session_id, now)? {
        return Ok(Err(CodeRefused::SessionEnded));
    }
    if !account_active(conn, g.user_id.as_str(), now)? {
        return Ok(Err(CodeRefused::AccountInactive));
    }
    if !client_enabled(conn, g.client_id.as_str())? {
        return Ok(Err(CodeRefused::ClientGone));
    }
    let grant = GrantRow {
        id: new_id(),
        client_id: g.client_id.to_string(),
        user_id: Some(g.user_id.to_string()),
        session_id: Some(g.session_id.clone()),
        scope: g.scope.clone(),
        created_at: naive(now),
        revoked_at: None,
        claims: claims_column(g.claims.as_ref())?,
        offline: is_offline(&g.scope),
    };
    diesel::insert_into(grants::table)
        .values(&grant)
        .execute(conn)?;
    diesel::insert_into(auth_codes::table)
        .values(&AuthCodeRow {
            code_hash: digest(code.secret()),
            grant_id: grant.id,
            client_id: g.client_id.to_string(),
            user_id: g.user_id.to_string(),
            session_id: g.session_id.clone(),
            redirect_uri: g.redirect_uri.clone(),
            scope: g.scope.clone(),
            nonce: g.nonce.clone(),
            code_challenge: g.code_challenge.clone(),
            auth_time: naive(g.auth_time),
            amr: g.amr.join(" "),
            acr: g.acr.clone(),
            created_at: naive(now),
            expires_at: naive(now + ttl),
            used_at: None,
        })
        .execute(conn)?;
    Ok(Ok(()))
}

/// Issues a code in a transaction of its own (see [`issue_code_in`]); returns the code.
pub(crate) async fn issue_code(
    db: &Db,
    g: CodeGrant,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<Result<Secret, CodeRefused>, Error> {
    let code = Secret::new(random_token()?);
    let c = code.clone();
    let issued = db
        .write(move |conn| issue_code_in(conn, &g, &c, now, ttl))
        .await?;
    Ok(issued.map(|()| code))
}

/// What a held grant carries on to the tokens it issues.
pub(crate) struct HeldGrant {
    /// Granted `offline_access`: outlives its session.
    pub offline: bool,
    /// The `claims` request, as stored.
    pub claims: Option<String>,
}

/// Holds a grant unrevoked for the rest of the caller's transaction (see
/// [`sessions::hold_live`]: `FOR SHARE` on PostgreSQL, the write transaction itself on SQLite)
/// and reads what it carries; `None` when it is revoked or gone.
pub(crate) fn hold_grant(
    conn: &mut DbConnection,
    grant_id: &str,
) -> Result<Option<HeldGrant>, Error> {
    let live = grants::table
        .find(grant_id)
        .filter(grants::revoked_at.is_null())
        .select((grants::offline, grants::claims));
    let found: Option<(bool, Option<String>)> = match conn {
        DbConnection::Postgresql(c) => live.for_share().first(c).optional()?,
        DbConnection::Sqlite(c) => live.first(c).optional()?,
    };
    Ok(found.map(|(offline, claims)| HeldGrant { offline, claims }))
}

/// The account behind a grant when it may still receive tokens (see
/// [`Account::may_sign_in`]).
pub(super) fn active_account(
    conn: &mut DbConnection,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<Option<Account>, Error> {
    let row: Option<UserRow> = users::table
        .find(user_id)
        .select(UserRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(Account::from).filter(|a| a.may_sign_in(now)))
}

/// The outcome of presenting a code.
#[derive(Debug)]
pub(crate) enum Redeemed {
    /// First use within its lifetime, its grant, session and account still in force: the grant
    /// it carries, the account, and (when the client gets one) the new refresh token.
    Fresh {
        grant: Box<CodeGrant>,
        user: Box<Account>,
        refresh_token: Option<Secret>,
    },
    /// Used before: the grant and every token it issued are now revoked (RFC 6749 §4.1.2).
    Replayed,
    /// Spent now, but its grant was revoked, its session ended or its account can no longer
    /// sign in since it was issued.
    Revoked,
    /// Presented by another client, with another redirect URI, or a wrong PKCE verifier: spent,
    /// and the reason.
    Mismatch(&'static str),
    /// Unknown or expired.
    Invalid,
}

/// What the token request says about the code (RFC 6749 §4.1.3, RFC 7636 §4.6).
pub(crate) struct CodeExchange<'a> {
    pub code: &'a Secret,
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub verifier: Option<&'a str>,
    /// When the client gets a refresh token; `None` when it may not use the grant at all.
    pub refresh_policy: Option<crate::clients::RefreshPolicy>,
    pub refresh_limits: refresh::Limits,
}

/// Redeems a code in one write transaction: the code is claimed with one conditional update (of
/// two concurrent redemptions exactly one wins), the request is matched against it, the grant
/// is held unrevoked, the session live and the account active, and the refresh token (if any)
/// is recorded. Signing happens after, outside the transaction.
pub(crate) async fn redeem_code(
    db: &Db,
    x: CodeExchange<'_>,
    now: DateTime<Utc>,
) -> Result<Redeemed, Error> {
    if x.code.secret().len() != 43 {
        return Ok(Redeemed::Invalid);
    }
    let hash = digest(x.code.secret());
    let client_id = x.client_id.to_string();
    let redirect_uri = x.redirect_uri.to_string();
    let verifier = x.verifier.map(str::to_string);
    let limits = x.refresh_limits;
    let policy = x.refresh_policy;
    db.write(move |conn| {
        let claimed = diesel::update(
            auth_codes::table
                .find(&hash)
                .filter(auth_codes::used_at.is_null())
                .filter(auth_codes::expires_at.gt(naive(now))),
        )
        .set(auth_codes::used_at.eq(naive(now)))
        .execute(conn)?;
        let row: Option<AuthCodeRow> = auth_codes::table
            .find(&hash)
            .select(AuthCodeRow::as_select())
            .first(conn)
            .optional()?;
        let Some(row) = row else { return Ok(Redeemed::Invalid) };
        if claimed != 1 {
            if row.used_at.is_some() {
                diesel::update(
                    grants::table
                        .find(&row.grant_id)
                        .filter(grants::revoked_at.is_null()),
                )
                .set(grants::revoked_at.eq(naive(now)))
                .execute(conn)?;
                tracing::warn!(client_id = %row.client_id, "authorization code replayed: its grant is revoked");
                return Ok(Redeemed::Replayed);
            }
            return Ok(Redeemed::Invalid);
        }
        fail::point("code.redeem:after_claim", &row.user_id)?;
        if row.client_id != client_id {
            return Ok(Redeemed::Mismatch(
                "the authorization code was issued to another client",
            ));
        }
        if row.redirect_uri != redirect_uri {
            return Ok(Redeemed::Mismatch(
                "redirect_uri does not match the authorization request",
            ));
        }
        match (&row.code_challenge, verifier.as_deref()) {
            (Some(challenge), Some(v)) if crate::protocol::pkce::verify_s256(v, challenge) => {}
            (Some(_), Some(_)) => {
                return Ok(Redeemed::Mismatch(
                    "code_verifier does not match the code_challenge",
                ));
            }
            (Some(_), None) => return Ok(Redeemed::Mismatch("code_verifier is required")),
            // RFC 9700 §4.8.2: a verifier without a challenge is a PKCE downgrade attempt.
            (None, Some(_)) => {
                return Ok(Redeemed::Mismatch(
                    "code_verifier sent but no code_challenge was",
                ));
            }
            (None, None) => {}
        }
        let Some(held) = hold_grant(conn, &row.grant_id)? else {
            return Ok(Redeemed::Revoked);
        };
        if !sessions::hold_live(conn, &row.session_id, now)? {
            return Ok(Redeemed::Revoked);
        }
        let Some(user) = active_account(conn, &row.user_id, now)? else {
            return Ok(Redeemed::Revoked);
        };
        let claims = held.claims;
        let grant = CodeGrant {
            grant_id: row.grant_id,
            client_id: ClientId::new(row.client_id),
            user_id: UserId::new(row.user_id),
            session_id: row.session_id,
            redirect_uri: row.redirect_uri,
            scope: row.scope,
            nonce: row.nonce,
            code_challenge: row.code_challenge,
            auth_time: utc(row.auth_time),
            amr: row.amr.split_whitespace().map(str::to_string).collect(),
            acr: row.acr,
            claims: parse_claims_column(claims),
        };
        let wants_refresh = match policy {
            None | Some(crate::clients::RefreshPolicy::Never) => false,
            Some(crate::clients::RefreshPolicy::Always) => true,
            Some(crate::clients::RefreshPolicy::OfflineAccess) => is_offline(&grant.scope),
        };
        let refresh_token = if wants_refresh {
            let refresh_token = Secret::new(random_token()?);
            let g = refresh::RefreshGrant::of(&grant);
            refresh::insert(conn, &g, refresh_token.secret(), now, limits)?;
            fail::point("code.redeem:after_refresh", grant.user_id.as_str())?;
            Some(refresh_token)
        } else {
            None
        };
        Ok(Redeemed::Fresh {
            grant: Box::new(grant),
            user: Box::new(user),
            refresh_token,
        })
    })
    .await
}
