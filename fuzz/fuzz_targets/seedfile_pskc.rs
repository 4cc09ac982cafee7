//! `cargo fuzz run seedfile_pskc`: see `oidc_core::fuzzing::seedfile_pskc`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_core::fuzzing::seedfile_pskc(data));
