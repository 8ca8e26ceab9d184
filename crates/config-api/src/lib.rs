//! The admin gRPC API (`alter.admin.v1`): apps, the identity provider, grants, users, groups
//! and audit queries. Every product validation rule it applies lives in `alter-core`.

mod api;
mod auth;
pub mod client;
mod config;
mod convert;
mod directory;
mod error;
mod signin;
mod webhooks;

pub use api::AdminApi;
pub use auth::AdminAuth;
pub use client::{AdminClient, BearerToken, ClientError, connect_admin};
pub use config::{ADMIN_TOKEN_HASHES_KEY, Config, Settings};
pub use error::Error;
pub use webhooks::WebhookConfig;

use alter_proto::admin::v1::admin_service_server::AdminServiceServer;
use alter_runtime::outbox::{OutboxRelay, RelayProgress};
use alter_runtime::{Deps, Service, ServiceHost};

/// The running service: listeners bound, dependencies connected.
#[derive(Debug)]
pub struct Application {
    host: ServiceHost,
    api: AdminApi,
    deps: Deps,
    outbox: alter_config::OutboxSettings,
    progress: RelayProgress,
}

impl Application {
    /// Connects PostgreSQL and NATS, then builds ([`Application::build_with`]).
    pub async fn build(config: Config) -> Result<Self, Error> {
        let deps = Deps::connect(Self::NAME, &config.common).await?;
        Self::build_with(config, deps).await
    }

    /// Checks the admin token hashes and binds the listeners over the given adapters.
    pub async fn build_with(config: Config, deps: Deps) -> Result<Self, Error> {
        let hashes = config.config_api.token_hashes().map_err(Error::Config)?;
        if hashes.is_empty() {
            tracing::warn!(
                key = ADMIN_TOKEN_HASHES_KEY,
                "no admin token hashes are configured: every admin call will be refused; create one with `alter secrets new-admin-token`"
            );
        }
        // Install the Prometheus recorder now so call counts from the first call are kept.
        alter_telemetry::prometheus();
        let http = alter_providers::http_client().map_err(Error::HttpClient)?;
        let host = ServiceHost::bind(Self::NAME, "config_api", &config.config_api.listen()).await?;
        deps.register(&host);
        let progress = RelayProgress::default();
        let api = AdminApi::new(
            deps.store.clone(),
            progress.clone(),
            http,
            AdminAuth::new(hashes),
            WebhookConfig {
                public_base_url: config.config_api.public_webhook_base_url.clone(),
                default_grace: chrono::Duration::seconds(
                    i64::try_from(config.config_api.webhook_rotation_grace_secs).unwrap_or(86_400),
                ),
                keyring: config.common.secrets.keyring(),
                signin_url: config.common.public.signin_url.clone(),
            },
        );
        Ok(Self {
            host,
            api,
            deps,
            outbox: config.common.outbox.clone(),
            progress,
        })
    }

    /// Serves `alter.admin.v1.AdminService` (marked SERVING in gRPC health) until stopped.
    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let Self {
            host,
            api,
            deps,
            outbox,
            progress,
        } = self;
        // Publishes what each change wrote to the outbox (audit records, invalidations).
        let relay = OutboxRelay::spawn_configured(
            deps.store,
            deps.bus,
            &outbox,
            progress,
            host.shutdown_token(),
        );
        host.health()
            .set_serving::<AdminServiceServer<AdminApi>>()
            .await;
        let served = host
            .serve_grpc(|routes| routes.add_service(AdminServiceServer::new(api)))
            .await;
        if let Err(error) = relay.await {
            tracing::error!(%error, "outbox relay task failed");
        }
        served?;
        Ok(())
    }
}

alter_runtime::impl_service!(Application, Config, "config-api");
