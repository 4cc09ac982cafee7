//! Entry points for fuzzing (`cargo fuzz`, in `fuzz/` at the repository root): each takes the
//! fuzzer's bytes and drives one parser of hostile input exactly as the HTTP handlers do, so that
//! the parsers themselves can stay private. Compiled with the `fuzzing` feature only (and in unit
//! tests, where the corpus kept in `fuzz/corpus/<target>/` is replayed through the same functions,
//! so CI checks every input the fuzzer ever found interesting without installing cargo-fuzz).
//!
//! Every entry point must return normally for every input: a panic is the bug being hunted. Where
//! a parser has a property that is cheap to state (a validated request survives its own
//! re-encoding; a repeated parameter is always reported), the entry point asserts it too, so the
//! fuzzer finds wrong answers as well as crashes.
//!
//! JWTs from outside: `id_token_hint` ([`id_token_hint`]), the provider's own JWS verification
//! ([`jws_compact`]), client assertions ([`client_assertion`], RFC 7523) and request objects
//! ([`request_object`], RFC 9101).

// A failed property must stop the fuzzer: that is what a panic here is for.
#![allow(clippy::panic)]

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, header};

use crate::config::{ProviderConfig, SigningAlg};
use crate::http::token::{Params, basic_credentials, requested_scope};
use crate::keys::KeySet;
use crate::protocol::authorize::{self, AuthorizeError, ClientPolicy, RawParams};
use crate::protocol::pkce;

/// A fuzz target's entry point.
pub type Target = fn(&[u8]);

/// Every target: its name (the directory under `fuzz/corpus/` and the `fuzz_targets/` file) and
/// its entry point.
pub const TARGETS: &[(&str, Target)] = &[
    ("authorize_request", authorize_request),
    ("token_request", token_request),
    ("id_token_hint", id_token_hint),
    ("jws_compact", jws_compact),
    ("client_assertion", client_assertion),
    ("request_object", request_object),
    ("seedfile_csv", seedfile_csv),
    ("seedfile_pskc", seedfile_pskc),
    ("form_decoding", form_decoding),
];

/// The issuer the JWT targets' configuration uses (and their corpus tokens name).
pub const ISSUER: &str = "http://127.0.0.1:8080";

/// The client the authorization request target validates against: `c1` with a web redirect URI
/// and a loopback one (a native client, so RFC 8252's any-port rule is exercised).
const REDIRECT_URIS: [&str; 2] = ["https://rp.example.org/cb", "http://127.0.0.1/callback"];

/// RFC 6030 §6.1's pre-shared key, so that the RFC's encrypted example in the corpus decrypts.
const RFC6030_PSK: [u8; 16] = [
    0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12, 0x34, 0x56, 0x78, 0x90, 0x12,
];

fn form_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    h
}

/// The authorization endpoint's parsing and validation (`http/authorize.rs`,
/// `protocol/authorize.rs`): the bytes are a form body (POST) and a query string (GET). A request
/// that validates must validate again, unchanged, from its own continuation parameters (the
/// journey resends it that way) and from its JSON (the journey stores it that way).
pub fn authorize_request(data: &[u8]) {
    let registered: Vec<String> = REDIRECT_URIS.iter().map(|u| u.to_string()).collect();
    let as_post = crate::http::form_pairs(&form_headers(), data);
    let as_get = std::str::from_utf8(data)
        .ok()
        .and_then(|q| serde_urlencoded::from_str::<Vec<(String, String)>>(q).ok());
    for pairs in [as_post, as_get].into_iter().flatten() {
        let raw = RawParams::from_pairs(pairs);
        let Ok(client_id) = authorize::client_id(&raw) else {
            continue;
        };
        for (native, pkce_required, admin_console) in [(true, true, false), (false, false, true)] {
            let policy = ClientPolicy {
                redirect_uris: &registered,
                pkce_required,
                native,
                admin_console,
            };
            match authorize::validate(&raw, client_id, &policy) {
                Ok(request) => check_round_trip(&request, &policy),
                Err(AuthorizeError::Redirect { redirect_uri, .. }) => {
                    // Nothing may be sent to a redirect URI that is not the client's.
                    assert!(
                        crate::clients::redirect_uri_matches(&registered, &redirect_uri, native),
                        "error redirect to an unregistered URI {redirect_uri:?}"
                    );
                }
                Err(AuthorizeError::Page(_)) => {}
            }
        }
    }
}

