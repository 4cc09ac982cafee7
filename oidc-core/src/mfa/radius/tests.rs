use super::packet::tests::{AttributeList, check_request, response, unhide_password};
use super::packet::{
    ACCESS_ACCEPT, ACCESS_CHALLENGE, ACCESS_REJECT, REPLY_MESSAGE, STATE, USER_PASSWORD,
};
use super::*;

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
