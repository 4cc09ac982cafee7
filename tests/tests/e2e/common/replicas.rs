//! Several providers (replicas) over one database, each serving on its own port with the same
//! issuer, and a clock they share.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use oidc_core::{Clock, Provider, ProviderConfig, ProviderConfigBuilder, SystemClock};

/// A clock shared by the replicas of a test.
pub struct SharedClock {
    pub base: DateTime<Utc>,
    pub offset: AtomicI64,
}

impl Clock for SharedClock {
    fn now(&self) -> DateTime<Utc> {
        self.base + chrono::Duration::seconds(self.offset.load(Ordering::SeqCst))
    }
}

/// One database for several providers: SQLite in a temporary directory, or a fresh PostgreSQL
/// database when `TEST_DATABASE_URL` is set (dropped at the end).
pub struct SharedDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl SharedDb {
    pub fn create() -> SharedDb {
        match std::env::var("TEST_DATABASE_URL") {
            Ok(admin) if !admin.trim().is_empty() => {
                let name = format!("e2e_keys_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::establish(&admin).unwrap();
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut conn)
                    .unwrap();
                let mut url = url::Url::parse(&admin).unwrap();
                url.set_path(&format!("/{name}"));
                SharedDb {
                    url: url.to_string(),
                    _dir: None,
                    pg: Some((admin, name)),
                }
            }
            _ => {
                let dir = tempfile::tempdir().unwrap();
                SharedDb {
                    url: format!("sqlite://{}", dir.path().join("iam.db").display()),
                    _dir: Some(dir),
                    pg: None,
                }
            }
        }
    }
}

impl Drop for SharedDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.pg
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut conn);
        }
    }
}

/// A replica: a provider over the shared database, serving on its own port.
pub struct Replica {
    pub provider: Provider,
    pub base: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn replica(
    issuer: &str,
    db: &SharedDb,
    clock: Arc<SharedClock>,
    background: bool,
    configure: impl FnOnce(ProviderConfigBuilder) -> ProviderConfigBuilder,
) -> Replica {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let config = configure(ProviderConfig::builder(issuer)).build().unwrap();
    let provider = Provider::builder(config, db.url.clone())
        .clock(clock)
        .background_tasks(background)
        .build()
        .await
        .unwrap();
    let app = provider.router();
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await;
    });
    Replica {
        provider,
        base,
        task,
    }
}

pub fn shared_clock() -> Arc<SharedClock> {
    Arc::new(SharedClock {
        base: SystemClock.now(),
        offset: AtomicI64::new(0),
    })
}
