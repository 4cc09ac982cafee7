//! OATH tokens held by the provider: the built-in SecurID-style TOTP factor and the token
//! lifecycle (import, assign, soft-token enrolment and activation, disable, lost).
//!
//! Every single-use decision is one conditional `UPDATE`: a tokencode's time step is claimed with
//! `last_step < step`, so a code is accepted at most once per token even across replicas.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::otp::{OtpAlgorithm, time_step, totp_at_step};
use super::{BoxFuture, FactorAccount, Prompt, SecondFactor, Verification};
use crate::accounts::{self, password};
use crate::clock::Clock;
use crate::error::Error;
use crate::kek::Resealed;
use crate::secret::{KeyRing, Secret, random_bytes};
use crate::store::models::OtpTokenRow;
use crate::store::schema::{meta, otp_tokens, users};
use crate::store::{Db, naive, new_id};

/// The factor name of the built-in token.
pub const TOTP: &str = "totp";

/// After this many consecutive passcode failures that followed a correct password, the token
/// asks for two consecutive tokencodes.
const NEXT_CODE_AFTER: i32 = 3;
/// Drift is remembered, but never beyond this many steps either way.
const MAX_DRIFT: i32 = 10;
/// Wrong activation codes tolerated before the activation code is voided.
const MAX_ACTIVATION_FAILURES: i32 = 10;

/// The life of a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenState {
    /// Imported, held by nobody.
    Unassigned,
    /// Given to a user; a hardware token turns active at its first correct passcode, a soft token
    /// once activated.
    Assigned,
    /// In use.
    Active,
    /// Switched off by an administrator.
    Disabled,
    /// Reported lost.
    Lost,
}

impl TokenState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenState::Unassigned => "unassigned",
            TokenState::Assigned => "assigned",
            TokenState::Active => "active",
            TokenState::Disabled => "disabled",
            TokenState::Lost => "lost",
        }
    }
    fn parse(s: &str) -> TokenState {
        match s {
            "unassigned" => TokenState::Unassigned,
            "assigned" => TokenState::Assigned,
            "active" => TokenState::Active,
            "lost" => TokenState::Lost,
            _ => TokenState::Disabled,
        }
    }
}

/// A token as administrators see it (never its seed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// The serial number.
    pub serial: String,
    /// `hardware` or `soft`.
    pub kind: String,
    /// The factor that verifies it (`totp`).
    pub factor: String,
    /// The holder's username.
    pub username: Option<String>,
    /// Its state.
    pub state: TokenState,
    /// `SHA1`, `SHA256` or `SHA512`.
    pub algorithm: String,
    /// Digits per tokencode.
    pub digits: u32,
    /// Seconds per tokencode.
    pub period: u32,
    /// Whether a PIN is set.
    pub has_pin: bool,
    /// Whether the next sign-in must give two consecutive tokencodes.
    pub next_tokencode_mode: bool,
}

/// A soft token just created: the only time its activation code and seed are available.
#[derive(Debug, Clone)]
pub struct SoftTokenEnrolment {
    /// The serial number.
    pub serial: String,
    /// The one-time activation code, for another channel than email (read out by the
    /// administrator); the user enters it with their username on the activation page.
    pub activation_code: Secret,
    /// When the activation code stops working.
    pub activation_expires_at: DateTime<Utc>,
    /// The `otpauth://` URI an authenticator app imports.
    pub otpauth_uri: Secret,
    /// The seed in base32, for scripts and tests.
    pub secret_base32: Secret,
}

/// The outcome of a seed-file import.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    /// Serials imported.
    pub imported: Vec<String>,
    /// Rows refused: (line, reason). Line 0 is the whole file.
    pub errors: Vec<(usize, String)>,
}

/// What the passcode page of the built-in token asks for.
pub(crate) fn passcode_prompt() -> Prompt {
    Prompt::numeric("Passcode", "Enter your RSA SecurID passcode.", 16)
}

fn next_tokencode_prompt() -> Prompt {
    Prompt::numeric(
        "Next tokencode",
        "Wait for the tokencode on your token to change, then enter the next tokencode (without your PIN).",
        9,
    )
}

