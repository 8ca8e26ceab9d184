//! Integration tests for `grant-revoker`: the real service in-process, a fresh database, its own NATS prefix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod crash;
mod lifecycle;
mod outage;
mod revocation;
mod support;
