//! The harness of the end-to-end tests: a real provider on a loopback port, a fresh database per
//! test (SQLite in a temporary directory, or a new PostgreSQL database when `TEST_DATABASE_URL`
//! names a server), one seeded account and one confidential first-party client, and a small
//! "browser" (reqwest with a cookie jar that never follows redirects).

#![allow(dead_code)] // the binaries of their own (enumeration, browser, radius) use parts of it

pub mod db;
pub mod jose;
pub mod mfa;
pub mod pages;
pub mod replicas;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use oidc_core::{
    Clock, NewClient, NewUser, Provider, ProviderConfig, RegisteredClient, SystemClock, User,
};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};
use serde_json::Value;
use url::Url;

/// The seeded account.
pub const USERNAME: &str = "nakitt";
pub const PASSWORD: &str = "correct horse battery staple";
pub const EMAIL: &str = "nancy.akitt@example.org";
pub const NAME: &str = "Nancy Akitt";
pub const ROLE: &str = "cpar_panel_admin";

/// The seeded client's only redirect URI. Nothing listens there: tests read the code from the
/// `Location` header of the provider's 303.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9999/callback";

/// The RFC 7636 Appendix B verifier and its S256 challenge, for hand-built requests.
pub const PKCE_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const PKCE_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// The heading of the sign-in page.
pub const SIGNIN_HEADING: &str = "Sign in with your AHS account";
/// The message for a wrong password and for an unknown user alike.
pub const BAD_CREDENTIALS: &str = "The username or password is incorrect.";

/// A clock the test can move forward. It starts at the system time, so that tokens are valid for
/// the relying-party library, which checks expiry against its own clock.
pub struct TestClock {
    base: DateTime<Utc>,
    offset_secs: AtomicI64,
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::seconds(self.offset_secs.load(Ordering::SeqCst))
    }
}

/// The test's database; removed when dropped.
pub enum Database {
    /// The SQLite file lives in this directory.
    Sqlite(tempfile::TempDir),
    /// A database created for this test on the server at `admin_url`.
    Postgres { admin_url: String, name: String },
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Database::Postgres { admin_url, name } = self {
            // FORCE ends the provider's pooled connections, which may still be open.
            let dropped = PgConnection::establish(admin_url)
                .map_err(|e| e.to_string())
                .and_then(|mut conn| {
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .map_err(|e| e.to_string())
                });
            if let Err(e) = dropped {
                eprintln!("could not drop test database {name}: {e}");
            }
        }
    }
}

impl Database {
    /// A fresh database and the URL the provider opens it with.
    pub async fn create() -> (Database, String) {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.trim().is_empty() => {
                let name = format!("e2e_{}", uuid::Uuid::new_v4().simple());
                let (admin, n) = (admin_url.clone(), name.clone());
                let created = tokio::task::spawn_blocking(move || -> Result<(), String> {
                    let mut conn = PgConnection::establish(&admin).map_err(|e| {
                        format!("TEST_DATABASE_URL: cannot connect to {admin}: {e}")
                    })?;
                    diesel::sql_query(format!("CREATE DATABASE {n}"))
                        .execute(&mut conn)
                        .map_err(|e| format!("cannot create database {n}: {e}"))?;
                    Ok(())
                })
                .await
                .expect("create database task");
                if let Err(e) = created {
                    panic!("{e}");
                }
                let mut url = Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                (Database::Postgres { admin_url, name }, url.to_string())
            }
            _ => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let url = format!("sqlite://{}", dir.path().join("iam.db").display());
                (Database::Sqlite(dir), url)
            }
        }
    }
}

