//! Outgoing mail: the [`Mailer`] plug-in trait, a file outbox (the default) and SMTP.

use crate::error::Error;
use crate::mfa::BoxFuture;

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
}

/// Sends mail. The provider sends the Welcome email, one-time codes for caller verification, and
/// notifications (password changed, account locked, token lost) through it.
pub trait Mailer: Send + Sync + 'static {
    /// Sends one message.
    ///
    /// # Errors
    /// When the message could not be handed over (disk full, SMTP server unreachable).
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<(), Error>>;
}
