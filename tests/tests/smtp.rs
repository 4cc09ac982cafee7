//! [`SmtpMailer`] against a real SMTP server: Python's aiosmtpd running
//! `tests/support/smtp_receiver.py`, which writes every message it accepts to a directory.
//!
//! The receiver runs under the Python interpreter named by `SMTP_RECEIVER_PYTHON`, by default
//! [`DEFAULT_PYTHON`] (`/tmp/iam-ci-venv/bin/python`), a venv that `.ci/run` creates with
//! `python3 -m venv /tmp/iam-ci-venv && /tmp/iam-ci-venv/bin/pip install -q aiosmtpd`. Without it
//! the tests fail with a message that says so; they never pass without having run.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use oidc_core::Error;
use oidc_core::notify::{Email, Mailer, SmtpConfig, SmtpMailer, SmtpTls};

/// The receiver's interpreter when `SMTP_RECEIVER_PYTHON` is not set.
const DEFAULT_PYTHON: &str = "/tmp/iam-ci-venv/bin/python";
const FROM: &str = "AHS IAM <iam@example.org>";

/// A running `smtp_receiver.py`; killed when dropped.
struct SmtpReceiver {
    child: Child,
    addr: SocketAddr,
    out: tempfile::TempDir,
}

impl SmtpReceiver {
    fn start() -> Self {
        let python =
            std::env::var("SMTP_RECEIVER_PYTHON").unwrap_or_else(|_| DEFAULT_PYTHON.into());
        let venv_hint = "create it with `python3 -m venv /tmp/iam-ci-venv && \
                         /tmp/iam-ci-venv/bin/pip install -q aiosmtpd` (.ci/run does), or point \
                         SMTP_RECEIVER_PYTHON at a Python that has aiosmtpd";
        assert!(
            Path::new(&python).exists(),
            "the SMTP tests need a real SMTP receiver, but its Python {python} is missing: {venv_hint}"
        );
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("support/smtp_receiver.py");
        assert!(script.exists(), "{} is missing", script.display());
        let out = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(&python)
            .arg(&script)
            .arg(out.path())
            .arg("0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {python}: {e}; {venv_hint}"));

