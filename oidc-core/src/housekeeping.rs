//! Housekeeping: expired rows are deleted in bounded batches, so that tables do not grow without
//! end, while what replay detection still needs is kept.
//!
//! | table | deleted when |
//! |---|---|
//! | `auth_codes` | unused and expired; used, once every token it issued has expired (`expires_at` + the longer of the ID and access token lifetimes), so that a replay until then still revokes its grant (RFC 6749 §4.1.2, RFC 9700 §4.2.4) |
//! | `grants` | no code or refresh token refers to it any more and every token it issued has expired |
//! | `sessions` | ended, past their absolute expiry, or idle longer than the idle limit |
//! | `journeys` | expired (finished ones too: a finished journey is kept until then so that a late double submit finds it finished, not missing) |
//! | `throttles` | untouched for two days (or the address window, if longer) and not blocking |
//! | `signing_keys` | removed: retired longer ago than the retire period |
//! | `pushed_requests` | expired (RFC 9126: used or not, a `request_uri` is worthless after its `expires_in`) |
//! | `client_assertions` | past the assertion's `exp` (a replay of it is refused by `exp` from then on) |
//! | `initial_access_tokens` | expired, or single-use and spent |
//! | `backchannel_deliveries` | delivered or given up more than a day ago |
//!
//! Each step deletes at most [`housekeeping_batch`](crate::ProviderConfigBuilder::housekeeping_batch)
//! rows per batch (select the keys of due rows `LIMIT n`, then `DELETE … WHERE key IN (…) AND`
//! the same condition), one short write transaction per batch, and yields between batches, so
//! that no statement holds locks for long. The `DELETE` repeats the condition: a row that stopped
//! being due in between is kept, and replicas purging at the same time only share the work.
//!
//! The caller-verification codes and emergency passcodes of the service desk are columns of
//! `users`, not rows: they are not touched here (each is refused once expired).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::config::ProviderConfig;
use crate::error::Error;
use crate::store::schema::{
    auth_codes, backchannel_deliveries, client_assertions, grants, initial_access_tokens, journeys,
    refresh_tokens, sessions, signing_keys, throttles,
};
use crate::store::{Db, DbConnection, naive};

/// Throttle rows this quiet are forgotten (a pair is reset after a day without failures).
const THROTTLE_FORGET_AFTER: Duration = Duration::from_secs(2 * 86400);

/// Finished back-channel logout deliveries are kept this long (for operators to look at).
const DELIVERY_KEEP: Duration = Duration::from_secs(86400);

/// What one purge deleted, by table.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PurgeReport {
    /// Rows deleted per table (every table purged is listed, with 0 when nothing was due).
    pub deleted: BTreeMap<String, u64>,
}

impl PurgeReport {
    /// Rows deleted from `table`.
    pub fn get(&self, table: &str) -> u64 {
        self.deleted.get(table).copied().unwrap_or(0)
    }

    /// Rows deleted in all.
    pub fn total(&self) -> u64 {
        self.deleted.values().sum()
    }
}

/// The instants the purge conditions compare with, computed once per purge.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cutoffs {
    /// Now.
    now: chrono::NaiveDateTime,
    /// A used code whose `expires_at` is before this issued only tokens that have expired.
    used_code_expired_before: chrono::NaiveDateTime,
    /// A grant created before this has no live token from its code (code lifetime + token
    /// lifetime ago).
    grant_created_before: chrono::NaiveDateTime,
    /// A session last seen before this is idle past the limit.
    session_seen_before: chrono::NaiveDateTime,
    /// A throttle row updated before this is forgotten.
    throttle_updated_before: chrono::NaiveDateTime,
    /// A key retired before this is removed.
    key_retired_before: chrono::NaiveDateTime,
    /// A back-channel logout delivery finished before this is forgotten.
    delivery_done_before: chrono::NaiveDateTime,
}

impl Cutoffs {
    pub(crate) fn new(config: &ProviderConfig, now: DateTime<Utc>) -> Result<Cutoffs, Error> {
        let d =
            |d: Duration| chrono::Duration::from_std(d).map_err(|e| Error::Config(e.to_string()));
        let token_ttl = d(config.access_token_ttl.max(config.id_token_ttl))?;
        Ok(Cutoffs {
            now: naive(now),
            used_code_expired_before: naive(now - token_ttl),
            grant_created_before: naive(now - d(config.code_ttl)? - token_ttl),
            session_seen_before: naive(now - d(config.session_idle)?),
            throttle_updated_before: naive(
                now - d(THROTTLE_FORGET_AFTER.max(config.address_window))?,
            ),
            key_retired_before: naive(now - d(config.key_retire_after)?),
            delivery_done_before: naive(now - d(DELIVERY_KEEP)?),
        })
    }
}

