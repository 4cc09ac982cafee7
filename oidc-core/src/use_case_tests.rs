//! Every multi-statement use case is one transaction: a fail point armed between any two of its
//! statements leaves the database exactly as it was (no changed password without its ended
//! sessions, no lock without its audit entry, no spent code without its tokens), and the same
//! call with the point disarmed does all of it. Run on SQLite, and on PostgreSQL when
//! `TEST_DATABASE_URL` names a server (a database of its own per test).

use std::time::Duration;

use diesel::prelude::*;

use crate::accounts::changes::{self, Ctx};
use crate::audit::Actor;
use crate::fail;
use crate::store::schema::{
    audit_log, auth_codes, grants, password_history, refresh_tokens, sessions, users,
};
use crate::store::{Db, naive};
use crate::tokens::{self, CodeGrant, Redeemed};
use crate::{NewClient, NewUser, Provider, ProviderConfig};

const KEY: [u8; 32] = [7; 32];

struct World {
    provider: Provider,
    user_id: String,
    client_id: String,
    // Dropped after the provider: the SQLite file must outlive it.
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

/// A database of its own on the PostgreSQL server of `TEST_DATABASE_URL`, dropped at the end.
struct PgDatabase {
    admin: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use diesel::Connection;
        if let Ok(mut c) = diesel::PgConnection::establish(&self.admin) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut c);
        }
    }
}

impl World {
    async fn new() -> World {
        let (url, dir, pg) = match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if !admin.trim().is_empty() => {
                use diesel::Connection;
                let name = format!("unit_{}", uuid::Uuid::new_v4().simple());
                let mut c = diesel::PgConnection::establish(&admin).unwrap();
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut c)
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                (url.to_string(), None, Some(PgDatabase { admin, name }))
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                let url = format!("sqlite://{}", dir.path().join("iam.db").display());
                (url, Some(dir), None)
            }
        };
        let config = ProviderConfig::builder("http://127.0.0.1:9")
            .build()
            .unwrap();
        let provider = Provider::builder(config, url).build().await.unwrap();
        let user = provider
            .create_user(NewUser {
                username: "pat".into(),
                email: "pat@example.org".into(),
                name: None,
                roles: vec!["cpar_panel_admin".into()],
                password: Some("a long enough pass phrase".into()),
            })
            .await
            .unwrap();
        let client = provider
            .register_client(
                NewClient::new("App", ["http://127.0.0.1:9/cb"])
                    .first_party(true)
                    .refresh_policy(crate::clients::RefreshPolicy::Always)
                    .grant_types(["authorization_code", "refresh_token"]),
            )
            .await
            .unwrap();
        World {
            provider,
            user_id: user.id,
            client_id: client.client.client_id,
            _dir: dir,
            _pg: pg,
        }
    }

    fn db(&self) -> &Db {
        &self.provider.inner.db
    }

    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.provider.inner.now()
    }

    /// A live session and a grant with its code in it; returns (session id, code).
    async fn session_with_code(&self, scope: &str) -> (String, crate::Secret) {
        let (uid, now) = (self.user_id.clone(), self.now());
        let session = self
            .db()
            .write(move |conn| {
                crate::sessions::create_in(
                    conn,
                    &uid,
                    now,
                    &["pwd".to_string()],
                    None,
                    now,
                    Duration::from_secs(3600),
                )
            })
            .await
            .unwrap()
            .0;
        let g = CodeGrant {
            grant_id: String::new(),
            client_id: crate::ids::ClientId::new(self.client_id.clone()),
            user_id: crate::ids::UserId::new(self.user_id.clone()),
            session_id: session.id.clone(),
            redirect_uri: "http://127.0.0.1:9/cb".into(),
            scope: scope.into(),
            nonce: None,
            code_challenge: None,
            auth_time: now,
            amr: vec!["pwd".into()],
            acr: None,
            claims: None,
        };
        let code = tokens::issue_code(self.db(), g, now, Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        (session.id, code)
    }

    /// Everything a use case may touch, as it is now.
    async fn snapshot(&self) -> String {
        let uid = self.user_id.clone();
        self.db()
            .run(move |conn| {
                let r: crate::store::models::UserRow = users::table
                    .find(&uid)
                    .select(crate::store::models::UserRow::as_select())
                    .first(conn)?;
                let u = (
                    r.password_hash,
                    r.password_temporary,
                    r.required_actions,
                    r.roles,
                    r.failed_attempts,
                    r.locked_until,
                    r.disabled,
                    r.secret_word_hash,
                );
                let live: i64 = sessions::table
                    .filter(sessions::user_id.eq(&uid))
                    .filter(sessions::ended_at.is_null())
                    .count()
                    .get_result(conn)?;
                let unrevoked: i64 = grants::table
                    .filter(grants::user_id.eq(&uid))
                    .filter(grants::revoked_at.is_null())
                    .count()
                    .get_result(conn)?;
                let audit: i64 = audit_log::table.count().get_result(conn)?;
                let history: i64 = password_history::table
                    .filter(password_history::user_id.eq(&uid))
                    .count()
                    .get_result(conn)?;
                let unused_codes: i64 = auth_codes::table
                    .filter(auth_codes::used_at.is_null())
                    .count()
                    .get_result(conn)?;
                let refresh: i64 = refresh_tokens::table.count().get_result(conn)?;
                let unused_refresh: i64 = refresh_tokens::table
                    .filter(refresh_tokens::used_at.is_null())
                    .count()
                    .get_result(conn)?;
                Ok(format!(
                    "{u:?} live={live} unrevoked={unrevoked} audit={audit} history={history} \
                     unused_codes={unused_codes} refresh={refresh} unused_refresh={unused_refresh}"
                ))
            })
            .await
            .unwrap()
    }

    /// Runs `call` with `point` armed (it must fail and change nothing), then disarmed (it must
    /// succeed and change something). Returns the state after the success.
    async fn all_or_nothing<F, Fut, T>(&self, point: &str, key: &str, call: F) -> String
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, crate::Error>>,
    {
        let before = self.snapshot().await;
        fail::arm(point, key);
        let failed = call().await;
        fail::disarm(point, key);
        assert!(
            failed.is_err(),
            "{point}: the armed fail point did not fail the use case"
        );
        assert_eq!(
            self.snapshot().await,
            before,
            "{point}: a failed use case left changes behind"
        );
        call().await.unwrap_or_else(|e| panic!("{point}: {e}"));
        let after = self.snapshot().await;
        assert_ne!(after, before, "{point}: the use case changed nothing");
        after
    }
}

