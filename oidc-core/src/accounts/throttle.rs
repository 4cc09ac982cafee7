//! Sign-in throttling: failed passwords, passcodes and recovery answers are counted three ways.
//!
//! - Per (account, client address): after [`throttle_free_failures`] failures (default 5) each
//!   further failure blocks the pair for a delay that doubles from 1 s up to 60 s. A block is a
//!   time ("blocked until T"), never a sleep: an attempt inside it is refused without checking the
//!   credentials (the caller still spends a dummy argon2 hash, so that it costs the same time).
//!   A success from that address clears the pair; a day without failures forgets it.
//! - Per client address, across usernames known or not: at most [`address_failure_limit`]
//!   failures (default 100) per [`address_failure_window`] (default 15 min), then the address is
//!   blocked for the rest of the window (a rate limit against password spraying).
//! - Per account, from any address: the backstop lock after [`lockout_threshold`] consecutive
//!   failures (default 100, NIST SP 800-63B's ceiling), kept on the account row
//!   (`users.failed_attempts`, `users.locked_until`, see [`super::record_failure`]). The
//!   failure that starts a lock ends the account's sessions, is audited (`account.locked`) and
//!   mails the owner, once per lock.
//!
//! So a stranger who knows a username slows down only their own address: the account's owner
//! signs in from theirs. Throttled, locked, unknown and wrong all get the same answer.
//!
//! Every counter changes with single conditional statements (insert-if-missing, then
//! `failures = failures + 1` with `RETURNING`), never read-then-write, so that replicas sharing
//! one database count every failure. The check before an attempt is a plain read: concurrent
//! attempts that pass it together are all counted, but may exceed a limit by their number.
//!
//! [`throttle_free_failures`]: crate::ProviderConfigBuilder::throttle_free_failures
//! [`address_failure_limit`]: crate::ProviderConfigBuilder::address_failure_limit
//! [`address_failure_window`]: crate::ProviderConfigBuilder::address_failure_window
//! [`lockout_threshold`]: crate::ProviderConfigBuilder::lockout_threshold

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::Account;
use crate::error::Error;
use crate::provider::Inner;
use crate::store::models::ThrottleRow;
use crate::store::schema::throttles;
use crate::store::{Db, DbConnection, naive};

/// An (account, address) pair with no failure for this long starts again from zero.
const PAIR_FORGET_AFTER: Duration = Duration::from_secs(86400);

/// Rows untouched for this long are deleted now and then (see [`purge_now_and_then`]).
const PURGE_AFTER: Duration = Duration::from_secs(2 * 86400);

/// One sign-in attempt as throttling sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Attempt<'a> {
    /// The account, when the username names an enabled one.
    pub user: Option<&'a Account>,
    /// The username as typed (unknown usernames are throttled too, by name).
    pub username: &'a str,
    /// The client address; `None` when the server does not know it (see `http::client_addr`).
    pub address: Option<IpAddr>,
}

/// The key of an address: IPv4 as is; IPv6 by its /64 (one subscriber's usual allocation);
/// "unknown" without one.
pub(crate) fn address_key(address: Option<IpAddr>) -> String {
    match address.map(|a| a.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => ipnet::Ipv6Net::new(v6, 64)
            .map(|n| n.trunc().to_string())
            .unwrap_or_else(|_| v6.to_string()),
        None => "unknown".into(),
    }
}

impl Attempt<'_> {
    fn pair_key(&self) -> String {
        let who = match self.user {
            Some(u) => u.id.clone(),
            None => format!("?{}", super::normalize_username(self.username)),
        };
        format!("p:{who}|{}", address_key(self.address))
    }

    /// The per-address key; none for an unknown address, which would otherwise put every
    /// client of a server without connection information in one bucket.
    fn address_key(&self) -> Option<String> {
        match self.address {
            Some(_) => Some(format!("a:{}", address_key(self.address))),
            None => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "the client address is unknown (serve the router with \
                         into_make_service_with_connect_info::<SocketAddr>()): sign-in failures \
                         are not rate-limited per address"
                    );
                }
                None
            }
        }
    }
}

