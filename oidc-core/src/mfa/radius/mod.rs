//! A RADIUS client second factor: the passcode goes to an RSA Authentication Manager (or any
//! RADIUS-speaking MFA server) in a PAP Access-Request (RFC 2865).
//!
//! Every request carries a Message-Authenticator (RFC 3579 §3.2), and every response must carry a
//! valid one as well as a valid Response Authenticator: a response without it is dropped, whatever
//! its code (the BlastRADIUS mitigation, CVE-2024-3596). An Access-Challenge (next tokencode, new
//! PIN) becomes a [`Verification::Challenge`] whose state carries the server's `State` attribute
//! back to the server that issued it.
//!
//! Servers are tried in order: each gets `1 + retries` transmissions of `timeout` each (the same
//! packet, as RFC 5080 §2.2.1 asks), then the next one is tried. When no server gives a valid answer
//! [`SecondFactor::verify`] fails with [`Error::Internal`], naming each server and what went wrong.
//!
//! ```no_run
//! # async fn demo() -> Result<(), oidc_core::Error> {
//! use std::time::Duration;
//! use oidc_core::mfa::radius::{RadiusConfig, RadiusFactor};
//! use oidc_core::mfa::{FactorAccount, SecondFactor, Verification};
//!
//! let config = RadiusConfig::new("ahs-iam")
//!     .server("10.0.0.10:1812".parse().expect("address"), "shared secret 1")
//!     .server("10.0.0.11:1812".parse().expect("address"), "shared secret 2")
//!     .timeout(Duration::from_secs(3))
//!     .retries(2);
//! let factor = RadiusFactor::new(config)?;
//! let account = FactorAccount {
//!     user_id: "42".into(),
//!     username: "nakitt".into(),
//!     email: "nancy@example.org".into(),
//! };
//! match factor.verify(&account, "12345678", None).await? {
//!     Verification::Accepted { amr } => assert_eq!(amr, ["otp"]),
//!     Verification::Rejected => {}
//!     Verification::Challenge { prompt, state } => {
//!         // Show `prompt`, then call `verify(&account, next_answer, Some(&state))`.
//!         let _ = (prompt, state);
//!     }
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use openssl::hash::{Hasher, MessageDigest};
use openssl::pkey::PKey;
use openssl::sign::Signer;
use tokio::net::UdpSocket;

use crate::error::Error;
use crate::mfa::{BoxFuture, FactorAccount, InputKind, Prompt, SecondFactor, Verification};
use crate::secret::{Secret, ct_eq, random_bytes};

/// Packet codes (RFC 2865 §3).
const ACCESS_REQUEST: u8 = 1;
const ACCESS_ACCEPT: u8 = 2;
const ACCESS_REJECT: u8 = 3;
const ACCESS_CHALLENGE: u8 = 11;

/// Attribute types (RFC 2865 §5, RFC 3579 §3.2).
const USER_NAME: u8 = 1;
const USER_PASSWORD: u8 = 2;
const REPLY_MESSAGE: u8 = 18;
const STATE: u8 = 24;
const NAS_IDENTIFIER: u8 = 32;
const MESSAGE_AUTHENTICATOR: u8 = 80;

/// Code (1) + Identifier (1) + Length (2) + Authenticator (16).
const HEADER_LEN: usize = 20;
/// RFC 2865 §3: the largest packet.
const MAX_PACKET_LEN: usize = 4096;
/// The largest attribute value (the length octet covers type and length too).
const MAX_ATTR_VALUE_LEN: usize = 253;
/// RFC 2865 §5.2: a User-Password is at most 128 octets.
const MAX_PASSWORD_LEN: usize = 128;
/// The longest hint taken from a Reply-Message, in characters.
const MAX_HINT_CHARS: usize = 200;
/// The most retransmissions [`RadiusFactor::new`] accepts per server.
const MAX_RETRIES: u32 = 10;

/// The hint of a challenge whose Access-Challenge has no (usable) Reply-Message.
const DEFAULT_CHALLENGE_HINT: &str = "Enter the next tokencode.";

/// One RADIUS server and the secret this client shares with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusServer {
    /// The server's address and authentication port (usually 1812).
    pub addr: SocketAddr,
    /// The shared secret (RFC 2865 §3): it keys the password hiding and both authenticators.
    pub secret: Secret,
}

impl RadiusServer {
    /// A server at `addr` sharing `secret` with this client.
    pub fn new(addr: SocketAddr, secret: impl Into<String>) -> Self {
        RadiusServer {
            addr,
            secret: Secret::new(secret),
        }
    }
}

/// How to reach the RADIUS servers. Build it with [`RadiusConfig::new`] and the chained setters, or
/// fill in the public fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusConfig {
    /// The servers, tried in this order (the first is the primary).
    pub servers: Vec<RadiusServer>,
    /// How long to wait for an answer to one transmission (default 3 s).
    pub timeout: Duration,
    /// Retransmissions per server after the first transmission (default 2, so three tries of
    /// `timeout` each before the next server is tried).
    pub retries: u32,
    /// The NAS-Identifier attribute of every request: how the RADIUS server knows this client.
    pub nas_identifier: String,
}

impl RadiusConfig {
    /// The default wait for one transmission.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3);
    /// The default number of retransmissions per server.
    pub const DEFAULT_RETRIES: u32 = 2;

    /// A configuration with no server yet, the default timeout and retries, and this
    /// NAS-Identifier.
    pub fn new(nas_identifier: impl Into<String>) -> Self {
        RadiusConfig {
            servers: Vec::new(),
            timeout: Self::DEFAULT_TIMEOUT,
            retries: Self::DEFAULT_RETRIES,
            nas_identifier: nas_identifier.into(),
        }
    }

    /// Adds a server after those already listed.
    #[must_use]
    pub fn server(mut self, addr: SocketAddr, secret: impl Into<String>) -> Self {
        self.servers.push(RadiusServer::new(addr, secret));
        self
    }

    /// Sets the wait for one transmission.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of retransmissions per server.
    #[must_use]
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }
}

