//! The HTTP/1.1 clients under load. Each load task (a connection for single endpoints, a worker
//! for flows) owns one [`Agent`]: its own keep-alive connection per host and nothing shared, so
//! the tasks never contend and the count of connections is exactly the concurrency asked for.
//!
//! Two back ends:
//! - `hyper` (default): hyper's bare HTTP/1.1 connection (`hyper::client::conn::http1`), no pool,
//!   no redirect logic, headers written once; `http://` only.
//! - `reqwest`: the workspace's reqwest 0.12 (rustls), one client per task; also `https://`.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper_util::rt::TokioIo;
use url::Url;

/// Which client to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Hyper,
    Reqwest,
}

/// What a request failed with, grouped into a few kinds for the report.
#[derive(Debug, Clone)]
pub struct HttpError {
    /// `connect`, `timeout`, `io`, `request`.
    pub kind: &'static str,
    pub detail: String,
}

impl HttpError {
    fn new(kind: &'static str, detail: impl std::fmt::Display) -> Self {
        HttpError {
            kind,
            detail: detail.to_string(),
        }
    }
}

/// A response as the load loops need it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub location: Option<String>,
    pub set_cookies: Vec<String>,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// A prepared target: where to connect and what to put on the request line.
#[derive(Debug, Clone)]
pub struct Target {
    /// The full URL (reqwest takes it as is).
    pub url: Url,
    https: bool,
    /// host:port to connect to, also the key of the connection.
    addr: String,
    /// The Host header.
    host_header: hyper::header::HeaderValue,
    /// The request target (`/path?query`).
    uri: hyper::Uri,
}

impl Target {
    pub fn new(url: &Url) -> Result<Target, String> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            s => return Err(format!("{url}: unsupported scheme {s}")),
        };
        let host = url.host_str().ok_or_else(|| format!("{url}: no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("{url}: no port"))?;
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let pq = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        Ok(Target {
            url: url.clone(),
            https,
            // url keeps IPv6 literals in brackets, which is what connect wants too.
            addr: format!("{host}:{port}"),
            host_header: host_header
                .parse()
                .map_err(|e| format!("{url}: bad host: {e}"))?,
            uri: pq.parse().map_err(|e| format!("{url}: bad path: {e}"))?,
        })
    }
}

/// A request: method, target, a few headers, an optional form body.
pub struct Request<'a> {
    pub post: bool,
    pub target: &'a Target,
    /// Extra headers (name, value); names are lower-case.
    pub headers: &'a [(&'static str, &'a str)],
    pub body: Option<Bytes>,
}

/// One task's client.
pub enum Agent {
    Hyper {
        conns: Vec<(String, HyperConn)>,
        timeout: Duration,
    },
    Reqwest {
        client: reqwest::Client,
        timeout: Duration,
    },
}

impl Agent {
    pub fn new(backend: Backend, timeout: Duration) -> Result<Agent, String> {
        Ok(match backend {
            Backend::Hyper => Agent::Hyper {
                conns: Vec::new(),
                timeout,
            },
            Backend::Reqwest => Agent::Reqwest {
                client: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .pool_max_idle_per_host(1)
                    .tcp_nodelay(true)
                    .http1_only()
                    .build()
                    .map_err(|e| format!("reqwest client: {e}"))?,
                timeout,
            },
        })
    }

    /// Sends a request and reads the whole response, within the timeout.
    pub async fn send(&mut self, req: Request<'_>) -> Result<Response, HttpError> {
        match self {
            Agent::Hyper { conns, timeout } => {
                let timeout = *timeout;
                if req.target.https {
                    return Err(HttpError::new(
                        "request",
                        "https is not supported by the hyper back end: use --http reqwest",
                    ));
                }
                match tokio::time::timeout(timeout, hyper_send(conns, &req)).await {
                    Ok(r) => r,
                    Err(_) => {
                        // The connection's state is unknown: drop it.
                        conns.retain(|(a, _)| *a != req.target.addr);
                        Err(HttpError::new(
                            "timeout",
                            format!("no answer in {timeout:?}"),
                        ))
                    }
                }
            }
            Agent::Reqwest { client, timeout } => {
                let timeout = *timeout;
                match tokio::time::timeout(timeout, reqwest_send(client, &req)).await {
                    Ok(r) => r,
                    Err(_) => Err(HttpError::new(
                        "timeout",
                        format!("no answer in {timeout:?}"),
                    )),
                }
            }
        }
    }
}

/// One HTTP/1.1 connection, driven by the task that uses it (no spawned connection task: one
/// task wake-up per response instead of two, measured cheaper).
pub struct HyperConn {
    sender: SendRequest<Full<Bytes>>,
    conn: Connection<TokioIo<tokio::net::TcpStream>, Full<Bytes>>,
}

async fn connect(addr: &str) -> Result<HyperConn, HttpError> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| HttpError::new("connect", format!("{addr}: {e}")))?;
    tcp.set_nodelay(true)
        .map_err(|e| HttpError::new("connect", format!("{addr}: nodelay: {e}")))?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|e| HttpError::new("connect", format!("{addr}: handshake: {e}")))?;
    Ok(HyperConn { sender, conn })
}

/// The parts of a response the load loops read.
struct Head {
    status: u16,
    location: Option<String>,
    content_type: Option<String>,
    set_cookies: Vec<String>,
}

