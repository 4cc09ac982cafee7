//! Flow modes: `--workers` browsers, each with its own cookie jar, connection and (for providers
//! that show forms) its own user and TOTP secret.
//!
//! - `code`: the session code flow. Each worker signs in once before the clock starts (walking
//!   whatever the provider shows: redirects only, or HTML forms with username, password and
//!   passcode), then loops authorize → 30x → redirect_uri?code= → token exchange (PKCE S256,
//!   state and nonce per flow) with its session cookie. A sign-in page during the timed loop is
//!   an error.
//! - `code-full`: every flow starts with an empty cookie jar and walks the whole sign-in. For a
//!   provider that asks for a TOTP passcode, each user can finish one flow per 30-second step.
//! - `refresh`: each worker gets a refresh token once (scope `--refresh-scope`, plus the
//!   `--refresh-authorize-param`s), then loops grant_type=refresh_token, keeping the newest
//!   refresh token when the provider rotates it.

use base64::Engine;
use url::Url;

use crate::ctx::Ctx;
use crate::html;
use crate::http::{Agent, Request, Response, Target};
use crate::totp::User;

mod cookies;
mod run;

pub use cookies::Jar;
pub use run::{FlowMode, run};

/// Why a flow failed: a short kind for counting and a detail for the sample.
#[derive(Debug)]
pub struct FlowError {
    pub kind: String,
    pub detail: String,
}