/// The RADIUS second factor (kind `"radius"`): a numeric passcode checked by a RADIUS server.
#[derive(Debug, Clone)]
pub struct RadiusFactor {
    config: RadiusConfig,
}

impl RadiusFactor {
    /// Checks the configuration and builds the factor. Nothing is sent yet.
    ///
    /// # Errors
    /// [`Error::Config`] if there is no server, a shared secret is empty, the NAS-Identifier is
    /// empty or longer than 253 bytes, the timeout is zero, or there are more than 10 retries.
    pub fn new(config: RadiusConfig) -> Result<Self, Error> {
        if config.servers.is_empty() {
            return Err(Error::Config(
                "RADIUS: at least one server is needed".into(),
            ));
        }
        if let Some(server) = config.servers.iter().find(|s| s.secret.secret().is_empty()) {
            return Err(Error::Config(format!(
                "RADIUS: the shared secret of {} is empty",
                server.addr
            )));
        }
        if config.nas_identifier.is_empty() || config.nas_identifier.len() > MAX_ATTR_VALUE_LEN {
            return Err(Error::Config(
                "RADIUS: the NAS-Identifier must be 1 to 253 bytes long".into(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(Error::Config(
                "RADIUS: the timeout must be longer than zero".into(),
            ));
        }
        if config.retries > MAX_RETRIES {
            return Err(Error::Config(format!(
                "RADIUS: {} retries per server is too many (at most {MAX_RETRIES})",
                config.retries
            )));
        }
        Ok(RadiusFactor { config })
    }

    /// The configuration in use.
    pub fn config(&self) -> &RadiusConfig {
        &self.config
    }

    async fn verify_inner(
        &self,
        account: &FactorAccount,
        response: &str,
        challenge: Option<&str>,
    ) -> Result<Verification, Error> {
        let username = account.username.as_bytes();
        if username.is_empty() || username.len() > MAX_ATTR_VALUE_LEN {
            return Err(Error::InvalidInput(
                "RADIUS: a User-Name must be 1 to 253 bytes long".into(),
            ));
        }
        let (issuer, state) = match challenge {
            Some(c) => {
                let (issuer, state) = decode_challenge(c)?;
                (Some(issuer), Some(state))
            }
            None => (None, None),
        };
        // No passcode is this long, and RFC 2865 cannot carry it: a wrong answer, not a failure.
        // A NUL could not be told apart from the padding.
        if response.len() > MAX_PASSWORD_LEN || response.contains('\0') {
            return Ok(Verification::Rejected);
        }

        // The server that issued a challenge knows its State: ask it first, then the others.
        let servers = &self.config.servers;
        let mut order: Vec<usize> = Vec::with_capacity(servers.len());
        if let Some(i) = issuer.filter(|&i| i < servers.len()) {
            order.push(i);
        }
        order.extend((0..servers.len()).filter(|i| Some(*i) != issuer));

        let mut failures = Vec::with_capacity(order.len());
        for index in order {
            let Some(server) = servers.get(index) else {
                continue;
            };
            let id = random_bytes(1)?.first().copied().unwrap_or(0);
            let authenticator: [u8; 16] = random_bytes(16)?
                .try_into()
                .map_err(|_| Error::Crypto("short random authenticator".into()))?;
            let secret = server.secret.secret().as_bytes();
            let packet = build_access_request(
                secret,
                id,
                &authenticator,
                username,
                response.as_bytes(),
                self.config.nas_identifier.as_bytes(),
                state.as_deref(),
            )?;
            match self.exchange(server, &packet, id, &authenticator).await {
                Ok(reply) => return Ok(reply.into_verification(index)),
                Err(why) => {
                    tracing::warn!(server = %server.addr, problem = %why, "RADIUS server failed");
                    failures.push(format!("{}: {why}", server.addr));
                }
            }
        }
        Err(Error::Internal(format!(
            "RADIUS: no server gave a valid answer ({})",
            failures.join("; ")
        )))
    }

    /// Sends `packet` to `server` up to `1 + retries` times and waits for a valid response.
    /// Responses that fail any check are dropped (and logged) while the wait goes on.
    async fn exchange(
        &self,
        server: &RadiusServer,
        packet: &[u8],
        id: u8,
        authenticator: &[u8; 16],
    ) -> Result<Reply, String> {
        let local: SocketAddr = if server.addr.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local)
            .await
            .map_err(|e| format!("cannot open a socket: {e}"))?;
        // Connected: the kernel hands us only datagrams from the server's address.
        socket
            .connect(server.addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let secret = server.secret.secret().as_bytes();
        let tries = self.config.retries.saturating_add(1);
        let mut last_problem: Option<String> = None;
        let mut buf = vec![0u8; MAX_PACKET_LEN];
        for _ in 0..tries {
            let deadline = tokio::time::Instant::now() + self.config.timeout;
            if let Err(e) = socket.send(packet).await {
                last_problem = Some(format!("send failed: {e}"));
                continue;
            }
            loop {
                match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                    Err(_elapsed) => break,
                    Ok(Err(e)) => {
                        // An ICMP port unreachable shows up here as "connection refused".
                        last_problem = Some(format!("receive failed: {e}"));
                        break;
                    }
                    Ok(Ok(n)) => {
                        let datagram = buf.get(..n).unwrap_or_default();
                        match parse_response(datagram, id, authenticator, secret) {
                            Ok(reply) => return Ok(reply),
                            Err(dropped) => {
                                tracing::warn!(
                                    server = %server.addr,
                                    reason = %dropped,
                                    "dropping a RADIUS response"
                                );
                                last_problem = Some(format!("dropped a response: {dropped}"));
                            }
                        }
                    }
                }
            }
        }
        let waited = format!(
            "no valid answer after {tries} tries of {:?}",
            self.config.timeout
        );
        Err(match last_problem {
            Some(problem) => format!("{waited}; last problem: {problem}"),
            None => waited,
        })
    }
}

impl SecondFactor for RadiusFactor {
    fn kind(&self) -> &str {
        "radius"
    }

    fn prompt(&self, _account: &FactorAccount) -> Prompt {
        Prompt::numeric("Passcode", "Enter your RSA SecurID passcode.", 16)
    }

    fn verify<'a>(
        &'a self,
        account: &'a FactorAccount,
        response: &'a str,
        challenge: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Verification, Error>> {
        Box::pin(self.verify_inner(account, response, challenge))
    }
}

/// A response that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Accept,
    Reject,
    Challenge {
        /// The Reply-Message attributes, concatenated in order.
        reply_message: Vec<u8>,
        /// The first State attribute, if any.
        state: Option<Vec<u8>>,
    },
}

impl Reply {
    fn into_verification(self, server_index: usize) -> Verification {
        match self {
            Reply::Accept => Verification::accepted(["otp"]),
            Reply::Reject => Verification::Rejected,
            Reply::Challenge {
                reply_message,
                state,
            } => {
                let hint = sanitise_hint(&reply_message);
                let hint = if hint.is_empty() {
                    DEFAULT_CHALLENGE_HINT.to_string()
                } else {
                    hint
                };
                Verification::Challenge {
                    // Text, not digits: a new-PIN challenge may ask for letters.
                    prompt: Prompt {
                        label: "Passcode".into(),
                        hint,
                        input: InputKind::Text { max_len: 64 },
                    },
                    state: encode_challenge(server_index, state.as_deref().unwrap_or_default()),
                }
            }
        }
    }
}

/// Why a response was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dropped {
    /// Shorter than a header, or shorter than its Length field says.
    Truncated,
    /// A Length field below 20 or above 4096.
    BadLength,
    /// Not an answer to our request.
    WrongIdentifier,
    /// Not Access-Accept, Access-Reject or Access-Challenge.
    UnexpectedCode(u8),
    /// An attribute's length is below 2 or runs past the packet.
    BadAttribute,
    /// The Response Authenticator does not match (wrong secret, forged or altered packet).
    BadResponseAuthenticator,
    /// No Message-Authenticator attribute.
    MissingMessageAuthenticator,
    /// A Message-Authenticator of the wrong size, more than one, or a wrong value.
    BadMessageAuthenticator,
    /// OpenSSL failed to compute a digest.
    Crypto,
}

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Dropped::Truncated => f.write_str("truncated packet"),
            Dropped::BadLength => f.write_str("invalid Length field"),
            Dropped::WrongIdentifier => f.write_str("Identifier does not match the request"),
            Dropped::UnexpectedCode(c) => write!(f, "unexpected packet code {c}"),
            Dropped::BadAttribute => f.write_str("malformed attribute"),
            Dropped::BadResponseAuthenticator => {
                f.write_str("invalid Response Authenticator (is the shared secret right?)")
            }
            Dropped::MissingMessageAuthenticator => {
                f.write_str("no Message-Authenticator (the server must send one on every response)")
            }
            Dropped::BadMessageAuthenticator => f.write_str("invalid Message-Authenticator"),
            Dropped::Crypto => f.write_str("digest computation failed"),
        }
    }
}

