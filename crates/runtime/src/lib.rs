//! Hosting a service: every Alter service binds its listeners before it starts (port 0 works,
//! so tests spawn the real service in-process), serves `/healthz`, `/readyz` and `/metrics` on
//! an admin port, serves gRPC health and reflection next to its API, and stops gracefully on
//! SIGTERM/SIGINT or when its shutdown token is cancelled.

mod admin;
mod connect;
mod host;
pub mod invalidations;
pub mod outbox;
mod readiness;
mod service;
mod shutdown;

pub use admin::admin_router;
pub use alter_config::CommonSettings;
pub use connect::{ConnectError, Deps, connect_bus, connect_store, migrate_postgres};
pub use host::{HostError, ServiceHost};
pub use readiness::{NatsReadiness, PostgresReadiness, Readiness, ReadinessCheck};
pub use service::{BoxError, Service, error_chain, run_service};
pub use shutdown::cancel_on_signals;
pub use tokio_util::sync::CancellationToken;
