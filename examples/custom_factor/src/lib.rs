//! A second factor of the developer's own: a one-time code sent by email through the provider's
//! [`Mailer`], implementing [`SecondFactor`].
//!
//! ```text
//! cargo run -p example-custom-factor
//! ```
//!
//! serves a provider on <http://127.0.0.1:3001> whose accounts without a token of the
//! provider's own use this factor (`fallback_factor`). Sign in as `demo` / `quiet river lantern 7`
//! with the printed client, then type the code from the message written to `./outbox/`.
//!
//! What a factor has to do, in order:
//! 1. [`SecondFactor::prepare`]: the passcode page is about to ask (the password was right):
//!    make a code and send it, or keep the one already sent (a reload must not send another).
//! 2. [`SecondFactor::prompt`]: the label and sentence of the passcode field.
//! 3. [`SecondFactor::verify`]: check the answer. Wrong answers are `Rejected` (the provider
//!    counts them against the account's throttle and restarts the sign-in); accepted ones name
//!    their RFC 8176 `amr` value, and the provider adds `pwd` and `mfa`.
//!
//! The codes live in this process's memory, so this factor serves one replica; for several,
//! keep them in a shared store and claim each with one conditional update, as the built-in TOTP
//! factor does with its time steps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use chrono::{DateTime, Duration, Utc};
use oidc_core::mfa::{BoxFuture, FactorAccount, Prompt, SecondFactor, Verification};
use oidc_core::notify::{Email, Mailer};
use oidc_core::{Clock, Error, NewClient, NewUser, Provider, ProviderConfig, SystemClock};

/// The factor's name: accounts without a token use it through `fallback_factor`.
pub const KIND: &str = "email-code";
/// The subject of the code's message.
pub const SUBJECT: &str = "Your sign-in code";

/// A code sent and not yet used.
struct Pending {
    code: String,
    expires: DateTime<Utc>,
    wrong_answers: u32,
}

/// A six-digit code by email, valid for five minutes, single use, three wrong answers at most.
pub struct EmailCode {
    mailer: Arc<dyn Mailer>,
    clock: Arc<dyn Clock>,
    pending: Mutex<HashMap<String, Pending>>,
}

impl EmailCode {
    /// A factor that sends its codes through `mailer`.
    pub fn new(mailer: Arc<dyn Mailer>) -> Self {
        EmailCode {
            mailer,
            clock: Arc::new(SystemClock),
            pending: Mutex::default(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl SecondFactor for EmailCode {
    fn kind(&self) -> &str {
        KIND
    }

    fn prompt(&self, _account: &FactorAccount) -> Prompt {
        Prompt::numeric(
            "Email code",
            "Enter the 6-digit code we sent to your email address.",
            6,
        )
    }

    fn prepare<'a>(&'a self, account: &'a FactorAccount) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let now = self.clock.now();
            let code = {
                let mut pending = self.pending();
                if pending
                    .get(&account.user_id)
                    .is_some_and(|p| p.expires > now)
                {
                    return Ok(()); // sent already, still good: no second message
                }
                // 122 random bits of a UUID v4, reduced to six digits.
                let code = format!("{:06}", uuid::Uuid::new_v4().as_u128() % 1_000_000);
                let expires = now + Duration::minutes(5);
                pending.insert(
                    account.user_id.clone(),
                    Pending {
                        code: code.clone(),
                        expires,
                        wrong_answers: 0,
                    },
                );
                code
            };
            let body = format!(
                "Your sign-in code is {code}. It expires in 5 minutes.\n\nIf you did not try to sign in, change your password."
            );
            self.mailer
                .send(&Email {
                    to: account.email.clone(),
                    subject: SUBJECT.into(),
                    body,
                })
                .await
        })
    }

    fn verify<'a>(
        &'a self,
        account: &'a FactorAccount,
        response: &'a str,
        _challenge: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Verification, Error>> {
        Box::pin(async move {
            let now = self.clock.now();
            let mut pending = self.pending();
            let Some(p) = pending.get_mut(&account.user_id) else {
                return Ok(Verification::Rejected);
            };
            if p.expires > now && p.code == response {
                pending.remove(&account.user_id); // single use
                return Ok(Verification::accepted(["otp"]));
            }
            p.wrong_answers += 1;
            if p.wrong_answers >= 3 || p.expires <= now {
                pending.remove(&account.user_id); // the next passcode page sends a new one
            }
            Ok(Verification::Rejected)
        })
    }
}

/// The provider with the factor, one user and one client (its id and secret, on a new database).
pub async fn app(
    issuer: &str,
    database_url: &str,
    mailer: Arc<dyn Mailer>,
) -> Result<(Router, Option<(String, String)>), Error> {
    let config = ProviderConfig::builder(issuer)
        .fallback_factor(KIND)
        .build()?;
    let provider = Provider::builder(config, database_url)
        .mailer(mailer.clone())
        .second_factor(Arc::new(EmailCode::new(mailer)))
        .build()
        .await?;
    let user = NewUser {
        username: "demo".into(),
        email: "demo@example.org".into(),
        name: Some("Demo User".into()),
        roles: vec![],
        password: Some("quiet river lantern 7".into()),
    };
    match provider.create_user(user).await {
        Ok(_) | Err(Error::Conflict(_)) => {}
        Err(e) => return Err(e),
    }
    let mut credentials = None;
    if provider
        .list_clients()
        .await?
        .iter()
        .all(|c| c.name != "Example app")
    {
        // The default: this client needs the second factor.
        let client =
            NewClient::new("Example app", ["http://127.0.0.1:4000/callback"]).first_party(true);
        let reg = provider.register_client(client).await?;
        let secret = reg
            .client_secret
            .map(|s| s.secret().to_string())
            .unwrap_or_default();
        credentials = Some((reg.client.client_id, secret));
    }
    Ok((provider.router(), credentials))
}
