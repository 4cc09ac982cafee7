//! Tests of the file outbox, the memory mailer and the SMTP settings (the SMTP transport itself is
//! tested against a real server in `tests/tests/smtp.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;

use super::*;

const FROM: &str = "AHS IAM <iam@example.org>";

fn email(to: &str, subject: &str, body: &str) -> Email {
    Email {
        to: to.into(),
        subject: subject.into(),
        body: body.into(),
    }
}

/// A parsed message: headers (names lowercased; folded lines joined) and the raw body.
struct Parsed {
    headers: BTreeMap<String, String>,
    body: String,
}

impl Parsed {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(&name.to_ascii_lowercase())
            .unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }

    /// The body, transfer-decoded, with LF line endings.
    fn text(&self) -> String {
        let cte = self
            .header("Content-Transfer-Encoding")
            .to_ascii_lowercase();
        let text = match cte.as_str() {
            "7bit" | "8bit" => self.body.clone(),
            "quoted-printable" => decode_quoted_printable(&self.body),
            other => panic!("unexpected Content-Transfer-Encoding {other}"),
        };
        text.replace("\r\n", "\n")
    }
}

fn parse(raw: &[u8]) -> Parsed {
    let raw = std::str::from_utf8(raw).expect("the message is UTF-8");
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .expect("a blank line ends the headers");
    let mut headers = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in head.split("\r\n") {
        assert!(
            !line.contains('\r') && !line.contains('\n'),
            "bare CR or LF in {line:?}"
        );
        if line.starts_with(' ') || line.starts_with('\t') {
            let name = last.clone().expect("a continuation follows a header");
            let value: &mut String = headers.get_mut(&name).expect("header seen");
            value.push_str(line);
        } else {
            let (name, value) = line.split_once(':').expect("Name: value");
            let name = name.to_ascii_lowercase();
            assert!(!headers.contains_key(&name), "duplicate header {name}");
            headers.insert(name.clone(), value.trim_start().to_string());
            last = Some(name);
        }
    }
    Parsed {
        headers,
        body: body.to_string(),
    }
}

fn decode_quoted_printable(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'=' if bytes[i + 1..].starts_with(b"\r\n") => i += 3,
            b'=' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).expect("hex");
                out.push(u8::from_str_radix(hex, 16).expect("a hex escape"));
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).expect("UTF-8 after decoding")
}

