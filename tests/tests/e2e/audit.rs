//! The audit log through the provider's public API: concurrent appends stay one contiguous,
//! verifiable chain, and a row altered behind the provider's back is found.
//!
//! Runs on SQLite by default and on PostgreSQL when `TEST_DATABASE_URL` names a server. The
//! concurrency test uses the harness; the tampering tests open their own database, because
//! they need a second, raw connection to it and the harness keeps its database to itself.

use crate::common::*;
use chrono::SubsecRound;
use diesel::{Connection, PgConnection, RunQueryDsl, SqliteConnection};
use oidc_core::{Actor, Provider, ProviderConfig};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn audit_concurrent_appends_form_one_contiguous_verified_chain() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for t in 0..2 {
        let provider = server.provider.clone();
        tasks.push(tokio::spawn(async move {
            let actor = Actor::User(format!("admin{t}"));
            for i in 0..50 {
                provider
                    .record_audit(
                        &actor,
                        "user.updated",
                        Some(USERNAME),
                        json!({ "task": t, "i": i }),
                    )
                    .await
                    .unwrap_or_else(|e| panic!("task {t} append {i}: {e}"));
            }
        }));
    }
    for t in tasks {
        t.await.expect("appending task");
    }

    let report = server.provider.verify_audit_log().await.expect("verify");
    assert_eq!(report.first_broken, None, "{report:?}");
    assert_eq!(report.reason, None);
    assert_eq!(report.entries, 100);

    // Page through the log: 1..=100 without gaps, every append there exactly once.
    let mut seen = Vec::new();
    let mut since = None;
    loop {
        let page = server
            .provider
            .audit_events(since, 30)
            .await
            .expect("list the log");
        let Some(last) = page.last() else { break };
        since = Some(last.seq);
        seen.extend(page);
    }
    assert_eq!(
        seen.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<i64>>()
    );
    let mut appends: Vec<(String, i64)> = seen
        .iter()
        .map(|e| {
            assert_eq!(e.event, "user.updated");
            assert_eq!(e.subject.as_deref(), Some(USERNAME));
            assert_eq!(e.actor, format!("user:admin{}", e.detail["task"]));
            (e.actor.clone(), e.detail["i"].as_i64().expect("i"))
        })
        .collect();
    appends.sort();
    appends.dedup();
    assert_eq!(appends.len(), 100);
    // Each task's own entries are in its order.
    for t in 0..2 {
        let mine: Vec<i64> = seen
            .iter()
            .filter(|e| e.actor == format!("user:admin{t}"))
            .map(|e| e.detail["i"].as_i64().expect("i"))
            .collect();
        assert_eq!(mine, (0..50).collect::<Vec<i64>>());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn audit_eight_concurrent_writers_all_get_through() {
    let server = TestServer::start().await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let provider = server.provider.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                provider
                    .record_audit(&Actor::System, "tick", None, json!({ "t": t, "i": i }))
                    .await
                    .unwrap_or_else(|e| panic!("task {t} append {i}: {e}"));
            }
        }));
    }
    for t in tasks {
        t.await.expect("appending task");
    }
    let report = server.provider.verify_audit_log().await.expect("verify");
    assert_eq!(report.first_broken, None, "{report:?}");
    assert_eq!(report.entries, 200);
}

#[tokio::test]
async fn audit_events_show_actor_forms_and_detail() {
    let server = TestServer::start().await;
    let p = &server.provider;
    p.record_audit(&Actor::BreakGlass, "admin.signin", None, json!({}))
        .await
        .expect("append");
    p.record_audit(
        &Actor::Anonymous,
        "signin.failed",
        Some("nobody"),
        json!({ "reason": "unknown user" }),
    )
    .await
    .expect("append");
    p.record_audit(&Actor::System, "keys.rotated", None, json!(["k1", "k2"]))
        .await
        .expect("append");
    assert!(
        p.record_audit(&Actor::System, "", None, json!({}))
            .await
            .is_err()
    );
    let events = p.audit_events(None, 10).await.expect("list");
    let actors: Vec<&str> = events.iter().map(|e| e.actor.as_str()).collect();
    assert_eq!(actors, ["break-glass", "anonymous", "system"]);
    assert_eq!(events[1].detail, json!({ "reason": "unknown user" }));
    assert_eq!(events[2].detail, json!(["k1", "k2"]));
    assert_eq!(events[0].at, server.now().trunc_subsecs(6));
    assert!(p.audit_events(None, -1).await.is_err());
    assert!(p.audit_events(Some(3), 10).await.expect("list").is_empty());
    let json = serde_json::to_value(&events[1]).expect("AuditEvent serialises");
    assert_eq!(json["seq"], 2);
    assert_eq!(json["subject"], "nobody");
    let report = p.verify_audit_log().await.expect("verify");
    assert_eq!(
        serde_json::to_value(&report).expect("VerifyReport serialises"),
        json!({ "entries": 3, "first_broken": null, "reason": null })
    );
}

