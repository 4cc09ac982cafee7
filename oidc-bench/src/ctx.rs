//! What every load task shares: the provider's endpoints (from discovery) and the client.

use std::time::Duration;

use bytes::Bytes;
use url::Url;

use crate::http::{Agent, Backend, Request, Target};

/// How the client authenticates at the token and introspection endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `client_secret_basic` (RFC 6749 §2.3.1).
    Basic,
    /// `client_secret_post`.
    Post,
}

/// The endpoints found by discovery.
#[derive(Debug, Clone)]
pub struct Endpoints {
    pub issuer: String,
    pub discovery: Url,
    pub authorization: Option<Url>,
    pub token: Option<Url>,
    pub jwks: Option<Url>,
    pub introspection: Option<Url>,
}

/// Shared, read-only.
pub struct Ctx {
    pub ep: Endpoints,
    pub client_id: String,
    pub client_secret: String,
    pub client_auth: ClientAuth,
    /// The Authorization header for client_secret_basic.
    pub basic: String,
    pub backend: Backend,
    pub timeout: Duration,
    pub duration: Duration,
    /// Exactly as given (sent as is; the provider compares it with the registered one).
    pub redirect_uri: String,
    pub redirect_url: Url,
    pub scope: String,
    pub refresh_scope: String,
    pub extra_params: Vec<(String, String)>,
    pub refresh_params: Vec<(String, String)>,
    pub pkce: bool,
    pub max_hops: u32,
    pub cc_scope: Option<String>,
}

impl Ctx {
    /// The headers and body of a token/introspection request with this client's credentials.
    pub fn client_request<'a>(
        &'a self,
        mut pairs: Vec<(&'a str, &'a str)>,
    ) -> (Vec<(&'static str, String)>, Bytes) {
        let mut headers = vec![
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
            ("accept", "application/json".to_string()),
        ];
        match self.client_auth {
            ClientAuth::Basic => headers.push(("authorization", self.basic.clone())),
            ClientAuth::Post => {
                pairs.push(("client_id", &self.client_id));
                pairs.push(("client_secret", &self.client_secret));
            }
        }
        (headers, crate::http::form(&pairs))
    }

    pub fn endpoint(&self, which: &str) -> Result<&Url, String> {
        let ep = match which {
            "authorization_endpoint" => &self.ep.authorization,
            "token_endpoint" => &self.ep.token,
            "jwks_uri" => &self.ep.jwks,
            "introspection_endpoint" => &self.ep.introspection,
            _ => &None,
        };
        ep.as_ref()
            .ok_or_else(|| format!("{which} is not in the discovery document"))
    }
}

/// OIDC Discovery §4: GET `{issuer}/.well-known/openid-configuration`.
pub async fn discover(
    issuer: &str,
    backend: Backend,
    timeout: Duration,
) -> Result<(Endpoints, Vec<String>), String> {
    let base = issuer.trim_end_matches('/');
    let url = Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|e| format!("issuer {issuer}: {e}"))?;
    let mut agent = Agent::new(backend, timeout)?;
    let target = Target::new(&url)?;
    let res = agent
        .send(Request {
            post: false,
            target: &target,
            headers: &[("accept", "application/json")],
            body: None,
        })
        .await
        .map_err(|e| format!("discovery {url}: {}: {}", e.kind, e.detail))?;
    if res.status != 200 {
        return Err(format!("discovery {url}: HTTP {}", res.status));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&res.body).map_err(|e| format!("discovery {url}: not JSON: {e}"))?;
    let mut notes = Vec::new();
    let get = |k: &str| -> Result<Option<Url>, String> {
        match doc.get(k).and_then(|v| v.as_str()) {
            Some(s) => Url::parse(s)
                .map(Some)
                .map_err(|e| format!("{k} {s:?}: {e}")),
            None => Ok(None),
        }
    };
    let doc_issuer = doc
        .get("issuer")
        .and_then(|v| v.as_str())
        .ok_or("discovery document has no issuer")?
        .to_string();
    if doc_issuer != issuer {
        // §4.3 wants them identical; carry on with the document's, which is what `iss` says.
        notes.push(format!(
            "the discovery document says issuer {doc_issuer:?}, not {issuer:?} as given"
        ));
    }
    Ok((
        Endpoints {
            issuer: doc_issuer,
            discovery: url.clone(),
            authorization: get("authorization_endpoint")?,
            token: get("token_endpoint")?,
            jwks: get("jwks_uri")?,
            introspection: get("introspection_endpoint")?,
        },
        notes,
    ))
}
