//! `cargo fuzz run request_object`: see `oidc_core::fuzzing::request_object`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_core::fuzzing::request_object(data));
