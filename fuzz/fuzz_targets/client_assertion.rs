//! `cargo fuzz run client_assertion`: see `oidc_core::fuzzing::client_assertion`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_core::fuzzing::client_assertion(data));
