//! CPAR next to the IAM test server: the relying party on its own loopback port with a SQLite
//! database in a temporary folder and a clock the test moves; a small reverse proxy that can
//! stand in front of AHS IAM (to tamper with its token responses, or to take it down); and the
//! browser steps of a sign-in through CPAR.

#![allow(dead_code)] // not every test uses every helper

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use chrono::{DateTime, Utc};
use cpar_rp::Clock as _;
use oidc_core::mfa::otp::{OtpAlgorithm, time_step, totp_at_step};
use oidc_core::{NewClient, NewUser};
use reqwest::header::{LOCATION, SET_COOKIE};
use url::Url;

use crate::common::*;

/// The tokencode seed of the token given to users (RFC 6238 Appendix B's SHA-1 seed).
pub const SEED: &[u8] = b"12345678901234567890";
/// The sentence of CPAR's access page.
pub const DENIED: &str = "CPAR Access Administrators do not have access to the CPAR application by default. To gain access, complete a CPAR Panel Administrator User Registration (URF) form.";
/// CPAR's page after a confirmed sign-out.
pub const SIGNED_OUT: &str = "You have signed out of CPAR. Close your browser.";

/// CPAR's clock: the system time at start, moved only by the test.
pub struct CparClock {
    base: DateTime<Utc>,
    offset_secs: AtomicI64,
}

impl cpar_rp::Clock for CparClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::seconds(self.offset_secs.load(Ordering::SeqCst))
    }
}

/// How to set CPAR up.
pub struct CparOptions {
    /// The issuer CPAR discovers (the IAM test server's, or a proxy's).
    pub issuer: String,
    /// Whether CPAR's client at IAM needs the second factor (the default of a client).
    pub mfa: bool,
    pub idle_timeout: Option<Duration>,
    pub absolute_timeout: Option<Duration>,
}

impl CparOptions {
    pub fn new(issuer: &str) -> Self {
        CparOptions {
            issuer: issuer.to_string(),
            mfa: false,
            idle_timeout: None,
            absolute_timeout: None,
        }
    }
}

