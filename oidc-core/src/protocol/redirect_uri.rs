//! Redirect URI matching at the authorization endpoint (RFC 6749 §3.1.2, RFC 8252 §7.3).

use url::Url;

/// A loopback IP literal (RFC 8252 §7.3 names 127.0.0.1 and [::1]; "localhost" is not recommended).
pub(crate) fn is_loopback_ip(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        _ => false,
    }
}

/// Does the requested redirect URI match a registered one? Exact string match, except that a
/// native app (a public client) with a registered http loopback IP URI may use any port, since it
/// listens on whatever port the OS gives it (RFC 8252 §7.3). Confidential clients are web servers
/// on fixed ports: for them the match stays exact.
pub(crate) fn redirect_uri_matches(registered: &[String], requested: &str, native: bool) -> bool {
    if registered.iter().any(|r| r == requested) {
        return true;
    }
    if !native {
        return false;
    }
    let Ok(req) = Url::parse(requested) else {
        return false;
    };
    if req.scheme() != "http" || !is_loopback_ip(&req) {
        return false;
    }
    registered.iter().any(|r| {
        let Ok(reg) = Url::parse(r) else { return false };
        if reg.scheme() != "http" || !is_loopback_ip(&reg) {
            return false;
        }
        let mut req_any = req.clone();
        let mut reg_any = reg.clone();
        // set_port cannot fail on an http URL with a host.
        let _ = req_any.set_port(None);
        let _ = reg_any.set_port(None);
        req_any == reg_any
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_except_loopback_port_rfc8252_7_3() {
        let reg = vec![
            "https://rp.example.org/cb".to_string(),
            "http://127.0.0.1/native".to_string(),
        ];
        for native in [false, true] {
            assert!(redirect_uri_matches(
                &reg,
                "https://rp.example.org/cb",
                native
            ));
            assert!(!redirect_uri_matches(
                &reg,
                "https://rp.example.org/cb/",
                native
            ));
            assert!(!redirect_uri_matches(
                &reg,
                "https://rp.example.org/cb?x=1",
                native
            ));
            assert!(!redirect_uri_matches(
                &reg,
                "https://RP.example.org/cb",
                native
            ));
            assert!(!redirect_uri_matches(
                &reg,
                "https://rp.example.org:8443/cb",
                native
            ));
            assert!(!redirect_uri_matches(
                &reg,
                "http://127.0.0.1:51234/other",
                native
            ));
            assert!(!redirect_uri_matches(
                &reg,
                "http://localhost:51234/native",
                native
            ));
        }
        assert!(redirect_uri_matches(
            &reg,
            "http://127.0.0.1:51234/native",
            true
        ));
        // A confidential client's loopback URI matches only exactly.
        assert!(!redirect_uri_matches(
            &reg,
            "http://127.0.0.1:51234/native",
            false
        ));
        assert!(redirect_uri_matches(&reg, "http://127.0.0.1/native", false));
    }
}
