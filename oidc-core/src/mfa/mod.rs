//! Second factors: the [`SecondFactor`] plug-in trait, the built-in SecurID-style TOTP token, and
//! (behind the `radius` feature) a RADIUS client for an existing RSA Authentication Manager or any
//! RADIUS-speaking MFA server.
//!
//! A factor tells the passcode page what to ask for ([`Prompt`]) and verifies what the person typed
//! ([`SecondFactor::verify`]): accepted (with its RFC 8176 `amr` values), rejected, or a follow-up
//! challenge (next tokencode, new PIN) whose opaque state comes back with the next answer.
//!
//! ```
//! use oidc_core::mfa::{BoxFuture, FactorAccount, Prompt, SecondFactor, Verification};
//!
//! /// A toy factor: accepts the account's username reversed.
//! struct Reversed;
//!
//! impl SecondFactor for Reversed {
//!     fn kind(&self) -> &str { "reversed" }
//!     fn prompt(&self, _account: &FactorAccount) -> Prompt {
//!         Prompt::text("Reversed username", "Type your username backwards.")
//!     }
//!     fn verify<'a>(
//!         &'a self,
//!         account: &'a FactorAccount,
//!         response: &'a str,
//!         _challenge: Option<&'a str>,
//!     ) -> BoxFuture<'a, Result<Verification, oidc_core::Error>> {
//!         Box::pin(async move {
//!             let expected: String = account.username.chars().rev().collect();
//!             Ok(if response == expected {
//!                 Verification::accepted(["otp"])
//!             } else {
//!                 Verification::Rejected
//!             })
//!         })
//!     }
//! }
//! ```

use std::future::Future;
use std::pin::Pin;

use crate::error::Error;

pub use crate::protocol::acr::{ACR_PASSWORD, ACR_PASSWORD_OTP};

/// A boxed, sendable future: what [`SecondFactor::verify`] returns, so that factors can be held as
/// `Arc<dyn SecondFactor>`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What kind of input the passcode field takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// Digits only, at most `max_len` of them (`inputmode="numeric"`).
    Numeric {
        /// The longest accepted input.
        max_len: usize,
    },
    /// Free text (for example an alphanumeric PIN).
    Text {
        /// The longest accepted input.
        max_len: usize,
    },
}

/// What the passcode page asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    /// The field's label ("Passcode").
    pub label: String,
    /// The sentence above the field ("Enter your RSA SecurID passcode.").
    pub hint: String,
    /// The kind of input.
    pub input: InputKind,
}

impl Prompt {
    /// A numeric prompt.
    pub fn numeric(label: impl Into<String>, hint: impl Into<String>, max_len: usize) -> Self {
        Prompt {
            label: label.into(),
            hint: hint.into(),
            input: InputKind::Numeric { max_len },
        }
    }
    /// A free-text prompt (up to 64 characters).
    pub fn text(label: impl Into<String>, hint: impl Into<String>) -> Self {
        Prompt {
            label: label.into(),
            hint: hint.into(),
            input: InputKind::Text { max_len: 64 },
        }
    }
}

/// The account a factor verifies, as the factor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactorAccount {
    /// Internal account id.
    pub user_id: String,
    /// The sign-in name (what a RADIUS server knows the user by).
    pub username: String,
    /// The registered email.
    pub email: String,
}

/// The outcome of one answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The factor is proven. `amr` lists RFC 8176 values (an OATH code is `otp`; the provider adds
    /// `pwd` and `mfa` itself).
    Accepted {
        /// RFC 8176 authentication method references.
        amr: Vec<String>,
    },
    /// Wrong answer.
    Rejected,
    /// One more answer is needed (next tokencode, new PIN). `state` is opaque to the provider and
    /// comes back as `challenge` with the next answer; `prompt` replaces the page's question.
    Challenge {
        /// What to ask now.
        prompt: Prompt,
        /// The factor's own state, carried by the sign-in journey (at most 1 KiB).
        state: String,
    },
}

impl Verification {
    /// Accepted with these `amr` values.
    pub fn accepted<I, S>(amr: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Verification::Accepted {
            amr: amr.into_iter().map(Into::into).collect(),
        }
    }
}

