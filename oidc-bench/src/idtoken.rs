//! The one ID token check per run (OIDC Core §3.1.3.7): signature against the provider's JWKS,
//! `iss`, `aud`, `nonce`, `exp`. With josekit, which the workspace already builds.

use josekit::jwk::{Jwk, JwkSet};
use josekit::jws::JwsVerifier;

/// What was checked, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Verified {
    pub alg: String,
    pub kid: Option<String>,
    pub sub: Option<String>,
}

fn verifier_for(alg: &str, jwk: &Jwk) -> Result<Box<dyn JwsVerifier>, String> {
    use josekit::jws::*;
    let v: Result<Box<dyn JwsVerifier>, josekit::JoseError> = match alg {
        "RS256" => RS256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "RS384" => RS384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "RS512" => RS512.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "PS256" => PS256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "PS384" => PS384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "PS512" => PS512.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "ES256" => ES256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "ES384" => ES384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "ES512" => ES512.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "EdDSA" | "Ed25519" => EdDSA.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        other => return Err(format!("unsupported alg {other}")),
    };
    v.map_err(|e| format!("JWK unusable for {alg}: {e}"))
}

/// Verifies `id_token` against the JWKS document `jwks`.
pub fn verify(
    id_token: &str,
    jwks: &[u8],
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now_unix: u64,
) -> Result<Verified, String> {
    let header = josekit::jwt::decode_header(id_token).map_err(|e| format!("header: {e}"))?;
    let alg = header
        .claim("alg")
        .and_then(|v| v.as_str())
        .ok_or("header has no alg")?
        .to_string();
    if alg == "none" || alg.starts_with("HS") {
        return Err(format!("alg {alg} is not a public-key signature"));
    }
    let kid = header
        .claim("kid")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let set = JwkSet::from_bytes(jwks).map_err(|e| format!("JWKS: {e}"))?;
    let candidates: Vec<&Jwk> = match &kid {
        Some(k) => set.get(k),
        None => set.keys(),
    };
    let candidates: Vec<&Jwk> = candidates
        .into_iter()
        .filter(|j| j.algorithm().is_none_or(|a| a == alg))
        .filter(|j| j.key_use().is_none_or(|u| u == "sig"))
        .collect();
    if candidates.is_empty() {
        return Err(format!("no key in JWKS for kid={kid:?} alg={alg}"));
    }
    let mut last_err = String::new();
    let mut payload = None;
    for jwk in candidates {
        match verifier_for(&alg, jwk).and_then(|v| {
            josekit::jwt::decode_with_verifier(id_token, &*v).map_err(|e| e.to_string())
        }) {
            Ok((p, _)) => {
                payload = Some(p);
                break;
            }
            Err(e) => last_err = e,
        }
    }
    let payload = payload.ok_or_else(|| format!("bad signature: {last_err}"))?;
    if payload.issuer() != Some(issuer) {
        return Err(format!("iss {:?} is not {issuer}", payload.issuer()));
    }
    let aud = payload.audience().unwrap_or_default();
    if !aud.contains(&client_id) {
        return Err(format!("aud {aud:?} does not name {client_id}"));
    }
    if aud.len() > 1 {
        // §3.1.3.7 (4)/(5): several audiences need azp, and azp must be this client.
        let azp = payload.claim("azp").and_then(|v| v.as_str());
        if azp != Some(client_id) {
            return Err(format!("several audiences and azp {azp:?}"));
        }
    }
    let got_nonce = payload.claim("nonce").and_then(|v| v.as_str());
    if got_nonce != Some(nonce) {
        return Err(format!("nonce {got_nonce:?} is not the one sent"));
    }
    let exp = payload
        .claim("exp")
        .and_then(|v| v.as_u64())
        .ok_or("no numeric exp")?;
    if exp <= now_unix {
        return Err(format!("expired: exp {exp} <= now {now_unix}"));
    }
    if payload.subject().is_none() {
        return Err("no sub".into());
    }
    Ok(Verified {
        alg,
        kid,
        sub: payload.subject().map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use josekit::jws::{ES256, JwsHeader};
    use josekit::jwt::{self, JwtPayload};

    fn token(nonce: &str, exp: u64, aud: &str) -> (String, Vec<u8>) {
        let kp = ES256.generate_key_pair().unwrap();
        let mut jwk = kp.to_jwk_public_key();
        jwk.set_key_id("k1");
        jwk.set_algorithm("ES256");
        let signer = ES256.signer_from_jwk(&kp.to_jwk_private_key()).unwrap();
        let mut h = JwsHeader::new();
        h.set_key_id("k1");
        let mut p = JwtPayload::new();
        p.set_issuer("http://iss");
        p.set_audience(vec![aud]);
        p.set_subject("u1");
        p.set_claim("nonce", Some(nonce.into())).unwrap();
        p.set_claim("exp", Some(exp.into())).unwrap();
        let t = jwt::encode_with_signer(&p, &h, &signer).unwrap();
        let set = serde_json::json!({ "keys": [serde_json::Value::Object(jwk.as_ref().clone())] });
        (t, serde_json::to_vec(&set).unwrap())
    }

    #[test]
    fn checks_every_claim() {
        let (t, jwks) = token("n1", 2000, "c1");
        let v = verify(&t, &jwks, "http://iss", "c1", "n1", 1000).unwrap();
        assert_eq!(v.alg, "ES256");
        assert!(verify(&t, &jwks, "http://other", "c1", "n1", 1000).is_err());
        assert!(verify(&t, &jwks, "http://iss", "c2", "n1", 1000).is_err());
        assert!(verify(&t, &jwks, "http://iss", "c1", "n2", 1000).is_err());
        assert!(verify(&t, &jwks, "http://iss", "c1", "n1", 2000).is_err());
        // Another key under the same kid: bad signature.
        let (_, other_jwks) = token("n1", 2000, "c1");
        let e = verify(&t, &other_jwks, "http://iss", "c1", "n1", 1000).unwrap_err();
        assert!(e.contains("signature"), "{e}");
    }
}