/// Re-seals every token seed under the ring's current key (the KEK rotation; see
/// `kek::SEALED_AT_REST`), lost and disabled tokens included.
pub(crate) fn reseal_all(
    conn: &mut crate::store::DbConnection,
    ring: &KeyRing,
) -> Result<Resealed, Error> {
    let rows: Vec<(String, Vec<u8>)> = otp_tokens::table
        .select((otp_tokens::id, otp_tokens::secret))
        .load(conn)?;
    let mut done = Resealed::default();
    for (id, sealed) in rows {
        let (fresh, by) = ring.reseal(&sealed, id.as_bytes())?;
        diesel::update(otp_tokens::table.find(&id))
            .set(otp_tokens::secret.eq(fresh))
            .execute(conn)?;
        done.add(by);
    }
    Ok(done)
}

/// The token store, shared by the factor, the activation pages and the admin operations.
pub(crate) struct TokenStore {
    pub db: Db,
    /// Seals and opens the seeds (the token's id is the additional authenticated data).
    pub kek: KeyRing,
    pub clock: Arc<dyn Clock>,
    pub issuer_label: String,
    pub activation_ttl: std::time::Duration,
}

/// A token with its seed opened, ready to compute codes.
struct Live {
    row: OtpTokenRow,
    secret: Vec<u8>,
    alg: OtpAlgorithm,
    digits: u32,
    period: u64,
}

impl Live {
    fn code(&self, step: i64) -> Result<String, Error> {
        totp_at_step(&self.secret, step, self.digits, self.alg)
    }

