//! The grant-revocation consumer: applies lifecycle events (deprovisioning, suspension,
//! removed memberships, deleted groups) to user and group state and revokes grants, each event
//! in one transaction with the cache invalidations and audit records it causes, which its
//! outbox relay then publishes (R-REV-02..06, R-JWT-10, R-AUD-01, R-HOOK-06).
//!
//! [`Application`] is the deployable (consumer + outbox relay + gRPC health + metrics);
//! [`Revoker`] is the consumer loop, usable in-process.

mod config;
mod effects;
mod error;
mod metrics;
mod revoker;

pub use config::{Config, MAX_LANES, Settings};
pub use effects::derived_record_id;
pub use error::Error;
pub use metrics::{Outcome, Tally};
pub use revoker::Revoker;

use std::sync::Arc;

use alter_bus::{Deliveries, EventBus};
use alter_core::LifecycleEvent;
use alter_runtime::outbox::OutboxRelay;
use alter_runtime::{CancellationToken, Deps, Service, ServiceHost};
use alter_store::Store;

/// The running service: listeners bound, dependencies connected, consumer opened.
pub struct Application {
    host: ServiceHost,
    store: Arc<dyn Store>,
    bus: Arc<dyn EventBus>,
    deliveries: Deliveries<LifecycleEvent>,
    revoker: Revoker,
    outbox: alter_config::OutboxSettings,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("host", &self.host)
            .field("revoker", &self.revoker)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Binds, connects PostgreSQL and NATS, and opens the durable consumer, so a start-up
    /// problem stops the service before it reports ready.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let deps = Deps::connect(Self::NAME, &config.common).await?;
        Self::build_with(config, deps).await
    }

    /// [`Application::build`] over the given adapters (shared with other services of the
    /// process).
    pub async fn build_with(config: Config, deps: Deps) -> Result<Self, Error> {
        let settings = &config.grant_revoker;
        let host = ServiceHost::bind(Self::NAME, "grant_revoker", &settings.listen()).await?;
        deps.register(&host);
        let Deps { store, bus, .. } = deps;
        let deliveries = Revoker::open(bus.as_ref()).await.map_err(Error::Consumer)?;
        let revoker = Revoker::new(store.clone(), settings);
        Ok(Self {
            host,
            store,
            bus,
            deliveries,
            revoker,
            outbox: config.common.outbox,
        })
    }

    /// The consumer's outcome counts (applied, duplicate, stale, …).
    pub fn tally(&self) -> Tally {
        self.revoker.tally()
    }

    /// Runs the consumer and its outbox relay and serves health until the shutdown token is
    /// cancelled; returns once the consumer has finished its last events and the relay has
    /// published what they wrote.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let Self {
            host,
            store,
            bus,
            deliveries,
            revoker,
            outbox,
        } = self;
        // Stopped only after the consumer, so its last round covers the last commits.
        let relay_stop = CancellationToken::new();
        let relay = OutboxRelay::spawn_configured(
            store,
            bus.clone(),
            &outbox,
            Default::default(),
            relay_stop.clone(),
        );
        let consumer = tokio::spawn(revoker.run(bus, deliveries, host.shutdown_token()));
        let served = host.serve_grpc(|routes| routes).await;
        if let Err(error) = consumer.await {
            tracing::error!(%error, "lifecycle consumer task failed");
        }
        relay_stop.cancel();
        if let Err(error) = relay.await {
            tracing::error!(%error, "outbox relay task failed");
        }
        served?;
        Ok(())
    }
}

alter_runtime::impl_service!(Application, Config, "grant-revoker");
