//! The tamper-evident audit log.
//!
//! Every entry carries `mac = HMAC-SHA-256(audit key, canonical(seq, at, actor, event, subject,
//! detail, prev_mac))`, where `prev_mac` is the MAC of the entry before it (`"genesis"` for the
//! first). The chain head, `meta('audit_head') = "SEQ:MAC"`, names the last entry. Editing,
//! deleting, reordering or appending rows without the key breaks the chain, and
//! [`Provider::verify_audit_log`](crate::Provider::verify_audit_log) finds the first broken link.
//!
//! Appending joins the transaction of the change it records ([`append`]): under the log's lock
//! (an advisory transaction lock on PostgreSQL, the write lock on SQLite) it reads the head,
//! computes the entry, and moves the head with `UPDATE meta SET value = NEW WHERE name =
//! 'audit_head' AND value = OLD` (an `INSERT` for the very first entry) before inserting the
//! entry. The lock keeps replicas from forking the chain; the compare-and-swap still refuses a
//! head moved by anything else, rolling the whole change back.

use std::fmt;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

use crate::error::Error;
use crate::secret::{b64url, ct_eq, hmac_sha256};
use crate::store::models::AuditRow;
use crate::store::schema::{audit_log, meta};
use crate::store::{Db, DbConnection, naive, new_id, utc};

/// The `meta` row that holds the chain head.
const HEAD: &str = "audit_head";
/// The `prev_mac` of the first entry.
const GENESIS: &str = "genesis";
/// Separates the MAC input of this format from any other use of the key.
const MAC_DOMAIN: &[u8] = b"oidc-core audit log v1\0";
/// Entries read per query while verifying.
const VERIFY_PAGE: i64 = 1000;
/// The most entries one [`list`] call returns.
pub(crate) const MAX_LIST: i64 = 1000;

/// Who did what the entry records.
///
/// Every administrative action names a human (an account, or the break-glass procedure);
/// sign-in events name the account concerned, or nobody when the username was unknown.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// An account, by username.
    User(String),
    /// Someone using the break-glass (emergency) access.
    BreakGlass,
    /// The provider itself (scheduled or automatic work).
    System,
    /// Nobody identified (for example a sign-in attempt for an unknown username).
    Anonymous,
}

impl fmt::Display for Actor {
    /// `user:NAME`, `break-glass`, `system` or `anonymous`, as stored in the log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(name) => write!(f, "user:{name}"),
            Actor::BreakGlass => f.write_str("break-glass"),
            Actor::System => f.write_str("system"),
            Actor::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// One entry of the audit log, as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// The position in the log, from 1, without gaps.
    pub seq: i64,
    /// When it was recorded (microsecond precision).
    pub at: DateTime<Utc>,
    /// Who: `user:NAME`, `break-glass`, `system` or `anonymous` (see [`Actor`]).
    pub actor: String,
    /// What, as a short dotted name (for example `user.created`).
    pub event: String,
    /// What it was done to (a username, a client id, a token serial), if anything.
    pub subject: Option<String>,
    /// Further facts, as recorded. Never secrets.
    pub detail: serde_json::Value,
}

/// The outcome of [`Provider::verify_audit_log`](crate::Provider::verify_audit_log).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    /// How many entries were checked: the whole log when it is intact, the entries up to the
    /// first broken one otherwise. Entries appended while verification ran are not counted.
    pub entries: i64,
    /// The sequence number of the first broken link (an altered, missing or out-of-place entry,
    /// or the entry the chain head disagrees with); `None` when the log is intact.
    pub first_broken: Option<i64>,
    /// What is wrong at `first_broken`.
    pub reason: Option<String>,
}

impl VerifyReport {
    /// Whether the log is intact.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

/// The chain head: the last entry's sequence number and MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Head {
    seq: i64,
    mac: String,
}

impl Head {
    fn parse(value: &str) -> Option<Head> {
        let (seq, mac) = value.split_once(':')?;
        let seq = seq.parse().ok()?;
        (seq > 0 && !mac.is_empty()).then(|| Head {
            seq,
            mac: mac.to_string(),
        })
    }

    fn encode(&self) -> String {
        format!("{}:{}", self.seq, self.mac)
    }
}