    /// The step within the drift window (±1 around the remembered drift) whose code is `code`.
    fn matching_step(&self, code: &str, now: DateTime<Utc>) -> Result<Option<i64>, Error> {
        if code.len() != self.digits as usize {
            return Ok(None);
        }
        let center = time_step(now.timestamp(), self.period) + i64::from(self.row.drift);
        for step in [center, center - 1, center + 1] {
            if step >= 0 && crate::secret::ct_eq(self.code(step)?.as_bytes(), code.as_bytes()) {
                return Ok(Some(step));
            }
        }
        Ok(None)
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

impl TokenStore {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn open_row(&self, row: OtpTokenRow) -> Result<Live, Error> {
        let secret = self.kek.open(&row.secret, row.id.as_bytes())?;
        let alg = OtpAlgorithm::parse(&row.algorithm).ok_or_else(|| {
            Error::Internal(format!(
                "token {} has algorithm {}",
                row.serial, row.algorithm
            ))
        })?;
        let digits = u32::try_from(row.digits).map_err(|_| Error::Internal("bad digits".into()))?;
        let period = u64::try_from(row.period).map_err(|_| Error::Internal("bad period".into()))?;
        Ok(Live {
            row,
            secret,
            alg,
            digits,
            period,
        })
    }

    /// The token a user signs in with: assigned or active, and for soft tokens activated.
    pub(crate) async fn usable_token(&self, user_id: &str) -> Result<Option<OtpTokenRow>, Error> {
        let user_id = user_id.to_string();
        self.db
            .run(move |conn| {
                let rows: Vec<OtpTokenRow> = otp_tokens::table
                    .filter(otp_tokens::user_id.eq(user_id))
                    .filter(otp_tokens::state.eq_any(["assigned", "active"]))
                    .select(OtpTokenRow::as_select())
                    .load(conn)?;
                Ok(rows.into_iter().find(|r| {
                    r.state == "active" || (r.kind == "hardware" && r.state == "assigned")
                }))
            })
            .await
    }

    /// Claims `step` for the token: true for exactly one caller, and only if no later or equal
    /// step was accepted before (the replay guard).
    async fn claim_step(&self, id: &str, step: i64, drift: Option<i32>) -> Result<bool, Error> {
        let id = id.to_string();
        self.db
            .run(move |conn| {
                let target = otp_tokens::table.find(&id).filter(
                    otp_tokens::last_step
                        .is_null()
                        .or(otp_tokens::last_step.lt(step)),
                );
                let n = match drift {
                    Some(d) => diesel::update(target)
                        .set((otp_tokens::last_step.eq(step), otp_tokens::drift.eq(d)))
                        .execute(conn)?,
                    None => diesel::update(target)
                        .set(otp_tokens::last_step.eq(step))
                        .execute(conn)?,
                };
                Ok(n == 1)
            })
            .await
    }

    async fn record_failure(&self, id: &str) -> Result<(), Error> {
        let id = id.to_string();
        self.db
            .run(move |conn| {
                diesel::update(otp_tokens::table.find(&id))
                    .set(otp_tokens::failures.eq(otp_tokens::failures + 1))
                    .execute(conn)?;
                diesel::update(
                    otp_tokens::table
                        .find(&id)
                        .filter(otp_tokens::failures.ge(NEXT_CODE_AFTER)),
                )
                .set(otp_tokens::next_code_mode.eq(true))
                .execute(conn)?;
                Ok(())
            })
            .await
    }

    async fn record_success(&self, id: &str) -> Result<(), Error> {
        let id = id.to_string();
        let now = naive(self.now());
        self.db
            .run(move |conn| {
                diesel::update(otp_tokens::table.find(&id))
                    .set((
                        otp_tokens::failures.eq(0),
                        otp_tokens::next_code_mode.eq(false),
                    ))
                    .execute(conn)?;
                // A hardware token turns active at its first correct passcode.
                diesel::update(
                    otp_tokens::table
                        .find(&id)
                        .filter(otp_tokens::state.eq("assigned"))
                        .filter(otp_tokens::kind.eq("hardware")),
                )
                .set((
                    otp_tokens::state.eq("active"),
                    otp_tokens::activated_at.eq(now),
                ))
                .execute(conn)?;
                Ok(())
            })
            .await
    }

    /// Verifies a passcode (PIN + tokencode, or the next tokencode of a pending challenge).
    pub(crate) async fn verify_passcode(
        &self,
        user_id: &str,
        response: &str,
        challenge: Option<&str>,
    ) -> Result<Verification, Error> {
        let Some(row) = self.usable_token(user_id).await? else {
            password::verify(String::new(), None).await?;
            return Ok(Verification::Rejected);
        };
        let live = self.open_row(row)?;
        let now = self.now();
        let id = live.row.id.clone();
        if !is_digits(response) || response.len() > 16 {
            self.record_failure(&id).await?;
            return Ok(Verification::Rejected);
        }
        if let Some(state) = challenge {
            // Next tokencode: exactly the step after the one accepted with the passcode.
            let Some(prev) = state
                .strip_prefix("next:")
                .and_then(|s| s.parse::<i64>().ok())
            else {
                return Ok(Verification::Rejected);
            };
            let step = prev + 1;
            let right = response.len() == live.digits as usize
                && crate::secret::ct_eq(live.code(step)?.as_bytes(), response.as_bytes());
            if right && self.claim_step(&id, step, None).await? {
                self.record_success(&id).await?;
                return Ok(Verification::accepted(["otp"]));
            }
            self.record_failure(&id).await?;
            return Ok(Verification::Rejected);
        }
        let digits = live.digits as usize;
        let (pin, code) = if live.row.pin_hash.is_some() {
            if response.len() <= digits {
                self.record_failure(&id).await?;
                return Ok(Verification::Rejected);
            }
            response.split_at(response.len() - digits)
        } else {
            ("", response)
        };
        let step = live.matching_step(code, now)?;
        // One argon2 verification on every path (the PIN's, or the dummy one), so that the time
        // taken tells nothing about PINs or about the password step before.
        let pin_ok = match &live.row.pin_hash {
            Some(h) => password::verify(pin.to_string(), Some(h.clone())).await?,
            None => {
                password::verify(String::new(), None).await?;
                true
            }
        };
        let claimed = match step {
            Some(s) => {
                let drift = i32::try_from(s - time_step(now.timestamp(), live.period))
                    .unwrap_or(0)
                    .clamp(-MAX_DRIFT, MAX_DRIFT);
                // Claimed even when the PIN is wrong: a tokencode seen in a failed attempt is spent.
                self.claim_step(&id, s, Some(drift)).await?
            }
            None => false,
        };
        match step {
            Some(s) if claimed && pin_ok => {
                if live.row.next_code_mode {
                    return Ok(Verification::Challenge {
                        prompt: next_tokencode_prompt(),
                        state: format!("next:{s}"),
                    });
                }
                self.record_success(&id).await?;
                Ok(Verification::accepted(["otp"]))
            }
            _ => {
                self.record_failure(&id).await?;
                Ok(Verification::Rejected)
            }
        }
    }

    /// Spends a tokencode typed after a wrong password: its step is claimed if it matches, so it
    /// cannot be used again, and nothing else changes (no failure counted, no next-tokencode mode:
    /// that would tell a stranger the password was wrong).
    pub(crate) async fn spend(&self, user_id: &str, response: &str) -> Result<(), Error> {
        let row = self.usable_token(user_id).await?;
        // The same argon2 cost as a real check after a right password (the PIN's, or the dummy).
        let pin_hash = row.as_ref().and_then(|r| r.pin_hash.clone());
        let digits = row
            .as_ref()
            .map_or(6, |r| usize::try_from(r.digits).unwrap_or(6));
        let pin = response
            .get(..response.len().saturating_sub(digits))
            .unwrap_or("");
        password::verify(pin.to_string(), pin_hash).await?;
        let Some(row) = row else { return Ok(()) };
        if !is_digits(response) || response.len() > 16 || response.len() < digits {
            return Ok(());
        }
        let live = self.open_row(row)?;
        let code = &response[response.len() - digits..];
        if let Some(step) = live.matching_step(code, self.now())? {
            self.claim_step(&live.row.id, step, None).await?;
        }
        Ok(())
    }

    fn otpauth_uri(
        &self,
        username: &str,
        secret: &[u8],
        alg: OtpAlgorithm,
        digits: u32,
        period: u32,
    ) -> String {
        let enc = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm={}&digits={digits}&period={period}",
            enc(&self.issuer_label),
            enc(username),
            data_encoding::BASE32_NOPAD.encode(secret),
            enc(&self.issuer_label),
            alg.as_str(),
        )
    }

    async fn user_id_of(&self, username: &str) -> Result<String, Error> {
        accounts::find_by_username(&self.db, username)
            .await?
            .map(|u| u.id)
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no user {:?}",
                    accounts::normalize_username(username)
                ))
            })
    }

    /// Takes every token away from a user (deprovisioning), inside the caller's transaction;
    /// returns their serials. A hardware token in use goes back to the pool (its PIN and
    /// failure state cleared, its replay guard and drift kept, as they belong to the device); a
    /// lost or disabled one stays so, with no holder; a soft token is disabled, since its seed
    /// is still on the person's phone.
    pub(crate) fn unassign_all(
        conn: &mut crate::store::DbConnection,
        user_id: &str,
    ) -> Result<Vec<String>, Error> {
        let serials: Vec<String> = otp_tokens::table
            .filter(otp_tokens::user_id.eq(user_id))
            .order(otp_tokens::serial.asc())
            .select(otp_tokens::serial)
            .load(conn)?;
        let mine = || otp_tokens::table.filter(otp_tokens::user_id.eq(user_id));
        diesel::update(
            mine()
                .filter(otp_tokens::kind.eq("hardware"))
                .filter(otp_tokens::state.eq_any(["assigned", "active"])),
        )
        .set((
            otp_tokens::state.eq("unassigned"),
            otp_tokens::user_id.eq(None::<String>),
            otp_tokens::pin_hash.eq(None::<String>),
            otp_tokens::failures.eq(0),
            otp_tokens::next_code_mode.eq(false),
        ))
        .execute(conn)?;
        diesel::update(mine().filter(otp_tokens::kind.ne("hardware")))
            .set((
                otp_tokens::state.eq("disabled"),
                otp_tokens::user_id.eq(None::<String>),
                otp_tokens::activation_hash.eq(None::<String>),
                otp_tokens::activation_expires_at.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(conn)?;
        diesel::update(mine())
            .set((
                otp_tokens::user_id.eq(None::<String>),
                otp_tokens::pin_hash.eq(None::<String>),
            ))
            .execute(conn)?;
        Ok(serials)
    }

    /// Disables the user's current token when replacing it; refuses when not replacing.
    fn make_room(
        conn: &mut crate::store::DbConnection,
        user_id: &str,
        replace: bool,
    ) -> Result<(), Error> {
        let current: Vec<String> = otp_tokens::table
            .filter(otp_tokens::user_id.eq(user_id))
            .filter(otp_tokens::state.eq_any(["assigned", "active"]))
            .select(otp_tokens::serial)
            .load(conn)?;
        if current.is_empty() {
            return Ok(());
        }
        if !replace {
            return Err(Error::Conflict(format!(
                "the user already holds token {}; pass replace to retire it",
                current.join(", ")
            )));
        }
        diesel::update(otp_tokens::table.filter(otp_tokens::serial.eq_any(&current)))
            .set(otp_tokens::state.eq("disabled"))
            .execute(conn)?;
        Ok(())
    }

    pub(crate) async fn import(
        &self,
        bytes: &[u8],
        psk: Option<&[u8]>,
        partial: bool,
    ) -> Result<ImportReport, Error> {
        let parsed = super::seedfile::parse(bytes, psk)
            .map_err(|e| Error::InvalidInput(format!("line {}: {}", e.line, e.message)))?;
        let mut report = ImportReport {
            imported: Vec::new(),
            errors: parsed
                .errors
                .iter()
                .map(|e| (e.line, e.message.clone()))
                .collect(),
        };
        let mut rows = Vec::new();
        let now = naive(self.now());
        for r in &parsed.records {
            let id = new_id();
            rows.push((
                r.line,
                OtpTokenRow {
                    secret: self.kek.seal(&r.secret, id.as_bytes())?,
                    id,
                    serial: r.serial.clone(),
                    kind: "hardware".into(),
                    factor: TOTP.into(),
                    user_id: None,
                    state: "unassigned".into(),
                    algorithm: r.algorithm.as_str().into(),
                    digits: i32::try_from(r.digits).unwrap_or(6),
                    period: i32::try_from(r.period).unwrap_or(30),
                    pin_hash: None,
                    drift: 0,
                    last_step: None,
                    failures: 0,
                    next_code_mode: false,
                    activation_hash: None,
                    activation_expires_at: None,
                    created_at: now,
                    activated_at: None,
                },
            ));
        }
        let report = self
            .db
            .write(move |conn| {
                let serials: Vec<String> = rows.iter().map(|(_, r)| r.serial.clone()).collect();
                let existing: Vec<String> = otp_tokens::table
                    .filter(otp_tokens::serial.eq_any(&serials))
                    .select(otp_tokens::serial)
                    .load(conn)?;
                for (line, r) in &rows {
                    if existing.contains(&r.serial) {
                        report
                            .errors
                            .push((*line, format!("serial {} is already imported", r.serial)));
                    }
                }
                report.errors.sort();
                if !report.errors.is_empty() && !partial {
                    return Ok(report);
                }
                for (_, r) in rows.iter().filter(|(_, r)| !existing.contains(&r.serial)) {
                    diesel::insert_into(otp_tokens::table)
                        .values(r)
                        .execute(conn)?;
                    report.imported.push(r.serial.clone());
                }
                Ok(report)
            })
            .await?;
        if !report.errors.is_empty() && !partial {
            let lines: Vec<String> = report
                .errors
                .iter()
                .map(|(l, m)| format!("line {l}: {m}"))
                .collect();
            return Err(Error::InvalidInput(format!(
                "nothing imported ({} bad rows; pass --partial to import the good rows only):\n{}",
                report.errors.len(),
                lines.join("\n")
            )));
        }
        Ok(report)
    }

    pub(crate) async fn assign(
        &self,
        username: &str,
        serial: &str,
        pin: Option<String>,
        replace: bool,
    ) -> Result<TokenInfo, Error> {
        let user_id = self.user_id_of(username).await?;
        let pin_hash = match pin {
            Some(p) => Some(password::hash(check_pin(&p)?).await?),
            None => None,
        };
        let serial = serial.trim().to_string();
        let s2 = serial.clone();
        self.db
            .write(move |conn| {
                let state: Option<String> = otp_tokens::table
                    .filter(otp_tokens::serial.eq(&s2))
                    .select(otp_tokens::state)
                    .first(conn)
                    .optional()?;
                match state.as_deref() {
                    None => return Err(Error::NotFound(format!("no token with serial {s2}"))),
                    Some("unassigned") => {}
                    Some(other) => {
                        return Err(Error::Conflict(format!(
                            "token {s2} is {other}, not unassigned"
                        )));
                    }
                }
                Self::make_room(conn, &user_id, replace)?;
                let n = diesel::update(
                    otp_tokens::table
                        .filter(otp_tokens::serial.eq(&s2))
                        .filter(otp_tokens::state.eq("unassigned")),
                )
                .set((
                    otp_tokens::user_id.eq(&user_id),
                    otp_tokens::state.eq("assigned"),
                    otp_tokens::pin_hash.eq(pin_hash),
                    otp_tokens::failures.eq(0),
                    otp_tokens::next_code_mode.eq(false),
                ))
                .execute(conn)?;
                if n != 1 {
                    return Err(Error::Conflict(format!(
                        "token {s2} was assigned meanwhile"
                    )));
                }
                Ok(())
            })
            .await?;
        self.info(&serial).await
    }

    pub(crate) async fn add_soft(
        &self,
        username: &str,
        pin: Option<String>,
        replace: bool,
    ) -> Result<SoftTokenEnrolment, Error> {
        let user = accounts::find_by_username(&self.db, username)
            .await?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "no user {:?}",
                    accounts::normalize_username(username)
                ))
            })?;
        let pin_hash = match pin {
            Some(p) => Some(password::hash(check_pin(&p)?).await?),
            None => None,
        };
        let secret = random_bytes(20)?;
        let serial = format!("SOFT-{}", digits_from(&random_bytes(8)?, 10));
        let code = digits_from(&random_bytes(12)?, 12);
        let activation_code = format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]);
        let activation_hash = password::hash(code.clone()).await?;
        let now = self.now();
        let expires = now
            + Duration::from_std(self.activation_ttl).map_err(|e| Error::Config(e.to_string()))?;
        let id = new_id();
        let row = OtpTokenRow {
            secret: self.kek.seal(&secret, id.as_bytes())?,
            id,
            serial: serial.clone(),
            kind: "soft".into(),
            factor: TOTP.into(),
            user_id: Some(user.id.clone()),
            state: "assigned".into(),
            algorithm: OtpAlgorithm::Sha1.as_str().into(),
            digits: 6,
            period: 30,
            pin_hash,
            drift: 0,
            last_step: None,
            failures: 0,
            next_code_mode: false,
            activation_hash: Some(activation_hash),
            activation_expires_at: Some(naive(expires)),
            created_at: naive(now),
            activated_at: None,
        };
        let user_id = user.id.clone();
        self.db
            .write(move |conn| {
                Self::make_room(conn, &user_id, replace)?;
                diesel::insert_into(otp_tokens::table)
                    .values(&row)
                    .execute(conn)?;
                Ok(())
            })
            .await?;
        Ok(SoftTokenEnrolment {
            serial,
            activation_code: Secret::new(activation_code),
            activation_expires_at: expires,
            otpauth_uri: Secret::new(self.otpauth_uri(
                &user.username,
                &secret,
                OtpAlgorithm::Sha1,
                6,
                30,
            )),
            secret_base32: Secret::new(data_encoding::BASE32_NOPAD.encode(&secret)),
        })
    }

    /// The soft token awaiting activation for this username and activation code; the code is
    /// checked in constant time against its hash (a dummy hash when there is no such token).
    async fn pending_activation(
        &self,
        username: &str,
        activation_code: &str,
    ) -> Result<Option<Live>, Error> {
        let code: String = activation_code
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        let user = accounts::find_by_username(&self.db, username).await?;
        let now = naive(self.now());
        let row = match &user {
            Some(u) => {
                let uid = u.id.clone();
                self.db
                    .run(move |conn| {
                        Ok(otp_tokens::table
                            .filter(otp_tokens::user_id.eq(uid))
                            .filter(otp_tokens::kind.eq("soft"))
                            .filter(otp_tokens::state.eq("assigned"))
                            .filter(otp_tokens::activation_hash.is_not_null())
                            .filter(otp_tokens::activation_expires_at.gt(now))
                            .select(OtpTokenRow::as_select())
                            .first(conn)
                            .optional()?)
                    })
                    .await?
            }
            None => None,
        };
        let ok =
            password::verify(code, row.as_ref().and_then(|r| r.activation_hash.clone())).await?;
        match row {
            Some(r) if ok => Ok(Some(self.open_row(r)?)),
            Some(r) => {
                let id = r.id.clone();
                self.db
                    .run(move |conn| {
                        diesel::update(otp_tokens::table.find(&id))
                            .set(otp_tokens::failures.eq(otp_tokens::failures + 1))
                            .execute(conn)?;
                        // Enough guesses: void the activation code (an administrator issues another).
                        diesel::update(
                            otp_tokens::table
                                .find(&id)
                                .filter(otp_tokens::failures.ge(MAX_ACTIVATION_FAILURES)),
                        )
                        .set(otp_tokens::activation_hash.eq(None::<String>))
                        .execute(conn)?;
                        Ok(())
                    })
                    .await?;
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Step one of activation: the username and activation code are right; returns the
    /// `otpauth://` URI to show (with its QR code).
    pub(crate) async fn begin_activation(
        &self,
        username: &str,
        activation_code: &str,
    ) -> Result<Option<(String, String)>, Error> {
        let Some(live) = self.pending_activation(username, activation_code).await? else {
            return Ok(None);
        };
        let uri = self.otpauth_uri(
            &accounts::normalize_username(username),
            &live.secret,
            live.alg,
            live.digits,
            u32::try_from(live.period).unwrap_or(30),
        );
        Ok(Some((live.row.serial.clone(), uri)))
    }

    /// Step two: the first code from the app proves the enrolment; the token turns active.
    pub(crate) async fn complete_activation(
        &self,
        username: &str,
        activation_code: &str,
        code: &str,
    ) -> Result<bool, Error> {
        let Some(live) = self.pending_activation(username, activation_code).await? else {
            return Ok(false);
        };
        let now = self.now();
        let Some(step) = live.matching_step(code.trim(), now)? else {
            return Ok(false);
        };
        if !self.claim_step(&live.row.id, step, None).await? {
            return Ok(false);
        }
        let id = live.row.id.clone();
        let now = naive(now);
        self.db
            .run(move |conn| {
                let n = diesel::update(
                    otp_tokens::table
                        .find(&id)
                        .filter(otp_tokens::state.eq("assigned")),
                )
                .set((
                    otp_tokens::state.eq("active"),
                    otp_tokens::activated_at.eq(now),
                    otp_tokens::activation_hash.eq(None::<String>),
                    otp_tokens::activation_expires_at.eq(None::<chrono::NaiveDateTime>),
                    otp_tokens::failures.eq(0),
                ))
                .execute(conn)?;
                Ok(n == 1)
            })
            .await
    }

    pub(crate) async fn list(&self) -> Result<Vec<TokenInfo>, Error> {
        self.db
            .run(|conn| {
                let rows: Vec<(OtpTokenRow, Option<String>)> = otp_tokens::table
                    .left_join(users::table.on(otp_tokens::user_id.eq(users::id.nullable())))
                    .order(otp_tokens::serial.asc())
                    .select((OtpTokenRow::as_select(), users::username.nullable()))
                    .load(conn)?;
                Ok(rows.into_iter().map(|(r, u)| info_of(&r, u)).collect())
            })
            .await
    }

    pub(crate) async fn info(&self, serial: &str) -> Result<TokenInfo, Error> {
        let serial = serial.to_string();
        self.db
            .run(move |conn| {
                let row: Option<(OtpTokenRow, Option<String>)> = otp_tokens::table
                    .left_join(users::table.on(otp_tokens::user_id.eq(users::id.nullable())))
                    .filter(otp_tokens::serial.eq(&serial))
                    .select((OtpTokenRow::as_select(), users::username.nullable()))
                    .first(conn)
                    .optional()?;
                row.map(|(r, u)| info_of(&r, u))
                    .ok_or_else(|| Error::NotFound(format!("no token with serial {serial}")))
            })
            .await
    }

    /// Disables a token, marks it lost, or unassigns it (back to the pool; a soft token cannot be
    /// reused and is disabled instead).
    pub(crate) async fn set_state(
        &self,
        serial: &str,
        state: TokenState,
    ) -> Result<TokenInfo, Error> {
        let s = serial.to_string();
        self.db
            .run(move |conn| {
                let kind: Option<String> = otp_tokens::table
                    .filter(otp_tokens::serial.eq(&s))
                    .select(otp_tokens::kind)
                    .first(conn)
                    .optional()?;
                let Some(kind) = kind else {
                    return Err(Error::NotFound(format!("no token with serial {s}")));
                };
                let target = otp_tokens::table.filter(otp_tokens::serial.eq(&s));
                match state {
                    TokenState::Unassigned if kind == "hardware" => diesel::update(target)
                        .set((
                            otp_tokens::state.eq("unassigned"),
                            otp_tokens::user_id.eq(None::<String>),
                            otp_tokens::pin_hash.eq(None::<String>),
                            otp_tokens::failures.eq(0),
                            otp_tokens::next_code_mode.eq(false),
                        ))
                        .execute(conn)?,
                    TokenState::Unassigned => diesel::update(target)
                        .set((
                            otp_tokens::state.eq("disabled"),
                            otp_tokens::user_id.eq(None::<String>),
                        ))
                        .execute(conn)?,
                    TokenState::Disabled | TokenState::Lost => diesel::update(target)
                        .set(otp_tokens::state.eq(state.as_str()))
                        .execute(conn)?,
                    TokenState::Assigned | TokenState::Active => {
                        return Err(Error::InvalidInput(
                            "a token becomes assigned by assign and active by its first passcode"
                                .into(),
                        ));
                    }
                };
                Ok(())
            })
            .await?;
        self.info(serial).await
    }

    /// The current tokencode of a token whose seed the server holds (support and demo aid).
    pub(crate) async fn current_code(
        &self,
        serial: &str,
        i_am_support: bool,
    ) -> Result<String, Error> {
        if !i_am_support && !self.is_demo().await? {
            return Err(Error::InvalidInput(
                "refused: this is not a demo database; a support engineer may pass --i-am-support"
                    .into(),
            ));
        }
        let s = serial.to_string();
        let row = self
            .db
            .run(move |conn| {
                Ok(otp_tokens::table
                    .filter(otp_tokens::serial.eq(&s))
                    .select(OtpTokenRow::as_select())
                    .first(conn)
                    .optional()?)
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("no token with serial {serial}")))?;
        let live = self.open_row(row)?;
        let step = time_step(self.now().timestamp(), live.period) + i64::from(live.row.drift);
        live.code(step)
    }

    pub(crate) async fn is_demo(&self) -> Result<bool, Error> {
        self.db
            .run(|conn| {
                let v: Option<String> = meta::table
                    .find("demo")
                    .select(meta::value)
                    .first(conn)
                    .optional()?;
                Ok(v.as_deref() == Some("true"))
            })
            .await
    }

    /// Marks a database as a demo database; only while it holds no account, so that a real
    /// database can never be turned into one.
    pub(crate) async fn mark_demo(&self) -> Result<(), Error> {
        self.db
            .write(|conn| {
                let users: i64 = users::table.count().get_result(conn)?;
                let demo: Option<String> = meta::table
                    .find("demo")
                    .select(meta::value)
                    .first(conn)
                    .optional()?;
                if demo.as_deref() == Some("true") {
                    return Ok(());
                }
                if users > 0 {
                    return Err(Error::InvalidInput(
                        "only a new, empty database can be marked as a demo database".into(),
                    ));
                }
                diesel::insert_into(meta::table)
                    .values((meta::name.eq("demo"), meta::value.eq("true")))
                    .execute(conn)?;
                Ok(())
            })
            .await
    }
}

fn info_of(r: &OtpTokenRow, username: Option<String>) -> TokenInfo {
    TokenInfo {
        serial: r.serial.clone(),
        kind: r.kind.clone(),
        factor: r.factor.clone(),
        username,
        state: TokenState::parse(&r.state),
        algorithm: r.algorithm.clone(),
        digits: u32::try_from(r.digits).unwrap_or(6),
        period: u32::try_from(r.period).unwrap_or(30),
        has_pin: r.pin_hash.is_some(),
        next_tokencode_mode: r.next_code_mode,
    }
}

fn check_pin(pin: &str) -> Result<String, Error> {
    if (4..=8).contains(&pin.len()) && is_digits(pin) {
        Ok(pin.to_string())
    } else {
        Err(Error::InvalidInput("a PIN is 4 to 8 digits".into()))
    }
}

/// `n` decimal digits from random bytes (uniform enough: each digit from a fresh byte below 250).
fn digits_from(bytes: &[u8], n: usize) -> String {
    let mut out = String::with_capacity(n);
    let mut pool: Vec<u8> = bytes.to_vec();
    while out.len() < n {
        if pool.is_empty() {
            pool = random_bytes(16).unwrap_or_else(|_| vec![0; 16]);
        }
        let b = pool.remove(0);
        if b < 250 {
            out.push(char::from(b'0' + b % 10));
        }
    }
    out
}

/// The built-in factor: the SecurID-style TOTP token the provider holds the seed of.
pub(crate) struct TotpFactor {
    pub store: Arc<TokenStore>,
}

impl SecondFactor for TotpFactor {
    fn kind(&self) -> &str {
        TOTP
    }

    fn prompt(&self, _account: &FactorAccount) -> Prompt {
        passcode_prompt()
    }

    fn verify<'a>(
        &'a self,
        account: &'a FactorAccount,
        response: &'a str,
        challenge: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Verification, Error>> {
        Box::pin(
            self.store
                .verify_passcode(&account.user_id, response, challenge),
        )
    }
}
