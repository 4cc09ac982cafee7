//! The bad-input matrix (issue 11): every route of the provider's router (`http/mod.rs`), with
//! the credentials it needs to get past its first check (a sign-in journey's browser cookie, the
//! admin pages' cookie, an admin API bearer token), meets every kind of hostile input: oversized
//! parameters and bodies, invalid UTF-8, bad percent-escapes, repeated parameters (RFC 6749 §3.1),
//! wrong or missing `Content-Type`, JSON where a form is expected, deeply nested and huge JSON,
//! control characters, SQL and HTML injection strings, very long headers and cookies.
//!
//! Every answer must be the spec's error (JSON with `error`, or a bearer challenge) or a plain page
//! for people, never a 5xx; no injected markup may come back unescaped; and when the request is
//! refused (4xx), no account, client, session, token, consent or registration changed (audit,
//! throttle and journey rows aside: they record the attempt).

use crate::common::mfa::{SEED, hex, passcode};
use crate::common::*;
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use oidc_core::{ADMIN_CONSOLE_ID, NewClient, NewUser, ROLE_ACCESS_ADMIN, ROLE_IAM_ADMIN};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const STAFF: &str = "bigadmin";
/// The account the admin actions aim at, so that a wrongly accepted one harms nobody else.
const VICTIM: &str = "victim";
const TOOL_REDIRECT: &str = "http://127.0.0.1:47012/callback";
/// What an HTML injection must never get back unescaped.
const MARKUP: &str = "<script>alert(1)</script>";
const HTML_INJECTION: &str = "\"'><script>alert(1)</script><img src=x onerror=alert(1)>";
const SQL_INJECTION: &str = "' OR '1'='1' --; DROP TABLE users; --";
const CONTROL_CHARS: &str = "a\u{0}b\r\nSet-Cookie: evil=1\r\n\u{1b}[31m\u{7f}\u{202e}";
/// The larger parameters the handlers read first, all at once (within the body limit).
const BIG_NAMES: [&str; 6] = [
    "client_id",
    "state",
    "csrf",
    "username",
    "token",
    "id_token_hint",
];
/// Every parameter name some form or endpoint reads.
const PARAM_NAMES: [&str; 24] = [
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "grant_type",
    "code",
    "code_verifier",
    "refresh_token",
    "client_secret",
    "token",
    "token_type_hint",
    "id_token_hint",
    "post_logout_redirect_uri",
    "confirm",
    "csrf",
    "username",
    "password",
    "passcode",
    "activation_code",
    "new_password",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Who {
    Nobody,
    /// The browser of a sign-in journey (its `iam_browser` cookie) and a live session.
    Browser,
    /// The admin pages' cookie.
    AdminPages,
    /// An admin API bearer token.
    AdminApi,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Programs call it: errors are JSON or a bearer challenge.
    Json,
    /// People see it: errors are pages.
    Page,
    /// A static file or probe: any 4xx will do, as long as nothing breaks.
    Static,
}

struct Endpoint {
    method: Method,
    path: String,
    who: Who,
    kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Input {
    OversizedParams,
    OversizedBody,
    InvalidUtf8,
    BadPercentEscapes,
    DuplicatedParams,
    WrongContentType,
    MissingContentType,
    JsonForForm,
    DeeplyNestedJson,
    HugeJson,
    ControlChars,
    SqlInjection,
    HtmlInjection,
    LongHeaders,
    LongCookies,
}

const INPUTS: [Input; 15] = [
    Input::OversizedParams,
    Input::OversizedBody,
    Input::InvalidUtf8,
    Input::BadPercentEscapes,
    Input::DuplicatedParams,
    Input::WrongContentType,
    Input::MissingContentType,
    Input::JsonForForm,
    Input::DeeplyNestedJson,
    Input::HugeJson,
    Input::ControlChars,
    Input::SqlInjection,
    Input::HtmlInjection,
    Input::LongHeaders,
    Input::LongCookies,
];

fn encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn all_params(value: &str) -> Vec<(String, String)> {
    PARAM_NAMES
        .iter()
        .map(|n| (n.to_string(), value.to_string()))
        .collect()
}

/// The parameters (already encoded, as a query or a form body) and the raw body with its
/// content type of one input.
struct Payload {
    query: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    headers: Vec<(String, String)>,
    cookie: Option<String>,
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

fn payload(input: Input, json_endpoint: bool) -> Payload {
    let plain = |pairs: Vec<(String, String)>| {
        let encoded = encode(&pairs);
        if json_endpoint && !matches!(input, Input::DuplicatedParams) {
            let obj: serde_json::Map<String, Value> = pairs
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let mut obj = obj;
            // The admin API's request bodies, with the same hostile values.
            for k in ["email", "name", "reason", "serial", "client_name"] {
                obj.insert(k.into(), obj["username"].clone());
            }
            obj.insert("roles".into(), json!([obj["username"].clone()]));
            obj.insert("redirect_uris".into(), json!([obj["username"].clone()]));
            Payload {
                query: encoded,
                body: Value::Object(obj).to_string().into_bytes(),
                content_type: Some(JSON),
                headers: vec![],
                cookie: None,
            }
        } else {
            Payload {
                query: encoded.clone(),
                body: encoded.into_bytes(),
                content_type: Some(FORM),
                headers: vec![],
                cookie: None,
            }
        }
    };
    let raw = |s: &str| Payload {
        query: s.to_string(),
        body: s.as_bytes().to_vec(),
        content_type: Some(FORM),
        headers: vec![],
        cookie: None,
    };
    match input {
        Input::OversizedParams => plain(
            BIG_NAMES
                .iter()
                .map(|n| (n.to_string(), "A".repeat(9_000)))
                .collect(),
        ),
        Input::OversizedBody => Payload {
            query: "state=x".into(),
            body: format!("state={}", "A".repeat(1 << 20)).into_bytes(),
            content_type: Some(if json_endpoint { JSON } else { FORM }),
            headers: vec![],
            cookie: None,
        },
        Input::InvalidUtf8 => {
            let mut p = raw(
                "client_id=%FF%FE&state=%C3%28&%E2%82=1&csrf=%ED%A0%80&username=%C0%AF&grant_type=%F8%88%80%80%80",
            );
            p.body =
                b"client_id=\xff\xfe&state=\xc3\x28&csrf=\xed\xa0\x80&grant_type=\xc0\xaf".to_vec();
            if json_endpoint {
                p.body = b"{\"username\":\"\xff\xfe\",\"email\":\"\xc3\x28\"}".to_vec();
                p.content_type = Some(JSON);
            }
            p
        }
        Input::BadPercentEscapes => {
            let mut p = raw("client_id=%zz&state=%&csrf=%4&username=%%41&grant_type=%G0&%=x");
            if json_endpoint {
                p.body = br#"{"username":"%zz%","email":"%"}"#.to_vec();
                p.content_type = Some(JSON);
            }
            p
        }
        Input::DuplicatedParams => {
            let mut pairs = all_params("a");
            pairs.extend(all_params("b"));
            let mut p = plain(pairs);
            if json_endpoint {
                p.body = br#"{"username":"a","username":"b","email":"a@example.org","email":"b@example.org"}"#.to_vec();
                p.content_type = Some(JSON);
            }
            p
        }
        Input::WrongContentType => {
            let mut p = plain(all_params("x"));
            p.content_type = Some("text/plain; charset=utf-8");
            p
        }
        Input::MissingContentType => {
            let mut p = plain(all_params("x"));
            p.content_type = None;
            p
        }
        Input::JsonForForm => {
            let obj: serde_json::Map<String, Value> = PARAM_NAMES
                .iter()
                .map(|n| (n.to_string(), Value::String("x".into())))
                .collect();
            Payload {
                query: "state=x".into(),
                body: Value::Object(obj).to_string().into_bytes(),
                content_type: Some(JSON),
                headers: vec![],
                cookie: None,
            }
        }
        Input::DeeplyNestedJson => Payload {
            query: format!("claims={}", "%5B".repeat(5_000)),
            body: format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes(),
            content_type: Some(JSON),
            headers: vec![],
            cookie: None,
        },
        Input::HugeJson => {
            let obj: serde_json::Map<String, Value> = (0..5_000)
                .map(|i| (format!("k{i}"), Value::from(i)))
                .collect();
            Payload {
                query: "state=x".into(),
                body: Value::Object(obj).to_string().into_bytes(),
                content_type: Some(JSON),
                headers: vec![],
                cookie: None,
            }
        }
        Input::ControlChars => plain(all_params(CONTROL_CHARS)),
        Input::SqlInjection => plain(all_params(SQL_INJECTION)),
        Input::HtmlInjection => plain(all_params(HTML_INJECTION)),
        Input::LongHeaders => {
            let mut p = plain(all_params("x"));
            p.headers = vec![
                ("x-long".into(), "A".repeat(32_000)),
                (
                    "authorization".into(),
                    format!("Bearer {}", "B".repeat(32_000)),
                ),
                ("forwarded".into(), format!("for=\"{}\"", "1".repeat(8_000))),
                ("user-agent".into(), "U".repeat(16_000)),
            ];
            p
        }
        Input::LongCookies => {
            let mut p = plain(all_params("x"));
            let v = "C".repeat(12_000);
            p.cookie = Some(format!(
                "iam_session={v}; iam_browser={v}; iam_admin={v}; iam_admin_login={v}; x=%FF%zz"
            ));
            p
        }
    }
}

/// One text value per row of what must not change when a request is refused.
#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

const STATE_QUERIES: [&str; 11] = [
    "SELECT id || '|' || username || '|' || email || '|' || COALESCE(name, '') || '|' || COALESCE(password_hash, '') || '|' || roles || '|' || CASE WHEN disabled THEN 'disabled' ELSE 'enabled' END || '|' || COALESCE(secret_word_hash, '') || '|' || COALESCE(recovery_answers, '') || '|' || COALESCE(emergency_hash, '') || '|' || CASE WHEN password_temporary THEN 't' ELSE 'p' END AS v FROM users",
    "SELECT id || '|' || name || '|' || COALESCE(secret_hash, '') || '|' || redirect_uris || '|' || CASE WHEN disabled THEN 'disabled' ELSE 'enabled' END AS v FROM clients",
    "SELECT id || '|' || CASE WHEN ended_at IS NULL THEN 'live' ELSE 'ended' END AS v FROM sessions",
    "SELECT id || '|' || CASE WHEN revoked_at IS NULL THEN 'active' ELSE 'revoked' END AS v FROM grants",
    "SELECT code_hash || '|' || CASE WHEN used_at IS NULL THEN 'fresh' ELSE 'used' END AS v FROM auth_codes",
    "SELECT token_hash || '|' || CASE WHEN used_at IS NULL THEN 'fresh' ELSE 'used' END AS v FROM refresh_tokens",
    "SELECT id || '|' || serial || '|' || COALESCE(user_id, '') || '|' || state AS v FROM otp_tokens",
    "SELECT user_id || '|' || client_id || '|' || scopes AS v FROM consents",
    "SELECT id || '|' || status AS v FROM registrations",
    "SELECT id AS v FROM initial_access_tokens",
    "SELECT id AS v FROM password_history",
];

enum Db {
    Sqlite(SqliteConnection),
    Pg(PgConnection),
}

impl Db {
    fn open(url: &str) -> Db {
        match url.strip_prefix("sqlite://") {
            Some(path) => Db::Sqlite(SqliteConnection::establish(path).unwrap()),
            None => Db::Pg(PgConnection::establish(url).unwrap()),
        }
    }

    fn snapshot(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for q in STATE_QUERIES {
            let rows: Vec<Line> = match self {
                Db::Sqlite(c) => diesel::sql_query(q).load(c),
                Db::Pg(c) => diesel::sql_query(q).load(c),
            }
            .unwrap_or_else(|e| panic!("{q}: {e}"));
            let mut lines: Vec<String> = rows.into_iter().map(|l| l.v).collect();
            lines.sort();
            out.push(format!(
                "{} rows: {}",
                q.rsplit(' ').next().unwrap(),
                lines.join(", ")
            ));
        }
        out
    }
}

fn cookie_pairs(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .filter(|c| !c.ends_with('='))
        .map(str::to_string)
        .collect()
}

/// Password and passcode for `STAFF` on the sign-in page the authorization response leads to;
/// returns the final redirect (to the client) and the browser's cookies on the way.
async fn staff_sign_in(
    server: &TestServer,
    http: &reqwest::Client,
    authorize: reqwest::Response,
) -> url::Url {
    server.align_clock(30, 2);
    let page = open_signin(http, authorize).await;
    let res = submit_password(http, &page, STAFF, PASSWORD).await;
    let next = see_other_location(&res);
    let form = http
        .get(next.clone())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let res = http
        .post(next)
        .form(&[
            ("csrf", csrf_of(&form).as_str()),
            ("passcode", &passcode(server)),
        ])
        .send()
        .await
        .unwrap();
    see_other_location(&res)
}

struct Credentials {
    browser_cookie: String,
    journey_path: String,
    admin_cookie: String,
    bearer: String,
    registration_id: String,
    victim_client: String,
}

async fn set_up(server: &TestServer) -> Credentials {
    let p = &server.provider;
    for (name, roles) in [
        (
            STAFF,
            vec![ROLE_IAM_ADMIN.to_string(), ROLE_ACCESS_ADMIN.to_string()],
        ),
        (VICTIM, vec![]),
    ] {
        p.create_user(NewUser {
            username: name.into(),
            email: format!("{name}@example.org"),
            name: Some(name.into()),
            roles,
            password: Some(PASSWORD.into()),
        })
        .await
        .unwrap();
    }
    let report = p
        .import_tokens(format!("BI-0001,{}\n", hex(SEED)).as_bytes(), None, false)
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    p.assign_token(STAFF, "BI-0001", None, false).await.unwrap();
    let victim_client = p
        .register_client(NewClient::new(
            "Victim client",
            ["https://victim.example/cb"],
        ))
        .await
        .unwrap()
        .client
        .client_id;

    // A browser with a live session (signed in once) and an open journey (prompt=login).
    let b = browser();
    let res = b
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    let mut cookies = cookie_pairs(&res);
    let page = open_signin(&b, res).await;
    let res = submit_password(&b, &page, USERNAME, PASSWORD).await;
    cookies.extend(
        cookie_pairs(&res)
            .into_iter()
            .filter(|c| c.starts_with("iam_session=")),
    );
    assert_eq!(cookies.len(), 2, "browser and session cookies: {cookies:?}");
    let mut again = server.authorize_params();
    again.push(("prompt".into(), "login".into()));
    let res = b.get(server.authorize_url(&again)).send().await.unwrap();
    let journey = see_other_location(&res);
    assert!(journey.path().starts_with("/signin/"), "{journey}");

    // The admin pages' cookie.
    let admin = browser();
    let res = admin.get(server.url("/admin")).send().await.unwrap();
    let authorize = see_other_location(&res);
    let res = admin.get(authorize).send().await.unwrap();
    let callback = staff_sign_in(server, &admin, res).await;
    let res = admin.get(callback).send().await.unwrap();
    let admin_cookie = cookie_pairs(&res)
        .into_iter()
        .find(|c| c.starts_with("iam_admin="))
        .expect("the admin cookie");

    // An admin API token, as an admin tool gets one (public client, PKCE, loopback redirect).
    let tool = browser();
    let params = [
        ("client_id", ADMIN_CONSOLE_ID),
        ("redirect_uri", TOOL_REDIRECT),
        ("response_type", "code"),
        ("scope", "openid admin"),
        ("state", "tool-state"),
        ("code_challenge", PKCE_CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let res = tool
        .get(server.url("/authorize"))
        .query(&params)
        .send()
        .await
        .unwrap();
    let back = staff_sign_in(server, &tool, res).await;
    let code = query_of(&back)["code"].clone();
    let answer = JsonAnswer::read(
        tool.post(server.url("/token"))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code.as_str()),
                ("redirect_uri", TOOL_REDIRECT),
                ("client_id", ADMIN_CONSOLE_ID),
                ("code_verifier", PKCE_VERIFIER),
            ])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.json);
    let bearer = answer.json["access_token"].as_str().unwrap().to_string();

    // A pending registration for the registration actions.
    let res = reqwest::Client::new()
        .post(server.url("/admin/api/registrations"))
        .bearer_auth(&bearer)
        .json(&json!({
            "legal_name": "New Person", "email": "new@example.org",
            "clinic": "Clinic", "practitioner_id": "P-1"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let registration: Value = res.json().await.unwrap();
    let registration_id = registration["id"].as_str().unwrap().to_string();

    Credentials {
        browser_cookie: cookies.join("; "),
        journey_path: journey.path().to_string(),
        admin_cookie,
        bearer,
        registration_id,
        victim_client,
    }
}

/// Every route of `http::router` (and of its admin API), with the method(s) it answers.
fn endpoints(server: &TestServer, c: &Credentials) -> Vec<Endpoint> {
    use Kind::*;
    use Who::*;
    let client = server.client_id().to_string();
    let reg = &c.registration_id;
    let vc = &c.victim_client;
    let mut e: Vec<(Method, String, Who, Kind)> = vec![
        (
            Method::GET,
            "/.well-known/openid-configuration".into(),
            Nobody,
            Static,
        ),
        (Method::GET, "/jwks".into(), Nobody, Static),
        (Method::GET, "/authorize".into(), Browser, Page),
        (Method::POST, "/authorize".into(), Browser, Page),
        (Method::POST, "/token".into(), Nobody, Json),
        (Method::POST, "/revoke".into(), Nobody, Json),
        (Method::POST, "/introspect".into(), Nobody, Json),
        (Method::POST, "/par".into(), Nobody, Json),
        (Method::GET, "/userinfo".into(), Nobody, Json),
        (Method::POST, "/userinfo".into(), Nobody, Json),
        (Method::POST, "/register".into(), Nobody, Json),
        (Method::GET, format!("/register/{client}"), Nobody, Json),
        (Method::PUT, format!("/register/{client}"), Nobody, Json),
        (Method::DELETE, format!("/register/{client}"), Nobody, Json),
        (Method::GET, c.journey_path.clone(), Browser, Page),
        (Method::POST, c.journey_path.clone(), Browser, Page),
        (Method::GET, "/signin/not-a-journey".into(), Browser, Page),
        (Method::POST, "/signin/not-a-journey".into(), Browser, Page),
        (Method::GET, "/activate".into(), Browser, Page),
        (Method::GET, "/change-password".into(), Browser, Page),
        (Method::GET, "/forgot-password".into(), Browser, Page),
        (Method::GET, "/activate-token".into(), Browser, Page),
        (Method::POST, "/activate-token".into(), Browser, Page),
        (
            Method::POST,
            "/activate-token/confirm".into(),
            Browser,
            Page,
        ),
        (Method::GET, "/logout".into(), Browser, Page),
        (Method::POST, "/logout".into(), Browser, Page),
        (Method::GET, "/account/apps".into(), Browser, Page),
        (Method::POST, "/account/apps/withdraw".into(), Browser, Page),
        (Method::GET, "/admin".into(), AdminPages, Page),
        (Method::GET, "/admin/callback".into(), AdminPages, Page),
        (Method::GET, "/admin/users".into(), AdminPages, Page),
        (
            Method::GET,
            format!("/admin/users/{VICTIM}"),
            AdminPages,
            Page,
        ),
        (
            Method::POST,
            format!("/admin/users/{VICTIM}/disable"),
            AdminPages,
            Page,
        ),
        (
            Method::POST,
            format!("/admin/users/{VICTIM}/temporary-password"),
            AdminPages,
            Page,
        ),
        (Method::GET, "/admin/registrations".into(), AdminPages, Page),
        (
            Method::POST,
            "/admin/registrations".into(),
            AdminPages,
            Page,
        ),
        (
            Method::POST,
            format!("/admin/registrations/{reg}/approve"),
            AdminPages,
            Page,
        ),
        (
            Method::POST,
            format!("/admin/registrations/{reg}/reject"),
            AdminPages,
            Page,
        ),
        (Method::GET, "/admin/audit".into(), AdminPages, Page),
        (Method::GET, "/admin/api/me".into(), AdminApi, Json),
        (Method::GET, "/admin/api/users".into(), AdminApi, Json),
        (Method::POST, "/admin/api/users".into(), AdminApi, Json),
        (
            Method::POST,
            format!("/admin/api/users/{VICTIM}/verify-caller"),
            AdminApi,
            Json,
        ),
        (
            Method::POST,
            format!("/admin/api/users/{VICTIM}/temporary-password"),
            AdminApi,
            Json,
        ),
        (
            Method::POST,
            format!("/admin/api/users/{VICTIM}/unlock"),
            AdminApi,
            Json,
        ),
        (
            Method::POST,
            format!("/admin/api/users/{VICTIM}/disable"),
            AdminApi,
            Json,
        ),
        (
            Method::POST,
            format!("/admin/api/users/{VICTIM}/enable"),
            AdminApi,
            Json,
        ),
        (
            Method::PUT,
            format!("/admin/api/users/{VICTIM}/roles"),
            AdminApi,
            Json,
        ),
        (
            Method::POST,
            format!("/admin/api/users/{VICTIM}/lost-token"),
            AdminApi,
            Json,
        ),
        (
            Method::GET,
            "/admin/api/registrations".into(),
            AdminApi,
            Json,
        ),
        (
            Method::POST,
            "/admin/api/registrations".into(),
            AdminApi,
            Json,
        ),
        (
            Method::POST,
            format!("/admin/api/registrations/{reg}/approve"),
            AdminApi,
            Json,
        ),
        (
            Method::POST,
            format!("/admin/api/registrations/{reg}/reject"),
            AdminApi,
            Json,
        ),
        (Method::GET, "/admin/api/audit".into(), AdminApi, Json),
        (
            Method::GET,
            "/admin/api/audit/verify".into(),
            AdminApi,
            Json,
        ),
        (Method::GET, "/admin/api/clients".into(), AdminApi, Json),
        (
            Method::POST,
            "/admin/api/clients/initial-tokens".into(),
            AdminApi,
            Json,
        ),
        (
            Method::GET,
            format!("/admin/api/clients/{vc}"),
            AdminApi,
            Json,
        ),
        (
            Method::PATCH,
            format!("/admin/api/clients/{vc}"),
            AdminApi,
            Json,
        ),
        (
            Method::POST,
            format!("/admin/api/clients/{vc}/rotate-secret"),
            AdminApi,
            Json,
        ),
        (
            Method::DELETE,
            format!("/admin/api/clients/{vc}"),
            AdminApi,
            Json,
        ),
        (
            Method::GET,
            "/admin/api/nothing-here".into(),
            AdminApi,
            Json,
        ),
        (Method::GET, "/assets/iam.css".into(), Nobody, Static),
        (Method::GET, "/assets/iam.js".into(), Nobody, Static),
        (Method::GET, "/assets/logo.svg".into(), Nobody, Static),
        (Method::GET, "/assets/form_post.js".into(), Nobody, Static),
        (Method::GET, "/healthz".into(), Nobody, Static),
        (Method::GET, "/readyz".into(), Nobody, Static),
        (Method::GET, "/no/such/page".into(), Browser, Page),
        // Signing out of the admin pages last: it may end the admin session the others use.
        (Method::POST, "/admin/logout".into(), AdminPages, Page),
    ];
    e.drain(..)
        .map(|(method, path, who, kind)| Endpoint {
            method,
            path,
            who,
            kind,
        })
        .collect()
}

fn content_type(res: &reqwest::Response) -> String {
    res.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_answers_hostile_input_with_a_4xx_and_changes_nothing() {
    let mut database_url = String::new();
    let server = TestServer::start_full(
        |c| c,
        vec![],
        |url| {
            database_url = url.clone();
            url
        },
    )
    .await;
    let creds = set_up(&server).await;
    let mut db = Db::open(&database_url);
    // A connection per request: after a refused body the server closes the connection, and a
    // pooled one could be reused just as it closes.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let endpoints = endpoints(&server, &creds);
    let mut before = db.snapshot();
    let mut failures = Vec::new();
    let mut answered = 0;
    for ep in &endpoints {
        for input in INPUTS {
            let p = payload(input, ep.kind == Kind::Json);
            let mut url = server.url(&ep.path);
            if ep.method == Method::GET || ep.method == Method::DELETE {
                url = format!("{url}?{}", p.query);
            }
            let mut req = http.request(ep.method.clone(), &url).body(p.body.clone());
            if let Some(ct) = p.content_type {
                req = req.header(CONTENT_TYPE, ct);
            }
            let cookie = match ep.who {
                Who::Browser => Some(creds.browser_cookie.clone()),
                Who::AdminPages => Some(creds.admin_cookie.clone()),
                _ => None,
            };
            if let Some(c) = p.cookie.clone().or(cookie) {
                req = req.header(COOKIE, c);
            }
            let mut bearer_set = false;
            for (k, v) in &p.headers {
                bearer_set |= k == "authorization";
                req = req.header(k.as_str(), v.as_str());
            }
            if ep.who == Who::AdminApi && !bearer_set {
                req = req.bearer_auth(&creds.bearer);
            }
            let what = format!("{} {} with {input:?}", ep.method, ep.path);
            let res = match req.send().await {
                Ok(r) => r,
                Err(e) => {
                    failures.push(format!("{what}: no answer: {e}"));
                    continue;
                }
            };
            answered += 1;
            let status = res.status();
            let ct = content_type(&res);
            let challenge = res.headers().contains_key("www-authenticate");
            let body = res.text().await.unwrap_or_default();
            if status.is_server_error() {
                failures.push(format!("{what}: {status}: {body:.300}"));
                continue;
            }
            if body.contains(MARKUP) {
                failures.push(format!(
                    "{what}: unescaped markup in the answer: {body:.300}"
                ));
            }
            if status.is_client_error() && status != StatusCode::METHOD_NOT_ALLOWED {
                let friendly = match ep.kind {
                    Kind::Json => {
                        challenge
                            || serde_json::from_str::<Value>(&body)
                                .is_ok_and(|j| j["error"].is_string())
                    }
                    Kind::Page => ct.starts_with("text/html") && body.contains("<main"),
                    Kind::Static => true,
                };
                if !friendly {
                    failures.push(format!(
                        "{what}: {status} is not friendly ({ct}): {body:.300}"
                    ));
                }
                let after = db.snapshot();
                if after != before {
                    failures.push(format!(
                        "{what}: refused ({status}) but state changed:\n{}",
                        before
                            .iter()
                            .zip(&after)
                            .filter(|(b, a)| b != a)
                            .map(|(b, a)| format!("  before {b}\n  after  {a}"))
                            .collect::<Vec<_>>()
                            .join("\n")
                    ));
                    before = after;
                }
            } else {
                before = db.snapshot();
            }
            if input == Input::OversizedBody && status != StatusCode::PAYLOAD_TOO_LARGE {
                failures.push(format!("{what}: {status}, not 413"));
            }
        }
    }
    let matrix = endpoints.len() * INPUTS.len();
    eprintln!(
        "bad-input matrix: {} endpoints x {} inputs = {matrix} requests, {answered} answered",
        endpoints.len(),
        INPUTS.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(answered, matrix);
}

/// RFC 6749 §3.1 and §3.2: a parameter sent twice is `invalid_request` at the token, revocation
/// and introspection endpoints, and the authorization endpoint's error page before the client is
/// known.
#[tokio::test]
async fn rfc6749_3_1_repeated_parameters_are_refused_by_every_protocol_endpoint() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    for path in ["/token", "/revoke", "/introspect"] {
        let res = http
            .post(server.url(path))
            .basic_auth(server.client_id(), Some(server.client_secret()))
            .header(CONTENT_TYPE, FORM)
            .body("grant_type=client_credentials&token=a&token=b&grant_type=refresh_token")
            .send()
            .await
            .unwrap();
        let answer = JsonAnswer::read(res).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{path}: {:?}",
            answer.json
        );
        assert_eq!(answer.json["error"], "invalid_request", "{path}");
    }
    let mut params = server.authorize_params();
    params.push(("client_id".into(), "other".into()));
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_error_page(res, "The request repeats the client_id parameter.").await;
}

/// A body over the limit is a 413 before it is read: `invalid_request` in JSON for programs, a
/// page for people.
#[tokio::test]
async fn an_oversized_body_is_a_friendly_413() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let body = format!("grant_type={}", "A".repeat(70 * 1024));
    let res = http
        .post(server.url("/token"))
        .header(CONTENT_TYPE, FORM)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let answer = JsonAnswer::read(res).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(answer.json["error"], "invalid_request");
    // Without a Content-Length (chunked), the limit applies while the body is read.
    let head = chunked_post(&server, "/logout", body.as_bytes()).await;
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/html"),
        "{head}"
    );
    assert!(head.contains("The request is too large"), "{head}");
}

/// Posts `body` as a form with `Transfer-Encoding: chunked` over a raw connection (no
/// Content-Length to refuse it by); returns what the server answered, head and body.
async fn chunked_post(server: &TestServer, path: &str, body: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.issuer.trim_start_matches("http://").to_string();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {FORM}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(8 * 1024) {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(chunk);
        c.extend_from_slice(b"\r\n");
        // The server may answer and close before the whole body is sent.
        if conn.write_all(&c).await.is_err() {
            break;
        }
    }
    let _ = conn.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Found by this matrix on PostgreSQL: a NUL character in `client_id` failed the client lookup
/// (PostgreSQL text cannot hold one) and answered 500. Every NUL is now refused before a handler
/// runs, on both backends alike: a page for people, `invalid_request` for programs.
#[tokio::test]
async fn a_nul_character_is_refused_before_any_lookup_on_every_backend() {
    let server = TestServer::start().await;
    let http = browser();
    let mut params = server.authorize_params();
    params[0].1 = "c\u{0}1".into();
    let res = http
        .get(server.authorize_url(&params))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("The client_id parameter contains characters that are not allowed."),
        "{page}"
    );

    let answer = JsonAnswer::read(
        http.post(server.url("/token"))
            .header(CONTENT_TYPE, FORM)
            .body("grant_type=client_credentials&client_id=a%00b")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json["error"], "invalid_request");

    // The sign-in form with its CSRF token: the username never reaches the account lookup.
    let page = open_signin(
        &http,
        http.get(server.authorize_url(&server.authorize_params()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = submit_password(&http, &page, "nak\u{0}itt", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    // Nothing was spent: the right password still signs in on the same page.
    let res = submit_password(&http, &page, USERNAME, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_code_redirect(&see_other_location(&res), &server, Some("st-123"));
}
