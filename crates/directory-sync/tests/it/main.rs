//! Integration tests for `directory-sync`: the real service in-process, a fresh database, its own NATS prefix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod import;
mod lifecycle;
mod support;
