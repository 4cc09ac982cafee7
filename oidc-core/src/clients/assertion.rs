//! JWT client authentication (RFC 7523 §2.2 and §3, RFC 7521 §4.2, OpenID Connect Core §9):
//! `private_key_jwt` (signed with the client's private key; its public keys from its registered
//! `jwks`, or fetched from its `jwks_uri` through the outbound guard) and `client_secret_jwt`
//! (HS256 under the client secret, which rests sealed for this reason).
//!
//! What an assertion must be:
//! - `alg`: for `private_key_jwt` one of [`PRIVATE_KEY_ALGS`] (never `none`, never HMAC: a MAC
//!   under a public key would be forgeable by anyone); for `client_secret_jwt` exactly HS256.
//! - `iss` = `sub` = the `client_id`.
//! - `aud`: the issuer identifier, as one JSON string. Arrays and other values are refused (the
//!   update of RFC 7523 after the 2025 audience-confusion findings: an assertion made for one
//!   server must not be accepted by another that it also names). The token endpoint URL is
//!   accepted only behind the legacy switch
//!   [`client_assertion_token_endpoint_audience`](crate::ProviderConfigBuilder::client_assertion_token_endpoint_audience).
//! - `exp` required and in the future; at most [`MAX_LIFETIME_SECS`] after `iat` (or after now,
//!   without `iat`); `iat` and `nbf`, when present, not in the future (give or take
//!   [`CLOCK_SKEW_SECS`]).
//! - `jti` required; the provider claims it with an insert into `client_assertions` whose primary
//!   key is the digest of client id and jti, kept until the assertion's `exp`: a replay within
//!   the assertion's lifetime is refused on every replica. Housekeeping purges expired rows.
//!
//! Keys fetched from a `jwks_uri` are cached per client and URI for at most
//! [`KEYS_MAX_AGE_SECS`], in at most [`MAX_CACHED_KEY_SETS`] entries; an assertion with a `kid`
//! the cached set does not hold fetches the set again (no more often than every
//! [`KEYS_MIN_REFRESH_SECS`] per client, so that forged assertions cannot make the provider
//! hammer a client's server).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};

use super::{AuthMethod, Client};
use crate::error::Error;
use crate::outbound::{FetchError, Outbound};
pub use crate::protocol::client_rules::{PRIVATE_KEY_ALGS, SECRET_ALGS};
use crate::secret::digest;
use crate::store::models::ClientAssertionRow;
use crate::store::schema::client_assertions;
use crate::store::{Db, naive};

/// RFC 7523 §2.2: the only `client_assertion_type` understood.
pub(crate) const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// The longest lifetime of an assertion (`exp` − `iat`).
pub const MAX_LIFETIME_SECS: i64 = 300;
/// Clock difference tolerated on `iat`, `nbf` and `exp`.
pub const CLOCK_SKEW_SECS: i64 = 30;
/// How long keys fetched from a `jwks_uri` are used before they are fetched again.
pub const KEYS_MAX_AGE_SECS: i64 = 300;
/// The least time between two fetches of one client's `jwks_uri` forced by an unknown `kid`.
pub const KEYS_MIN_REFRESH_SECS: i64 = 10;
/// Key sets kept in memory at most (one per client and URI).
pub const MAX_CACHED_KEY_SETS: usize = 1024;
/// The largest JWK Set fetched from a `jwks_uri`.
const MAX_JWKS_BYTES: usize = 64 * 1024;
/// The longest assertion parsed.
const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// The longest `jti` kept.
const MAX_JTI_LEN: usize = 256;
/// Keys tried for an assertion without a `kid`.
const MAX_KEYS_TRIED: usize = 10;

/// Why an assertion did not authenticate its client.
#[derive(Debug)]
pub(crate) enum Rejected {
    /// `invalid_client`, with a description safe to show the client.
    Invalid(String),
    /// The provider could not decide (database down, a sealed secret that does not open).
    Failed(Error),
}

fn invalid(why: impl Into<String>) -> Rejected {
    Rejected::Invalid(why.into())
}

/// The JOSE header and claims of a compact JWS, read without verification.
fn peek(assertion: &str) -> Option<(Map<String, Value>, Map<String, Value>)> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return None;
    }
    let mut parts = assertion.split('.');
    let (h, p, _sig) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let decode = |s: &str| -> Option<Map<String, Value>> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s)
            .ok()?;
        match serde_json::from_slice(&bytes).ok()? {
            Value::Object(m) => Some(m),
            _ => None,
        }
    };
    Some((decode(h)?, decode(p)?))
}