/// A running CPAR.
pub struct Cpar {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub app: cpar_rp::App,
    pub client_id: String,
    /// The demonstration panels of the seeded user ("nakitt"), by name.
    pub panels: Vec<String>,
    clock: Arc<CparClock>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Cpar {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Cpar {
    /// Registers CPAR at `server` (first-party, confidential, its redirect and post-logout URIs),
    /// starts it on a free loopback port and seeds demonstration panels for "nakitt".
    pub async fn start(server: &TestServer, options: CparOptions) -> Cpar {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for CPAR");
        let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut config =
            cpar_rp::Config::new(options.issuer.clone(), "pending", "pending", base.clone());
        let mut client = NewClient::new("CPAR", [config.redirect_uri()])
            .first_party(true)
            .post_logout_redirect_uris([config.post_logout_redirect_uri()]);
        if !options.mfa {
            client = client.mfa_required(false);
        }
        let registered = server
            .provider
            .register_client(client)
            .await
            .expect("register CPAR");
        config.client_id = registered.client.client_id.clone();
        config.client_secret = registered
            .client_secret
            .expect("CPAR is confidential")
            .secret()
            .to_string();
        config.database = dir.path().join("cpar.db");
        config.discovery_timeout = Duration::from_secs(10);
        if let Some(d) = options.idle_timeout {
            config.idle_timeout = d;
        }
        if let Some(d) = options.absolute_timeout {
            config.absolute_timeout = d;
        }
        let clock = Arc::new(CparClock {
            base: cpar_rp::SystemClock.now(),
            offset_secs: AtomicI64::new(0),
        });
        let app = cpar_rp::App::start(config, clock.clone())
            .await
            .expect("CPAR starts");
        let panels = app.seed_demo_data(USERNAME).await.expect("seed panels");
        assert_eq!(panels.len(), 3, "three demonstration panels");
        let router = app.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                eprintln!("CPAR stopped: {e}");
            }
        });
        Cpar {
            base,
            app,
            client_id: registered.client.client_id,
            panels,
            clock,
            task,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Moves CPAR's clock forward.
    pub fn advance_clock(&self, secs: i64) {
        self.clock.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }

    /// The path of the seeded user's first panel.
    pub fn first_panel(&self) -> String {
        format!("/panels/{}", self.panels[0])
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts and tokens

/// Creates an account with the harness password and these roles.
pub async fn add_user(server: &TestServer, username: &str, name: &str, roles: &[&str]) {
    server
        .provider
        .create_user(NewUser {
            username: username.into(),
            email: format!("{username}@ahs.example"),
            name: Some(name.into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            password: Some(PASSWORD.into()),
        })
        .await
        .expect("create the account");
}

/// Imports a hardware token with [`SEED`] (SHA-1, 6 digits, 30 s) and assigns it to `username`.
pub async fn give_token(server: &TestServer, serial: &str, username: &str) {
    let hex: String = SEED.iter().map(|b| format!("{b:02x}")).collect();
    let csv = format!("{serial},{hex}\n");
    let report = server
        .provider
        .import_tokens(csv.as_bytes(), None, false)
        .await
        .expect("seed file imports");
    assert_eq!(report.imported, [serial]);
    server
        .provider
        .assign_token(username, serial, None, false)
        .await
        .expect("token assigned");
}

/// The current tokencode of [`SEED`] on the provider's clock.
pub fn passcode(server: &TestServer) -> String {
    totp_at_step(
        SEED,
        time_step(server.now().timestamp(), 30),
        6,
        OtpAlgorithm::Sha1,
    )
    .expect("TOTP")
}

// ---------------------------------------------------------------------------------------------
// Browser steps

/// The `Location` of a 303, resolved against the request URL.
pub fn location(res: &reqwest::Response) -> Url {
    see_other_location(res)
}

/// All `Set-Cookie` values of a response.
pub fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect()
}

/// The `Set-Cookie` of `name`, if the response sets it.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    set_cookies(res)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

pub async fn get(http: &reqwest::Client, url: impl reqwest::IntoUrl) -> reqwest::Response {
    http.get(url).send().await.expect("GET")
}

/// GETs `path` at CPAR and checks that it answers with a 303 to IAM's authorization endpoint
/// with a complete code-flow request of CPAR's client; returns that URL.
pub async fn expect_sign_in_redirect(
    http: &reqwest::Client,
    cpar: &Cpar,
    issuer: &str,
    path: &str,
) -> Url {
    let res = get(http, cpar.url(path)).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "CPAR {path} should send the browser to sign in:\n{}",
        res.text().await.unwrap_or_default()
    );
    let to = location(&res);
    assert_eq!(
        format!("{}://{}", to.scheme(), to.host_str().unwrap()),
        "http://127.0.0.1"
    );
    assert!(
        to.as_str().starts_with(&format!("{issuer}/authorize?")),
        "{to} is not {issuer}'s authorization endpoint"
    );
    let q = query_of(&to);
    assert_eq!(q["client_id"], cpar.client_id);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], cpar.url("/callback"));
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["code_challenge"].len(), 43, "an S256 challenge");
    assert!(q["state"].len() >= 43, "a 256-bit state");
    assert!(q["nonce"].len() >= 43, "a 256-bit nonce");
    let scopes: Vec<&str> = q["scope"].split(' ').collect();
    for s in ["openid", "profile", "email", "roles"] {
        assert!(scopes.contains(&s), "scope {s} in {}", q["scope"]);
    }
    to
}

