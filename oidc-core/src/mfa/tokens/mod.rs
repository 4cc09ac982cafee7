//! OATH tokens held by the provider: the built-in SecurID-style TOTP factor and the token
//! lifecycle (import, assign, soft-token enrolment and activation, disable, lost).
//!
//! Every single-use decision is one conditional `UPDATE`: a tokencode's time step is claimed with
//! `last_step < step`, so a code is accepted at most once per token even across replicas.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;

use super::Prompt;
use super::otp::{OtpAlgorithm, time_step, totp_at_step};
use crate::clock::Clock;
use crate::error::Error;
use crate::kek::Resealed;
use crate::secret::{KeyRing, Secret, random_bytes};
use crate::store::Db;
use crate::store::models::OtpTokenRow;
use crate::store::schema::otp_tokens;

mod activation;
mod factor;
mod lifecycle;

pub(crate) use factor::TotpFactor;

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
