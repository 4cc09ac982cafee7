//! The outbound fetch guard: every HTTP request the provider makes to a URL a client registered
//! (`jwks_uri`, `backchannel_logout_uri`) goes through [`Outbound`], so that registering a URL
//! cannot turn the provider into a proxy into its own network (SSRF).
//!
//! - **Scheme**: https only; plain http only to a loopback host in development (a plain-http
//!   loopback issuer, the same rule registration applies).
//! - **Addresses**: the host is resolved by the guard's own resolver, *every* address it resolves
//!   to is checked, and the connection goes to those checked addresses only (reqwest asks this
//!   resolver, nothing else), so a DNS answer cannot be swapped between the check and the
//!   connection (DNS rebinding). IP literals are checked the same way. Refused: unspecified,
//!   loopback (except in development), private (RFC 1918, IPv6 ULA), link-local (which holds the
//!   cloud metadata address 169.254.169.254), shared/CGNAT (100.64.0.0/10, where some clouds put
//!   their metadata service), multicast, broadcast, documentation, benchmarking and reserved
//!   ranges; IPv4-mapped, NAT64 and 6to4 IPv6 addresses by the IPv4 address they carry. A
//!   network in [`ProviderConfigBuilder::outbound_allowed_networks`] is allowed whatever it is.
//! - **Bounds**: [`CONNECT_TIMEOUT`] to connect, [`REQUEST_TIMEOUT`] for the whole exchange, a
//!   response body limit per call, no redirects (a 3xx is a failure), no proxy from the
//!   environment (it would connect to addresses the guard never saw).
//!
//! [`ProviderConfigBuilder::outbound_allowed_networks`]: crate::ProviderConfigBuilder::outbound_allowed_networks

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;
use url::Url;

use crate::error::Error;

/// The longest wait for a connection.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest wait for a whole exchange (connect, send, read the body).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest URL the guard fetches.
const MAX_URL_LEN: usize = 2000;

/// Why an outbound request did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FetchError {
    /// The guard refused the URL or an address it resolves to: retrying will not help.
    Refused(String),
    /// The request failed (DNS, connection, timeout, status, size): it may work later.
    Failed(String),
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Refused(why) => write!(f, "refused by the outbound guard: {why}"),
            FetchError::Failed(why) => write!(f, "{why}"),
        }
    }
}

/// What the guard allows.
#[derive(Debug, Clone)]
struct Policy {
    /// Development: plain http and loopback addresses are allowed.
    development: bool,
    /// Networks allowed whatever they are.
    allowed: Vec<IpNet>,
}

/// The error the resolver returns for a refused address, found again in reqwest's error chain.
#[derive(Debug)]
struct AddressRefused(String);

impl std::fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AddressRefused {}

impl Policy {
    fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if self.allowed.iter().any(|n| n.contains(&ip)) {
            return Ok(());
        }
        let effective = embedded_v4(ip).map_or(ip, IpAddr::V4);
        if self.development && effective.is_loopback() {
            return Ok(());
        }
        match forbidden(effective) {
            Some(kind) => Err(format!("{ip} is a {kind} address")),
            None => Ok(()),
        }
    }

    fn check_url(&self, raw: &str) -> Result<Url, String> {
        if raw.len() > MAX_URL_LEN {
            return Err("the URL is too long".into());
        }
        let url = Url::parse(raw).map_err(|_| "not an absolute URL".to_string())?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("the URL carries credentials".into());
        }
        let host = url
            .host()
            .ok_or_else(|| "the URL has no host".to_string())?;
        let loopback_host = match &host {
            url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
            url::Host::Ipv4(ip) => ip.is_loopback(),
            url::Host::Ipv6(ip) => ip.is_loopback(),
        };
        match url.scheme() {
            "https" => {}
            "http" if self.development && loopback_host => {}
            "http" => return Err("plain http is allowed only to loopback in development".into()),
            other => return Err(format!("the scheme {other} is not https")),
        }
        match host {
            url::Host::Ipv4(ip) => self.check_ip(IpAddr::V4(ip))?,
            url::Host::Ipv6(ip) => self.check_ip(IpAddr::V6(ip))?,
            // Checked address by address when the resolver answers.
            url::Host::Domain(_) => {}
        }
        Ok(url)
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped (`::ffff:a.b.c.d`), the NAT64
/// well-known prefix (`64:ff9b::/96`, RFC 6052) and 6to4 (`2002::/16`, RFC 3056).
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let o = v6.octets();
        return Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        let o = v6.octets();
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// The kind of a special-purpose address (IANA special-purpose registries), or `None` for an
/// ordinary global one.
fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    Some(match o {
        [0, ..] => "unspecified (this network)",
        [127, ..] => "loopback",
        [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => "private",
        [169, 254, ..] => "link-local (cloud metadata)",
        [100, 64..=127, ..] => "shared (CGNAT)",
        [192, 0, 0, _] => "IETF protocol assignment",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, 18..=19, ..] => "benchmarking",
        [224..=239, ..] => "multicast",
        [255, 255, 255, 255] => "broadcast",
        [240..=255, ..] => "reserved",
        _ => return None,
    })
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    Some(if ip.is_unspecified() {
        "unspecified"
    } else if ip.is_loopback() {
        "loopback"
    } else if s[0] & 0xfe00 == 0xfc00 {
        // fc00::/7, which also holds AWS's IPv6 metadata address fd00:ec2::254.
        "private (unique local)"
    } else if s[0] & 0xffc0 == 0xfe80 || s[0] & 0xffc0 == 0xfec0 {
        "link-local"
    } else if s[0] & 0xff00 == 0xff00 {
        "multicast"
    } else if s[0] == 0x2001 && s[1] == 0x0db8 {
        "documentation"
    } else if s[..4] == [0x0100, 0, 0, 0] {
        "discard-only"
    } else if s[..6] == [0, 0, 0, 0, 0, 0] {
        // IPv4-compatible (deprecated) addresses.
        "reserved"
    } else {
        return None;
    })
}

