//! Integration tests for `config-api`: the real service in-process, a fresh database, its own NATS prefix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod auth;
mod error_model;
mod grants;
mod idempotency;
mod idp;
mod lifecycle;
mod signin;
mod support;
mod users;
mod webhooks;