fn check_round_trip(request: &authorize::AuthRequest, policy: &ClientPolicy<'_>) {
    let _ = request.needs_second_factor(true);
    let _ = request.needs_second_factor(false);
    let again = RawParams::from_pairs(
        request
            .continuation_params()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
    );
    let resent = match authorize::validate(&again, &request.client_id, policy) {
        Ok(r) => r,
        Err(e) => panic!("a valid request's continuation is refused: {e:?}"),
    };
    // What binds the answer to the request must survive exactly; `prompt` and `max_age` are left
    // out on purpose (the sign-in they asked for has just happened).
    let bound = |r: &authorize::AuthRequest| {
        (
            r.client_id.clone(),
            r.redirect_uri.clone(),
            r.scopes.clone(),
            r.state.clone(),
            r.nonce.clone(),
            r.code_challenge.clone(),
            r.acr_values.clone(),
            r.essential_acr.clone(),
        )
    };
    assert_eq!(
        bound(&resent),
        bound(request),
        "the continuation changes the request"
    );
    assert!(!resent.prompt_none && !resent.prompt_login && resent.max_age.is_none());
    // And it is a fixed point: sending the continuation on again changes nothing more.
    assert_eq!(
        resent.continuation_params(),
        request.continuation_params(),
        "the continuation is not stable"
    );
    let stored = serde_json::to_string(request).unwrap_or_default();
    let loaded: Result<authorize::AuthRequest, _> = serde_json::from_str(&stored);
    assert!(
        loaded.as_ref().is_ok_and(|l| l == request),
        "the stored request does not load back"
    );
}

/// The token endpoint's request parsing (`http/token.rs`): the first line of the bytes is the
/// `Authorization` header, the rest the form body. Client authentication and each grant's
/// parameters are read as the endpoint reads them before it touches the database.
pub fn token_request(data: &[u8]) {
    let (auth, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&data[..0], data),
    };
    let mut headers = form_headers();
    if let Ok(v) = HeaderValue::from_bytes(auth) {
        headers.insert(header::AUTHORIZATION, v);
    }
    let _ = basic_credentials(&headers);
    let Some(pairs) = crate::http::form_pairs(&headers, body) else {
        return;
    };
    let params = Params(pairs);
    let _ = params.get("client_id");
    let _ = params.get("client_secret");
    let Ok(grant_type) = params.require("grant_type") else {
        return;
    };
    match grant_type {
        "refresh_token" => {
            let _ = params.require("refresh_token");
            if let Ok(Some(scope)) = requested_scope(&params) {
                assert!(scope.iter().all(|s| !s.is_empty() && !s.contains(' ')));
            }
        }
        "client_credentials" => {
            let _ = requested_scope(&params);
        }
        _ => {
            let _ = params.require("code");
            let _ = params.require("redirect_uri");
            if let Ok(Some(verifier)) = params.get("code_verifier") {
                let _ = pkce::verify_s256(verifier, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
            }
        }
    }
    // Revocation and introspection read their parameters through the same `Params`.
    let _ = params.get("token");
    let _ = params.get("token_type_hint");
}

struct JwtFixture {
    config: ProviderConfig,
    keys: KeySet,
}

fn jwt_fixture() -> Option<&'static JwtFixture> {
    static FIXTURE: OnceLock<Option<JwtFixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            Some(JwtFixture {
                config: ProviderConfig::builder(ISSUER).build().ok()?,
                keys: crate::keys::test_keyset(),
            })
        })
        .as_ref()
}

/// The `id_token_hint` verification of RP-Initiated Logout (`tokens::verify_id_token_hint`). An
/// input starting with `{` is a claims set, signed here with a provider key, so that the fuzzer
/// reaches the claims checks behind the signature; anything else is the token as presented.
pub fn id_token_hint(data: &[u8]) {
    let Some(f) = jwt_fixture() else { return };
    let token = if data.first() == Some(&b'{') {
        match f.keys.sign(SigningAlg::EdDSA, "JWT", data) {
            Ok(t) => t,
            Err(_) => return,
        }
    } else {
        match std::str::from_utf8(data) {
            Ok(t) => t.to_string(),
            Err(_) => return,
        }
    };
    if let Ok(hint) = crate::tokens::verify_id_token_hint(&f.config, &f.keys, &token) {
        assert!(
            !hint.aud.is_empty(),
            "a hint without an audience was accepted"
        );
    }
}

/// Compact JWS verification against the provider's keys (`KeySet::verify`): the header and
/// signature path every JWT the provider receives goes through before its claims are read.
pub fn jws_compact(data: &[u8]) {
    let Some(f) = jwt_fixture() else { return };
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok((_, header)) = f.keys.verify(token) {
        // Only our own keys verify, and only with their own algorithm.
        assert!(header.key_id().is_some(), "a JWS without kid verified");
    }
}

/// When the JWT targets say "now" (inside every assertion's and request object's lifetime window
/// of the corpus).
const FUZZ_NOW: i64 = 1_700_000_000;

/// Client assertions (RFC 7523, `clients/assertion.rs`): the unverified peek at `sub` that picks
/// the client, and, for an input that is a JSON object, the claims checks run after the signature
/// verified. An accepted assertion has an expiry still ahead (within the skew) and a `jti`.
pub fn client_assertion(data: &[u8]) {
    use crate::clients::assertion::{CLOCK_SKEW_SECS, Expect, check_claims, claimed_client};
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = claimed_client(token);
    }
    if let Ok(serde_json::Value::Object(claims)) = serde_json::from_slice(data) {
        let expect = Expect {
            client_id: "c1",
            issuer: ISSUER,
            legacy_audience: Some("http://127.0.0.1:8080/token"),
            now: FUZZ_NOW,
        };
        if let Ok((exp, jti)) = check_claims(&claims, &expect) {
            assert!(exp > FUZZ_NOW - CLOCK_SKEW_SECS && !jti.is_empty());
        }
    }
}

