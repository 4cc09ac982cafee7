//! What each load task counts, and the report of one mode.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::hist::Histogram;

/// Counts of one task; merged at the end of a mode.
#[derive(Default)]
pub struct TaskStats {
    pub hist: Histogram,
    pub ok: u64,
    /// HTTP requests sent (a flow sends several).
    pub http_requests: u64,
    pub errors: BTreeMap<String, u64>,
    /// One example message per error kind.
    pub samples: BTreeMap<String, String>,
}

impl TaskStats {
    pub fn success(&mut self, elapsed: Duration) {
        self.ok += 1;
        self.hist.record(elapsed.as_micros() as u64);
    }

    pub fn error(&mut self, kind: impl Into<String>, detail: impl Into<String>) {
        let kind = kind.into();
        *self.errors.entry(kind.clone()).or_insert(0) += 1;
        self.samples.entry(kind).or_insert_with(|| {
            let d: String = detail.into();
            d.chars().take(300).collect()
        });
    }

    pub fn merge(&mut self, other: TaskStats) {
        self.hist.merge(&other.hist);
        self.ok += other.ok;
        self.http_requests += other.http_requests;
        for (k, v) in other.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
        for (k, v) in other.samples {
            self.samples.entry(k).or_insert(v);
        }
    }
}

/// The result of one mode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReport {
    pub mode: String,
    /// `req/s` or `flows/s`.
    pub unit: &'static str,
    /// Connections (single endpoints) or workers (flows).
    pub concurrency: usize,
    pub duration_s: f64,
    /// Completed operations (requests or flows) that passed their checks.
    pub ok: u64,
    pub rate: f64,
    pub http_requests: u64,
    pub http_rate: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors_total: u64,
    pub errors: BTreeMap<String, u64>,
    pub error_samples: BTreeMap<String, String>,
    /// Anything the mode wants to say (redirect hops, how workers signed in).
    pub notes: Vec<String>,
}

impl ModeReport {
    pub fn new(
        mode: &str,
        unit: &'static str,
        concurrency: usize,
        elapsed: Duration,
        s: TaskStats,
        notes: Vec<String>,
    ) -> ModeReport {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let ms = |us: u64| us as f64 / 1000.0;
        ModeReport {
            mode: mode.to_string(),
            unit,
            concurrency,
            duration_s: round(secs, 3),
            ok: s.ok,
            rate: round(s.ok as f64 / secs, 1),
            http_requests: s.http_requests,
            http_rate: round(s.http_requests as f64 / secs, 1),
            p50_ms: ms(s.hist.percentile(50.0)),
            p90_ms: ms(s.hist.percentile(90.0)),
            p99_ms: ms(s.hist.percentile(99.0)),
            max_ms: ms(s.hist.max()),
            errors_total: s.errors.values().sum(),
            errors: s.errors,
            error_samples: s.samples,
            notes,
        }
    }

    /// A mode that could not start (setup failed).
    pub fn failed(mode: &str, unit: &'static str, concurrency: usize, why: String) -> ModeReport {
        let mut s = TaskStats::default();
        s.error("setup", why);
        ModeReport::new(mode, unit, concurrency, Duration::ZERO, s, Vec::new())
    }

    pub fn passed(&self) -> bool {
        self.ok > 0 && self.errors_total == 0
    }
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// The text table.
pub fn text_table(reports: &[ModeReport]) -> String {
    let mut out = format!(
        "{:<12} {:>5} {:>8} {:>9} {:>10} {:<8} {:>9} {:>8} {:>8} {:>8} {:>7}\n",
        "mode", "conc", "secs", "ok", "rate", "", "http/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    for r in reports {
        out.push_str(&format!(
            "{:<12} {:>5} {:>8.2} {:>9} {:>10.1} {:<8} {:>9.1} {:>8.2} {:>8.2} {:>8.2} {:>7}\n",
            r.mode,
            r.concurrency,
            r.duration_s,
            r.ok,
            r.rate,
            r.unit,
            r.http_rate,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.errors_total
        ));
    }
    for r in reports {
        for n in &r.notes {
            out.push_str(&format!("  {}: {n}\n", r.mode));
        }
        for (k, v) in &r.errors {
            let sample = r.error_samples.get(k).map(String::as_str).unwrap_or("");
            out.push_str(&format!("  {}: error x{v} [{k}] {sample}\n", r.mode));
        }
    }
    out
}
