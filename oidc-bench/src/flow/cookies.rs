//! A cookie jar (RFC 6265, the parts a provider on one host uses).

use url::Url;

struct Cookie {
    name: String,
    value: String,
    path: String,
}

/// A browser's cookie jar for one provider (one host: the domain attribute is ignored).
#[derive(Default)]
pub struct Jar(Vec<Cookie>);

fn default_path(url: &Url) -> String {
    let p = url.path();
    match p.rfind('/') {
        Some(0) | None => "/".into(),
        Some(i) => p[..i].to_string(),
    }
}

fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

impl Jar {
    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn absorb(&mut self, set_cookie: &str, url: &Url) {
        let mut parts = set_cookie.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let (name, value) = (name.trim().to_string(), value.trim().to_string());
        let mut path = None;
        let mut expired = value.is_empty();
        for a in parts {
            let (k, v) = a.split_once('=').unwrap_or((a, ""));
            match k.trim().to_ascii_lowercase().as_str() {
                "path" if v.trim().starts_with('/') => path = Some(v.trim().to_string()),
                "max-age" => expired |= v.trim().parse::<i64>().is_ok_and(|n| n <= 0),
                "expires" => expired |= expires_in_past(v),
                _ => {}
            }
        }
        let path = path.unwrap_or_else(|| default_path(url));
        self.0.retain(|c| !(c.name == name && c.path == path));
        if !expired {
            self.0.push(Cookie { name, value, path });
        }
    }

    pub fn header_for(&self, url: &Url) -> Option<String> {
        let mut out = String::new();
        // RFC 6265 §5.4: longer paths first.
        let mut matching: Vec<&Cookie> = self
            .0
            .iter()
            .filter(|c| path_matches(url.path(), &c.path))
            .collect();
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        for c in matching {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(&c.name);
            out.push('=');
            out.push_str(&c.value);
        }
        (!out.is_empty()).then_some(out)
    }
}

/// Whether an `Expires` date (RFC 1123 and its cousins) lies in a past year: how providers
/// delete cookies (`Thu, 01 Jan 1970 00:00:00 GMT`). A date later this year is taken as future.
fn expires_in_past(v: &str) -> bool {
    let this_year = 1970 + crate::totp::unix_now() / 31_556_952;
    v.split(|c: char| !c.is_ascii_digit())
        .filter(|t| t.len() == 4)
        .filter_map(|t| t.parse::<u64>().ok())
        .next()
        .is_some_and(|y| y < this_year)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_jar() {
        let u = Url::parse("http://h/auth/abc").unwrap();
        let mut jar = Jar::default();
        jar.absorb("sid=1; Path=/; HttpOnly", &u);
        jar.absorb("_interaction=2; path=/interaction/x; httponly", &u);
        jar.absorb("local=3", &u); // default path /auth
        assert_eq!(jar.header_for(&u).as_deref(), Some("local=3; sid=1"));
        let i = Url::parse("http://h/interaction/x").unwrap();
        assert_eq!(jar.header_for(&i).as_deref(), Some("_interaction=2; sid=1"));
        assert_eq!(
            jar.header_for(&Url::parse("http://h/interaction/xy").unwrap())
                .as_deref(),
            Some("sid=1")
        );
        jar.absorb("sid=; Path=/; Max-Age=0", &u);
        jar.absorb(
            "_interaction=gone; path=/interaction/x; expires=Thu, 01 Jan 1970 00:00:00 GMT",
            &u,
        );
        assert_eq!(jar.header_for(&i), None);
        jar.absorb("later=4; Path=/; Expires=Fri, 01 Jan 2100 00:00:00 GMT", &u);
        assert_eq!(jar.header_for(&i).as_deref(), Some("later=4"));
    }
}
