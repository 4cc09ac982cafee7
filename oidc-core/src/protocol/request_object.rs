//! Signed request objects by value (RFC 9101, OIDC Core §6.1), as pure functions: the caller
//! supplies the client's JWK Set (by value or fetched from its `jwks_uri`) and the time.
//!
//! A request object is accepted when its JWS verifies under one of the client's keys with an
//! algorithm of [`SIGNING_ALGS`] (never `none`, never a MAC: the client's secret is a digest
//! here), its `iss` is the client, its `aud` the issuer, its `exp` in the future and at most
//! [`MAX_LIFETIME`] away, and any `client_id` inside is the one the request names outside. Its
//! members then replace the request's parameters (RFC 9101 §6.3).

use base64::Engine;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The algorithms a request object may be signed with (`request_object_signing_alg_values_
/// supported`).
pub const SIGNING_ALGS: [&str; 4] = ["RS256", "PS256", "ES256", "EdDSA"];

/// The longest request object accepted, in bytes (a request fits in a few KiB).
pub const MAX_LENGTH: usize = 32 * 1024;

/// The longest time from now (or from `iat`/`nbf`) to `exp` accepted, in seconds: a request
/// object is made for one request, moments before it (FAPI 1.0 Advanced §5.2.2 caps it at an
/// hour as well).
pub const MAX_LIFETIME: i64 = 3600;

/// Tolerated clock difference for `nbf` and `iat`, in seconds.
const SKEW: i64 = 60;

/// At most this many of the client's keys are tried for one signature (keys without a `kid`,
/// or several with the same one).
const MAX_CANDIDATE_KEYS: usize = 8;

/// JWT claims that describe the request object itself, not the authorization request.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "iat", "nbf", "jti"];

/// What the request object is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The `client_id` of the request (outside the object).
    pub client_id: &'a str,
    /// The provider's issuer identifier: the only `aud` accepted.
    pub issuer: &'a str,
    /// Now.
    pub now: DateTime<Utc>,
}

/// Why a request object is refused (`invalid_request_object`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// It is not a JWS made with one of the client's keys: nothing inside may be trusted, not
    /// even its `redirect_uri`.
    Untrusted(String),
    /// It is the client's, but not acceptable (expired, for another audience…). `params` are its
    /// members, signed by the client, so its `redirect_uri` (once matched against the
    /// registered ones) may carry the error.
    Invalid {
        /// `error_description`.
        description: String,
        /// The object's members as request parameters.
        params: Vec<(String, String)>,
    },
}

impl Rejected {
    /// The `error_description`.
    pub fn description(&self) -> &str {
        match self {
            Rejected::Untrusted(d) => d,
            Rejected::Invalid { description, .. } => description,
        }
    }
}

/// The `alg` of a compact JWS's header, when it decodes.
fn header_of(token: &str) -> Option<Map<String, Value>> {
    let first = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

/// A verifier for one JWK under `alg`, when the key is of the right type (josekit checks
/// `kty`, `use`, `key_ops` and the key's own `alg`). The `kid` is matched by the caller and left
/// out here, so that a header without one can still use a key that has one.
fn verifier(alg: &str, key: &Map<String, Value>) -> Option<Box<dyn josekit::jws::JwsVerifier>> {
    use josekit::jws::{ES256, EdDSA, PS256, RS256};
    let mut key = key.clone();
    key.remove("kid");
    if matches!(alg, "RS256" | "PS256") {
        // RSA keys under 2048 bits are too weak (NIST SP 800-131A).
        let n = key.get("n").and_then(Value::as_str)?;
        let n = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(n)
            .ok()?;
        let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
        if bits < 2048 {
            return None;
        }
    }
    let jwk = josekit::jwk::Jwk::from_map(key).ok()?;
    let v: Box<dyn josekit::jws::JwsVerifier> = match alg {
        "RS256" => Box::new(RS256.verifier_from_jwk(&jwk).ok()?),
        "PS256" => Box::new(PS256.verifier_from_jwk(&jwk).ok()?),
        "ES256" => Box::new(ES256.verifier_from_jwk(&jwk).ok()?),
        "EdDSA" => {
            if jwk.curve() != Some("Ed25519") {
                return None;
            }
            Box::new(EdDSA.verifier_from_jwk(&jwk).ok()?)
        }
        _ => return None,
    };
    Some(v)
}

/// The parts of a request object's JOSE header that choose its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// One of [`SIGNING_ALGS`].
    pub alg: String,
    /// The key id, when the header names one.
    pub kid: Option<String>,
}

