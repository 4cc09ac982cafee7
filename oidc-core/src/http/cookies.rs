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
}
