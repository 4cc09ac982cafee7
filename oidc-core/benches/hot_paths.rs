//! The functions every request of a hot endpoint runs, measured alone:
//! `cargo bench -p oidc-core --features bench --bench hot_paths`.
//! Token signing dominates the token endpoint, PKCE and TOTP checks are the per-flow protocol
//! work, authorization request validation is the authorize endpoint's CPU part, and argon2 is
//! what bounds password sign-ins.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use oidc_core::bench_api::{self, Fixture};
use oidc_core::mfa::otp::{OtpAlgorithm, totp_at_step};
use oidc_core::protocol::authorize::{ClientPolicy, RawParams, validate};
use oidc_core::protocol::pkce;

fn tokens(c: &mut Criterion) {
    let mut g = c.benchmark_group("token endpoint: access token + ID token");
    for (at, id) in [
        ("RS256", "RS256"),
        ("ES256", "RS256"),
        ("ES256", "ES256"),
        ("EdDSA", "EdDSA"),
    ] {
        let f = Fixture::new(bench_api::alg(at).unwrap()).unwrap();
        let id_alg = bench_api::alg(id).unwrap();
        g.bench_function(format!("at {at}, id {id}"), |b| {
            b.iter(|| black_box(f.mint(id_alg).unwrap()))
        });
    }
    g.finish();
    let mut g = c.benchmark_group("access token read (userinfo, introspection)");
    for at in ["RS256", "ES256", "EdDSA"] {
        let f = Fixture::new(bench_api::alg(at).unwrap()).unwrap();
        let token = f.mint(bench_api::alg("RS256").unwrap()).unwrap();
        g.bench_function(at, |b| b.iter(|| black_box(f.read_access_token(&token))));
    }
    g.finish();
}

fn protocol(c: &mut Criterion) {
    // RFC 7636 Appendix B.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    c.bench_function("PKCE S256 verify", |b| {
        b.iter(|| black_box(pkce::verify_s256(black_box(verifier), black_box(challenge))))
    });
    // RFC 6238 Appendix B's SHA-1 seed.
    let seed = b"12345678901234567890";
    c.bench_function("TOTP (RFC 6238, SHA-1, 6 digits)", |b| {
        b.iter(|| {
            black_box(totp_at_step(
                seed,
                black_box(59 / 30),
                6,
                OtpAlgorithm::Sha1,
            ))
        })
    });
    let raw = RawParams::from_pairs(
        [
            ("response_type", "code"),
            ("client_id", "cpar"),
            ("redirect_uri", "https://cpar.example.org/callback"),
            ("scope", "openid profile email"),
            ("state", "af0ifjsldkj"),
            ("nonce", "n-0S6_WzA2Mj"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let redirect_uris = vec!["https://cpar.example.org/callback".to_string()];
    let policy = ClientPolicy {
        redirect_uris: &redirect_uris,
        pkce_required: true,
        native: false,
        admin_console: false,
    };
    c.bench_function("authorization request validation", |b| {
        b.iter(|| black_box(validate(black_box(&raw), "cpar", &policy).is_ok()))
    });
}

fn passwords(c: &mut Criterion) {
    let mut g = c.benchmark_group("argon2id m=19456 KiB t=2 p=1");
    g.sample_size(10);
    let hash = bench_api::hash_password("correct horse battery staple").unwrap();
    g.bench_function("verify", |b| {
        b.iter(|| bench_api::verify_password("correct horse battery staple", &hash).unwrap())
    });
    g.finish();
}

criterion_group!(benches, tokens, protocol, passwords);
criterion_main!(benches);