fn crypto(e: openssl::error::ErrorStack) -> Error {
    Error::Crypto(e.to_string())
}

/// MD5 of the concatenation of `parts`.
fn md5(parts: &[&[u8]]) -> Result<[u8; 16], Error> {
    let mut hasher = Hasher::new(MessageDigest::md5()).map_err(crypto)?;
    for part in parts {
        hasher.update(part).map_err(crypto)?;
    }
    let digest = hasher.finish().map_err(crypto)?;
    <[u8; 16]>::try_from(&*digest).map_err(|_| Error::Crypto("MD5 digest is not 16 bytes".into()))
}

/// HMAC-MD5 of `data` under `key`.
fn hmac_md5(key: &[u8], data: &[u8]) -> Result<[u8; 16], Error> {
    let key = PKey::hmac(key).map_err(crypto)?;
    let mut signer = Signer::new(MessageDigest::md5(), &key).map_err(crypto)?;
    signer.update(data).map_err(crypto)?;
    let mac = signer.sign_to_vec().map_err(crypto)?;
    <[u8; 16]>::try_from(mac.as_slice())
        .map_err(|_| Error::Crypto("HMAC-MD5 is not 16 bytes".into()))
}

/// RFC 2865 §5.2: pads `password` with NULs to a multiple of 16 octets (at least 16) and XORs
/// each block with `MD5(secret + previous)`, where `previous` is the Request Authenticator for the
/// first block and the previous ciphertext block after that.
fn hide_password(
    secret: &[u8],
    authenticator: &[u8; 16],
    password: &[u8],
) -> Result<Vec<u8>, Error> {
    if password.len() > MAX_PASSWORD_LEN {
        return Err(Error::InvalidInput(
            "a RADIUS User-Password is at most 128 bytes".into(),
        ));
    }
    let padded_len = password.len().div_ceil(16).max(1) * 16;
    let mut out = password.to_vec();
    out.resize(padded_len, 0);
    let mut previous: [u8; 16] = *authenticator;
    for block in out.chunks_mut(16) {
        let b = md5(&[secret, &previous])?;
        for (c, k) in block.iter_mut().zip(b.iter()) {
            *c ^= k;
        }
        previous.copy_from_slice(block);
    }
    Ok(out)
}

/// Appends one attribute.
fn push_attribute(packet: &mut Vec<u8>, kind: u8, value: &[u8]) -> Result<(), Error> {
    let len = u8::try_from(value.len() + 2)
        .ok()
        .filter(|_| value.len() <= MAX_ATTR_VALUE_LEN)
        .ok_or_else(|| Error::InvalidInput(format!("RADIUS attribute {kind} is too long")))?;
    packet.push(kind);
    packet.push(len);
    packet.extend_from_slice(value);
    Ok(())
}

