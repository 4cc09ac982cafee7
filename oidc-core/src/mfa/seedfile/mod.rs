//! Seed files of hardware tokens: the plain CSV that small vendors ship and the PSKC (RFC 6030) XML
//! that the larger ones do, optionally encrypted with a key exchanged out of band.
//!
//! A seed file is the only time a token's secret crosses from the vendor to the provider, so this
//! module is strict where a mistake would be silent (a short seed, a wrong pre-shared key, two rows
//! for one serial) and forgiving where it would only be tedious (blank lines, a header, a BOM, the
//! padding flavour of the cipher). Rows are judged one by one so that an administrator can fix the
//! bad lines and keep the good ones; only a failure that puts the whole file in doubt (not text,
//! not XML, a wrong key) rejects it as a whole. No message ever quotes a seed.

use std::collections::HashMap;
use std::fmt;

use super::otp::OtpAlgorithm;

mod csv;
mod pskc;

pub(crate) use csv::parse_csv;
pub(crate) use pskc::parse_pskc;

/// RFC 4226 §4 R6: a shared secret of fewer than 128 bits is refused outright.
const MIN_SECRET_BYTES: usize = 16;
/// The longest seed RFC 6238's own vectors use (SHA-512); anything longer is far more likely a
/// misplaced column than a seed.
const MAX_SECRET_BYTES: usize = 64;

/// One token ready to enrol. The secret is raw bytes, whatever the file's encoding was, so that
/// the importer seals it without caring where it came from.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SeedRecord {
    /// Where the token was described (1-based), so that the import report can point at it.
    pub line: usize,
    /// The number printed on the token: the only handle an administrator has to assign it.
    pub serial: String,
    /// The HMAC key. Never printed: see the `Debug` impl.
    pub secret: Vec<u8>,
    /// 6 or 8: what the token's display shows.
    pub digits: u32,
    /// 30 or 60 seconds.
    pub period: u64,
    /// The HMAC hash.
    pub algorithm: OtpAlgorithm,
}

/// Redacts the secret, so that a record can be logged or put in an assertion message safely.
impl fmt::Debug for SeedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeedRecord")
            .field("line", &self.line)
            .field("serial", &self.serial)
            .field(
                "secret",
                &format_args!("[redacted {} bytes]", self.secret.len()),
            )
            .field("digits", &self.digits)
            .field("period", &self.period)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// Why a row (or the whole file, `line` 0) was refused, worded for the administrator who has to
/// fix the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeedError {
    /// 1-based line of the row or `Key` element; 0 when the whole file is refused.
    pub line: usize,
    /// What is wrong and, where it helps, what would be right. Never contains a seed.
    pub message: String,
}

impl fmt::Display for SeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for SeedError {}

/// The good rows and the bad ones side by side: a vendor file of a thousand tokens with one typo
/// should not have to be re-requested to import the other 999.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ParsedSeeds {
    /// Tokens that passed every check, in file order.
    pub records: Vec<SeedRecord>,
    /// Rows that did not, in file order.
    pub errors: Vec<SeedError>,
}

fn whole(message: impl Into<String>) -> SeedError {
    SeedError {
        line: 0,
        message: message.into(),
    }
}

/// Detects the format so that the administrator uploads whatever the vendor sent without saying
/// what it is. Only the encoding is a whole-file matter here: a vendor file in UTF-16 must be
/// re-saved, not half-read.
pub(crate) fn parse(bytes: &[u8], pre_shared_key: Option<&[u8]>) -> Result<ParsedSeeds, SeedError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        whole(format!(
            "the file is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.valid_up_to()
        ))
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('<') {
        parse_pskc(text, pre_shared_key)
    } else {
        Ok(parse_csv(text))
    }
}

// ---------------------------------------------------------------------------------------------
// Checks shared by both formats, so that a token is held to the same rules whatever file it came in.

fn check_serial(serial: &str) -> Result<(), String> {
    if serial.is_empty() {
        return Err("the serial number is empty".into());
    }
    if !serial
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err("the serial number may contain only letters, digits, '-' and '_'".into());
    }
    if serial.len() > 64 {
        return Err(format!(
            "the serial number is {} characters long; at most 64 are allowed",
            serial.len()
        ));
    }
    Ok(())
}

fn check_secret(secret: &[u8]) -> Result<(), String> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(format!(
            "the seed is {} bytes; at least {MIN_SECRET_BYTES} (128 bits, RFC 4226 §4) are required",
            secret.len()
        ));
    }
    if secret.len() > MAX_SECRET_BYTES {
        return Err(format!(
            "the seed is {} bytes; at most {MAX_SECRET_BYTES} are accepted",
            secret.len()
        ));
    }
    Ok(())
}

fn parse_digits(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(d @ (6 | 8)) => Ok(d),
        _ => Err(format!("digits must be 6 or 8, not {}", shown(value, 12))),
    }
}

fn parse_period(value: &str) -> Result<u64, String> {
    match value.parse::<u64>() {
        Ok(p @ (30 | 60)) => Ok(p),
        _ => Err(format!(
            "the period must be 30 or 60 seconds, not {}",
            shown(value, 12)
        )),
    }
}

fn parse_algorithm(value: &str) -> Result<OtpAlgorithm, String> {
    OtpAlgorithm::parse(value).ok_or_else(|| {
        format!(
            "the algorithm must be SHA1, SHA256 or SHA512, not {}",
            shown(value, 12)
        )
    })
}

/// Quotes a value only while it is short: when columns slide, a seed can land in any field, and a
/// long value is more likely a seed than a typo.
fn shown(value: &str, max_chars: usize) -> String {
    let n = value.chars().count();
    if n <= max_chars {
        format!("{value:?}")
    } else {
        format!("a {n}-character value")
    }
}

/// Serials seen so far. A serial is claimed even by a row that fails later checks, because the
/// file is then ambiguous about which seed belongs to the token, and guessing would enrol a token
/// that never produces a right code.
#[derive(Default)]
struct Serials(HashMap<String, usize>);

impl Serials {
    fn claim(&mut self, serial: &str, line: usize) -> Result<(), String> {
        if let Some(first) = self.0.get(serial) {
            return Err(format!(
                "the same serial number already appears on line {first}"
            ));
        }
        self.0.insert(serial.to_owned(), line);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
