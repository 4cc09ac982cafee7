//! Housekeeping: the purge of expired rows, in bounded batches, keeping what replay detection
//! needs (a used authorization code until every token it issued has expired: RFC 6749 §4.1.2
//! "If an authorization code is used more than once, the authorization server MUST deny the
//! request and SHOULD revoke (when possible) all tokens previously issued based on that
//! authorization code"; RFC 9700 §4.2.4).

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use oidc_core::{Clock, NewClient, NewUser, Provider, ProviderConfig, SystemClock};
use reqwest::StatusCode;

/// The tables as the tests seed them (the columns without defaults).
mod db {
    diesel::table! {
        grants (id) {
            id -> Text,
            client_id -> Text,
            user_id -> Nullable<Text>,
            session_id -> Nullable<Text>,
            scope -> Text,
            created_at -> Timestamp,
        }
    }
    diesel::table! {
        auth_codes (code_hash) {
            code_hash -> Text,
            grant_id -> Text,
            client_id -> Text,
            user_id -> Text,
            session_id -> Text,
            redirect_uri -> Text,
            scope -> Text,
            auth_time -> Timestamp,
            amr -> Text,
            created_at -> Timestamp,
            expires_at -> Timestamp,
            used_at -> Nullable<Timestamp>,
        }
    }
    diesel::table! {
        sessions (id) {
            id -> Text,
            secret_hash -> Text,
            user_id -> Text,
            auth_time -> Timestamp,
            amr -> Text,
            created_at -> Timestamp,
            last_seen_at -> Timestamp,
            expires_at -> Timestamp,
            ended_at -> Nullable<Timestamp>,
        }
    }
    diesel::table! {
        journeys (id) {
            id -> Text,
            browser_hash -> Text,
            csrf -> Text,
            request -> Text,
            steps -> Text,
            created_at -> Timestamp,
            expires_at -> Timestamp,
            finished_at -> Nullable<Timestamp>,
        }
    }
    diesel::table! {
        throttles (key) {
            key -> Text,
            failures -> Integer,
            window_start -> Timestamp,
            blocked_until -> Nullable<Timestamp>,
            updated_at -> Timestamp,
        }
    }
    diesel::table! {
        refresh_tokens (token_hash) {
            token_hash -> Text,
            grant_id -> Text,
            client_id -> Text,
            user_id -> Text,
            session_id -> Text,
            scope -> Text,
            auth_time -> Timestamp,
            amr -> Text,
            created_at -> Timestamp,
            idle_expires_at -> Timestamp,
            expires_at -> Timestamp,
        }
    }
}

#[derive(diesel::MultiConnection)]
enum Conn {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

struct TestClock {
    base: DateTime<Utc>,
    offset: AtomicI64,
}

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::seconds(self.offset.load(Ordering::SeqCst))
    }
}

/// A provider over a database the test can also open (SQLite file, or a fresh PostgreSQL
/// database when `TEST_DATABASE_URL` is set).
struct Fixture {
    provider: Provider,
    clock: Arc<TestClock>,
    url: String,
    user_id: String,
    client_id: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

impl Fixture {
    async fn start(batch: usize) -> Fixture {
        let (url, dir, pg) = match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if !admin.trim().is_empty() => {
                let name = format!("e2e_purge_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin).unwrap();
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                (url.to_string(), None, Some((admin, name)))
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("iam.db").display());
                (url, Some(dir), None)
            }
        };
        let clock = Arc::new(TestClock {
            base: SystemClock.now(),
            offset: AtomicI64::new(0),
        });
        let config = ProviderConfig::builder("http://127.0.0.1:1")
            .housekeeping_batch(batch)
            .key_rotation_interval(Duration::ZERO)
            .build()
            .unwrap();
        let provider = Provider::builder(config, url.clone())
            .clock(clock.clone())
            .build()
            .await
            .unwrap();
        let user = provider
            .create_user(NewUser {
                username: USERNAME.into(),
                email: EMAIL.into(),
                name: None,
                roles: vec![],
                password: Some(PASSWORD.into()),
            })
            .await
            .unwrap();
        let client = provider
            .register_client(NewClient::new("Purge RP", [REDIRECT_URI]))
            .await
            .unwrap();
        Fixture {
            provider,
            clock,
            url,
            user_id: user.id,
            client_id: client.client.client_id,
            _dir: dir,
            pg,
        }
    }