/// Reads and checks the header of a request object, before any key is looked for: a compact JWS
/// (not a JWE), signed with an algorithm of [`SIGNING_ALGS`], typed as a request if typed at all.
///
/// # Errors
/// [`Rejected::Untrusted`].
pub fn header(token: &str) -> Result<Header, Rejected> {
    let untrusted = |m: &str| Rejected::Untrusted(m.to_string());
    if token.len() > MAX_LENGTH {
        return Err(untrusted("the request object is too long"));
    }
    match token.split('.').count() {
        3 => {}
        5 => return Err(untrusted("encrypted request objects are not supported")),
        _ => return Err(untrusted("the request object is not a compact JWS")),
    }
    let header =
        header_of(token).ok_or_else(|| untrusted("the request object's header is malformed"))?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
    if !SIGNING_ALGS.contains(&alg) {
        // `none` among them: an unsigned object proves nothing about its sender.
        return Err(Rejected::Untrusted(format!(
            "request objects must be signed with one of {}",
            SIGNING_ALGS.join(", ")
        )));
    }
    // RFC 9101 §10.8: explicit typing; a JWT of another kind is not a request.
    match header.get("typ") {
        None => {}
        Some(Value::String(t))
            if [
                "oauth-authz-req+jwt",
                "application/oauth-authz-req+jwt",
                "jwt",
            ]
            .contains(&t.to_ascii_lowercase().as_str()) => {}
        Some(_) => {
            return Err(untrusted(
                "the request object's typ is not oauth-authz-req+jwt",
            ));
        }
    }
    if header.contains_key("crit") {
        return Err(untrusted(
            "the request object has critical header parameters",
        ));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(untrusted("the request object's kid is not a string")),
    };
    Ok(Header {
        alg: alg.to_string(),
        kid,
    })
}

/// Verifies the signature of `token` (whose [`header`] was checked) with a key of the client's
/// JWK Set `jwks` (JSON text); returns the payload.
///
/// # Errors
/// [`Rejected::Untrusted`].
pub fn verify_signature(token: &str, jwks: &str, header: &Header) -> Result<Vec<u8>, Rejected> {
    let untrusted = |m: &str| Rejected::Untrusted(m.to_string());
    let set: Value =
        serde_json::from_str(jwks).map_err(|_| untrusted("the client's JWK Set is unreadable"))?;
    let keys = set
        .get("keys")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    let candidates: Vec<Box<dyn josekit::jws::JwsVerifier>> = keys
        .iter()
        .filter_map(Value::as_object)
        .filter(|k| {
            header
                .kid
                .as_deref()
                .is_none_or(|kid| k.get("kid").and_then(Value::as_str) == Some(kid))
        })
        .filter_map(|k| verifier(&header.alg, k))
        .take(MAX_CANDIDATE_KEYS)
        .collect();
    if candidates.is_empty() {
        return Err(untrusted(
            "none of the client's registered keys can verify the request object",
        ));
    }
    candidates
        .iter()
        .find_map(|v| josekit::jws::deserialize_compact(token, v.as_ref()).ok())
        .map(|(payload, _)| payload)
        .ok_or_else(|| untrusted("the request object's signature does not verify"))
}

/// [`header`], [`verify_signature`] and [`check_claims`] in one: the request parameters of a
/// request object verified with the client's JWK Set `jwks` (JSON text).
///
/// # Errors
/// [`Rejected`], whose description is the `error_description` of `invalid_request_object`.
pub fn verify(
    token: &str,
    jwks: &str,
    expected: &Expected<'_>,
) -> Result<Vec<(String, String)>, Rejected> {
    let h = header(token)?;
    let payload = verify_signature(token, jwks, &h)?;
    check_claims(&payload, expected)
}