/// Resolves `host` and checks every address it resolves to.
async fn resolve_checked(
    policy: &Policy,
    host: &str,
) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0)).await?.collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no address").into());
    }
    for a in &addrs {
        policy
            .check_ip(a.ip())
            .map_err(|why| AddressRefused(format!("{host}: {why}")))?;
    }
    Ok(addrs)
}

/// The resolver reqwest uses: resolves, then refuses the whole answer if any address is
/// refused (an answer mixing a public and a private address is an attack, not a fallback).
struct GuardedResolver {
    policy: Arc<Policy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = resolve_checked(&policy, &host).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The guarded HTTP client (cheap to clone).
#[derive(Clone)]
pub(crate) struct Outbound {
    client: reqwest::Client,
    policy: Arc<Policy>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl Outbound {
    /// A guard for the provider: development mode when the issuer is plain-http loopback.
    ///
    /// # Errors
    /// [`Error::Internal`] when the HTTP client cannot be built (no TLS backend).
    pub(crate) fn new(development: bool, allowed: Vec<IpNet>) -> Result<Outbound, Error> {
        let policy = Arc::new(Policy {
            development,
            allowed,
        });
        let client = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedResolver {
                policy: policy.clone(),
            }))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("oidc-core/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Internal(format!("cannot build the outbound HTTP client: {e}")))?;
        Ok(Outbound { client, policy })
    }

    /// The URL, checked: scheme and host, and for a host name every address it resolves to now
    /// (so that a refusal is reported as one; the resolver checks again at connection time,
    /// which is what stops a DNS answer changed in between).
    async fn checked(&self, url: &str) -> Result<Url, FetchError> {
        let url = self.policy.check_url(url).map_err(FetchError::Refused)?;
        if let Some(url::Host::Domain(host)) = url.host() {
            resolve_checked(&self.policy, host).await.map_err(|e| {
                match e.downcast_ref::<AddressRefused>() {
                    Some(r) => FetchError::Refused(r.0.clone()),
                    None => FetchError::Failed(format!("cannot resolve {host}: {e}")),
                }
            })?;
        }
        Ok(url)
    }

    /// GETs `url` expecting 200 and a body of at most `limit` bytes.
    pub(crate) async fn get(&self, url: &str, limit: usize) -> Result<Vec<u8>, FetchError> {
        let url = self.checked(url).await?;
        let res = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(classify)?;
        let status = res.status();
        if status.is_redirection() {
            return Err(FetchError::Failed(format!(
                "answered {status}: redirects are not followed"
            )));
        }
        if status != reqwest::StatusCode::OK {
            return Err(FetchError::Failed(format!("answered {status}")));
        }
        read_limited(res, limit).await
    }

    /// POSTs a form to `url`; returns the status when it is a success (2xx), reading at most
    /// `limit` bytes of the body.
    pub(crate) async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        limit: usize,
    ) -> Result<u16, FetchError> {
        let url = self.checked(url).await?;
        let body = serde_urlencoded::to_string(form)
            .map_err(|e| FetchError::Failed(format!("cannot encode the form: {e}")))?;
        let res = self
            .client
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
            .send()
            .await
            .map_err(classify)?;
        let status = res.status();
        if status.is_redirection() {
            return Err(FetchError::Failed(format!(
                "answered {status}: redirects are not followed"
            )));
        }
        if !status.is_success() {
            return Err(FetchError::Failed(format!("answered {status}")));
        }
        // Drain what the receiver says (bounded) so the connection can be reused.
        let _ = read_limited(res, limit).await;
        Ok(status.as_u16())
    }
}

/// A refusal by the resolver stays a refusal; anything else is a failure worth retrying.
fn classify(e: reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<AddressRefused>() {
            return FetchError::Refused(r.0.clone());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return FetchError::Failed("timed out".into());
    }
    if e.is_connect() {
        return FetchError::Failed("could not connect".into());
    }
    FetchError::Failed(format!("request failed: {e}"))
}

