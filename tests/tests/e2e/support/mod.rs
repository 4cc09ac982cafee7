//! Helpers of the tests that run next to AHS IAM.

pub mod cpar;
