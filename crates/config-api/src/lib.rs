//! The admin gRPC API (`alter.admin.v1`): apps, the identity provider, grants, users, groups
//! and audit queries. Every product validation rule it applies lives in `alter-core`.

mod api;
mod auth;
pub mod client;
mod config;
mod convert;
mod error;

pub use api::AdminApi;
pub use auth::AdminAuth;
pub use client::{AdminClient, BearerToken, ClientError, connect_admin};
pub use config::{ADMIN_TOKEN_HASHES_KEY, Config, Settings};
pub use error::Error;

use alter_proto::admin::v1::admin_service_server::AdminServiceServer;
use alter_runtime::{Service, ServiceHost, connect_bus, connect_store};

/// The running service: listeners bound, dependencies connected.
#[derive(Debug)]
pub struct Application {
    host: ServiceHost,
    api: AdminApi,
}

impl Application {
    /// Checks the admin token hashes, binds the listeners and connects PostgreSQL and NATS.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let hashes = config.config_api.token_hashes().map_err(Error::Config)?;
        if hashes.is_empty() {
            tracing::warn!(
                key = ADMIN_TOKEN_HASHES_KEY,
                "no admin token hashes are configured: every admin call will be refused; create one with `alter secrets new-admin-token`"
            );
        }
        // Install the Prometheus recorder now so call counts from the first call are kept.
        alter_telemetry::prometheus();
        let http = alter_providers::http_client().map_err(|e| Error::HttpClient(e.to_string()))?;
        let host = ServiceHost::bind(Self::NAME, "config_api", &config.config_api.listen()).await?;
        let store = connect_store(&config.common.database, &host).await?;
        let bus = connect_bus(Self::NAME, &config.common.nats, &host).await?;
        let api = AdminApi::new(store, bus, http, AdminAuth::new(hashes));
        Ok(Self { host, api })
    }

    /// Serves `alter.admin.v1.AdminService` (marked SERVING in gRPC health) until stopped.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let Self { host, api } = self;
        host.health()
            .set_serving::<AdminServiceServer<AdminApi>>()
            .await;
        host.serve_grpc(|routes| routes.add_service(AdminServiceServer::new(api)))
            .await?;
        Ok(())
    }
}

alter_runtime::impl_service!(Application, Config, "config-api");
