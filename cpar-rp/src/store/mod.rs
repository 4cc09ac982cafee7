//! CPAR's own SQLite database through diesel: sign-in attempts, sessions, sign-out states, panels
//! and patients. Single-use rows are claimed with one conditional statement whose affected-row
//! count (or returned row) decides; the one read-then-write transaction (demo seeding) begins with
//! `BEGIN IMMEDIATE`.

pub(crate) mod schema;

use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::Error;
use schema::{login_attempts, logout_states, logout_tokens, panels, patients, sessions};

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

    /// Keeps a new attempt, and drops attempts older than `purge_before`.
    pub(crate) async fn insert_attempt(
        &self,
        attempt: NewAttempt,
        purge_before: i64,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            diesel::delete(
                login_attempts::table.filter(login_attempts::created_at.lt(purge_before)),
            )
            .execute(c)?;
            diesel::insert_into(login_attempts::table)
                .values(&attempt)
                .execute(c)?;
            Ok(())
        })
        .await
    }

    /// Claims the attempt of this state started by this browser: deletes it and returns it. A
    /// second claim (a replay), another browser's state or an unknown state get `None`.
    pub(crate) async fn claim_attempt(
        &self,
        state_digest: String,
        browser_digest: String,
    ) -> Result<Option<Attempt>, StoreError> {
        self.run(move |c| {
            Ok(diesel::delete(
                login_attempts::table
                    .filter(login_attempts::state_digest.eq(state_digest))
                    .filter(login_attempts::browser_digest.eq(browser_digest)),
            )
            .returning((
                login_attempts::nonce,
                login_attempts::pkce_verifier,
                login_attempts::return_to,
                login_attempts::prompt_login,
                login_attempts::notice,
                login_attempts::created_at,
            ))
            .get_result::<Attempt>(c)
            .optional()?)
        })
        .await
    }

    // -- sessions -----------------------------------------------------------------------------

    /// Keeps a new session; removes the one it replaces (if any) and sessions not seen since
    /// `purge_before`.
    pub(crate) async fn insert_session(
        &self,
        row: SessionRow,
        replaces: Option<String>,
        purge_before: i64,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            if let Some(old) = replaces {
                diesel::delete(sessions::table.find(old)).execute(c)?;
            }
            diesel::delete(sessions::table.filter(sessions::last_seen_at.lt(purge_before)))
                .execute(c)?;
            diesel::insert_into(sessions::table)
                .values(&row)
                .execute(c)?;
            Ok(())
        })
        .await
    }

    /// Finds the session and applies the limits at `now`: a session past its absolute or idle
    /// limit is ended (with that reason) and reported as ended; a live one has `last_seen_at`
    /// moved to `now` by a conditional update (it cannot revive a session that another request
    /// has just ended) and its one-time notice cleared.
    pub(crate) async fn lookup_session(
        &self,
        id_digest: String,
        now: i64,
        idle_micros: i64,
        absolute_micros: i64,
    ) -> Result<SessionLookup, StoreError> {
        self.run(move |c| {
            let Some(row) = sessions::table
                .find(&id_digest)
                .first::<SessionRow>(c)
                .optional()?
            else {
                return Ok(SessionLookup::Unknown);
            };
            if row.ended_reason.is_some() {
                return Ok(SessionLookup::Ended(row));
            }
            let reason = if now.saturating_sub(row.created_at) >= absolute_micros {
                Some("absolute")
            } else if now.saturating_sub(row.last_seen_at) >= idle_micros {
                Some("idle")
            } else {
                None
            };
            if let Some(reason) = reason {
                diesel::update(
                    sessions::table
                        .find(&id_digest)
                        .filter(sessions::ended_reason.is_null()),
                )
                .set(sessions::ended_reason.eq(reason))
                .execute(c)?;
                let mut ended = row;
                ended.ended_reason = Some(reason.to_string());
                return Ok(SessionLookup::Ended(ended));
            }
            let touched = diesel::update(
                sessions::table
                    .find(&id_digest)
                    .filter(sessions::ended_reason.is_null())
                    .filter(sessions::created_at.gt(now.saturating_sub(absolute_micros)))
                    .filter(sessions::last_seen_at.gt(now.saturating_sub(idle_micros))),
            )
            .set((
                sessions::last_seen_at.eq(now.max(row.last_seen_at)),
                sessions::notice.eq(None::<String>),
            ))
            .execute(c)?;
            if touched == 1 {
                Ok(SessionLookup::Live(row))
            } else {
                Ok(SessionLookup::Unknown)
            }
        })
        .await
    }

    /// The session row as it is, live or ended, without touching it.
    pub(crate) async fn find_session(
        &self,
        id_digest: String,
    ) -> Result<Option<SessionRow>, StoreError> {
        self.run(move |c| {
            Ok(sessions::table
                .find(id_digest)
                .first::<SessionRow>(c)
                .optional()?)
        })
        .await
    }

    /// Deletes the session (sign-out); returns its ID token if this call deleted it.
    pub(crate) async fn delete_session(
        &self,
        id_digest: String,
    ) -> Result<Option<String>, StoreError> {
        self.run(move |c| {
            Ok(diesel::delete(sessions::table.find(id_digest))
                .returning(sessions::id_token)
                .get_result::<String>(c)
                .optional()?)
        })
        .await
    }

    /// Ends (with the reason `backchannel`) the live sessions a logout token names: those with
    /// its `sid` (and, when it has one too, its `sub`), or without a `sid` every session of its
    /// `sub`. Returns how many ended.
    pub(crate) async fn end_sessions_for_logout(
        &self,
        sid: Option<String>,
        sub: Option<String>,
    ) -> Result<usize, StoreError> {
        self.run(move |c| {
            let live = sessions::table.filter(sessions::ended_reason.is_null());
            let n = match (sid, sub) {
                (Some(sid), Some(sub)) => diesel::update(
                    live.filter(sessions::sid.eq(sid))
                        .filter(sessions::subject.eq(sub)),
                )
                .set(sessions::ended_reason.eq(BACKCHANNEL))
                .execute(c)?,
                (Some(sid), None) => diesel::update(live.filter(sessions::sid.eq(sid)))
                    .set(sessions::ended_reason.eq(BACKCHANNEL))
                    .execute(c)?,
                (None, Some(sub)) => diesel::update(live.filter(sessions::subject.eq(sub)))
                    .set(sessions::ended_reason.eq(BACKCHANNEL))
                    .execute(c)?,
                (None, None) => 0,
            };
            Ok(n)
        })
        .await
    }

    /// Claims a logout token's jti (its digest) until `expires_at`: false when it was already
    /// claimed (a replay). Forgets the claims that have expired.
    pub(crate) async fn claim_logout_token(
        &self,
        jti_digest: String,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, StoreError> {
        self.run(move |c| {
            diesel::delete(logout_tokens::table.filter(logout_tokens::expires_at.lt(now)))
                .execute(c)?;
            match diesel::insert_into(logout_tokens::table)
                .values((
                    logout_tokens::jti_digest.eq(jti_digest),
                    logout_tokens::expires_at.eq(expires_at),
                ))
                .execute(c)
            {
                Ok(_) => Ok(true),
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => Ok(false),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    // -- sign-out states ----------------------------------------------------------------------

    /// Keeps the state of a sign-out sent to the provider; drops states older than `purge_before`.
    pub(crate) async fn insert_logout_state(
        &self,
        state_digest: String,
        browser_digest: String,
        now: i64,
        purge_before: i64,
    ) -> Result<(), StoreError> {
        self.run(move |c| {
            diesel::delete(logout_states::table.filter(logout_states::created_at.lt(purge_before)))
                .execute(c)?;
            diesel::insert_into(logout_states::table)
                .values((
                    logout_states::state_digest.eq(state_digest),
                    logout_states::browser_digest.eq(browser_digest),
                    logout_states::created_at.eq(now),
                ))
                .execute(c)?;
            Ok(())
        })
        .await
    }

    /// Claims a sign-out state of this browser not older than `not_before`; true when it was
    /// there (and is now gone).
    pub(crate) async fn claim_logout_state(
        &self,
        state_digest: String,
        browser_digest: String,
        not_before: i64,
    ) -> Result<bool, StoreError> {
        self.run(move |c| {
            let n = diesel::delete(
                logout_states::table
                    .filter(logout_states::state_digest.eq(state_digest))
                    .filter(logout_states::browser_digest.eq(browser_digest))
                    .filter(logout_states::created_at.ge(not_before)),
            )
            .execute(c)?;
            Ok(n == 1)
        })
        .await
    }

    // -- panels -------------------------------------------------------------------------------

    /// The panels `username` administers, with their patient counts, by name.
    pub(crate) async fn panels_of(
        &self,
        username: String,
    ) -> Result<Vec<(PanelRow, i64)>, StoreError> {
        self.run(move |c| {
            let list = panels::table
                .filter(panels::administrator.eq(&username))
                .order((panels::name.asc(), panels::id.asc()))
                .select((panels::id, panels::name, panels::clinic))
                .load::<PanelRow>(c)?;
            let mut out = Vec::with_capacity(list.len());
            for p in list {
                let n: i64 = patients::table
                    .filter(patients::panel_id.eq(&p.id))
                    .count()
                    .get_result(c)?;
                out.push((p, n));
            }
            Ok(out)
        })
        .await
    }

    /// Panel `id` with its patients, if `username` administers it.
    pub(crate) async fn panel_for(
        &self,
        id: String,
        username: String,
    ) -> Result<Option<(PanelRow, Vec<PatientRow>)>, StoreError> {
        self.run(move |c| {
            let Some(panel) = panels::table
                .filter(panels::id.eq(&id))
                .filter(panels::administrator.eq(&username))
                .select((panels::id, panels::name, panels::clinic))
                .first::<PanelRow>(c)
                .optional()?
            else {
                return Ok(None);
            };
            let list = patients::table
                .filter(patients::panel_id.eq(&panel.id))
                .order((patients::family_name.asc(), patients::given_name.asc()))
                .select((
                    patients::family_name,
                    patients::given_name,
                    patients::birth_date,
                    patients::phn,
                    patients::attached_on,
                ))
                .load::<PatientRow>(c)?;
            Ok(Some((panel, list)))
        })
        .await
    }

    /// Seeds `panels` for `username` unless they already administer a panel; returns the ids of
    /// their panels either way. Read-then-write, so in one `BEGIN IMMEDIATE` transaction.
    pub(crate) async fn seed_panels(
        &self,
        username: String,
        seed: Vec<crate::demo::DemoPanel>,
    ) -> Result<Vec<String>, StoreError> {
        self.run(move |c| {
            let inner: &mut SqliteConnection = c;
            inner.immediate_transaction::<_, StoreError, _>(|c| {
                let existing = panels::table
                    .filter(panels::administrator.eq(&username))
                    .order((panels::name.asc(), panels::id.asc()))
                    .select(panels::id)
                    .load::<String>(c)?;
                if !existing.is_empty() {
                    return Ok(existing);
                }
                for p in &seed {
                    diesel::insert_into(panels::table)
                        .values((
                            panels::id.eq(&p.id),
                            panels::name.eq(&p.name),
                            panels::clinic.eq(&p.clinic),
                            panels::administrator.eq(&username),
                        ))
                        .execute(c)?;
                    for (n, pt) in p.patients.iter().enumerate() {
                        diesel::insert_into(patients::table)
                            .values((
                                patients::id.eq(format!("{}-{:03}", p.id, n + 1)),
                                patients::panel_id.eq(&p.id),
                                patients::family_name.eq(&pt.family_name),
                                patients::given_name.eq(&pt.given_name),
                                patients::birth_date.eq(&pt.birth_date),
                                patients::phn.eq(&pt.phn),
                                patients::attached_on.eq(&pt.attached_on),
                            ))
                            .execute(c)?;
                    }
                }
                Ok(panels::table
                    .filter(panels::administrator.eq(&username))
                    .order((panels::name.asc(), panels::id.asc()))
                    .select(panels::id)
                    .load::<String>(c)?)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60 * 1_000_000;

    async fn store() -> (Store, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sub/cpar.db")).await.unwrap();
        (store, dir)
    }

    fn attempt(state: &str, browser: &str, at: i64) -> NewAttempt {
        NewAttempt {
            state_digest: state.into(),
            browser_digest: browser.into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            return_to: "/panels/P1".into(),
            prompt_login: false,
            notice: None,
            created_at: at,
        }
    }

    fn session(id: &str, at: i64) -> SessionRow {
        SessionRow {
            id_digest: id.into(),
            subject: "sub".into(),
            username: "nakitt".into(),
            name: "Nancy Akitt".into(),
            email: "n@example.org".into(),
            roles: "cpar_panel_admin".into(),
            id_token: "h.p.s".into(),
            csrf: "c".into(),
            notice: Some("welcome back".into()),
            created_at: at,
            last_seen_at: at,
            ended_reason: None,
            sid: Some(format!("sid-{id}")),
        }
    }

    #[tokio::test]
    async fn backchannel_logout_2_7_ends_the_sessions_of_the_sid_and_refuses_a_replayed_jti() {
        let (s, _d) = store().await;
        for id in ["a", "b"] {
            s.insert_session(session(id, 0), None, -1).await.unwrap();
        }
        // A sid with another subject ends nothing.
        let n = s
            .end_sessions_for_logout(Some("sid-a".into()), Some("other".into()))
            .await
            .unwrap();
        assert_eq!(n, 0);
        let n = s
            .end_sessions_for_logout(Some("sid-a".into()), Some("sub".into()))
            .await
            .unwrap();
        assert_eq!(n, 1);
        let a = s.find_session("a".into()).await.unwrap().unwrap();
        assert_eq!(a.ended_reason.as_deref(), Some(BACKCHANNEL));
        let b = s.find_session("b".into()).await.unwrap().unwrap();
        assert!(b.ended_reason.is_none());
        // sub alone ends every session of the subject.
        let n = s
            .end_sessions_for_logout(None, Some("sub".into()))
            .await
            .unwrap();
        assert_eq!(n, 1);
        assert!(s.claim_logout_token("j".into(), 100, 0).await.unwrap());
        assert!(!s.claim_logout_token("j".into(), 100, 50).await.unwrap());
        // Once expired, the claim is forgotten.
        assert!(s.claim_logout_token("j".into(), 300, 200).await.unwrap());
    }

    #[tokio::test]
    async fn an_attempt_is_claimed_once_and_only_by_its_browser() {
        let (s, _d) = store().await;
        s.insert_attempt(attempt("st", "b1", 0), -1).await.unwrap();
        assert!(
            s.claim_attempt("st".into(), "b2".into())
                .await
                .unwrap()
                .is_none()
        );
        let a = s.claim_attempt("st".into(), "b1".into()).await.unwrap();
        assert_eq!(a.unwrap().return_to, "/panels/P1");
        assert!(
            s.claim_attempt("st".into(), "b1".into())
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn concurrent_claims_let_exactly_one_through() {
        let (s, _d) = store().await;
        s.insert_attempt(attempt("st", "b", 0), -1).await.unwrap();
        let tries: Vec<_> = (0..8)
            .map(|_| {
                let s = s.clone();
                tokio::spawn(async move { s.claim_attempt("st".into(), "b".into()).await })
            })
            .collect();
        let mut won = 0;
        for t in tries {
            if t.await.unwrap().unwrap().is_some() {
                won += 1;
            }
        }
        assert_eq!(won, 1);
    }

    #[tokio::test]
    async fn old_attempts_are_purged() {
        let (s, _d) = store().await;
        s.insert_attempt(attempt("old", "b", 0), -1).await.unwrap();
        s.insert_attempt(attempt("new", "b", 100 * MIN), 60 * MIN)
            .await
            .unwrap();
        assert!(
            s.claim_attempt("old".into(), "b".into())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.claim_attempt("new".into(), "b".into())
                .await
                .unwrap()
                .is_some()
        );
    }

    #[tokio::test]
    async fn sessions_end_when_idle_and_at_the_absolute_limit() {
        let (s, _d) = store().await;
        let (idle, absolute) = (15 * MIN, 60 * MIN);
        s.insert_session(session("a", 0), None, -1).await.unwrap();
        // Used every 14 minutes: live, and the notice is shown once.
        match s
            .lookup_session("a".into(), 14 * MIN, idle, absolute)
            .await
            .unwrap()
        {
            SessionLookup::Live(r) => assert_eq!(r.notice.as_deref(), Some("welcome back")),
            _ => panic!("live"),
        }
        match s
            .lookup_session("a".into(), 28 * MIN, idle, absolute)
            .await
            .unwrap()
        {
            SessionLookup::Live(r) => assert_eq!(r.notice, None),
            _ => panic!("live"),
        }
        for t in [42, 56] {
            assert!(matches!(
                s.lookup_session("a".into(), t * MIN, idle, absolute)
                    .await
                    .unwrap(),
                SessionLookup::Live(_)
            ));
        }
        match s
            .lookup_session("a".into(), 60 * MIN, idle, absolute)
            .await
            .unwrap()
        {
            SessionLookup::Ended(r) => assert_eq!(r.ended_reason.as_deref(), Some("absolute")),
            _ => panic!("ended"),
        }
        // Ended stays ended, and keeps its ID token for the logout hint.
        match s
            .lookup_session("a".into(), 61 * MIN, idle, absolute)
            .await
            .unwrap()
        {
            SessionLookup::Ended(r) => assert_eq!(r.id_token, "h.p.s"),
            _ => panic!("ended"),
        }

        s.insert_session(session("b", 0), None, -1).await.unwrap();
        match s
            .lookup_session("b".into(), 15 * MIN, idle, absolute)
            .await
            .unwrap()
        {
            SessionLookup::Ended(r) => assert_eq!(r.ended_reason.as_deref(), Some("idle")),
            _ => panic!("ended"),
        }
        assert!(matches!(
            s.lookup_session("none".into(), 0, idle, absolute)
                .await
                .unwrap(),
            SessionLookup::Unknown
        ));
        // A new session replaces the old one; sign-out deletes it once.
        s.insert_session(session("c", 70 * MIN), Some("b".into()), -1)
            .await
            .unwrap();
        assert!(s.find_session("b".into()).await.unwrap().is_none());
        assert_eq!(
            s.delete_session("c".into()).await.unwrap().as_deref(),
            Some("h.p.s")
        );
        assert!(s.delete_session("c".into()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_logout_state_is_claimed_once_by_its_browser_while_fresh() {
        let (s, _d) = store().await;
        s.insert_logout_state("st".into(), "b".into(), 10, 0)
            .await
            .unwrap();
        assert!(
            !s.claim_logout_state("st".into(), "x".into(), 0)
                .await
                .unwrap()
        );
        assert!(
            !s.claim_logout_state("st".into(), "b".into(), 11)
                .await
                .unwrap()
        );
        assert!(
            s.claim_logout_state("st".into(), "b".into(), 0)
                .await
                .unwrap()
        );
        assert!(
            !s.claim_logout_state("st".into(), "b".into(), 0)
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn demo_panels_are_seeded_once_per_administrator() {
        let (s, _d) = store().await;
        let first = s
            .seed_panels("nakitt".into(), crate::demo::panels())
            .await
            .unwrap();
        assert_eq!(first.len(), 3);
        let again = s
            .seed_panels("nakitt".into(), crate::demo::panels())
            .await
            .unwrap();
        assert_eq!(first, again);
        let listed = s.panels_of("nakitt".into()).await.unwrap();
        assert_eq!(listed.len(), 3);
        assert_eq!(listed[0].0.name, "Demo Panel A (fictitious)");
        assert_eq!(listed[0].1, 4);
        let (panel, patients) = s
            .panel_for(first[0].clone(), "nakitt".into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(panel.id, first[0]);
        assert!(patients.iter().all(|p| p.phn.starts_with("00000-")));
        assert!(
            s.panel_for(first[0].clone(), "someone.else".into())
                .await
                .unwrap()
                .is_none()
        );
    }
}
