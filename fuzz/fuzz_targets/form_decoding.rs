//! `cargo fuzz run form_decoding`: see `oidc_core::fuzzing::form_decoding`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_core::fuzzing::form_decoding(data));
