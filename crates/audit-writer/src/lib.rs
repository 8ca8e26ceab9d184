//! The audit-trail writer: consumes audit records from JetStream and appends them, idempotently
//! and hash-chained per app, to the provisioning audit trail (R-AUD-01, R-AUD-02).
//!
//! [`Application`] is the deployable (consumer + gRPC health + metrics); [`AuditWriter`] is the
//! consumer loop, usable in-process.

mod config;
mod error;
mod metrics;
mod record;
mod writer;

pub use config::{Config, MAX_BATCH_SIZE, Settings};
pub use error::Error;
pub use record::to_new_event;
pub use writer::AuditWriter;

use std::sync::Arc;

use alter_bus::{AuditRecord, Deliveries, EventBus};
use alter_runtime::{Deps, Service, ServiceHost};

/// The running service: listeners bound, dependencies connected, consumer opened.
pub struct Application {
    host: ServiceHost,
    bus: Arc<dyn EventBus>,
    deliveries: Deliveries<AuditRecord>,
    writer: AuditWriter,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("host", &self.host)
            .field("writer", &self.writer)
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
        let settings = &config.audit_writer;
        let host = ServiceHost::bind(Self::NAME, "audit_writer", &settings.listen()).await?;
        deps.register(&host);
        let Deps { store, bus, .. } = deps;
        let deliveries = AuditWriter::open(bus.as_ref())
            .await
            .map_err(Error::Consumer)?;
        let writer = AuditWriter::new(store, settings);
        Ok(Self {
            host,
            bus,
            deliveries,
            writer,
        })
    }

    /// Runs the consumer and serves health until the shutdown token is cancelled; returns once
    /// the consumer has written (or handed back) its last batch.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let Self {
            host,
            bus,
            deliveries,
            writer,
        } = self;
        let consumer = tokio::spawn(writer.run(bus, deliveries, host.shutdown_token()));
        let served = host.serve_grpc(|routes| routes).await;
        if let Err(error) = consumer.await {
            tracing::error!(%error, "audit consumer task failed");
        }
        served?;
        Ok(())
    }
}

alter_runtime::impl_service!(Application, Config, "audit-writer");
