//! Two `oidc-server` processes (replicas) on one database with one issuer, as an operator runs
//! them behind a load balancer without sticky sessions: a sign-in started on one finishes on the
//! other, a key rotated by a third process is served by both within the refresh bound, concurrent
//! refreshes across them have one winner, two concurrent streams of failed passwords are counted
//! exactly, and a SIGTERM during a burst of sign-ins drops none of them. On PostgreSQL when
//! `TEST_DATABASE_URL` is set (a fresh database per test), otherwise on one SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use openidconnect::PkceCodeChallenge;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_oidc-server");
const REDIRECT: &str = "http://127.0.0.1:9000/callback";
const PASSWORD: &str = "correct horse battery staple";
/// RFC 6238's test seed ("12345678901234567890"), as the vendor's seed file would hold it.
const SEED_HEX: &str = "3132333435363738393031323334353637383930";
/// Key changes made elsewhere are picked up within this (the test's `refresh_interval_secs`).
const KEY_REFRESH_SECS: u64 = 1;

/// The shared database: a SQLite file, or a fresh PostgreSQL database dropped at the end.
struct SharedDb {
    url: String,
    pg: Option<(String, String)>,
}

impl SharedDb {
    fn create(dir: &Path) -> SharedDb {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if !admin.trim().is_empty() => {
                let name = format!("e2e_procs_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin).unwrap();
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                SharedDb {
                    url: url.to_string(),
                    pg: Some((admin, name)),
                }
            }
            _ => SharedDb {
                url: format!("sqlite://{}", dir.join("iam.db").display()),
                pg: None,
            },
        }
    }
}

impl Drop for SharedDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// One deployment: a settings file, a database, and the issuer every replica announces.
struct Deployment {
    dir: tempfile::TempDir,
    config: PathBuf,
    _db: SharedDb,
    issuer: String,
}

impl Deployment {
    fn new(throttle: &str) -> Deployment {
        let dir = tempfile::tempdir().unwrap();
        let db = SharedDb::create(dir.path());
        // The load balancer's address; no replica listens there, and none needs to: redirects
        // inside the provider are relative, and clients talk to the replica they were sent to.
        let issuer = format!("http://127.0.0.1:{}", free_port());
        let config = dir.path().join("iam.toml");
        std::fs::write(
            &config,
            format!(
                "issuer = \"{issuer}\"\ndatabase_url = \"{}\"\n\
                 [keys]\nrefresh_interval_secs = {KEY_REFRESH_SECS}\n{throttle}",
                db.url
            ),
        )
        .unwrap();
        Deployment {
            dir,
            config,
            _db: db,
            issuer,
        }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--config")
            .arg(&self.config)
            .env("IAM_DATA_DIR", self.dir.path())
            .env_remove("IAM_DATABASE_URL")
            .env_remove("IAM_ISSUER")
            .env_remove("IAM_BIND")
            .env_remove("IAM_METRICS_BIND")
            .env_remove("IAM_CONFIG");
        c
    }

    fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child = self
            .command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if let Some(input) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    fn json(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let out = self.cli(args, stdin);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// A user with a password and an assigned hardware token, and a first-party client.
    fn seed(&self, username: &str, serial: &str, client_args: &[&str]) -> (String, String) {
        self.json(
            &[
                "user",
                "add",
                "--break-glass",
                "--username",
                username,
                "--email",
                &format!("{username}@example.org"),
                "--password-stdin",
                "--json",
            ],
            Some(&format!("{PASSWORD}\n")),
        );
        let seeds = self.dir.path().join(format!("{serial}.csv"));
        std::fs::write(&seeds, format!("{serial},{SEED_HEX}\n")).unwrap();
        self.json(
            &[
                "token",
                "import",
                "--break-glass",
                seeds.to_str().unwrap(),
                "--json",
            ],
            None,
        );
        self.json(
            &[
                "token",
                "assign",
                "--break-glass",
                "--username",
                username,
                "--serial",
                serial,
                "--json",
            ],
            None,
        );
        let mut args = vec![
            "client",
            "add",
            "--break-glass",
            "--name",
            "Replicated app",
            "--redirect-uri",
            REDIRECT,
            "--first-party",
            "--json",
        ];
        args.extend_from_slice(client_args);
        let client = self.json(&args, None);
        (
            client["client_id"].as_str().unwrap().to_string(),
            client["client_secret"].as_str().unwrap().to_string(),
        )
    }

    /// Starts a replica and waits until it is ready.
    async fn replica(&self) -> Replica {
        let port = free_port();
        let metrics_port = free_port();
        let child = self
            .command()
            .arg("serve")
            .env("IAM_BIND", format!("127.0.0.1:{port}"))
            .env("IAM_METRICS_BIND", format!("127.0.0.1:{metrics_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let r = Replica {
            child,
            base: format!("http://127.0.0.1:{port}"),
            metrics: format!("http://127.0.0.1:{metrics_port}/metrics"),
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            if let Ok(res) = http.get(format!("{}/readyz", r.base)).send().await
                && res.status() == 200
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("replica {} did not become ready", r.base);
    }
}

struct Replica {
    child: Child,
    base: String,
    metrics: String,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Replica {
    /// The replica's metrics as `name{labels}` → value.
    async fn metrics(&self) -> HashMap<String, f64> {
        let text = reqwest::get(&self.metrics)
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|l| {
                let (k, v) = l.rsplit_once(' ').unwrap();
                (k.to_string(), v.parse().unwrap())
            })
            .collect()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn browser() -> reqwest::Client {
    reqwest::ClientBuilder::new()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

fn field(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    page.split(&marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

fn location(res: &reqwest::Response) -> String {
    res.headers()["location"].to_str().unwrap().to_string()
}

/// The tokencode of RFC 6238's seed `offset` steps from now.
fn passcode(offset: i64) -> String {
    let seed = hex_decode(SEED_HEX);
    #[allow(clippy::disallowed_methods)] // the servers run on the wall clock
    let now = chrono::Utc::now().timestamp();
    totp_at_step(&seed, time_step(now, 30) + offset, 6, OtpAlgorithm::Sha1).unwrap()
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Starts an authorization at `base` and loads the sign-in page: (its URL, the page).
async fn open_signin(
    http: &reqwest::Client,
    base: &str,
    client_id: &str,
    challenge: &PkceCodeChallenge,
    scope: &str,
) -> (String, String) {
    let res = http
        .get(format!("{base}/authorize"))
        .query(&[
            ("response_type", "code"),
            ("client_id", client_id),
            ("redirect_uri", REDIRECT),
            ("scope", scope),
            ("state", "st"),
            ("nonce", "n"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let url = format!("{base}{}", location(&res));
    let page = http.get(&url).send().await.unwrap().text().await.unwrap();
    (url, page)
}

async fn post_password(
    http: &reqwest::Client,
    url: &str,
    page: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    http.post(url)
        .form(&[
            ("csrf", field(page, "csrf").as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

fn code_of(location: &str) -> String {
    let url = url::Url::parse(location).unwrap();
    let q: HashMap<_, _> = url.query_pairs().into_owned().collect();
    q.get("code")
        .unwrap_or_else(|| panic!("no code in {location}"))
        .clone()
}

async fn token(base: &str, id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

async fn kids(base: &str) -> Vec<String> {
    let jwks: Value = reqwest::get(format!("{base}/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_processes_password_on_a_passcode_on_b_code_on_a_keys_and_refresh_shared() {
    let d = Deployment::new("");
    let (id, secret) = d.seed("nakitt", "HW-1", &["--refresh", "always"]);
    let a = d.replica().await;
    let b = d.replica().await;

    // Password on A, passcode on B (the browser's cookies go to both: one host), code on A.
    let http = browser();
    let challenge_verifier = PkceCodeChallenge::new_random_sha256();
    let (url_a, page) = open_signin(&http, &a.base, &id, &challenge_verifier.0, "openid").await;
    let res = post_password(&http, &url_a, &page, "nakitt", PASSWORD).await;
    assert_eq!(res.status(), 303);
    let url_b = url_a.replacen(&a.base, &b.base, 1);
    let page = http.get(&url_b).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Enter your RSA SecurID passcode."), "{page}");
    let res = http
        .post(&url_b)
        .form(&[
            ("csrf", field(&page, "csrf").as_str()),
            ("passcode", passcode(0).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    let back = location(&res);
    assert!(back.starts_with(REDIRECT), "{back}");
    assert!(
        back.contains(&format!("iss={}", urlencode(&d.issuer))),
        "{back}"
    );
    let code = code_of(&back);
    let (status, tokens) = token(
        &a.base,
        &id,
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", challenge_verifier.1.secret()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string());
    // Concurrent refreshes of one token, one at each replica: exactly one wins.
    let rt = tokens["refresh_token"].as_str().unwrap().to_string();
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", rt.as_str()),
    ];
    let (ra, rb) = tokio::join!(
        token(&a.base, &id, &secret, &form),
        token(&b.base, &id, &secret, &form)
    );
    let mut statuses = [ra.0, rb.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 400], "{ra:?} {rb:?}");
    let (winner, loser) = if ra.0 == 400 {
        (&rb.1, &ra.1)
    } else {
        (&ra.1, &rb.1)
    };
    assert_eq!(loser["error"], "invalid_grant");
    let next = winner["refresh_token"].as_str().unwrap().to_string();
    // The code is spent for both replicas, and its replay at B revokes the grant at A too
    // (RFC 6749 §4.1.2): the winner's refresh token stops working.
    let (status, err) = token(
        &b.base,
        &id,
        &secret,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", challenge_verifier.1.secret()),
        ],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    let (status, err) = token(
        &a.base,
        &id,
        &secret,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", next.as_str()),
        ],
    )
    .await;
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("invalid_grant"))
    );

    // A key published by a third process (the CLI) is served by both within the bound.
    let before = kids(&a.base).await;
    assert_eq!(before, kids(&b.base).await);
    let rotated = d.json(
        &[
            "keys",
            "rotate",
            "--break-glass",
            "--alg",
            "ES256",
            "--json",
        ],
        None,
    );
    let new_kid = rotated
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .find(|k| !before.contains(k))
        .unwrap_or_else(|| panic!("no new key in {rotated}"));
    let published = Instant::now();
    let bound = Duration::from_secs(KEY_REFRESH_SECS) + Duration::from_secs(2);
    for r in [&a, &b] {
        loop {
            if kids(&r.base).await.contains(&new_kid) {
                break;
            }
            assert!(
                published.elapsed() < bound,
                "{} did not serve the new key within {bound:?}",
                r.base
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Each replica counted what it served: the sign-in finished on B, the code was issued there.
    let (ma, mb) = (a.metrics().await, b.metrics().await);
    let success = "iam_signin_attempts_total{outcome=\"success\"}";
    assert_eq!((ma[success], mb[success]), (0.0, 1.0));
    let codes = "iam_tokens_issued_total{grant_type=\"authorize\",token=\"authorization_code\"}";
    assert_eq!(mb[codes], 1.0);
    assert!(!ma.contains_key(codes));
    let exchanged = "iam_tokens_issued_total{grant_type=\"authorization_code\",token=\"id_token\"}";
    assert_eq!(ma[exchanged], 1.0);
    let refreshed = "iam_tokens_issued_total{grant_type=\"refresh_token\",token=\"access_token\"}";
    assert_eq!(
        ma.get(refreshed).unwrap_or(&0.0) + mb.get(refreshed).unwrap_or(&0.0),
        1.0
    );
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lockout_counts_are_exact_under_two_concurrent_failure_streams_across_replicas() {
    const PER_STREAM: usize = 10;
    // The per-address limits are out of the way: only the account's count is under test.
    let d = Deployment::new(&format!(
        "[throttle]\nlockout_threshold = {}\nfree_failures = 1000\naddress_failure_limit = 1000\n",
        2 * PER_STREAM
    ));
    let (id, _) = d.seed("target", "HW-2", &["--no-mfa"]);
    let a = d.replica().await;
    let b = d.replica().await;

    let stream = |base: String, id: String| async move {
        let http = browser();
        let challenge = PkceCodeChallenge::new_random_sha256().0;
        let (url, mut page) = open_signin(&http, &base, &id, &challenge, "openid").await;
        for _ in 0..PER_STREAM {
            let res = post_password(&http, &url, &page, "target", "wrong password").await;
            assert_eq!(res.status(), 200);
            page = res.text().await.unwrap();
            assert!(page.contains("incorrect"), "{page}");
        }
    };
    tokio::join!(
        stream(a.base.clone(), id.clone()),
        stream(b.base.clone(), id.clone())
    );

    // Every failure counted once, on the account row both replicas share: exactly one lock.
    let (ma, mb) = (a.metrics().await, b.metrics().await);
    let failures = "iam_signin_attempts_total{outcome=\"failure\"}";
    assert_eq!(ma[failures] + mb[failures], (2 * PER_STREAM) as f64);
    let locks = "iam_account_lockouts_total";
    assert_eq!(ma[locks] + mb[locks], 1.0);
    let audit = d.json(&["audit", "list", "--json"], None);
    let locked = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "account.locked")
        .count();
    assert_eq!(locked, 1, "{audit}");

    // Now even the right password is refused unchecked, on either replica.
    let http = browser();
    let challenge = PkceCodeChallenge::new_random_sha256().0;
    let (url, page) = open_signin(&http, &b.base, &id, &challenge, "openid").await;
    let res = post_password(&http, &url, &page, "target", PASSWORD).await;
    assert_eq!(res.status(), 200);
    let mb = b.metrics().await;
    assert_eq!(mb["iam_signin_attempts_total{outcome=\"throttled\"}"], 1.0);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_a_burst_of_sign_ins_drops_none_and_the_other_replica_redeems_every_code() {
    const BURST: usize = 32;
    let d = Deployment::new("[throttle]\nfree_failures = 1000\n");
    let (id, secret) = d.seed("burst", "HW-3", &["--no-mfa"]);
    let mut a = d.replica().await;
    let b = d.replica().await;

    // Each browser has its sign-in page open on A; then all submit their password at once.
    let mut ready = Vec::new();
    for _ in 0..BURST {
        let http = browser();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, page) = open_signin(&http, &a.base, &id, &challenge, "openid").await;
        ready.push((http, url, page, verifier));
    }
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    for (i, (http, url, page, verifier)) in ready.into_iter().enumerate() {
        let done = done_tx.clone();
        tokio::spawn(async move {
            let res = http
                .post(&url)
                .form(&[
                    ("csrf", field(&page, "csrf").as_str()),
                    ("username", "burst"),
                    ("password", PASSWORD),
                ])
                .send()
                .await;
            let outcome = res.map(|r| (r.status().as_u16(), location_or_empty(&r)));
            let _ = done.send((i, Instant::now(), outcome, verifier));
        });
    }
    drop(done_tx);
    // Signal once A has received every request (answered or in flight), and some are still in
    // flight: each password costs an argon2 hash, so the burst takes a while on two cores.
    let posted =
        "iam_http_requests_total{endpoint=\"/signin/{id}\",method=\"POST\",status=\"303\"}";
    let waiting = Instant::now();
    loop {
        let m = a.metrics().await;
        let in_flight = m["iam_http_requests_in_flight"];
        let answered = m.get(posted).copied().unwrap_or(0.0);
        if in_flight + answered >= BURST as f64 {
            assert!(in_flight > 0.0, "the burst was over before the signal");
            break;
        }
        assert!(waiting.elapsed() < Duration::from_secs(10), "{m:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let signalled = Instant::now();
    let killed = Command::new("kill")
        .args(["-TERM", &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    let mut after_signal = 0;
    let mut codes = Vec::new();
    while let Some((i, at, outcome, verifier)) = done_rx.recv().await {
        let (status, location) = outcome.unwrap_or_else(|e| panic!("request {i} was dropped: {e}"));
        assert_eq!(status, 303, "request {i}");
        if at > signalled {
            after_signal += 1;
        }
        codes.push((code_of(&location), verifier));
    }
    assert_eq!(codes.len(), BURST);
    eprintln!("{after_signal} of {BURST} sign-ins were answered after SIGTERM");
    assert!(
        after_signal > 0,
        "every sign-in finished before the signal: the test proved nothing"
    );

    // The replica exits by itself, cleanly, within the grace period; it accepts nothing more.
    let exited = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        loop {
            if let Some(status) = a.child.try_wait().unwrap() {
                return (status, started.elapsed(), a);
            }
            if started.elapsed() > Duration::from_secs(25) {
                panic!("the replica did not exit after SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
    .await
    .unwrap();
    assert!(exited.0.success(), "exit status {:?}", exited.0);
    let refused = reqwest::get(format!("{}/healthz", exited.2.base)).await;
    assert!(refused.is_err(), "the stopped replica still answers");

    // Nothing was half-written: every code is redeemed at the other replica.
    for (code, verifier) in codes {
        let (status, body) = token(
            &b.base,
            &id,
            &secret,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", verifier.secret()),
            ],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
}

fn location_or_empty(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}