/// A second factor. Register implementations on the provider with
/// [`ProviderBuilder::second_factor`](crate::ProviderBuilder::second_factor); an account uses the
/// factor its enrolled token names.
pub trait SecondFactor: Send + Sync + 'static {
    /// A stable name ("totp", "radius"): tokens refer to their factor by it.
    fn kind(&self) -> &str;

    /// What the passcode page asks this account for.
    fn prompt(&self, account: &FactorAccount) -> Prompt;

    /// Called each time the passcode page is about to ask this account, and only once its
    /// password was right: the moment for a factor that sends something (a code by email or
    /// text message, a push notification) to send it. Called again when the page is shown again
    /// (a reload, a malformed answer), so a factor that sends should resend its current code
    /// rather than make a new one each time, and limit how often it sends. The default does
    /// nothing.
    ///
    /// # Errors
    /// When sending failed. The provider logs the error (never shows it) and shows the page all
    /// the same; the answer is then verified as usual.
    fn prepare<'a>(&'a self, account: &'a FactorAccount) -> BoxFuture<'a, Result<(), Error>> {
        let _ = account;
        Box::pin(async { Ok(()) })
    }

    /// Verifies `response` for `account`. `challenge` is the `state` of a previous
    /// [`Verification::Challenge`] in the same sign-in, if any.
    ///
    /// # Errors
    /// Only for failures of the factor itself (a database or network error): a wrong answer is
    /// `Ok(Verification::Rejected)`.
    fn verify<'a>(
        &'a self,
        account: &'a FactorAccount,
        response: &'a str,
        challenge: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Verification, Error>>;
}

/// An address shown on the passcode page: the first and last characters of the local part and
/// the first of the domain, with a fixed number of stars so that lengths tell nothing.
pub(crate) fn mask_email(email: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    format!(
        "{}*****{}@{}*****",
        shown(local.chars().next()),
        shown(local.chars().last()),
        shown(domain.chars().next())
    )
}

/// The alphabet of masked addresses: lower-case letters and digits, anything else as `x`, so that
/// a real address shows nothing a fake one could not (a capital would prove the account exists).
fn shown(c: Option<char>) -> char {
    match c.map(|c| c.to_ascii_lowercase()) {
        Some(c) if c.is_ascii_lowercase() || c.is_ascii_digit() => c,
        _ => 'x',
    }
}

/// The masked address shown for a username that does not exist: derived from a keyed hash of the
/// username, so it is stable for that name, drawn from the same alphabet as real ones.
pub(crate) fn fake_masked_email(key: &[u8], username: &str) -> String {
    const ALPHABET: &[u8; 36] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mac = crate::secret::hmac_sha256(key, format!("fake-email:{username}").as_bytes())
        .unwrap_or_default();
    let pick = |i: usize| {
        // Letters far more often than digits, as in real addresses.
        let b = mac.get(i).copied().unwrap_or(0);
        if b < 230 {
            char::from(ALPHABET[usize::from(b) % 26])
        } else {
            char::from(ALPHABET[26 + usize::from(b) % 10])
        }
    };
    format!("{}*****{}@{}*****", pick(0), pick(1), pick(2))
}

pub mod otp;
#[cfg(feature = "radius")]
pub mod radius;
pub(crate) mod seedfile;
pub(crate) mod tokens;

pub use tokens::{ImportReport, SoftTokenEnrolment, TOTP, TokenInfo, TokenState};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_addresses_hide_lengths_and_fakes_look_alike() {
        assert_eq!(mask_email("nancyakitt@healthy.bewell.ca"), "n*****t@h*****");
        assert_eq!(mask_email("JSmith7@Example.org"), "j*****7@e*****");
        assert_eq!(mask_email("_a.b+@\u{e9}.ca"), "x*****x@x*****");
        assert_eq!(mask_email("a@b.ca"), "a*****a@b*****");
        let fake = fake_masked_email(b"k", "nobody");
        assert_eq!(fake, fake_masked_email(b"k", "nobody"));
        assert_ne!(fake, fake_masked_email(b"other key", "nobody"));
        assert_eq!(fake.len(), mask_email("nancyakitt@healthy.bewell.ca").len());
        assert_eq!(&fake[1..6], "*****");
        assert_eq!(&fake[7..8], "@");
        assert!(fake.ends_with("*****"));
    }
}