/// Decodes a header value with RFC 2047 `=?utf-8?b?…?=` words among plain ones (whitespace
/// between two encoded words is dropped, RFC 2047 §6.2).
fn decode_rfc2047(value: &str) -> String {
    let mut out = String::new();
    let mut previous_encoded = false;
    for (i, token) in value.split(' ').enumerate() {
        let decoded = token
            .strip_prefix("=?")
            .and_then(|w| w.strip_suffix("?="))
            .map(|inner| {
                let mut parts = inner.splitn(3, '?');
                let charset = parts.next().expect("charset");
                let encoding = parts.next().expect("encoding");
                let text = parts.next().expect("text");
                assert!(charset.eq_ignore_ascii_case("utf-8"), "charset {charset}");
                assert!(encoding.eq_ignore_ascii_case("b"), "encoding {encoding}");
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(text)
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

/// The body as it arrives: LF line endings and a final newline.
fn as_sent(body: &str) -> String {
    let body = body.replace("\r\n", "\n");
    if body.ends_with('\n') {
        body
    } else {
        body + "\n"
    }
}

fn eml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read the outbox")
        .map(|e| e.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    files.sort();
    files
}

fn all_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = fs::read_dir(dir)
        .expect("read the outbox")
        .map(|e| {
            e.expect("a directory entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn notify_file_outbox_writes_a_parseable_eml() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("spool").join("outbox");
    let outbox = FileOutbox::new(&dir, FROM).expect("outbox");
    assert!(dir.is_dir(), "new() creates the directory and its parents");
    assert_eq!(outbox.dir(), dir);

    let body = "Bonjour Zoë,\n\nYour account is ready. Sign in at https://iam.example.org/.\n\n\
                A long line to be wrapped: "
        .to_string()
        + &"abcdefghij".repeat(20)
        + "\n-- \nAHS IAM\n";
    let before = SystemClock.now();
    outbox
        .send(&email(
            "Zoë Martin <zoe@example.org>",
            "Welcome to AHS IAM",
            &body,
        ))
        .await
        .expect("sent");
    let files = eml_files(&dir);
    assert_eq!(files.len(), 1, "{:?}", all_files(&dir));
    let raw = fs::read(&files[0]).expect("read");
    assert!(!raw.is_empty());
    let message = parse(&raw);

    assert_eq!(message.header("From"), "\"AHS IAM\" <iam@example.org>");
    let to = message.header("To");
    assert!(to.ends_with("<zoe@example.org>"), "To: {to}");
    assert_eq!(
        decode_rfc2047(to.trim_end_matches(" <zoe@example.org>")),
        "Zoë Martin"
    );
    assert_eq!(message.header("Subject"), "Welcome to AHS IAM");
    let date =
        chrono::DateTime::parse_from_rfc2822(message.header("Date")).expect("an RFC 5322 date");
    assert!(
        (date.timestamp() - before.timestamp()).abs() <= 5,
        "Date {date}"
    );
    let id = message.header("Message-ID");
    let uuid = id
        .strip_prefix('<')
        .and_then(|i| i.strip_suffix("@example.org>"))
        .expect("<uuid@domain of From>");
    Uuid::parse_str(uuid).expect("a UUID");
    assert_eq!(message.header("MIME-Version"), "1.0");
    assert_eq!(message.header("Content-Type"), "text/plain; charset=utf-8");
    assert_eq!(
        message.header("Content-Transfer-Encoding"),
        "quoted-printable"
    );
    assert!(
        message
            .body
            .split("\r\n")
            .all(|l| l.len() <= 76 && l.is_ascii()),
        "quoted-printable lines are ASCII and at most 76 characters"
    );
    assert_eq!(message.text(), as_sent(&body));
    // The same id names the file.
    let name = files[0]
        .file_name()
        .expect("name")
        .to_string_lossy()
        .into_owned();
    assert!(
        name.ends_with(&format!("-{uuid}.eml")),
        "{name} carries the Message-ID's UUID"
    );
}

#[tokio::test]
async fn notify_file_outbox_uses_7bit_for_plain_ascii_and_rfc2047_for_a_non_ascii_subject() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let outbox = FileOutbox::new(tmp.path(), "iam@example.org").expect("outbox");
    outbox
        .send(&email(
            "bob@example.org",
            "Votre code : 123456 — valable 10 min",
            "Code: 123456\n",
        ))
        .await
        .expect("sent");
    let files = eml_files(tmp.path());
    let message = parse(&fs::read(&files[0]).expect("read"));
    assert_eq!(message.header("From"), "iam@example.org");
    assert_eq!(message.header("To"), "bob@example.org");
    let subject = message.header("Subject");
    assert!(
        subject.is_ascii() && subject.contains("=?utf-8?b?"),
        "Subject: {subject}"
    );
    assert_eq!(
        decode_rfc2047(subject),
        "Votre code : 123456 — valable 10 min"
    );
    assert_eq!(message.header("Content-Transfer-Encoding"), "7bit");
    assert_eq!(message.text(), "Code: 123456\n");
}

#[tokio::test]
async fn notify_file_outbox_names_files_timestamp_uuid_eml() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let outbox = FileOutbox::new(tmp.path(), FROM).expect("outbox");
    let start = SystemClock.now();
    for i in 0..3 {
        outbox
            .send(&email("a@example.org", &format!("n{i}"), "x"))
            .await
            .expect("sent");
    }
    let names = all_files(tmp.path());
    assert_eq!(
        names.len(),
        3,
        "only the three messages, no temporary files: {names:?}"
    );
    let mut subjects = Vec::new();
    for name in &names {
        let stem = name.strip_suffix(".eml").expect(".eml");
        let (timestamp, uuid) = stem.split_at(stem.len() - 37);
        let uuid = uuid.strip_prefix('-').expect("{timestamp}-{uuid}");
        Uuid::parse_str(uuid).expect("a UUID");
        let at = chrono::NaiveDateTime::parse_from_str(timestamp, "%Y%m%dT%H%M%S%.6fZ")
            .unwrap_or_else(|e| panic!("timestamp {timestamp:?}: {e}"))
            .and_utc();
        assert_eq!(timestamp.len(), "20250102T030405.123456Z".len());
        assert!((at - start).num_seconds().abs() <= 5);
        subjects.push(
            parse(&fs::read(tmp.path().join(name)).expect("read"))
                .header("Subject")
                .to_string(),
        );
    }
    assert_eq!(subjects, ["n0", "n1", "n2"], "names sort by time");
}

#[tokio::test]
async fn notify_rejects_header_injection() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let outbox = FileOutbox::new(tmp.path(), FROM).expect("outbox");
    let memory = MemoryMailer::new();
    let attacks = [
        email("alice@example.org\r\nBcc: mallory@evil.example", "Hi", "x"),
        email("alice@example.org\nBcc: mallory@evil.example", "Hi", "x"),
        email("alice@example.org", "Hi\r\nBcc: mallory@evil.example", "x"),
        email("alice@example.org", "Hi\nBcc: mallory@evil.example", "x"),
        email("alice@example.org", "Hi\rBcc: mallory@evil.example", "x"),
        email("alice@example.org", "Hi\u{0}", "x"),
        email("not an address", "Hi", "x"),
        email("", "Hi", "x"),
    ];
    for attack in &attacks {
        let err = outbox.send(attack).await.expect_err("refused");
        assert!(matches!(err, Error::InvalidInput(_)), "{attack:?}: {err}");
        let err = memory.send(attack).await.expect_err("refused");
        assert!(matches!(err, Error::InvalidInput(_)), "{attack:?}: {err}");
    }
    assert!(all_files(tmp.path()).is_empty(), "nothing written");
    assert!(memory.sent().is_empty());
    // Line breaks in the body are fine: it is not a header.
    outbox
        .send(&email(
            "alice@example.org",
            "Hi",
            "line 1\r\nBcc: x@y.z\n\nline 3",
        ))
        .await
        .expect("sent");
    let message = parse(&fs::read(&eml_files(tmp.path())[0]).expect("read"));
    assert!(!message.headers.contains_key("bcc"));
    assert_eq!(message.text(), as_sent("line 1\r\nBcc: x@y.z\n\nline 3"));
}

#[test]
fn notify_file_outbox_refuses_a_bad_from_address() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for from in ["", "iam", "iam@example.org\r\nBcc: x@y.z"] {
        let err = FileOutbox::new(tmp.path(), from).expect_err("refused");
        assert!(matches!(err, Error::Config(_)), "{from:?}: {err}");
    }
    // A file where the directory should be.
    let file = tmp.path().join("file");
    fs::write(&file, b"x").expect("write");
    let err = FileOutbox::new(file.join("outbox"), FROM).expect_err("refused");
    assert!(matches!(err, Error::Config(_)), "{err}");
}

/// The `Date` header and the file name follow the clock the outbox is given.
#[tokio::test]
async fn notify_file_outbox_reads_time_from_its_clock() {
    struct Fixed;
    impl Clock for Fixed {
        fn now(&self) -> chrono::DateTime<chrono::Utc> {
            chrono::DateTime::parse_from_rfc3339("2031-02-03T04:05:06.789012Z")
                .expect("a date")
                .to_utc()
        }
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let outbox = FileOutbox::new(tmp.path(), FROM)
        .expect("outbox")
        .with_clock(Arc::new(Fixed));
    outbox
        .send(&email("a@example.org", "x", "y"))
        .await
        .expect("sent");
    let names = all_files(tmp.path());
    assert_eq!(names.len(), 1);
    assert!(
        names[0].starts_with("20310203T040506.789012Z-"),
        "{names:?}"
    );
    let message = parse(&fs::read(tmp.path().join(&names[0])).expect("read"));
    assert_eq!(message.header("Date"), "Mon, 03 Feb 2031 04:05:06 +0000");
}

/// The message is complete under a hidden temporary name before it gets its `.eml` name: at that
/// moment a reader taking `*.eml` finds nothing.
#[test]
fn notify_file_outbox_writes_a_temporary_file_then_renames_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let name = "20250102T030405.123456Z-5f0c4a1e-0000-4000-8000-000000000000.eml";
    let bytes = b"Subject: x\r\n\r\nbody\r\n".repeat(1000);
    let mut seen = None;
    write_atomically(dir, name, &bytes, |temporary| {
        assert!(eml_files(dir).is_empty(), "no .eml before the rename");
        assert_eq!(
            fs::read(temporary).expect("temporary file"),
            bytes,
            "complete"
        );
        seen = Some(temporary.to_path_buf());
    })
    .expect("written");
    let temporary = seen.expect("the temporary file was used");
    let temporary_name = temporary.file_name().expect("name").to_string_lossy();
    assert_eq!(temporary_name, format!(".{name}.tmp"), "hidden, not *.eml");
    assert_eq!(
        temporary.parent(),
        Some(dir),
        "same directory, so the rename is atomic"
    );
    assert_eq!(all_files(dir), [name], "renamed; no temporary file left");
    assert_eq!(fs::read(dir.join(name)).expect("read"), bytes);

    // A failed write leaves nothing behind.
    let missing = dir.join("missing");
    let err = write_atomically(&missing, name, &bytes, |_| {}).expect_err("no directory");
    assert!(matches!(err, Error::Internal(_)), "{err}");
    assert_eq!(all_files(dir), [name]);
}

/// A reader that lists `*.eml` while messages are written never sees a partial one: each file it
/// finds ends with the body's last line.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn notify_file_outbox_never_shows_a_partial_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    let outbox = FileOutbox::new(&dir, FROM).expect("outbox");
    let body = "Zoë ".repeat(50_000) + "\nTHE END\n";

    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (dir, done) = (dir.clone(), done.clone());
        std::thread::spawn(move || {
            let mut checked = 0usize;
            while !done.load(Ordering::Acquire) {
                for path in eml_files(&dir) {
                    let raw = fs::read(&path).expect("an .eml file is readable");
                    assert!(
                        raw.ends_with(b"THE END\r\n"),
                        "partial file seen: {path:?} ({} bytes)",
                        raw.len()
                    );
                    checked += 1;
                }
            }
            checked
        })
    };
    for i in 0..10 {
        outbox
            .send(&email("a@example.org", &format!("big {i}"), &body))
            .await
            .expect("sent");
    }
    done.store(true, Ordering::Release);
    let checked = reader.join().expect("the reader saw no partial file");
    assert!(checked > 0, "the reader looked at files");
    let names = all_files(&dir);
    assert_eq!(names.len(), 10, "no temporary file left behind: {names:?}");
    assert!(
        names
            .iter()
            .all(|n| n.ends_with(".eml") && !n.starts_with('.'))
    );
    let message = parse(&fs::read(dir.join(&names[0])).expect("read"));
    assert_eq!(message.text(), body);
}

