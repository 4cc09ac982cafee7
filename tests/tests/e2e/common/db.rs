//! Plain SQL against the test's database, for assertions about rows: a new connection (SQLite or
//! PostgreSQL by the URL's scheme) per query, so that it never competes with the provider's pool
//! for long.

use chrono::NaiveDateTime;
use diesel::sql_types::{BigInt, Text, Timestamp};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};

/// A value bound to a `?` placeholder.
#[derive(Debug, Clone)]
pub enum Bind {
    Text(String),
    /// Naive UTC, as the provider stores times.
    Time(NaiveDateTime),
}

impl From<&str> for Bind {
    fn from(s: &str) -> Bind {
        Bind::Text(s.to_string())
    }
}

impl From<String> for Bind {
    fn from(s: String) -> Bind {
        Bind::Text(s)
    }
}

impl From<NaiveDateTime> for Bind {
    fn from(t: NaiveDateTime) -> Bind {
        Bind::Time(t)
    }
}

impl From<chrono::DateTime<chrono::Utc>> for Bind {
    fn from(t: chrono::DateTime<chrono::Utc>) -> Bind {
        Bind::Time(t.naive_utc())
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// `sql` with PostgreSQL's numbered placeholders for `?`.
fn numbered(sql: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! run_count {
    ($conn:expr, $backend:ty, $sql:expr, $binds:expr) => {{
        let mut q = diesel::sql_query($sql).into_boxed::<$backend>();
        for b in $binds {
            q = match b {
                Bind::Text(s) => q.bind::<Text, _>(s.clone()),
                Bind::Time(t) => q.bind::<Timestamp, _>(*t),
            };
        }
        q.get_result::<Count>($conn)
    }};
}

/// Runs `sql`, a query whose one column is a count named `n` (`SELECT COUNT(*) AS n ...`), with
/// `?` placeholders bound to `binds` in order, against the database at `url`.
pub fn count(url: &str, sql: &str, binds: &[Bind]) -> i64 {
    let counted = match url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut conn = SqliteConnection::establish(path).expect("SQLite connection");
            run_count!(&mut conn, diesel::sqlite::Sqlite, sql, binds)
        }
        None => {
            let mut conn = PgConnection::establish(url).expect("PostgreSQL connection");
            run_count!(&mut conn, diesel::pg::Pg, numbered(sql), binds)
        }
    };
    counted
        .unwrap_or_else(|e| panic!("{sql} with {binds:?}: {e}"))
        .n
}

/// [`count`] on the blocking pool, for async tests.
pub async fn count_async(url: &str, sql: &str, binds: Vec<Bind>) -> i64 {
    let (url, sql) = (url.to_string(), sql.to_string());
    tokio::task::spawn_blocking(move || count(&url, &sql, &binds))
        .await
        .expect("count task")
}
