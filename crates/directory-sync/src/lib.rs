//! The directory-sync worker: mirrors each identity provider's whole directory every six hours
//! and on demand (`alter.directory.v1.DirectorySync/RunImport`).

mod config;
mod error;

pub use config::{Config, Settings};
pub use error::Error;

use alter_runtime::{Deps, Service, ServiceHost};

/// The running service: listeners bound, dependencies connected.
#[derive(Debug)]
pub struct Application {
    host: ServiceHost,
}

impl Application {
    /// Connects its own PostgreSQL pool and NATS connection, then builds.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let deps = Deps::connect(Self::NAME, &config.common).await?;
        Self::build_with(config, deps).await
    }

    /// Binds its listeners over the given adapters (shared with other services of the process).
    pub async fn build_with(config: Config, deps: Deps) -> Result<Self, Error> {
        let host = ServiceHost::bind(
            Self::NAME,
            "directory_sync",
            &config.directory_sync.listen(),
        )
        .await?;
        deps.register(&host);
        Ok(Self { host })
    }

    pub async fn run_until_stopped(self) -> Result<(), Error> {
        self.host.serve_grpc(|routes| routes).await?;
        Ok(())
    }
}

alter_runtime::impl_service!(Application, Config, "directory-sync");