async fn read_limited(mut res: reqwest::Response, limit: usize) -> Result<Vec<u8>, FetchError> {
    let too_large = || FetchError::Failed(format!("the response is larger than {limit} bytes"));
    if res
        .content_length()
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX))
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(development: bool) -> Outbound {
        Outbound::new(development, Vec::new()).unwrap()
    }

    #[test]
    fn special_purpose_addresses_are_refused() {
        let p = Policy {
            development: false,
            allowed: Vec::new(),
        };
        for bad in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.100.100.200",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "::",
            "::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:0a00:0001::1",
            "2001:db8::1",
        ] {
            let ip: IpAddr = bad.parse().unwrap();
            assert!(p.check_ip(ip).is_err(), "{bad} must be refused");
        }
        for good in [
            "93.184.215.14",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
        ] {
            let ip: IpAddr = good.parse().unwrap();
            assert!(p.check_ip(ip).is_ok(), "{good} must be allowed");
        }
    }

    #[test]
    fn allow_list_and_development_mode() {
        let p = Policy {
            development: true,
            allowed: vec!["10.20.0.0/16".parse().unwrap()],
        };
        assert!(p.check_ip("10.20.3.4".parse().unwrap()).is_ok());
        assert!(p.check_ip("10.21.3.4".parse().unwrap()).is_err());
        assert!(p.check_ip("127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.check_ip("::1".parse().unwrap()).is_ok());
        // Development allows loopback, not the rest of the private ranges.
        assert!(p.check_ip("192.168.0.1".parse().unwrap()).is_err());
        assert!(p.check_url("http://127.0.0.1:8080/jwks").is_ok());
        assert!(p.check_url("http://rp.example.org/jwks").is_err());
        let prod = Policy {
            development: false,
            allowed: Vec::new(),
        };
        assert!(prod.check_url("http://127.0.0.1:8080/jwks").is_err());
        assert!(prod.check_url("https://127.0.0.1/jwks").is_err());
        assert!(prod.check_url("https://[::ffff:7f00:1]/jwks").is_err());
        assert!(
            prod.check_url("https://user:pw@rp.example.org/jwks")
                .is_err()
        );
        assert!(prod.check_url("ftp://rp.example.org/jwks").is_err());
        assert!(prod.check_url("https://rp.example.org/jwks").is_ok());
    }

    /// A server on loopback answering every request with `answer`.
    async fn serve(answer: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, answer).await;
        });
        format!("http://{addr}")
    }

    #[tokio::test]
    async fn loopback_is_refused_outside_development_even_by_name() {
        let base =
            serve(axum::Router::new().route("/jwks", axum::routing::get(|| async { "{}" }))).await;
        // By IP literal: refused before any connection.
        let got = guard(false).get(&format!("{base}/jwks"), 1024).await;
        assert!(matches!(got, Err(FetchError::Refused(_))), "{got:?}");
        // By a name that resolves to loopback: the check before sending refuses it …
        let got = guard(false).get("https://localhost/jwks", 1024).await;
        assert!(
            matches!(&got, Err(FetchError::Refused(w)) if w.contains("loopback")),
            "{got:?}"
        );
        // … and so does the resolver at connection time (the DNS-rebinding guard), whatever
        // was checked before.
        let port = base.rsplit(':').next().unwrap();
        let got = guard(false)
            .client
            .get(format!("http://localhost:{port}/jwks"))
            .send()
            .await;
        let err = got.expect_err("the resolver refuses loopback");
        assert!(format!("{err:?}").contains("AddressRefused"), "{err:?}");
        // In development the same server answers.
        let got = guard(true).get(&format!("{base}/jwks"), 1024).await;
        assert_eq!(got, Ok(b"{}".to_vec()));
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let base = serve(
            axum::Router::new()
                .route(
                    "/jwks",
                    axum::routing::get(|| async {
                        axum::response::Redirect::temporary("http://169.254.169.254/latest")
                    }),
                )
                .route(
                    "/logout",
                    axum::routing::post(|| async {
                        axum::response::Redirect::to("http://127.0.0.1:1/")
                    }),
                ),
        )
        .await;
        let got = guard(true).get(&format!("{base}/jwks"), 1024).await;
        assert!(
            matches!(&got, Err(FetchError::Failed(w)) if w.contains("redirects are not followed")),
            "{got:?}"
        );
        let got = guard(true)
            .post_form(&format!("{base}/logout"), &[("logout_token", "x")], 1024)
            .await;
        assert!(matches!(got, Err(FetchError::Failed(_))), "{got:?}");
    }

    #[tokio::test]
    async fn responses_over_the_size_limit_are_refused() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // A raw server whose body has no Content-Length (it ends when the connection closes), so
        // the limit is enforced while reading.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n")
                    .await;
                for _ in 0..64 {
                    if sock.write_all(&[b'x'; 1024]).await.is_err() {
                        break;
                    }
                }
                let _ = sock.shutdown().await;
            }
        });
        let url = format!("http://{addr}/jwks");
        let got = guard(true).get(&url, 16 * 1024).await;
        assert!(
            matches!(&got, Err(FetchError::Failed(w)) if w.contains("larger than")),
            "{got:?}"
        );
        let got = guard(true).get(&url, 128 * 1024).await;
        assert_eq!(got.map(|b| b.len()), Ok(64 * 1024));
    }
}