/// The client an assertion claims to come from (its `sub`, which must equal `iss`), read
/// without verification, to find the client whose keys verify it.
pub(crate) fn claimed_client(assertion: &str) -> Option<String> {
    let (_, claims) = peek(assertion)?;
    claims.get("sub")?.as_str().map(str::to_string)
}

/// What the claims are checked against.
pub(crate) struct Expect<'a> {
    pub client_id: &'a str,
    pub issuer: &'a str,
    /// The token endpoint URL, when the legacy switch accepts it as `aud`.
    pub legacy_audience: Option<&'a str>,
    pub now: i64,
}

/// Checks the claims (RFC 7523 §3); returns `exp` and `jti`.
pub(crate) fn check_claims(
    claims: &Map<String, Value>,
    expect: &Expect<'_>,
) -> Result<(i64, String), String> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    if text("iss") != Some(expect.client_id) {
        return Err("the assertion's iss must be the client_id".into());
    }
    if text("sub") != Some(expect.client_id) {
        return Err("the assertion's sub must be the client_id".into());
    }
    match claims.get("aud") {
        Some(Value::String(a)) if a == expect.issuer => {}
        Some(Value::String(a)) if expect.legacy_audience == Some(a.as_str()) => {}
        Some(Value::String(_)) => {
            return Err("the assertion's aud must be the issuer identifier".into());
        }
        Some(Value::Array(_)) => {
            return Err(
                "the assertion's aud must be the issuer identifier as a single string, not an array"
                    .into(),
            );
        }
        _ => return Err("the assertion's aud must be the issuer identifier".into()),
    }
    let number = |name: &str| -> Result<Option<i64>, String> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| format!("the assertion's {name} must be a number")),
        }
    };
    let exp = number("exp")?.ok_or("the assertion has no exp")?;
    let iat = number("iat")?;
    let nbf = number("nbf")?;
    let now = expect.now;
    if exp <= now - CLOCK_SKEW_SECS {
        return Err("the assertion has expired".into());
    }
    if let Some(iat) = iat
        && iat > now + CLOCK_SKEW_SECS
    {
        return Err("the assertion was issued in the future".into());
    }
    if let Some(nbf) = nbf
        && nbf > now + CLOCK_SKEW_SECS
    {
        return Err("the assertion is not valid yet".into());
    }
    let start = iat.unwrap_or(now);
    if exp.saturating_sub(start) > MAX_LIFETIME_SECS {
        return Err(format!(
            "the assertion lives longer than {MAX_LIFETIME_SECS} seconds"
        ));
    }
    let jti = text("jti")
        .filter(|j| !j.is_empty())
        .ok_or("the assertion has no jti")?;
    if jti.len() > MAX_JTI_LEN {
        return Err("the assertion's jti is too long".into());
    }
    Ok((exp, jti.to_string()))
}

/// A verifier for `alg` from one JWK, or `None` when the key cannot serve that algorithm.
fn verifier_for(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    use josekit::jws::{ES256, ES384, EdDSA, PS256, PS384, PS512, RS256, RS384, RS512};
    let v: Box<dyn JwsVerifier> = match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(jwk).ok()?),
        "RS384" => Box::new(RS384.verifier_from_jwk(jwk).ok()?),
        "RS512" => Box::new(RS512.verifier_from_jwk(jwk).ok()?),
        "PS256" => Box::new(PS256.verifier_from_jwk(jwk).ok()?),
        "PS384" => Box::new(PS384.verifier_from_jwk(jwk).ok()?),
        "PS512" => Box::new(PS512.verifier_from_jwk(jwk).ok()?),
        "ES256" => Box::new(ES256.verifier_from_jwk(jwk).ok()?),
        "ES384" => Box::new(ES384.verifier_from_jwk(jwk).ok()?),
        "EdDSA" => Box::new(EdDSA.verifier_from_jwk(jwk).ok()?),
        _ => return None,
    };
    Some(v)
}

