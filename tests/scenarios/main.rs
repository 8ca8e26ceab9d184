//! End-to-end scenarios: every service in-process against one database and NATS prefix,
//! exercised the way callers and identity providers would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod all_services;
mod audit_trail;
mod deprovisioning;
mod metric_names;
mod nats_outage;
mod observability;
mod seams;
mod support;
mod traces;
mod verify_path;