/// Signs in at IAM from its authorization URL with `username` and the harness password, and the
/// passcode when `mfa`; returns the redirect back to CPAR's callback.
pub async fn sign_in_at_iam(
    http: &reqwest::Client,
    server: &TestServer,
    authorize_url: &Url,
    username: &str,
    mfa: bool,
) -> Url {
    let res = get(http, authorize_url.clone()).await;
    let page = open_signin(http, res).await;
    let res = submit_password(http, &page, username, PASSWORD).await;
    let next = location(&res);
    if !mfa {
        return next;
    }
    assert_eq!(next, page.url, "the passcode step follows the password");
    let res = get(http, next.clone()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Enter your RSA SecurID passcode."),
        "not the passcode page:\n{body}"
    );
    let csrf = csrf_of(&body);
    let res = http
        .post(next)
        .form(&[("csrf", csrf.as_str()), ("passcode", &passcode(server))])
        .send()
        .await
        .unwrap();
    location(&res)
}

/// Checks that `url` is CPAR's callback with a code, and IAM's `state` and `iss`.
pub fn assert_callback(url: &Url, cpar: &Cpar, issuer: &str) {
    assert!(
        url.as_str().starts_with(&cpar.url("/callback?")),
        "expected CPAR's callback, got {url}"
    );
    let q = query_of(url);
    assert!(q.contains_key("code") && q.contains_key("state"), "{url}");
    assert_eq!(q.get("iss").map(String::as_str), Some(issuer));
}

/// GETs CPAR's callback and checks that it signs in: a 303 to `landing` with a new session
/// cookie. Returns the cookie's `Set-Cookie`.
pub async fn complete_callback(http: &reqwest::Client, callback: &Url, landing: &str) -> String {
    let res = get(http, callback.clone()).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "callback did not sign in:\n{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(
        res.headers()[LOCATION].to_str().unwrap(),
        landing,
        "the callback lands on the page first asked for"
    );
    set_cookie(&res, "cpar_session").expect("a session cookie")
}

/// Signs `username` in to CPAR from `path` and returns the page `path` then shows (200).
pub async fn sign_in_to_cpar(
    http: &reqwest::Client,
    server: &TestServer,
    cpar: &Cpar,
    issuer: &str,
    path: &str,
    username: &str,
    mfa: bool,
) -> String {
    let authorize = expect_sign_in_redirect(http, cpar, issuer, path).await;
    let callback = sign_in_at_iam(http, server, &authorize, username, mfa).await;
    assert_callback(&callback, cpar, issuer);
    complete_callback(http, &callback, path).await;
    let res = get(http, cpar.url(path)).await;
    assert_eq!(res.status(), StatusCode::OK, "{path} after sign-in");
    res.text().await.unwrap()
}

/// Asserts that the browser has no CPAR session: `/` sends it to sign in.
pub async fn assert_no_session(http: &reqwest::Client, cpar: &Cpar, issuer: &str) {
    expect_sign_in_redirect(http, cpar, issuer, "/").await;
}

