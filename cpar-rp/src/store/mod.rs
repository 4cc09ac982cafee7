//! CPAR's own SQLite database through diesel: sign-in attempts, sessions, sign-out states, panels
//! and patients. Single-use rows are claimed with one conditional statement whose affected-row
//! count (or returned row) decides; the one read-then-write transaction (demo seeding) begins with
//! `BEGIN IMMEDIATE`.

mod panel_rows;
pub(crate) mod schema;
mod sign_in;

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::Error;
use schema::{login_attempts, sessions};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

type Conn = PooledConnection<ConnectionManager<SqliteConnection>>;

/// A database failure inside request handling (logged, never shown).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct StoreError(String);

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        StoreError(e.to_string())
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        Error::Database(e.0)
    }
}

/// SQLite pragmas for every pooled connection.
#[derive(Debug)]
struct Pragmas;

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for Pragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )
        .map_err(diesel::r2d2::Error::QueryError)
    }
}

/// The pooled database.
#[derive(Clone)]
pub(crate) struct Store {
    pool: Pool<ConnectionManager<SqliteConnection>>,
}

/// A sign-in attempt to keep.
#[derive(Insertable)]
#[diesel(table_name = login_attempts)]
pub(crate) struct NewAttempt {
    pub state_digest: String,
    pub browser_digest: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    pub prompt_login: bool,
    pub notice: Option<String>,
    pub created_at: i64,
}

/// A claimed sign-in attempt.
#[derive(Queryable)]
pub(crate) struct Attempt {
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    pub prompt_login: bool,
    pub notice: Option<String>,
    pub created_at: i64,
}

/// A session row.
#[derive(Queryable, Insertable, Clone)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionRow {
    pub id_digest: String,
    pub subject: String,
    pub username: String,
    pub name: String,
    pub email: String,
    pub roles: String,
    pub id_token: String,
    pub csrf: String,
    pub notice: Option<String>,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub ended_reason: Option<String>,
    /// The `sid` of the AHS IAM session behind it (from the ID token), for back-channel logout.
    pub sid: Option<String>,
}

/// A panel as listed.
#[derive(Queryable, Debug, Clone)]
pub(crate) struct PanelRow {
    pub id: String,
    pub name: String,
    pub clinic: String,
}

/// A patient attached to a panel.
#[derive(Queryable, Debug, Clone)]
pub(crate) struct PatientRow {
    pub family_name: String,
    pub given_name: String,
    pub birth_date: String,
    pub phn: String,
    pub attached_on: String,
}

/// The `ended_reason` of a session ended by a logout token from AHS IAM.
pub(crate) const BACKCHANNEL: &str = "backchannel";

/// What the session cookie names.
pub(crate) enum SessionLookup {
    /// A live session, just touched.
    Live(SessionRow),
    /// A session that has ended (idle, absolute), or that this call just ended.
    Ended(SessionRow),
    /// No such session (never existed, signed out, or purged).
    Unknown,
}

impl Store {
    /// Opens (creating if needed) the SQLite file and runs the pending migrations.
    pub(crate) async fn open(path: &Path) -> Result<Store, Error> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::Database(format!("cannot create the folder {}: {e}", dir.display()))
            })?;
        }
        let url = path
            .to_str()
            .ok_or_else(|| Error::Database("the database path is not UTF-8".into()))?
            .to_string();
        let manager = ConnectionManager::<SqliteConnection>::new(url);
        let pool = tokio::task::spawn_blocking(move || {
            let pool = Pool::builder()
                .max_size(8)
                .connection_customizer(Box::new(Pragmas))
                .build(manager)
                .map_err(|e| Error::Database(format!("cannot open the database: {e}")))?;
            let mut conn = pool
                .get()
                .map_err(|e| Error::Database(format!("cannot open the database: {e}")))?;
            conn.run_pending_migrations(MIGRATIONS)
                .map_err(|e| Error::Database(format!("migrations failed: {e}")))?;
            Ok::<_, Error>(pool)
        })
        .await
        .map_err(|e| Error::Database(format!("the database task failed: {e}")))??;
        Ok(Store { pool })
    }

    /// Runs `f` with a pooled connection on tokio's blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Conn) -> Result<T, StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().map_err(|e| StoreError(e.to_string()))?;
            f(&mut conn)
        })
        .await
        .map_err(|e| StoreError(format!("database task failed: {e}")))?
    }

    // -- sign-in attempts ---------------------------------------------------------------------
}

#[cfg(test)]
mod tests;