/// The per-pair prefix of an account's keys (all its addresses).
fn account_pairs_prefix(user_id: &str) -> String {
    format!("p:{user_id}|")
}

fn duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// The block after the `failures`-th failure of a pair, if any: none before `free`, then
/// `initial`, doubling with each failure, at most `max`.
pub(crate) fn pair_delay(
    failures: u32,
    free: u32,
    initial: Duration,
    max: Duration,
) -> Option<Duration> {
    let over = failures.checked_sub(free)?;
    let factor = 2u32.checked_pow(over).unwrap_or(u32::MAX);
    Some(initial.saturating_mul(factor).min(max))
}

/// Should this attempt be refused without checking its credentials? True while the account is
/// locked, the pair is blocked or the address is blocked (counted as a throttled sign-in).
pub(crate) async fn refused(
    s: &Inner,
    now: DateTime<Utc>,
    attempt: &Attempt<'_>,
) -> Result<bool, Error> {
    let refused = is_refused(&s.db, now, attempt).await?;
    if refused {
        s.metrics.signin(crate::metrics::SigninOutcome::Throttled);
    }
    Ok(refused)
}

async fn is_refused(db: &Db, now: DateTime<Utc>, attempt: &Attempt<'_>) -> Result<bool, Error> {
    if attempt.user.is_some_and(|u| u.is_locked(now)) {
        return Ok(true);
    }
    let pair = attempt.pair_key();
    let address = attempt.address_key();
    let now = naive(now);
    db.run(move |conn| {
        let other = address.unwrap_or_else(|| pair.clone());
        let blocked: Vec<Option<NaiveDateTime>> = throttles::table
            .filter(throttles::key.eq(pair).or(throttles::key.eq(other)))
            .filter(throttles::blocked_until.gt(now))
            .select(throttles::blocked_until)
            .load(conn)?;
        Ok(!blocked.is_empty())
    })
    .await
}

/// Counts a failed attempt (one that was checked and was wrong) for the pair, the address and
/// the account; a failure that locks the account tells its owner (see
/// [`super::count_account_failure`]).
pub(crate) async fn record_failure(s: &Inner, attempt: &Attempt<'_>) -> Result<(), Error> {
    s.metrics.signin(crate::metrics::SigninOutcome::Failure);
    let now = s.now();
    let config = &s.config;
    let pair = attempt.pair_key();
    let address = attempt.address_key();
    let (free, initial, max) = (
        config.pair_free_failures,
        config.pair_initial_delay,
        config.pair_max_delay,
    );
    let (limit, window) = (config.address_failure_limit, config.address_window);
    let user = attempt
        .user
        .map(|u| (u.id.clone(), u.username.clone(), u.email.clone()));
    let user_id = user.as_ref().map(|u| u.0.clone());
    let (audit_key, threshold, lock_for) = (
        config.audit_key,
        config.lockout_threshold,
        config.lockout_duration,
    );
    // The address counters, the account's counter and a lock it starts (with everything the
    // lock ends and its audit entry) commit together.
    let locked =
        s.db.write(move |conn| {
            count_pair(conn, &pair, now, free, initial, max)?;
            if let Some(key) = address {
                count_address(conn, &key, now, limit, window)?;
            }
            match user_id {
                Some(id) => {
                    let ctx = super::changes::Ctx {
                        audit_key: &audit_key,
                        actor: &crate::audit::Actor::System,
                        now,
                    };
                    super::changes::count_failure(conn, ctx, &id, threshold, lock_for)
                }
                None => Ok(None),
            }
        })
        .await?;
    if let (Some(until), Some((_, username, email))) = (locked, user) {
        s.metrics.lockout();
        super::tell_locked(s, &username, &email, until).await;
    }
    Ok(())
}

