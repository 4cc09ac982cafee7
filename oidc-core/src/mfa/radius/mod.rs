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

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::error::Error;
use crate::mfa::{BoxFuture, FactorAccount, InputKind, Prompt, SecondFactor, Verification};
use crate::secret::{Secret, random_bytes};

mod packet;

use packet::{
    MAX_ATTR_VALUE_LEN, MAX_PACKET_LEN, MAX_PASSWORD_LEN, Reply, build_access_request,
    parse_response, sanitise_hint,
};

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
mod tests;