/// An Access-Request: Message-Authenticator first (as the BlastRADIUS guidance recommends), then
/// User-Name, User-Password, NAS-Identifier and State if any.
fn build_access_request(
    secret: &[u8],
    id: u8,
    authenticator: &[u8; 16],
    username: &[u8],
    password: &[u8],
    nas_identifier: &[u8],
    state: Option<&[u8]>,
) -> Result<Vec<u8>, Error> {
    let mut packet = Vec::with_capacity(256);
    packet.extend_from_slice(&[ACCESS_REQUEST, id, 0, 0]);
    packet.extend_from_slice(authenticator);
    let ma_value = packet.len() + 2;
    push_attribute(&mut packet, MESSAGE_AUTHENTICATOR, &[0u8; 16])?;
    push_attribute(&mut packet, USER_NAME, username)?;
    push_attribute(
        &mut packet,
        USER_PASSWORD,
        &hide_password(secret, authenticator, password)?,
    )?;
    push_attribute(&mut packet, NAS_IDENTIFIER, nas_identifier)?;
    if let Some(state) = state {
        push_attribute(&mut packet, STATE, state)?;
    }
    let len = u16::try_from(packet.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_PACKET_LEN)
        .ok_or_else(|| Error::InvalidInput("RADIUS request too long".into()))?;
    packet
        .get_mut(2..4)
        .ok_or_else(|| Error::Internal("RADIUS header missing".into()))?
        .copy_from_slice(&len.to_be_bytes());
    // RFC 3579 §3.2: HMAC-MD5 over the whole request with the attribute's value zeroed.
    let mac = hmac_md5(secret, &packet)?;
    packet
        .get_mut(ma_value..ma_value + 16)
        .ok_or_else(|| Error::Internal("Message-Authenticator missing".into()))?
        .copy_from_slice(&mac);
    Ok(packet)
}

/// One attribute of a parsed packet: its type, its value and where the value starts.
struct Attribute<'p> {
    kind: u8,
    value: &'p [u8],
    offset: usize,
}

/// Splits `attributes` (starting at `base` in the packet) into attributes; `None` if any length
/// is below 2 or runs past the end.
fn split_attributes(attributes: &[u8], base: usize) -> Option<Vec<Attribute<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < attributes.len() {
        let kind = *attributes.get(pos)?;
        let len = usize::from(*attributes.get(pos + 1)?);
        if len < 2 {
            return None;
        }
        let value = attributes.get(pos + 2..pos + len)?;
        out.push(Attribute {
            kind,
            value,
            offset: base + pos + 2,
        });
        pos += len;
    }
    Some(out)
}

/// Checks a datagram received in answer to the request (`id`, `request_authenticator`): the
/// Length field, the Identifier, the code, the attributes' lengths, the Response Authenticator
/// (RFC 2865 §3) and the Message-Authenticator (RFC 3579 §3.2, required on every response).
fn parse_response(
    datagram: &[u8],
    id: u8,
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<Reply, Dropped> {
    let header = datagram.get(..HEADER_LEN).ok_or(Dropped::Truncated)?;
    let (code, got_id) = match header {
        [code, got_id, ..] => (*code, *got_id),
        _ => return Err(Dropped::Truncated),
    };
    let len_bytes: [u8; 2] = header
        .get(2..4)
        .and_then(|b| b.try_into().ok())
        .ok_or(Dropped::Truncated)?;
    let len = usize::from(u16::from_be_bytes(len_bytes));
    if !(HEADER_LEN..=MAX_PACKET_LEN).contains(&len) {
        return Err(Dropped::BadLength);
    }
    // RFC 2865 §3: octets past Length are padding; a packet shorter than Length is dropped.
    let packet = datagram.get(..len).ok_or(Dropped::Truncated)?;
    if got_id != id {
        return Err(Dropped::WrongIdentifier);
    }
    if !matches!(code, ACCESS_ACCEPT | ACCESS_REJECT | ACCESS_CHALLENGE) {
        return Err(Dropped::UnexpectedCode(code));
    }
    let received_authenticator = packet.get(4..HEADER_LEN).ok_or(Dropped::Truncated)?;
    let attribute_bytes = packet.get(HEADER_LEN..).ok_or(Dropped::Truncated)?;
    let attributes = split_attributes(attribute_bytes, HEADER_LEN).ok_or(Dropped::BadAttribute)?;

    // Response Authenticator = MD5(Code + Identifier + Length + Request Authenticator +
    // Attributes + Secret).
    let head = packet.get(..4).ok_or(Dropped::Truncated)?;
    let expected = md5(&[head, request_authenticator, attribute_bytes, secret])
        .map_err(|_| Dropped::Crypto)?;
    if !ct_eq(&expected, received_authenticator) {
        return Err(Dropped::BadResponseAuthenticator);
    }

    // Message-Authenticator: exactly one, 16 octets, HMAC-MD5 over the packet with the Request
    // Authenticator in place of the Response Authenticator and its own value zeroed.
    let mut mas = attributes
        .iter()
        .filter(|a| a.kind == MESSAGE_AUTHENTICATOR);
    let ma = mas.next().ok_or(Dropped::MissingMessageAuthenticator)?;
    if mas.next().is_some() || ma.value.len() != 16 {
        return Err(Dropped::BadMessageAuthenticator);
    }
    let mut signed = packet.to_vec();
    signed
        .get_mut(4..HEADER_LEN)
        .ok_or(Dropped::Truncated)?
        .copy_from_slice(request_authenticator);
    signed
        .get_mut(ma.offset..ma.offset + 16)
        .ok_or(Dropped::Truncated)?
        .fill(0);
    let mac = hmac_md5(secret, &signed).map_err(|_| Dropped::Crypto)?;
    if !ct_eq(&mac, ma.value) {
        return Err(Dropped::BadMessageAuthenticator);
    }

    Ok(match code {
        ACCESS_ACCEPT => Reply::Accept,
        ACCESS_REJECT => Reply::Reject,
        _ => Reply::Challenge {
            reply_message: attributes
                .iter()
                .filter(|a| a.kind == REPLY_MESSAGE)
                .flat_map(|a| a.value.iter().copied())
                .collect(),
            state: attributes
                .iter()
                .find(|a| a.kind == STATE)
                .map(|a| a.value.to_vec()),
        },
    })
}

/// A Reply-Message made fit for a page: UTF-8 (lossy), whitespace runs as one space, control and
/// bidirectional-formatting characters removed, at most 200 characters.
fn sanitise_hint(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::new();
    let mut pending_space = false;
    let mut count = 0usize;
    for c in text.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        let invisible = matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFFD}');
        if c.is_control() || invisible {
            continue;
        }
        let needed = if pending_space { 2 } else { 1 };
        if count + needed > MAX_HINT_CHARS {
            break;
        }
        if pending_space {
            out.push(' ');
            pending_space = false;
        }
        out.push(c);
        count += needed;
    }
    out
}

