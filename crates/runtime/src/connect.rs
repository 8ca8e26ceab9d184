//! Connecting a service to PostgreSQL and NATS JetStream, with its readiness checks registered.

use alter_bus::{Bus, BusConfig, EventBus};
use alter_config::{CommonSettings, DatabaseSettings, NatsSettings};
use alter_store::{PgStore, Store};
use secrecy::ExposeSecret;
use sqlx::postgres::PgPoolOptions;
use std::sync::Arc;
use std::time::Duration;

use crate::host::ServiceHost;
use crate::readiness::{NatsReadiness, PostgresReadiness, ReadinessCheck};

/// Why a service could not reach its dependencies; the cause is kept as the `source()`.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "cannot connect to PostgreSQL (database.url): {0}; is the server running and the URL right? `make services` starts a local one"
    )]
    Postgres(#[source] sqlx::Error),
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[source] alter_store::StoreError),
    #[error(
        "cannot connect to NATS JetStream (nats.url): {0}; is nats-server running with -js? `make services` starts a local one"
    )]
    Nats(#[source] alter_bus::BusError),
}

/// The adapters services run on: the store and the bus as trait objects, with the readiness
/// checks that go with them. Built once per process ([`Deps::connect`], or by hand around
/// another adapter) and shared by every service in it: `alter serve` holds one pool and one
/// NATS connection, however many services it runs.
#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn EventBus>,
    checks: Vec<Arc<dyn ReadinessCheck>>,
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field(
                "checks",
                &self.checks.iter().map(|c| c.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Deps {
    /// Any store and bus (an embedded adapter, a test double around a real one), with no
    /// readiness checks of their own; add them with [`Deps::with_check`].
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn EventBus>) -> Self {
        Self {
            store,
            bus,
            checks: Vec::new(),
        }
    }

    /// Adds a readiness check every service built on these deps reports in `/readyz`.
    pub fn with_check(mut self, check: impl ReadinessCheck + 'static) -> Self {
        self.checks.push(Arc::new(check));
        self
    }

    /// Connects PostgreSQL (applying migrations when `database.migrate` is set) and NATS
    /// JetStream as `client_name`, with the `postgres` and `nats` readiness checks.
    pub async fn connect(
        client_name: &'static str,
        common: &CommonSettings,
    ) -> Result<Self, ConnectError> {
        let (store, pool) = open_store(&common.database).await?;
        let bus = open_bus(client_name, &common.nats).await?;
        let nats = NatsReadiness(bus.client().clone());
        Ok(Self::new(store, bus)
            .with_check(PostgresReadiness(pool))
            .with_check(nats))
    }

    /// Registers these deps' readiness checks with a service's host.
    pub fn register(&self, host: &ServiceHost) {
        for check in &self.checks {
            host.readiness().add_shared(check.clone());
        }
    }

    /// Registers the readiness checks except the bus's, for a service that keeps serving
    /// without NATS (the verifier and sign-in answer from the database, caches off, while
    /// invalidations cannot arrive: R-JWT-10). A NATS outage must not take every verifier out
    /// of its Service.
    pub fn register_without_bus(&self, host: &ServiceHost) {
        for check in self.checks.iter().filter(|c| c.name() != "nats") {
            host.readiness().add_shared(check.clone());
        }
    }
}

async fn open_store(
    settings: &DatabaseSettings,
) -> Result<(Arc<PgStore>, sqlx::PgPool), ConnectError> {
    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(settings.min_connections)
        .acquire_timeout(Duration::from_millis(settings.acquire_timeout_ms))
        .test_before_acquire(false)
        .connect(settings.url.expose_secret())
        .await
        .map_err(ConnectError::Postgres)?;
    let store = PgStore::new(pool.clone());
    if settings.migrate {
        store.migrate().await.map_err(ConnectError::Migrate)?;
    }
    Ok((Arc::new(store), pool))
}

async fn open_bus(
    service: &'static str,
    settings: &NatsSettings,
) -> Result<Arc<Bus>, ConnectError> {
    let config = BusConfig::new(settings.url.clone(), settings.prefix.clone())
        .with_name(service)
        .with_replicas(settings.stream_replicas);
    let bus = Bus::connect(config).await.map_err(ConnectError::Nats)?;
    Ok(Arc::new(bus))
}

/// Applies the PostgreSQL migrations and returns the latest version, whatever
/// `database.migrate` says: `alter migrate`, the Helm chart's pre-install/pre-upgrade Job.
/// Concurrent runs are serialised by the migrator's advisory lock.
pub async fn migrate_postgres(settings: &DatabaseSettings) -> Result<i64, ConnectError> {
    let settings = DatabaseSettings {
        migrate: true,
        min_connections: 0,
        max_connections: 1,
        ..settings.clone()
    };
    let (_store, pool) = open_store(&settings).await?;
    pool.close().await;
    Ok(alter_store::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or_default())
}

/// Opens the pool (no ping on acquire: it halves small-query throughput), applies migrations
/// when `database.migrate` is set, and registers the `postgres` readiness check.
pub async fn connect_store(
    settings: &DatabaseSettings,
    host: &ServiceHost,
) -> Result<Arc<PgStore>, ConnectError> {
    let (store, pool) = open_store(settings).await?;
    host.readiness().add(PostgresReadiness(pool));
    Ok(store)
}

/// Connects to NATS, creates the streams idempotently and registers the `nats` readiness check.
pub async fn connect_bus(
    service: &'static str,
    settings: &NatsSettings,
    host: &ServiceHost,
) -> Result<Arc<Bus>, ConnectError> {
    let bus = open_bus(service, settings).await?;
    host.readiness().add(NatsReadiness(bus.client().clone()));
    Ok(bus)
}
