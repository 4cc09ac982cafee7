//! End-to-end tests live in `tests/`: `tests/e2e/` is one test binary (`--test e2e`, one module
//! per area, helpers in `tests/e2e/common`); `enumeration`, `browser`, `radius` and `smtp` are
//! binaries of their own.