#[tokio::test]
async fn notify_memory_mailer_keeps_messages() {
    let mailer = MemoryMailer::new();
    let first = email("a@example.org", "one", "1");
    let second = email("b@example.org", "deux", "Zoë");
    mailer.send(&first).await.expect("sent");
    mailer.send(&second).await.expect("sent");
    assert_eq!(mailer.sent(), [first.clone(), second.clone()]);
    assert_eq!(mailer.take(), [first, second]);
    assert!(mailer.sent().is_empty());
    // Usable as the provider holds it.
    let _shared: Arc<dyn Mailer> = Arc::new(MemoryMailer::default());
}

#[test]
fn notify_smtp_config_hides_the_password_and_checks_settings() {
    let config = SmtpConfig::new("smtp.example.org", 587, SmtpTls::StartTls, FROM)
        .credentials("iam", "s3cret-pass")
        .timeout(Duration::from_secs(5));
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("s3cret-pass") && shown.contains("[redacted]"),
        "{shown}"
    );
    let mailer = SmtpMailer::new(config.clone()).expect("valid");
    assert!(!format!("{mailer:?}").contains("s3cret-pass"));
    SmtpMailer::new(SmtpConfig::new("smtp.example.org", 465, SmtpTls::Tls, FROM)).expect("valid");
    SmtpMailer::new(SmtpConfig::new("127.0.0.1", 2525, SmtpTls::None, FROM).credentials("u", "p"))
        .expect("plain text to loopback is allowed");

    let refused = [
        SmtpConfig::new("", 25, SmtpTls::None, FROM),
        SmtpConfig::new("smtp.example.org", 587, SmtpTls::StartTls, "not an address"),
        SmtpConfig::new("smtp.example.org", 587, SmtpTls::StartTls, FROM).timeout(Duration::ZERO),
        SmtpConfig {
            password: None,
            ..config.clone()
        },
        SmtpConfig {
            username: None,
            ..config.clone()
        },
        SmtpConfig {
            tls: SmtpTls::None,
            port: 25,
            ..config
        },
    ];
    for config in refused {
        let err = SmtpMailer::new(config.clone()).expect_err("refused");
        assert!(matches!(err, Error::Config(_)), "{config:?}: {err}");
        assert!(!err.to_string().contains("s3cret-pass"), "{err}");
    }
}
