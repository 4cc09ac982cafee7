//! The provider's cookies. Under https they are `__Host-` prefixed, `Secure` and `SameSite=None`
//! (the session must reach /authorize on cross-site GET and POST; every form carries a CSRF token).
//! Under a plain-http loopback issuer (development) they fall back to `SameSite=Lax`.

use axum::http::{HeaderMap, HeaderValue, header};

use crate::config::ProviderConfig;

/// The browser session at the provider.
pub(crate) const SESSION: &str = "iam_session";
/// Binds sign-in journeys to the browser that started them.
pub(crate) const BROWSER: &str = "iam_browser";

pub(crate) fn name(config: &ProviderConfig, base: &str) -> String {
    if config.is_loopback_http() {
        base.to_string()
    } else {
        format!("__Host-{base}")
    }
}

/// The value of cookie `base` (under its configured name), if sent.
pub(crate) fn get(config: &ProviderConfig, headers: &HeaderMap, base: &str) -> Option<String> {
    let wanted = name(config, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for a browser-lifetime cookie.
pub(crate) fn set(config: &ProviderConfig, base: &str, value: &str) -> HeaderValue {
    let attrs = if config.is_loopback_http() {
        "SameSite=Lax"
    } else {
        "SameSite=None; Secure"
    };
    let v = format!("{}={value}; Path=/; HttpOnly; {attrs}", name(config, base));
    // Our values are base64url: always a valid header.
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
}

/// A `Set-Cookie` value that makes the browser forget cookie `base`.
pub(crate) fn clear(config: &ProviderConfig, base: &str) -> HeaderValue {
    let attrs = if config.is_loopback_http() {
        "SameSite=Lax"
    } else {
        "SameSite=None; Secure"
    };
    let v = format!(
        "{}=; Path=/; Max-Age=0; HttpOnly; {attrs}",
        name(config, base)
    );
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
}

/// How strictly the browser keeps a cookie to same-site requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SameSite {
    /// Never on a request another site started: the admin pages' session.
    Strict,
    /// Also on top-level navigations from elsewhere: what a sign-in's return leg needs.
    Lax,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
        }
    }
}

/// The name of a cookie confined to `path`. A `__Host-` cookie must have `Path=/`, so under https
/// these take the `__Secure-` prefix, which still forbids setting them without `Secure`.
pub(crate) fn scoped_name(config: &ProviderConfig, base: &str) -> String {
    if config.is_loopback_http() {
        base.to_string()
    } else {
        format!("__Secure-{base}")
    }
}

/// The value of the path-scoped cookie `base`, if sent.
pub(crate) fn get_scoped(
    config: &ProviderConfig,
    headers: &HeaderMap,
    base: &str,
) -> Option<String> {
    let wanted = scoped_name(config, base);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == wanted)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value for a cookie sent only under `path`, with `max_age` seconds to live
/// (`None`: until the browser closes).
pub(crate) fn set_scoped(
    config: &ProviderConfig,
    base: &str,
    value: &str,
    path: &str,
    same_site: SameSite,
    max_age: Option<u64>,
) -> HeaderValue {
    let secure = if config.is_loopback_http() {
        ""
    } else {
        "; Secure"
    };
    let age = max_age
        .map(|a| format!("; Max-Age={a}"))
        .unwrap_or_default();
    let v = format!(
        "{}={value}; Path={path}{age}; HttpOnly; SameSite={}{secure}",
        scoped_name(config, base),
        same_site.as_str()
    );
    HeaderValue::from_str(&v).unwrap_or(HeaderValue::from_static(""))
}

/// A `Set-Cookie` value that makes the browser forget the path-scoped cookie `base`.
pub(crate) fn clear_scoped(
    config: &ProviderConfig,
    base: &str,
    path: &str,
    same_site: SameSite,
) -> HeaderValue {
    set_scoped(config, base, "", path, same_site, Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_cookies_are_host_prefixed_secure_and_cross_site() {
        let c = ProviderConfig::builder("https://iam.example.org")
            .key_encryption_key([1; 32])
            .build()
            .unwrap();
        assert_eq!(
            set(&c, SESSION, "v").to_str().unwrap(),
            "__Host-iam_session=v; Path=/; HttpOnly; SameSite=None; Secure"
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("iam_session=plain; __Host-iam_session=good"),
        );
        assert_eq!(get(&c, &h, SESSION).as_deref(), Some("good"));
    }

    #[test]
    fn loopback_http_cookies_fall_back_to_lax() {
        let c = ProviderConfig::builder("http://127.0.0.1:8080")
            .build()
            .unwrap();
        assert_eq!(
            set(&c, BROWSER, "v").to_str().unwrap(),
            "iam_browser=v; Path=/; HttpOnly; SameSite=Lax"
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("other=1; iam_browser=abc"),
        );
        assert_eq!(get(&c, &h, BROWSER).as_deref(), Some("abc"));
        assert_eq!(get(&c, &h, SESSION), None);
    }

    #[test]
    fn scoped_cookies_use_the_secure_prefix_under_https() {
        let c = ProviderConfig::builder("https://iam.example.org")
            .key_encryption_key([1; 32])
            .build()
            .unwrap();
        assert_eq!(
            set_scoped(&c, "iam_admin", "v", "/admin", SameSite::Strict, None)
                .to_str()
                .unwrap(),
            "__Secure-iam_admin=v; Path=/admin; HttpOnly; SameSite=Strict; Secure"
        );
        assert_eq!(
            clear_scoped(&c, "iam_admin", "/admin", SameSite::Strict)
                .to_str()
                .unwrap(),
            "__Secure-iam_admin=; Path=/admin; Max-Age=0; HttpOnly; SameSite=Strict; Secure"
        );
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("iam_admin=plain; __Secure-iam_admin=good"),
        );
        assert_eq!(get_scoped(&c, &h, "iam_admin").as_deref(), Some("good"));
        let local = ProviderConfig::builder("http://127.0.0.1:8080")
            .build()
            .unwrap();
        assert_eq!(
            set_scoped(
                &local,
                "iam_admin_login",
                "v",
                "/admin",
                SameSite::Lax,
                Some(60)
            )
            .to_str()
            .unwrap(),
            "iam_admin_login=v; Path=/admin; Max-Age=60; HttpOnly; SameSite=Lax"
        );
    }
}
