//! Outgoing mail: the [`Mailer`] plug-in trait, a file outbox (the default) and SMTP.

use std::fmt;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use lettre::message::header::{ContentTransferEncoding, ContentType, MIME_VERSION_1_0};
use lettre::message::{Body, Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use uuid::Uuid;

use crate::clock::{Clock, SystemClock};
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

/// Checks a header value: no line break (header injection) and no other control character.
fn check_header_text(what: &str, value: &str) -> Result<(), String> {
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err(format!(
            "the {what} contains a line break or another control character; remove it (a header \
             cannot span lines here)"
        ));
    }
    Ok(())
}

/// Parses an address (`alice@example.org` or `Alice <alice@example.org>`), refusing line breaks.
fn parse_mailbox(what: &str, value: &str) -> Result<Mailbox, String> {
    check_header_text(what, value)?;
    value
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| format!("the {what} {value:?} is not an email address: {e}"))
}

/// Checks what a [`Mailer`] is asked to send; the same rules for every mailer.
fn check_email(email: &Email) -> Result<Mailbox, Error> {
    let to = parse_mailbox("recipient", &email.to).map_err(Error::InvalidInput)?;
    check_header_text("subject", &email.subject).map_err(Error::InvalidInput)?;
    Ok(to)
}

/// Builds the RFC 5322 message: From, To, Subject (RFC 2047 encoded when not ASCII), Date,
/// Message-ID (`<id@domain of From>`), MIME-Version, `text/plain; charset=utf-8`, and a 7bit body
/// when it is plain ASCII with short lines, quoted-printable otherwise. Line endings become CRLF and
/// the body ends with one.
fn build_message(
    from: &Mailbox,
    email: &Email,
    date: SystemTime,
    id: Uuid,
) -> Result<Message, Error> {
    let to = check_email(email)?;
    let mut text = email.body.clone();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    let body = match Body::new_with_encoding(text.clone(), ContentTransferEncoding::SevenBit) {
        Ok(body) => body,
        Err(_) => Body::new_with_encoding(text, ContentTransferEncoding::QuotedPrintable).map_err(
            |_| Error::Internal("the mail body could not be quoted-printable encoded".into()),
        )?,
    };
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .date(date)
        .message_id(Some(format!("<{id}@{}>", from.email.domain())))
        .header(MIME_VERSION_1_0)
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| Error::InvalidInput(format!("the message could not be built: {e}")))
}

/// The default [`Mailer`]: writes each message as an RFC 5322 `.eml` file into a directory, for an
/// operator's mail pick-up (or a person) to deliver or read.
///
/// Files are named `{UTC timestamp}-{uuid}.eml` (for example
/// `20250102T030405.123456Z-5f0c….eml`, so that names sort by time), are written under a hidden
/// temporary name (`.{name}.tmp`) and then renamed: a reader that takes `*.eml` never sees a partial
/// message. Writing happens on Tokio's blocking pool.
///
/// ```
/// # async fn demo() -> Result<(), oidc_core::Error> {
/// use oidc_core::notify::{Email, FileOutbox, Mailer};
///
/// let outbox = FileOutbox::new("/var/spool/iam/outbox", "AHS IAM <iam@example.org>")?;
/// outbox
///     .send(&Email {
///         to: "alice@example.org".into(),
///         subject: "Welcome".into(),
///         body: "Your account is ready.".into(),
///     })
///     .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct FileOutbox {
    dir: PathBuf,
    from: Mailbox,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for FileOutbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileOutbox")
            .field("dir", &self.dir)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl FileOutbox {
    /// An outbox writing into `dir` (created with its parents if missing), with `from` as the
    /// `From` of every message (`iam@example.org` or `AHS IAM <iam@example.org>`).
    ///
    /// # Errors
    /// [`Error::Config`] when `from` is not an address or the directory cannot be created.
    pub fn new(dir: impl Into<PathBuf>, from: &str) -> Result<Self, Error> {
        let dir = dir.into();
        let from = parse_mailbox("From address", from).map_err(Error::Config)?;
        fs::create_dir_all(&dir).map_err(|e| {
            Error::Config(format!(
                "mail outbox directory {}: cannot create it: {e}",
                dir.display()
            ))
        })?;
        Ok(FileOutbox {
            dir,
            from,
            clock: Arc::new(SystemClock),
        })
    }

    /// Reads the time (the `Date` header, the file name) from `clock` instead of the system's:
    /// give it the provider's clock so that tests which move time see it in the outbox too.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The directory messages are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Writes `bytes` to `dir/name` through a hidden temporary file and a rename. `before_rename` is
/// called with the temporary file's path once it is complete (a no-op but in tests).
fn write_atomically(
    dir: &Path,
    name: &str,
    bytes: &[u8],
    before_rename: impl FnOnce(&Path),
) -> Result<(), Error> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        before_rename(&tmp);
        fs::rename(&tmp, dir.join(name))
    };
    write().map_err(|e| {
        // Best effort: leave no temporary file behind.
        let _ = fs::remove_file(&tmp);
        Error::Internal(format!(
            "mail outbox {}: writing {name}: {e}",
            dir.display()
        ))
    })
}

impl Mailer for FileOutbox {
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let now = self.clock.now();
            let id = Uuid::new_v4();
            let message = build_message(&self.from, email, SystemTime::from(now), id)?;
            let bytes = message.formatted();
            let name = format!("{}-{id}.eml", now.format("%Y%m%dT%H%M%S%.6fZ"));
            let dir = self.dir.clone();
            tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes, |_| {}))
                .await?
        })
    }
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain text. Only for a relay on the same machine (or a test server on loopback);
    /// credentials are refused with it unless the host is loopback.
    None,
    /// Plain connection upgraded with STARTTLS, which is required (usually port 587).
    StartTls,
    /// TLS from the first byte, "SMTPS" (usually port 465).
    Tls,
}