fn ctx(now: chrono::DateTime<chrono::Utc>) -> Ctx<'static> {
    static ACTOR: Actor = Actor::BreakGlass;
    Ctx {
        audit_key: &KEY,
        actor: &ACTOR,
        now,
    }
}

#[tokio::test]
async fn password_change_is_all_or_nothing_at_every_point() {
    for point in [
        "password.change:after_update",
        "password.change:after_history",
        "password.change:after_sessions",
    ] {
        let w = World::new().await;
        w.session_with_code("openid").await;
        let (id, now) = (w.user_id.clone(), w.now());
        let after = w
            .all_or_nothing(point, &w.user_id, || {
                let id = id.clone();
                w.db().write(move |conn| {
                    changes::change_password(conn, ctx(now), &id, "new-hash", 5, None)
                        .map(|o| assert!(o.is_some()))
                })
            })
            .await;
        assert!(after.contains("Some(\"new-hash\")"), "{after}");
        assert!(after.contains("live=0 unrevoked=0"), "{after}");
    }
}

#[tokio::test]
async fn temporary_password_is_all_or_nothing_at_every_point() {
    for point in [
        "password.temporary:after_update",
        "password.temporary:after_sessions",
    ] {
        let w = World::new().await;
        w.session_with_code("openid offline_access").await;
        let (id, now) = (w.user_id.clone(), w.now());
        let after = w
            .all_or_nothing(point, &w.user_id, || {
                let id = id.clone();
                w.db().write(move |conn| {
                    changes::issue_temporary_password(conn, ctx(now), &id, "temp-hash", now)
                })
            })
            .await;
        assert!(
            after.contains("\"change_password enrol_recovery\""),
            "{after}"
        );
        assert!(after.contains("live=0 unrevoked=0"), "{after}");
    }
}

#[tokio::test]
async fn a_lock_is_all_or_nothing_at_every_point() {
    for point in ["account.lock:after_update", "account.lock:after_sessions"] {
        let w = World::new().await;
        w.session_with_code("openid").await;
        let (id, now) = (w.user_id.clone(), w.now());
        // Threshold 1: this failure starts the lock.
        let after = w
            .all_or_nothing(point, &w.user_id, || {
                let id = id.clone();
                w.db().write(move |conn| {
                    changes::count_failure(conn, ctx(now), &id, 1, Duration::from_secs(600))
                        .map(|l| assert!(l.is_some()))
                })
            })
            .await;
        assert!(after.contains("live=0 unrevoked=0"), "{after}");
    }
}

#[tokio::test]
async fn a_role_change_is_all_or_nothing_at_every_point() {
    for point in ["account.roles:after_update", "account.roles:after_sessions"] {
        let w = World::new().await;
        w.session_with_code("openid").await;
        let (id, now) = (w.user_id.clone(), w.now());
        let after = w
            .all_or_nothing(point, &w.user_id, || {
                let id = id.clone();
                w.db()
                    .write(move |conn| changes::set_roles(conn, ctx(now), &id, &[]).map(|_| ()))
            })
            .await;
        assert!(after.contains("live=0 unrevoked=0"), "{after}");
    }
}

