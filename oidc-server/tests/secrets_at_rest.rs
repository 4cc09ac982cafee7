//! The binary's guards for secrets at rest: it refuses to start a non-loopback issuer under the
//! built-in development key or over plain http, and `keys rotate-kek` moves a database from one
//! key-encryption key to another (old key in `IAM_PREVIOUS_KEY_ENCRYPTION_KEYS`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_oidc-server");
const OLD: &str = "ERERERERERERERERERERERERERERERERERERERERERE="; // 32 × 0x11
const NEW: &str = "IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI="; // 32 × 0x22

fn run(dir: &std::path::Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(BIN);
    c.env("IAM_DATA_DIR", dir)
        .env("IAM_BIND", "127.0.0.1:1")
        .env_remove("IAM_DATABASE_URL")
        .env_remove("IAM_ISSUER")
        .env_remove("IAM_CONFIG")
        .env_remove("IAM_KEY_ENCRYPTION_KEY")
        .env_remove("IAM_PREVIOUS_KEY_ENCRYPTION_KEYS");
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn a_public_issuer_is_refused_with_the_development_key_or_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[("IAM_ISSUER", "https://iam.example.org")],
        &["serve"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refusing to keep signing keys under the built-in development key"),
        "{}",
        stderr(&out)
    );
    let out = run(
        dir.path(),
        &[
            ("IAM_ISSUER", "http://iam.example.org"),
            ("IAM_KEY_ENCRYPTION_KEY", NEW),
        ],
        &["serve"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("uses plain http on a non-loopback host"),
        "{}",
        stderr(&out)
    );
    // Nothing was created for either.
    assert!(!dir.path().join("iam.db").exists());
}

#[test]
fn keys_rotate_kek_re_seals_everything_and_the_old_key_is_then_refused() {
    let dir = tempfile::tempdir().unwrap();
    let old = [("IAM_KEY_ENCRYPTION_KEY", OLD)];
    let out = run(dir.path(), &old, &["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));

    let rotating = [
        ("IAM_KEY_ENCRYPTION_KEY", NEW),
        ("IAM_PREVIOUS_KEY_ENCRYPTION_KEYS", OLD),
    ];
    // A change to IAM: it needs an actor, like every other change.
    let out = run(dir.path(), &rotating, &["keys", "rotate-kek"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--break-glass"), "{}", stderr(&out));
    let out = run(
        dir.path(),
        &rotating,
        &["--json", "--break-glass", "keys", "rotate-kek"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let keys = &report["columns"][0];
    assert_eq!(keys["column"], "signing_keys.private_key");
    assert_eq!(keys["values"], keys["from_previous"]);
    assert!(keys["values"].as_u64().unwrap() >= 1, "{report}");

    // The new key alone works; the old one is refused with the reason.
    let out = run(
        dir.path(),
        &[("IAM_KEY_ENCRYPTION_KEY", NEW)],
        &["--json", "keys", "list"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(dir.path(), &old, &["keys", "list"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not the one this database's secrets are sealed under"),
        "{}",
        stderr(&out)
    );
}
