//! Refresh tokens (RFC 6749 §6) with rotation and reuse detection (RFC 9700 §4.14.2).
//!
//! A token is 256 random bits; the database keeps its SHA-256. Every use claims the token with one
//! conditional update (`used_at IS NULL`, unexpired, same client) and, in the same transaction,
//! issues its successor in the same family. The family is the grant: revoking the grant revokes
//! the family's refresh tokens and the access tokens it issued (they carry `gid`).
//!
//! A rotated token presented again is either a race or a lost response (within the grace period:
//! refused, nothing else happens, so the winner's new token keeps working) or a stolen token being
//! replayed (after it: the whole family is revoked and a security event is audited).

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use crate::error::Error;
use crate::fail;
use crate::ids::{ClientId, UserId};
use crate::protocol::scope::Scope;
use crate::secret::Secret;
use crate::secret::{digest, random_token};
use crate::sessions;
use crate::store::models::RefreshTokenRow;
use crate::store::schema::{grants, refresh_tokens};
use crate::store::{Db, DbConnection, naive, utc};

/// What a refresh token carries from the original sign-in.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub grant_id: String,
    pub client_id: ClientId,
    pub user_id: UserId,
    pub session_id: String,
    pub scope: String,
    pub auth_time: DateTime<Utc>,
    pub amr: Vec<String>,
    pub acr: Option<String>,
}

/// Lifetimes and the reuse grace period.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub idle: std::time::Duration,
    pub absolute: std::time::Duration,
    pub grace: std::time::Duration,
}

fn dur(d: std::time::Duration) -> Result<Duration, Error> {
    Duration::from_std(d).map_err(|e| Error::Config(e.to_string()))
}

fn row(
    g: &RefreshGrant,
    hash: String,
    now: DateTime<Utc>,
    idle: Duration,
    expires: DateTime<Utc>,
) -> RefreshTokenRow {
    RefreshTokenRow {
        token_hash: hash,
        grant_id: g.grant_id.clone(),
        client_id: g.client_id.to_string(),
        user_id: g.user_id.to_string(),
        session_id: g.session_id.clone(),
        scope: g.scope.clone(),
        auth_time: naive(g.auth_time),
        amr: g.amr.join(" "),
        acr: g.acr.clone(),
        created_at: naive(now),
        idle_expires_at: naive((now + idle).min(expires)),
        expires_at: naive(expires),
        used_at: None,
    }
}

impl RefreshGrant {
    /// What a code's grant passes on to its refresh tokens.
    pub(crate) fn of(g: &super::CodeGrant) -> RefreshGrant {
        RefreshGrant {
            grant_id: g.grant_id.clone(),
            client_id: g.client_id.clone(),
            user_id: g.user_id.clone(),
            session_id: g.session_id.clone(),
            scope: g.scope.clone(),
            auth_time: g.auth_time,
            amr: g.amr.clone(),
            acr: g.acr.clone(),
        }
    }
}

/// Starts a family inside the caller's transaction: the first refresh token of a grant, whose
/// secret is `token`.
pub(crate) fn insert(
    conn: &mut DbConnection,
    g: &RefreshGrant,
    token: &str,
    now: DateTime<Utc>,
    limits: Limits,
) -> Result<(), Error> {
    let r = row(
        g,
        digest(token),
        now,
        dur(limits.idle)?,
        now + dur(limits.absolute)?,
    );
    diesel::insert_into(refresh_tokens::table)
        .values(&r)
        .execute(conn)?;
    Ok(())
}

/// The outcome of presenting a refresh token.
#[derive(Debug)]
pub(crate) enum Rotated {
    /// First use, its grant, session and account still in force: the grant, the successor
    /// token (the only copy of its secret), the account, and the grant's `claims` request.
    Fresh {
        grant: Box<RefreshGrant>,
        successor: Secret,
        user: Box<crate::accounts::Account>,
        claims: Option<crate::protocol::authorize::ClaimsRequest>,
    },
    /// The requested scope is not within the token's (RFC 6749 §6): nothing was consumed.
    ScopeTooWide,
    /// A rotated token again, within the grace period: refused, nothing revoked.
    ReusedInGrace,
    /// A rotated token again, after the grace period: its family is now revoked.
    ReusedFamilyRevoked { grant_id: String, user_id: String },
    /// Unknown, expired, revoked, or issued to another client.
    Invalid,
}

