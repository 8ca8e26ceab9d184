//! Integration tests of the PostgreSQL store against the real server: one fresh database
//! per test (`TestDatabase`), everything through `Arc<dyn Store>` as services use it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod apps_idps;
mod audit;
mod audit_chain;
mod directory;
mod directory_runs;
mod grants;
mod groups;
mod isolation;
mod lifecycle;
mod outbox;
mod processed_events;
mod signin;
mod support;
mod test_database;
mod users;
mod webhooks;
