//! Integration tests for `webhook-ingest`: the real service in-process with config-api, a
//! fresh database, its own NATS prefix, and the IDP simulator sending real deliveries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod deliveries;
mod endpoint_cache;
mod lifecycle;
mod support;
