//! The same provider on PostgreSQL, as two replicas behind one issuer.
//!
//! ```text
//! createdb -h 127.0.0.1 -U postgres iam_example
//! DATABASE_URL=postgres://postgres@127.0.0.1:5432/iam_example cargo run -p example-postgres
//! ```
//!
//! serves the issuer <http://127.0.0.1:3003>, whose requests a round-robin balancer hands to
//! two replicas in turn, so that every sign-in crosses both. (`DATABASE_URL` defaults to the URL
//! above; a `sqlite://` URL works as well, for one machine.)
//!
//! What makes replicas interchangeable is in the code below, and nothing else:
//! - the **same configuration** on each: the issuer (what clients see, not the replica's own
//!   address) and the key-encryption key (`EXAMPLE_KEK`, base64 of 32 bytes: `openssl rand
//!   -base64 32`), which opens the signing keys and token seeds they share;
//! - the **same database**: sessions, sign-in journeys, codes, refresh tokens, throttle
//!   counters, keys and the audit log all live there. Migrations and first-start key
//!   generation take an advisory lock, so replicas may start together.
//!
//! In production each replica is its own process (`oidc-server serve`, or your binary) and the
//! balancer is your load balancer (list it in `trusted_proxies` so that the client address
//! comes from `Forwarded`); here both replicas run in one process so that the example is one
//! command.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use base64::Engine;
use oidc_core::{Error, Provider, ProviderConfig};
use tower::ServiceExt;

/// The key-encryption key: `EXAMPLE_KEK` (base64 of 32 bytes), else a fixed example key that
/// only a loopback issuer may use in earnest.
pub fn key_encryption_key() -> Result<[u8; 32], Error> {
    let Ok(b64) = std::env::var("EXAMPLE_KEK") else {
        return Ok(*b"example key, never use in prod!!");
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| Error::Config(format!("EXAMPLE_KEK: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| Error::Config("EXAMPLE_KEK: 32 bytes, base64".into()))
}

/// One replica: the shared configuration over the shared database.
pub async fn replica(issuer: &str, database_url: &str, kek: [u8; 32]) -> Result<Provider, Error> {
    let config = ProviderConfig::builder(issuer)
        .key_encryption_key(kek)
        .build()?;
    Provider::builder(config, database_url).build().await
}

/// The stand-in load balancer: each request goes to the next replica in turn. Returns the
/// router and how many requests each replica served.
pub fn balancer(replicas: &[Provider]) -> (Router, Arc<Vec<AtomicUsize>>) {
    let routers: Arc<Vec<Router>> = Arc::new(replicas.iter().map(Provider::router).collect());
    let served: Arc<Vec<AtomicUsize>> =
        Arc::new(routers.iter().map(|_| AtomicUsize::new(0)).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let counts = served.clone();
    let app = Router::new().fallback(move |req: Request| {
        let (routers, served, next) = (routers.clone(), served.clone(), next.clone());
        async move {
            let i = next.fetch_add(1, Ordering::Relaxed) % routers.len();
            served[i].fetch_add(1, Ordering::Relaxed);
            let Some(router) = routers.get(i).cloned() else {
                return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
            };
            match router.oneshot(req).await {
                Ok(res) => res,
                Err(never) => match never {},
            }
        }
    });
    (app, counts)
}
