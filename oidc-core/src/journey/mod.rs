//! The sign-in journey: one server-side state machine for every interactive flow.
//!
//! A journey row holds the pending authorization request, the account once identified, and the
//! steps still to do. It is bound to the browser that started it (a random browser key in a
//! cookie, stored as a digest) and carries its own CSRF token. Every change is an optimistic
//! update on the row's `version`, so a double submit or two tabs cannot both advance it; the
//! journey is finished exactly once.

pub(crate) mod complete;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::protocol::authorize::AuthRequest;
use crate::secret::{digest, random_token};
use crate::store::models::JourneyRow;
use crate::store::schema::journeys;
use crate::store::{Db, DbConnection, naive, new_id};

/// A step of a journey. Required actions (password change, recovery enrolment) and consent slot
/// in here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Step {
    /// Username and password.
    Password,
    /// The account's second factor (passcode).
    SecondFactor,
    /// Portal page 1: username and token passcode (held until the password is checked).
    PortalPasscode,
    /// Portal page 2: username and the temporary password; both factors are checked here.
    PortalPassword,
    /// A required action: a new password (after a temporary one).
    ChangePassword,
    /// "Update / Change your password": username, current password and passcode together.
    ChangeIdentify,
    /// "Forgot your password?" page 1: username and passcode (held).
    ForgotIdentify,
    /// "Forgot your password?" page 2: the secret word and two fixed challenge questions; every
    /// factor is checked here.
    ForgotAnswers,
    /// A required action, page 4 of the activation: the secret word. Only its hash is kept, in
    /// the journey, until the questions are answered too.
    EnrollSecretWord,
    /// A required action, page 5: five distinct challenge questions, each answered; the secret
    /// word and the answers are then stored together.
    EnrollQuestions,
    /// The temporary password was right but has expired: the page says whom to call.
    PasswordExpired,
    /// A third-party client (or `prompt=consent`): the person allows or denies what the client
    /// asks for (OIDC Core §3.1.2.4). Queued when every other step is done.
    Consent,
    /// `prompt=select_account` with a session: continue as the signed-in account, or sign in
    /// with another.
    SelectAccount,
}

/// A journey that answers with a session the browser already has (consent or account selection
/// without a new sign-in).
#[derive(Debug, Clone)]
pub(crate) struct SessionLink {
    /// The session.
    pub session_id: String,
    /// Its account.
    pub user_id: String,
}

/// The recovery enrolment, as queued after a password step.
pub(crate) const ENROL_RECOVERY: [Step; 2] = [Step::EnrollSecretWord, Step::EnrollQuestions];

/// The single step that asked for the secret word and the questions on one page, as journeys
/// saved before the two pages existed name it.
const LEGACY_ENROLL_RECOVERY: &str = "EnrollRecovery";

/// `journeys.factor_state` holds a factor's pending challenge or, between the two recovery
/// pages, the secret word's hash behind this prefix: never both, since the passcode step is over
/// before any required action starts. (A challenge is JSON, so it never starts with it.)
const SECRET_WORD_PREFIX: &str = "secret-word:";

/// A journey in progress.
#[derive(Debug, Clone)]
pub(crate) struct Journey {
    pub id: String,
    pub csrf: String,
    /// The pending authorization request; `None` for a portal task (first-time activation).
    pub request: Option<AuthRequest>,
    /// The portal's passcode, held for seconds until the password is checked.
    pub held_passcode: Option<String>,
    /// The sign-in journey to go back to when this portal task is done.
    pub return_to: Option<String>,
    /// The account, once the password step has named one that exists.
    pub user_id: Option<String>,
    pub steps: Vec<Step>,
    pub amr: Vec<String>,
    /// Whether the password was right. The passcode page follows a wrong password too, so that
    /// it reveals nothing; this flag then makes the passcode step fail whatever is typed.
    pub password_ok: bool,
    /// The username as typed (normalised), to derive the masked address shown for it.
    pub claimed_username: Option<String>,
    /// A factor's pending challenge (next tokencode, new PIN).
    pub factor_state: Option<String>,
    /// The `acr` earned so far.
    pub acr: Option<String>,
    /// The secret word's argon2id hash, between the secret word page and the questions page:
    /// the account's recovery data is written only when both are done.
    pub secret_word_hash: Option<String>,
    /// The session this journey answers with instead of a new sign-in.
    pub session_id: Option<String>,
    /// The person allowed the request on this journey's consent page.
    pub consented: bool,
    version: i32,
}

