//! The history rule: the account's current and previous passwords, kept as argon2 hashes.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::normalize;
use crate::accounts::password;
use crate::error::Error;
use crate::store::models::PasswordHistoryRow;
use crate::store::schema::{password_history, users};
use crate::store::{Db, DbConnection, naive, new_id};

/// Is `password` (normalised here) the account's current password or one of its last `history`
/// previous ones? Verifies against the current `users.password_hash` and the newest `history`
/// rows of `password_history` (argon2, about 20 ms each, on the blocking pool). `history` 0 turns
/// the rule off.
///
/// A hash made before passwords were normalised is also tried with the password as typed, when
/// that differs from its normalised form.
pub(crate) async fn in_history(
    db: &Db,
    user_id: &str,
    password: &str,
    history: usize,
) -> Result<bool, Error> {
    if history == 0 {
        return Ok(false);
    }
    let id = user_id.to_string();
    let limit = i64::try_from(history).unwrap_or(i64::MAX);
    let hashes = db
        .run(move |conn| {
            let current: Option<String> = users::table
                .find(&id)
                .select(users::password_hash)
                .first::<Option<String>>(conn)
                .optional()?
                .flatten();
            let past: Vec<String> = password_history::table
                .filter(password_history::user_id.eq(&id))
                .order((
                    password_history::created_at.desc(),
                    password_history::id.desc(),
                ))
                .limit(limit)
                .select(password_history::password_hash)
                .load(conn)?;
            let mut hashes: Vec<String> = Vec::with_capacity(past.len() + 1);
            for h in current.into_iter().chain(past) {
                if !hashes.contains(&h) {
                    hashes.push(h);
                }
            }
            Ok(hashes)
        })
        .await?;
    let normalized = normalize(password);
    let mut candidates = vec![normalized.clone()];
    if normalized != password {
        candidates.push(password.to_string());
    }
    for hash in hashes {
        for candidate in &candidates {
            if password::verify(&crate::Secret::new(candidate.clone()), Some(hash.clone())).await? {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Remembers `password_hash` (the hash of the normalised password just set) for the account, and
/// forgets all but the newest `history` remembered hashes (all of them when `history` is 0),
/// inside the transaction that stores the new `users.password_hash`.
pub(crate) fn remember_in(
    conn: &mut DbConnection,
    user_id: &str,
    password_hash: &str,
    now: DateTime<Utc>,
    history: usize,
) -> Result<(), Error> {
    if history > 0 {
        diesel::insert_into(password_history::table)
            .values(&PasswordHistoryRow {
                id: new_id(),
                user_id: user_id.to_string(),
                password_hash: password_hash.to_string(),
                created_at: naive(now),
            })
            .execute(conn)?;
    }
    let ids: Vec<String> = password_history::table
        .filter(password_history::user_id.eq(user_id))
        .order((
            password_history::created_at.desc(),
            password_history::id.desc(),
        ))
        .select(password_history::id)
        .load(conn)?;
    let stale: Vec<String> = ids.into_iter().skip(history).collect();
    if !stale.is_empty() {
        diesel::delete(password_history::table.filter(password_history::id.eq_any(&stale)))
            .execute(conn)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::PasswordPolicy;
    use super::*;

    async fn remember(
        db: &Db,
        user_id: &str,
        hash: &str,
        at: DateTime<Utc>,
        history: usize,
    ) -> Result<(), Error> {
        let (u, h) = (user_id.to_string(), hash.to_string());
        db.write(move |conn| remember_in(conn, &u, &h, at, history))
            .await
    }

    async fn temp_db() -> (tempfile::TempDir, Db, String) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("policy.db").display());
        let db = Db::open(&url).await.unwrap();
        let user = crate::accounts::create(
            &db,
            &PasswordPolicy::default(),
            crate::accounts::NewUser {
                username: "nakitt".into(),
                email: "nancy.akitt@example.org".into(),
                name: Some("Nancy Akitt".into()),
                roles: vec![],
                password: None,
            },
            chrono::DateTime::UNIX_EPOCH,
        )
        .await
        .unwrap();
        (dir, db, user.id)
    }

    async fn history_count(db: &Db, user_id: &str) -> i64 {
        let id = user_id.to_string();
        db.run(move |conn| {
            Ok(password_history::table
                .filter(password_history::user_id.eq(id))
                .count()
                .get_result::<i64>(conn)?)
        })
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn history_remembers_the_newest_five_and_forgets_the_oldest() {
        let (_dir, db, user_id) = temp_db().await;
        let start = chrono::DateTime::UNIX_EPOCH + chrono::Duration::days(20_000);
        let passwords: Vec<String> = (0..6).map(|i| format!("pass phrase number {i}")).collect();
        for (i, pw) in passwords.iter().enumerate() {
            let hash = password::hash(&crate::Secret::new(normalize(pw)))
                .await
                .unwrap();
            let at = start + chrono::Duration::days(i64::try_from(i).unwrap());
            remember(&db, &user_id, &hash, at, 5).await.unwrap();
        }
        assert_eq!(history_count(&db, &user_id).await, 5);
        assert!(!in_history(&db, &user_id, &passwords[0], 5).await.unwrap());
        for pw in &passwords[1..] {
            assert!(in_history(&db, &user_id, pw, 5).await.unwrap(), "{pw}");
        }
        assert!(
            !in_history(&db, &user_id, "never used before", 5)
                .await
                .unwrap()
        );
        // A smaller window looks at the newest only.
        assert!(in_history(&db, &user_id, &passwords[5], 1).await.unwrap());
        assert!(!in_history(&db, &user_id, &passwords[4], 1).await.unwrap());
        // History 0 turns the rule off.
        assert!(!in_history(&db, &user_id, &passwords[5], 0).await.unwrap());
        // Another account's history is its own.
        assert!(
            !in_history(&db, "someone-else", &passwords[5], 5)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn history_checks_the_current_password_and_normalises() {
        let (_dir, db, user_id) = temp_db().await;
        // The current hash is of the normalised form; a full-width variant matches it.
        let current = password::hash(&crate::Secret::new(normalize("ＣＵＲＲＥＮＴ pass phrase")))
            .await
            .unwrap();
        let (id, h) = (user_id.clone(), current.clone());
        db.run(move |conn| {
            diesel::update(users::table.find(id))
                .set(users::password_hash.eq(Some(h)))
                .execute(conn)?;
            Ok(())
        })
        .await
        .unwrap();
        assert!(
            in_history(&db, &user_id, "CURRENT pass phrase", 5)
                .await
                .unwrap()
        );
        assert!(
            in_history(&db, &user_id, "ＣＵＲＲＥＮＴ pass phrase", 5)
                .await
                .unwrap()
        );
        assert!(
            !in_history(&db, &user_id, "current pass phrase", 5)
                .await
                .unwrap()
        );
        // Forgetting everything (history 0) empties the table for the account.
        remember(&db, &user_id, &current, chrono::DateTime::UNIX_EPOCH, 5)
            .await
            .unwrap();
        assert_eq!(history_count(&db, &user_id).await, 1);
        remember(&db, &user_id, &current, chrono::DateTime::UNIX_EPOCH, 0)
            .await
            .unwrap();
        assert_eq!(history_count(&db, &user_id).await, 0);
    }
}
