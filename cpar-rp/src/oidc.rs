//! CPAR as an OpenID Connect relying party of AHS IAM, with the `openidconnect` crate: discovery
//! (retried with back-off at start), the authorization request (code flow, PKCE S256, `state`,
//! `nonce`), the code exchange (`client_secret_basic`), the ID token checks (signature, issuer,
//! audience, nonce, expiry, `at_hash`), userinfo for the profile and `roles`, and the URL of
//! RP-Initiated Logout.

use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine;
use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClaimName, CoreClaimType,
    CoreClient, CoreClientAuthMethod, CoreGenderClaim, CoreGrantType, CoreIdToken, CoreJsonWebKey,
    CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AccessTokenHash, AdditionalClaims, AdditionalProviderMetadata, AuthUrl, AuthorizationCode,
    ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, DiscoveryError, EndSessionUrl,
    EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySetUrl, LogoutProviderMetadata,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, ProviderMetadata, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, SubjectIdentifier, TokenResponse, TokenUrl, UserInfoClaims,
    UserInfoUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::chain;
use crate::{Clock, Config, Error};

/// The provider metadata CPAR reads beyond OIDC Discovery's: RP-Initiated Logout's
/// `end_session_endpoint`, and RFC 9207's `authorization_response_iss_parameter_supported`.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IssParameter {
    #[serde(default)]
    authorization_response_iss_parameter_supported: Option<bool>,
}
impl AdditionalProviderMetadata for IssParameter {}

