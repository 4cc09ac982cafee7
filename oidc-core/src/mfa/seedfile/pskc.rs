//! PSKC (RFC 6030): the XML seed files of the larger vendors, optionally encrypted with a key
//! exchanged out of band.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use openssl::hash::MessageDigest;
use openssl::pkey::PKey;
use openssl::sign::Signer;
use openssl::symm::{Cipher, Crypter, Mode};
use roxmltree::{Document, Node, ParsingOptions};

use super::{
    ParsedSeeds, SeedError, SeedRecord, Serials, check_secret, check_serial, parse_digits,
    parse_period, shown, whole,
};
use crate::mfa::otp::OtpAlgorithm;
use crate::secret::ct_eq;

const PSKC_NS: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
const XENC_NS: &str = "http://www.w3.org/2001/04/xmlenc#";
const DS_NS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The one message for every way a pre-shared key can turn out wrong, so that the file does not
/// tell a guesser which step failed.
const WRONG_KEY: &str = "wrong pre-shared key or corrupted file";

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
mod tests;
