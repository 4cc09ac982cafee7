//! `cargo fuzz run seedfile_csv`: see `oidc_core::fuzzing::seedfile_csv`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| oidc_core::fuzzing::seedfile_csv(data));
