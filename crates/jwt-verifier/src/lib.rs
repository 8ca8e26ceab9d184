//! The hot path (`alter.identity.v1.Verifier`): verifies an end user's JWT against the app's
//! identity provider and answers who the user is and which grants they hold.
//!
//! [`Application`] is the deployable (gRPC + health + metrics); [`Verifier`] is the logic,
//! usable in-process; [`connect`] builds a gRPC client.

mod answer;
mod cache;
mod config;
mod error;
mod grpc;
mod metrics;
mod token;
mod verifier;

pub use config::{Config, MAX_LEEWAY_SECS, Settings};
pub use error::{Error, REFUSAL_METADATA_KEY, VerifyError, reason_label, refusal_of};
pub use grpc::{VerifierService, connect};
pub use verifier::{CacheStats, Verifier};

use std::sync::Arc;

use alter_proto::identity::v1::verifier_server::VerifierServer;
use alter_providers::{JwksCache, JwksSettings};
use alter_runtime::outbox::OutboxRelay;
use alter_runtime::{Deps, Service, ServiceHost};
use std::time::Duration;

impl Verifier {
    /// A verifier over `store` with its own JWKS cache, configured by `settings` (what
    /// every process that verifies tokens builds: jwt-verifier, and sign-in for ID tokens).
    pub fn with_own_keys(
        settings: &Settings,
        store: Arc<dyn alter_store::Store>,
    ) -> Result<Self, Error> {
        let client = alter_providers::http_client().map_err(Error::HttpClient)?;
        let jwks = JwksCache::new(
            client,
            JwksSettings {
                refresh_interval: Duration::from_secs(settings.jwks_refresh_secs),
                unknown_kid_min_interval: Duration::from_secs(
                    settings.jwks_unknown_kid_min_interval_secs,
                ),
                fetch_timeout: Duration::from_secs(settings.jwks_fetch_timeout_secs),
                max_stale: Duration::from_secs(settings.jwks_max_stale_secs),
            },
        );
        Ok(Self::new(settings, store, jwks))
    }
}

/// The running service: listeners bound, dependencies connected, invalidations followed.
#[derive(Debug)]
pub struct Application {
    host: ServiceHost,
    verifier: Arc<Verifier>,
    deps: Deps,
    outbox: alter_config::OutboxSettings,
}

impl Application {
    /// Binds, connects PostgreSQL and NATS, and subscribes to cache invalidations before
    /// returning, so the first call after start-up already sees every invalidation.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let deps = Deps::connect(Self::NAME, &config.common).await?;
        Self::build_with(config, deps).await
    }

    /// [`Application::build`] over the given adapters (shared with other services of the
    /// process, or another store or bus than PostgreSQL and JetStream).
    pub async fn build_with(config: Config, deps: Deps) -> Result<Self, Error> {
        let settings = &config.jwt_verifier;
        let host = ServiceHost::bind(Self::NAME, "jwt_verifier", &settings.listen()).await?;
        deps.register_without_bus(&host);
        let (store, bus) = (deps.store.clone(), deps.bus.clone());
        let verifier = Arc::new(Verifier::with_own_keys(settings, store)?);
        alter_runtime::invalidations::spawn_follower(verifier.clone(), bus, host.shutdown_token())
            .await;
        Ok(Self {
            host,
            verifier,
            deps,
            outbox: config.common.outbox.clone(),
        })
    }

    /// The verifier behind the gRPC API, to call in-process (benchmarks, the all-in-one binary).
    pub fn verifier(&self) -> Arc<Verifier> {
        self.verifier.clone()
    }

    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let Self {
            host,
            verifier,
            deps,
            outbox,
        } = self;
        // Just-in-time provisioning writes audit records to the outbox; this publishes them.
        let relay = OutboxRelay::spawn_configured(
            deps.store,
            deps.bus,
            &outbox,
            Default::default(),
            host.shutdown_token(),
        );
        let server = VerifierService::new(verifier).into_server();
        host.health()
            .set_serving::<VerifierServer<VerifierService>>()
            .await;
        let served = host.serve_grpc(|routes| routes.add_service(server)).await;
        if let Err(error) = relay.await {
            tracing::error!(%error, "outbox relay task failed");
        }
        served?;
        Ok(())
    }
}

alter_runtime::impl_service!(Application, Config, "jwt-verifier");