/// A success from this address: the pair starts again from zero, and so does the account's
/// consecutive count.
pub(crate) async fn record_success(
    db: &Db,
    user: &Account,
    address: Option<IpAddr>,
) -> Result<(), Error> {
    let key = Attempt {
        user: Some(user),
        username: &user.username,
        address,
    }
    .pair_key();
    db.run(move |conn| {
        diesel::delete(throttles::table.find(key)).execute(conn)?;
        Ok(())
    })
    .await?;
    super::record_success(db, &user.id).await
}

/// Forgets every pair of an account (the service desk's unlock), inside its transaction.
pub(crate) fn clear_account_in(conn: &mut DbConnection, user_id: &str) -> Result<(), Error> {
    let prefix = account_pairs_prefix(user_id);
    // User ids are UUIDs: no LIKE wildcards in the prefix.
    diesel::delete(throttles::table.filter(throttles::key.like(format!("{prefix}%"))))
        .execute(conn)?;
    Ok(())
}

/// Inserts the row with no failures unless it exists; true when this call created it.
fn ensure_row(conn: &mut DbConnection, key: &str, now: NaiveDateTime) -> Result<bool, Error> {
    let row = ThrottleRow {
        key: key.to_string(),
        failures: 0,
        window_start: now,
        blocked_until: None,
        updated_at: now,
    };
    // `ON CONFLICT DO NOTHING` does not go through the multi-backend connection: run it on the
    // backend's own (both speak it).
    let insert = diesel::insert_into(throttles::table)
        .values(&row)
        .on_conflict_do_nothing();
    let inserted = match conn {
        DbConnection::Postgresql(c) => insert.execute(c)?,
        DbConnection::Sqlite(c) => insert.execute(c)?,
    };
    Ok(inserted == 1)
}

/// Adds one failure and returns the new count with the row's window start.
fn increment(
    conn: &mut DbConnection,
    key: &str,
    now: NaiveDateTime,
) -> Result<(i32, NaiveDateTime), Error> {
    Ok(diesel::update(throttles::table.find(key))
        .set((
            throttles::failures.eq(throttles::failures + 1),
            throttles::updated_at.eq(now),
        ))
        .returning((throttles::failures, throttles::window_start))
        .get_result(conn)?)
}

fn count_pair(
    conn: &mut DbConnection,
    key: &str,
    now: DateTime<Utc>,
    free: u32,
    initial: Duration,
    max: Duration,
) -> Result<(), Error> {
    let at = naive(now);
    if ensure_row(conn, key, at)? {
        purge_now_and_then(conn, now)?;
    }
    // A pair quiet for a day starts again. The condition makes this a no-op for every
    // concurrent request but the first.
    let stale = naive(now - duration(PAIR_FORGET_AFTER));
    diesel::update(
        throttles::table
            .find(key)
            .filter(throttles::updated_at.lt(stale)),
    )
    .set((
        throttles::failures.eq(0),
        throttles::window_start.eq(at),
        throttles::blocked_until.eq(None::<NaiveDateTime>),
        throttles::updated_at.eq(at),
    ))
    .execute(conn)?;
    let (failures, _) = increment(conn, key, at)?;
    let failures = u32::try_from(failures).unwrap_or(0);
    if let Some(delay) = pair_delay(failures, free, initial, max) {
        // Only while the count is still ours: of two concurrent failures the later one's
        // (longer) block stands.
        diesel::update(
            throttles::table
                .find(key)
                .filter(throttles::failures.eq(i32::try_from(failures).unwrap_or(i32::MAX))),
        )
        .set(throttles::blocked_until.eq(Some(naive(now + duration(delay)))))
        .execute(conn)?;
        tracing::info!(
            failures,
            delay_secs = delay.as_secs_f64(),
            "sign-in throttled for an (account, address) pair"
        );
    }
    Ok(())
}