/// A CPAR page's form token (the Log out form's `csrf`).
pub fn logout_csrf(body: &str) -> String {
    assert!(
        body.contains(r#"action="/logout""#) && body.contains(">Log out</button>"),
        "the page has no Log out button:\n{body}"
    );
    csrf_of(body)
}

/// Posts CPAR's Log out form as a browser on CPAR's page would.
pub async fn post_logout(http: &reqwest::Client, cpar: &Cpar, csrf: &str) -> reqwest::Response {
    http.post(cpar.url("/logout"))
        .header("origin", &cpar.base)
        .form(&[("csrf", csrf)])
        .send()
        .await
        .unwrap()
}

/// A port that was free a moment ago (nothing listens there now).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

// ---------------------------------------------------------------------------------------------
// A reverse proxy in front of AHS IAM

/// Forwards every request to the provider at `upstream`; can tamper with ID tokens or swap
/// access tokens in token responses, and can be stopped (connections closed, the port no longer listening).
pub struct Proxy {
    pub url: String,
    tamper: Arc<AtomicBool>,
    swap: Arc<AtomicBool>,
    hide_end_session: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    http: reqwest::Client,
    tamper: Arc<AtomicBool>,
    swap: Arc<AtomicBool>,
    hide_end_session: Arc<AtomicBool>,
    /// The access token of the last token response that went through.
    last_access_token: Arc<std::sync::Mutex<Option<String>>>,
}

impl Proxy {
    /// Serves the proxy on `listener`, forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(listener: tokio::net::TcpListener, upstream: &str) -> Proxy {
        let url = format!("http://{}", listener.local_addr().unwrap());
        let tamper = Arc::new(AtomicBool::new(false));
        let swap = Arc::new(AtomicBool::new(false));
        let hide_end_session = Arc::new(AtomicBool::new(false));
        let state = ProxyState {
            upstream: upstream.to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            tamper: tamper.clone(),
            swap: swap.clone(),
            hide_end_session: hide_end_session.clone(),
            last_access_token: Arc::default(),
        };
        let app = axum::Router::new().fallback(forward).with_state(state);
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Proxy {
            url,
            tamper,
            swap,
            hide_end_session,
            stop: Some(tx),
            task: Some(task),
        }
    }

    /// From now on, every ID token in a token response has its payload changed (the signature
    /// left as it was).
    pub fn tamper_id_tokens(&self) {
        self.tamper.store(true, Ordering::SeqCst);
    }

    /// From now on, every token response carries the access token of the previous one (a
    /// valid token of the same provider, but not the one issued with this ID token).
    pub fn swap_access_tokens(&self) {
        self.swap.store(true, Ordering::SeqCst);
    }

    /// From now on, the discovery document has no `end_session_endpoint` (a provider without
    /// RP-Initiated Logout).
    pub fn hide_end_session(&self) {
        self.hide_end_session.store(true, Ordering::SeqCst);
    }

    /// Takes the provider "down": the port stops listening and open connections close.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the proxy stops")
                .unwrap();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

const HOP_BY_HOP: [&str; 5] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "host",
];

async fn forward(State(p): State<ProxyState>, req: Request) -> Response {
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|x| x.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let is_token = req.uri().path() == "/token";
    let is_discovery = req.uri().path() == "/.well-known/openid-configuration";
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let mut out = p
        .http
        .request(parts.method, format!("{}{path_and_query}", p.upstream));
    for (k, v) in parts.headers.iter() {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            out = out.header(k, v);
        }
    }
    let res = match out.body(body).send().await {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };
    let status = res.status();
    let headers: HeaderMap = res.headers().clone();
    let mut bytes = res.bytes().await.unwrap().to_vec();
    if is_discovery && status == StatusCode::OK && p.hide_end_session.load(Ordering::SeqCst) {
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        json.as_object_mut().unwrap().remove("end_session_endpoint");
        bytes = serde_json::to_vec(&json).unwrap();
    }
    if is_token && status == StatusCode::OK {
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let current = json["access_token"].as_str().unwrap().to_string();
        let previous = p.last_access_token.lock().unwrap().replace(current);
        if p.swap.load(Ordering::SeqCst) {
            json["access_token"] = serde_json::Value::String(previous.expect("an earlier token"));
        }
        if p.tamper.load(Ordering::SeqCst) {
            let token = json["id_token"].as_str().unwrap().to_string();
            json["id_token"] = serde_json::Value::String(tamper_jwt(&token));
        }
        bytes = serde_json::to_vec(&json).unwrap();
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    for (k, v) in headers.iter() {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            response.headers_mut().append(k, v.clone());
        }
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A JWS with its payload's `iat` moved one second back: well-formed and plausible (no other
/// check would notice), but its signature no longer matches.
pub fn tamper_jwt(token: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a compact JWS");
    let mut payload: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
    let iat = payload["iat"].as_i64().unwrap();
    payload["iat"] = serde_json::Value::from(iat - 1);
    format!(
        "{}.{}.{}",
        parts[0],
        b64.encode(serde_json::to_vec(&payload).unwrap()),
        parts[2]
    )
}
