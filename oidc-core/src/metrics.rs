//! Prometheus metrics: counters and latency histograms kept in memory per provider, rendered in
//! the text exposition format (version 0.0.4) by [`Provider::render_metrics`] and served by
//! [`Provider::metrics_router`] on an address of the operator's choosing (never on the public
//! one: the figures tell an attacker how their attempts fare).
//!
//! Each replica counts what it served; Prometheus sums over replicas. The endpoint label is the
//! route template (`/signin/{id}`), never the raw path, so that the number of series stays
//! bounded whatever clients send; unmatched paths share the label `unmatched`.
//!
//! Recording costs one short lock per request (a map lookup of a borrowed key, no allocation
//! once the series exists) and a few relaxed atomic adds.
//!
//! [`Provider::render_metrics`]: crate::Provider::render_metrics
//! [`Provider::metrics_router`]: crate::Provider::metrics_router

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the latency buckets: fine below 10 ms, where the endpoints that
/// check no password live, coarse above, where argon2 and outages do.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// What became of a sign-in attempt, as counted by `iam_signin_attempts_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigninOutcome {
    /// A sign-in journey finished and the browser was sent back to its client.
    Success,
    /// A password, passcode or recovery answer was checked and was wrong.
    Failure,
    /// The attempt was refused unchecked: the account was locked or the address throttled.
    Throttled,
}

impl SigninOutcome {
    fn index(self) -> usize {
        self as usize
    }
    const LABELS: [&'static str; 3] = ["success", "failure", "throttled"];
}

/// The tokens counted by `iam_tokens_issued_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    AuthorizationCode,
    AccessToken,
    IdToken,
    RefreshToken,
}

impl TokenKind {
    const LABELS: [&'static str; 4] = [
        "authorization_code",
        "access_token",
        "id_token",
        "refresh_token",
    ];
}

