//! The audit log's chain, verification and tamper detection.
use super::*;
use serde_json::json;

const KEY: [u8; 32] = [42u8; 32];

/// A fixed instant with nanoseconds, which the log truncates to microseconds.
fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000, 123_456_789).unwrap()
}

async fn temp_db() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(&format!("sqlite://{}/a.db", dir.path().display()))
        .await
        .unwrap();
    (dir, db)
}

async fn record_five(db: &Db) {
    let t0 = t0();
    for i in 1..=5i64 {
        record(
            db,
            &KEY,
            t0 + chrono::Duration::seconds(i),
            &Actor::User("admin".into()),
            "user.updated",
            Some(&format!("user{i}")),
            json!({ "n": i, "roles": ["a", "b"] }),
        )
        .await
        .unwrap();
    }
}

async fn exec(db: &Db, sql: &'static str) -> usize {
    db.run(move |conn| Ok(diesel::sql_query(sql).execute(conn)?))
        .await
        .unwrap()
}

#[test]
fn actor_display() {
    assert_eq!(Actor::User("nakitt".into()).to_string(), "user:nakitt");
    assert_eq!(Actor::BreakGlass.to_string(), "break-glass");
    assert_eq!(Actor::System.to_string(), "system");
    assert_eq!(Actor::Anonymous.to_string(), "anonymous");
}

#[test]
fn audit_mac_depends_on_key_and_every_field() {
    let at = t0();
    let base = entry_mac(&KEY, 1, at, "system", "e", Some("s"), "{}", GENESIS).unwrap();
    assert_eq!(
        base,
        entry_mac(&KEY, 1, at, "system", "e", Some("s"), "{}", GENESIS).unwrap()
    );
    let variants = [
        entry_mac(&[1u8; 32], 1, at, "system", "e", Some("s"), "{}", GENESIS).unwrap(),
        entry_mac(&KEY, 2, at, "system", "e", Some("s"), "{}", GENESIS).unwrap(),
        entry_mac(
            &KEY,
            1,
            at + chrono::Duration::microseconds(1),
            "system",
            "e",
            Some("s"),
            "{}",
            GENESIS,
        )
        .unwrap(),
        entry_mac(&KEY, 1, at, "anonymous", "e", Some("s"), "{}", GENESIS).unwrap(),
        entry_mac(&KEY, 1, at, "system", "f", Some("s"), "{}", GENESIS).unwrap(),
        entry_mac(&KEY, 1, at, "system", "e", None, "{}", GENESIS).unwrap(),
        entry_mac(&KEY, 1, at, "system", "e", Some(""), "{}", GENESIS).unwrap(),
        entry_mac(&KEY, 1, at, "system", "e", Some("s"), "[]", GENESIS).unwrap(),
        entry_mac(&KEY, 1, at, "system", "e", Some("s"), "{}", "x").unwrap(),
        // Moving bytes between fields changes the MAC (length prefixes).
        entry_mac(&KEY, 1, at, "systeme", "", Some("s"), "{}", GENESIS).unwrap(),
    ];
    for v in &variants {
        assert_ne!(&base, v);
    }
}

#[test]
fn head_round_trips_and_rejects_garbage() {
    let h = Head {
        seq: 12,
        mac: "abc_-".into(),
    };
    assert_eq!(Head::parse(&h.encode()), Some(h));
    assert_eq!(Head::parse("abc"), None);
    assert_eq!(Head::parse("x:abc"), None);
    assert_eq!(Head::parse("0:abc"), None);
    assert_eq!(Head::parse("3:"), None);
}

#[tokio::test]
async fn audit_empty_log_verifies() {
    let (_dir, db) = temp_db().await;
    let report = verify(&db, &KEY).await.unwrap();
    assert_eq!(
        report,
        VerifyReport {
            entries: 0,
            first_broken: None,
            reason: None
        }
    );
}

#[tokio::test]
async fn audit_records_chain_and_lists() {
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    let report = verify(&db, &KEY).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 5);

    let all = list(&db, None, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(all[0].actor, "user:admin");
    assert_eq!(all[0].event, "user.updated");
    assert_eq!(all[0].subject.as_deref(), Some("user1"));
    assert_eq!(all[0].detail, json!({ "n": 1, "roles": ["a", "b"] }));
    assert_eq!(all[0].at.timestamp_subsec_nanos() % 1000, 0);
    let tail = list(&db, Some(3), 1).await.unwrap();
    assert_eq!(tail.len(), 1);
    assert_eq!(tail[0].seq, 4);
    assert!(list(&db, None, -1).await.is_err());

    let head = db.run(read_head).await.unwrap().unwrap();
    let rows = db
        .run(|conn| {
            Ok(audit_log::table
                .order(audit_log::seq.asc())
                .select(AuditRow::as_select())
                .load(conn)?)
        })
        .await
        .unwrap();
    assert_eq!(rows[0].prev_mac, GENESIS);
    for pair in rows.windows(2) {
        assert_eq!(pair[1].prev_mac, pair[0].mac);
    }
    assert_eq!(head, format!("5:{}", rows[4].mac));
}

