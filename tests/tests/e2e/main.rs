//! The end-to-end tests of AHS IAM (and CPAR), as one test binary: every module below is one
//! area, run against a real provider on a loopback port with a fresh database per test (SQLite,
//! or PostgreSQL when `TEST_DATABASE_URL` names a server). Run one area with a name filter, for
//! example `cargo test -p e2e-tests --test e2e code_flow::`.
//!
//! The tests share one process, so none may change process-wide state (environment variables,
//! the working directory, a global tracing subscriber) or listen on a fixed port. Tests that
//! must own the process stay binaries of their own next to this one: `enumeration` (it counts
//! the provider's dummy password verifications, a counter of the whole process), `browser`
//! (headless Chromium against the demo), `radius` (a FreeRADIUS server) and `smtp` (an SMTP
//! receiver).

mod common;
mod support;

mod admin_api;
mod admin_pages;
mod attacks;
mod attacks_at_rest;
mod attacks_pages;
mod audit;
mod backchannel;
mod bad_input;
mod claims_hook;
mod client_auth;
mod code_flow;
mod consent;
mod cors;
mod cpar;
mod housekeeping;
mod keys;
mod lifecycle;
mod logout;
mod metrics;
mod outage;
mod par;
mod provisioning;
mod registration;
mod replicas;
mod request_objects;
mod request_params;
mod round_trips;
mod seams;
mod second_factor;
mod security_headers;
mod seed_story;
mod throttle;
mod tokens;
