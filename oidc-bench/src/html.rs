//! Just enough HTML to walk a sign-in page: the forms, their action and method, and their
//! `input` and submit `button` elements. Not a general parser: it reads tags and attributes and
//! ignores everything else, which is what a provider's sign-in, passcode and consent pages need.

/// One form field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// `input` or `button`.
    pub tag: String,
    pub name: String,
    pub value: String,
    /// Lower-cased `type` (`text` when absent for an input, `submit` for a button).
    pub kind: String,
    /// Lower-cased `autocomplete`.
    pub autocomplete: String,
}

/// One form.
#[derive(Debug, Clone, Default)]
pub struct Form {
    /// The raw `action` (empty: the page's own URL).
    pub action: String,
    /// Upper-cased method (`GET` when absent).
    pub method: String,
    pub fields: Vec<Field>,
}

impl Form {
    /// Whether the form asks for a passcode (a one-time code).
    pub fn passcode_field(&self) -> Option<&Field> {
        self.fields.iter().find(|f| is_passcode(f))
    }

    /// Whether the form asks for a password.
    pub fn password_field(&self) -> Option<&Field> {
        self.fields
            .iter()
            .find(|f| f.kind == "password" && !is_passcode(f))
    }

    /// The username field, if any.
    pub fn username_field(&self) -> Option<&Field> {
        self.fields.iter().find(|f| {
            f.tag == "input"
                && (f.autocomplete == "username"
                    || matches!(
                        f.name.as_str(),
                        "username" | "user" | "login" | "email" | "user_name"
                    ))
        })
    }
}

/// A field that takes a one-time code.
fn is_passcode(f: &Field) -> bool {
    f.tag == "input"
        && (f.autocomplete.contains("one-time-code")
            || matches!(
                f.name.as_str(),
                "passcode" | "otp" | "totp" | "tokencode" | "one_time_code" | "mfa_code"
            ))
}

/// Every form of a page, in order.
pub fn forms(html: &str) -> Vec<Form> {
    let mut out: Vec<Form> = Vec::new();
    let mut current: Option<Form> = None;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        if let Some(comment) = rest.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let Some((name, attrs, after)) = tag(rest) else {
            continue;
        };
        rest = after;
        match name.as_str() {
            "form" => {
                if let Some(f) = current.take() {
                    out.push(f);
                }
                current = Some(Form {
                    action: attr(&attrs, "action").unwrap_or_default(),
                    method: attr(&attrs, "method")
                        .map(|m| m.to_ascii_uppercase())
                        .unwrap_or_else(|| "GET".into()),
                    fields: Vec::new(),
                });
            }
            "/form" => {
                if let Some(f) = current.take() {
                    out.push(f);
                }
            }
            "input" | "button" => {
                if let Some(f) = current.as_mut() {
                    let default_kind = if name == "input" { "text" } else { "submit" };
                    f.fields.push(Field {
                        tag: name.clone(),
                        name: attr(&attrs, "name").unwrap_or_default(),
                        value: attr(&attrs, "value").unwrap_or_default(),
                        kind: attr(&attrs, "type")
                            .map(|t| t.to_ascii_lowercase())
                            .unwrap_or_else(|| default_kind.into()),
                        autocomplete: attr(&attrs, "autocomplete")
                            .map(|t| t.to_ascii_lowercase())
                            .unwrap_or_default(),
                    });
                }
            }
            _ => {}
        }
    }
    if let Some(f) = current.take() {
        out.push(f);
    }
    out
}

/// The form to fill on a sign-in page: the first one with a passcode, password or username
/// field; else the first form with a submit control (a consent page).
pub fn pick_form(html: &str) -> Option<Form> {
    let all = forms(html);
    let asks = |f: &Form| {
        f.passcode_field().is_some() || f.password_field().is_some() || f.username_field().is_some()
    };
    if let Some(f) = all.iter().find(|f| asks(f)) {
        return Some(f.clone());
    }
    all.into_iter().find(|f| {
        f.method == "POST"
            && f.fields
                .iter()
                .any(|x| x.kind == "submit" || x.kind == "hidden")
    })
}

/// A tag's attributes, names lower-cased, values decoded.
type Attrs = Vec<(String, String)>;