/// The timestamp as it enters the MAC: RFC 3339, microseconds, `Z`.
fn mac_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn push_field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// The entry's MAC: every field length-prefixed (so that no two entries share an encoding), the
/// subject tagged present or absent, the detail as the exact JSON text stored.
#[allow(clippy::too_many_arguments)]
fn entry_mac(
    key: &[u8; 32],
    seq: i64,
    at: DateTime<Utc>,
    actor: &str,
    event: &str,
    subject: Option<&str>,
    detail: &str,
    prev_mac: &str,
) -> Result<String, Error> {
    let mut input = Vec::with_capacity(
        MAC_DOMAIN.len() + 128 + actor.len() + event.len() + detail.len() + prev_mac.len(),
    );
    input.extend_from_slice(MAC_DOMAIN);
    push_field(&mut input, seq.to_string().as_bytes());
    push_field(&mut input, mac_time(at).as_bytes());
    push_field(&mut input, actor.as_bytes());
    push_field(&mut input, event.as_bytes());
    match subject {
        None => input.push(0),
        Some(s) => {
            input.push(1);
            push_field(&mut input, s.as_bytes());
        }
    }
    push_field(&mut input, detail.as_bytes());
    push_field(&mut input, prev_mac.as_bytes());
    Ok(b64url(&hmac_sha256(key, &input)?))
}

fn row_mac(key: &[u8; 32], row: &AuditRow) -> Result<String, Error> {
    entry_mac(
        key,
        row.seq,
        utc(row.at),
        &row.actor,
        &row.event,
        row.subject.as_deref(),
        &row.detail,
        &row.prev_mac,
    )
}

fn read_head(conn: &mut DbConnection) -> Result<Option<String>, Error> {
    Ok(meta::table
        .find(HEAD)
        .select(meta::value)
        .first::<String>(conn)
        .optional()?)
}