fn head_of(headers: &hyper::HeaderMap, status: u16) -> Head {
    let text = |v: &hyper::header::HeaderValue| v.to_str().ok().map(str::to_string);
    Head {
        status,
        location: headers.get(hyper::header::LOCATION).and_then(text),
        content_type: headers.get(hyper::header::CONTENT_TYPE).and_then(text),
        set_cookies: headers
            .get_all(hyper::header::SET_COOKIE)
            .iter()
            .filter_map(text)
            .collect(),
    }
}

async fn hyper_send(
    conns: &mut Vec<(String, HyperConn)>,
    req: &Request<'_>,
) -> Result<Response, HttpError> {
    let t = req.target;
    let idx = match conns.iter().position(|(a, _)| *a == t.addr) {
        Some(i) => {
            // A connection the server closed while it was idle is replaced before use (polling
            // it once tells, without blocking).
            let conn = &mut conns[i].1.conn;
            let closed = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(std::pin::Pin::new(&mut *conn).poll(cx).is_ready())
            })
            .await;
            if closed {
                conns[i].1 = connect(&t.addr).await?;
            }
            i
        }
        None => {
            conns.push((t.addr.clone(), connect(&t.addr).await?));
            conns.len() - 1
        }
    };
    let mut builder = hyper::Request::builder()
        .method(if req.post {
            hyper::Method::POST
        } else {
            hyper::Method::GET
        })
        .uri(t.uri.clone())
        .header(hyper::header::HOST, t.host_header.clone());
    for (k, v) in req.headers {
        builder = builder.header(*k, *v);
    }
    let body = req.body.clone().unwrap_or_default();
    if req.post {
        builder = builder.header(hyper::header::CONTENT_LENGTH, body.len());
    }
    let request = builder
        .body(Full::new(body))
        .map_err(|e| HttpError::new("request", e))?;
    let HyperConn { sender, conn } = &mut conns[idx].1;
    let exchange = async {
        sender.ready().await?;
        let res = sender.send_request(request).await?;
        let head = head_of(res.headers(), res.status().as_u16());
        let body = res.into_body().collect().await?.to_bytes();
        Ok::<_, hyper::Error>((head, body))
    };
    // The connection makes progress only while polled: poll it alongside the exchange.
    let outcome = tokio::select! {
        biased;
        r = exchange => r.map_err(|e| HttpError::new("io", e)),
        c = conn => Err(HttpError::new(
            "io",
            match c {
                Ok(()) => "the server closed the connection".to_string(),
                Err(e) => e.to_string(),
            },
        )),
    };
    match outcome {
        Ok((head, body)) => Ok(Response {
            status: head.status,
            location: head.location,
            set_cookies: head.set_cookies,
            content_type: head.content_type,
            body,
        }),
        Err(e) => {
            conns.swap_remove(idx);
            Err(e)
        }
    }
}

async fn reqwest_send(client: &reqwest::Client, req: &Request<'_>) -> Result<Response, HttpError> {
    let mut b = if req.post {
        client.post(req.target.url.clone())
    } else {
        client.get(req.target.url.clone())
    };
    for (k, v) in req.headers {
        b = b.header(*k, *v);
    }
    if let Some(body) = &req.body {
        b = b.body(body.clone());
    }
    let res = b.send().await.map_err(|e| {
        let kind = if e.is_connect() { "connect" } else { "io" };
        HttpError::new(kind, e)
    })?;
    let status = res.status().as_u16();
    let headers = res.headers();
    let location = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let set_cookies = headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_string))
        .collect();
    let body = res.bytes().await.map_err(|e| HttpError::new("io", e))?;
    Ok(Response {
        status,
        location,
        set_cookies,
        content_type,
        body,
    })
}

/// `application/x-www-form-urlencoded` of these pairs.
pub fn form(pairs: &[(&str, &str)]) -> Bytes {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    Bytes::from(s.finish())
}

/// RFC 6749 §2.3.1: `Basic base64(urlencode(id):urlencode(secret))`.
pub fn basic_auth(id: &str, secret: &str) -> String {
    use base64::Engine;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

/// Whether `haystack` contains `needle` (response bodies are small).
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// The `error` of an OAuth error body, if it is one.
pub fn oauth_error(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("error")?
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_helpers() {
        let t = Target::new(&Url::parse("http://127.0.0.1:3000/a/b?x=1&y=2").unwrap()).unwrap();
        assert_eq!(t.addr, "127.0.0.1:3000");
        assert_eq!(t.host_header, "127.0.0.1:3000");
        assert_eq!(t.uri, "/a/b?x=1&y=2");
        let t = Target::new(&Url::parse("http://[::1]/").unwrap()).unwrap();
        assert_eq!(t.addr, "[::1]:80");
        assert_eq!(t.host_header, "[::1]");
        assert!(Target::new(&Url::parse("ftp://x/").unwrap()).is_err());
        assert_eq!(
            basic_auth("a b", "s:c"),
            format!(
                "Basic {}",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, "a+b:s%3Ac")
            )
        );
        assert_eq!(&form(&[("a", "1 2"), ("b", "&")])[..], b"a=1+2&b=%26");
        assert!(contains(br#"{"active":true}"#, b"true"));
        assert_eq!(
            oauth_error(br#"{"error":"invalid_grant"}"#).as_deref(),
            Some("invalid_grant")
        );
    }
}
