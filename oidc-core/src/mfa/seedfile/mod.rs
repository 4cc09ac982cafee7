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

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{Cipher, Crypter, Mode};
use roxmltree::{Document, Node, ParsingOptions};

use super::otp::OtpAlgorithm;
use crate::secret::ct_eq;

const PSKC_NS: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// RFC 4226 §4 R6: a shared secret of fewer than 128 bits is refused outright.
const MIN_SECRET_BYTES: usize = 16;
/// The longest seed RFC 6238's own vectors use (SHA-512); anything longer is far more likely a
/// misplaced column than a seed.
const MAX_SECRET_BYTES: usize = 64;

/// The one message for every way a pre-shared key can turn out wrong, so that the file does not
/// tell a guesser which step failed.
const WRONG_KEY: &str = "wrong pre-shared key or corrupted file";

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

// ---------------------------------------------------------------------------------------------
// CSV

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

// ---------------------------------------------------------------------------------------------
// PSKC (RFC 6030)

/// What can go wrong with one `Key`: either that key alone, or something (a wrong key, a forged
/// MAC) that makes every other key in the file suspect too.
enum Problem {
    Key(String),
    File(SeedError),
}

impl From<String> for Problem {
    fn from(message: String) -> Self {
        Problem::Key(message)
    }
}

impl From<&str> for Problem {
    fn from(message: &str) -> Self {
        Problem::Key(message.to_owned())
    }
}

