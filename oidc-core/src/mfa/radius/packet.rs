//! RADIUS packets (RFC 2865) as this client sends and accepts them: the Access-Request with its
//! hidden password and Message-Authenticator, and the checks every response must pass.

use std::fmt;

use openssl::hash::{Hasher, MessageDigest};
use openssl::pkey::PKey;
use openssl::sign::Signer;

use crate::error::Error;
use crate::secret::ct_eq;

/// Packet codes (RFC 2865 §3).
const ACCESS_REQUEST: u8 = 1;
pub(super) const ACCESS_ACCEPT: u8 = 2;
pub(super) const ACCESS_REJECT: u8 = 3;
pub(super) const ACCESS_CHALLENGE: u8 = 11;

/// Attribute types (RFC 2865 §5, RFC 3579 §3.2).
const USER_NAME: u8 = 1;
pub(super) const USER_PASSWORD: u8 = 2;
pub(super) const REPLY_MESSAGE: u8 = 18;
pub(super) const STATE: u8 = 24;
const NAS_IDENTIFIER: u8 = 32;
const MESSAGE_AUTHENTICATOR: u8 = 80;

/// Code (1) + Identifier (1) + Length (2) + Authenticator (16).
const HEADER_LEN: usize = 20;
/// RFC 2865 §3: the largest packet.
pub(super) const MAX_PACKET_LEN: usize = 4096;
/// The largest attribute value (the length octet covers type and length too).
pub(super) const MAX_ATTR_VALUE_LEN: usize = 253;
/// RFC 2865 §5.2: a User-Password is at most 128 octets.
pub(super) const MAX_PASSWORD_LEN: usize = 128;
/// The longest hint taken from a Reply-Message, in characters.
const MAX_HINT_CHARS: usize = 200;

/// A response that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Reply {
    Accept,
    Reject,
    Challenge {
        /// The Reply-Message attributes, concatenated in order.
        reply_message: Vec<u8>,
        /// The first State attribute, if any.
        state: Option<Vec<u8>>,
    },
}

/// Why a response was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dropped {
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
pub(super) fn build_access_request(
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
pub(super) fn parse_response(
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
pub(super) fn sanitise_hint(raw: &[u8]) -> String {
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

#[cfg(test)]
pub(super) mod tests;