/// A database of this test's own, reachable by a raw connection; removed when dropped.
enum OwnDb {
    Sqlite {
        _dir: tempfile::TempDir,
        path: String,
    },
    Postgres {
        admin_url: String,
        name: String,
        url: String,
    },
}

impl OwnDb {
    fn create() -> OwnDb {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin_url) if !admin_url.trim().is_empty() => {
                let name = format!("e2e_audit_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin_url).expect("TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .expect("create the test database");
                let mut url = url::Url::parse(&admin_url).expect("TEST_DATABASE_URL is a URL");
                url.set_path(&format!("/{name}"));
                OwnDb::Postgres {
                    admin_url,
                    name,
                    url: url.to_string(),
                }
            }
            _ => {
                let dir = tempfile::tempdir().expect("temporary directory");
                let path = dir.path().join("iam.db").display().to_string();
                OwnDb::Sqlite { _dir: dir, path }
            }
        }
    }

    fn url(&self) -> String {
        match self {
            OwnDb::Sqlite { path, .. } => format!("sqlite://{path}"),
            OwnDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// Runs SQL behind the provider's back; returns the affected rows.
    fn tamper(&self, sql: &str) -> usize {
        match self {
            OwnDb::Sqlite { path, .. } => {
                let mut conn = SqliteConnection::establish(path).expect("raw SQLite connection");
                diesel::sql_query(sql).execute(&mut conn)
            }
            OwnDb::Postgres { url, .. } => {
                let mut conn = PgConnection::establish(url).expect("raw PostgreSQL connection");
                diesel::sql_query(sql).execute(&mut conn)
            }
        }
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
    }
}

impl Drop for OwnDb {
    fn drop(&mut self) {
        if let OwnDb::Postgres {
            admin_url, name, ..
        } = self
        {
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

async fn provider_over(db: &OwnDb, audit_key: Option<[u8; 32]>) -> Provider {
    let mut config = ProviderConfig::builder("http://127.0.0.1:9");
    if let Some(key) = audit_key {
        config = config.audit_key(key);
    }
    Provider::builder(config.build().expect("configuration"), db.url())
        .build()
        .await
        .expect("provider starts")
}

async fn record_ten(provider: &Provider) {
    for i in 1..=10 {
        provider
            .record_audit(
                &Actor::User("admin".into()),
                "role.granted",
                Some(&format!("user{i}")),
                json!({ "role": "reader" }),
            )
            .await
            .expect("append");
    }
}

#[tokio::test]
async fn audit_verify_finds_a_row_edited_in_the_database() {
    let db = OwnDb::create();
    let provider = provider_over(&db, None).await;
    record_ten(&provider).await;
    assert_eq!(
        provider
            .verify_audit_log()
            .await
            .expect("verify")
            .first_broken,
        None
    );
    assert_eq!(
        db.tamper("UPDATE audit_log SET detail = '{\"role\":\"superuser\"}' WHERE seq = 4"),
        1
    );
    let report = provider.verify_audit_log().await.expect("verify");
    assert_eq!(report.first_broken, Some(4), "{report:?}");
    assert!(report.reason.is_some());
    // The altered entry is still listed, as it now reads.
    let events = provider.audit_events(Some(3), 1).await.expect("list");
    assert_eq!(events[0].detail, json!({ "role": "superuser" }));
}

#[tokio::test]
async fn audit_verify_finds_a_deleted_row_and_a_moved_head() {
    let db = OwnDb::create();
    let provider = provider_over(&db, None).await;
    record_ten(&provider).await;
    assert_eq!(db.tamper("DELETE FROM audit_log WHERE seq = 6"), 1);
    let report = provider.verify_audit_log().await.expect("verify");
    assert_eq!(report.first_broken, Some(6), "{report:?}");
    assert_eq!(report.entries, 5);

    let db = OwnDb::create();
    let provider = provider_over(&db, None).await;
    record_ten(&provider).await;
    // Roll the head back to entry 7 as if 8..10 had never been appended.
    assert_eq!(
        db.tamper(
            "UPDATE meta SET value = '7:' || (SELECT mac FROM audit_log WHERE seq = 7) \
             WHERE name = 'audit_head'"
        ),
        1
    );
    let report = provider.verify_audit_log().await.expect("verify");
    assert_eq!(report.first_broken, Some(8), "{report:?}");
}

#[tokio::test]
async fn audit_log_is_keyed_by_the_configured_audit_key() {
    let db = OwnDb::create();
    let provider = provider_over(&db, Some([1u8; 32])).await;
    record_ten(&provider).await;
    assert_eq!(
        provider
            .verify_audit_log()
            .await
            .expect("verify")
            .first_broken,
        None
    );
    drop(provider);
    let other = provider_over(&db, Some([2u8; 32])).await;
    let report = other.verify_audit_log().await.expect("verify");
    assert_eq!(report.first_broken, Some(1), "{report:?}");
    drop(other);
    // The default key (derived from the key-encryption key) is not the configured one either.
    let default = provider_over(&db, None).await;
    assert_eq!(
        default
            .verify_audit_log()
            .await
            .expect("verify")
            .first_broken,
        Some(1)
    );
}