impl Journey {
    /// The version of the journey's state; forms carry it so that a stale submit is recognised.
    pub(crate) fn version(&self) -> i32 {
        self.version
    }

    /// The value of a form's hidden `csrf` field: the CSRF token and the version rendered.
    pub(crate) fn form_token(&self) -> String {
        format!("{}.{}", self.csrf, self.version)
    }

    /// The step to show now.
    pub(crate) fn current(&self) -> Option<Step> {
        self.steps.first().copied()
    }

    /// The steps a fresh attempt goes through: a failed passcode sends the person back here.
    pub(crate) fn restart(&mut self, steps: Vec<Step>) {
        self.steps = steps;
        self.user_id = None;
        self.amr.clear();
        self.password_ok = false;
        self.claimed_username = None;
        self.factor_state = None;
        self.acr = None;
        self.secret_word_hash = None;
    }

    /// Marks the current step done.
    pub(crate) fn advance(&mut self) {
        if !self.steps.is_empty() {
            self.steps.remove(0);
        }
    }

    /// Adds `amr` values, without duplicates.
    pub(crate) fn add_amr(&mut self, values: &[String]) {
        for v in values {
            if !self.amr.contains(v) {
                self.amr.push(v.clone());
            }
        }
    }
}

/// Reads the stored steps. The old one-page enrolment becomes the two pages; and the questions
/// page is never current without a secret word (the word page comes back first), so that no
/// half-entered recovery data can be written.
fn parse_steps(stored: &str, has_word: bool) -> Result<Vec<Step>, Error> {
    let raw: Vec<serde_json::Value> =
        serde_json::from_str(stored).map_err(|e| Error::Internal(format!("journey steps: {e}")))?;
    let mut steps = Vec::with_capacity(raw.len() + 1);
    for v in raw {
        if v.as_str() == Some(LEGACY_ENROLL_RECOVERY) {
            steps.extend(ENROL_RECOVERY);
        } else {
            steps.push(
                serde_json::from_value(v)
                    .map_err(|e| Error::Internal(format!("journey steps: {e}")))?,
            );
        }
    }
    if steps.first() == Some(&Step::EnrollQuestions) && !has_word {
        steps.insert(0, Step::EnrollSecretWord);
    }
    Ok(steps)
}

/// Splits the `factor_state` column into the factor's challenge and the secret word's hash.
fn split_state(column: Option<String>) -> (Option<String>, Option<String>) {
    match column {
        Some(v) => match v.strip_prefix(SECRET_WORD_PREFIX) {
            Some(hash) => (None, Some(hash.to_string())),
            None => (Some(v), None),
        },
        None => (None, None),
    }
}

/// The `factor_state` column for a journey (see [`SECRET_WORD_PREFIX`]).
fn state_column(j: &Journey) -> Result<Option<String>, Error> {
    match (&j.factor_state, &j.secret_word_hash) {
        (Some(_), Some(_)) => Err(Error::Internal(
            "a journey cannot hold a factor challenge and a secret word at once".into(),
        )),
        (Some(f), None) => Ok(Some(f.clone())),
        (None, Some(h)) => Ok(Some(format!("{SECRET_WORD_PREFIX}{h}"))),
        (None, None) => Ok(None),
    }
}

fn from_row(row: JourneyRow) -> Result<Journey, Error> {
    let request: Option<AuthRequest> = serde_json::from_str(&row.request)
        .map_err(|e| Error::Internal(format!("journey request: {e}")))?;
    let (factor_state, secret_word_hash) = split_state(row.factor_state);
    let steps = parse_steps(&row.steps, secret_word_hash.is_some())?;
    Ok(Journey {
        id: row.id,
        csrf: row.csrf,
        request,
        user_id: row.user_id,
        steps,
        amr: row.amr.split_whitespace().map(str::to_string).collect(),
        password_ok: row.password_ok,
        claimed_username: row.claimed_username,
        factor_state,
        acr: row.acr,
        secret_word_hash,
        version: row.version,
        held_passcode: row.held_passcode,
        return_to: row.return_to,
        session_id: row.session_id,
        consented: row.consented,
    })
}