    fn conn(&self) -> Conn {
        match self.url.strip_prefix("sqlite://") {
            Some(path) => Conn::Sqlite(SqliteConnection::establish(path).unwrap()),
            None => Conn::Postgresql(PgConnection::establish(&self.url).unwrap()),
        }
    }

    /// The provider's clock, `secs` from now, as the database stores it.
    fn at(&self, secs: i64) -> NaiveDateTime {
        (self.clock.now() + chrono::Duration::seconds(secs)).naive_utc()
    }

    fn advance(&self, secs: i64) {
        self.clock.offset.fetch_add(secs, Ordering::SeqCst);
    }

    fn grant(&self, conn: &mut Conn, id: &str, created: i64) {
        use db::grants::dsl as g;
        diesel::insert_into(db::grants::table)
            .values((
                g::id.eq(id),
                g::client_id.eq(&self.client_id),
                g::user_id.eq(Some(&self.user_id)),
                g::session_id.eq(Some("s-live")),
                g::scope.eq("openid"),
                g::created_at.eq(self.at(created)),
            ))
            .execute(conn)
            .unwrap();
    }

    /// A code (and its grant, created when the code was) expiring `expires` seconds from now.
    fn code(&self, conn: &mut Conn, id: &str, expires: i64, used: bool) {
        self.grant(conn, &format!("g-{id}"), expires - 60);
        use db::auth_codes::dsl as a;
        diesel::insert_into(db::auth_codes::table)
            .values((
                a::code_hash.eq(id),
                a::grant_id.eq(format!("g-{id}")),
                a::client_id.eq(&self.client_id),
                a::user_id.eq(&self.user_id),
                a::session_id.eq("s-live"),
                a::redirect_uri.eq(REDIRECT_URI),
                a::scope.eq("openid"),
                a::auth_time.eq(self.at(expires - 60)),
                a::amr.eq("pwd"),
                a::created_at.eq(self.at(expires - 60)),
                a::expires_at.eq(self.at(expires)),
                a::used_at.eq(used.then(|| self.at(expires - 30))),
            ))
            .execute(conn)
            .unwrap();
    }

    fn session(&self, conn: &mut Conn, id: &str, last_seen: i64, expires: i64, ended: Option<i64>) {
        use db::sessions::dsl as s;
        diesel::insert_into(db::sessions::table)
            .values((
                s::id.eq(id),
                s::secret_hash.eq(format!("hash-{id}")),
                s::user_id.eq(&self.user_id),
                s::auth_time.eq(self.at(last_seen)),
                s::amr.eq("pwd"),
                s::created_at.eq(self.at(last_seen)),
                s::last_seen_at.eq(self.at(last_seen)),
                s::expires_at.eq(self.at(expires)),
                s::ended_at.eq(ended.map(|e| self.at(e))),
            ))
            .execute(conn)
            .unwrap();
    }

    fn journey(&self, conn: &mut Conn, id: &str, expires: i64, finished: Option<i64>) {
        use db::journeys::dsl as j;
        diesel::insert_into(db::journeys::table)
            .values((
                j::id.eq(id),
                j::browser_hash.eq("b"),
                j::csrf.eq("c"),
                j::request.eq("{}"),
                j::steps.eq("[]"),
                j::created_at.eq(self.at(expires - 1800)),
                j::expires_at.eq(self.at(expires)),
                j::finished_at.eq(finished.map(|f| self.at(f))),
            ))
            .execute(conn)
            .unwrap();
    }

    fn throttle(&self, conn: &mut Conn, key: &str, updated: i64, blocked_until: Option<i64>) {
        use db::throttles::dsl as t;
        diesel::insert_into(db::throttles::table)
            .values((
                t::key.eq(key),
                t::failures.eq(7),
                t::window_start.eq(self.at(updated)),
                t::blocked_until.eq(blocked_until.map(|b| self.at(b))),
                t::updated_at.eq(self.at(updated)),
            ))
            .execute(conn)
            .unwrap();
    }