        // Wait for "READY 127.0.0.1:PORT" (or for the process to give up).
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next().and_then(Result::ok);
            let _ = tx.send(first);
            for _ in lines {} // Keep the pipe drained.
        });
        let ready = rx.recv_timeout(Duration::from_secs(20)).ok().flatten();
        let addr = ready
            .as_deref()
            .and_then(|l| l.strip_prefix("READY "))
            .and_then(|a| a.parse::<SocketAddr>().ok());
        match addr {
            Some(addr) => SmtpReceiver { child, addr, out },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = e.read_to_string(&mut stderr);
                }
                panic!(
                    "the SMTP receiver did not start (first line {ready:?}); stderr:\n{stderr}\n\
                     {venv_hint}"
                );
            }
        }
    }

    /// Waits for message `n` (1, 2, …) and returns it and its envelope (JSON).
    fn message(&self, n: usize) -> (Vec<u8>, serde_json::Value) {
        let eml = self.out.path().join(format!("{n:04}.eml"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !eml.exists() {
            assert!(
                Instant::now() < deadline,
                "message {n} did not arrive; the receiver has {:?}",
                std::fs::read_dir(self.out.path())
                    .map(|d| d.flatten().map(|e| e.file_name()).collect::<Vec<_>>())
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let envelope =
            std::fs::read(self.out.path().join(format!("{n:04}.json"))).expect("envelope");
        (
            std::fs::read(&eml).expect("message"),
            serde_json::from_slice(&envelope).expect("envelope JSON"),
        )
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn email(to: &str, subject: &str, body: &str) -> Email {
    Email {
        to: to.into(),
        subject: subject.into(),
        body: body.into(),
    }
}

fn mailer(addr: SocketAddr, timeout: Duration) -> SmtpMailer {
    SmtpMailer::new(
        SmtpConfig::new(addr.ip().to_string(), addr.port(), SmtpTls::None, FROM).timeout(timeout),
    )
    .expect("valid SMTP settings")
}

/// A message as received: the headers (unfolded; names lowercased) and the decoded body with LF
/// line endings.
struct Received {
    headers: Vec<(String, String)>,
    text: String,
}

impl Received {
    fn parse(raw: &[u8]) -> Self {
        let raw = std::str::from_utf8(raw).expect("the message is ASCII/UTF-8");
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .expect("headers, a blank line, a body");
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in head.split("\r\n") {
            if line.starts_with([' ', '\t']) {
                headers
                    .last_mut()
                    .expect("a header before")
                    .1
                    .push_str(line);
            } else {
                let (name, value) = line.split_once(':').expect("Name: value");
                headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let received = Received {
            headers,
            text: String::new(),
        };
        let text = match received.header("content-transfer-encoding") {
            "7bit" | "8bit" => body.to_string(),
            "quoted-printable" => decode_quoted_printable(body),
            other => panic!("unexpected Content-Transfer-Encoding {other}"),
        };
        Received {
            text: text.replace("\r\n", "\n"),
            ..received
        }
    }

    fn header(&self, name: &str) -> &str {
        let mut values = self.headers.iter().filter(|(n, _)| n == name);
        let (_, value) = values.next().unwrap_or_else(|| panic!("no {name} header"));
        assert!(values.next().is_none(), "two {name} headers");
        value
    }
}

fn decode_quoted_printable(s: &str) -> String {
    let (bytes, mut out, mut i) = (s.as_bytes(), Vec::new(), 0);
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if bytes[i + 1..].starts_with(b"\r\n") {
                i += 3;
                continue;
            }
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
            out.push(u8::from_str_radix(hex, 16).expect("a hex escape"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("UTF-8")
}

/// Decodes a header with RFC 2047 `=?utf-8?b?…?=` words among plain ones.
fn decode_rfc2047(value: &str) -> String {
    let mut out = String::new();
    let mut previous_encoded = false;
    for (i, token) in value.split(' ').enumerate() {
        let decoded = token
            .strip_prefix("=?utf-8?b?")
            .and_then(|w| w.strip_suffix("?="))
            .map(|b64| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .expect("base64");
                String::from_utf8(bytes).expect("UTF-8")
            });
        if i > 0 && !(previous_encoded && decoded.is_some()) {
            out.push(' ');
        }
        previous_encoded = decoded.is_some();
        out.push_str(decoded.as_deref().unwrap_or(token));
    }
    out
}

#[tokio::test]
async fn smtp_two_messages_arrive_with_recipient_subject_and_utf8_body() {
    let receiver = SmtpReceiver::start();
    let mailer = mailer(receiver.addr, Duration::from_secs(10));

    let welcome = email(
        "alice@example.org",
        "Welcome to AHS IAM",
        "Hello Alice,\n\nYour account is ready.\n.A line that starts with a dot (SMTP transparency).\n.\n",
    );
    let code = email(
        "Zoë Martin <zoe@example.org>",
        "Votre code — 123456",
        "Bonjour Zoë,\n\nVotre code est 123456. Il expire dans 10 minutes.\n\n\
         (Une ligne assez longue pour être coupée par quoted-printable, sans rien perdre du texte \
         qu'elle porte, accents compris : é è à ç ô.)\n",
    );
    mailer
        .send(&welcome)
        .await
        .expect("the first message is accepted");
    mailer
        .send(&code)
        .await
        .expect("the second message is accepted");

    let (raw, envelope) = receiver.message(1);
    assert_eq!(envelope["mail_from"], "iam@example.org");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["alice@example.org"])
    );
    let first = Received::parse(&raw);
    assert_eq!(first.header("from"), "\"AHS IAM\" <iam@example.org>");
    assert_eq!(first.header("to"), "alice@example.org");
    assert_eq!(first.header("subject"), "Welcome to AHS IAM");
    assert_eq!(first.header("mime-version"), "1.0");
    assert_eq!(first.header("content-type"), "text/plain; charset=utf-8");
    chrono::DateTime::parse_from_rfc2822(first.header("date")).expect("an RFC 5322 Date");
    assert!(first.header("message-id").ends_with("@example.org>"));
    assert_eq!(first.text, welcome.body);

    let (raw, envelope) = receiver.message(2);
    assert_eq!(envelope["rcpt_tos"], serde_json::json!(["zoe@example.org"]));
    assert!(raw.is_ascii(), "headers and body travel as 7-bit ASCII");
    let second = Received::parse(&raw);
    assert_eq!(
        decode_rfc2047(second.header("to")),
        "Zoë Martin <zoe@example.org>"
    );
    assert_eq!(
        decode_rfc2047(second.header("subject")),
        "Votre code — 123456"
    );
    assert_eq!(
        second.header("content-transfer-encoding"),
        "quoted-printable"
    );
    assert_eq!(second.text, code.body);
    assert!(second.text.starts_with("Bonjour Zoë,"));
    assert_ne!(first.header("message-id"), second.header("message-id"));
}

#[tokio::test]
async fn smtp_header_injection_is_refused_before_connecting() {
    let receiver = SmtpReceiver::start();
    let mailer = mailer(receiver.addr, Duration::from_secs(10));
    let err = mailer
        .send(&email(
            "alice@example.org",
            "Hi\r\nBcc: mallory@evil.example",
            "x",
        ))
        .await
        .expect_err("refused");
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    mailer
        .send(&email("alice@example.org", "after", "x"))
        .await
        .expect("sent");
    let (raw, envelope) = receiver.message(1);
    assert_eq!(Received::parse(&raw).header("subject"), "after");
    assert_eq!(
        envelope["rcpt_tos"],
        serde_json::json!(["alice@example.org"])
    );
}

#[tokio::test]
async fn smtp_unreachable_server_is_an_error_not_a_hang() {
    // Nothing listens on this port: the connection is refused.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let timeout = Duration::from_secs(2);
    let start = Instant::now();
    let err = mailer(closed, timeout)
        .send(&email("alice@example.org", "Hi", "x"))
        .await
        .expect_err("no server");
    assert!(start.elapsed() < timeout, "took {:?}", start.elapsed());
    let message = err.to_string();
    assert!(matches!(err, Error::Internal(_)), "{message}");
    assert!(
        message.contains(&closed.to_string()),
        "the error names the server: {message}"
    );

    // A server that accepts the connection and never greets: the timeout ends the wait.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    let start = Instant::now();
    let err = mailer(silent_addr, timeout)
        .send(&email("alice@example.org", "Hi", "x"))
        .await
        .expect_err("no greeting");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= timeout && elapsed < timeout + Duration::from_secs(1),
        "gave up after {elapsed:?} with a {timeout:?} timeout"
    );
    assert!(matches!(err, Error::Internal(_)), "{err}");
    drop(silent);
}