fn count_address(
    conn: &mut DbConnection,
    key: &str,
    now: DateTime<Utc>,
    limit: u32,
    window: Duration,
) -> Result<(), Error> {
    let at = naive(now);
    ensure_row(conn, key, at)?;
    // A new window once the old one is over; only the first concurrent request moves it.
    let expired = naive(now - duration(window));
    diesel::update(
        throttles::table
            .find(key)
            .filter(throttles::window_start.le(expired)),
    )
    .set((
        throttles::failures.eq(0),
        throttles::window_start.eq(at),
        throttles::blocked_until.eq(None::<NaiveDateTime>),
        throttles::updated_at.eq(at),
    ))
    .execute(conn)?;
    let (failures, window_start) = increment(conn, key, at)?;
    if u32::try_from(failures).unwrap_or(0) >= limit {
        let until = window_start + duration(window);
        let blocked = diesel::update(
            throttles::table
                .find(key)
                .filter(throttles::window_start.eq(window_start))
                .filter(throttles::blocked_until.is_null()),
        )
        .set(throttles::blocked_until.eq(Some(until)))
        .execute(conn)?;
        if blocked == 1 {
            tracing::warn!(address = %key, failures, "sign-in failures from one address reached the limit: blocked for the rest of the window");
        }
    }
    Ok(())
}

/// Deletes long-idle rows, on about one new row in 64, so that the table (which also holds
/// unknown usernames) does not grow without bound.
fn purge_now_and_then(conn: &mut DbConnection, now: DateTime<Utc>) -> Result<(), Error> {
    let dice = crate::secret::random_bytes(1)?;
    if dice.first().is_some_and(|b| b % 64 == 0) {
        let before = naive(now - duration(PURGE_AFTER));
        diesel::delete(throttles::table.filter(throttles::updated_at.lt(before))).execute(conn)?;
    }
    Ok(())
}

impl crate::Provider {
    /// The account's consecutive failed sign-ins (passwords, passcodes, recovery answers) from
    /// any address: the count the [backstop lock](crate::ProviderConfigBuilder::lockout_threshold)
    /// compares with. A success, an unlock or a temporary password clears it.
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn failure_count(&self, username: &str) -> Result<u32, Error> {
        let user = super::find_by_username(&self.inner.db, username)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("no user {:?}", super::normalize_username(username)))
            })?;
        Ok(u32::try_from(user.failed_attempts).unwrap_or(0))
    }

    /// Whether the account is locked now by the backstop (the service desk unlocks it with
    /// [`Provider::unlock_account`](crate::Provider::unlock_account)).
    ///
    /// # Errors
    /// [`Error::NotFound`] for an unknown username.
    pub async fn is_locked(&self, username: &str) -> Result<bool, Error> {
        let user = super::find_by_username(&self.inner.db, username)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!("no user {:?}", super::normalize_username(username)))
            })?;
        Ok(user.is_locked(self.inner.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_after_the_free_failures_up_to_the_cap() {
        let (one, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let delays: Vec<Option<u64>> = (1..=13)
            .map(|n| pair_delay(n, 5, one, max).map(|d| d.as_secs()))
            .collect();
        assert_eq!(
            delays,
            [
                None,
                None,
                None,
                None,
                Some(1),
                Some(2),
                Some(4),
                Some(8),
                Some(16),
                Some(32),
                Some(60),
                Some(60),
                Some(60)
            ]
        );
        assert_eq!(pair_delay(u32::MAX, 5, one, max), Some(max));
    }

    #[test]
    fn addresses_are_keyed_by_ipv4_and_ipv6_64() {
        assert_eq!(
            address_key(Some("203.0.113.7".parse().unwrap())),
            "203.0.113.7"
        );
        assert_eq!(
            address_key(Some("::ffff:203.0.113.7".parse().unwrap())),
            "203.0.113.7"
        );
        assert_eq!(
            address_key(Some("2001:db8:1:2:3:4:5:6".parse().unwrap())),
            "2001:db8:1:2::/64"
        );
        assert_eq!(address_key(None), "unknown");
    }
}