fn err(kind: impl Into<String>, detail: impl Into<String>) -> FlowError {
    FlowError {
        kind: kind.into(),
        detail: detail.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// One browser

/// What a finished authorization request gives.
pub struct Authorized {
    pub code: String,
    pub verifier: Option<String>,
    pub nonce: String,
    /// Redirects and pages between the authorization request and the redirect URI.
    pub hops: u32,
}

/// The useful part of a token response.
#[derive(serde::Deserialize)]
pub struct Tokens {
    pub access_token: Option<String>,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
}

/// An ID token to verify once, with the nonce it was asked with.
#[derive(Clone)]
pub struct Sample {
    pub id_token: String,
    pub nonce: String,
}

/// One browser.
pub struct Worker {
    pub index: usize,
    agent: Agent,
    jar: Jar,
    user: Option<User>,
    /// Signed in (has a session) for `code`.
    signed_in: bool,
    refresh_token: Option<String>,
    pub http_requests: u64,
    /// The first ID token this worker received.
    pub sample: Option<Sample>,
    /// Hops of the last authorization request.
    pub last_hops: u32,
    /// Forms filled in by the last walk (0 for redirects-only providers).
    pub last_forms: u32,
}

fn random_b64(n: usize) -> Result<String, FlowError> {
    let mut buf = vec![0u8; n];
    openssl::rand::rand_bytes(&mut buf).map_err(|e| err("random", e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

fn same_endpoint(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
        && a.path() == b.path()
}

fn body_sample(res: &Response) -> String {
    String::from_utf8_lossy(&res.body[..res.body.len().min(200)]).into_owned()
}

impl Worker {
    pub fn new(index: usize, agent: Agent, user: Option<User>) -> Worker {
        Worker {
            index,
            agent,
            jar: Jar::default(),
            user,
            signed_in: false,
            refresh_token: None,
            http_requests: 0,
            sample: None,
            last_hops: 0,
            last_forms: 0,
        }
    }

    /// The user this worker signs in as.
    pub fn user(&self) -> Option<&User> {
        self.user.as_ref()
    }

    async fn send(
        &mut self,
        post: bool,
        url: &Url,
        headers: &[(&'static str, &str)],
        body: Option<bytes::Bytes>,
    ) -> Result<Response, FlowError> {
        let target = Target::new(url).map_err(|e| err("url", e))?;
        self.http_requests += 1;
        self.agent
            .send(Request {
                post,
                target: &target,
                headers,
                body,
            })
            .await
            .map_err(|e| err(e.kind, e.detail))
    }

    /// One authorization request, followed through redirects (and, with `allow_forms`, through
    /// the provider's sign-in pages) to the redirect URI.
    pub async fn authorize(
        &mut self,
        ctx: &Ctx,
        scope: &str,
        extra: &[&[(String, String)]],
        allow_forms: bool,
    ) -> Result<Authorized, FlowError> {
        let state = random_b64(12)?;
        let nonce = random_b64(12)?;
        let mut url = ctx
            .endpoint("authorization_endpoint")
            .map_err(|e| err("setup", e))?
            .clone();
        let mut verifier = None;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("client_id", &ctx.client_id)
                .append_pair("response_type", "code")
                .append_pair("scope", scope)
                .append_pair("redirect_uri", &ctx.redirect_uri)
                .append_pair("state", &state)
                .append_pair("nonce", &nonce);
            if ctx.pkce {
                let v = random_b64(32)?;
                let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .encode(openssl::sha::sha256(v.as_bytes()));
                q.append_pair("code_challenge", &challenge)
                    .append_pair("code_challenge_method", "S256");
                verifier = Some(v);
            }
            for params in extra {
                for (k, v) in *params {
                    q.append_pair(k, v);
                }
            }
        }
        let (code, hops) = self.walk(ctx, url, &state, allow_forms).await?;
        Ok(Authorized {
            code,
            verifier,
            nonce,
            hops,
        })
    }

    /// Follows redirects (and fills forms when allowed) until the redirect URI.
    async fn walk(
        &mut self,
        ctx: &Ctx,
        start: Url,
        state: &str,
        allow_forms: bool,
    ) -> Result<(String, u32), FlowError> {
        let mut url = start;
        let mut post_body: Option<bytes::Bytes> = None;
        let mut hops = 0u32;
        let (mut password_tries, mut passcode_tries) = (0u32, 0u32);
        self.last_forms = 0;
        // A sign-in walk may fill a few pages; a timed flow only follows redirects.
        let limit = if allow_forms {
            ctx.max_hops.max(30)
        } else {
            ctx.max_hops
        };
        loop {
            let cookie = self.jar.header_for(&url);
            let mut headers: Vec<(&'static str, &str)> = vec![("accept", "text/html")];
            if let Some(c) = &cookie {
                headers.push(("cookie", c));
            }
            if post_body.is_some() {
                headers.push(("content-type", "application/x-www-form-urlencoded"));
            }
            let post = post_body.is_some();
            let res = self.send(post, &url, &headers, post_body.take()).await?;
            for sc in &res.set_cookies {
                self.jar.absorb(sc, &url);
            }
            if (300..400).contains(&res.status) {
                let Some(loc) = res.location.as_deref() else {
                    return Err(err(
                        format!("authorize: HTTP {} without Location", res.status),
                        url.to_string(),
                    ));
                };
                let next = url
                    .join(loc)
                    .map_err(|e| err("authorize: bad Location", format!("{loc}: {e}")))?;
                if same_endpoint(&next, &ctx.redirect_url) {
                    return self.code_from(ctx, &next, state).map(|c| (c, hops));
                }
                hops += 1;
                if hops > limit {
                    return Err(err("authorize: too many hops", next.to_string()));
                }
                if (res.status == 307 || res.status == 308) && post {
                    return Err(err(
                        "authorize: 307 after a form",
                        "re-posting a form is not supported",
                    ));
                }
                url = next;
                continue;
            }
            let is_html = res
                .content_type
                .as_deref()
                .is_some_and(|t| t.starts_with("text/html"));
            if res.status == 200 && is_html {
                if !allow_forms {
                    return Err(err(
                        "authorize: page shown to a signed-in worker",
                        format!("{url}: {}", body_sample(&res)),
                    ));
                }
                let text = String::from_utf8_lossy(&res.body);
                let Some(form) = html::pick_form(&text) else {
                    return Err(err(
                        "sign-in: page without a form",
                        format!("{url}: {}", body_sample(&res)),
                    ));
                };
                let wants_password = form.password_field().is_some();
                let wants_passcode = form.passcode_field().is_some();
                if wants_password {
                    password_tries += 1;
                }
                if wants_passcode {
                    passcode_tries += 1;
                }
                if password_tries > 3 || passcode_tries > 3 {
                    return Err(err(
                        "sign-in: rejected",
                        format!(
                            "the provider kept asking for credentials ({url}); \
                             check the user's password and TOTP secret"
                        ),
                    ));
                }
                let (action_post, action_url, body) = self.fill(&url, &form).await?;
                self.last_forms += 1;
                hops += 1;
                if hops > limit {
                    return Err(err("authorize: too many hops", url.to_string()));
                }
                url = action_url;
                post_body = action_post.then_some(body);
                continue;
            }
            let kind = match crate::http::oauth_error(&res.body) {
                Some(e) => format!("authorize: HTTP {} {e}", res.status),
                None => format!("authorize: HTTP {}", res.status),
            };
            return Err(err(kind, format!("{url}: {}", body_sample(&res))));
        }
    }

    /// Fills a form as a person would; returns (is POST, target URL, body or query).
    async fn fill(
        &mut self,
        page: &Url,
        form: &html::Form,
    ) -> Result<(bool, Url, bytes::Bytes), FlowError> {
        let passcode_name = form.passcode_field().map(|f| f.name.clone());
        let password_name = form.password_field().map(|f| f.name.clone());
        let username_name = form.username_field().map(|f| f.name.clone());
        let needs_user =
            passcode_name.is_some() || password_name.is_some() || username_name.is_some();
        if needs_user && self.user.is_none() {
            return Err(err(
                "sign-in: credentials needed",
                format!(
                    "{page} shows a sign-in form: give --users FILE, or --user, --password \
                     and --totp-secret"
                ),
            ));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut clicked = false;
        for f in &form.fields {
            if f.name.is_empty() {
                continue;
            }
            let value = if Some(&f.name) == passcode_name.as_ref() {
                match self.user.as_mut() {
                    Some(u) => u.next_code().await.map_err(|e| err("sign-in: totp", e))?,
                    None => continue,
                }
            } else if Some(&f.name) == password_name.as_ref() {
                match &self.user {
                    Some(u) => u.password.clone(),
                    None => continue,
                }
            } else if Some(&f.name) == username_name.as_ref() {
                match &self.user {
                    Some(u) => u.username.clone(),
                    None => continue,
                }
            } else {
                match f.kind.as_str() {
                    "submit" | "image" => {
                        if clicked {
                            continue;
                        }
                        clicked = true;
                        f.value.clone()
                    }
                    "checkbox" | "radio" | "reset" | "file" => continue,
                    _ if f.tag == "button" && f.kind == "button" => continue,
                    _ => f.value.clone(),
                }
            };
            pairs.push((f.name.clone(), value));
        }
        let target = if form.action.is_empty() {
            page.clone()
        } else {
            page.join(&form.action)
                .map_err(|e| err("sign-in: bad form action", format!("{}: {e}", form.action)))?
        };
        let refs: Vec<(&str, &str)> = pairs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if form.method == "POST" {
            Ok((true, target, crate::http::form(&refs)))
        } else {
            let mut t = target;
            t.query_pairs_mut().clear().extend_pairs(refs);
            Ok((false, t, bytes::Bytes::new()))
        }
    }

    /// The code of an authorization response (RFC 6749 §4.1.2, RFC 9207 `iss`).
    fn code_from(&self, ctx: &Ctx, url: &Url, state: &str) -> Result<String, FlowError> {
        let mut code = None;
        let mut got_state = None;
        let mut error = None;
        let mut iss = None;
        for (k, v) in url.query_pairs() {
            match k.as_ref() {
                "code" => code = Some(v.into_owned()),
                "state" => got_state = Some(v.into_owned()),
                "error" => error = Some(v.into_owned()),
                "iss" => iss = Some(v.into_owned()),
                _ => {}
            }
        }
        if let Some(e) = error {
            return Err(err(format!("authorize: error={e}"), url.to_string()));
        }
        if got_state.as_deref() != Some(state) {
            return Err(err("authorize: state mismatch", url.to_string()));
        }
        if iss.as_deref().is_some_and(|i| i != ctx.ep.issuer) {
            return Err(err("authorize: iss mismatch", url.to_string()));
        }
        code.ok_or_else(|| err("authorize: no code", url.to_string()))
    }

    /// A token request with the client's credentials.
    async fn token(&mut self, ctx: &Ctx, pairs: Vec<(&str, &str)>) -> Result<Tokens, FlowError> {
        let url = ctx
            .endpoint("token_endpoint")
            .map_err(|e| err("setup", e))?
            .clone();
        let (headers, body) = ctx.client_request(pairs);
        let h: Vec<(&'static str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = self.send(true, &url, &h, Some(body)).await?;
        if res.status != 200 {
            let kind = match crate::http::oauth_error(&res.body) {
                Some(e) => format!("token: HTTP {} {e}", res.status),
                None => format!("token: HTTP {}", res.status),
            };
            return Err(err(kind, body_sample(&res)));
        }
        let t: Tokens = serde_json::from_slice(&res.body)
            .map_err(|e| err("token: not JSON", format!("{e}: {}", body_sample(&res))))?;
        if t.access_token.is_none() {
            return Err(err("token: no access_token", body_sample(&res)));
        }
        Ok(t)
    }

    /// Redeems a code (RFC 6749 §4.1.3); checks an ID token came back when `openid` was asked.
    pub async fn redeem(
        &mut self,
        ctx: &Ctx,
        a: &Authorized,
        scope: &str,
    ) -> Result<Tokens, FlowError> {
        let mut pairs = vec![
            ("grant_type", "authorization_code"),
            ("code", a.code.as_str()),
            ("redirect_uri", ctx.redirect_uri.as_str()),
        ];
        if let Some(v) = &a.verifier {
            pairs.push(("code_verifier", v));
        }
        let t = self.token(ctx, pairs).await?;
        if scope.split(' ').any(|s| s == "openid") {
            let Some(id) = &t.id_token else {
                return Err(err("token: no id_token", "scope has openid"));
            };
            if self.sample.is_none() {
                self.sample = Some(Sample {
                    id_token: id.clone(),
                    nonce: a.nonce.clone(),
                });
            }
        }
        Ok(t)
    }

    /// One complete code flow; `allow_forms` lets it sign in.
    async fn code_flow(
        &mut self,
        ctx: &Ctx,
        scope: &str,
        extra: &[&[(String, String)]],
        allow_forms: bool,
    ) -> Result<Tokens, FlowError> {
        let a = self.authorize(ctx, scope, extra, allow_forms).await?;
        self.last_hops = a.hops;
        self.redeem(ctx, &a, scope).await
    }

    /// Makes sure the worker has a session (signs in once).
    async fn ensure_session(&mut self, ctx: &Ctx) -> Result<(), FlowError> {
        if !self.signed_in {
            self.code_flow(ctx, &ctx.scope, &[&ctx.extra_params], true)
                .await?;
            self.signed_in = true;
        }
        Ok(())
    }

    /// Gets a refresh token through a code flow (signing in if needed).
    async fn acquire_refresh_token(&mut self, ctx: &Ctx) -> Result<(), FlowError> {
        let t = self
            .code_flow(
                ctx,
                &ctx.refresh_scope,
                &[&ctx.extra_params, &ctx.refresh_params],
                true,
            )
            .await?;
        self.signed_in = true;
        let Some(rt) = t.refresh_token else {
            return Err(err(
                "setup: no refresh_token",
                format!(
                    "the code exchange with scope {:?} gave no refresh token (the reference \
                     provider needs --refresh-authorize-param prompt=consent; the client must be \
                     allowed the refresh_token grant)",
                    ctx.refresh_scope
                ),
            ));
        };
        self.refresh_token = Some(rt);
        Ok(())
    }

    /// One refresh (RFC 6749 §6), keeping the newest refresh token.
    async fn refresh(&mut self, ctx: &Ctx) -> Result<(), FlowError> {
        let rt = self
            .refresh_token
            .clone()
            .ok_or_else(|| err("refresh: no refresh token", ""))?;
        let t = self
            .token(
                ctx,
                vec![("grant_type", "refresh_token"), ("refresh_token", &rt)],
            )
            .await?;
        if let Some(new) = t.refresh_token {
            self.refresh_token = Some(new);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_match() {
        let r = Url::parse("http://127.0.0.1:9999/cb").unwrap();
        assert!(same_endpoint(
            &Url::parse("http://127.0.0.1:9999/cb?code=x").unwrap(),
            &r
        ));
        assert!(!same_endpoint(
            &Url::parse("http://127.0.0.1:9999/cb2?code=x").unwrap(),
            &r
        ));
        assert!(!same_endpoint(
            &Url::parse("http://127.0.0.1:9998/cb").unwrap(),
            &r
        ));
    }
}
