//! `serve` and `purge`: running the provider and its housekeeping.

use oidc_core::Provider;

use super::{CliError, print, serve_on};

pub(super) async fn purge(provider: &Provider, json_out: bool) -> Result<(), CliError> {
    let report = provider.purge_expired().await?;
    let text = report
        .deleted
        .iter()
        .map(|(table, n)| format!("{table}\t{n}"))
        .collect::<Vec<_>>()
        .join("\n");
    print(
        json_out,
        serde_json::to_value(&report).unwrap_or_default(),
        text,
    )
}

pub(super) async fn serve(
    provider: Provider,
    bind: &str,
    metrics_bind: Option<&str>,
) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| CliError::Io(format!("cannot listen on {bind}: {e}")))?;
    if let Some(metrics_bind) = metrics_bind {
        let metrics = tokio::net::TcpListener::bind(metrics_bind)
            .await
            .map_err(|e| CliError::Io(format!("cannot listen on {metrics_bind}: {e}")))?;
        tracing::info!(metrics_bind, "Prometheus metrics at /metrics");
        let router = provider.metrics_router();
        // Scrapes need no graceful end: the task stops with the process.
        tokio::spawn(async move {
            if let Err(e) = axum::serve(metrics, router).await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    tracing::info!(
        issuer = provider.config().issuer(),
        bind,
        "AHS IAM is listening"
    );
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown_signal().await;
        let _ = stopping_tx.send(());
    };
    // Requests in flight get SHUTDOWN_GRACE to finish; a stuck one must not keep a replica from
    // exiting (the orchestrator would kill it less politely).
    let deadline = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        r = serve_on(&provider, listener, signal) => r,
        () = deadline => {
            tracing::warn!(
                grace_secs = SHUTDOWN_GRACE.as_secs(),
                "requests still in flight after the shutdown grace period: exiting"
            );
            Ok(())
        }
    }
}

/// How long `serve` waits for requests in flight after SIGTERM or Ctrl-C.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}