/// The outcome of trying a key set.
enum KeyMatch {
    /// A key verified the signature: the verified claims.
    Verified(Vec<u8>),
    /// The set has no key with the assertion's `kid` (worth fetching the set again).
    UnknownKid,
    /// Keys were tried and none verified.
    BadSignature,
}

fn try_keys(set: &JwkSet, alg: &str, kid: Option<&str>, assertion: &str) -> KeyMatch {
    let candidates: Vec<&Jwk> = match kid {
        Some(k) => set.get(k),
        None => set.keys().into_iter().take(MAX_KEYS_TRIED).collect(),
    };
    if candidates.is_empty() && kid.is_some() {
        return KeyMatch::UnknownKid;
    }
    for jwk in candidates {
        let Some(verifier) = verifier_for(alg, jwk) else {
            continue;
        };
        if let Ok((payload, _)) = josekit::jws::deserialize_compact(assertion, verifier.as_ref()) {
            return KeyMatch::Verified(payload);
        }
    }
    KeyMatch::BadSignature
}

struct CachedSet {
    keys: Arc<JwkSet>,
    fetched_at: DateTime<Utc>,
}

/// Key sets fetched from clients' `jwks_uri`, by client and URI (see the module docs for the
/// bounds).
pub(crate) struct KeyCache {
    outbound: Outbound,
    sets: Mutex<HashMap<(String, String), CachedSet>>,
}