type Metadata = ProviderMetadata<
    LogoutProviderMetadata<IssParameter>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The `roles` claim of userinfo (the scope `roles`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
struct RolesClaim {
    #[serde(default)]
    roles: Vec<String>,
}
impl AdditionalClaims for RolesClaim {}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
    EndpointSet,
>;

/// The scopes CPAR asks for besides `openid`.
const SCOPES: [&str; 3] = ["profile", "email", "roles"];
/// The longest wait between two discovery attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The least time between two key set refreshes forced by an unknown `kid`.
const JWKS_REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// How far AHS IAM's clock may be from CPAR's, for the `auth_time` check after `prompt=login`.
const CLOCK_SKEW_SECS: i64 = 300;

/// The relying party: AHS IAM's endpoints and keys, and CPAR's registration.
pub(crate) struct Oidc {
    http: reqwest::Client,
    client_id: ClientId,
    client_secret: ClientSecret,
    issuer: IssuerUrl,
    auth_url: AuthUrl,
    token_url: TokenUrl,
    userinfo_url: UserInfoUrl,
    redirect_url: RedirectUrl,
    jwks_uri: JsonWebKeySetUrl,
    algs: Vec<CoreJwsSigningAlgorithm>,
    jwks: RwLock<CoreJsonWebKeySet>,
    last_jwks_refresh: Mutex<Option<tokio::time::Instant>>,
    end_session: Option<EndSessionUrl>,
    iss_parameter_required: bool,
    clock: Arc<dyn Clock>,
}

/// A new authorization request: where to send the browser, and what to keep.
pub(crate) struct AuthStart {
    pub url: Url,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// The signed-in person, from a verified ID token and userinfo.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub subject: String,
    pub username: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<String>,
    pub id_token: String,
    /// The AHS IAM session (`sid`), when the ID token names one.
    pub sid: Option<String>,
}

/// A verified logout token (OpenID Connect Back-Channel Logout 1.0 §2.4).
#[derive(Debug, Clone)]
pub(crate) struct LogoutToken {
    pub sid: Option<String>,
    pub sub: Option<String>,
    pub jti: String,
    /// Seconds since the epoch.
    pub exp: i64,
}

/// The event member a logout token's `events` must hold (§2.4).
const BACKCHANNEL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// The oldest `iat` a logout token may have (the provider's tokens live two minutes).
const LOGOUT_TOKEN_MAX_AGE_SECS: i64 = 300;
/// The longest logout token parsed.
const MAX_LOGOUT_TOKEN_LEN: usize = 16 * 1024;

/// Why a callback could not complete a sign-in.
#[derive(Debug)]
pub(crate) enum SignInFailure {
    /// AHS IAM did not answer, or answered with something that is not the protocol's.
    Unreachable(String),
    /// AHS IAM refused the code (expired, used, …): the OAuth error code.
    Refused(String),
    /// The answer failed a check (ID token signature, nonce, `at_hash`, …).
    Invalid(String),
}

impl Oidc {
    /// Discovers AHS IAM, retrying with back-off (doubling from 250 ms, at most 5 s apart) for up
    /// to `config.discovery_timeout`, with a log line at each failure. A document that fails
    /// validation (for example an issuer that differs from the configured one) is not retried.
    pub(crate) async fn discover(config: &Config, clock: Arc<dyn Clock>) -> Result<Oidc, Error> {
        let http = reqwest::Client::builder()
            // Following redirects would open CPAR to SSRF through the provider's answers.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(config.http_timeout)
            .connect_timeout(config.http_timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| Error::Config(format!("issuer: {e}")))?;
        let started = tokio::time::Instant::now();
        let deadline = started + config.discovery_timeout;
        let mut backoff = Duration::from_millis(250);
        let mut attempts = 0u32;
        let metadata = loop {
            attempts += 1;
            let failure = match Metadata::discover_async(issuer.clone(), &http).await {
                Ok(m) => break m,
                Err(e @ DiscoveryError::Validation(_)) => {
                    return Err(Error::Discovery {
                        issuer: config.issuer.clone(),
                        attempts,
                        waited: started.elapsed(),
                        last_error: chain(&e),
                    });
                }
                Err(e) => chain(&e),
            };
            let now = tokio::time::Instant::now();
            if now >= deadline {
                tracing::error!(
                    issuer = %config.issuer,
                    attempts,
                    error = %failure,
                    "AHS IAM discovery failed; giving up"
                );
                return Err(Error::Discovery {
                    issuer: config.issuer.clone(),
                    attempts,
                    waited: started.elapsed(),
                    last_error: failure,
                });
            }
            let wait = backoff.min(deadline - now);
            tracing::warn!(
                issuer = %config.issuer,
                attempt = attempts,
                retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                error = %failure,
                "AHS IAM is not answering discovery yet; retrying"
            );
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        };
        let base = config.base()?;
        let token_url = metadata
            .token_endpoint()
            .cloned()
            .ok_or_else(|| discovery_gap(config, attempts, "no token_endpoint"))?;
        let userinfo_url = metadata
            .userinfo_endpoint()
            .cloned()
            .ok_or_else(|| discovery_gap(config, attempts, "no userinfo_endpoint"))?;
        let algs: Vec<CoreJwsSigningAlgorithm> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|a| {
                !matches!(
                    a,
                    CoreJwsSigningAlgorithm::None
                        | CoreJwsSigningAlgorithm::HmacSha256
                        | CoreJwsSigningAlgorithm::HmacSha384
                        | CoreJwsSigningAlgorithm::HmacSha512
                )
            })
            .cloned()
            .collect();
        if algs.is_empty() {
            return Err(discovery_gap(
                config,
                attempts,
                "no asymmetric ID token signing algorithm",
            ));
        }
        let extra = metadata.additional_metadata();
        let end_session = extra.end_session_endpoint.clone();
        let iss_parameter_required = extra
            .additional_metadata
            .authorization_response_iss_parameter_supported
            == Some(true);
        tracing::info!(
            issuer = %config.issuer,
            attempts,
            end_session = end_session.is_some(),
            "AHS IAM discovered"
        );
        Ok(Oidc {
            http,
            client_id: ClientId::new(config.client_id.clone()),
            client_secret: ClientSecret::new(config.client_secret.clone()),
            issuer,
            auth_url: metadata.authorization_endpoint().clone(),
            token_url,
            userinfo_url,
            redirect_url: RedirectUrl::new(format!("{base}{}", crate::web::CALLBACK))
                .map_err(|e| Error::Config(format!("redirect URI: {e}")))?,
            jwks_uri: metadata.jwks_uri().clone(),
            algs,
            jwks: RwLock::new(metadata.jwks().clone()),
            last_jwks_refresh: Mutex::new(None),
            end_session,
            iss_parameter_required,
            clock,
        })
    }

    /// The issuer, as `iss` must read.
    pub(crate) fn issuer(&self) -> &str {
        self.issuer.as_str()
    }

    /// Whether the provider promised RFC 9207 `iss` in every authorization response.
    pub(crate) fn iss_parameter_required(&self) -> bool {
        self.iss_parameter_required
    }

    fn client(&self) -> Client {
        let jwks = self
            .jwks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        CoreClient::new(self.client_id.clone(), self.issuer.clone(), jwks)
            .set_client_secret(self.client_secret.clone())
            .set_auth_uri(self.auth_url.clone())
            .set_token_uri(self.token_url.clone())
            .set_user_info_url(self.userinfo_url.clone())
            .set_redirect_uri(self.redirect_url.clone())
    }

    /// A new authorization request: code flow, PKCE S256, 256-bit `state` and `nonce`, scopes
    /// `openid profile email roles`, and `prompt=login` when asked.
    pub(crate) fn start(&self, prompt_login: bool) -> AuthStart {
        let client = self.client();
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256_len(32);
        let mut request = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                || CsrfToken::new_random_len(32),
                || Nonce::new_random_len(32),
            )
            .set_pkce_challenge(challenge);
        for s in SCOPES {
            request = request.add_scope(Scope::new(s.to_string()));
        }
        if prompt_login {
            request = request.add_prompt(CoreAuthPrompt::Login);
        }
        let (url, state, nonce) = request.url();
        AuthStart {
            url,
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
        }
    }

    /// Redeems `code`, verifies the ID token, and reads userinfo. With `fresh_since`, the ID
    /// token's `auth_time` must not be earlier (give or take clock skew): the provider really
    /// asked for the credentials again after `prompt=login`.
    pub(crate) async fn complete(
        &self,
        code: String,
        pkce_verifier: String,
        nonce: String,
        fresh_since: Option<DateTime<Utc>>,
    ) -> Result<Identity, SignInFailure> {
        let mut client = self.client();
        let token = client
            .exchange_code(AuthorizationCode::new(code))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => {
                    SignInFailure::Refused(r.error().to_string())
                }
                other => SignInFailure::Unreachable(chain(&other)),
            })?;
        let id_token = token
            .id_token()
            .ok_or_else(|| SignInFailure::Invalid("the token response has no ID token".into()))?;
        let nonce = Nonce::new(nonce);
        let first = self.verify(&client, id_token, &nonce);
        let claims = match first {
            // The provider may have rotated its keys since discovery: fetch them once more.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) if self.refresh_jwks().await => {
                client = self.client();
                self.verify(&client, id_token, &nonce)
            }
            other => other,
        }
        .map_err(|e| SignInFailure::Invalid(format!("ID token: {}", chain(&e))))?;
        // at_hash (OIDC Core §3.1.3.8): the access token is the one issued with this ID token.
        if let Some(expected) = claims.access_token_hash() {
            let verifier = self.verifier(&client);
            let alg = id_token
                .signing_alg()
                .map_err(|e| SignInFailure::Invalid(format!("ID token: {e}")))?;
            let key = id_token
                .signing_key(&verifier)
                .map_err(|e| SignInFailure::Invalid(format!("ID token: {e}")))?;
            let actual = AccessTokenHash::from_token(token.access_token(), alg, key)
                .map_err(|e| SignInFailure::Invalid(format!("at_hash: {e}")))?;
            if actual != *expected {
                return Err(SignInFailure::Invalid(
                    "at_hash does not match the access token".into(),
                ));
            }
        }
        if let Some(since) = fresh_since {
            let fresh = claims
                .auth_time()
                .is_some_and(|t| t >= since - chrono::Duration::seconds(CLOCK_SKEW_SECS));
            if !fresh {
                return Err(SignInFailure::Invalid(
                    "CPAR asked for a new sign-in (prompt=login) but auth_time is older".into(),
                ));
            }
        }
        let subject = claims.subject().clone();
        let userinfo: UserInfoClaims<RolesClaim, CoreGenderClaim> = client
            .user_info(
                token.access_token().clone(),
                Some(SubjectIdentifier::new(subject.to_string())),
            )
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                openidconnect::UserInfoError::ClaimsVerification(v) => {
                    SignInFailure::Invalid(format!("userinfo: {}", chain(&v)))
                }
                other => SignInFailure::Unreachable(format!("userinfo: {}", chain(&other))),
            })?;
        let username = userinfo
            .preferred_username()
            .map(|u| u.to_string())
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| SignInFailure::Invalid("userinfo has no preferred_username".into()))?;
        let name = userinfo
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.to_string())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| username.clone());
        let email = userinfo.email().map(|e| e.to_string()).unwrap_or_default();
        let roles = userinfo.additional_claims().roles.clone();
        Ok(Identity {
            subject: subject.to_string(),
            username,
            name,
            email,
            roles,
            sid: jwt_claims(&id_token.to_string())
                .and_then(|c| c.get("sid")?.as_str().map(str::to_string)),
            id_token: id_token.to_string(),
        })
    }

    fn verifier<'a>(
        &self,
        client: &'a Client,
    ) -> openidconnect::IdTokenVerifier<'a, CoreJsonWebKey> {
        let clock = self.clock.clone();
        client
            .id_token_verifier()
            .set_allowed_algs(self.algs.clone())
            .set_time_fn(move || clock.now())
    }

    fn verify<'t>(
        &self,
        client: &Client,
        id_token: &'t CoreIdToken,
        nonce: &Nonce,
    ) -> Result<&'t openidconnect::core::CoreIdTokenClaims, ClaimsVerificationError> {
        id_token.claims(&self.verifier(client), nonce)
    }

    /// Fetches the key set again (the provider may have rotated its keys), at most once per
    /// [`JWKS_REFRESH_INTERVAL`]; true if new keys were loaded.
    async fn refresh_jwks(&self) -> bool {
        {
            let mut last = self
                .last_jwks_refresh
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = tokio::time::Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < JWKS_REFRESH_INTERVAL) {
                return false;
            }
            *last = Some(now);
        }
        match CoreJsonWebKeySet::fetch_async(&self.jwks_uri, &self.http).await {
            Ok(keys) => {
                *self
                    .jwks
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = keys;
                tracing::info!("AHS IAM key set refreshed");
                true
            }
            Err(e) => {
                tracing::warn!(error = %chain(&e), "AHS IAM key set refresh failed");
                false
            }
        }
    }

    /// Verifies a logout token (OpenID Connect Back-Channel Logout 1.0 §2.6): a JWS signed by one
    /// of AHS IAM's keys with an algorithm from discovery (never `none` or HMAC), `typ`
    /// `logout+jwt`, `iss` the issuer, `aud` CPAR's client id, `iat` recent and not in the future,
    /// `exp` not passed, `events` with the back-channel logout member (an object), `sid` or `sub`,
    /// no `nonce`, and a `jti`. The caller refuses a replayed `jti`.
    pub(crate) async fn verify_logout_token(&self, token: &str) -> Result<LogoutToken, String> {
        if token.len() > MAX_LOGOUT_TOKEN_LEN {
            return Err("the logout token is too long".into());
        }
        let parts: Vec<&str> = token.split('.').collect();
        let [h, p, sig] = parts.as_slice() else {
            return Err("the logout token is not a compact JWS".into());
        };
        let header = b64_json(h).ok_or("the logout token's header is not JSON")?;
        let typ = header.get("typ").and_then(|t| t.as_str()).unwrap_or("");
        if !typ.eq_ignore_ascii_case("logout+jwt")
            && !typ.eq_ignore_ascii_case("application/logout+jwt")
        {
            return Err("the token is not a logout token (typ)".into());
        }
        let alg: CoreJwsSigningAlgorithm = header
            .get("alg")
            .cloned()
            .and_then(|a| serde_json::from_value(a).ok())
            .ok_or("the logout token has no usable alg")?;
        if !self.algs.contains(&alg) {
            return Err("the logout token's alg is not one AHS IAM signs with".into());
        }
        let kid = header
            .get("kid")
            .and_then(|k| k.as_str())
            .map(str::to_string);
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| "the logout token's signature is not base64url")?;
        let message = format!("{h}.{p}");
        let mut verified = self.signature_ok(&alg, kid.as_deref(), &message, &signature);
        if verified.is_none() && self.refresh_jwks().await {
            verified = self.signature_ok(&alg, kid.as_deref(), &message, &signature);
        }
        if verified != Some(true) {
            return Err("the logout token's signature is invalid".into());
        }
        let claims = b64_json(p).ok_or("the logout token's claims are not JSON")?;
        let text = |n: &str| claims.get(n).and_then(|v| v.as_str()).map(str::to_string);
        if text("iss").as_deref() != Some(self.issuer()) {
            return Err("the logout token was not issued by AHS IAM".into());
        }
        let client_id = self.client_id.as_str();
        let aud_ok = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => a == client_id,
            Some(serde_json::Value::Array(v)) => v.iter().any(|a| a.as_str() == Some(client_id)),
            _ => false,
        };
        if !aud_ok {
            return Err("the logout token is not for CPAR (aud)".into());
        }
        let now = self.clock.now().timestamp();
        let number = |n: &str| claims.get(n).and_then(|v| v.as_i64());
        let iat = number("iat").ok_or("the logout token has no iat")?;
        if iat > now + CLOCK_SKEW_SECS || iat < now - LOGOUT_TOKEN_MAX_AGE_SECS - CLOCK_SKEW_SECS {
            return Err("the logout token is not fresh (iat)".into());
        }
        let exp = number("exp").ok_or("the logout token has no exp")?;
        if exp < now - CLOCK_SKEW_SECS {
            return Err("the logout token has expired".into());
        }
        let event_ok = claims
            .get("events")
            .and_then(|e| e.get(BACKCHANNEL_EVENT))
            .is_some_and(|v| v.is_object());
        if !event_ok {
            return Err("the logout token has no back-channel logout event".into());
        }
        if claims.get("nonce").is_some() {
            return Err("a logout token must not carry a nonce".into());
        }
        let sid = text("sid");
        let sub = text("sub");
        if sid.is_none() && sub.is_none() {
            return Err("the logout token names neither sid nor sub".into());
        }
        let jti = text("jti")
            .filter(|j| !j.is_empty() && j.len() <= 256)
            .ok_or("the logout token has no jti")?;
        Ok(LogoutToken { sid, sub, jti, exp })
    }

    /// Whether a key of AHS IAM's set verifies `signature`: `Some(true)` verified,
    /// `Some(false)` keys were tried and failed, `None` no key with this `kid` (refresh the set).
    fn signature_ok(
        &self,
        alg: &CoreJwsSigningAlgorithm,
        kid: Option<&str>,
        message: &str,
        signature: &[u8],
    ) -> Option<bool> {
        use openidconnect::JsonWebKey;
        let jwks = self
            .jwks
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let keys: Vec<&CoreJsonWebKey> = jwks
            .keys()
            .iter()
            .filter(|k| kid.is_none_or(|kid| k.key_id().is_some_and(|i| i.as_str() == kid)))
            .collect();
        if keys.is_empty() {
            return None;
        }
        Some(keys.iter().any(|k| {
            k.verify_signature(alg, message.as_bytes(), signature)
                .is_ok()
        }))
    }

    /// The RP-Initiated Logout URL: `id_token_hint` (when it parses), `client_id`,
    /// `post_logout_redirect_uri` and `state`. `None` when the provider advertises no
    /// `end_session_endpoint`.
    pub(crate) fn logout_url(
        &self,
        id_token: &str,
        post_logout_redirect_uri: &str,
        state: &str,
    ) -> Option<Url> {
        let endpoint = self.end_session.clone()?;
        let mut request = LogoutRequest::from(endpoint)
            .set_client_id(self.client_id.clone())
            .set_state(CsrfToken::new(state.to_string()));
        if let Ok(uri) = PostLogoutRedirectUrl::new(post_logout_redirect_uri.to_string()) {
            request = request.set_post_logout_redirect_uri(uri);
        }
        if let Ok(hint) = CoreIdToken::from_str(id_token) {
            request = request.set_id_token_hint(&hint);
        }
        Some(request.http_get_url())
    }
}

/// A base64url JSON object.
fn b64_json(part: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        serde_json::Value::Object(m) => Some(m),
        _ => None,
    }
}

/// The claims of a JWT already verified (read again for members the library does not model).
fn jwt_claims(token: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    b64_json(token.split('.').nth(1)?)
}

fn discovery_gap(config: &Config, attempts: u32, what: &str) -> Error {
    Error::Discovery {
        issuer: config.issuer.clone(),
        attempts,
        waited: Duration::ZERO,
        last_error: format!("the provider metadata has {what}"),
    }
}
