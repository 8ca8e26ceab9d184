//! Integration tests for `jwt-verifier`: the real service in-process, a fresh database, its own
//! NATS prefix and a real IdpSim; apps and grants are set up through the store.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod error_model;
mod hostile_tokens;
mod isolation;
mod jwks_outage;
mod lifecycle;
mod provisioning;
mod revocation;
mod seams;
mod support;
mod tokens;