/// The state of a challenge: the index of the server that sent it, `:`, and the hex of its State
/// attribute (empty when it sent none).
fn encode_challenge(server_index: usize, state: &[u8]) -> String {
    let mut out = format!("{server_index}:");
    for b in state {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The inverse of [`encode_challenge`].
fn decode_challenge(challenge: &str) -> Result<(usize, Vec<u8>), Error> {
    let malformed = || Error::InvalidInput("RADIUS: malformed challenge state".into());
    let (index, hex) = challenge.split_once(':').ok_or_else(malformed)?;
    let index: usize = index.parse().map_err(|_| malformed())?;
    if hex.len() % 2 != 0 || hex.len() > 2 * MAX_ATTR_VALUE_LEN {
        return Err(malformed());
    }
    let nibble = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let state = hex
        .as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some((nibble(*hi)? << 4) | nibble(*lo)?),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(malformed)?;
    Ok((index, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"xyzzy5461";
    /// 00 01 02 … 0f.
    const RA: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

    fn hex(s: &str) -> Vec<u8> {
        decode_challenge(&format!("0:{s}")).unwrap().1
    }

    /// The inverse of RFC 2865 §5.2 hiding, as a server does it (padding left in place).
    fn unhide_password(secret: &[u8], authenticator: &[u8; 16], hidden: &[u8]) -> Vec<u8> {
        assert_eq!(hidden.len() % 16, 0);
        let mut out = Vec::new();
        let mut previous = authenticator.to_vec();
        for block in hidden.chunks(16) {
            let b = md5(&[secret, &previous]).unwrap();
            out.extend(block.iter().zip(b.iter()).map(|(c, k)| c ^ k));
            previous = block.to_vec();
        }
        out
    }

    #[test]
    fn password_hiding_matches_the_rfc_2865_example() {
        // RFC 2865 §7.1: "arctangent", secret "xyzzy5461".
        let ra: [u8; 16] = hex("0f403f9473978057bd83d5cb98f4227a").try_into().unwrap();
        assert_eq!(
            hide_password(SECRET, &ra, b"arctangent").unwrap(),
            hex("0dbe708d93d413ce3196e43f782a0aee")
        );
    }

    #[test]
    fn password_hiding_matches_independent_values() {
        // Computed with Python's hashlib (MD5 chaining over NUL-padded 16-byte blocks).
        assert_eq!(
            hide_password(SECRET, &RA, b"123456").unwrap(),
            hex("7133d9dcfb204afc53c96a316a88996b")
        );
        assert_eq!(
            hide_password(SECRET, &RA, b"12345678901234567890").unwrap(),
            hex("7133d9dcfb207dc46af95b0359bcac5d3ede47042f0e8aef78af97e6078c8337")
        );
    }

    #[test]
    fn password_hiding_round_trips_and_pads() {
        for len in [0usize, 1, 15, 16, 17, 31, 32, 100, 128] {
            let password: Vec<u8> = (0..len).map(|i| b'0' + (i % 10) as u8).collect();
            let hidden = hide_password(b"s3cret", &RA, &password).unwrap();
            assert_eq!(hidden.len(), len.div_ceil(16).max(1) * 16, "length {len}");
            let mut clear = unhide_password(b"s3cret", &RA, &hidden);
            assert!(clear[len..].iter().all(|&b| b == 0));
            clear.truncate(len);
            assert_eq!(clear, password);
            if len > 0 {
                assert_ne!(unhide_password(b"other", &RA, &hidden)[..len], password[..]);
            }
        }
        assert!(hide_password(SECRET, &RA, &[b'1'; 129]).is_err());
    }

    #[test]
    fn message_authenticator_matches_an_independent_value() {
        // Access-Request, Identifier 42, authenticator RA, User-Name "alice", Message-Authenticator
        // zeroed; HMAC-MD5 computed with Python's hmac module.
        let mut packet = vec![ACCESS_REQUEST, 42, 0, 45];
        packet.extend_from_slice(&RA);
        packet.extend_from_slice(&[USER_NAME, 7]);
        packet.extend_from_slice(b"alice");
        packet.extend_from_slice(&[MESSAGE_AUTHENTICATOR, 18]);
        packet.extend_from_slice(&[0; 16]);
        assert_eq!(
            hmac_md5(SECRET, &packet).unwrap().to_vec(),
            hex("db3063e8b59aefccb7e9aab4aa6b6c72")
        );
    }

    /// A request's attributes as (type, value) pairs.
    type AttributeList = Vec<(u8, Vec<u8>)>;

    /// A server's view of a request: its attributes, with the Message-Authenticator checked.
    fn check_request(packet: &[u8], secret: &[u8]) -> (u8, [u8; 16], AttributeList) {
        assert_eq!(packet[0], ACCESS_REQUEST);
        assert_eq!(
            usize::from(u16::from_be_bytes([packet[2], packet[3]])),
            packet.len()
        );
        let ra: [u8; 16] = packet[4..20].try_into().unwrap();
        let attrs = split_attributes(&packet[20..], 20).unwrap();
        let ma: Vec<_> = attrs
            .iter()
            .filter(|a| a.kind == MESSAGE_AUTHENTICATOR)
            .collect();
        assert_eq!(ma.len(), 1, "exactly one Message-Authenticator");
        assert_eq!(ma[0].offset, 22, "Message-Authenticator comes first");
        let mut zeroed = packet.to_vec();
        zeroed[22..38].fill(0);
        assert_eq!(hmac_md5(secret, &zeroed).unwrap(), ma[0].value);
        let list = attrs.iter().map(|a| (a.kind, a.value.to_vec())).collect();
        (packet[1], ra, list)
    }

    #[test]
    fn requests_carry_a_valid_message_authenticator_and_the_hidden_password() {
        let packet =
            build_access_request(SECRET, 7, &RA, b"alice", b"123456", b"ahs-iam", Some(b"st"))
                .unwrap();
        let (id, ra, attrs) = check_request(&packet, SECRET);
        assert_eq!((id, ra), (7, RA));
        let get = |k: u8| attrs.iter().find(|(t, _)| *t == k).map(|(_, v)| v.clone());
        assert_eq!(get(USER_NAME).unwrap(), b"alice");
        assert_eq!(get(NAS_IDENTIFIER).unwrap(), b"ahs-iam");
        assert_eq!(get(STATE).unwrap(), b"st");
        let hidden = get(USER_PASSWORD).unwrap();
        assert_eq!(hidden, hex("7133d9dcfb204afc53c96a316a88996b"));
        let no_state =
            build_access_request(SECRET, 7, &RA, b"alice", b"1", b"ahs-iam", None).unwrap();
        assert!(
            check_request(&no_state, SECRET)
                .2
                .iter()
                .all(|(t, _)| *t != STATE)
        );
    }

    /// A response as a server builds it, optionally with a (valid) Message-Authenticator.
    fn response(
        code: u8,
        id: u8,
        request_auth: &[u8; 16],
        attrs: &[(u8, &[u8])],
        with_ma: bool,
        secret: &[u8],
    ) -> Vec<u8> {
        let mut packet = vec![code, id, 0, 0];
        packet.extend_from_slice(request_auth);
        let mut ma_at = None;
        for (kind, value) in attrs {
            push_attribute(&mut packet, *kind, value).unwrap();
        }
        if with_ma {
            ma_at = Some(packet.len() + 2);
            push_attribute(&mut packet, MESSAGE_AUTHENTICATOR, &[0; 16]).unwrap();
        }
        let len = packet.len() as u16;
        packet[2..4].copy_from_slice(&len.to_be_bytes());
        if let Some(at) = ma_at {
            let mac = hmac_md5(secret, &packet).unwrap();
            packet[at..at + 16].copy_from_slice(&mac);
        }
        let auth = md5(&[&packet[..4], request_auth, &packet[20..], secret]).unwrap();
        packet[4..20].copy_from_slice(&auth);
        packet
    }

    #[test]
    fn valid_responses_parse() {
        let accept = response(ACCESS_ACCEPT, 9, &RA, &[], true, SECRET);
        assert_eq!(parse_response(&accept, 9, &RA, SECRET), Ok(Reply::Accept));
        let reject = response(
            ACCESS_REJECT,
            9,
            &RA,
            &[(REPLY_MESSAGE, b"no")],
            true,
            SECRET,
        );
        assert_eq!(parse_response(&reject, 9, &RA, SECRET), Ok(Reply::Reject));
        let challenge = response(
            ACCESS_CHALLENGE,
            9,
            &RA,
            &[
                (REPLY_MESSAGE, b"Enter the "),
                (STATE, b"\x01\x02"),
                (REPLY_MESSAGE, b"next one."),
            ],
            true,
            SECRET,
        );
        assert_eq!(
            parse_response(&challenge, 9, &RA, SECRET),
            Ok(Reply::Challenge {
                reply_message: b"Enter the next one.".to_vec(),
                state: Some(vec![1, 2])
            })
        );
        // Octets past the Length field are padding (RFC 2865 §3).
        let mut padded = accept.clone();
        padded.extend_from_slice(&[0xff; 7]);
        assert_eq!(parse_response(&padded, 9, &RA, SECRET), Ok(Reply::Accept));
    }

    #[test]
    fn the_rfc_2865_example_accept_has_a_valid_authenticator_but_is_dropped_without_a_message_authenticator()
     {
        // RFC 2865 §7.1: the Access-Accept for "nemo".
        let ra: [u8; 16] = hex("0f403f9473978057bd83d5cb98f4227a").try_into().unwrap();
        let accept = hex("0200002686fe220e7624ba2a1005f6bf9b55e0b206060000000\
                          10f06000000000e06c0a80103");
        assert_eq!(
            parse_response(&accept, 0, &ra, SECRET),
            Err(Dropped::MissingMessageAuthenticator)
        );
        let mut altered = accept.clone();
        altered[25] ^= 1;
        assert_eq!(
            parse_response(&altered, 0, &ra, SECRET),
            Err(Dropped::BadResponseAuthenticator)
        );
    }

    #[test]
    fn responses_without_a_valid_message_authenticator_are_dropped() {
        for code in [ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE] {
            let bare = response(code, 1, &RA, &[], false, SECRET);
            assert_eq!(
                parse_response(&bare, 1, &RA, SECRET),
                Err(Dropped::MissingMessageAuthenticator)
            );
        }
        // A Message-Authenticator computed with another key, under a valid Response Authenticator.
        let mut packet = vec![ACCESS_ACCEPT, 1, 0, 38];
        packet.extend_from_slice(&RA);
        packet.extend_from_slice(&[MESSAGE_AUTHENTICATOR, 18]);
        packet.extend_from_slice(
            &hmac_md5(b"wrong", &{
                let mut p = packet.clone();
                p.extend_from_slice(&[0; 16]);
                p
            })
            .unwrap(),
        );
        let auth = md5(&[&packet[..4], &RA, &packet[20..], SECRET]).unwrap();
        packet[4..20].copy_from_slice(&auth);
        assert_eq!(
            parse_response(&packet, 1, &RA, SECRET),
            Err(Dropped::BadMessageAuthenticator)
        );
        // Two Message-Authenticators.
        let two = response(
            ACCESS_ACCEPT,
            1,
            &RA,
            &[(MESSAGE_AUTHENTICATOR, &[0; 16])],
            true,
            SECRET,
        );
        assert_eq!(
            parse_response(&two, 1, &RA, SECRET),
            Err(Dropped::BadMessageAuthenticator)
        );
        // A Message-Authenticator of the wrong size.
        let short = response(
            ACCESS_ACCEPT,
            1,
            &RA,
            &[(MESSAGE_AUTHENTICATOR, &[0; 8])],
            false,
            SECRET,
        );
        assert_eq!(
            parse_response(&short, 1, &RA, SECRET),
            Err(Dropped::BadMessageAuthenticator)
        );
    }

    #[test]
    fn bad_authenticators_secrets_and_identifiers_are_dropped() {
        let accept = response(ACCESS_ACCEPT, 9, &RA, &[], true, SECRET);
        assert_eq!(
            parse_response(&accept, 9, &RA, b"another secret"),
            Err(Dropped::BadResponseAuthenticator)
        );
        assert_eq!(
            parse_response(&accept, 10, &RA, SECRET),
            Err(Dropped::WrongIdentifier)
        );
        let mut other_ra = RA;
        other_ra[0] ^= 1;
        assert_eq!(
            parse_response(&accept, 9, &other_ra, SECRET),
            Err(Dropped::BadResponseAuthenticator)
        );
        for i in 0..accept.len() {
            let mut flipped = accept.clone();
            flipped[i] ^= 0x40;
            assert!(
                parse_response(&flipped, 9, &RA, SECRET).is_err(),
                "byte {i} flipped"
            );
        }
        let request = response(ACCESS_REQUEST, 9, &RA, &[], true, SECRET);
        assert_eq!(
            parse_response(&request, 9, &RA, SECRET),
            Err(Dropped::UnexpectedCode(1))
        );
    }

    #[test]
    fn truncated_and_overlong_packets_are_dropped() {
        let accept = response(
            ACCESS_ACCEPT,
            9,
            &RA,
            &[(REPLY_MESSAGE, b"hello")],
            true,
            SECRET,
        );
        for n in 0..accept.len() {
            assert!(
                parse_response(&accept[..n], 9, &RA, SECRET).is_err(),
                "{n} bytes"
            );
        }
        assert_eq!(
            parse_response(&accept[..19], 9, &RA, SECRET),
            Err(Dropped::Truncated)
        );
        // Length field longer than the datagram.
        let mut long = accept.clone();
        long[3] += 1;
        assert_eq!(
            parse_response(&long, 9, &RA, SECRET),
            Err(Dropped::Truncated)
        );
        // Length field below the header size, and above 4096.
        let mut tiny = accept.clone();
        tiny[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            parse_response(&tiny, 9, &RA, SECRET),
            Err(Dropped::BadLength)
        );
        let mut huge = accept.clone();
        huge.resize(5000, 0);
        huge[2..4].copy_from_slice(&4097u16.to_be_bytes());
        assert_eq!(
            parse_response(&huge, 9, &RA, SECRET),
            Err(Dropped::BadLength)
        );
    }

    #[test]
    fn malformed_attributes_are_dropped_without_panicking() {
        for attrs in [
            &[18u8, 0][..],
            &[18, 1, 0],
            &[18, 9, b'a'],
            &[18],
            &[18, 3, b'a', 24],
        ] {
            let mut packet = vec![ACCESS_ACCEPT, 1, 0, 0];
            packet.extend_from_slice(&RA);
            packet.extend_from_slice(attrs);
            let len = packet.len() as u16;
            packet[2..4].copy_from_slice(&len.to_be_bytes());
            assert_eq!(
                parse_response(&packet, 1, &RA, SECRET),
                Err(Dropped::BadAttribute),
                "{attrs:?}"
            );
        }
        // Pseudo-random garbage: never a panic, never accepted.
        let mut x: u32 = 0x1234_5678;
        for _ in 0..2000 {
            let len = (x % 120) as usize;
            let mut data = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                data.push(x as u8);
            }
            if data.len() >= 4 {
                data[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            }
            assert!(parse_response(&data, data.get(1).copied().unwrap_or(0), &RA, SECRET).is_err());
        }
    }

    #[test]
    fn hints_are_sanitised() {
        assert_eq!(
            sanitise_hint(b"  Enter\r\n the\tnext\x07 tokencode.  "),
            "Enter the next tokencode."
        );
        assert_eq!(sanitise_hint("a\u{202E}b\u{200B}c".as_bytes()), "abc");
        assert_eq!(sanitise_hint(b"\xff\xfe"), "");
        assert_eq!(sanitise_hint(&[b'x'; 500]).chars().count(), 200);
        let words = "word ".repeat(100);
        let hint = sanitise_hint(words.as_bytes());
        assert!(hint.chars().count() <= 200 && !hint.ends_with(' '));
        assert_eq!(
            sanitise_hint("Prochain code à 6 chiffres".as_bytes()),
            "Prochain code à 6 chiffres"
        );
    }

    #[test]
    fn challenge_state_round_trips_and_rejects_garbage() {
        let encoded = encode_challenge(1, &[0x00, 0xab, 0xff]);
        assert_eq!(encoded, "1:00abff");
        assert_eq!(
            decode_challenge(&encoded).unwrap(),
            (1, vec![0x00, 0xab, 0xff])
        );
        assert_eq!(decode_challenge("0:").unwrap(), (0, vec![]));
        for bad in ["", "00ab", "x:00", "0:0", "0:zz", "-1:00", "0:+1"] {
            assert!(decode_challenge(bad).is_err(), "{bad}");
        }
        assert!(decode_challenge(&format!("0:{}", "00".repeat(254))).is_err());
    }

    #[test]
    fn the_configuration_is_checked() {
        let addr: SocketAddr = "127.0.0.1:1812".parse().unwrap();
        assert!(RadiusFactor::new(RadiusConfig::new("nas")).is_err());
        assert!(RadiusFactor::new(RadiusConfig::new("nas").server(addr, "")).is_err());
        assert!(RadiusFactor::new(RadiusConfig::new("").server(addr, "s")).is_err());
        assert!(
            RadiusFactor::new(
                RadiusConfig::new("nas")
                    .server(addr, "s")
                    .timeout(Duration::ZERO)
            )
            .is_err()
        );
        assert!(RadiusFactor::new(RadiusConfig::new("nas").server(addr, "s").retries(11)).is_err());
        let factor = RadiusFactor::new(RadiusConfig::new("nas").server(addr, "s")).unwrap();
        assert_eq!(factor.config().timeout, Duration::from_secs(3));
        assert_eq!(factor.config().retries, 2);
        assert_eq!(factor.kind(), "radius");
        assert!(
            !format!("{factor:?}").contains("\"s\""),
            "the secret never prints"
        );
        let account = account("alice");
        assert_eq!(
            factor.prompt(&account),
            Prompt::numeric("Passcode", "Enter your RSA SecurID passcode.", 16)
        );
    }

    fn account(username: &str) -> FactorAccount {
        FactorAccount {
            user_id: "1".into(),
            username: username.into(),
            email: "a@example.org".into(),
        }
    }

    /// A scripted server on a loopback port: for each request, checks it and sends the datagrams
    /// `answer` makes of it.
    async fn fake_server<F>(
        secret: &'static [u8],
        answer: F,
    ) -> (SocketAddr, tokio::task::JoinHandle<Vec<AttributeList>>)
    where
        F: Fn(u8, [u8; 16], &[(u8, Vec<u8>)]) -> Vec<Vec<u8>> + Send + 'static,
    {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = vec![0u8; 4096];
            while let Ok(Ok((n, from))) =
                tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await
            {
                let (id, ra, attrs) = check_request(&buf[..n], secret);
                for datagram in answer(id, ra, &attrs) {
                    socket.send_to(&datagram, from).await.unwrap();
                }
                seen.push(attrs);
                if seen.len() >= 2 {
                    break;
                }
            }
            seen
        });
        (addr, task)
    }

    fn quick(addr: SocketAddr, secret: &str) -> RadiusFactor {
        RadiusFactor::new(
            RadiusConfig::new("unit")
                .server(addr, secret)
                .timeout(Duration::from_millis(300))
                .retries(0),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn forged_and_unsigned_answers_are_ignored_and_the_valid_one_is_used() {
        let (addr, task) = fake_server(b"fake-secret", |id, ra, attrs| {
            let password = attrs
                .iter()
                .find(|(t, _)| *t == USER_PASSWORD)
                .unwrap()
                .1
                .clone();
            let clear = unhide_password(b"fake-secret", &ra, &password);
            assert_eq!(&clear[..6], b"123456");
            vec![
                response(
                    ACCESS_ACCEPT,
                    id.wrapping_add(1),
                    &ra,
                    &[],
                    true,
                    b"fake-secret",
                ),
                response(ACCESS_ACCEPT, id, &ra, &[], false, b"fake-secret"),
                response(ACCESS_ACCEPT, id, &ra, &[], true, b"guessed"),
                response(ACCESS_REJECT, id, &ra, &[], true, b"fake-secret"),
            ]
        })
        .await;
        let factor = quick(addr, "fake-secret");
        assert_eq!(
            factor
                .verify(&account("alice"), "123456", None)
                .await
                .unwrap(),
            Verification::Rejected
        );
        task.abort();
    }

    #[tokio::test]
    async fn an_accept_without_message_authenticator_is_never_trusted() {
        let (addr, task) = fake_server(b"fake-secret", |id, ra, _| {
            vec![response(ACCESS_ACCEPT, id, &ra, &[], false, b"fake-secret")]
        })
        .await;
        let err = quick(addr, "fake-secret")
            .verify(&account("alice"), "123456", None)
            .await
            .unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, Error::Internal(_)));
        assert!(message.contains("no Message-Authenticator"), "{message}");
        task.abort();
    }

    #[tokio::test]
    async fn a_challenge_carries_the_state_back() {
        let (addr, task) = fake_server(b"fake-secret", |id, ra, attrs| {
            let state = attrs
                .iter()
                .find(|(t, _)| *t == STATE)
                .map(|(_, v)| v.clone());
            match state {
                None => vec![response(
                    ACCESS_CHALLENGE,
                    id,
                    &ra,
                    &[
                        (REPLY_MESSAGE, b"New PIN:\n\x1b[31m"),
                        (STATE, &[0xde, 0xad, 0x00]),
                    ],
                    true,
                    b"fake-secret",
                )],
                Some(s) if s == [0xde, 0xad, 0x00] => {
                    vec![response(ACCESS_ACCEPT, id, &ra, &[], true, b"fake-secret")]
                }
                Some(_) => vec![response(ACCESS_REJECT, id, &ra, &[], true, b"fake-secret")],
            }
        })
        .await;
        let factor = quick(addr, "fake-secret");
        let first = factor.verify(&account("carol"), "1", None).await.unwrap();
        let Verification::Challenge { prompt, state } = first else {
            panic!("{first:?}")
        };
        assert_eq!(prompt.hint, "New PIN: [31m");
        assert_eq!(state, "0:dead00");
        let second = factor
            .verify(&account("carol"), "abc123", Some(&state))
            .await
            .unwrap();
        assert_eq!(second, Verification::accepted(["otp"]));
        assert_eq!(task.await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn oversized_answers_are_rejected_without_asking_and_bad_input_is_an_error() {
        // Nothing listens: an attempt to send would fail with an error, not a rejection.
        let factor = quick("127.0.0.1:9".parse().unwrap(), "s");
        let long = "1".repeat(129);
        assert_eq!(
            factor.verify(&account("alice"), &long, None).await.unwrap(),
            Verification::Rejected
        );
        assert_eq!(
            factor
                .verify(&account("alice"), "12\u{0}34", None)
                .await
                .unwrap(),
            Verification::Rejected
        );
        assert!(matches!(
            factor.verify(&account(""), "1", None).await,
            Err(Error::InvalidInput(_))
        ));
        assert!(matches!(
            factor
                .verify(&account("alice"), "1", Some("not a state"))
                .await,
            Err(Error::InvalidInput(_))
        ));
    }
}
