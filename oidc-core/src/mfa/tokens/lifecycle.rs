//! The token lifecycle as administrators drive it: import, assign, soft-token enrolment,
//! disable, lost, and the demonstration token.

use chrono::Duration;
use diesel::prelude::*;

use super::{
    ImportReport, SoftTokenEnrolment, TOTP, TokenInfo, TokenState, TokenStore, check_pin,
    digits_from, info_of,
};
use crate::accounts::{self, password};
use crate::error::Error;
use crate::mfa::otp::{OtpAlgorithm, time_step};
use crate::secret::{Secret, random_bytes};
use crate::store::models::OtpTokenRow;
use crate::store::schema::{meta, otp_tokens, users};
use crate::store::{naive, new_id};

impl TokenStore {
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
        let parsed = crate::mfa::seedfile::parse(bytes, psk)
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
            Some(p) => Some(password::hash(&crate::Secret::new(check_pin(&p)?)).await?),
            None => None,
        };
        let serial = serial.trim().to_string();
        let s2 = serial.clone();
        self.db
            .write(move |conn| Self::assign_in(conn, &user_id, &s2, pin_hash, replace))
            .await?;
        self.info(&serial).await
    }

    /// Assigns the unassigned token `serial` to an account inside the caller's transaction.
    pub(crate) fn assign_in(
        conn: &mut crate::store::DbConnection,
        user_id: &str,
        serial: &str,
        pin_hash: Option<String>,
        replace: bool,
    ) -> Result<(), Error> {
        let state: Option<String> = otp_tokens::table
            .filter(otp_tokens::serial.eq(serial))
            .select(otp_tokens::state)
            .first(conn)
            .optional()?;
        match state.as_deref() {
            None => return Err(Error::NotFound(format!("no token with serial {serial}"))),
            Some("unassigned") => {}
            Some(other) => {
                return Err(Error::Conflict(format!(
                    "token {serial} is {other}, not unassigned"
                )));
            }
        }
        Self::make_room(conn, user_id, replace)?;
        let n = diesel::update(
            otp_tokens::table
                .filter(otp_tokens::serial.eq(serial))
                .filter(otp_tokens::state.eq("unassigned")),
        )
        .set((
            otp_tokens::user_id.eq(user_id),
            otp_tokens::state.eq("assigned"),
            otp_tokens::pin_hash.eq(pin_hash),
            otp_tokens::failures.eq(0),
            otp_tokens::next_code_mode.eq(false),
        ))
        .execute(conn)?;
        if n != 1 {
            return Err(Error::Conflict(format!(
                "token {serial} was assigned meanwhile"
            )));
        }
        Ok(())
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
        let (row, enrolment) = self.prepare_soft(&user.id, &user.username, pin).await?;
        let user_id = user.id.clone();
        self.db
            .write(move |conn| Self::insert_soft_in(conn, &user_id, &row, replace))
            .await?;
        Ok(enrolment)
    }

    /// A new soft token for the account `user_id` (`username` names it in the authenticator
    /// app), ready to insert: its sealed seed and its activation code's hash (the slow part,
    /// done before any transaction), and what is shown once to whoever passes the activation
    /// code on.
    pub(crate) async fn prepare_soft(
        &self,
        user_id: &str,
        username: &str,
        pin: Option<String>,
    ) -> Result<(OtpTokenRow, SoftTokenEnrolment), Error> {
        let pin_hash = match pin {
            Some(p) => Some(password::hash(&crate::Secret::new(check_pin(&p)?)).await?),
            None => None,
        };
        let secret = random_bytes(20)?;
        let serial = format!("SOFT-{}", digits_from(&random_bytes(8)?, 10));
        let code = digits_from(&random_bytes(12)?, 12);
        let activation_code = format!("{}-{}-{}", &code[..4], &code[4..8], &code[8..]);
        let activation_hash = password::hash(&crate::Secret::new(code.clone())).await?;
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
            user_id: Some(user_id.to_string()),
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
        let enrolment = SoftTokenEnrolment {
            serial,
            activation_code: Secret::new(activation_code),
            activation_expires_at: expires,
            otpauth_uri: Secret::new(self.otpauth_uri(
                username,
                &secret,
                OtpAlgorithm::Sha1,
                6,
                30,
            )),
            secret_base32: Secret::new(data_encoding::BASE32_NOPAD.encode(&secret)),
        };
        Ok((row, enrolment))
    }

    /// Inserts a prepared soft token inside the caller's transaction.
    pub(crate) fn insert_soft_in(
        conn: &mut crate::store::DbConnection,
        user_id: &str,
        row: &OtpTokenRow,
        replace: bool,
    ) -> Result<(), Error> {
        Self::make_room(conn, user_id, replace)?;
        diesel::insert_into(otp_tokens::table)
            .values(row)
            .execute(conn)?;
        Ok(())
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