/// Checks the claims of a request object whose signature verified (by [`verify_signature`] or
/// with keys fetched from the client's `jwks_uri`) and returns the authorization request
/// parameters it carries, `client_id` set to the request's (RFC 9101 §6.3: only the object's
/// parameters are used).
///
/// # Errors
/// [`Rejected`]: `Untrusted` for a payload that is not a JSON object, `Invalid` otherwise.
pub fn check_claims(
    payload: &[u8],
    expected: &Expected<'_>,
) -> Result<Vec<(String, String)>, Rejected> {
    let claims: Map<String, Value> = match serde_json::from_slice(payload) {
        Ok(Value::Object(m)) => m,
        _ => {
            return Err(Rejected::Untrusted(
                "the request object's payload is not a JSON object".into(),
            ));
        }
    };

    // Signed by the client from here on.
    let params = as_params(&claims);
    let invalid = |m: &str| Rejected::Invalid {
        description: m.to_string(),
        params: params.clone(),
    };
    if claims.get("iss").and_then(Value::as_str) != Some(expected.client_id) {
        return Err(invalid("the request object's iss must be the client_id"));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == expected.issuer,
        Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(expected.issuer)),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid("the request object's aud must be the issuer"));
    }
    if claims
        .get("client_id")
        .is_some_and(|c| c.as_str() != Some(expected.client_id))
    {
        return Err(invalid(
            "the request object's client_id is not the request's client_id",
        ));
    }
    if claims.contains_key("request") || claims.contains_key("request_uri") {
        // RFC 9101 §4: a request object never refers to another.
        return Err(invalid(
            "a request object must not contain request or request_uri",
        ));
    }
    let now = expected.now.timestamp();
    let time = |name: &str| -> Result<Option<i64>, Rejected> {
        match claims.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
                .map(Some)
                .ok_or_else(|| invalid(&format!("the request object's {name} is not a number"))),
        }
    };
    let Some(exp) = time("exp")? else {
        return Err(invalid("the request object must have an exp"));
    };
    if exp <= now {
        return Err(invalid("the request object has expired"));
    }
    if exp - now > MAX_LIFETIME {
        return Err(invalid("the request object's exp is too far in the future"));
    }
    if let Some(nbf) = time("nbf")? {
        if nbf > now + SKEW {
            return Err(invalid("the request object is not valid yet (nbf)"));
        }
        if exp - nbf > MAX_LIFETIME {
            return Err(invalid(
                "the request object's lifetime (exp - nbf) is too long",
            ));
        }
    }
    if let Some(iat) = time("iat")? {
        if iat > now + SKEW {
            return Err(invalid("the request object's iat is in the future"));
        }
        if exp - iat > MAX_LIFETIME {
            return Err(invalid(
                "the request object's lifetime (exp - iat) is too long",
            ));
        }
    }
    let mut out = params;
    out.retain(|(k, _)| k != "client_id");
    out.push(("client_id".to_string(), expected.client_id.to_string()));
    Ok(out)
}