impl KeyCache {
    pub(crate) fn new(outbound: Outbound) -> KeyCache {
        KeyCache {
            outbound,
            sets: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &(String, String)) -> Option<(Arc<JwkSet>, DateTime<Utc>)> {
        let sets = self
            .sets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sets.get(key).map(|c| (c.keys.clone(), c.fetched_at))
    }

    fn store(&self, key: (String, String), keys: Arc<JwkSet>, now: DateTime<Utc>) {
        let mut sets = self
            .sets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if sets.len() >= MAX_CACHED_KEY_SETS && !sets.contains_key(&key) {
            let stale = now - chrono::Duration::seconds(KEYS_MAX_AGE_SECS);
            sets.retain(|_, c| c.fetched_at > stale);
            if sets.len() >= MAX_CACHED_KEY_SETS
                && let Some(oldest) = sets
                    .iter()
                    .min_by_key(|(_, c)| c.fetched_at)
                    .map(|(k, _)| k.clone())
            {
                sets.remove(&oldest);
            }
        }
        sets.insert(
            key,
            CachedSet {
                keys,
                fetched_at: now,
            },
        );
    }

    async fn fetch(
        &self,
        key: (String, String),
        now: DateTime<Utc>,
    ) -> Result<Arc<JwkSet>, Rejected> {
        let body = self
            .outbound
            .get(&key.1, MAX_JWKS_BYTES)
            .await
            .map_err(|e| {
                tracing::warn!(client_id = %key.0, error = %e, "could not fetch a client's jwks_uri");
                match e {
                    FetchError::Refused(_) => {
                        invalid("the client's jwks_uri is not allowed by this provider")
                    }
                    FetchError::Failed(_) => invalid("the client's jwks_uri could not be fetched"),
                }
            })?;
        let set = JwkSet::from_bytes(&body)
            .map_err(|_| invalid("the client's jwks_uri does not hold a JWK Set"))?;
        let set = Arc::new(set);
        self.store(key, set.clone(), now);
        Ok(set)
    }

    /// Verifies the signature with the keys at `uri`: the cached set while fresh, fetched again
    /// when stale or when it lacks the assertion's `kid`.
    pub(crate) async fn verify_with_uri(
        &self,
        client_id: &str,
        uri: &str,
        alg: &str,
        kid: Option<&str>,
        assertion: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<u8>, Rejected> {
        let key = (client_id.to_string(), uri.to_string());
        let cached = self.cached(&key);
        let (set, fetched_at) = match cached {
            Some((set, at)) if now - at < chrono::Duration::seconds(KEYS_MAX_AGE_SECS) => {
                (set, Some(at))
            }
            _ => (self.fetch(key.clone(), now).await?, None),
        };
        match try_keys(&set, alg, kid, assertion) {
            KeyMatch::Verified(p) => Ok(p),
            KeyMatch::BadSignature => Err(invalid("the client assertion's signature is invalid")),
            KeyMatch::UnknownKid => {
                // Rotated keys: fetch once more, unless this set was fetched just now.
                let recent = fetched_at
                    .is_none_or(|at| now - at < chrono::Duration::seconds(KEYS_MIN_REFRESH_SECS));
                if recent {
                    return Err(invalid("no key of the client has the assertion's kid"));
                }
                let set = self.fetch(key, now).await?;
                match try_keys(&set, alg, kid, assertion) {
                    KeyMatch::Verified(p) => Ok(p),
                    KeyMatch::UnknownKid => {
                        Err(invalid("no key of the client has the assertion's kid"))
                    }
                    KeyMatch::BadSignature => {
                        Err(invalid("the client assertion's signature is invalid"))
                    }
                }
            }
        }
    }
}

/// What verification needs of the provider.
pub(crate) struct Context<'a> {
    pub db: &'a Db,
    pub ring: &'a crate::secret::KeyRing,
    pub keys: &'a KeyCache,
    pub issuer: &'a str,
    pub legacy_audience: Option<&'a str>,
    pub now: DateTime<Utc>,
}

/// Verifies `assertion` for `client`, registered for `method` (`private_key_jwt` or
/// `client_secret_jwt`), and claims its `jti`.
pub(crate) async fn verify(
    cx: &Context<'_>,
    client: &Client,
    method: AuthMethod,
    assertion: &str,
) -> Result<(), Rejected> {
    let (header, _) =
        peek(assertion).ok_or_else(|| invalid("the client assertion is malformed"))?;
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("the client assertion has no alg"))?;
    let kid = header.get("kid").and_then(Value::as_str);
    if header.contains_key("crit") {
        return Err(invalid(
            "the client assertion has critical header parameters",
        ));
    }
    let payload = match method {
        AuthMethod::PrivateKeyJwt => {
            if !PRIVATE_KEY_ALGS.contains(&alg) {
                return Err(invalid(format!(
                    "private_key_jwt assertions are signed with one of {}",
                    PRIVATE_KEY_ALGS.join(", ")
                )));
            }
            if let Some(jwks) = client.jwks() {
                let set = JwkSet::from_bytes(jwks.as_bytes())
                    .map_err(|_| invalid("the client's registered jwks is not a JWK Set"))?;
                match try_keys(&set, alg, kid, assertion) {
                    KeyMatch::Verified(p) => p,
                    KeyMatch::UnknownKid => {
                        return Err(invalid("no key of the client has the assertion's kid"));
                    }
                    KeyMatch::BadSignature => {
                        return Err(invalid("the client assertion's signature is invalid"));
                    }
                }
            } else if let Some(uri) = client.jwks_uri() {
                cx.keys
                    .verify_with_uri(client.id(), uri, alg, kid, assertion, cx.now)
                    .await?
            } else {
                return Err(invalid("the client has no registered keys"));
            }
        }
        AuthMethod::ClientSecretJwt => {
            if !SECRET_ALGS.contains(&alg) {
                return Err(invalid("client_secret_jwt assertions are MACed with HS256"));
            }
            let secret = client
                .jwt_secret(cx.ring)
                .map_err(Rejected::Failed)?
                .ok_or_else(|| invalid("the client has no secret for client_secret_jwt"))?;
            let verifier = josekit::jws::HS256
                .verifier_from_bytes(secret.secret().as_bytes())
                .map_err(|e| Rejected::Failed(Error::Crypto(e.to_string())))?;
            josekit::jws::deserialize_compact(assertion, &verifier)
                .map_err(|_| invalid("the client assertion's signature is invalid"))?
                .0
        }
        _ => return Err(invalid("the client does not authenticate with a JWT")),
    };
    let claims: Map<String, Value> = match serde_json::from_slice(&payload) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(invalid(
                "the client assertion's claims are not a JSON object",
            ));
        }
    };
    let (exp, jti) = check_claims(
        &claims,
        &Expect {
            client_id: client.id(),
            issuer: cx.issuer,
            legacy_audience: cx.legacy_audience,
            now: cx.now.timestamp(),
        },
    )
    .map_err(Rejected::Invalid)?;
    let expires_at = DateTime::<Utc>::from_timestamp(exp, 0)
        .ok_or_else(|| invalid("the assertion's exp is out of range"))?;
    if claim_jti(cx.db, client.id(), &jti, expires_at, cx.now)
        .await
        .map_err(Rejected::Failed)?
    {
        Ok(())
    } else {
        Err(invalid(
            "the client assertion was already used (jti replay)",
        ))
    }
}

