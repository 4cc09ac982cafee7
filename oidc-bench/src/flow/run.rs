//! The flow modes and the timed loop that runs one of them on every worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Worker;
use crate::ctx::Ctx;
use crate::stats::{ModeReport, TaskStats};

/// Which flow.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FlowMode {
    Code,
    CodeFull,
    Refresh,
}

impl FlowMode {
    pub fn name(self) -> &'static str {
        match self {
            FlowMode::Code => "code",
            FlowMode::CodeFull => "code-full",
            FlowMode::Refresh => "refresh",
        }
    }
}

/// Runs one flow mode on `workers` (given back afterwards, with their sessions).
pub async fn run(ctx: Arc<Ctx>, mode: FlowMode, workers: Vec<Worker>) -> (ModeReport, Vec<Worker>) {
    let n = workers.len();
    let unit = if mode == FlowMode::Refresh {
        "req/s"
    } else {
        "flows/s"
    };
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let mut handles = Vec::with_capacity(n);
    for mut w in workers {
        let (ctx, barrier) = (ctx.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            let mut stats = TaskStats::default();
            let setup_started = Instant::now();
            let setup = match mode {
                FlowMode::Code => w.ensure_session(&ctx).await,
                FlowMode::CodeFull => Ok(()),
                FlowMode::Refresh => w.acquire_refresh_token(&ctx).await,
            };
            let setup_time = setup_started.elapsed();
            let setup_forms = w.last_forms;
            barrier.wait().await;
            let start = Instant::now();
            if let Err(e) = setup {
                stats.error(format!("setup: {}", e.kind), e.detail);
                return (w, stats, start, Instant::now(), setup_time, setup_forms);
            }
            let requests_before = w.http_requests;
            let deadline = start + ctx.duration;
            let mut consecutive_errors = 0u32;
            while Instant::now() < deadline {
                let t0 = Instant::now();
                let r = match mode {
                    FlowMode::Code => w
                        .code_flow(&ctx, &ctx.scope, &[&ctx.extra_params], false)
                        .await
                        .map(|_| ()),
                    FlowMode::CodeFull => {
                        w.jar.clear();
                        w.code_flow(&ctx, &ctx.scope, &[&ctx.extra_params], true)
                            .await
                            .map(|_| ())
                    }
                    FlowMode::Refresh => w.refresh(&ctx).await,
                };
                match r {
                    Ok(()) => {
                        consecutive_errors = 0;
                        stats.success(t0.elapsed());
                    }
                    Err(e) => {
                        consecutive_errors += 1;
                        let refused = e.kind.contains("invalid_grant");
                        let refused_connection = e.kind == "connect";
                        stats.error(e.kind, e.detail);
                        if consecutive_errors > 100 {
                            stats.error("worker gave up", "over 100 errors in a row");
                            break;
                        }
                        if mode == FlowMode::Refresh && refused {
                            // The chain is dead (a lost rotation, a revoked grant): start another
                            // one. Not counted as an operation; its time is in the run.
                            if let Err(e) = w.acquire_refresh_token(&ctx).await {
                                stats.error(format!("re-acquire: {}", e.kind), e.detail);
                                break;
                            }
                        }
                        if refused_connection {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            }
            stats.http_requests = w.http_requests - requests_before;
            (w, stats, start, Instant::now(), setup_time, setup_forms)
        }));
    }
    let mut total = TaskStats::default();
    let mut back = Vec::with_capacity(n);
    let (mut first_start, mut last_end): (Option<Instant>, Option<Instant>) = (None, None);
    let mut setup_max = Duration::ZERO;
    let mut forms = 0;
    for h in handles {
        match h.await {
            Ok((w, s, start, end, setup_time, setup_forms)) => {
                total.merge(s);
                first_start = Some(first_start.map_or(start, |f| f.min(start)));
                last_end = Some(last_end.map_or(end, |l| l.max(end)));
                setup_max = setup_max.max(setup_time);
                forms = forms.max(setup_forms);
                back.push(w);
            }
            Err(e) => total.error("task", e.to_string()),
        }
    }
    back.sort_by_key(|w| w.index);
    let elapsed = match (first_start, last_end) {
        (Some(s), Some(e)) => e.duration_since(s),
        _ => ctx.duration,
    };
    let mut notes = Vec::new();
    match mode {
        FlowMode::Refresh => notes.push(format!(
            "each worker got its refresh token before the clock started ({:.2} s at most, {} \
             form(s) filled)",
            setup_max.as_secs_f64(),
            forms
        )),
        FlowMode::Code => notes.push(format!(
            "workers signed in before the clock started ({:.2} s at most, {} form(s) filled); \
             then {} redirect(s) between the authorization request and the redirect URI",
            setup_max.as_secs_f64(),
            forms,
            back.first().map_or(0, |w| w.last_hops)
        )),
        FlowMode::CodeFull => notes.push(format!(
            "every flow signs in from an empty cookie jar: {} hop(s), {} form(s) per flow",
            back.first().map_or(0, |w| w.last_hops),
            back.first().map_or(0, |w| w.last_forms)
        )),
    }
    (
        ModeReport::new(mode.name(), unit, n, elapsed, total, notes),
        back,
    )
}
