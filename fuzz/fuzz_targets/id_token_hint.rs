//! `cargo fuzz run id_token_hint`: see `oidc_core::fuzzing::id_token_hint`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_core::fuzzing::id_token_hint(data));