/// Records a jti; false when it is already recorded and not yet expired (a replay). One insert
/// decides between concurrent requests on any replica: the primary key lets exactly one in.
async fn claim_jti(
    db: &Db,
    client_id: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let row = ClientAssertionRow {
        jti_hash: digest(&format!("{client_id}\0{jti}")),
        client_id: client_id.to_string(),
        expires_at: naive(expires_at),
    };
    db.run(move |conn| {
        // A row whose assertion has expired no longer guards anything (housekeeping may not
        // have purged it yet).
        diesel::delete(
            client_assertions::table
                .find(&row.jti_hash)
                .filter(client_assertions::expires_at.le(naive(now))),
        )
        .execute(conn)?;
        match diesel::insert_into(client_assertions::table)
            .values(&row)
            .execute(conn)
        {
            Ok(_) => Ok(true),
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => Ok(false),
            Err(e) => Err(e.into()),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    const NOW: i64 = 1_800_000_000;

    fn expect() -> Expect<'static> {
        Expect {
            client_id: "c1",
            issuer: "https://iam.example.org",
            legacy_audience: None,
            now: NOW,
        }
    }

    fn good() -> Value {
        json!({"iss": "c1", "sub": "c1", "aud": "https://iam.example.org",
               "iat": NOW, "exp": NOW + 60, "jti": "j1"})
    }

    #[test]
    fn rfc7523_3_valid_claims_are_accepted() {
        assert_eq!(
            check_claims(&claims(good()), &expect()),
            Ok((NOW + 60, "j1".to_string()))
        );
    }

    #[test]
    fn rfc7523_3_each_rule_refuses() {
        let cases: Vec<(&str, Value, &str)> = vec![
            ("iss", json!("c2"), "iss"),
            ("sub", json!("c2"), "sub"),
            ("aud", json!(["https://iam.example.org"]), "not an array"),
            (
                "aud",
                json!("https://iam.example.org/token"),
                "issuer identifier",
            ),
            ("aud", json!(42), "issuer identifier"),
            ("exp", json!(NOW - 31), "expired"),
            ("exp", json!("soon"), "number"),
            ("iat", json!(NOW + 31), "future"),
            ("nbf", json!(NOW + 31), "not valid yet"),
            ("exp", json!(NOW + 301), "longer than 300"),
            ("jti", json!(""), "no jti"),
            ("jti", json!("x".repeat(257)), "too long"),
        ];
        for (name, value, why) in cases {
            let mut c = claims(good());
            c.insert(name.into(), value);
            let got = check_claims(&c, &expect());
            assert!(
                got.as_ref().is_err_and(|e| e.contains(why)),
                "{name}: {got:?}"
            );
        }
        for missing in ["exp", "jti", "aud", "iss", "sub"] {
            let mut c = claims(good());
            c.remove(missing);
            assert!(check_claims(&c, &expect()).is_err(), "without {missing}");
        }
        // Without iat the lifetime counts from now.
        let mut c = claims(good());
        c.remove("iat");
        c.insert("exp".into(), json!(NOW + 400));
        assert!(check_claims(&c, &expect()).is_err());
    }

    #[test]
    fn rfc7523_3_token_endpoint_audience_only_behind_the_legacy_switch() {
        let mut c = claims(good());
        c.insert("aud".into(), json!("https://iam.example.org/token"));
        assert!(check_claims(&c, &expect()).is_err());
        let legacy = Expect {
            legacy_audience: Some("https://iam.example.org/token"),
            ..expect()
        };
        assert!(check_claims(&c, &legacy).is_ok());
        // Even then, never as an array.
        c.insert("aud".into(), json!(["https://iam.example.org/token"]));
        assert!(check_claims(&c, &legacy).is_err());
    }

    #[test]
    fn peeking_refuses_malformed_input() {
        assert!(claimed_client("a.b").is_none());
        assert!(claimed_client("a.b.c.d").is_none());
        assert!(claimed_client(&"a".repeat(9000)).is_none());
        let b = |v: &Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
        };
        let token = format!("{}.{}.sig", b(&json!({"alg": "RS256"})), b(&good()));
        assert_eq!(claimed_client(&token).as_deref(), Some("c1"));
    }
}
