//! `cargo fuzz run token_request`: see `oidc_core::fuzzing::token_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_core::fuzzing::token_request(data));