/// Starts a journey for `request`, bound to the browser key; with `session`, one that answers
/// with that session (its account is known, no password step).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn start(
    db: &Db,
    browser_key: &str,
    request: Option<AuthRequest>,
    steps: Vec<Step>,
    return_to: Option<String>,
    session: Option<SessionLink>,
    now: DateTime<Utc>,
    ttl: std::time::Duration,
) -> Result<Journey, Error> {
    let ttl = Duration::from_std(ttl).map_err(|e| Error::Config(e.to_string()))?;
    let request_is_none = request.is_none();
    let row = JourneyRow {
        id: new_id(),
        browser_hash: digest(browser_key),
        csrf: random_token()?,
        request: serde_json::to_string(&request).map_err(|e| Error::Internal(e.to_string()))?,
        user_id: session.as_ref().map(|l| l.user_id.clone()),
        steps: serde_json::to_string(&steps).map_err(|e| Error::Internal(e.to_string()))?,
        amr: String::new(),
        created_at: naive(now),
        expires_at: naive(now + ttl),
        finished_at: None,
        password_ok: false,
        claimed_username: None,
        factor_state: None,
        acr: None,
        version: 0,
        held_passcode: None,
        portal: request_is_none,
        return_to,
        session_id: session.map(|l| l.session_id),
        consented: false,
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

/// The journey row `id` of this browser, live or (with `finished`) finished, within its lifetime.
async fn load_row(
    db: &Db,
    id: &str,
    browser_key: &str,
    now: DateTime<Utc>,
    finished: bool,
) -> Result<Option<JourneyRow>, Error> {
    if id.len() > 64 {
        return Ok(None);
    }
    let id = id.to_string();
    let hash = digest(browser_key);
    let row = db
        .run(move |conn| {
            let query = journeys::table
                .find(id)
                .filter(journeys::expires_at.gt(naive(now)))
                .select(JourneyRow::as_select());
            let row = if finished {
                query
                    .filter(journeys::finished_at.is_not_null())
                    .first(conn)
                    .optional()?
            } else {
                query
                    .filter(journeys::finished_at.is_null())
                    .first(conn)
                    .optional()?
            };
            Ok(row)
        })
        .await?;
    Ok(row.filter(|r| crate::secret::ct_eq(r.browser_hash.as_bytes(), hash.as_bytes())))
}

/// Loads a live journey, only for the browser that started it.
pub(crate) async fn load(
    db: &Db,
    id: &str,
    browser_key: &str,
    now: DateTime<Utc>,
) -> Result<Option<Journey>, Error> {
    load_row(db, id, browser_key, now, false)
        .await?
        .map(from_row)
        .transpose()
}

/// The request of a journey this browser finished a moment ago (within the journey's lifetime).
pub(crate) async fn finished_request(
    db: &Db,
    id: &str,
    browser_key: &str,
    now: DateTime<Utc>,
) -> Result<Option<AuthRequest>, Error> {
    Ok(load_row(db, id, browser_key, now, true)
        .await?
        .map(from_row)
        .transpose()?
        .and_then(|j| j.request))
}

/// Writes the journey's new state if nobody changed it since it was loaded, and moves the loaded
/// copy to the new version. Returns false when another request got there first (a double
/// submit): the caller then re-reads. Saving an unchanged journey claims it, so that only one of
/// two concurrent submits goes on to verify anything.
pub(crate) async fn save(db: &Db, journey: &mut Journey) -> Result<bool, Error> {
    let j = journey.clone();
    let steps = serde_json::to_string(&j.steps).map_err(|e| Error::Internal(e.to_string()))?;
    let state = state_column(&j)?;
    let saved = db
        .run(move |conn| {
            let n = diesel::update(
                journeys::table
                    .find(&j.id)
                    .filter(journeys::version.eq(j.version))
                    .filter(journeys::finished_at.is_null()),
            )
            .set((
                journeys::steps.eq(steps),
                journeys::user_id.eq(&j.user_id),
                journeys::amr.eq(j.amr.join(" ")),
                journeys::password_ok.eq(j.password_ok),
                journeys::claimed_username.eq(&j.claimed_username),
                journeys::factor_state.eq(state),
                journeys::acr.eq(&j.acr),
                journeys::held_passcode.eq(&j.held_passcode),
                journeys::session_id.eq(&j.session_id),
                journeys::consented.eq(j.consented),
                journeys::version.eq(j.version + 1),
            ))
            .execute(conn)?;
            Ok(n == 1)
        })
        .await?;
    if saved {
        journey.version += 1;
    }
    Ok(saved)
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

/// Ends every unfinished journey that has identified this account, except `keep` (the journey
/// making the change), inside the caller's transaction: one that was past its password when the
/// account's credentials changed must not go on to finish with them.
pub(crate) fn expire_all_for_user_in(
    conn: &mut DbConnection,
    user_id: &str,
    now: DateTime<Utc>,
    keep: Option<&str>,
) -> Result<usize, Error> {
    let live = journeys::table
        .filter(journeys::user_id.eq(user_id))
        .filter(journeys::finished_at.is_null())
        .filter(journeys::expires_at.gt(naive(now)));
    let n = match keep {
        Some(keep) => diesel::update(live.filter(journeys::id.ne(keep)))
            .set(journeys::expires_at.eq(naive(now)))
            .execute(conn)?,
        None => diesel::update(live)
            .set(journeys::expires_at.eq(naive(now)))
            .execute(conn)?,
    };
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_one_page_enrolment_loads_as_the_two_pages() {
        let steps = parse_steps(r#"["ChangePassword","EnrollRecovery"]"#, false).unwrap();
        assert_eq!(
            steps,
            [
                Step::ChangePassword,
                Step::EnrollSecretWord,
                Step::EnrollQuestions
            ]
        );
        let steps = parse_steps(r#"["EnrollRecovery"]"#, false).unwrap();
        assert_eq!(steps, ENROL_RECOVERY);
    }

    #[test]
    fn the_questions_page_without_a_secret_word_goes_back_to_the_word() {
        assert_eq!(
            parse_steps(r#"["EnrollQuestions"]"#, false).unwrap(),
            ENROL_RECOVERY
        );
        assert_eq!(
            parse_steps(r#"["EnrollQuestions"]"#, true).unwrap(),
            [Step::EnrollQuestions]
        );
        assert!(parse_steps(r#"["NoSuchStep"]"#, false).is_err());
    }

    #[test]
    fn steps_serialise_by_name() {
        assert_eq!(
            serde_json::to_string(&ENROL_RECOVERY).unwrap(),
            r#"["EnrollSecretWord","EnrollQuestions"]"#
        );
    }

    fn journey() -> Journey {
        Journey {
            id: "j".into(),
            csrf: "c".into(),
            request: None,
            held_passcode: None,
            return_to: None,
            user_id: None,
            steps: Vec::new(),
            amr: Vec::new(),
            password_ok: false,
            claimed_username: None,
            factor_state: None,
            acr: None,
            secret_word_hash: None,
            session_id: None,
            consented: false,
            version: 0,
        }
    }

    #[test]
    fn the_secret_word_hash_and_a_challenge_share_one_column_without_mixing() {
        let mut j = journey();
        j.secret_word_hash = Some("$argon2id$v=19$m=19456,t=2,p=1$salt$hash".into());
        let column = state_column(&j).unwrap();
        assert_eq!(
            split_state(column),
            (
                None,
                Some("$argon2id$v=19$m=19456,t=2,p=1$salt$hash".to_string())
            )
        );
        let mut j = journey();
        j.factor_state = Some(r#"{"state":"next:1"}"#.into());
        let column = state_column(&j).unwrap();
        assert_eq!(
            split_state(column),
            (Some(r#"{"state":"next:1"}"#.to_string()), None)
        );
        j.secret_word_hash = Some("h".into());
        assert!(state_column(&j).is_err());
        assert_eq!(split_state(None), (None, None));
    }
}
