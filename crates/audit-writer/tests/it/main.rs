//! Integration tests for `audit-writer`: the real service in-process, a fresh database, its own NATS prefix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod lifecycle;
mod trail;
