use super::*;
use crate::mfa::radius::decode_challenge;

const SECRET: &[u8] = b"xyzzy5461";
/// 00 01 02 … 0f.
const RA: [u8; 16] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];

fn hex(s: &str) -> Vec<u8> {
    decode_challenge(&format!("0:{s}")).unwrap().1
}

/// The inverse of RFC 2865 §5.2 hiding, as a server does it (padding left in place).
pub(in crate::mfa::radius) fn unhide_password(
    secret: &[u8],
    authenticator: &[u8; 16],
    hidden: &[u8],
) -> Vec<u8> {
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
pub(in crate::mfa::radius) type AttributeList = Vec<(u8, Vec<u8>)>;

/// A server's view of a request: its attributes, with the Message-Authenticator checked.
pub(in crate::mfa::radius) fn check_request(
    packet: &[u8],
    secret: &[u8],
) -> (u8, [u8; 16], AttributeList) {
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
        build_access_request(SECRET, 7, &RA, b"alice", b"123456", b"ahs-iam", Some(b"st")).unwrap();
    let (id, ra, attrs) = check_request(&packet, SECRET);
    assert_eq!((id, ra), (7, RA));
    let get = |k: u8| attrs.iter().find(|(t, _)| *t == k).map(|(_, v)| v.clone());
    assert_eq!(get(USER_NAME).unwrap(), b"alice");
    assert_eq!(get(NAS_IDENTIFIER).unwrap(), b"ahs-iam");
    assert_eq!(get(STATE).unwrap(), b"st");
    let hidden = get(USER_PASSWORD).unwrap();
    assert_eq!(hidden, hex("7133d9dcfb204afc53c96a316a88996b"));
    let no_state = build_access_request(SECRET, 7, &RA, b"alice", b"1", b"ahs-iam", None).unwrap();
    assert!(
        check_request(&no_state, SECRET)
            .2
            .iter()
            .all(|(t, _)| *t != STATE)
    );
}

/// A response as a server builds it, optionally with a (valid) Message-Authenticator.
pub(in crate::mfa::radius) fn response(
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
