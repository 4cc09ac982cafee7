//! Shared fixtures, the CSV rules, and format detection; the PSKC tests are in `pskc/tests.rs`.

use super::*;
use crate::mfa::otp::hotp;

pub(super) const RFC6030_FIGURE2: &str =
    include_str!("../../../tests-data/pskc/rfc6030-figure2.xml");
pub(super) const RFC6030_FIGURE6: &str =
    include_str!("../../../tests-data/pskc/rfc6030-figure6.xml");
/// RFC 6030 §6.1's pre-shared key.
pub(super) const RFC_PSK: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12,
];
/// RFC 4226 Appendix D's secret, which both RFC 6030 examples carry.
pub(super) const RFC_SECRET: &[u8] = b"12345678901234567890";
pub(super) const RFC_SECRET_HEX: &str = "3132333435363738393031323334353637383930";

/// The record yields a code: the seed, digits and hash work together as the token will.
pub(super) fn assert_sane(record: &SeedRecord) {
    let code = hotp(&record.secret, 0, record.digits, record.algorithm).unwrap();
    assert_eq!(code.len(), record.digits as usize, "{record:?}");
    assert!(code.bytes().all(|b| b.is_ascii_digit()));
}

pub(super) fn lines_and_messages(errors: &[SeedError]) -> Vec<(usize, String)> {
    errors.iter().map(|e| (e.line, e.message.clone())).collect()
}

pub(super) const TOTP_PACKAGES: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
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