/// One purge step: deletes up to `limit` due rows of its table. Returns how many rows it looked
/// at (the loop goes on while that is `limit`) and how many it deleted. `cursor` carries a step's
/// position between batches when some due-looking rows must be kept (grants still referred to).
type BatchFn =
    fn(&mut DbConnection, &Cutoffs, i64, &mut Option<String>) -> Result<(usize, usize), Error>;

/// The purge, in order. Children before parents: codes (and refresh tokens) before the grants
/// they point to.
///
/// Refresh tokens go when their family's absolute expiry has passed (a rotated token is kept until
/// then: reuse detection needs it), or when unused and past their idle limit. The `grants` step
/// keeps every grant a refresh token still refers to.
const STEPS: &[(&str, BatchFn)] = &[
    ("auth_codes", auth_codes_batch),
    ("refresh_tokens", refresh_tokens_batch),
    ("grants", grants_batch),
    ("sessions", sessions_batch),
    ("journeys", journeys_batch),
    ("throttles", throttles_batch),
    ("signing_keys", signing_keys_batch),
    ("pushed_requests", pushed_requests_batch),
    ("client_assertions", client_assertions_batch),
    ("initial_access_tokens", initial_access_tokens_batch),
    ("backchannel_deliveries", backchannel_deliveries_batch),
];

/// Deletes up to `limit` rows of `$table` matching `$due`: selects their keys, then deletes those
/// rows with the condition repeated, so that a row that stopped being due in between is kept.
/// Evaluates to `(rows seen, rows deleted)`.
macro_rules! delete_due {
    ($conn:expr, $table:ident, $key:ident, $due:expr, $limit:expr) => {{
        let keys: Vec<String> = $table::table
            .select($table::$key)
            .filter($due)
            .limit($limit)
            .load($conn)?;
        if keys.is_empty() {
            return Ok((0, 0));
        }
        let n = diesel::delete(
            $table::table
                .filter($table::$key.eq_any(&keys))
                .filter($due),
        )
        .execute($conn)?;
        Ok((keys.len(), n))
    }};
}

// Each batch selects the keys of due rows, then deletes those rows with the condition repeated,
// so that a row that stopped being due in between is kept. (diesel cannot express a `DELETE`
// whose subquery reads the same table.)

fn auth_codes_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let due = auth_codes::used_at
        .is_null()
        .and(auth_codes::expires_at.le(c.now))
        .or(auth_codes::used_at
            .is_not_null()
            .and(auth_codes::expires_at.le(c.used_code_expired_before)));
    // Walk due codes in hash order: the ones kept below stay behind the cursor.
    let after = cursor.clone().unwrap_or_default();
    let rows: Vec<(String, String, Option<chrono::NaiveDateTime>)> = auth_codes::table
        .select((
            auth_codes::code_hash,
            auth_codes::grant_id,
            auth_codes::used_at,
        ))
        .filter(due)
        .filter(auth_codes::code_hash.gt(after))
        .order(auth_codes::code_hash.asc())
        .limit(limit)
        .load(conn)?;
    let Some(last) = rows.last() else {
        return Ok((0, 0));
    };
    *cursor = Some(last.0.clone());
    // A used code whose grant still has a refresh family stays: replaying it must still revoke
    // that family (RFC 6749 §4.1.2).
    let grant_ids: Vec<&String> = rows
        .iter()
        .filter(|r| r.2.is_some())
        .map(|r| &r.1)
        .collect();
    let live: HashSet<String> = if grant_ids.is_empty() {
        HashSet::new()
    } else {
        refresh_tokens::table
            .select(refresh_tokens::grant_id)
            .filter(refresh_tokens::grant_id.eq_any(grant_ids))
            .load::<String>(conn)?
            .into_iter()
            .collect()
    };
    let keys: Vec<&String> = rows
        .iter()
        .filter(|r| r.2.is_none() || !live.contains(&r.1))
        .map(|r| &r.0)
        .collect();
    if keys.is_empty() {
        return Ok((rows.len(), 0));
    }
    let n = diesel::delete(
        auth_codes::table
            .filter(auth_codes::code_hash.eq_any(keys))
            .filter(due),
    )
    .execute(conn)?;
    Ok((rows.len(), n))
}

fn refresh_tokens_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    _cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let due = refresh_tokens::expires_at
        .le(c.now)
        .or(refresh_tokens::used_at
            .is_null()
            .and(refresh_tokens::idle_expires_at.le(c.now)));
    delete_due!(conn, refresh_tokens, token_hash, due, limit)
}