#[tokio::test]
async fn audit_verify_finds_an_edited_row() {
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    let n = db
        .run(|conn| {
            Ok(
                diesel::update(audit_log::table.filter(audit_log::seq.eq(3)))
                    .set(audit_log::detail.eq(r#"{"n":3,"roles":["a","b","root"]}"#))
                    .execute(conn)?,
            )
        })
        .await
        .unwrap();
    assert_eq!(n, 1);
    let report = verify(&db, &KEY).await.unwrap();
    assert_eq!(report.first_broken, Some(3), "{report:?}");
    assert!(report.reason.unwrap().contains("altered"));
}

#[tokio::test]
async fn audit_verify_finds_edited_actor_and_time() {
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    exec(&db, "UPDATE audit_log SET actor = 'system' WHERE seq = 2").await;
    assert_eq!(verify(&db, &KEY).await.unwrap().first_broken, Some(2));
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    let at = db
        .run(|conn| {
            Ok(audit_log::table
                .filter(audit_log::seq.eq(4))
                .select(audit_log::at)
                .first::<chrono::NaiveDateTime>(conn)?)
        })
        .await
        .unwrap();
    db.run(move |conn| {
        Ok(
            diesel::update(audit_log::table.filter(audit_log::seq.eq(4)))
                .set(audit_log::at.eq(at - chrono::Duration::hours(1)))
                .execute(conn)?,
        )
    })
    .await
    .unwrap();
    assert_eq!(verify(&db, &KEY).await.unwrap().first_broken, Some(4));
}

#[tokio::test]
async fn audit_verify_finds_a_deleted_row() {
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    assert_eq!(exec(&db, "DELETE FROM audit_log WHERE seq = 3").await, 1);
    let report = verify(&db, &KEY).await.unwrap();
    assert_eq!(report.first_broken, Some(3), "{report:?}");
    assert_eq!(report.entries, 2);
    assert!(report.reason.unwrap().contains("missing"));
}

#[tokio::test]
async fn audit_verify_finds_a_truncated_tail() {
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    assert_eq!(exec(&db, "DELETE FROM audit_log WHERE seq = 5").await, 1);
    let report = verify(&db, &KEY).await.unwrap();
    assert_eq!(report.first_broken, Some(5), "{report:?}");
}

#[tokio::test]
async fn audit_verify_finds_renumbered_and_reordered_rows() {
    // Delete 3 and renumber 4, 5 to close the gap.
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    exec(&db, "DELETE FROM audit_log WHERE seq = 3").await;
    exec(&db, "UPDATE audit_log SET seq = seq - 1 WHERE seq = 4").await;
    exec(&db, "UPDATE audit_log SET seq = seq - 1 WHERE seq = 5").await;
    exec(
        &db,
        "UPDATE meta SET value = '4:' || (SELECT mac FROM audit_log WHERE seq = 4) \
         WHERE name = 'audit_head'",
    )
    .await;
    let report = verify(&db, &KEY).await.unwrap();
    assert_eq!(report.first_broken, Some(3), "{report:?}");

    // Swap entries 2 and 3.
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    exec(&db, "UPDATE audit_log SET seq = 100 WHERE seq = 2").await;
    exec(&db, "UPDATE audit_log SET seq = 2 WHERE seq = 3").await;
    exec(&db, "UPDATE audit_log SET seq = 3 WHERE seq = 100").await;
    let report = verify(&db, &KEY).await.unwrap();
    assert_eq!(report.first_broken, Some(2), "{report:?}");
}

#[tokio::test]
async fn audit_verify_finds_a_tampered_head() {
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    exec(
        &db,
        "UPDATE meta SET value = '5:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' \
         WHERE name = 'audit_head'",
    )
    .await;
    let report = verify(&db, &KEY).await.unwrap();
    assert_eq!(report.first_broken, Some(5), "{report:?}");
    assert!(report.reason.unwrap().contains("head"));
    // A head that was rolled back leaves entries beyond it.
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    exec(
        &db,
        "UPDATE meta SET value = '3:' || (SELECT mac FROM audit_log WHERE seq = 3) \
         WHERE name = 'audit_head'",
    )
    .await;
    let report = verify(&db, &KEY).await.unwrap();
    assert_eq!(report.first_broken, Some(4), "{report:?}");
    // A deleted head.
    exec(&db, "DELETE FROM meta WHERE name = 'audit_head'").await;
    let report = verify(&db, &KEY).await.unwrap();
    assert_eq!(report.first_broken, Some(5), "{report:?}");
    // Appending refuses to fork the chain from a lost head.
    let err = record(&db, &KEY, t0(), &Actor::System, "x", None, json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Database(_)), "{err}");
    assert_eq!(list(&db, None, 100).await.unwrap().len(), 5);
    assert_eq!(db.run(read_head).await.unwrap(), None);
}

#[tokio::test]
async fn audit_verify_with_another_key_fails_at_the_first_entry() {
    let (_dir, db) = temp_db().await;
    record_five(&db).await;
    let report = verify(&db, &[7u8; 32]).await.unwrap();
    assert_eq!(report.first_broken, Some(1), "{report:?}");
    assert!(verify(&db, &KEY).await.unwrap().is_intact());
}

#[tokio::test]
async fn audit_verify_pages_through_a_long_log() {
    let (_dir, db) = temp_db().await;
    let t0 = t0();
    let n = VERIFY_PAGE * 2 + 5;
    for i in 0..n {
        record(&db, &KEY, t0, &Actor::System, "tick", None, json!(i))
            .await
            .unwrap();
    }
    let report = verify(&db, &KEY).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, n);
    exec(
        &db,
        "UPDATE audit_log SET detail = '\"x\"' WHERE seq = 1500",
    )
    .await;
    assert_eq!(verify(&db, &KEY).await.unwrap().first_broken, Some(1500));
}

#[tokio::test]
async fn audit_concurrent_sqlite_appends_stay_contiguous() {
    let (_dir, db) = temp_db().await;
    let mut tasks = Vec::new();
    for t in 0..4 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                record(
                    &db,
                    &KEY,
                    t0(),
                    &Actor::System,
                    "tick",
                    Some(&format!("{t}")),
                    json!(i),
                )
                .await
                .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let report = verify(&db, &KEY).await.unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.entries, 100);
}
