//! Soft-token activation at the portal: the username and activation code, then the first code
//! from the app.

use diesel::prelude::*;

use super::{Live, MAX_ACTIVATION_FAILURES, TokenStore};
use crate::accounts::{self, password};
use crate::error::Error;
use crate::store::models::OtpTokenRow;
use crate::store::naive;
use crate::store::schema::otp_tokens;

impl TokenStore {
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
        let ok = password::verify(
            &crate::Secret::new(code),
            row.as_ref().and_then(|r| r.activation_hash.clone()),
        )
        .await?;
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
}