#[tokio::test]
async fn disabling_and_deleting_credentials_are_all_or_nothing() {
    let w = World::new().await;
    w.session_with_code("openid").await;
    let (id, now) = (w.user_id.clone(), w.now());
    let after = w
        .all_or_nothing("account.disable:after_update", &w.user_id, || {
            let id = id.clone();
            w.db()
                .write(move |conn| changes::set_disabled(conn, ctx(now), &id, true).map(|_| ()))
        })
        .await;
    assert!(after.contains("live=0 unrevoked=0"), "{after}");

    let w = World::new().await;
    w.session_with_code("openid").await;
    let after = w
        .all_or_nothing(
            "account.delete_credentials:after_update",
            &w.user_id,
            || {
                let p = w.provider.clone();
                async move {
                    p.delete_credentials(&Actor::BreakGlass, "pat")
                        .await
                        .map(|_| ())
                }
            },
        )
        .await;
    assert!(after.starts_with("(None,"), "{after}");
    assert!(after.contains("live=0 unrevoked=0"), "{after}");
}

#[tokio::test]
async fn code_redemption_is_all_or_nothing_at_every_point() {
    for point in ["code.redeem:after_claim", "code.redeem:after_refresh"] {
        let w = World::new().await;
        let (_, code) = w.session_with_code("openid").await;
        let now = w.now();
        let (db, client_id) = (w.db().clone(), w.client_id.clone());
        let after = w
            .all_or_nothing(point, &w.user_id, || {
                let (db, code, client_id) = (db.clone(), code.clone(), client_id.clone());
                async move {
                    let x = tokens::CodeExchange {
                        code: &code,
                        client_id: &client_id,
                        redirect_uri: "http://127.0.0.1:9/cb",
                        verifier: None,
                        refresh_policy: Some(crate::clients::RefreshPolicy::Always),
                        refresh_limits: limits(),
                    };
                    match tokens::redeem_code(&db, x, now).await? {
                        Redeemed::Fresh { refresh_token, .. } => {
                            assert!(refresh_token.is_some());
                            Ok(())
                        }
                        other => panic!("{other:?}"),
                    }
                }
            })
            .await;
        assert!(after.contains("unused_codes=0 refresh=1"), "{after}");
    }
}