/// Request objects (RFC 9101, `protocol/request_object.rs`), verified with a JWK Set holding the
/// provider's test keys as if they were the client's. An input starting with `{` is a claims set,
/// signed here so that the fuzzer reaches the claims checks; anything else is the object as sent.
/// The parameters of an accepted object always carry the request's own `client_id`.
pub fn request_object(data: &[u8]) {
    use crate::protocol::request_object::{Expected, verify};
    let Some(f) = jwt_fixture() else { return };
    let token = if data.first() == Some(&b'{') {
        match f.keys.sign(SigningAlg::EdDSA, "oauth-authz-req+jwt", data) {
            Ok(t) => t,
            Err(_) => return,
        }
    } else {
        match std::str::from_utf8(data) {
            Ok(t) => t.to_string(),
            Err(_) => return,
        }
    };
    let jwks = String::from_utf8_lossy(&f.keys.jwks()).into_owned();
    let Some(now) = chrono::DateTime::from_timestamp(FUZZ_NOW, 0) else {
        return;
    };
    let expected = Expected {
        client_id: "c1",
        issuer: ISSUER,
        now,
    };
    if let Ok(params) = verify(&token, &jwks, &expected) {
        let ids: Vec<&str> = params
            .iter()
            .filter(|(k, _)| k == "client_id")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            ids,
            ["c1"],
            "a request object's parameters name another client"
        );
    }
}

/// Seed-file import, CSV (`mfa/seedfile.rs`): through format detection and directly.
pub fn seedfile_csv(data: &[u8]) {
    let _ = crate::mfa::seedfile::parse(data, None);
    if let Ok(text) = std::str::from_utf8(data) {
        let parsed = crate::mfa::seedfile::parse_csv(text);
        check_seeds(&parsed);
    }
}

/// Seed-file import, PSKC (RFC 6030, `mfa/seedfile.rs`). A first byte of 0 imports without a
/// pre-shared key, any other with RFC 6030's; the rest is the file.
pub fn seedfile_pskc(data: &[u8]) {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let psk = (mode != 0).then_some(&RFC6030_PSK[..]);
    let _ = crate::mfa::seedfile::parse(file, psk);
    if let Ok(text) = std::str::from_utf8(file)
        && let Ok(parsed) = crate::mfa::seedfile::parse_pskc(text, psk)
    {
        check_seeds(&parsed);
    }
}

fn check_seeds(parsed: &crate::mfa::seedfile::ParsedSeeds) {
    for r in &parsed.records {
        // An accepted record must work as a token: a code of the stated length comes out.
        let code = crate::mfa::otp::hotp(&r.secret, 0, r.digits, r.algorithm);
        assert!(
            code.as_ref().is_ok_and(|c| c.len() == r.digits as usize),
            "an accepted seed does not make a code: {r:?}"
        );
    }
}

/// Form decoding (`http::form_pairs`) and the duplicate-refusing parameter sets built on it
/// (`RawParams` for authorization and logout, `Params` for the token, revocation and
/// introspection endpoints): every parameter sent twice with a value must be reported as
/// repeated (RFC 6749 §3.1).
pub fn form_decoding(data: &[u8]) {
    let Some(pairs) = crate::http::form_pairs(&form_headers(), data) else {
        return;
    };
    let raw = RawParams::from_pairs(pairs.clone());
    let params = Params(pairs.clone());
    for (name, value) in &pairs {
        if value.is_empty() {
            continue;
        }
        let times = pairs
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .count();
        let reported = raw.duplicated().iter().any(|d| d == name);
        assert_eq!(times > 1, reported, "RawParams on {name:?}");
        assert_eq!(times > 1, params.get(name).is_err(), "Params on {name:?}");
        if times == 1 {
            assert_eq!(raw.get(name), Some(value.as_str()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays every corpus file of every target (`fuzz/corpus/<target>/`): what the fuzzer
    /// kept, the seeds, and the regressions of what it found.
    #[test]
    fn the_fuzz_corpus_replays_without_a_failure() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
        for (name, target) in TARGETS {
            let dir = root.join(name);
            let mut files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .map(|e| e.unwrap().path())
                .collect();
            files.sort();
            assert!(!files.is_empty(), "no corpus for {name}");
            for file in files {
                let data = std::fs::read(&file).unwrap();
                let replay = std::panic::catch_unwind(|| target(&data));
                assert!(replay.is_ok(), "{name}: {} fails", file.display());
            }
        }
    }

    #[test]
    fn every_target_has_a_fuzz_target_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
        for (name, _) in TARGETS {
            assert!(dir.join(format!("{name}.rs")).is_file(), "{name}");
        }
    }
}
