//! `cargo fuzz run authorize_request`: see `oidc_core::fuzzing::authorize_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_core::fuzzing::authorize_request(data));
