//! A database outage: requests that need the database answer 503 with `Retry-After` (a page for
//! people, JSON for clients), nothing is half-written, and the provider recovers by itself when
//! the database returns. PostgreSQL only (the outage is a network cut): the test puts its own TCP
//! proxy between the provider and the machine's PostgreSQL and cuts it, so the shared cluster is
//! never touched. On SQLite (no TEST_DATABASE_URL) it says so and passes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::common::*;
use reqwest::StatusCode;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// A TCP proxy that can be cut (every open connection dropped, new ones closed at once) and
/// restored.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    pipes: Arc<Mutex<Vec<JoinHandle<()>>>>,
    _accept: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let pipes: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, pipes2) = (up.clone(), pipes.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let target = target.clone();
                let pipe = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                pipes2.lock().await.push(pipe);
            }
        });
        Proxy {
            port,
            up,
            pipes,
            _accept: accept,
        }
    }

    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for p in self.pipes.lock().await.drain(..) {
            p.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_database_outage_answers_503_with_retry_after_and_the_provider_recovers() {
    let Some(admin) = std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    else {
        eprintln!("the outage test needs TEST_DATABASE_URL=postgres://…; skipped on SQLite");
        return;
    };
    let pg = url::Url::parse(&admin).unwrap();
    let target = format!("{}:{}", pg.host_str().unwrap(), pg.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    let port = proxy.port;
    let server = TestServer::start_full(
        |c| c,
        Vec::new(),
        move |url| {
            let mut u = url::Url::parse(&url).unwrap();
            u.set_host(Some("127.0.0.1")).unwrap();
            u.set_port(Some(port)).unwrap();
            u.to_string()
        },
    )
    .await;
    let http = browser();
    assert_eq!(
        http.get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let code = server.code_for_default_request(&http).await;

    proxy.cut().await;
    // Liveness stays up; readiness says the database is gone.
    assert_eq!(
        http.get(server.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(ready.headers()["retry-after"], "5");
    // A person gets a page that says what to do.
    let page = http
        .get(server.authorize_url(&server.authorize_params()))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(page.headers()["retry-after"], "5");
    let body = page.text().await.unwrap();
    assert!(
        body.contains("The service is briefly unavailable"),
        "{body}"
    );
    // A client gets JSON, and the code is not spent.
    let token = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(
        token.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{:?}",
        token.json
    );
    assert_eq!(token.json["error"], "temporarily_unavailable");
    assert_eq!(token.header("retry-after"), Some("5"));
    // Discovery and JWKS need no database.
    assert_eq!(
        http.get(server.url("/jwks")).send().await.unwrap().status(),
        StatusCode::OK
    );

    proxy.restore();
    let mut ready = false;
    for _ in 0..40 {
        if http
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status()
            == StatusCode::OK
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert!(ready, "the provider recovers by itself");
    // The code refused during the outage still works: nothing was half-written.
    let token = server.redeem(&http, &code, PKCE_VERIFIER).await;
    assert_eq!(token.status, StatusCode::OK, "{:?}", token.json);
    // And a new sign-in works end to end.
    let again = server.code_for_default_request(&browser()).await;
    assert_eq!(
        server.redeem(&http, &again, PKCE_VERIFIER).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn healthz_and_readyz_answer_when_all_is_well() {
    let server = TestServer::start().await;
    for (path, body) in [("/healthz", "ok\n"), ("/readyz", "ready\n")] {
        let res = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_eq!(
            id.len(),
            32,
            "every response names its request for the logs"
        );
        assert_eq!(res.text().await.unwrap(), body);
    }
}
