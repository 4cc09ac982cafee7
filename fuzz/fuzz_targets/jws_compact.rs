//! `cargo fuzz run jws_compact`: see `oidc_core::fuzzing::jws_compact`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_core::fuzzing::jws_compact(data));
