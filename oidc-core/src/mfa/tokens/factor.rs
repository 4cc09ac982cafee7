//! The built-in factor: checking a passcode (PIN + tokencode, next tokencode) against the token
//! a user signs in with.

use std::sync::Arc;

use diesel::prelude::*;

use super::{
    MAX_DRIFT, NEXT_CODE_AFTER, TOTP, TokenStore, is_digits, next_tokencode_prompt, passcode_prompt,
};
use crate::accounts::password;
use crate::error::Error;
use crate::mfa::otp::time_step;
use crate::mfa::{BoxFuture, FactorAccount, Prompt, SecondFactor, Verification};
use crate::store::models::OtpTokenRow;
use crate::store::naive;
use crate::store::schema::otp_tokens;

impl TokenStore {
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
            password::verify(&crate::Secret::new(String::new()), None).await?;
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
            Some(h) => {
                password::verify(&crate::Secret::new(pin.to_string()), Some(h.clone())).await?
            }
            None => {
                password::verify(&crate::Secret::new(String::new()), None).await?;
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
        password::verify(&crate::Secret::new(pin.to_string()), pin_hash).await?;
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
