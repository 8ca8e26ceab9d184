//! Receives the identity providers' webhooks, authenticates and parses them, and answers 2xx
//! only once their lifecycle events are durably on JetStream.

mod config;
mod error;

pub use config::{Config, Settings};
pub use error::Error;

use alter_runtime::{Service, ServiceHost, connect_bus, connect_store};

/// The running service: listeners bound, dependencies connected.
#[derive(Debug)]
pub struct Application {
    host: ServiceHost,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, Error> {
        let host = ServiceHost::bind(
            Self::NAME,
            "webhook_ingest",
            &config.webhook_ingest.listen(),
        )
        .await?;
        connect_store(&config.common.database, &host).await?;
        connect_bus(Self::NAME, &config.common.nats, &host).await?;
        Ok(Self { host })
    }

    pub async fn run_until_stopped(self) -> Result<(), Error> {
        self.host.serve_http(axum::Router::new()).await?;
        Ok(())
    }
}

alter_runtime::impl_service!(Application, Config, "webhook-ingest");
