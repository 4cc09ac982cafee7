//! Single-endpoint modes: `--connections` tasks, each with its own keep-alive connection,
//! sending the same request back to back until the duration is over (as wrk does).

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::ctx::Ctx;
use crate::http::{Agent, Request, Target, contains};
use crate::stats::{ModeReport, TaskStats};

/// What a response must show to count.
#[derive(Clone, Copy)]
enum Check {
    /// 200.
    Ok,
    /// 200 with an `access_token`.
    AccessToken,
    /// 200 with `"active": true`.
    Active,
}

/// A prepared request.
#[derive(Clone)]
struct Prepared {
    post: bool,
    target: Target,
    headers: Vec<(&'static str, String)>,
    body: Option<Bytes>,
    check: Check,
}

/// Whether an introspection answer says `"active": true` (whitespace allowed).
pub fn is_active(body: &[u8]) -> bool {
    let key = b"\"active\"";
    let Some(i) = body.windows(key.len()).position(|w| w == key) else {
        return false;
    };
    let rest = &body[i + key.len()..];
    let rest: Vec<u8> = rest
        .iter()
        .copied()
        .skip_while(|b| b.is_ascii_whitespace() || *b == b':')
        .take(4)
        .collect();
    rest == b"true"
}

fn check_response(check: Check, status: u16, body: &[u8]) -> Result<(), (String, String)> {
    let sample = || String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    if status != 200 {
        let kind = match crate::http::oauth_error(body) {
            Some(e) => format!("HTTP {status} {e}"),
            None => format!("HTTP {status}"),
        };
        return Err((kind, sample()));
    }
    match check {
        Check::Ok => Ok(()),
        Check::AccessToken if contains(body, b"\"access_token\"") => Ok(()),
        Check::AccessToken => Err(("no access_token".into(), sample())),
        Check::Active if is_active(body) => Ok(()),
        Check::Active => Err(("token not active".into(), sample())),
    }
}

/// A client_credentials access token, for introspection.
pub async fn client_credentials_token(ctx: &Ctx) -> Result<String, String> {
    let target = Target::new(ctx.endpoint("token_endpoint")?)?;
    let mut pairs = vec![("grant_type", "client_credentials")];
    if let Some(s) = &ctx.cc_scope {
        pairs.push(("scope", s));
    }
    let (headers, body) = ctx.client_request(pairs);
    let h: Vec<(&'static str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut agent = Agent::new(ctx.backend, ctx.timeout)?;
    let res = agent
        .send(Request {
            post: true,
            target: &target,
            headers: &h,
            body: Some(body),
        })
        .await
        .map_err(|e| format!("client_credentials: {}: {}", e.kind, e.detail))?;
    if res.status != 200 {
        return Err(format!(
            "client_credentials: HTTP {}: {}",
            res.status,
            String::from_utf8_lossy(&res.body[..res.body.len().min(300)])
        ));
    }
    let v: serde_json::Value = serde_json::from_slice(&res.body)
        .map_err(|e| format!("client_credentials: not JSON: {e}"))?;
    v.get("access_token")
        .and_then(|t| t.as_str())
        .map(str::to_string)
        .ok_or_else(|| "client_credentials: no access_token".into())
}

fn prepare(ctx: &Ctx, mode: &str, introspect_token: Option<&str>) -> Result<Prepared, String> {
    let get = |url: &url::Url, check| -> Result<Prepared, String> {
        Ok(Prepared {
            post: false,
            target: Target::new(url)?,
            headers: vec![("accept", "application/json".to_string())],
            body: None,
            check,
        })
    };
    match mode {
        "discovery" => get(&ctx.ep.discovery, Check::Ok),
        "jwks" => get(ctx.endpoint("jwks_uri")?, Check::Ok),
        "token-cc" => {
            let mut pairs = vec![("grant_type", "client_credentials")];
            if let Some(s) = &ctx.cc_scope {
                pairs.push(("scope", s));
            }
            let (headers, body) = ctx.client_request(pairs);
            Ok(Prepared {
                post: true,
                target: Target::new(ctx.endpoint("token_endpoint")?)?,
                headers,
                body: Some(body),
                check: Check::AccessToken,
            })
        }
        "introspect" => {
            let token = introspect_token.ok_or("no token to introspect")?;
            let (headers, body) = ctx.client_request(vec![("token", token)]);
            Ok(Prepared {
                post: true,
                target: Target::new(ctx.endpoint("introspection_endpoint")?)?,
                headers,
                body: Some(body),
                check: Check::Active,
            })
        }
        other => Err(format!("{other} is not a single-endpoint mode")),
    }
}

/// Runs one single-endpoint mode with `connections` tasks.
pub async fn run(
    ctx: Arc<Ctx>,
    mode: &str,
    connections: usize,
    introspect_token: Option<String>,
) -> ModeReport {
    let mut notes = Vec::new();
    let token = if mode == "introspect" {
        let t = match introspect_token {
            Some(t) => Ok(t),
            None => client_credentials_token(&ctx).await,
        };
        match t {
            Ok(t) => Some(t),
            Err(e) => return ModeReport::failed(mode, "req/s", connections, e),
        }
    } else {
        None
    };
    let prepared = match prepare(&ctx, mode, token.as_deref()) {
        Ok(p) => p,
        Err(e) => return ModeReport::failed(mode, "req/s", connections, e),
    };
    // One request before the clock starts: a setup error says so once instead of N times.
    {
        let mut agent = match Agent::new(ctx.backend, ctx.timeout) {
            Ok(a) => a,
            Err(e) => return ModeReport::failed(mode, "req/s", connections, e),
        };
        let h: Vec<(&'static str, &str)> = prepared
            .headers
            .iter()
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        let first = agent
            .send(Request {
                post: prepared.post,
                target: &prepared.target,
                headers: &h,
                body: prepared.body.clone(),
            })
            .await;
        match first {
            Err(e) => {
                return ModeReport::failed(
                    mode,
                    "req/s",
                    connections,
                    format!("{}: {}", e.kind, e.detail),
                );
            }
            Ok(res) => {
                if let Err((kind, sample)) = check_response(prepared.check, res.status, &res.body) {
                    return ModeReport::failed(
                        mode,
                        "req/s",
                        connections,
                        format!("first request: {kind}: {sample}"),
                    );
                }
                notes.push(format!(
                    "{} {} -> {} bytes",
                    if prepared.post { "POST" } else { "GET" },
                    prepared.target.url,
                    res.body.len()
                ));
            }
        }
    }

    let barrier = Arc::new(tokio::sync::Barrier::new(connections));
    let mut handles = Vec::with_capacity(connections);
    for _ in 0..connections {
        let (ctx, p, barrier) = (ctx.clone(), prepared.clone(), barrier.clone());
        handles.push(tokio::spawn(async move {
            let mut stats = TaskStats::default();
            let agent = Agent::new(ctx.backend, ctx.timeout);
            barrier.wait().await;
            let start = Instant::now();
            let mut agent = match agent {
                Ok(a) => a,
                Err(e) => {
                    stats.error("setup", e);
                    return (stats, start, Instant::now());
                }
            };
            let h: Vec<(&'static str, &str)> =
                p.headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let deadline = start + ctx.duration;
            loop {
                let t0 = Instant::now();
                if t0 >= deadline {
                    break;
                }
                stats.http_requests += 1;
                let res = agent
                    .send(Request {
                        post: p.post,
                        target: &p.target,
                        headers: &h,
                        body: p.body.clone(),
                    })
                    .await;
                match res {
                    Ok(r) => match check_response(p.check, r.status, &r.body) {
                        Ok(()) => stats.success(t0.elapsed()),
                        Err((kind, sample)) => stats.error(kind, sample),
                    },
                    Err(e) => {
                        stats.error(e.kind, e.detail);
                        // Do not spin on a refused connection.
                        if e.kind == "connect" {
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                    }
                }
            }
            (stats, start, Instant::now())
        }));
    }
    let mut total = TaskStats::default();
    let (mut first_start, mut last_end): (Option<Instant>, Option<Instant>) = (None, None);
    for h in handles {
        match h.await {
            Ok((s, start, end)) => {
                total.merge(s);
                first_start = Some(first_start.map_or(start, |f| f.min(start)));
                last_end = Some(last_end.map_or(end, |l| l.max(end)));
            }
            Err(e) => total.error("task", e.to_string()),
        }
    }
    let elapsed = match (first_start, last_end) {
        (Some(s), Some(e)) => e.duration_since(s),
        _ => ctx.duration,
    };
    ModeReport::new(mode, "req/s", connections, elapsed, total, notes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_and_checks() {
        assert!(is_active(br#"{"active":true,"scope":""}"#));
        assert!(is_active(br#"{ "active" : true }"#));
        assert!(!is_active(br#"{"active":false}"#));
        assert!(!is_active(br#"{}"#));
        assert!(check_response(Check::Ok, 200, b"").is_ok());
        assert_eq!(
            check_response(Check::AccessToken, 400, br#"{"error":"invalid_client"}"#)
                .unwrap_err()
                .0,
            "HTTP 400 invalid_client"
        );
        assert!(check_response(Check::AccessToken, 200, br#"{"access_token":"x"}"#).is_ok());
    }
}
