//! The client address of a request, for sign-in throttling.
//!
//! It is the connection's peer (axum's `ConnectInfo<SocketAddr>`, present when the router is
//! served with `into_make_service_with_connect_info::<SocketAddr>()`). Only when that peer is a
//! [trusted proxy](crate::ProviderConfigBuilder::trusted_proxies) are `Forwarded` (RFC 7239) or,
//! without it, `X-Forwarded-For` believed: the chain is read from the right (the hop nearest to
//! us), skipping trusted proxies, and the first address that is not one is the client. Without
//! connection information the address is unknown (and throttling falls back to what needs no
//! address), so that an embedding application served without it keeps working.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use ipnet::IpNet;

use super::AppState;

/// The client address; `None` when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        Ok(ClientAddr(resolve(
            peer,
            &parts.headers,
            &s.config.trusted_proxies,
        )))
    }
}

fn trusted(ip: IpAddr, proxies: &[IpNet]) -> bool {
    proxies.iter().any(|n| n.contains(&ip))
}

/// The client address from the peer and, when the peer is trusted, the forwarding headers.
pub(crate) fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    proxies: &[IpNet],
) -> Option<IpAddr> {
    let mut current = peer?.to_canonical();
    if !trusted(current, proxies) {
        return Some(current);
    }
    for hop in forwarded_chain(headers).into_iter().rev() {
        match hop {
            Some(ip) => {
                current = ip.to_canonical();
                if !trusted(current, proxies) {
                    break;
                }
            }
            // An obfuscated or malformed entry: the last trusted hop is all we know.
            None => break,
        }
    }
    Some(current)
}

/// The addresses of the forwarding chain, leftmost (the original client) first; `None` for an
/// entry that is not an address. `Forwarded` wins over `X-Forwarded-For`.
fn forwarded_chain(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<_> = headers.get_all("forwarded").iter().collect();
    if !forwarded.is_empty() {
        let mut out = Vec::new();
        for value in forwarded {
            let Ok(value) = value.to_str() else {
                out.push(None);
                continue;
            };
            for element in split_outside_quotes(value, ',') {
                let node = split_outside_quotes(element, ';')
                    .into_iter()
                    .find_map(|pair| {
                        let (name, v) = pair.split_once('=')?;
                        name.trim()
                            .eq_ignore_ascii_case("for")
                            .then(|| v.trim().trim_matches('"'))
                    });
                out.push(node.and_then(parse_node));
            }
        }
        return out;
    }
    let mut out = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        match value.to_str() {
            Ok(v) => out.extend(v.split(',').map(|n| parse_node(n.trim()))),
            Err(_) => out.push(None),
        }
    }
    out
}

/// Splits on `sep` where it is not inside a quoted string.
fn split_outside_quotes(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&s[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// An address with an optional port: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (ip, _) = rest.split_once(']')?;
        return ip.parse().ok();
    }
    node.parse::<SocketAddr>().ok().map(|s| s.ip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_the_headers_say() {
        let h = headers(&[
            ("x-forwarded-for", "198.51.100.9"),
            ("forwarded", "for=198.51.100.9"),
        ]);
        assert_eq!(
            resolve(Some(ip("203.0.113.7")), &h, &nets(&["10.0.0.0/8"])),
            Some(ip("203.0.113.7"))
        );
        assert_eq!(resolve(Some(ip("10.0.0.1")), &h, &[]), Some(ip("10.0.0.1")));
    }

    #[test]
    fn a_trusted_peer_forwards_the_nearest_untrusted_address() {
        let proxies = nets(&["10.0.0.0/8", "127.0.0.1/32"]);
        // A client may send its own X-Forwarded-For: only the entries our proxies added count.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.9, 10.1.1.1")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("198.51.100.9"))
        );
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "[2001:db8::7]:4711"),
        ]);
        assert_eq!(
            resolve(Some(ip("127.0.0.1")), &h, &proxies),
            Some(ip("2001:db8::7"))
        );
        // No header: the proxy itself.
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &HeaderMap::new(), &proxies),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn forwarded_wins_and_is_parsed_per_rfc_7239() {
        let proxies = nets(&["10.0.0.0/8"]);
        let h = headers(&[
            (
                "forwarded",
                r#"for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711""#,
            ),
            ("x-forwarded-for", "198.51.100.9"),
        ]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("2001:db8:cafe::17"))
        );
        let h = headers(&[("forwarded", "for=192.0.2.43:47011, for=10.2.2.2")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("192.0.2.43"))
        );
        // An obfuscated identifier stops at the last trusted hop.
        let h = headers(&[("forwarded", "for=_hidden, for=10.2.2.2")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.1")), &h, &proxies),
            Some(ip("10.2.2.2"))
        );
    }

    #[test]
    fn no_connection_information_is_unknown() {
        let h = headers(&[("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(resolve(None, &h, &nets(&["0.0.0.0/0"])), None);
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_proxies() {
        let h = headers(&[("x-forwarded-for", "198.51.100.9")]);
        assert_eq!(
            resolve(Some(ip("::ffff:127.0.0.1")), &h, &nets(&["127.0.0.1/32"])),
            Some(ip("198.51.100.9"))
        );
    }
}