fn limits() -> tokens::refresh::Limits {
    tokens::refresh::Limits {
        idle: Duration::from_secs(3600),
        absolute: Duration::from_secs(7200),
        grace: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn refresh_rotation_is_all_or_nothing_at_every_point() {
    for point in [
        "refresh.rotate:after_claim",
        "refresh.rotate:after_successor",
    ] {
        let w = World::new().await;
        let (_, code) = w.session_with_code("openid").await;
        let now = w.now();
        let x = tokens::CodeExchange {
            code: &code,
            client_id: &w.client_id,
            redirect_uri: "http://127.0.0.1:9/cb",
            verifier: None,
            refresh_policy: Some(crate::clients::RefreshPolicy::Always),
            refresh_limits: limits(),
        };
        let Redeemed::Fresh {
            refresh_token: Some(rt),
            ..
        } = tokens::redeem_code(w.db(), x, now).await.unwrap()
        else {
            panic!("no refresh token");
        };
        let after = w
            .all_or_nothing(point, &w.user_id, || {
                tokens::refresh::rotate(w.db(), &rt, &w.client_id, None, now, limits())
            })
            .await;
        assert!(after.contains("refresh=2 unused_refresh=1"), "{after}");
    }
}

/// The seam the race tests probe from outside: once a grant is revoked, or its session ended,
/// nothing it carries is redeemed, whatever order the events came in.
#[tokio::test]
async fn a_code_or_refresh_token_of_an_ended_session_or_revoked_grant_is_refused() {
    let w = World::new().await;
    let (session, code) = w.session_with_code("openid").await;
    let now = w.now();
    crate::sessions::end(w.db(), &session, now).await.unwrap();
    let x = tokens::CodeExchange {
        code: &code,
        client_id: &w.client_id,
        redirect_uri: "http://127.0.0.1:9/cb",
        verifier: None,
        refresh_policy: Some(crate::clients::RefreshPolicy::Always),
        refresh_limits: limits(),
    };
    assert!(matches!(
        tokens::redeem_code(w.db(), x, now).await.unwrap(),
        Redeemed::Revoked
    ));

    // A refresh token without offline_access dies with its session; one with it does not.
    for (scope, survives) in [("openid", false), ("openid offline_access", true)] {
        let w = World::new().await;
        let (session, code) = w.session_with_code(scope).await;
        let x = tokens::CodeExchange {
            code: &code,
            client_id: &w.client_id,
            redirect_uri: "http://127.0.0.1:9/cb",
            verifier: None,
            refresh_policy: Some(crate::clients::RefreshPolicy::Always),
            refresh_limits: limits(),
        };
        let Redeemed::Fresh {
            refresh_token: Some(rt),
            ..
        } = tokens::redeem_code(w.db(), x, now).await.unwrap()
        else {
            panic!("no refresh token");
        };
        crate::sessions::end(w.db(), &session, now).await.unwrap();
        let rotated = tokens::refresh::rotate(w.db(), &rt, &w.client_id, None, now, limits())
            .await
            .unwrap();
        assert_eq!(
            matches!(rotated, tokens::refresh::Rotated::Fresh { .. }),
            survives,
            "{scope}: {rotated:?}"
        );
    }

    // After every grant of the account is revoked (a password change), no code is issued in
    // the ended session.
    let w = World::new().await;
    let (session, _) = w.session_with_code("openid").await;
    let id = w.user_id.clone();
    w.db()
        .write(move |conn| changes::change_password(conn, ctx(now), &id, "h", 5, None))
        .await
        .unwrap();
    let g = CodeGrant {
        grant_id: String::new(),
        client_id: crate::ids::ClientId::new(w.client_id.clone()),
        user_id: crate::ids::UserId::new(w.user_id.clone()),
        session_id: session,
        redirect_uri: "http://127.0.0.1:9/cb".into(),
        scope: "openid".into(),
        nonce: None,
        code_challenge: None,
        auth_time: now,
        amr: vec![],
        acr: None,
        claims: None,
    };
    assert_eq!(
        tokens::issue_code(w.db(), g, now, Duration::from_secs(60))
            .await
            .unwrap(),
        Err(tokens::CodeRefused::SessionEnded)
    );
    let uid = w.user_id.clone();
    let since = naive(now);
    let created_after: i64 = w
        .db()
        .run(move |conn| {
            Ok(grants::table
                .filter(grants::user_id.eq(&uid))
                .filter(grants::revoked_at.is_null())
                .filter(grants::created_at.ge(since))
                .count()
                .get_result(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(created_after, 0);
}

#[tokio::test]
async fn a_urf_approval_is_all_or_nothing_at_every_point() {
    for point in ["urf.approve:after_claim", "urf.approve:after_account"] {
        let w = World::new().await;
        let p = w.provider.clone();
        p.create_user(NewUser {
            username: "aa.one".into(),
            email: "aa.one@example.org".into(),
            name: None,
            roles: vec![crate::ROLE_ACCESS_ADMIN.into()],
            password: None,
        })
        .await
        .unwrap();
        let reg = p
            .submit_registration(
                &Actor::User("aa.one".into()),
                crate::NewRegistration {
                    legal_name: "Nancy Akitt".into(),
                    email: "nancy@example.org".into(),
                    clinic: "Clinic".into(),
                    practitioner_id: "P1".into(),
                    role_requested: None,
                },
            )
            .await
            .unwrap();
        let snapshot = || {
            let db = w.db().clone();
            async move {
                db.run(|conn| {
                    use crate::store::schema::{otp_tokens, registrations};
                    let users: i64 = users::table.count().get_result(conn)?;
                    let tokens: i64 = otp_tokens::table.count().get_result(conn)?;
                    let audit: i64 = audit_log::table.count().get_result(conn)?;
                    let status: Vec<String> = registrations::table
                        .select(registrations::status)
                        .load(conn)?;
                    Ok(format!(
                        "users={users} tokens={tokens} audit={audit} {status:?}"
                    ))
                })
                .await
                .unwrap()
            }
        };
        let before = snapshot().await;
        fail::arm(point, &reg.id);
        let failed = p
            .approve_registration(
                &Actor::BreakGlass,
                &reg.id,
                "nakitt",
                crate::TokenChoice::Soft,
            )
            .await;
        fail::disarm(point, &reg.id);
        assert!(failed.is_err(), "{point}");
        assert_eq!(
            snapshot().await,
            before,
            "{point}: a failed approval left changes"
        );
        let a = p
            .approve_registration(
                &Actor::BreakGlass,
                &reg.id,
                "nakitt",
                crate::TokenChoice::Soft,
            )
            .await
            .unwrap();
        assert_eq!(a.user.username, "nakitt");
        assert!(a.soft_token.is_some());
        let after = snapshot().await;
        assert!(after.contains("[\"approved\"]"), "{after}");
        assert_ne!(after, before);
    }
}