/// Settings of an [`SmtpMailer`].
///
/// ```
/// use std::time::Duration;
/// use oidc_core::notify::{SmtpConfig, SmtpTls};
///
/// let config = SmtpConfig::new("smtp.example.org", 587, SmtpTls::StartTls, "iam@example.org")
///     .credentials("iam", "app password")
///     .timeout(Duration::from_secs(10));
/// assert!(!format!("{config:?}").contains("app password"));
/// ```
#[derive(Clone)]
pub struct SmtpConfig {
    /// The server's host name (checked against its certificate when TLS is used).
    pub host: String,
    /// The server's port (25, 465 or 587 usually).
    pub port: u16,
    /// How the connection is protected.
    pub tls: SmtpTls,
    /// The user name to authenticate with, if the server wants one (with [`SmtpConfig::password`]).
    pub username: Option<String>,
    /// The password to authenticate with. Never shown by `Debug`.
    pub password: Option<String>,
    /// The `From` of every message (`iam@example.org` or `AHS IAM <iam@example.org>`).
    pub from: String,
    /// The longest one send may take, from connecting to the server's answer to the message; a
    /// server that does not answer in time makes the send fail. Default 30 s.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// Settings without credentials and with a 30 s timeout.
    pub fn new(host: impl Into<String>, port: u16, tls: SmtpTls, from: impl Into<String>) -> Self {
        SmtpConfig {
            host: host.into(),
            port,
            tls,
            username: None,
            password: None,
            from: from.into(),
            timeout: Duration::from_secs(30),
        }
    }

    /// Authenticates with this user name and password.
    pub fn credentials(mut self, username: impl Into<String>, password: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self.password = Some(password.into());
        self
    }

    /// Sets [`SmtpConfig::timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl fmt::Debug for SmtpConfig {
    // The password never reaches a log through a `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("from", &self.from)
            .field("timeout", &self.timeout)
            .finish()
    }
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A [`Mailer`] that hands messages to an SMTP server (lettre's Tokio transport, rustls with the
/// web PKI roots). One connection per message.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    clock: Arc<dyn Clock>,
    server: String,
    deadline: Duration,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("server", &self.server)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// A mailer for this server. Does not connect: an unreachable server shows at the first send.
    ///
    /// # Errors
    /// [`Error::Config`] when the host is empty, `from` is not an address, the timeout is zero, only
    /// one of username and password is set, or credentials would travel in plain text to a host
    /// that is not loopback.
    pub fn new(config: SmtpConfig) -> Result<Self, Error> {
        let host = config.host.trim().to_string();
        if host.is_empty() {
            return Err(Error::Config("SMTP host: empty".into()));
        }
        let from = parse_mailbox("SMTP From address", &config.from).map_err(Error::Config)?;
        if config.timeout.is_zero() {
            return Err(Error::Config("SMTP timeout: must be more than zero".into()));
        }
        let builder = match config.tls {
            SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.as_str()),
            SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                .map_err(|e| Error::Config(format!("SMTP host {host}: {e}")))?,
            SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)
                .map_err(|e| Error::Config(format!("SMTP host {host}: {e}")))?,
        };
        let mut builder = builder.port(config.port).timeout(Some(config.timeout));
        match (config.username, config.password) {
            (None, None) => {}
            (Some(username), Some(password)) => {
                if config.tls == SmtpTls::None && !is_loopback(&host) {
                    return Err(Error::Config(format!(
                        "SMTP credentials for {host} would travel in plain text: use STARTTLS or TLS"
                    )));
                }
                builder = builder.credentials(Credentials::new(username, password));
            }
            _ => {
                return Err(Error::Config(
                    "SMTP credentials: set both the username and the password, or neither".into(),
                ));
            }
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            from,
            server: format!("{host}:{}", config.port),
            deadline: config.timeout,
            clock: Arc::new(SystemClock),
        })
    }

    /// Reads the time (the `Date` header) from `clock` instead of the system's.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl Mailer for SmtpMailer {
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            let message = build_message(
                &self.from,
                email,
                SystemTime::from(self.clock.now()),
                Uuid::new_v4(),
            )?;
            let bytes = message.formatted();
            // lettre ends the data with "\r\n.\r\n" itself: without this the body would gain an
            // empty last line. The server receives exactly what a FileOutbox would write.
            let bytes = bytes.strip_suffix(b"\r\n").unwrap_or(&bytes);
            let sending = self.transport.send_raw(message.envelope(), bytes);
            match tokio::time::timeout(self.deadline, sending).await {
                Ok(Ok(_response)) => Ok(()),
                Ok(Err(e)) => Err(Error::Internal(format!(
                    "SMTP server {}: the message was not accepted: {e}",
                    self.server
                ))),
                Err(_) => Err(Error::Internal(format!(
                    "SMTP server {}: no answer within {:?}",
                    self.server, self.deadline
                ))),
            }
        })
    }
}

/// A [`Mailer`] that keeps messages in memory: for tests, and for developers embedding the
/// provider who want to look at what it would send. It checks messages like the other mailers
/// (an invalid recipient or a line break in the subject is refused) and never fails otherwise.
#[derive(Debug, Default)]
pub struct MemoryMailer {
    sent: Mutex<Vec<Email>>,
}

impl MemoryMailer {
    /// An empty mailer.
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages sent so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Takes the messages sent so far, leaving none.
    pub fn take(&self) -> Vec<Email> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Mailer for MemoryMailer {
    fn send<'a>(&'a self, email: &'a Email) -> BoxFuture<'a, Result<(), Error>> {
        Box::pin(async move {
            check_email(email)?;
            self.sent
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(email.clone());
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
