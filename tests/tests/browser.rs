//! The pages in a real browser: `tests/browser/` (node, playwright-core, axe-core) drives Debian's
//! Chromium through the whole story of the CPAR quick reference and the other scenarios, and
//! checks every page with axe. This test starts what the scenarios need and runs that suite, so
//! that `cargo test --workspace` runs it.
//!
//! AHS IAM and CPAR run as a process of their own (this test binary again, running the ignored
//! `browser_servers` below: the demo's services over a fresh database, with the real clock), IAM
//! on `127.0.0.1` and CPAR on `localhost`, so that the two are different sites as in production
//! and the cookies' SameSite settings are really exercised. Each scenario gets its own people and
//! tokens (`fixtures.json`); the suite computes passcodes from the tokens' seeds.
//!
//! Skipped (with a message) only when `/usr/bin/chromium` or `tests/browser/node_modules` is
//! missing; `.ci/run` installs both. Screenshots go to `target/browser-screenshots/`, or to
//! `docs/screenshots/` with `UPDATE_SCREENSHOTS=1`.

#[path = "e2e/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oidc_core::{Actor, Clock, NewClient, NewRegistration, NewUser, SystemClock};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
/// Set for the server process: where it writes `fixtures.json` and keeps its data.
const SERVERS_DIR: &str = "BROWSER_SERVERS_DIR";
/// Set for the server process: IAM's database URL (a fresh PostgreSQL database on that run).
const SERVERS_DB: &str = "BROWSER_SERVERS_DATABASE_URL";
/// The whole suite, servers included, must finish within this (CI has 45 minutes in all).
const SUITE_TIMEOUT: Duration = Duration::from_secs(6 * 60);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_in_chromium_walk_the_quick_reference_and_pass_axe() {
    let suite = repo_root().join("tests/browser");
    if !Path::new(CHROMIUM).exists() {
        println!(
            "SKIPPED browser tests: {CHROMIUM} is missing (apt-get install chromium; .ci/run does)"
        );
        return;
    }
    if !suite.join("node_modules/playwright-core").exists() {
        println!(
            "SKIPPED browser tests: {} is missing (npm ci in tests/browser; .ci/run does)",
            suite.join("node_modules").display()
        );
        return;
    }
    let (_db, database_url) = common::Database::create().await;
    let dir = tempfile::tempdir().expect("temporary directory");
    let fixtures = dir.path().join("fixtures.json");

    // The servers: this binary again, running only `browser_servers`. It stops when its stdin
    // closes, so it cannot outlive this test.
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut servers = Command::new(exe)
        .args([
            "browser_servers",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(SERVERS_DIR, dir.path())
        .env(SERVERS_DB, &database_url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the servers start");
    let log = servers.stderr.take().map(|e| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(e).read_to_string(&mut text);
            text
        })
    });
    let started = Instant::now();
    while !fixtures.exists() {
        if let Ok(Some(status)) = servers.try_wait() {
            let text = log
                .map(|l| l.join().unwrap_or_default())
                .unwrap_or_default();
            panic!("the servers stopped ({status}) before they were ready:\n{text}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the servers were not ready within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let screenshots = if std::env::var_os("UPDATE_SCREENSHOTS").is_some_and(|v| v == "1") {
        repo_root().join("docs/screenshots")
    } else {
        repo_root().join("target/browser-screenshots")
    };
    let mut node = Command::new("node")
        .args([
            "--test",
            "--test-reporter=spec",
            "--test-concurrency=1",
            "scenarios.test.mjs",
        ])
        .current_dir(&suite)
        .env("FIXTURES", &fixtures)
        .env("SCREENSHOT_DIR", &screenshots)
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node runs (is node installed?)");
    // Relayed line by line through print!, so that libtest shows it with the test's result.
    let out = node.stdout.take().map(|o| {
        std::thread::spawn(move || {
            for line in BufReader::new(o).lines().map_while(Result::ok) {
                println!("{line}");
            }
        })
    });
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = node.try_wait() {
            break Some(status);
        }
        if started.elapsed() > SUITE_TIMEOUT {
            let _ = node.kill();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if let Some(o) = out {
        let _ = o.join();
    }
    drop(servers.stdin.take());
    let stopped = Instant::now();
    while servers.try_wait().ok().flatten().is_none() {
        if stopped.elapsed() > Duration::from_secs(30) {
            let _ = servers.kill();
            let _ = servers.wait();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let server_log = log
        .map(|l| l.join().unwrap_or_default())
        .unwrap_or_default();
    match status {
        Some(s) if s.success() => {}
        Some(s) => panic!("the browser suite failed ({s}); the servers' log:\n{server_log}"),
        None => panic!("the browser suite did not finish within {SUITE_TIMEOUT:?}"),
    }
}

/// A person of a scenario and what the suite needs to act as them.
fn person(username: &str, password: Option<&str>, otpauth: &str) -> serde_json::Value {
    json!({ "username": username, "password": password, "otpauth": otpauth })
}

/// The servers of the test above, as a process of their own (started by it; does nothing when
/// run by hand).
#[test]
#[ignore = "the servers of the browser test, which starts them as a process of its own"]
fn browser_servers() {
    let Some(dir) = std::env::var_os(SERVERS_DIR).map(PathBuf::from) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async move {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let running = demo::start(demo::Options {
            data_dir: dir.join("data"),
            iam_addr: any,
            cpar_addr: any,
            reset: false,
            cpar_host: Some("localhost".into()),
            database_url: std::env::var(SERVERS_DB).ok().filter(|u| !u.is_empty()),
        })
        .await
        .expect("the demo starts");
        let fixtures = seed_scenarios(&running).await;
        let tmp = dir.join("fixtures.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(&fixtures).expect("json"))
            .expect("fixtures written");
        std::fs::rename(&tmp, dir.join("fixtures.json")).expect("fixtures in place");
        // Until the test closes our stdin (or dies).
        tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await
        .expect("stdin watcher");
        running.shutdown().await;
    });
}

/// A person with a password and an active soft token (activated with the previous step's code,
/// so that the current step is free for their first sign-in).
async fn staff(
    running: &demo::Running,
    username: &str,
    name: &str,
    role: &str,
) -> serde_json::Value {
    let provider = &running.provider;
    let password = format!("Browser-{}", uuid::Uuid::new_v4().simple());
    provider
        .create_user(NewUser {
            username: username.into(),
            email: format!("{username}@example.org"),
            name: Some(name.into()),
            roles: vec![role.into()],
            password: Some(password.clone()),
        })
        .await
        .expect("user created");
    let token = provider
        .add_soft_token(username, None, false)
        .await
        .expect("token added");
    let uri = token.otpauth_uri.secret().to_string();
    let code = demo::passcode(&uri, SystemClock.now().timestamp(), -1).expect("a code");
    assert!(
        provider
            .activate_soft_token(username, token.activation_code.secret(), &code)
            .await
            .expect("activation runs")
    );
    person(username, Some(&password), &uri)
}

/// The people and forms each scenario starts from.
async fn seed_scenarios(running: &demo::Running) -> serde_json::Value {
    let provider = &running.provider;
    let c = &running.credentials;
    let demo_person = |username: &str| {
        let p = c.person(username).expect("a demo person");
        person(&p.username, p.password.as_deref(), &p.otpauth_uri)
    };
    // The story: one Access Administrator entered the URF, another approves it; a service desk
    // agent issues the temporary password.
    staff(
        running,
        "aa.entry",
        "Erin Entry",
        oidc_core::ROLE_ACCESS_ADMIN,
    )
    .await;
    let approver = staff(
        running,
        "aa.approver",
        "Avery Approver",
        oidc_core::ROLE_ACCESS_ADMIN,
    )
    .await;
    let desk = staff(
        running,
        "desk.story",
        "Sam Desk",
        oidc_core::ROLE_SERVICE_DESK,
    )
    .await;
    let urf = NewRegistration {
        legal_name: "Nancy Akitt".into(),
        email: "nancyakitt@healthy.bewell.example".into(),
        clinic: "Healthy Bewell Clinic".into(),
        practitioner_id: "PRAC-1042".into(),
        role_requested: None,
    };
    let urf_email = urf.email.clone();
    provider
        .submit_registration(&Actor::User("aa.entry".into()), urf)
        .await
        .expect("URF entered");

    // A wrong passcode, then the right one.
    let wrong = staff(
        running,
        "pat.wrong",
        "Pat Wrong",
        oidc_core::ROLE_CPAR_PANEL_ADMIN,
    )
    .await;
    // Forgot password: first-time activation sets the recovery data, then the person forgets.
    provider
        .create_user(NewUser {
            username: "fran.forgot".into(),
            email: "fran.forgot@example.org".into(),
            name: Some("Fran Forgot".into()),
            roles: vec![oidc_core::ROLE_CPAR_PANEL_ADMIN.into()],
            password: None,
        })
        .await
        .expect("user created");
    let token = provider
        .add_soft_token("fran.forgot", None, false)
        .await
        .expect("token added");
    let uri = token.otpauth_uri.secret().to_string();
    let code = demo::passcode(&uri, SystemClock.now().timestamp(), -1).expect("a code");
    assert!(
        provider
            .activate_soft_token("fran.forgot", token.activation_code.secret(), &code)
            .await
            .expect("activation runs")
    );
    let temporary = provider
        .issue_temporary_password(&Actor::BreakGlass, "fran.forgot")
        .await
        .expect("temporary password");
    let mut forgot = person("fran.forgot", None, &uri);
    forgot["temporary_password"] = json!(temporary.secret());

    // A third-party application (consent, account selection, the portal's "apps you allowed",
    // form_post). Its redirect URI is on CPAR's site, as another organisation's would be on its
    // own; the suite answers it in the browser, so CPAR never sees it.
    let partner_redirect = format!("{}/partner/callback", running.cpar_url);
    let partner_app = provider
        .register_client(
            NewClient::new("Partner Clinic Viewer", [partner_redirect.clone()]).third_party(),
        )
        .await
        .expect("third-party client registered");
    let partner = staff(
        running,
        "pia.partner",
        "Pia Partner",
        oidc_core::ROLE_CPAR_PANEL_ADMIN,
    )
    .await;

    json!({
        "iam": running.iam_url,
        "cpar": running.cpar_url,
        "outbox": running.data_dir.join("outbox"),
        "story": {
            "approver": approver,
            "desk": desk,
            "urf_name": "Nancy Akitt",
            "urf_email": urf_email,
            "username": "nakitt2",
        },
        "denied": demo_person(demo::ACCESS_ADMIN),
        "keyboard": demo_person(demo::PANEL_ADMIN),
        "iam_admin": demo_person(demo::IAM_ADMIN),
        "wrong_passcode": wrong,
        "forgot": forgot,
        "third_party": {
            "person": partner,
            "client_id": partner_app.client.client_id,
            "client_name": partner_app.client.name,
            "redirect_uri": partner_redirect,
        },
    })
}