/// RFC 6030 files as the larger vendors ship them. Each `Key` is judged alone (a HOTP key next to
/// TOTP ones is an error on its line, not a rejected file), but anything that casts doubt on the
/// file's integrity (unparseable XML, a pre-shared key that does not verify) rejects it whole:
/// seeds decrypted with the wrong key are plausible-looking garbage that would enrol silently.
pub(crate) fn parse_pskc(
    xml: &str,
    pre_shared_key: Option<&[u8]>,
) -> Result<ParsedSeeds, SeedError> {
    let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
    // An XML declaration must start the document; blank lines before it are common in hand-edited
    // files, so they are skipped and counted back into line numbers.
    let body = xml.trim_start();
    let skipped = xml
        .get(..xml.len() - body.len())
        .map_or(0, |s| s.matches('\n').count());
    // DTDs stay refused (roxmltree's default): PSKC has none, and they are the XML bomb vector.
    let options = ParsingOptions {
        allow_dtd: false,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(body, options).map_err(|e| {
        let pos = e.pos();
        let text = e.to_string();
        let what = text.strip_suffix(&format!(" at {pos}")).unwrap_or(&text);
        whole(format!(
            "malformed XML at line {}, column {}: {what}",
            pos.row as usize + skipped,
            pos.col
        ))
    })?;
    let container = doc.root_element();
    if !container.has_tag_name((PSKC_NS, "KeyContainer")) {
        return Err(whole(format!(
            "not a PSKC file: the root element must be KeyContainer in namespace {PSKC_NS}"
        )));
    }
    if let Some(version) = container.attribute("Version")
        && version.trim() != "1.0"
    {
        return Err(whole(format!(
            "PSKC version {} is not supported (1.0 is)",
            shown(version, 12)
        )));
    }
    let encrypted = container
        .descendants()
        .any(|n| n.has_tag_name((PSKC_NS, "EncryptedValue")));
    let decryptor = if encrypted {
        Some(Decryptor::new(container, pre_shared_key)?)
    } else {
        None
    };

    let mut out = ParsedSeeds::default();
    let mut serials = Serials::default();
    for package in children(container, PSKC_NS, "KeyPackage") {
        for key in children(package, PSKC_NS, "Key") {
            let line = doc.text_pos_at(key.range().start).row as usize + skipped;
            match pskc_key(package, key, line, decryptor.as_ref(), &mut serials) {
                Ok(record) => out.records.push(record),
                Err(Problem::Key(message)) => out.errors.push(SeedError { line, message }),
                Err(Problem::File(error)) => return Err(error),
            }
        }
    }
    Ok(out)
}

fn pskc_key(
    package: Node<'_, '_>,
    key: Node<'_, '_>,
    line: usize,
    decryptor: Option<&Decryptor>,
    serials: &mut Serials,
) -> Result<SeedRecord, Problem> {
    // The secret first: a wrong pre-shared key must reject the file even if every key in it would
    // be refused for another reason, or the administrator learns nothing about the key.
    let secret = match key_secret(key, decryptor) {
        Err(Problem::File(error)) => return Err(Problem::File(error)),
        other => other,
    };

    let uri = key
        .attribute("Algorithm")
        .map(str::trim)
        .unwrap_or_default();
    let kind = uri
        .rsplit([':', '#', '/'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match kind.as_str() {
        "totp" => {}
        "hotp" => {
            return Err(
                "HOTP tokens are not supported: the provider uses time-based (TOTP) tokens".into(),
            );
        }
        "" => return Err("the Key has no Algorithm".into()),
        _ => {
            return Err(format!(
                "algorithm {} is not supported (only TOTP is)",
                shown(uri, 80)
            )
            .into());
        }
    }

    let serial = child(package, PSKC_NS, "DeviceInfo")
        .and_then(|info| child(info, PSKC_NS, "SerialNo"))
        .map(text)
        .filter(|s| !s.is_empty())
        .or_else(|| key.attribute("Id").map(str::trim).filter(|s| !s.is_empty()))
        .ok_or("the key has neither DeviceInfo/SerialNo nor an Id")?;
    check_serial(serial)?;
    serials.claim(serial, line)?;

    let secret = secret?;
    check_secret(&secret)?;

    let parameters = child(key, PSKC_NS, "AlgorithmParameters");
    let algorithm = match parameters
        .and_then(|p| child(p, PSKC_NS, "Suite"))
        .map(text)
    {
        Some(suite) if !suite.is_empty() => {
            let name = suite.rsplit('#').next().unwrap_or(suite);
            OtpAlgorithm::parse(name).ok_or_else(|| {
                format!(
                    "hash {} in AlgorithmParameters/Suite is not supported (SHA1, SHA256 or SHA512)",
                    shown(suite, 80)
                )
            })?
        }
        _ => OtpAlgorithm::Sha1,
    };
    let format = parameters.and_then(|p| child(p, PSKC_NS, "ResponseFormat"));
    if let Some(encoding) = format.and_then(|f| f.attribute("Encoding"))
        && !encoding.trim().eq_ignore_ascii_case("DECIMAL")
    {
        return Err(format!(
            "response encoding {} is not supported (only DECIMAL is)",
            shown(encoding, 20)
        )
        .into());
    }
    let digits = match format.and_then(|f| f.attribute("Length")) {
        Some(length) => parse_digits(length.trim())?,
        None => 6,
    };

    let data = child(key, PSKC_NS, "Data");
    let period = match data.and_then(|d| child(d, PSKC_NS, "TimeInterval")) {
        Some(interval) => match child(interval, PSKC_NS, "PlainValue") {
            Some(value) => parse_period(text(value))?,
            None => {
                return Err(
                    "Data/TimeInterval has no PlainValue (an encrypted one is not supported)"
                        .into(),
                );
            }
        },
        None => 30,
    };

    Ok(SeedRecord {
        line,
        serial: serial.to_owned(),
        secret,
        digits,
        period,
        algorithm,
    })
}

fn key_secret(key: Node<'_, '_>, decryptor: Option<&Decryptor>) -> Result<Vec<u8>, Problem> {
    let secret = child(key, PSKC_NS, "Data")
        .and_then(|data| child(data, PSKC_NS, "Secret"))
        .ok_or("the key has no Data/Secret")?;
    match (
        child(secret, PSKC_NS, "PlainValue"),
        child(secret, PSKC_NS, "EncryptedValue"),
    ) {
        (Some(_), Some(_)) => Err("Data/Secret has both a PlainValue and an EncryptedValue".into()),
        (Some(plain), None) => {
            Ok(base64(text(plain)).ok_or("Data/Secret/PlainValue is not base64")?)
        }
        (None, Some(encrypted)) => match decryptor {
            Some(decryptor) => decryptor.open(secret, encrypted),
            // Unreachable in practice (the decryptor exists whenever an EncryptedValue does), but
            // answered rather than assumed.
            None => Err(Problem::File(whole(
                "the token secrets are encrypted: supply the pre-shared key",
            ))),
        },
        (None, None) => Err("Data/Secret has neither a PlainValue nor an EncryptedValue".into()),
    }
}

/// RFC 6030 §6.1: secrets encrypted with a pre-shared key, each with a MAC under a MAC key that
/// is itself encrypted with the pre-shared key. The MAC is what tells a wrong key from a right
/// one: CBC decryption with the wrong key "succeeds" often enough to enrol garbage.
struct Decryptor {
    psk: Vec<u8>,
    mac_digest: MessageDigest,
    mac_key: Vec<u8>,
}

impl Decryptor {
    fn new(container: Node<'_, '_>, psk: Option<&[u8]>) -> Result<Self, SeedError> {
        let encryption_key = child(container, PSKC_NS, "EncryptionKey");
        if let Some(encryption_key) = encryption_key {
            for element in encryption_key.children().filter(Node::is_element) {
                match element.tag_name().name() {
                    "DerivedKey" => {
                        return Err(whole(
                            "the secrets are encrypted with a password-derived key (RFC 6030 §6.2), \
                             which is not supported: ask the vendor for a pre-shared-key file",
                        ));
                    }
                    "X509Data" => {
                        return Err(whole(
                            "the secrets are encrypted to a certificate (RFC 6030 §6.3), which is \
                             not supported: ask the vendor for a pre-shared-key file",
                        ));
                    }
                    _ => {}
                }
            }
        }
        let Some(psk) = psk else {
            let name = encryption_key
                .and_then(|k| child(k, DS_NS, "KeyName"))
                .map(text)
                .filter(|name| !name.is_empty());
            return Err(whole(match name {
                Some(name) => format!(
                    "the token secrets are encrypted: supply the pre-shared key named {}",
                    shown(name, 64)
                ),
                None => "the token secrets are encrypted: supply the pre-shared key".into(),
            }));
        };
        let method = child(container, PSKC_NS, "MACMethod").ok_or_else(|| {
            whole("the secrets are encrypted without a MACMethod, so a wrong key or a damaged file could not be detected: refused")
        })?;
        let uri = method
            .attribute("Algorithm")
            .map(str::trim)
            .unwrap_or_default();
        let mac_digest = match uri {
            "http://www.w3.org/2000/09/xmldsig#hmac-sha1" => MessageDigest::sha1(),
            "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256" => MessageDigest::sha256(),
            _ => {
                return Err(whole(format!(
                    "MAC algorithm {} is not supported (hmac-sha1 and hmac-sha256 are)",
                    shown(uri, 80)
                )));
            }
        };
        let mac_key_element = child(method, PSKC_NS, "MACKey").ok_or_else(|| {
            whole("MACMethod has no MACKey (a MAC key agreed out of band is not supported)")
        })?;
        let (cipher, sealed) = encrypted_data(mac_key_element)
            .map_err(|message| whole(format!("MACMethod/MACKey: {message}")))?;
        let mac_key = cbc_decrypt(cipher, psk, &sealed).map_err(|p| match p {
            Problem::File(error) => error,
            Problem::Key(_) => whole(WRONG_KEY),
        })?;
        if mac_key.is_empty() {
            return Err(whole(WRONG_KEY));
        }
        Ok(Decryptor {
            psk: psk.to_vec(),
            mac_digest,
            mac_key,
        })
    }

    /// Verifies the MAC before decrypting, as RFC 6030 §6.1.1 requires, so that nothing is ever
    /// derived from data the key holder did not produce.
    fn open(&self, secret: Node<'_, '_>, encrypted: Node<'_, '_>) -> Result<Vec<u8>, Problem> {
        let (cipher, sealed) = encrypted_data(encrypted)?;
        let expected = child(secret, PSKC_NS, "ValueMAC")
            .ok_or("the encrypted secret has no ValueMAC, so it cannot be checked")?;
        let expected = base64(text(expected)).ok_or("Data/Secret/ValueMAC is not base64")?;
        let actual = hmac(self.mac_digest, &self.mac_key, &sealed)
            .map_err(|e| Problem::File(whole(format!("cryptography failed: {e}"))))?;
        if !ct_eq(&expected, &actual) {
            return Err(Problem::File(whole(WRONG_KEY)));
        }
        cbc_decrypt(cipher, &self.psk, &sealed)
    }
}

/// The cipher and `IV || ciphertext` of an `xenc:EncryptedDataType` element.
fn encrypted_data(node: Node<'_, '_>) -> Result<(Cipher, Vec<u8>), String> {
    let uri = child(node, XENC_NS, "EncryptionMethod")
        .and_then(|m| m.attribute("Algorithm"))
        .map(str::trim)
        .ok_or("no xenc:EncryptionMethod with an Algorithm")?;
    let cipher = match uri.strip_prefix(XENC_NS) {
        Some("aes128-cbc") => Cipher::aes_128_cbc(),
        Some("aes192-cbc") => Cipher::aes_192_cbc(),
        Some("aes256-cbc") => Cipher::aes_256_cbc(),
        _ => {
            return Err(format!(
                "encryption algorithm {} is not supported (aes128-cbc, aes192-cbc and aes256-cbc are)",
                shown(uri, 80)
            ));
        }
    };
    let value = child(node, XENC_NS, "CipherData")
        .and_then(|d| child(d, XENC_NS, "CipherValue"))
        .ok_or("no xenc:CipherData/xenc:CipherValue")?;
    let sealed = base64(text(value)).ok_or("the CipherValue is not base64")?;
    Ok((cipher, sealed))
}

/// AES-CBC with the IV in the first block. Padding is removed by its last byte only: PKCS#7 and
/// XML Encryption's own padding (arbitrary filler, length last) both end that way, and integrity
/// is the MAC's job, not the padding's.
fn cbc_decrypt(cipher: Cipher, key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, Problem> {
    if key.len() != cipher.key_len() {
        return Err(Problem::File(whole(format!(
            "the pre-shared key is {} bytes, but the file's cipher needs {}",
            key.len(),
            cipher.key_len()
        ))));
    }
    let block = cipher.block_size();
    let Some((iv, ciphertext)) = sealed.split_at_checked(block) else {
        return Err("the CipherValue is shorter than one block".into());
    };
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(block) {
        return Err("the CipherValue is not an IV followed by whole cipher blocks".into());
    }
    let crypto =
        |e: openssl::error::ErrorStack| Problem::File(whole(format!("cryptography failed: {e}")));
    let mut crypter = Crypter::new(cipher, Mode::Decrypt, key, Some(iv)).map_err(crypto)?;
    crypter.pad(false);
    let mut plain = vec![0u8; ciphertext.len() + block];
    let mut n = crypter.update(ciphertext, &mut plain).map_err(crypto)?;
    if let Some(rest) = plain.get_mut(n..) {
        n += crypter.finalize(rest).map_err(crypto)?;
    }
    plain.truncate(n);
    let pad = usize::from(plain.last().copied().unwrap_or(0));
    if pad == 0 || pad > block || pad > plain.len() {
        return Err(Problem::File(whole(WRONG_KEY)));
    }
    plain.truncate(plain.len() - pad);
    Ok(plain)
}

fn hmac(
    digest: MessageDigest,
    key: &[u8],
    data: &[u8],
) -> Result<Vec<u8>, openssl::error::ErrorStack> {
    let key = PKey::hmac(key)?;
    let mut signer = Signer::new(digest, &key)?;
    signer.update(data)?;
    signer.sign_to_vec()
}

/// Base64 as vendors write it: wrapped across lines, padded or not.
fn base64(value: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: String = value.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    LENIENT.decode(compact).ok()
}

fn text<'a>(node: Node<'a, '_>) -> &'a str {
    node.text().unwrap_or_default().trim()
}

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.has_tag_name((ns, name)))
}

fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.has_tag_name((ns, name)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mfa::otp::hotp;
    use base64::engine::general_purpose::STANDARD;

    const RFC6030_FIGURE2: &str = include_str!("../../tests-data/pskc/rfc6030-figure2.xml");
    const RFC6030_FIGURE6: &str = include_str!("../../tests-data/pskc/rfc6030-figure6.xml");
    /// RFC 6030 §6.1's pre-shared key.
    const RFC_PSK: [u8; 16] = [
        0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90,
        0x12,
    ];
    /// RFC 4226 Appendix D's secret, which both RFC 6030 examples carry.
    const RFC_SECRET: &[u8] = b"12345678901234567890";
    const RFC_SECRET_HEX: &str = "3132333435363738393031323334353637383930";

    /// The record yields a code: the seed, digits and hash work together as the token will.
    fn assert_sane(record: &SeedRecord) {
        let code = hotp(&record.secret, 0, record.digits, record.algorithm).unwrap();
        assert_eq!(code.len(), record.digits as usize, "{record:?}");
        assert!(code.bytes().all(|b| b.is_ascii_digit()));
    }

    fn lines_and_messages(errors: &[SeedError]) -> Vec<(usize, String)> {
        errors.iter().map(|e| (e.line, e.message.clone())).collect()
    }

    // --- CSV -----------------------------------------------------------------------------------

    #[test]
    fn csv_good_rows_with_header_comments_blank_lines_and_defaults() {
        let text = "\u{feff}Serial,Seed,Digits,Period,Algorithm\r\n\
                    # vendor batch 7\r\n\
                    \r\n\
                    A-0001,3132333435363738393031323334353637383930\r\n\
                    A_0002 , 3132333435363738393031323334353637383930 ,8,60,sha256\r\n\
                    a0003,00112233445566778899AABBCCDDEEFF,,,\r\n\
                    A0004,00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff,6,30,HMAC-SHA-512\r\n";
        let parsed = parse_csv(text);
        assert_eq!(parsed.errors, vec![]);
        let got: Vec<_> = parsed
            .records
            .iter()
            .map(|r| {
                (
                    r.line,
                    r.serial.as_str(),
                    r.secret.len(),
                    r.digits,
                    r.period,
                    r.algorithm,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (4, "A-0001", 20, 6, 30, OtpAlgorithm::Sha1),
                (5, "A_0002", 20, 8, 60, OtpAlgorithm::Sha256),
                (6, "a0003", 16, 6, 30, OtpAlgorithm::Sha1),
                (7, "A0004", 32, 6, 30, OtpAlgorithm::Sha512),
            ]
        );
        assert_eq!(parsed.records[0].secret, RFC_SECRET);
        // RFC 4226 Appendix D: counter 0 of this secret is 755224.
        assert_eq!(
            hotp(&parsed.records[0].secret, 0, 6, OtpAlgorithm::Sha1).unwrap(),
            "755224"
        );
        parsed.records.iter().for_each(assert_sane);
    }

    #[test]
    fn csv_every_kind_of_bad_row_reports_its_line() {
        let seed = RFC_SECRET_HEX;
        let text = format!(
            "serial,seed\n\
             OK1,{seed}\n\
             lonely\n\
             OK2,{seed},6,30,SHA1,extra\n\
             bad serial,{seed}\n\
             {long_serial},{seed}\n\
             ,{seed}\n\
             S7,{odd}\n\
             S8,zz{nothex}\n\
             S9,{short}\n\
             S10,{long}\n\
             S11,{seed},7\n\
             S12,{seed},six\n\
             S13,{seed},6,45\n\
             S14,{seed},6,30,MD5\n\
             OK1,{seed}\n\
             S16,\n\
             sérial,{seed}\n",
            long_serial = "X".repeat(65),
            odd = &seed[1..],
            nothex = &seed[2..],
            short = "00".repeat(15),
            long = "00".repeat(65),
        );
        let parsed = parse_csv(&text);
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(
            (parsed.records[0].line, parsed.records[0].serial.as_str()),
            (2, "OK1")
        );
        let errors = lines_and_messages(&parsed.errors);
        let expect: [(usize, &str); 17] = [
            (3, "found one field"),
            (4, "at most 5 fields"),
            (5, "only letters, digits"),
            (6, "65 characters long; at most 64"),
            (7, "serial number is empty"),
            (8, "odd number of hexadecimal digits"),
            (9, "not hexadecimal"),
            (10, "the seed is 15 bytes; at least 16"),
            (11, "the seed is 65 bytes; at most 64"),
            (12, "digits must be 6 or 8, not \"7\""),
            (13, "digits must be 6 or 8, not \"six\""),
            (14, "period must be 30 or 60 seconds, not \"45\""),
            (15, "SHA1, SHA256 or SHA512, not \"MD5\""),
            (16, "the same serial number already appears on line 2"),
            (17, "the seed is empty"),
            (18, "only letters, digits"),
            (0, ""),
        ];
        assert_eq!(errors.len(), expect.len() - 1, "{errors:#?}");
        for ((line, message), (want_line, want)) in errors.iter().zip(expect) {
            assert_eq!(*line, want_line, "{message}");
            assert!(
                message.contains(want),
                "line {line}: {message:?} should contain {want:?}"
            );
            assert!(
                !message.contains(&seed[2..]),
                "line {line} leaks the seed: {message}"
            );
        }
    }

    #[test]
    fn csv_mixed_good_and_bad_rows_keep_the_good_ones() {
        let text = format!(
            "T1,{RFC_SECRET_HEX},8\n\
             T2,{short}\n\
             \n\
             # T3 is on order\n\
             T4,{RFC_SECRET_HEX},6,60,SHA256\n\
             T5,{RFC_SECRET_HEX},9\n",
            short = "ab".repeat(10)
        );
        let parsed = parse_csv(&text);
        let good: Vec<_> = parsed
            .records
            .iter()
            .map(|r| (r.line, r.serial.as_str()))
            .collect();
        assert_eq!(good, vec![(1, "T1"), (5, "T4")]);
        let bad: Vec<_> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(bad, vec![2, 6]);
        // Counter 0 of the RFC 4226 secret with 8 digits.
        assert_eq!(
            hotp(&parsed.records[0].secret, 0, 8, OtpAlgorithm::Sha1).unwrap(),
            "84755224"
        );
        parsed.records.iter().for_each(assert_sane);
    }

    #[test]
    fn csv_header_is_only_the_first_row_and_never_a_real_token() {
        // A first row whose serial starts with "serial" but carries a seed is a token.
        let parsed = parse_csv(&format!("SERIAL1,{RFC_SECRET_HEX}\nserial,seed\n"));
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].serial, "SERIAL1");
        // A header-looking row after the first is an ordinary (bad) row.
        assert_eq!(
            lines_and_messages(&parsed.errors),
            vec![(2, "the seed is not hexadecimal".into())]
        );
        // Empty and comment-only files have nothing to say.
        assert_eq!(parse_csv(""), ParsedSeeds::default());
        assert_eq!(parse_csv("# nothing yet\n\n"), ParsedSeeds::default());
    }

    #[test]
    fn records_and_errors_never_print_a_seed() {
        let parsed = parse_csv(&format!("T1,{RFC_SECRET_HEX}\n"));
        let debug = format!("{:?}", parsed);
        assert!(!debug.contains("49, 50, 51"), "{debug}");
        assert!(debug.contains("[redacted 20 bytes]"), "{debug}");
        // Columns swapped: the seed lands in the serial field and must not be echoed back.
        let swapped = parse_csv(&format!(
            "{RFC_SECRET_HEX},T1\n{RFC_SECRET_HEX},T2,6,30,{RFC_SECRET_HEX}\n"
        ));
        assert_eq!(swapped.records, vec![]);
        for e in &swapped.errors {
            assert!(!e.to_string().contains(&RFC_SECRET_HEX[4..]), "{e}");
        }
    }

    // --- PSKC, plain ---------------------------------------------------------------------------

    #[test]
    fn pskc_rfc6030_figure2_hotp_key_is_reported_on_its_line() {
        let parsed = parse_pskc(RFC6030_FIGURE2, None).unwrap();
        assert_eq!(parsed.records, vec![]);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 6);
        assert!(
            parsed.errors[0]
                .message
                .starts_with("HOTP tokens are not supported")
        );
    }

    #[test]
    fn pskc_rfc6030_figure2_as_totp_parses() {
        let xml = RFC6030_FIGURE2.replace("pskc:hotp", "pskc:totp");
        let parsed = parse(xml.as_bytes(), None).unwrap();
        assert_eq!(parsed.errors, vec![]);
        let record = &parsed.records[0];
        // No DeviceInfo/SerialNo in Figure 2: the Key Id stands in.
        assert_eq!(
            (
                record.line,
                record.serial.as_str(),
                record.digits,
                record.period,
                record.algorithm
            ),
            (6, "12345678", 6, 30, OtpAlgorithm::Sha1)
        );
        assert_eq!(record.secret, RFC_SECRET);
        assert_eq!(
            hotp(&record.secret, 0, 6, OtpAlgorithm::Sha1).unwrap(),
            "755224"
        );
        assert_sane(record);
    }

    const TOTP_PACKAGES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<pskc:KeyContainer Version="1.0" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc">
  <pskc:KeyPackage>
    <pskc:DeviceInfo><pskc:Manufacturer>Acme</pskc:Manufacturer><pskc:SerialNo>ACME-0001</pskc:SerialNo></pskc:DeviceInfo>
    <pskc:Key Id="k1" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <pskc:AlgorithmParameters>
        <pskc:Suite>HMAC-SHA256</pskc:Suite>
        <pskc:ResponseFormat Length="8" Encoding="DECIMAL"/>
      </pskc:AlgorithmParameters>
      <pskc:Data>
        <pskc:Secret><pskc:PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI</pskc:PlainValue></pskc:Secret>
        <pskc:TimeInterval><pskc:PlainValue>60</pskc:PlainValue></pskc:TimeInterval>
      </pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:Key Id="k2" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <pskc:AlgorithmParameters><pskc:ResponseFormat Length="7" Encoding="DECIMAL"/></pskc:AlgorithmParameters>
      <pskc:Data><pskc:Secret><pskc:PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</pskc:PlainValue></pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:Key Id="k3" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <pskc:AlgorithmParameters><pskc:ResponseFormat Length="6" Encoding="HEXADECIMAL"/></pskc:AlgorithmParameters>
      <pskc:Data><pskc:Secret><pskc:PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</pskc:PlainValue></pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:Key Id="k4" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <pskc:Data>
        <pskc:Secret><pskc:PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</pskc:PlainValue></pskc:Secret>
        <pskc:TimeInterval><pskc:PlainValue>45</pskc:PlainValue></pskc:TimeInterval>
      </pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:Key Id="k5" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <pskc:Data><pskc:Secret><pskc:PlainValue>MTIzNDU2Nzg5MDEyMzQ1</pskc:PlainValue></pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:Key Id="not a serial" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <pskc:Data><pskc:Secret><pskc:PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</pskc:PlainValue></pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:Key Id="k7" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:ocra">
      <pskc:Data><pskc:Secret><pskc:PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</pskc:PlainValue></pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:Key Id="k8" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp"><pskc:Data/></pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:DeviceInfo><pskc:SerialNo>ACME-0001</pskc:SerialNo></pskc:DeviceInfo>
    <pskc:Key Id="k9" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <pskc:Data><pskc:Secret><pskc:PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</pskc:PlainValue></pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:Key Id="k10" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <pskc:AlgorithmParameters><pskc:Suite>MD5</pskc:Suite></pskc:AlgorithmParameters>
      <pskc:Data><pskc:Secret><pskc:PlainValue>MTIzNDU2Nzg5MDEyMzQ1Njc4OTA=</pskc:PlainValue></pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
  <pskc:KeyPackage>
    <pskc:Key Id="k11" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <pskc:Data><pskc:Secret><pskc:PlainValue>not*base64</pskc:PlainValue></pskc:Secret></pskc:Data>
    </pskc:Key>
  </pskc:KeyPackage>
</pskc:KeyContainer>
"#;

    #[test]
    fn pskc_totp_parameters_and_per_key_errors_with_lines() {
        let parsed = parse_pskc(TOTP_PACKAGES, None).unwrap();
        assert_eq!(parsed.records.len(), 1, "{:#?}", parsed.errors);
        let record = &parsed.records[0];
        assert_eq!(
            (
                record.line,
                record.serial.as_str(),
                record.digits,
                record.period,
                record.algorithm
            ),
            (5, "ACME-0001", 8, 60, OtpAlgorithm::Sha256)
        );
        assert_eq!(record.secret, b"12345678901234567890123456789012");
        assert_sane(record);
        let line_of = |id: &str| {
            TOTP_PACKAGES
                .lines()
                .position(|l| l.contains(&format!("Key Id=\"{id}\"")))
                .unwrap()
                + 1
        };
        let expect = [
            (line_of("k2"), "digits must be 6 or 8, not \"7\""),
            (line_of("k3"), "encoding \"HEXADECIMAL\" is not supported"),
            (line_of("k4"), "period must be 30 or 60 seconds, not \"45\""),
            (line_of("k5"), "the seed is 15 bytes"),
            (line_of("not a serial"), "only letters, digits"),
            (line_of("k7"), "is not supported (only TOTP is)"),
            (line_of("k8"), "no Data/Secret"),
            (
                line_of("k9"),
                "the same serial number already appears on line 5",
            ),
            (line_of("k10"), "hash \"MD5\""),
            (line_of("k11"), "PlainValue is not base64"),
        ];
        let errors = lines_and_messages(&parsed.errors);
        assert_eq!(errors.len(), expect.len(), "{errors:#?}");
        for ((line, message), (want_line, want)) in errors.iter().zip(expect) {
            assert_eq!(*line, want_line, "{message}");
            assert!(
                message.contains(want),
                "line {line}: {message:?} should contain {want:?}"
            );
        }
    }

    #[test]
    fn pskc_whole_file_errors() {
        let malformed = parse_pskc("<KeyContainer xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">\n<KeyPackage>\n</KeyContainer>", None)
            .unwrap_err();
        assert_eq!(malformed.line, 0);
        assert!(
            malformed.message.starts_with("malformed XML at line 3"),
            "{malformed}"
        );

        let foreign = parse_pskc("<html><body/></html>", None).unwrap_err();
        assert!(foreign.message.starts_with("not a PSKC file"), "{foreign}");
        let wrong_ns = parse_pskc("<KeyContainer Version=\"1.0\"/>", None).unwrap_err();
        assert!(
            wrong_ns.message.starts_with("not a PSKC file"),
            "{wrong_ns}"
        );
        let version = parse_pskc(
            &RFC6030_FIGURE2.replace("Version=\"1.0\"", "Version=\"2.0\""),
            None,
        )
        .unwrap_err();
        assert!(version.message.contains("version \"2.0\""), "{version}");

        // DTDs (and with them entity expansion bombs) are refused.
        let dtd = "<?xml version=\"1.0\"?>\n<!DOCTYPE KeyContainer [<!ENTITY a \"aaaa\">]>\n\
                   <KeyContainer xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">&a;</KeyContainer>";
        assert_eq!(parse_pskc(dtd, None).unwrap_err().line, 0);
    }

    #[test]
    fn pskc_blank_lines_before_the_declaration_keep_line_numbers_right() {
        let xml = format!("\n\n{}", RFC6030_FIGURE2.replace("pskc:hotp", "pskc:totp"));
        let parsed = parse(xml.as_bytes(), None).unwrap();
        assert_eq!(parsed.records[0].line, 8);
        let broken = format!("\n\n{}", RFC6030_FIGURE2.replace("</Data>", ""));
        let err = parse(broken.as_bytes(), None).unwrap_err();
        assert!(
            err.message.starts_with("malformed XML at line 17,"),
            "{err}"
        );
    }

    // --- PSKC, pre-shared key ------------------------------------------------------------------

    #[test]
    fn pskc_rfc6030_figure6_pre_shared_key_vector_reproduces() {
        // The RFC's own file, byte for byte in its CipherValues and ValueMAC: the MAC key decrypts
        // to 0x1122…7889900 and the ValueMAC verifies under it.
        let container_doc = Document::parse(RFC6030_FIGURE6).unwrap();
        let decryptor = Decryptor::new(container_doc.root_element(), Some(&RFC_PSK)).unwrap();
        assert_eq!(
            decryptor.mac_key,
            [
                0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0x00, 0x11, 0x22, 0x33, 0x44,
                0x55, 0x66, 0x77, 0x88, 0x99, 0x00
            ]
        );

        // As published (HOTP): decrypted and verified, then refused per key on the Key's line.
        let parsed = parse(RFC6030_FIGURE6.as_bytes(), Some(&RFC_PSK)).unwrap();
        assert_eq!(parsed.records, vec![]);
        assert_eq!(parsed.errors.len(), 1);
        assert_eq!(parsed.errors[0].line, 27);
        assert!(
            parsed.errors[0]
                .message
                .starts_with("HOTP tokens are not supported")
        );

        // The same ciphertexts under a TOTP algorithm (the MAC covers only the CipherValue).
        let totp = RFC6030_FIGURE6.replace("pskc:hotp", "pskc:totp");
        let parsed = parse(totp.as_bytes(), Some(&RFC_PSK)).unwrap();
        assert_eq!(parsed.errors, vec![]);
        let record = &parsed.records[0];
        assert_eq!(
            (
                record.line,
                record.serial.as_str(),
                record.digits,
                record.period,
                record.algorithm
            ),
            (27, "987654321", 8, 30, OtpAlgorithm::Sha1)
        );
        assert_eq!(record.secret, RFC_SECRET);
        assert_eq!(
            hotp(&record.secret, 0, 8, OtpAlgorithm::Sha1).unwrap(),
            "84755224"
        );
        assert_sane(record);
    }

    #[test]
    fn pskc_wrong_or_missing_pre_shared_key_rejects_the_whole_file() {
        let mut wrong = RFC_PSK;
        wrong[15] ^= 1;
        for xml in [
            RFC6030_FIGURE6.to_owned(),
            RFC6030_FIGURE6.replace("pskc:hotp", "pskc:totp"),
        ] {
            let err = parse(xml.as_bytes(), Some(&wrong)).unwrap_err();
            assert_eq!(
                err,
                SeedError {
                    line: 0,
                    message: "wrong pre-shared key or corrupted file".into()
                }
            );
        }
        let missing = parse(RFC6030_FIGURE6.as_bytes(), None).unwrap_err();
        assert_eq!(missing.line, 0);
        assert_eq!(
            missing.message,
            "the token secrets are encrypted: supply the pre-shared key named \"Pre-shared-key\""
        );
        let short = parse(RFC6030_FIGURE6.as_bytes(), Some(&RFC_PSK[..8])).unwrap_err();
        assert_eq!(
            short.message,
            "the pre-shared key is 8 bytes, but the file's cipher needs 16"
        );
        // A plain file ignores a key it does not need.
        let plain = RFC6030_FIGURE2.replace("pskc:hotp", "pskc:totp");
        assert_eq!(
            parse(plain.as_bytes(), Some(&wrong)).unwrap().records.len(),
            1
        );
    }

    #[test]
    fn pskc_tampering_is_caught_by_the_mac_before_decryption() {
        let tampered_ct = RFC6030_FIGURE6
            .replace("AAECAwQFBgcICQoLDA0OD+cI", "AAECAwQFBgcICQoLDA0OD+cJ")
            .replace("pskc:hotp", "pskc:totp");
        assert_eq!(
            parse_pskc(&tampered_ct, Some(&RFC_PSK))
                .unwrap_err()
                .message,
            WRONG_KEY
        );
        let tampered_mac = RFC6030_FIGURE6.replace(
            "Su+NvtQfmvfJzF6bmQiJqoLRExc=",
            "Su+OvtQfmvfJzF6bmQiJqoLRExc=",
        );
        assert_eq!(
            parse_pskc(&tampered_mac, Some(&RFC_PSK))
                .unwrap_err()
                .message,
            WRONG_KEY
        );
        // No MAC at all: refused rather than trusted.
        let start = RFC6030_FIGURE6.find("<MACMethod").unwrap();
        let end = RFC6030_FIGURE6.find("</MACMethod>").unwrap() + "</MACMethod>".len();
        let no_mac = format!("{}{}", &RFC6030_FIGURE6[..start], &RFC6030_FIGURE6[end..]);
        let err = parse_pskc(&no_mac, Some(&RFC_PSK)).unwrap_err();
        assert!(err.message.contains("without a MACMethod"), "{err}");
        let no_value_mac = RFC6030_FIGURE6.replace(
            "<ValueMAC>Su+NvtQfmvfJzF6bmQiJqoLRExc=\n                    </ValueMAC>",
            "",
        );
        let parsed = parse_pskc(
            &no_value_mac.replace("pskc:hotp", "pskc:totp"),
            Some(&RFC_PSK),
        )
        .unwrap();
        assert_eq!(parsed.errors.len(), 1, "{parsed:?}");
        assert!(parsed.errors[0].message.contains("no ValueMAC"));
    }

    fn seal(cipher: Cipher, key: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut out = crate::secret::random_bytes(16).unwrap();
        let iv = out.clone();
        out.extend(openssl::symm::encrypt(cipher, key, Some(&iv), plain).unwrap());
        out
    }

    /// An RFC 6030 §6.1 file built here, for the cipher and MAC combinations the RFC has no vector
    /// for.
    fn encrypted_file(aes_bits: u32, mac: &str, psk: &[u8], secrets: &[(&str, &[u8])]) -> String {
        let (cipher, cipher_uri) = match aes_bits {
            128 => (
                Cipher::aes_128_cbc(),
                "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
            ),
            _ => (
                Cipher::aes_256_cbc(),
                "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
            ),
        };
        let (digest, mac_uri) = match mac {
            "sha1" => (
                MessageDigest::sha1(),
                "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
            ),
            _ => (
                MessageDigest::sha256(),
                "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
            ),
        };
        let mac_key = crate::secret::random_bytes(20).unwrap();
        let mut xml = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"
    xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">
  <EncryptionKey><ds:KeyName>Batch-42</ds:KeyName></EncryptionKey>
  <MACMethod Algorithm="{mac_uri}">
    <MACKey>
      <xenc:EncryptionMethod Algorithm="{cipher_uri}"/>
      <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>
    </MACKey>
  </MACMethod>
"#,
            STANDARD.encode(seal(cipher, psk, &mac_key))
        );
        for (serial, secret) in secrets {
            let sealed = seal(cipher, psk, secret);
            let value_mac = hmac(digest, &mac_key, &sealed).unwrap();
            xml.push_str(&format!(
                r#"  <KeyPackage>
    <DeviceInfo><SerialNo>{serial}</SerialNo></DeviceInfo>
    <Key Id="{serial}" Algorithm="urn:ietf:params:xml:ns:keyprov:pskc:totp">
      <AlgorithmParameters><ResponseFormat Length="6" Encoding="DECIMAL"/></AlgorithmParameters>
      <Data>
        <Secret>
          <EncryptedValue>
            <xenc:EncryptionMethod Algorithm="{cipher_uri}"/>
            <xenc:CipherData><xenc:CipherValue>{}</xenc:CipherValue></xenc:CipherData>
          </EncryptedValue>
          <ValueMAC>{}</ValueMAC>
        </Secret>
        <TimeInterval><PlainValue>30</PlainValue></TimeInterval>
      </Data>
    </Key>
  </KeyPackage>
"#,
                STANDARD.encode(&sealed),
                STANDARD.encode(&value_mac)
            ));
        }
        xml.push_str("</KeyContainer>\n");
        xml
    }

    #[test]
    fn pskc_generated_aes128_hmac_sha1_file_round_trips() {
        let psk = [0x42u8; 16];
        let secrets: [(&str, &[u8]); 3] = [
            ("TK-1", b"0123456789abcdef"),
            ("TK-2", &[0xa5; 32]),
            ("TK-3", &[0x10; 64]),
        ];
        let xml = encrypted_file(128, "sha1", &psk, &secrets);
        let parsed = parse(xml.as_bytes(), Some(&psk)).unwrap();
        assert_eq!(parsed.errors, vec![]);
        let got: Vec<_> = parsed
            .records
            .iter()
            .map(|r| (r.serial.as_str(), r.secret.as_slice()))
            .collect();
        assert_eq!(got, secrets.to_vec());
        parsed.records.iter().for_each(assert_sane);
        assert_eq!(
            parse(xml.as_bytes(), Some(&[0x43u8; 16]))
                .unwrap_err()
                .message,
            WRONG_KEY
        );
        let missing = parse(xml.as_bytes(), None).unwrap_err();
        assert!(missing.message.ends_with("named \"Batch-42\""), "{missing}");
    }

    #[test]
    fn pskc_generated_aes256_hmac_sha256_file_round_trips() {
        let psk = [0x24u8; 32];
        let xml = encrypted_file(
            256,
            "sha256",
            &psk,
            &[("TK-9", RFC_SECRET), ("TK-10", &[1; 8])],
        );
        let parsed = parse(xml.as_bytes(), Some(&psk)).unwrap();
        assert_eq!(parsed.records.len(), 1);
        assert_eq!(parsed.records[0].secret, RFC_SECRET);
        assert_eq!(
            hotp(&parsed.records[0].secret, 0, 6, OtpAlgorithm::Sha1).unwrap(),
            "755224"
        );
        // A decrypted seed that is too short is still refused, on its own line.
        assert_eq!(parsed.errors.len(), 1);
        assert!(parsed.errors[0].message.contains("the seed is 8 bytes"));
        assert_eq!(
            parse(xml.as_bytes(), Some(&[0x25u8; 32]))
                .unwrap_err()
                .message,
            WRONG_KEY
        );
        let short = parse(xml.as_bytes(), Some(&[0x24u8; 16])).unwrap_err();
        assert_eq!(
            short.message,
            "the pre-shared key is 16 bytes, but the file's cipher needs 32"
        );
    }

    #[test]
    fn pskc_unsupported_key_protection_is_named() {
        let derived = RFC6030_FIGURE6.replace(
            "<ds:KeyName>Pre-shared-key</ds:KeyName>",
            "<xenc11:DerivedKey xmlns:xenc11=\"http://www.w3.org/2009/xmlenc11#\"/>",
        );
        let err = parse(derived.as_bytes(), Some(&RFC_PSK)).unwrap_err();
        assert!(err.message.contains("password-derived key"), "{err}");
        let md5 = RFC6030_FIGURE6.replace("xmldsig#hmac-sha1", "xmldsig#hmac-md5");
        let err = parse(md5.as_bytes(), Some(&RFC_PSK)).unwrap_err();
        assert!(err.message.starts_with("MAC algorithm"), "{err}");
        let des = RFC6030_FIGURE6
            .replacen("xmlenc#aes128-cbc", "xmlenc#tripledes-cbc", 2)
            .replace("pskc:hotp", "pskc:totp");
        let err = parse(des.as_bytes(), Some(&RFC_PSK)).unwrap_err();
        assert!(
            err.message.contains("tripledes-cbc") && err.message.contains("not supported"),
            "{err}"
        );
    }

    // --- detection and robustness ---------------------------------------------------------------

    #[test]
    fn parse_detects_the_format_and_refuses_non_utf8() {
        let csv = parse(format!("\u{feff}T1,{RFC_SECRET_HEX}\n").as_bytes(), None).unwrap();
        assert_eq!(csv.records.len(), 1);
        let xml = parse(format!("  \n{RFC6030_FIGURE2}").as_bytes(), None).unwrap();
        assert_eq!(xml.errors.len(), 1);
        assert_eq!(xml.errors[0].line, 7);
        let err = parse(b"T1,31\xff32\n", None).unwrap_err();
        assert_eq!(err.line, 0);
        assert!(
            err.message.contains("not UTF-8") && err.message.contains("offset 5"),
            "{err}"
        );
        // UTF-16, as some Windows tools save XML.
        assert!(parse(b"\xff\xfe<\0K\0", None).is_err());
        assert_eq!(err.to_string(), err.message);
        assert_eq!(
            SeedError {
                line: 4,
                message: "x".into()
            }
            .to_string(),
            "line 4: x"
        );
    }

    #[test]
    fn no_input_panics() {
        let totp6 = RFC6030_FIGURE6.replace("pskc:hotp", "pskc:totp");
        let inputs = [
            RFC6030_FIGURE2,
            RFC6030_FIGURE6,
            totp6.as_str(),
            TOTP_PACKAGES,
        ];
        for input in inputs {
            for end in 0..input.len() {
                let _ = parse(&input.as_bytes()[..end], Some(&RFC_PSK));
                let _ = parse(&input.as_bytes()[end..], None);
            }
        }
        // Pseudo-random bytes, some shaped like the formats.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for round in 0..3000 {
            let len = (round % 200) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    b"<>/=\",#\n 0123456789abcdefABCDEF:KeyPackage"[(state % 42) as usize]
                })
                .collect();
            let _ = parse(&bytes, Some(&RFC_PSK));
            let _ = parse(&bytes, None);
        }
        // Deep nesting is parsed without recursion.
        let deep = format!(
            "<KeyContainer xmlns=\"urn:ietf:params:xml:ns:keyprov:pskc\">{}{}</KeyContainer>",
            "<KeyPackage>".repeat(50_000),
            "</KeyPackage>".repeat(50_000)
        );
        assert_eq!(
            parse(deep.as_bytes(), None).unwrap(),
            ParsedSeeds::default()
        );
        // Garbage where the ciphertext goes.
        let odd = RFC6030_FIGURE6.replace("ESIzRFVmd4iZABEiM0RVZgKn", "ESIz");
        assert!(parse(odd.as_bytes(), Some(&RFC_PSK)).is_err());
        let empty = RFC6030_FIGURE6.replace(
            "ESIzRFVmd4iZABEiM0RVZgKn6WjLaTC1sbeBMSvIhRejN9vJa2BOlSaMrR7I5wSX",
            "",
        );
        assert!(parse(empty.as_bytes(), Some(&RFC_PSK)).is_err());
    }
}
