//! CPAR's cookies. Their names differ from AHS IAM's (`iam_*`, `__Host-iam_*`): browsers do not
//! separate cookies by port, so on one host the two applications see each other's cookies.
//!
//! Both are `HttpOnly; SameSite=Lax; Path=/` browser-session cookies; under an https base URL
//! they are also `Secure` and carry the `__Host-` prefix (host-only, path `/`, secure).
//! - the session cookie holds a 256-bit random session id (the database keeps its SHA-256);
//! - the browser cookie is a 256-bit random value that binds sign-in attempts and sign-out
//!   confirmations (`state`) to the browser that started them.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;

/// The session cookie's base name.
pub(crate) const SESSION: &str = "cpar_session";
/// The browser-binding cookie's base name.
pub(crate) const BROWSER: &str = "cpar_browser";

/// The name a cookie is sent under.
pub(crate) fn name(base: &str, secure: bool) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// The value of cookie `base` in the request, if sent (the first one, if sent twice).
pub(crate) fn get(headers: &HeaderMap, base: &str, secure: bool) -> Option<String> {
    let wanted = name(base, secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 256)
}

/// A `Set-Cookie` value that sets cookie `base` for the browser session.
pub(crate) fn set(base: &str, value: &str, secure: bool) -> String {
    format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax{}",
        name(base, secure),
        if secure { "; Secure" } else { "" }
    )
}

/// A `Set-Cookie` value that removes cookie `base`.
pub(crate) fn clear(base: &str, secure: bool) -> String {
    format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{}",
        name(base, secure),
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn plain_http_cookies_are_http_only_and_lax() {
        let c = set(SESSION, "abc", false);
        assert_eq!(c, "cpar_session=abc; Path=/; HttpOnly; SameSite=Lax");
        assert!(!c.contains("Secure"));
    }

    #[test]
    fn https_cookies_are_secure_and_host_prefixed() {
        let c = set(SESSION, "abc", true);
        assert_eq!(
            c,
            "__Host-cpar_session=abc; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        let gone = clear(BROWSER, true);
        assert!(gone.starts_with("__Host-cpar_browser=;"), "{gone}");
        assert!(
            gone.contains("Max-Age=0") && gone.contains("Secure"),
            "{gone}"
        );
    }

    #[test]
    fn names_never_collide_with_the_providers() {
        for base in [SESSION, BROWSER] {
            for secure in [false, true] {
                let n = name(base, secure);
                assert!(!n.contains("iam_"), "{n}");
            }
        }
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static("iam_session=x; xcpar_session=y; cpar_session=zz"),
        );
        h.append(COOKIE, HeaderValue::from_static("cpar_browser=bb"));
        assert_eq!(get(&h, SESSION, false).as_deref(), Some("zz"));
        assert_eq!(get(&h, BROWSER, false).as_deref(), Some("bb"));
        assert_eq!(get(&h, SESSION, true), None);
        let mut empty = HeaderMap::new();
        empty.append(COOKIE, HeaderValue::from_static("cpar_session="));
        assert_eq!(get(&empty, SESSION, false), None);
    }
}
