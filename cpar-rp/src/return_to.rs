//! Where a sign-in lands afterwards: a path on CPAR itself, never another site.
//!
//! The value is kept server-side with the sign-in attempt, so only CPAR writes it; it is still
//! checked when it comes from a request (`/login?return_to=…`), because a browser reads
//! `//evil.example` and `/\evil.example` as other hosts.

/// The longest path kept.
const MAX_LEN: usize = 2048;

/// `value` if it is a path on this site: it starts with a single `/` (not `//` or `/\`), holds
/// no backslash, no control character and no whitespace, and is not too long. `None` otherwise.
pub(crate) fn validate(value: &str) -> Option<&str> {
    let bytes = value.as_bytes();
    if value.is_empty() || value.len() > MAX_LEN || bytes[0] != b'/' {
        return None;
    }
    if bytes.get(1).is_some_and(|b| *b == b'/' || *b == b'\\') {
        return None;
    }
    if value
        .chars()
        .any(|c| c == '\\' || c.is_control() || c.is_whitespace())
    {
        return None;
    }
    // Belt and braces: resolved against any origin, it must stay on that origin.
    let base = url::Url::parse("https://cpar.invalid/").ok()?;
    let joined = base.join(value).ok()?;
    if joined.origin() != base.origin() {
        return None;
    }
    Some(value)
}

/// The return path of a request for `path_and_query`, or `/` when it would not be safe.
pub(crate) fn or_home(path_and_query: &str) -> String {
    validate(path_and_query).unwrap_or("/").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_paths_are_kept() {
        for ok in [
            "/",
            "/panels/PNL-1234",
            "/panels/PNL-1234?sort=name&x=%2F%2F",
            "/a/b/../c",
            "/%2F%2Fevil.example",
        ] {
            assert_eq!(validate(ok), Some(ok), "{ok}");
        }
    }

    #[test]
    fn anything_that_can_leave_the_site_is_refused() {
        for bad in [
            "",
            "//evil.example",
            "//evil.example/panels",
            "/\\evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "http:/evil.example",
            "javascript:alert(1)",
            "panels/1",
            "/panels\\..\\x",
            "/\tevil",
            "/ /evil.example",
            "/\r\nSet-Cookie: x=1",
            "/\u{0}",
            " /panels",
        ] {
            assert_eq!(validate(bad), None, "{bad:?}");
        }
        assert_eq!(validate(&format!("/{}", "a".repeat(MAX_LEN))), None);
    }

    #[test]
    fn unsafe_values_fall_back_to_home() {
        assert_eq!(or_home("//evil.example"), "/");
        assert_eq!(or_home("/panels/P1?x=1"), "/panels/P1?x=1");
    }
}