/// A running provider with its seeded account and client.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, exactly as the provider writes it in `iss`.
    pub issuer: String,
    pub provider: Provider,
    /// Every message the provider sent.
    pub mail: Arc<oidc_core::notify::MemoryMailer>,
    /// The seeded account ("nakitt").
    pub user: User,
    /// The seeded confidential, first-party client (redirect URI [`REDIRECT_URI`]).
    pub client: RegisteredClient,
    /// The URL of the test's database (before any `route` of [`TestServer::start_full`]), for
    /// assertions about rows ([`TestServer::count`]).
    pub database_url: String,
    clock: Arc<TestClock>,
    task: tokio::task::JoinHandle<()>,
    // Dropped last: the provider above must let go of the database first.
    _db: Database,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Starts a provider on a free loopback port over a fresh database and seeds it.
    pub async fn start() -> TestServer {
        Self::start_with(|c| c, Vec::new()).await
    }

    /// As [`TestServer::start`], with configuration changes and extra second factors.
    pub async fn start_with(
        configure: impl FnOnce(oidc_core::ProviderConfigBuilder) -> oidc_core::ProviderConfigBuilder,
        factors: Vec<Arc<dyn oidc_core::mfa::SecondFactor>>,
    ) -> TestServer {
        Self::start_full(configure, factors, |url| url).await
    }

    /// As [`TestServer::start_with`], opening the database at `route(url)` instead of `url`
    /// (for example through a test's own TCP proxy).
    pub async fn start_full(
        configure: impl FnOnce(oidc_core::ProviderConfigBuilder) -> oidc_core::ProviderConfigBuilder,
        factors: Vec<Arc<dyn oidc_core::mfa::SecondFactor>>,
        route: impl FnOnce(String) -> String,
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().expect("local address").port();
        let issuer = format!("http://127.0.0.1:{port}");
        let config = configure(ProviderConfig::builder(issuer.clone()))
            .build()
            .expect("provider configuration");
        let (db, direct_url) = Database::create().await;
        let database_url = route(direct_url.clone());
        let clock = Arc::new(TestClock {
            base: SystemClock.now(),
            offset_secs: AtomicI64::new(0),
        });
        let mail = Arc::new(oidc_core::notify::MemoryMailer::new());
        let mut builder = Provider::builder(config, database_url)
            .clock(clock.clone())
            .mailer(mail.clone());
        for f in factors {
            builder = builder.second_factor(f);
        }
        let provider = builder.build().await.expect("provider starts");
        let user = provider
            .create_user(NewUser {
                username: USERNAME.into(),
                email: EMAIL.into(),
                name: Some(NAME.into()),
                roles: vec![ROLE.into()],
                password: Some(PASSWORD.into()),
            })
            .await
            .expect("seed the account");
        let client = provider
            .register_client(
                // The code-flow tests exercise the password step alone; the second-factor tests
                // register clients that need the passcode too (the default).
                NewClient::new("E2E confidential client", [REDIRECT_URI])
                    .first_party(true)
                    .mfa_required(false),
            )
            .await
            .expect("seed the client");
        let app = provider.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .await
            {
                eprintln!("test server stopped: {e}");
            }
        });
        TestServer {
            issuer,
            provider,
            mail,
            user,
            client,
            database_url: direct_url,
            clock,
            task,
            _db: db,
        }
    }

    /// Runs a count query against the test's database (see [`db::count`]): `sql` selects one
    /// count named `n`, with `?` placeholders bound to `binds` in order.
    pub async fn count(&self, sql: &str, binds: Vec<db::Bind>) -> i64 {
        db::count_async(&self.database_url, sql, binds).await
    }

    /// An absolute URL of this provider.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// The seeded client's id.
    pub fn client_id(&self) -> &str {
        &self.client.client.client_id
    }

    /// The seeded client's secret.
    pub fn client_secret(&self) -> &str {
        self.client
            .client_secret
            .as_ref()
            .expect("the seeded client is confidential")
            .secret()
    }

    /// Moves the provider's clock forward.
    pub fn advance_clock(&self, secs: i64) {
        self.clock.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }

    /// A valid authorization request of the seeded client, as (name, value) pairs, with
    /// `state=st-123`, `nonce=n-456` and the RFC 7636 Appendix B challenge.
    pub fn authorize_params(&self) -> Vec<(String, String)> {
        [
            ("client_id", self.client_id()),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", "openid profile email roles"),
            ("state", "st-123"),
            ("nonce", "n-456"),
            ("code_challenge", PKCE_CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The authorization endpoint URL with these parameters in its query.
    pub fn authorize_url(&self, params: &[(String, String)]) -> String {
        let mut url = Url::parse(&self.url("/authorize")).expect("authorize URL");
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    }

    /// Posts a form to the token endpoint, with Basic client credentials if given.
    pub async fn token_request(
        &self,
        http: &reqwest::Client,
        form: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> JsonAnswer {
        let mut req = http.post(self.url("/token")).form(form);
        if let Some((id, secret)) = basic {
            req = req.basic_auth(id, Some(secret));
        }
        JsonAnswer::read(req.send().await.expect("token request")).await
    }

    /// Redeems a code of the seeded client (client_secret_basic) with a verifier.
    pub async fn redeem(&self, http: &reqwest::Client, code: &str, verifier: &str) -> JsonAnswer {
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ];
        self.token_request(http, &form, Some((self.client_id(), self.client_secret())))
            .await
    }

    /// Calls userinfo with a bearer token in the Authorization header.
    pub async fn userinfo(&self, http: &reqwest::Client, token: &str) -> JsonAnswer {
        let res = http
            .get(self.url("/userinfo"))
            .bearer_auth(token)
            .send()
            .await
            .expect("userinfo request");
        JsonAnswer::read(res).await
    }

    /// Signs the seeded user in with a valid hand-built request; returns the code.
    pub async fn code_for_default_request(&self, http: &reqwest::Client) -> String {
        let redirect = sign_in(http, &self.authorize_url(&self.authorize_params())).await;
        let params = assert_code_redirect(&redirect, self, Some("st-123"));
        params["code"].clone()
    }
}

/// A response with its status, headers and JSON body (`Value::Null` when the body is not JSON).
#[derive(Debug)]
pub struct JsonAnswer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl JsonAnswer {
    pub async fn read(res: reqwest::Response) -> JsonAnswer {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.bytes().await.expect("response body");
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        JsonAnswer {
            status,
            headers,
            json,
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A browser: a cookie jar, and no automatic redirects (the test follows the ones it should).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("HTTP client")
}

/// The `Location` of a 303, resolved against the request URL.
pub fn see_other_location(res: &reqwest::Response) -> Url {
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "expected a 303 from {}",
        res.url()
    );
    let location = res
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("303 from {} without a Location", res.url()));
    res.url()
        .join(location)
        .expect("Location is a URL reference")
}

/// The sign-in page as served, with the values the form needs.
#[derive(Debug, Clone)]
pub struct SigninPage {
    pub url: Url,
    pub journey_id: String,
    pub csrf: String,
    pub body: String,
}

/// The value of the hidden `csrf` input of a sign-in page.
pub fn csrf_of(body: &str) -> String {
    const MARK: &str = r#"name="csrf" value=""#;
    let start = body
        .find(MARK)
        .unwrap_or_else(|| panic!("no csrf field in the page:\n{body}"))
        + MARK.len();
    let len = body[start..].find('"').expect("csrf value is quoted");
    body[start..start + len].to_string()
}

/// Follows an authorization response that should be a 303 to the sign-in page, and loads it.
pub async fn open_signin(
    http: &reqwest::Client,
    authorize_response: reqwest::Response,
) -> SigninPage {
    let url = see_other_location(&authorize_response);
    assert!(
        url.path().starts_with("/signin/"),
        "expected a redirect to the sign-in page, got {url}"
    );
    let journey_id = url.path().trim_start_matches("/signin/").to_string();
    let res = http.get(url.clone()).send().await.expect("sign-in page");
    assert_eq!(res.status(), StatusCode::OK, "sign-in page status");
    let body = res.text().await.expect("sign-in page body");
    assert!(
        body.contains(SIGNIN_HEADING),
        "not the sign-in page:\n{body}"
    );
    let csrf = csrf_of(&body);
    SigninPage {
        url,
        journey_id,
        csrf,
        body,
    }
}

/// Submits the sign-in form of `page`.
pub async fn submit_password(
    http: &reqwest::Client,
    page: &SigninPage,
    username: &str,
    password: &str,
) -> reqwest::Response {
    http.post(page.url.clone())
        .form(&[
            ("csrf", page.csrf.as_str()),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .expect("sign-in form submission")
}

/// Completes a sign-in started by `authorize_response` (a 303 to the sign-in page) with the
/// seeded account; returns where the provider sends the browser back to the client.
pub async fn sign_in_from(http: &reqwest::Client, authorize_response: reqwest::Response) -> Url {
    let page = open_signin(http, authorize_response).await;
    let res = submit_password(http, &page, USERNAME, PASSWORD).await;
    if res.status() != StatusCode::SEE_OTHER {
        let status = res.status();
        panic!(
            "sign-in did not redirect ({status}):\n{}",
            res.text().await.unwrap_or_default()
        );
    }
    see_other_location(&res)
}

/// GETs `authorize_url`, follows the 303 to the sign-in page, signs the seeded user in and
/// returns the final `Location` (the client's redirect URI with the response parameters).
pub async fn sign_in(http: &reqwest::Client, authorize_url: &str) -> Url {
    let res = http
        .get(authorize_url)
        .send()
        .await
        .expect("authorization request");
    sign_in_from(http, res).await
}

/// The query parameters of a URL; fails on a repeated parameter (RFC 6749 §3.1).
pub fn query_of(url: &Url) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in url.query_pairs() {
        assert!(
            out.insert(k.to_string(), v.to_string()).is_none(),
            "parameter {k} repeated in {url}"
        );
    }
    out
}

/// Checks a successful authorization response (RFC 6749 §4.1.2, RFC 9207) and returns its
/// parameters.
pub fn assert_code_redirect(
    location: &Url,
    server: &TestServer,
    state: Option<&str>,
) -> HashMap<String, String> {
    assert!(
        location.as_str().starts_with(&format!("{REDIRECT_URI}?")),
        "expected the client's redirect URI, got {location}"
    );
    let params = query_of(location);
    assert!(
        params.get("code").is_some_and(|c| !c.is_empty()),
        "no code in {location}"
    );
    assert!(
        !params.contains_key("error"),
        "unexpected error in {location}"
    );
    assert_eq!(
        params.get("state").map(String::as_str),
        state,
        "state in {location}"
    );
    assert_eq!(params.get("iss"), Some(&server.issuer), "iss in {location}");
    params
}

/// Checks that `res` is an error response at the client's redirect URI (RFC 6749 §4.1.2.1 with
/// RFC 9207 `iss`) with this error code and state; returns its parameters.
pub fn assert_error_redirect(
    res: &reqwest::Response,
    server: &TestServer,
    error: &str,
    state: Option<&str>,
) -> HashMap<String, String> {
    let location = see_other_location(res);
    assert!(
        location.as_str().starts_with(&format!("{REDIRECT_URI}?")),
        "expected the client's redirect URI, got {location}"
    );
    let params = query_of(&location);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some(error),
        "error in {location}"
    );
    assert!(
        params
            .get("error_description")
            .is_some_and(|d| !d.is_empty()),
        "no error_description in {location}"
    );
    assert_eq!(
        params.get("state").map(String::as_str),
        state,
        "state in {location}"
    );
    assert_eq!(params.get("iss"), Some(&server.issuer), "iss in {location}");
    assert!(
        !params.contains_key("code"),
        "an error response carries no code: {location}"
    );
    params
}

/// Checks that `res` is the 400 error page of the authorization endpoint (no redirect at all,
/// RFC 6749 §4.1.2.1 first paragraph) and that it says `message`.
pub async fn assert_error_page(res: reqwest::Response, message: &str) -> String {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(
        res.headers().get(LOCATION).is_none(),
        "an error page must not redirect"
    );
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        content_type.starts_with("text/html"),
        "content-type {content_type}"
    );
    let body = res.text().await.expect("error page body");
    assert!(
        body.contains("This sign-in request cannot be processed"),
        "not the error page:\n{body}"
    );
    assert!(
        body.contains(message),
        "the page does not say {message:?}:\n{body}"
    );
    body
}

/// The decoded JSON of part `index` (0 header, 1 payload) of a compact JWS, unverified.
pub fn jwt_part(token: &str, index: usize) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(index).expect("compact JWS part");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url JWS part");
    serde_json::from_slice(&bytes).expect("JSON JWS part")
}

// ---------------------------------------------------------------------------------------------
// The provider's clock, for tests that compute time-based one-time passwords.

impl TestServer {
    /// The provider's current time (its clock, which only [`TestServer::advance_clock`] moves).
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// Moves the clock forward to `secs_in` seconds past the start of the next `period`-second
    /// time step (RFC 6238 §4.2), so that codes computed afterwards sit well inside one step.
    pub fn align_clock(&self, period: i64, secs_in: i64) {
        let now = self.now().timestamp();
        let next = (now.div_euclid(period) + 1) * period;
        self.advance_clock(next + secs_in - now);
    }
}
