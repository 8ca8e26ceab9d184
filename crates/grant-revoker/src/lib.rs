//! The grant-revocation consumer: applies lifecycle events to user and group state, revokes
//! grants, and tells every verifier replica to drop its cached answers.

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
        let host =
            ServiceHost::bind(Self::NAME, "grant_revoker", &config.grant_revoker.listen()).await?;
        connect_store(&config.common.database, &host).await?;
        connect_bus(Self::NAME, &config.common.nats, &host).await?;
        Ok(Self { host })
    }

    pub async fn run_until_stopped(self) -> Result<(), Error> {
        self.host.serve_grpc(|routes| routes).await?;
        Ok(())
    }
}

alter_runtime::impl_service!(Application, Config, "grant-revoker");