/// Reads a tag starting just after `<`: its lower-cased name (with a leading `/` for an end tag),
/// its attributes and the text after `>`. Declarations give `None`.
fn tag(s: &str) -> Option<(String, Attrs, &str)> {
    let name_len = s
        .find(|c: char| c.is_whitespace() || c == '>' || (c == '/' && !s.starts_with('/')))
        .unwrap_or(s.len());
    let name = s.get(..name_len)?.to_ascii_lowercase();
    if name.is_empty() || name.starts_with('!') || name.starts_with('?') {
        return None;
    }
    let mut rest = &s[name_len..];
    let mut attrs = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == '/');
        if rest.is_empty() {
            return Some((name, attrs, rest));
        }
        if let Some(after) = rest.strip_prefix('>') {
            return Some((name, attrs, after));
        }
        let key_len = rest
            .find(|c: char| c.is_whitespace() || c == '=' || c == '>' || c == '/')
            .unwrap_or(rest.len());
        let key = rest[..key_len].to_ascii_lowercase();
        rest = rest[key_len..].trim_start();
        let mut value = String::new();
        if let Some(after_eq) = rest.strip_prefix('=') {
            let v = after_eq.trim_start();
            if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let body = &v[1..];
                let end = body.find(q).unwrap_or(body.len());
                value = decode_entities(&body[..end]);
                rest = body.get(end + 1..).unwrap_or("");
            } else {
                let end = v
                    .find(|c: char| c.is_whitespace() || c == '>')
                    .unwrap_or(v.len());
                value = decode_entities(&v[..end]);
                rest = &v[end..];
            }
        }
        if key.is_empty() {
            // A stray character: skip it.
            rest = rest.get(1..).unwrap_or("");
            continue;
        }
        attrs.push((key, value));
    }
}

fn attr(attrs: &[(String, String)], key: &str) -> Option<String> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

/// Decodes the character references an attribute value may hold.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&n| n <= 10).and_then(|semi| {
            let ent = &rest[1..semi];
            let ch = match ent {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => ent
                    .strip_prefix("#x")
                    .or_else(|| ent.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| ent.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            ch.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, used)) => {
                out.push(c);
                rest = &rest[used..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNIN: &str = r#"<!doctype html><html><body>
<!-- <form action="/nope"> -->
<form method="get" action="/lang"><select name="l"></select></form>
<form method="post" action="/signin/j-1" novalidate>
<input type="hidden" name="csrf" value="a&amp;b&#x27;c">
<label for="username">Username</label>
<input id="username" name="username" type="text" autocomplete="username" required value="">
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></body></html>"#;

    const PASSCODE: &str = r#"<form method="post" action="http://x/signin/j-1" novalidate>
<input type=hidden name=csrf value=t0k>
<input id="passcode" name="passcode" type="password" autocomplete="one-time-code" inputmode="numeric" maxlength="16" required autofocus/>
<button type="submit">Submit</button></form>"#;

    #[test]
    fn reads_the_sign_in_form() {
        let f = pick_form(SIGNIN).unwrap();
        assert_eq!(f.action, "/signin/j-1");
        assert_eq!(f.method, "POST");
        assert_eq!(f.fields[0].name, "csrf");
        assert_eq!(f.fields[0].value, "a&b'c");
        assert_eq!(f.username_field().unwrap().name, "username");
        assert_eq!(f.password_field().unwrap().name, "password");
        assert!(f.passcode_field().is_none());
        assert_eq!(forms(SIGNIN).len(), 2);
    }

    #[test]
    fn reads_the_passcode_form() {
        let f = pick_form(PASSCODE).unwrap();
        assert_eq!(f.fields[0].value, "t0k");
        assert_eq!(f.passcode_field().unwrap().name, "passcode");
        assert!(f.password_field().is_none(), "a passcode is not a password");
    }

    #[test]
    fn consent_form_and_entities() {
        let f = pick_form(
            r#"<form method="post" action="/consent"><input type="hidden" name="csrf" value="z">
            <button type="submit" name="decision" value="allow">Allow</button></form>"#,
        )
        .unwrap();
        assert_eq!(f.fields[1].name, "decision");
        assert_eq!(f.fields[1].value, "allow");
        assert_eq!(decode_entities("a&#65;&#x42;&bogus;&"), "aAB&bogus;&");
        assert!(pick_form("<p>no form</p>").is_none());
    }
}
