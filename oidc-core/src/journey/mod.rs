//! The sign-in journey: one server-side state machine for every interactive flow.
//!
//! A journey row holds the pending authorization request, the account once identified, and the
//! steps still to do. It is bound to the browser that started it (a random browser key in a
//! cookie, stored as a digest) and carries its own CSRF token. Each step handler validates its form
//! and reports the step done; when no step is left the journey is finished exactly once (a
//! conditional update decides) and the authentication is complete.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::protocol::authorize::AuthRequest;
use crate::secret::{digest, random_token};
use crate::store::models::JourneyRow;
use crate::store::schema::journeys;
use crate::store::{Db, naive, new_id};

/// A step of a journey. The second factor and the required actions (password change, recovery
/// enrolment) and consent slot in here as later capabilities arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Step {
    /// Username and password.
    Password,
}

/// A journey in progress.
#[derive(Debug, Clone)]
pub(crate) struct Journey {
    pub id: String,
    pub csrf: String,
    pub request: AuthRequest,
    pub user_id: Option<String>,
    pub steps: Vec<Step>,
    pub amr: Vec<String>,
    steps_json: String,
}

impl Journey {
    /// The step to show now.
    pub(crate) fn current(&self) -> Option<Step> {
        self.steps.first().copied()
    }
}

fn from_row(row: JourneyRow) -> Result<Journey, Error> {
    let request: AuthRequest = serde_json::from_str(&row.request)
        .map_err(|e| Error::Internal(format!("journey request: {e}")))?;
    let steps: Vec<Step> = serde_json::from_str(&row.steps)
        .map_err(|e| Error::Internal(format!("journey steps: {e}")))?;
    Ok(Journey {
        id: row.id,
        csrf: row.csrf,
        request,
        user_id: row.user_id,
        steps,
        amr: row.amr.split_whitespace().map(str::to_string).collect(),
        steps_json: row.steps,
    })
}

/// Starts a journey for `request`, bound to the browser key.
pub(crate) async fn start(
    db: &Db,
    browser_key: &str,
    request: AuthRequest,
    steps: Vec<Step>,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<Journey, Error> {
    let ttl = Duration::from_std(ttl).map_err(|e| Error::Config(e.to_string()))?;
    let row = JourneyRow {
        id: new_id(),
        browser_hash: digest(browser_key),
        csrf: random_token()?,
        request: serde_json::to_string(&request).map_err(|e| Error::Internal(e.to_string()))?,
        user_id: None,
        steps: serde_json::to_string(&steps).map_err(|e| Error::Internal(e.to_string()))?,
        amr: String::new(),
        created_at: naive(now),
        expires_at: naive(now + ttl),
        finished_at: None,
    };
    let journey = from_row(row.clone())?;
    db.write(move |conn| {
        diesel::insert_into(journeys::table)
            .values(&row)
            .execute(conn)?;
        Ok(())
    })
    .await?;
    Ok(journey)
}

/// Loads a live journey, only for the browser that started it.
pub(crate) async fn load(
    db: &Db,
    id: &str,
    browser_key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Journey>, Error> {
    if id.len() > 64 {
        return Ok(None);
    }
    let id = id.to_string();
    let hash = digest(browser_key);
    let row = db
        .run(move |conn| {
            Ok(journeys::table
                .find(id)
                .filter(journeys::finished_at.is_null())
                .filter(journeys::expires_at.gt(naive(now)))
                .select(JourneyRow::as_select())
                .first(conn)
                .optional()?)
        })
        .await?;
    match row {
        Some(row) if crate::secret::ct_eq(row.browser_hash.as_bytes(), hash.as_bytes()) => {
            Ok(Some(from_row(row)?))
        }
        _ => Ok(None),
    }
}

/// Records the current step as done by `user_id` with the given `amr` values. Returns false when
/// another request completed the step first (a double submit): the caller then re-reads.
pub(crate) async fn complete_step(
    db: &Db,
    journey: &Journey,
    user_id: &str,
    amr: &[&str],
) -> Result<bool, Error> {
    let mut steps = journey.steps.clone();
    if !steps.is_empty() {
        steps.remove(0);
    }
    let mut all_amr = journey.amr.clone();
    for a in amr {
        if !all_amr.iter().any(|x| x == a) {
            all_amr.push((*a).to_string());
        }
    }
    let id = journey.id.clone();
    let old_steps = journey.steps_json.clone();
    let new_steps = serde_json::to_string(&steps).map_err(|e| Error::Internal(e.to_string()))?;
    let user_id = user_id.to_string();
    let amr = all_amr.join(" ");
    db.run(move |conn| {
        let n = diesel::update(
            journeys::table
                .find(id)
                .filter(journeys::steps.eq(old_steps))
                .filter(journeys::finished_at.is_null()),
        )
        .set((
            journeys::steps.eq(new_steps),
            journeys::user_id.eq(user_id),
            journeys::amr.eq(amr),
        ))
        .execute(conn)?;
        Ok(n == 1)
    })
    .await
}

/// Marks the journey finished. Exactly one caller gets `true`.
pub(crate) async fn finish(db: &Db, id: &str, now: DateTime<Utc>) -> Result<bool, Error> {
    let id = id.to_string();
    db.run(move |conn| {
        let n = diesel::update(
            journeys::table
                .find(id)
                .filter(journeys::finished_at.is_null()),
        )
        .set(journeys::finished_at.eq(naive(now)))
        .execute(conn)?;
        Ok(n == 1)
    })
    .await
}
