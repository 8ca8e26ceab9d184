//! Connecting a service to PostgreSQL and NATS JetStream, with its readiness checks registered.

use alter_bus::{Bus, BusConfig};
use alter_config::{DatabaseSettings, NatsSettings};
use alter_store::PgStore;
use secrecy::ExposeSecret;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::time::Duration;

use crate::host::ServiceHost;
use crate::readiness::{NatsReadiness, PostgresReadiness};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "cannot connect to PostgreSQL (database.url): {0}; is the server running and the URL right? `make services` starts a local one"
    )]
    Postgres(String),
    #[error("cannot apply database migrations: {0}")]
    Migrate(String),
    #[error(
        "cannot connect to NATS JetStream (nats.url): {0}; is nats-server running with -js? `make services` starts a local one"
    )]
    Nats(String),
}

/// Opens the pool (no ping on acquire: it halves small-query throughput), applies migrations
/// when `database.migrate` is set, and registers the `postgres` readiness check.
pub async fn connect_store(
    settings: &DatabaseSettings,
    host: &ServiceHost,
) -> Result<Arc<PgStore>, ConnectError> {
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .test_before_acquire(false)
        .connect(settings.url.expose_secret())
        .await
        .map_err(|e| ConnectError::Postgres(e.to_string()))?;
    let store = PgStore::new(pool.clone());
    if settings.migrate {
        store
            .migrate()
            .await
            .map_err(|e| ConnectError::Migrate(e.to_string()))?;
    }
    host.readiness().add(PostgresReadiness(pool));
    Ok(Arc::new(store))
}

/// Connects to NATS, creates the streams idempotently and registers the `nats` readiness check.
pub async fn connect_bus(
    service: &'static str,
    settings: &NatsSettings,
    host: &ServiceHost,
) -> Result<Arc<Bus>, ConnectError> {
    let config = BusConfig::new(settings.url.clone(), settings.prefix.clone()).with_name(service);
    let bus = Bus::connect(config)
        .await
        .map_err(|e| ConnectError::Nats(e.to_string()))?;
    host.readiness().add(NatsReadiness(bus.client().clone()));
    Ok(Arc::new(bus))
}