#[derive(Default)]
struct Latency {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

#[derive(Default)]
struct Endpoint {
    latency: Latency,
    /// (method, status) → count. A handful per endpoint.
    responses: Mutex<Vec<(String, u16, u64)>>,
}

/// The provider's metrics. One per provider (tests run several in one process), shared by its
/// clones.
#[derive(Default)]
pub(crate) struct Metrics {
    in_flight: AtomicU64,
    endpoints: Mutex<HashMap<String, std::sync::Arc<Endpoint>>>,
    signins: [AtomicU64; 3],
    lockouts: AtomicU64,
    /// (grant type or "authorize", kind) → count.
    tokens: Mutex<HashMap<(&'static str, usize), u64>>,
}

/// Grant types are counted under their own name only when known, so that a client cannot grow
/// the label set.
fn grant_label(grant_type: &str) -> &'static str {
    match grant_type {
        "authorization_code" => "authorization_code",
        "refresh_token" => "refresh_token",
        "client_credentials" => "client_credentials",
        "authorize" => "authorize",
        _ => "other",
    }
}

/// Counts a request as in flight until dropped (answered, or abandoned by its client).
pub(crate) struct InFlight<'a>(&'a Metrics);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    /// A request has arrived; it is in flight while the guard lives.
    pub(crate) fn start_request(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self)
    }

    /// One answered request.
    pub(crate) fn observe_request(
        &self,
        endpoint: &str,
        method: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let series = {
            let mut map = self
                .endpoints
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            match map.get(endpoint) {
                Some(e) => e.clone(),
                None => map.entry(endpoint.to_string()).or_default().clone(),
            }
        };
        let secs = elapsed.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            series.latency.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        series.latency.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        series
            .latency
            .sum_micros
            .fetch_add(micros, Ordering::Relaxed);
        let mut responses = series
            .responses
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match responses
            .iter_mut()
            .find(|(m, s, _)| m == method && *s == status)
        {
            Some(r) => r.2 += 1,
            None => responses.push((method.to_string(), status, 1)),
        }
    }

    pub(crate) fn signin(&self, outcome: SigninOutcome) {
        self.signins[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn lockout(&self) {
        self.lockouts.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn token_issued(&self, grant_type: &str, kind: TokenKind) {
        let mut map = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry((grant_label(grant_type), kind as usize))
            .or_default() += 1;
    }

    /// The text exposition format. `pool` is the database pool as it is now.
    pub(crate) fn render(&self, pool: PoolState) -> String {
        let mut out = String::with_capacity(4096);
        // Writing to a String cannot fail; the results are ignored for that reason only.
        let _ = self.render_requests(&mut out);
        let _ = self.render_rest(&mut out, pool);
        out
    }

    fn render_requests(&self, out: &mut String) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP iam_http_requests_in_flight Requests received and not yet answered."
        )?;
        writeln!(out, "# TYPE iam_http_requests_in_flight gauge")?;
        writeln!(
            out,
            "iam_http_requests_in_flight {}",
            self.in_flight.load(Ordering::Relaxed)
        )?;
        let mut endpoints: Vec<(String, std::sync::Arc<Endpoint>)> = self
            .endpoints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        endpoints.sort_by(|a, b| a.0.cmp(&b.0));
        writeln!(
            out,
            "# HELP iam_http_requests_total HTTP responses by endpoint (route template), method and status."
        )?;
        writeln!(out, "# TYPE iam_http_requests_total counter")?;
        for (name, e) in &endpoints {
            let mut responses = e
                .responses
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            responses.sort();
            for (method, status, n) in responses {
                writeln!(
                    out,
                    "iam_http_requests_total{{endpoint=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                    escape(name),
                    escape(&method)
                )?;
            }
        }
        writeln!(
            out,
            "# HELP iam_http_request_duration_seconds Time from the request's arrival to its response, by endpoint."
        )?;
        writeln!(out, "# TYPE iam_http_request_duration_seconds histogram")?;
        for (name, e) in &endpoints {
            let name = escape(name);
            let mut cumulative = 0;
            for (bound, bucket) in BUCKETS.iter().zip(&e.latency.buckets) {
                cumulative += bucket.load(Ordering::Relaxed);
                writeln!(
                    out,
                    "iam_http_request_duration_seconds_bucket{{endpoint=\"{name}\",le=\"{bound}\"}} {cumulative}"
                )?;
            }
            let count = e.latency.count.load(Ordering::Relaxed);
            writeln!(
                out,
                "iam_http_request_duration_seconds_bucket{{endpoint=\"{name}\",le=\"+Inf\"}} {count}"
            )?;
            let sum = e.latency.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            writeln!(
                out,
                "iam_http_request_duration_seconds_sum{{endpoint=\"{name}\"}} {sum}"
            )?;
            writeln!(
                out,
                "iam_http_request_duration_seconds_count{{endpoint=\"{name}\"}} {count}"
            )?;
        }
        Ok(())
    }

    fn render_rest(&self, out: &mut String, pool: PoolState) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP iam_signin_attempts_total Sign-in attempts: finished sign-ins, wrong credentials (password, passcode or recovery answer), and attempts refused unchecked (locked or throttled)."
        )?;
        writeln!(out, "# TYPE iam_signin_attempts_total counter")?;
        for (label, n) in SigninOutcome::LABELS.iter().zip(&self.signins) {
            writeln!(
                out,
                "iam_signin_attempts_total{{outcome=\"{label}\"}} {}",
                n.load(Ordering::Relaxed)
            )?;
        }
        writeln!(
            out,
            "# HELP iam_account_lockouts_total Account locks started by consecutive failed sign-ins."
        )?;
        writeln!(out, "# TYPE iam_account_lockouts_total counter")?;
        writeln!(
            out,
            "iam_account_lockouts_total {}",
            self.lockouts.load(Ordering::Relaxed)
        )?;
        writeln!(
            out,
            "# HELP iam_tokens_issued_total Tokens issued, by grant type (authorize for authorization codes) and kind."
        )?;
        writeln!(out, "# TYPE iam_tokens_issued_total counter")?;
        let mut tokens: Vec<((&str, usize), u64)> = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (*k, *v))
            .collect();
        tokens.sort();
        for ((grant, kind), n) in tokens {
            writeln!(
                out,
                "iam_tokens_issued_total{{grant_type=\"{grant}\",token=\"{}\"}} {n}",
                TokenKind::LABELS[kind]
            )?;
        }
        writeln!(
            out,
            "# HELP iam_db_pool_connections Database pool connections by state."
        )?;
        writeln!(out, "# TYPE iam_db_pool_connections gauge")?;
        writeln!(
            out,
            "iam_db_pool_connections{{state=\"idle\"}} {}",
            pool.idle
        )?;
        writeln!(
            out,
            "iam_db_pool_connections{{state=\"in_use\"}} {}",
            pool.open.saturating_sub(pool.idle)
        )?;
        writeln!(
            out,
            "# HELP iam_db_pool_max_connections The database pool's size limit."
        )?;
        writeln!(out, "# TYPE iam_db_pool_max_connections gauge")?;
        writeln!(out, "iam_db_pool_max_connections {}", pool.max)?;
        writeln!(
            out,
            "# HELP iam_db_operations_total Database operations (a statement, or one transaction of a few)."
        )?;
        writeln!(out, "# TYPE iam_db_operations_total counter")?;
        writeln!(out, "iam_db_operations_total {}", pool.operations)?;
        Ok(())
    }
}