/// Claims `token` for `client_id` and issues its successor, in one write transaction.
pub(crate) async fn rotate(
    db: &Db,
    token: &Secret,
    client_id: &str,
    requested_scope: Option<Scope>,
    now: DateTime<Utc>,
    limits: Limits,
) -> Result<Rotated, Error> {
    if token.secret().len() != 43 {
        return Ok(Rotated::Invalid);
    }
    let hash = digest(token.secret());
    let client = client_id.to_string();
    let successor = Secret::new(random_token()?);
    let successor_hash = digest(successor.secret());
    let idle = dur(limits.idle)?;
    let grace = dur(limits.grace)?;
    let outcome = db
        .write(move |conn| {
            let found: Option<RefreshTokenRow> = refresh_tokens::table
                .find(&hash)
                .select(RefreshTokenRow::as_select())
                .first(conn)
                .optional()?;
            let Some(current) = found else {
                return Ok(Rotated::Invalid);
            };
            if current.client_id != client {
                // RFC 6749 §6: the token is bound to its client; another client learns nothing.
                return Ok(Rotated::Invalid);
            }
            if let Some(wanted) = &requested_scope {
                // Written from a parsed scope: it parses again.
                let held = Scope::parse(&current.scope).unwrap_or_default();
                if !wanted.is_within(&held) {
                    return Ok(Rotated::ScopeTooWide);
                }
            }
            let claimed = diesel::update(
                refresh_tokens::table
                    .find(&hash)
                    .filter(refresh_tokens::used_at.is_null())
                    .filter(refresh_tokens::client_id.eq(&client))
                    .filter(refresh_tokens::expires_at.gt(naive(now)))
                    .filter(refresh_tokens::idle_expires_at.gt(naive(now))),
            )
            .set(refresh_tokens::used_at.eq(naive(now)))
            .execute(conn)?;
            if claimed == 1 {
                fail::point("refresh.rotate:after_claim", &current.user_id)?;
                // The grant held unrevoked, and for a grant without offline_access its session
                // live, and the account active: all re-checked here, where a revocation that
                // commits first is seen and one that comes later waits for this transaction.
                let Some(held) = super::hold_grant(conn, &current.grant_id)? else {
                    return Ok(Rotated::Invalid);
                };
                if !held.offline && !sessions::hold_live(conn, &current.session_id, now)? {
                    return Ok(Rotated::Invalid);
                }
                let Some(user) = super::code::active_account(conn, &current.user_id, now)? else {
                    return Ok(Rotated::Invalid);
                };
                let g = RefreshGrant {
                    grant_id: current.grant_id.clone(),
                    client_id: ClientId::new(current.client_id.clone()),
                    user_id: UserId::new(current.user_id.clone()),
                    session_id: current.session_id.clone(),
                    scope: current.scope.clone(),
                    auth_time: utc(current.auth_time),
                    amr: current.amr.split_whitespace().map(str::to_string).collect(),
                    acr: current.acr.clone(),
                };
                // The family's absolute end does not move; the idle window restarts.
                let next = row(
                    &g,
                    successor_hash.clone(),
                    now,
                    idle,
                    utc(current.expires_at),
                );
                diesel::insert_into(refresh_tokens::table)
                    .values(&next)
                    .execute(conn)?;
                fail::point("refresh.rotate:after_successor", &current.user_id)?;
                let claims = held.claims;
                return Ok(Rotated::Fresh {
                    grant: Box::new(g),
                    successor: successor.clone(),
                    user: Box::new(user),
                    claims: super::parse_claims_column(claims),
                });
            }
            let revoked: Option<Option<chrono::NaiveDateTime>> = grants::table
                .find(&current.grant_id)
                .select(grants::revoked_at)
                .first(conn)
                .optional()?;
            let grant_live = matches!(revoked, Some(None));
            let Some(used_at) = current.used_at else {
                return Ok(Rotated::Invalid); // expired
            };
            if !grant_live {
                return Ok(Rotated::Invalid);
            }
            if now - utc(used_at) <= grace {
                return Ok(Rotated::ReusedInGrace);
            }
            diesel::update(
                grants::table
                    .find(&current.grant_id)
                    .filter(grants::revoked_at.is_null()),
            )
            .set(grants::revoked_at.eq(naive(now)))
            .execute(conn)?;
            Ok(Rotated::ReusedFamilyRevoked {
                grant_id: current.grant_id,
                user_id: current.user_id,
            })
        })
        .await?;
    Ok(outcome)
}

/// A refresh token as introspection and revocation see it.
#[derive(Debug, Clone)]
pub(crate) struct RefreshInfo {
    pub grant_id: String,
    pub client_id: String,
    pub user_id: String,
    pub scope: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Unused, unexpired, and its grant not revoked.
    pub active: bool,
}

/// Looks a refresh token up without using it.
pub(crate) async fn lookup(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<RefreshInfo>, Error> {
    if token.len() != 43 {
        return Ok(None);
    }
    let hash = digest(token);
    db.run(move |conn| {
        let found: Option<(RefreshTokenRow, Option<chrono::NaiveDateTime>)> = refresh_tokens::table
            .inner_join(grants::table.on(grants::id.eq(refresh_tokens::grant_id)))
            .filter(refresh_tokens::token_hash.eq(&hash))
            .select((RefreshTokenRow::as_select(), grants::revoked_at))
            .first(conn)
            .optional()?;
        Ok(found.map(|(r, revoked)| {
            let n = naive(now);
            RefreshInfo {
                active: r.used_at.is_none()
                    && revoked.is_none()
                    && r.expires_at > n
                    && r.idle_expires_at > n,
                grant_id: r.grant_id,
                client_id: r.client_id,
                user_id: r.user_id,
                scope: r.scope,
                created_at: utc(r.created_at),
                expires_at: utc(r.idle_expires_at.min(r.expires_at)),
            }
        }))
    })
    .await
}
