//! OIDC sign-in (R-OIDC-01) for `app.authenticate()` and the Wallet: the authorization-code
//! flow with PKCE, `state` and `nonce` against the app's identity provider, the ID token
//! verified by the verifier's own code (same JWKS cache type, same checks, plus nonce, aud,
//! azp and at_hash), the user resolved or provisioned exactly as Verify does, and a one-time
//! result code the app's backend redeems over gRPC.
//!
//! One port: the browser routes ([`http::router`], behind the ingress) and gRPC
//! `alter.identity.v1.SignIn` with health (by content type, internal only). See
//! `docs/signin.md` and ADR 0012.

mod config;
mod error;
pub mod flow;
mod grpc;
pub mod http;
mod tokens;

pub use config::{Config, Settings};
pub use error::{Error, Refusal};
pub use flow::{CallbackQuery, Cookie, RedeemError, Redirect, SignIn};
pub use grpc::{SignInService, connect};
pub use tokens::ClientAuth;

use std::sync::Arc;
use std::time::Duration;

use alter_proto::identity::v1::sign_in_server::SignInServer;
use alter_runtime::outbox::OutboxRelay;
use alter_runtime::{Deps, Service, ServiceHost};

/// The running service: listener bound, dependencies connected, invalidations followed.
#[derive(Debug)]
pub struct Application {
    host: ServiceHost,
    signin: Arc<SignIn>,
    deps: Deps,
    outbox: alter_config::OutboxSettings,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, Error> {
        let deps = Deps::connect(Self::NAME, &config.common).await?;
        Self::build_with(config, deps).await
    }

    /// Builds over the given adapters. Refuses to start without `public.signin_url` and a
    /// master key (both are named by config validation first).
    pub async fn build_with(config: Config, deps: Deps) -> Result<Self, Error> {
        let public_url = config
            .common
            .public
            .signin_url
            .clone()
            .ok_or_else(|| Error::Config("public.signin_url is required".to_owned()))?;
        let keyring = config.common.secrets.keyring().ok_or_else(|| {
            Error::Config(format!(
                "{} is required",
                alter_secrets::MASTER_KEY_CONFIG_KEY
            ))
        })?;
        let host = ServiceHost::bind(Self::NAME, "signin", &config.signin.listen()).await?;
        deps.register_without_bus(&host);
        let verifier = Arc::new(alter_jwt_verifier::Verifier::with_own_keys(
            &config.jwt_verifier,
            deps.store.clone(),
        )?);
        alter_runtime::invalidations::spawn_follower(
            verifier.clone(),
            deps.bus.clone(),
            host.shutdown_token(),
        )
        .await;
        let http = alter_providers::http_client().map_err(Error::HttpClient)?;
        let signin = Arc::new(SignIn::new(
            deps.store.clone(),
            verifier,
            keyring,
            http,
            public_url,
            config.signin.clone(),
        ));
        Ok(Self {
            host,
            signin,
            deps,
            outbox: config.common.outbox.clone(),
        })
    }

    /// The sign-in logic behind the routes, to call in-process.
    pub fn signin(&self) -> Arc<SignIn> {
        self.signin.clone()
    }

    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let Self {
            host,
            signin,
            deps,
            outbox,
        } = self;
        // Just-in-time provisioning at sign-in writes audit records to the outbox.
        let relay = OutboxRelay::spawn_configured(
            deps.store,
            deps.bus,
            &outbox,
            Default::default(),
            host.shutdown_token(),
        );
        let purge = tokio::spawn(purge_expired(signin.clone(), host.shutdown_token()));
        let router = http::router(signin.clone());
        let grpc = SignInService::new(signin).into_server();
        host.health()
            .set_serving::<SignInServer<SignInService>>()
            .await;
        let served = host
            .serve_http_and_grpc(router, |routes| routes.add_service(grpc))
            .await;
        purge.abort();
        if let Err(error) = relay.await {
            tracing::error!(%error, "outbox relay task failed");
        }
        served?;
        Ok(())
    }
}

/// Deletes expired flows and sessions every minute.
async fn purge_expired(signin: Arc<SignIn>, shutdown: alter_runtime::CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match signin.purge_expired().await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "expired sign-in state deleted"),
            Err(error) => tracing::warn!(%error, "could not delete expired sign-in state"),
        }
    }
}

alter_runtime::impl_service!(Application, Config, "signin");
