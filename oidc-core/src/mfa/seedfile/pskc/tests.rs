use base64::engine::general_purpose::STANDARD;

use super::*;
use crate::mfa::otp::hotp;
use crate::mfa::seedfile::parse;
use crate::mfa::seedfile::tests::{
    RFC_PSK, RFC_SECRET, RFC6030_FIGURE2, RFC6030_FIGURE6, TOTP_PACKAGES, assert_sane,
    lines_and_messages,
};

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