/// The database pool as it is now.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PoolState {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
    /// Database operations since start (each a statement or one transaction).
    pub operations: u64,
}

/// Label values escape `\`, `"` and newlines (the exposition format's rule).
fn escape(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains(['\\', '"', '\n']) {
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
            .into()
    } else {
        v.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix} in\n{text}"))
    }

    #[test]
    fn requests_are_counted_per_route_method_and_status_with_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("/token", "POST", 200, Duration::from_micros(300));
        m.observe_request("/token", "POST", 200, Duration::from_millis(3));
        m.observe_request("/token", "POST", 400, Duration::from_secs(20));
        let text = m.render(PoolState::default());
        assert_eq!(
            line(
                &text,
                "iam_http_requests_total{endpoint=\"/token\",method=\"POST\",status=\"200\"}"
            )
            .rsplit(' ')
            .next(),
            Some("2")
        );
        assert!(text.contains(
            "iam_http_requests_total{endpoint=\"/token\",method=\"POST\",status=\"400\"} 1"
        ));
        assert!(text.contains(
            "iam_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "iam_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"0.005\"} 2"
        ));
        // 20 s is above every finite bucket: only +Inf holds it.
        assert!(
            text.contains(
                "iam_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"10\"} 2"
            )
        );
        assert!(text.contains(
            "iam_http_request_duration_seconds_bucket{endpoint=\"/token\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("iam_http_request_duration_seconds_count{endpoint=\"/token\"} 3"));
        assert!(
            text.contains("iam_http_request_duration_seconds_sum{endpoint=\"/token\"} 20.0033")
        );
    }

    #[test]
    fn unknown_grant_types_share_one_label() {
        let m = Metrics::default();
        m.token_issued("urn:evil:1", TokenKind::AccessToken);
        m.token_issued("urn:evil:2", TokenKind::AccessToken);
        m.token_issued("client_credentials", TokenKind::AccessToken);
        let text = m.render(PoolState::default());
        assert!(
            text.contains("iam_tokens_issued_total{grant_type=\"other\",token=\"access_token\"} 2")
        );
        assert!(text.contains(
            "iam_tokens_issued_total{grant_type=\"client_credentials\",token=\"access_token\"} 1"
        ));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(escape("/token"), "/token");
    }

    #[test]
    fn pool_gauges_split_open_connections_into_idle_and_in_use() {
        let m = Metrics::default();
        let text = m.render(PoolState {
            open: 5,
            idle: 2,
            max: 8,
            operations: 42,
        });
        assert!(text.contains("iam_db_pool_connections{state=\"idle\"} 2"));
        assert!(text.contains("iam_db_pool_connections{state=\"in_use\"} 3"));
        assert!(text.contains("iam_db_pool_max_connections 8"));
        assert!(text.contains("iam_db_operations_total 42"));
    }
}