fn grants_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let old = grants::created_at.le(c.grant_created_before);
    // Walk old grants in id order: the ones still referred to stay behind the cursor.
    let ids: Vec<String> = match cursor.as_deref() {
        Some(after) => grants::table
            .select(grants::id)
            .filter(old)
            .filter(grants::id.gt(after))
            .order(grants::id.asc())
            .limit(limit)
            .load(conn)?,
        None => grants::table
            .select(grants::id)
            .filter(old)
            .order(grants::id.asc())
            .limit(limit)
            .load(conn)?,
    };
    let Some(last) = ids.last() else {
        return Ok((0, 0));
    };
    *cursor = Some(last.clone());
    let mut referenced: HashSet<String> = auth_codes::table
        .select(auth_codes::grant_id)
        .filter(auth_codes::grant_id.eq_any(&ids))
        .load::<String>(conn)?
        .into_iter()
        .collect();
    // A refresh token keeps its grant (its family) for as long as the token row exists.
    referenced.extend(
        refresh_tokens::table
            .select(refresh_tokens::grant_id)
            .filter(refresh_tokens::grant_id.eq_any(&ids))
            .load::<String>(conn)?,
    );
    let free: Vec<&String> = ids.iter().filter(|id| !referenced.contains(*id)).collect();
    if free.is_empty() {
        return Ok((ids.len(), 0));
    }
    let n =
        diesel::delete(grants::table.filter(grants::id.eq_any(free)).filter(old)).execute(conn)?;
    Ok((ids.len(), n))
}

fn sessions_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    _cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let due = sessions::ended_at
        .is_not_null()
        .or(sessions::expires_at.le(c.now))
        .or(sessions::last_seen_at.le(c.session_seen_before));
    delete_due!(conn, sessions, id, due, limit)
}

fn journeys_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    _cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let due = journeys::expires_at.le(c.now);
    delete_due!(conn, journeys, id, due, limit)
}

fn throttles_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    _cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let due = throttles::updated_at.le(c.throttle_updated_before).and(
        throttles::blocked_until
            .is_null()
            .or(throttles::blocked_until.le(c.now)),
    );
    delete_due!(conn, throttles, key, due, limit)
}

fn pushed_requests_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    _cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    use crate::store::schema::pushed_requests;
    let due = pushed_requests::expires_at.le(c.now);
    delete_due!(conn, pushed_requests, id, due, limit)
}

fn signing_keys_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    _cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let due = signing_keys::retired_at.le(c.key_retired_before);
    delete_due!(conn, signing_keys, kid, due, limit)
}

fn client_assertions_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    _cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let due = client_assertions::expires_at.le(c.now);
    delete_due!(conn, client_assertions, jti_hash, due, limit)
}

fn initial_access_tokens_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    _cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let due = initial_access_tokens::expires_at
        .le(c.now)
        .or(initial_access_tokens::single_use
            .eq(true)
            .and(initial_access_tokens::used_at.is_not_null()));
    delete_due!(conn, initial_access_tokens, id, due, limit)
}

fn backchannel_deliveries_batch(
    conn: &mut DbConnection,
    c: &Cutoffs,
    limit: i64,
    _cursor: &mut Option<String>,
) -> Result<(usize, usize), Error> {
    let due = backchannel_deliveries::done_at.le(c.delivery_done_before);
    delete_due!(conn, backchannel_deliveries, id, due, limit)
}

/// Deletes every row due at `now`, batch by batch; returns the counts per table.
pub(crate) async fn purge_expired(
    db: &Db,
    config: &ProviderConfig,
    now: DateTime<Utc>,
) -> Result<PurgeReport, Error> {
    let cutoffs = Cutoffs::new(config, now)?;
    let limit = config.housekeeping_batch.max(1);
    let limit_sql = i64::try_from(limit).unwrap_or(500);
    let mut report = PurgeReport::default();
    for &(table, step) in STEPS {
        let mut total = 0u64;
        let mut cursor: Option<String> = None;
        loop {
            let (seen, deleted, next) = db
                .write(move |conn| {
                    let mut cursor = cursor;
                    let (seen, deleted) = step(conn, &cutoffs, limit_sql, &mut cursor)?;
                    Ok((seen, deleted, cursor))
                })
                .await?;
            total += deleted as u64;
            cursor = next;
            if seen < limit {
                break;
            }
            // Let requests waiting for a connection or the write lock go first.
            tokio::task::yield_now().await;
        }
        report.deleted.insert(table.to_string(), total);
    }
    if report.total() > 0 {
        tracing::info!(deleted = ?report.deleted, "purged expired rows");
    }
    Ok(report)
}