    fn refresh_token(&self, conn: &mut Conn, grant: &str, expires: i64) {
        use db::refresh_tokens::dsl as r;
        diesel::insert_into(db::refresh_tokens::table)
            .values((
                r::token_hash.eq(format!("rt-{grant}")),
                r::grant_id.eq(grant),
                r::client_id.eq(&self.client_id),
                r::user_id.eq(&self.user_id),
                r::session_id.eq("s-live"),
                r::scope.eq("openid offline_access"),
                r::auth_time.eq(self.at(-10_000)),
                r::amr.eq("pwd"),
                r::created_at.eq(self.at(-10_000)),
                r::idle_expires_at.eq(self.at(expires)),
                r::expires_at.eq(self.at(expires)),
            ))
            .execute(conn)
            .unwrap();
    }
}

fn ids(conn: &mut Conn, table: &str, key: &str) -> Vec<String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        id: String,
    }
    let mut v: Vec<String> = diesel::sql_query(format!("SELECT {key} AS id FROM {table}"))
        .load::<Row>(conn)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    v.sort();
    v
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_deletes_exactly_the_expired_rows_in_bounded_batches_and_keeps_live_ones() {
    // Batches of two rows, so that every table with more than two due rows takes several.
    let f = Fixture::start(2).await;
    let mut c = f.conn();
    // Lifetimes (defaults): code 60 s, ID and access tokens 600 s, session idle 30 min.
    f.code(&mut c, "a-unused-expired", -1, false); // deleted
    f.code(&mut c, "a-unused-live", 30, false); // kept
    f.code(&mut c, "a-used-tokens-live", -100, true); // kept: its tokens live until +500
    f.code(&mut c, "a-used-tokens-dead", -601, true); // deleted: its tokens died at -1
    f.code(&mut c, "a-unused-old", -5000, false); // deleted
    f.grant(&mut c, "g-orphan-old", -10_000); // deleted: nothing refers to it, tokens dead
    f.grant(&mut c, "g-orphan-recent", -10); // kept: its tokens may live
    f.grant(&mut c, "g-refresh", -10_000); // kept: a refresh token of its family lives
    f.refresh_token(&mut c, "g-refresh", 86_400);
    f.session(&mut c, "s-ended", -10, 1000, Some(-5)); // deleted
    f.session(&mut c, "s-expired", -10, -1, None); // deleted
    f.session(&mut c, "s-idle", -1801, 1000, None); // deleted
    f.session(&mut c, "s-live", -10, 1000, None); // kept
    f.journey(&mut c, "j-expired", -1, None); // deleted
    f.journey(&mut c, "j-finished-live", 100, Some(-5)); // kept until it expires
    f.journey(&mut c, "j-finished-expired", -2, Some(-900)); // deleted
    f.journey(&mut c, "j-live", 1000, None); // kept
    f.throttle(&mut c, "t-stale", -3 * 86_400, None); // deleted
    f.throttle(&mut c, "t-stale-blocking", -3 * 86_400, Some(100)); // kept while it blocks
    f.throttle(&mut c, "t-recent", -3600, None); // kept
    f.throttle(&mut c, "t-stale-block-over", -3 * 86_400, Some(-86_400)); // deleted

    let report = f.provider.purge_expired().await.unwrap();
    assert_eq!(report.get("auth_codes"), 3, "{report:?}");
    // The grants of the two codes whose tokens are dead go too (codes are purged first); the
    // grant of the code that expired a second ago is younger than code + token lifetime.
    assert_eq!(report.get("grants"), 3, "{report:?}");
    assert_eq!(report.get("sessions"), 3, "{report:?}");
    assert_eq!(report.get("journeys"), 2, "{report:?}");
    assert_eq!(report.get("throttles"), 2, "{report:?}");
    assert_eq!(report.get("signing_keys"), 0, "{report:?}");
    assert_eq!(report.total(), 13);

    assert_eq!(
        ids(&mut c, "auth_codes", "code_hash"),
        sorted(&["a-unused-live", "a-used-tokens-live"])
    );
    assert_eq!(
        ids(&mut c, "grants", "id"),
        sorted(&[
            "g-a-unused-expired",
            "g-a-unused-live",
            "g-a-used-tokens-live",
            "g-orphan-recent",
            "g-refresh",
        ])
    );
    assert_eq!(
        ids(&mut c, "refresh_tokens", "token_hash"),
        ["rt-g-refresh"]
    );
    assert_eq!(ids(&mut c, "sessions", "id"), ["s-live"]);
    assert_eq!(
        ids(&mut c, "journeys", "id"),
        sorted(&["j-finished-live", "j-live"])
    );
    assert_eq!(
        ids(&mut c, "throttles", "key"),
        sorted(&["t-recent", "t-stale-blocking"])
    );

    // Nothing more is due: a second purge deletes nothing.
    assert_eq!(f.provider.purge_expired().await.unwrap().total(), 0);

    // 501 s later the used code's tokens have expired: the code goes, and then its grant.
    f.advance(501);
    let report = f.provider.purge_expired().await.unwrap();
    assert_eq!(report.get("auth_codes"), 2, "{report:?}"); // a-unused-live, a-used-tokens-live
    assert_eq!(report.get("grants"), 1, "{report:?}"); // g-a-used-tokens-live
    assert_eq!(report.get("journeys"), 1, "{report:?}"); // j-finished-live
    assert_eq!(report.get("throttles"), 1, "{report:?}"); // t-stale-blocking
    assert_eq!(report.get("sessions"), 0, "{report:?}");
    assert_eq!(ids(&mut c, "auth_codes", "code_hash"), Vec::<String>::new());
    assert!(ids(&mut c, "grants", "id").contains(&"g-refresh".to_string()));
    assert_eq!(ids(&mut c, "sessions", "id"), ["s-live"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_of_many_rows_loops_over_batches_until_done() {
    let f = Fixture::start(7).await;
    let mut c = f.conn();
    for i in 0..40 {
        f.session(&mut c, &format!("s-{i:02}"), -10, -1, None);
    }
    f.session(&mut c, "s-live", -10, 1000, None);
    let report = f.provider.purge_expired().await.unwrap();
    assert_eq!(report.get("sessions"), 40);
    assert_eq!(ids(&mut c, "sessions", "id"), ["s-live"]);
}

#[tokio::test]
async fn rfc6749_4_1_2_a_used_code_survives_the_purge_while_its_tokens_live_so_replay_still_revokes()
 {
    let server = TestServer::start().await;
    let http = browser();
    let code = server.code_for_default_request(&http).await;
    let first = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(first.status, StatusCode::OK);
    let access = first.json["access_token"].as_str().unwrap().to_string();

    // The code has expired (60 s) but the tokens it issued live (600 s): the purge keeps it.
    server.advance_clock(61);
    let report = server.provider.purge_expired().await.unwrap();
    assert_eq!(report.get("auth_codes"), 0, "{report:?}");
    assert_eq!(report.get("grants"), 0, "{report:?}");
    assert_eq!(server.userinfo(&http, &access).await.status, StatusCode::OK);

    // So a replay is still recognised, refused, and revokes what the code issued.
    let replay = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert_eq!(replay.json["error"], "invalid_grant");
    assert_eq!(
        server.userinfo(&http, &access).await.status,
        StatusCode::UNAUTHORIZED,
        "the replay revoked the grant"
    );

    // Once every token it issued has expired, the code and its grant go.
    server.advance_clock(600);
    let report = server.provider.purge_expired().await.unwrap();
    assert_eq!(report.get("auth_codes"), 1, "{report:?}");
    assert_eq!(report.get("grants"), 1, "{report:?}");
    // The session (last seen 661 s ago, idle limit 30 min) and the journey stay.
    assert_eq!(report.get("sessions"), 0, "{report:?}");
    assert_eq!(report.get("journeys"), 0, "{report:?}");
}
