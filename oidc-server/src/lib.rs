//! AHS IAM: the OpenID Connect provider service. Configuration, the command line and the
//! service's branding live here; every business rule lives in `oidc-core`.

pub mod cli;
pub mod settings;