/// The object's members as authorization request parameters: strings as they are, numbers (a
/// `max_age`) in decimal, objects (the `claims` parameter) as JSON text. The JWT's own claims
/// and members of other types are left out (a member the request does not know is ignored, as
/// an unknown parameter is).
fn as_params(claims: &Map<String, Value>) -> Vec<(String, String)> {
    claims
        .iter()
        .filter(|(k, _)| !JWT_CLAIMS.contains(&k.as_str()))
        .filter_map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Object(_) => v.to_string(),
                _ => return None,
            };
            Some((k.clone(), text))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jwk::alg::ec::EcCurve;
    use josekit::jws::{ES256, JwsHeader, RS256};
    use josekit::jwt::{self, JwtPayload};

    const ISSUER: &str = "https://iam.example.org";
    const CLIENT: &str = "c1";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    struct Key {
        private: josekit::jwk::Jwk,
        public_set: String,
    }

    fn ec_key(kid: &str) -> Key {
        let mut private = josekit::jwk::Jwk::generate_ec_key(EcCurve::P256).unwrap();
        private.set_key_id(kid);
        let mut public = private.to_public_key().unwrap();
        public.set_key_id(kid);
        Key {
            public_set: serde_json::json!({ "keys": [Value::Object(public.as_ref().clone())] })
                .to_string(),
            private,
        }
    }

    fn claims(extra: Value) -> Map<String, Value> {
        let mut m = serde_json::json!({
            "iss": CLIENT,
            "aud": ISSUER,
            "exp": now().timestamp() + 300,
            "iat": now().timestamp(),
            "client_id": CLIENT,
            "response_type": "code",
            "redirect_uri": "https://rp.example.org/cb",
            "scope": "openid",
            "max_age": 60,
            "claims": { "userinfo": { "email": null } },
        });
        if let (Value::Object(m), Value::Object(e)) = (&mut m, extra) {
            for (k, v) in e {
                if v.is_null() {
                    m.remove(&k);
                } else {
                    m.insert(k, v);
                }
            }
        }
        match m {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn sign_es256(key: &Key, claims: Map<String, Value>) -> String {
        let mut h = JwsHeader::new();
        h.set_token_type("oauth-authz-req+jwt");
        h.set_key_id(key.private.key_id().unwrap());
        // Not through JwtPayload, which would refuse the malformed claims some tests need.
        let payload = Value::Object(claims).to_string();
        josekit::jws::serialize_compact(
            payload.as_bytes(),
            &h,
            &ES256.signer_from_jwk(&key.private).unwrap(),
        )
        .unwrap()
    }

    fn expected() -> Expected<'static> {
        Expected {
            client_id: CLIENT,
            issuer: ISSUER,
            now: now(),
        }
    }

    fn invalid(r: Result<Vec<(String, String)>, Rejected>) -> String {
        match r {
            Err(Rejected::Invalid {
                description,
                params,
            }) => {
                assert!(params.iter().any(|(k, _)| k == "redirect_uri"));
                description
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn rfc9101_6_3_the_objects_members_become_the_parameters() {
        let key = ec_key("k1");
        let params = verify(
            &sign_es256(&key, claims(Value::Null)),
            &key.public_set,
            &expected(),
        )
        .unwrap();
        let get = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
        assert_eq!(get("scope"), Some("openid"));
        assert_eq!(get("max_age"), Some("60"));
        assert_eq!(get("claims"), Some(r#"{"userinfo":{"email":null}}"#));
        assert_eq!(get("client_id"), Some(CLIENT));
        assert_eq!(get("iss"), None);
        assert_eq!(get("exp"), None);
    }

    #[test]
    fn rfc9101_6_2_signature_alg_and_key_are_checked() {
        let key = ec_key("k1");
        let other = ec_key("k1");
        let token = sign_es256(&key, claims(Value::Null));
        // Another key with the same kid.
        assert!(matches!(
            verify(&token, &other.public_set, &expected()),
            Err(Rejected::Untrusted(_))
        ));
        // A tampered payload.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let forged = claims(serde_json::json!({ "scope": "openid admin" }));
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(Value::Object(forged).to_string());
        assert!(matches!(
            verify(&parts.join("."), &key.public_set, &expected()),
            Err(Rejected::Untrusted(_))
        ));
        // alg none.
        let unsigned = jwt::encode_unsecured(
            &JwtPayload::from_map(claims(Value::Null)).unwrap(),
            &JwsHeader::new(),
        )
        .unwrap();
        assert!(matches!(
            verify(&unsigned, &key.public_set, &expected()),
            Err(Rejected::Untrusted(d)) if d.contains("signed")
        ));
        // An RS256 header over an EC key set finds no key.
        let mut h = JwsHeader::new();
        h.set_key_id("k1");
        let rsa = josekit::jwk::Jwk::generate_rsa_key(2048).unwrap();
        let rs = jwt::encode_with_signer(
            &JwtPayload::from_map(claims(Value::Null)).unwrap(),
            &h,
            &RS256.signer_from_jwk(&rsa).unwrap(),
        )
        .unwrap();
        assert!(matches!(
            verify(&rs, &key.public_set, &expected()),
            Err(Rejected::Untrusted(_))
        ));
        assert!(matches!(
            verify("a.b", &key.public_set, &expected()),
            Err(Rejected::Untrusted(_))
        ));
        assert!(matches!(
            verify("a.b.c.d.e", &key.public_set, &expected()),
            Err(Rejected::Untrusted(d)) if d.contains("encrypted")
        ));
        assert!(matches!(
            verify(&"x".repeat(MAX_LENGTH + 1), &key.public_set, &expected()),
            Err(Rejected::Untrusted(_))
        ));
    }

    #[test]
    fn rfc9101_claims_iss_aud_client_id_and_times() {
        let key = ec_key("k1");
        let check = |extra: Value| {
            verify(
                &sign_es256(&key, claims(extra)),
                &key.public_set,
                &expected(),
            )
        };
        assert!(invalid(check(serde_json::json!({ "iss": "c2" }))).contains("iss"));
        assert!(
            invalid(check(serde_json::json!({ "aud": "https://other.example" }))).contains("aud")
        );
        assert!(check(serde_json::json!({ "aud": [ISSUER, "x"] })).is_ok());
        assert!(invalid(check(serde_json::json!({ "client_id": "c2" }))).contains("client_id"));
        assert!(check(serde_json::json!({ "client_id": null })).is_ok());
        assert!(invalid(check(serde_json::json!({ "exp": null }))).contains("exp"));
        let t = now().timestamp();
        assert!(invalid(check(serde_json::json!({ "exp": t }))).contains("expired"));
        assert!(invalid(check(serde_json::json!({ "exp": t + MAX_LIFETIME + 1 }))).contains("exp"));
        assert!(
            invalid(check(
                serde_json::json!({ "iat": t - 3000, "exp": t + 700 })
            ))
            .contains("lifetime")
        );
        assert!(invalid(check(serde_json::json!({ "nbf": t + 600 }))).contains("nbf"));
        assert!(invalid(check(serde_json::json!({ "exp": "soon" }))).contains("number"));
        assert!(
            invalid(check(serde_json::json!({ "request_uri": "urn:x" }))).contains("request_uri")
        );
    }
}
