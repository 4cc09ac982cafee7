//! Client keys and compact JWS for the tests that sign as a client: client assertions
//! (RFC 7523) and request objects (RFC 9101). The client crates cannot make either, so they are
//! signed here with josekit.

use josekit::jwk::Jwk;
use josekit::jws::{JwsHeader, JwsSigner};
use serde_json::{Value, json};

/// The `typ` of a client assertion.
pub const TYP_JWT: &str = "JWT";
/// The `typ` of a request object (RFC 9101 §10.8).
pub const TYP_REQUEST_OBJECT: &str = "oauth-authz-req+jwt";

/// A client key pair: the private JWK (for signing here) and the public one (for the provider).
pub struct Key {
    pub private: Jwk,
    pub public: Jwk,
}

/// A fresh RSA 2048 key pair with key id `kid`.
pub fn rsa_key(kid: &str) -> Key {
    let pair = josekit::jws::RS256.generate_key_pair(2048).unwrap();
    let mut private = pair.to_jwk_key_pair();
    private.set_key_id(kid);
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(kid);
    Key { private, public }
}

/// A fresh P-256 key pair with key id `kid`.
pub fn ec_key(kid: &str) -> Key {
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut private = pair.to_jwk_key_pair();
    private.set_key_id(kid);
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(kid);
    Key { private, public }
}

/// The public keys as a JWK Set document.
pub fn jwks(keys: &[&Key]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| serde_json::to_value(k.public.as_ref()).unwrap())
        .collect();
    json!({ "keys": keys }).to_string()
}

/// `claims` as a compact JWS with this `typ` and `kid`.
pub fn sign(signer: &dyn JwsSigner, typ: &str, kid: Option<&str>, claims: &Value) -> String {
    let mut header = JwsHeader::new();
    header.set_token_type(typ);
    if let Some(k) = kid {
        header.set_key_id(k);
    }
    josekit::jws::serialize_compact(claims.to_string().as_bytes(), &header, signer).unwrap()
}

/// `claims` signed RS256 with `key` (its key id in the header).
pub fn rs256(key: &Key, typ: &str, claims: &Value) -> String {
    let signer = josekit::jws::RS256.signer_from_jwk(&key.private).unwrap();
    sign(&signer, typ, key.private.key_id(), claims)
}

/// `claims` signed ES256 with `key` (its key id in the header).
pub fn es256(key: &Key, typ: &str, claims: &Value) -> String {
    let signer = josekit::jws::ES256.signer_from_jwk(&key.private).unwrap();
    sign(&signer, typ, key.private.key_id(), claims)
}
