//! `serial,seed_hex[,digits,period,algorithm]`: the plain seed files of small vendors.

use super::{
    ParsedSeeds, SeedError, SeedRecord, Serials, check_secret, check_serial, parse_algorithm,
    parse_digits, parse_period,
};
use crate::mfa::otp::OtpAlgorithm;

/// `serial,seed_hex[,digits,period,algorithm]`, the lowest common denominator vendors and
/// spreadsheets produce. Empty trailing fields take the defaults (6 digits, 30 s, SHA1) because a
/// spreadsheet exports missing cells as empty fields, not missing ones.
pub(crate) fn parse_csv(text: &str) -> ParsedSeeds {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = ParsedSeeds::default();
    let mut serials = Serials::default();
    let mut first_row = true;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let row = raw.trim();
        if row.is_empty() || row.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = row.split(',').map(str::trim).collect();
        if std::mem::take(&mut first_row) && is_header(&fields) {
            continue;
        }
        match csv_row(&fields, line, &mut serials) {
            Ok(record) => out.records.push(record),
            Err(message) => out.errors.push(SeedError { line, message }),
        }
    }
    out
}

/// A header is recognised only on the first row and only if its second field is not a seed, so
/// that a token whose serial happens to start with "serial" is not silently dropped.
fn is_header(fields: &[&str]) -> bool {
    let first = fields
        .first()
        .map(|f| f.to_ascii_lowercase())
        .unwrap_or_default();
    first.starts_with("serial") && fields.get(1).is_none_or(|seed| decode_hex(seed).is_err())
}

fn csv_row(fields: &[&str], line: usize, serials: &mut Serials) -> Result<SeedRecord, String> {
    let (serial, seed) = match fields {
        [serial, seed, ..] => (*serial, *seed),
        _ => {
            return Err(
                "expected serial,seed_hex[,digits,period,algorithm] but found one field".into(),
            );
        }
    };
    if fields.len() > 5 {
        return Err(format!(
            "expected at most 5 fields (serial,seed_hex,digits,period,algorithm), found {}",
            fields.len()
        ));
    }
    check_serial(serial)?;
    serials.claim(serial, line)?;
    let secret = decode_hex(seed)?;
    check_secret(&secret)?;
    let field = |i: usize| fields.get(i).copied().filter(|f| !f.is_empty());
    let digits = field(2).map_or(Ok(6), parse_digits)?;
    let period = field(3).map_or(Ok(30), parse_period)?;
    let algorithm = field(4).map_or(Ok(OtpAlgorithm::Sha1), parse_algorithm)?;
    Ok(SeedRecord {
        line,
        serial: serial.to_owned(),
        secret,
        digits,
        period,
        algorithm,
    })
}

fn decode_hex(hex: &str) -> Result<Vec<u8>, String> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if hex.is_empty() {
        return Err("the seed is empty".into());
    }
    if !hex.len().is_multiple_of(2) {
        return Err("the seed has an odd number of hexadecimal digits".into());
    }
    hex.as_bytes()
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(nibble(*hi)? << 4 | nibble(*lo)?),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| "the seed is not hexadecimal".into())
}