fn is_unique_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Serialises appenders on PostgreSQL for the rest of their transaction (SQLite's `BEGIN
/// IMMEDIATE` already does): the head is then read after the previous appender committed, so
/// the compare-and-swap below does not fail, even for the very first entry.
const AUDIT_LOCK_KEY: i64 = 0x01dc_a0d1;

/// Appends an entry inside the caller's write transaction, so that the change it records and
/// its entry commit (or roll back) together. Call it last in the transaction: it holds the log's
/// lock until the commit, and taking it last keeps lock order the same everywhere.
///
/// `detail` must never hold secrets (passwords, codes, seeds): the log is for reading.
///
/// # Errors
/// [`Error::Conflict`] if the head moved under the compare-and-swap (the lock makes that a
/// tampered or concurrent writer outside this code); the transaction must then roll back.
#[allow(clippy::too_many_arguments)]
pub(crate) fn append(
    conn: &mut DbConnection,
    key: &[u8; 32],
    now: DateTime<Utc>,
    actor: &Actor,
    event: &str,
    subject: Option<&str>,
    detail: &serde_json::Value,
) -> Result<i64, Error> {
    if event.trim().is_empty() {
        return Err(Error::InvalidInput("an audit event needs a name".into()));
    }
    if let DbConnection::Postgresql(pg) = conn {
        diesel::sql_query(format!("SELECT pg_advisory_xact_lock({AUDIT_LOCK_KEY})")).execute(pg)?;
    }
    // PostgreSQL keeps microseconds: the MAC must cover what reads back.
    let at = now.trunc_subsecs(6);
    let actor_s = actor.to_string();
    let detail_s = detail.to_string();
    let old = read_head(conn)?;
    let prev = match &old {
        None => None,
        Some(v) => Some(Head::parse(v).ok_or_else(|| {
            Error::Database(format!(
                "the audit log head {HEAD:?} is malformed: verify the audit log"
            ))
        })?),
    };
    let seq = prev.as_ref().map_or(1, |h| h.seq + 1);
    let prev_mac = prev.map_or_else(|| GENESIS.to_string(), |h| h.mac);
    let mac = entry_mac(key, seq, at, &actor_s, event, subject, &detail_s, &prev_mac)?;
    let new = Head {
        seq,
        mac: mac.clone(),
    }
    .encode();
    let swapped = match &old {
        Some(old) => diesel::update(
            meta::table
                .filter(meta::name.eq(HEAD))
                .filter(meta::value.eq(old)),
        )
        .set(meta::value.eq(&new))
        .execute(conn)?,
        None => diesel::insert_into(meta::table)
            .values((meta::name.eq(HEAD), meta::value.eq(&new)))
            .execute(conn)?,
    };
    if swapped != 1 {
        return Err(Error::Conflict("the audit log head moved".into()));
    }
    let row = AuditRow {
        id: new_id(),
        seq,
        at: naive(at),
        actor: actor_s,
        event: event.to_string(),
        subject: subject.map(str::to_string),
        detail: detail_s,
        prev_mac,
        mac,
    };
    match diesel::insert_into(audit_log::table)
        .values(&row)
        .execute(conn)
    {
        Ok(_) => {}
        // The head won the CAS, so no live writer holds this seq: the head and the entries
        // disagree (a deleted or rewritten head).
        Err(e) if is_unique_violation(&e) => {
            return Err(Error::Database(format!(
                "audit entry {seq} exists already: the chain head disagrees with the entries \
                 (verify the audit log)"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(
        target: "audit",
        seq,
        actor = %actor,
        event,
        subject = subject.unwrap_or("-"),
        "audit event"
    );
    Ok(seq)
}

/// Appends an entry in a transaction of its own: for events that record no change of their own
/// (a failed check, a sign-in). A change and its entry belong in one transaction: use [`append`].
pub(crate) async fn record(
    db: &Db,
    key: &[u8; 32],
    now: DateTime<Utc>,
    actor: &Actor,
    event: &str,
    subject: Option<&str>,
    detail: serde_json::Value,
) -> Result<(), Error> {
    let (key, actor, event, subject) = (
        *key,
        actor.clone(),
        event.to_string(),
        subject.map(str::to_string),
    );
    db.write(move |conn| append(conn, &key, now, &actor, &event, subject.as_deref(), &detail))
        .await?;
    Ok(())
}

fn event_of(row: AuditRow) -> AuditEvent {
    // A detail that is no longer JSON (tampering) is shown as the raw text rather than hidden.
    let detail = serde_json::from_str(&row.detail)
        .unwrap_or_else(|_| serde_json::Value::String(row.detail.clone()));
    AuditEvent {
        seq: row.seq,
        at: utc(row.at),
        actor: row.actor,
        event: row.event,
        subject: row.subject,
        detail,
    }
}

/// Up to `limit` entries (at most [`MAX_LIST`]) with `seq` greater than `since_seq`, oldest
/// first. `None` starts at the beginning.
pub(crate) async fn list(
    db: &Db,
    since_seq: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEvent>, Error> {
    if limit < 0 {
        return Err(Error::InvalidInput("limit must not be negative".into()));
    }
    let limit = limit.min(MAX_LIST);
    let after = since_seq.unwrap_or(0);
    let rows = db
        .run(move |conn| {
            Ok(audit_log::table
                .filter(audit_log::seq.gt(after))
                .order(audit_log::seq.asc())
                .limit(limit)
                .select(AuditRow::as_select())
                .load(conn)?)
        })
        .await?;
    Ok(rows.into_iter().map(event_of).collect())
}

fn broken(entries: i64, seq: i64, reason: String) -> VerifyReport {
    VerifyReport {
        entries,
        first_broken: Some(seq),
        reason: Some(reason),
    }
}

/// Walks the whole log in pages, recomputing every MAC and every link, and checks the head.
///
/// The head is read first and entries are checked up to it, so appends that run meanwhile are
/// neither checked nor mistaken for forgeries: an entry beyond the head is reported only if the
/// head, read again, still does not reach it.
pub(crate) async fn verify(db: &Db, key: &[u8; 32]) -> Result<VerifyReport, Error> {
    let head_value = db.run(read_head).await?;
    let head = head_value.as_deref().map(Head::parse);
    // Check up to the head; with no (usable) head, everything there is.
    let upper = match &head {
        Some(Some(h)) => h.seq,
        _ => i64::MAX,
    };
    let mut entries: i64 = 0;
    let mut last: Option<(i64, String)> = None;
    loop {
        let after = last.as_ref().map_or(0, |(s, _)| *s);
        let page = db
            .run(move |conn| {
                Ok(audit_log::table
                    .filter(audit_log::seq.gt(after))
                    .filter(audit_log::seq.le(upper))
                    .order(audit_log::seq.asc())
                    .limit(VERIFY_PAGE)
                    .select(AuditRow::as_select())
                    .load::<AuditRow>(conn)?)
            })
            .await?;
        let full = i64::try_from(page.len()).unwrap_or(i64::MAX) >= VERIFY_PAGE;
        for row in page {
            let expected = after_seq(&last) + 1;
            if row.seq != expected {
                return Ok(if row.seq > expected {
                    broken(
                        entries,
                        expected,
                        format!(
                            "entry {expected} is missing (the next entry is {})",
                            row.seq
                        ),
                    )
                } else {
                    broken(
                        entries,
                        row.seq,
                        format!("entry {} is out of sequence", row.seq),
                    )
                });
            }
            entries += 1;
            let mac = row_mac(key, &row)?;
            if !ct_eq(mac.as_bytes(), row.mac.as_bytes()) {
                return Ok(broken(
                    entries,
                    row.seq,
                    format!("entry {} was altered: its MAC does not match", row.seq),
                ));
            }
            let prev_mac = last.as_ref().map_or(GENESIS, |(_, m)| m.as_str());
            if !ct_eq(prev_mac.as_bytes(), row.prev_mac.as_bytes()) {
                return Ok(broken(
                    entries,
                    row.seq,
                    format!(
                        "entry {} does not follow entry {} (prev_mac differs)",
                        row.seq,
                        row.seq - 1
                    ),
                ));
            }
            last = Some((row.seq, row.mac));
        }
        if !full {
            break;
        }
    }
    let last_seq = after_seq(&last);
    match (head, &last) {
        (None, None) => {}
        (None, Some(_)) => {
            return Ok(broken(
                entries,
                last_seq,
                "the chain head is missing".into(),
            ));
        }
        (Some(None), _) => {
            return Ok(broken(
                entries,
                last_seq.max(1),
                "the chain head is malformed".into(),
            ));
        }
        (Some(Some(h)), _) if h.seq > last_seq => {
            return Ok(broken(
                entries,
                last_seq + 1,
                format!(
                    "the chain head names entry {} but the log ends at entry {last_seq}",
                    h.seq
                ),
            ));
        }
        (Some(Some(h)), Some((_, mac))) => {
            if !ct_eq(h.mac.as_bytes(), mac.as_bytes()) {
                return Ok(broken(
                    entries,
                    last_seq,
                    format!("the chain head does not match entry {last_seq}"),
                ));
            }
        }
        // h.seq >= 1 > last_seq: handled above.
        (Some(Some(_)), None) => {}
    }
    // Entries beyond the head: fine if they were appended meanwhile (the head then reaches
    // them, since an entry and its head commit together), forged otherwise.
    let (max_seq, head_now) = db
        .run(|conn| {
            let max: Option<i64> = audit_log::table
                .select(diesel::dsl::max(audit_log::seq))
                .first(conn)?;
            let head_now = read_head(conn)?;
            Ok((max, head_now))
        })
        .await?;
    if let Some(max_seq) = max_seq
        && max_seq > last_seq
    {
        let reached = head_now
            .as_deref()
            .and_then(Head::parse)
            .is_some_and(|h| h.seq >= max_seq);
        if !reached {
            return Ok(broken(
                entries,
                last_seq + 1,
                format!("entries after {last_seq} lie beyond the chain head"),
            ));
        }
    }
    Ok(VerifyReport {
        entries,
        first_broken: None,
        reason: None,
    })
}

fn after_seq(last: &Option<(i64, String)>) -> i64 {
    last.as_ref().map_or(0, |(s, _)| *s)
}

impl crate::Provider {
    /// Up to `limit` audit entries (capped at 1000) whose sequence number is greater than
    /// `since_seq`, oldest first; `None` starts at the first entry. Page through the log by
    /// passing the last `seq` seen.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a negative `limit`; [`Error::Database`] when the database
    /// fails.
    pub async fn audit_events(
        &self,
        since_seq: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEvent>, Error> {
        list(&self.inner.db, since_seq, limit).await
    }

    /// Checks the whole audit log against its MAC chain and head with the configured audit key,
    /// and reports the first broken link: an edited, deleted, reordered or forged entry, or a
    /// head that does not match the last entry. Reads the log in pages.
    ///
    /// # Errors
    /// [`Error::Database`] when the database fails (a broken chain is a report, not an error).
    pub async fn verify_audit_log(&self) -> Result<VerifyReport, Error> {
        verify(&self.inner.db, &self.inner.config.audit_key).await
    }

    /// Appends an entry to the audit log at the provider's current time, and logs actor, event
    /// and subject to the `audit` tracing target. `detail` must not hold secrets. Safe to call
    /// concurrently, from several replicas too: the entries get consecutive sequence numbers.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty event name; [`Error::Database`] when the database
    /// fails, when the stored head disagrees with the entries, or when concurrent writers kept
    /// winning for 20 attempts.
    pub async fn record_audit(
        &self,
        actor: &Actor,
        event: &str,
        subject: Option<&str>,
        detail: serde_json::Value,
    ) -> Result<(), Error> {
        record(
            &self.inner.db,
            &self.inner.config.audit_key,
            self.inner.clock.now(),
            actor,
            event,
            subject,
            detail,
        )
        .await
    }
}

#[cfg(test)]
mod tests;
