//! Rotation: which algorithms are due, publishing a successor and retiring its predecessor,
//! and the list of keys with their states.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::rows::{bump_version, generate, lock_keys};
use super::{KeyInfo, KeySet, Times, phases};
use crate::config::SigningAlg;
use crate::error::Error;
use crate::store::models::SigningKeyRow;
use crate::store::schema::signing_keys;
use crate::store::{naive, utc};

/// A key newly published by a rotation.
#[derive(Debug, Clone)]
pub(crate) struct Published {
    pub kid: String,
    pub alg: SigningAlg,
    pub activates_at: DateTime<Utc>,
}

/// Why a rotation is asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trigger {
    /// By an operator: rotate unless a key is already waiting to sign.
    Request,
    /// By the schedule: rotate only where the active key has signed for the interval (less the
    /// publish delay, so that its successor takes over exactly at the end of the interval).
    Schedule(chrono::Duration),
}

impl KeySet {
    /// The algorithms due for a scheduled rotation now, judged on this replica's view (the
    /// rotation itself re-checks under the lock).
    pub(crate) fn due(
        &self,
        algs: &[SigningAlg],
        interval: chrono::Duration,
        publish_delay: chrono::Duration,
    ) -> Vec<SigningAlg> {
        let view = self.current();
        let now = self.clock.now();
        algs.iter()
            .copied()
            .filter(|alg| {
                let newest = view
                    .keys
                    .iter()
                    .filter(|k| k.times.alg == *alg)
                    .map(|k| k.times.activates_at)
                    .max();
                match newest {
                    None => true,
                    Some(a) => a <= now && a + interval - publish_delay <= now,
                }
            })
            .collect()
    }

    /// Publishes a new key for each of `algs` that needs one (see [`Trigger`]); it signs after
    /// `publish_delay`, and the key it succeeds retires then. Returns the keys published by this
    /// call: of concurrent calls (on any replica), exactly one publishes per algorithm.
    pub(crate) async fn rotate(
        &self,
        algs: &[SigningAlg],
        trigger: Trigger,
        publish_delay: chrono::Duration,
    ) -> Result<Vec<Published>, Error> {
        let Some(src) = &self.source else {
            return Err(Error::Internal("this key set has no database".into()));
        };
        if algs.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let activates_at = now + publish_delay;
        let kek = src.kek.clone();
        let wanted = algs.to_vec();
        // Key generation (RSA especially) is slow: done before the transaction, on the blocking
        // pool, and wasted only when another rotation wins.
        let fresh: Vec<(SigningAlg, SigningKeyRow)> = tokio::task::spawn_blocking(move || {
            wanted
                .into_iter()
                .map(|alg| Ok((alg, generate(alg, &kek, now, activates_at)?)))
                .collect::<Result<Vec<_>, Error>>()
        })
        .await??;
        let published = src
            .db
            .write(move |conn| {
                lock_keys(conn)?;
                let mut published = Vec::new();
                for (alg, mut row) in fresh {
                    let newest: Option<SigningKeyRow> = signing_keys::table
                        .filter(signing_keys::alg.eq(&row.alg))
                        .filter(signing_keys::retired_at.is_null())
                        .order(signing_keys::activates_at.desc())
                        .select(SigningKeyRow::as_select())
                        .first(conn)
                        .optional()?;
                    match &newest {
                        None => {
                            // No key in force at all (a newly configured algorithm): sign at once.
                            row.activates_at = naive(now);
                        }
                        Some(n) => {
                            let started = utc(n.activates_at);
                            if started > now {
                                continue; // a key is already waiting to sign
                            }
                            if let Trigger::Schedule(interval) = trigger
                                && started + interval - publish_delay > now
                            {
                                continue; // not due
                            }
                            // The claim: of concurrent rotations only one retires this key.
                            let claimed = diesel::update(
                                signing_keys::table
                                    .find(&n.kid)
                                    .filter(signing_keys::retired_at.is_null()),
                            )
                            .set(signing_keys::retired_at.eq(Some(row.activates_at)))
                            .execute(conn)?;
                            if claimed != 1 {
                                continue;
                            }
                        }
                    }
                    diesel::insert_into(signing_keys::table)
                        .values(&row)
                        .execute(conn)?;
                    published.push(Published {
                        kid: row.kid.clone(),
                        alg,
                        activates_at: utc(row.activates_at),
                    });
                }
                if !published.is_empty() {
                    bump_version(conn)?;
                }
                Ok(published)
            })
            .await?;
        for p in &published {
            tracing::info!(kid = %p.kid, alg = p.alg.as_str(), activates_at = %p.activates_at,
                "published a new signing key");
        }
        if !published.is_empty() {
            let _one_at_a_time = src.reload.lock().await;
            self.reload(src).await?;
        }
        Ok(published)
    }

    /// Every key row (removed ones until housekeeping deletes them), newest first per algorithm.
    pub(crate) async fn list(&self) -> Result<Vec<KeyInfo>, Error> {
        let Some(src) = &self.source else {
            return Ok(Vec::new());
        };
        let rows: Vec<(
            String,
            String,
            NaiveDateTime,
            NaiveDateTime,
            Option<NaiveDateTime>,
        )> = src
            .db
            .run(|conn| {
                Ok(signing_keys::table
                    .select((
                        signing_keys::kid,
                        signing_keys::alg,
                        signing_keys::created_at,
                        signing_keys::activates_at,
                        signing_keys::retired_at,
                    ))
                    .load(conn)?)
            })
            .await?;
        let rows: Vec<(String, Times)> = rows
            .into_iter()
            .filter_map(|(kid, alg, created, activates, retired)| {
                Some((
                    kid,
                    Times {
                        alg: SigningAlg::parse(&alg)?,
                        activates_at: utc(activates),
                        created_at: utc(created),
                        retired_at: retired.map(utc),
                    },
                ))
            })
            .collect();
        let times: Vec<Times> = rows.iter().map(|r| r.1).collect();
        let now = self.clock.now();
        let mut out: Vec<KeyInfo> = rows
            .iter()
            .zip(phases(&times, now, self.retire_after))
            .map(|((kid, t), p)| KeyInfo {
                kid: kid.clone(),
                alg: t.alg,
                state: p.state,
                published_at: t.created_at,
                activates_at: t.activates_at,
                retired_at: p.retired,
                removed_at: p.removed,
            })
            .collect();
        out.sort_by(|a, b| {
            let pos = |x: SigningAlg| SigningAlg::ALL.iter().position(|a| *a == x);
            pos(a.alg)
                .cmp(&pos(b.alg))
                .then(b.activates_at.cmp(&a.activates_at))
        });
        Ok(out)
    }
}
