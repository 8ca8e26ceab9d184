//! The contract every Alter service keeps, so one `main` (and `alter serve`) runs any of them:
//! load and validate config, start telemetry, bind, serve, stop on SIGTERM.

use alter_config::{CommonSettings, Validate};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;

/// A deployable service (a library with a thin `main.rs`).
pub trait Service: Sized + Send + 'static {
    type Config: DeserializeOwned + Validate + Send + 'static;
    /// Its name in logs, metrics and the NATS connection, e.g. `jwt-verifier`.
    const NAME: &'static str;

    fn common(config: &Self::Config) -> &CommonSettings;
    /// Connects its own dependencies, binds listeners; nothing is served yet.
    fn build(config: Self::Config) -> impl Future<Output = Result<Self, BoxError>> + Send;
    /// Binds listeners over the given adapters (shared with the process's other services).
    fn build_with(
        config: Self::Config,
        deps: crate::Deps,
    ) -> impl Future<Output = Result<Self, BoxError>> + Send;
    /// The main port (gRPC, or HTTP for webhook-ingest).
    fn port(&self) -> u16;
    fn admin_port(&self) -> u16;
    fn shutdown_token(&self) -> CancellationToken;
    /// Serves until the shutdown token is cancelled, then drains and returns.
    fn run_until_stopped(self) -> impl Future<Output = Result<(), BoxError>> + Send;
}

pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error and its causes, `outer: cause: root cause`, skipping a cause whose text the
/// outer message already includes.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

/// The whole `main` of a service binary.
pub fn run_service<S: Service>() -> ExitCode {
    let config: S::Config = match alter_config::load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", S::NAME);
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: cannot start the async runtime: {e}", S::NAME);
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let _guard = match alter_telemetry::init(S::NAME, &S::common(&config).telemetry) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("{}: {e}", S::NAME);
                return ExitCode::from(2);
            }
        };
        let service = match S::build(config).await {
            Ok(s) => s,
            Err(e) => {
                let chain = error_chain(e.as_ref());
                tracing::error!(service = S::NAME, error = %chain, "failed to start");
                eprintln!("{}: failed to start: {chain}", S::NAME);
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            service = S::NAME,
            port = service.port(),
            admin_port = service.admin_port(),
            "started"
        );
        crate::shutdown::cancel_on_signals(service.shutdown_token());
        match service.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!(service = S::NAME, error = %e, "stopped with an error");
                ExitCode::FAILURE
            }
        }
    })
}

/// Gives an application type (a struct with a `host: ServiceHost` field and inherent
/// `build(Config)`, `build_with(Config, Deps)` and `run_until_stopped()` methods) its `port()`, `admin_port()` and
/// `shutdown_token()` accessors and implements [`Service`] for it — i.e. every Alter service.
#[macro_export]
macro_rules! impl_service {
    ($app:ty, $config:ty, $name:literal) => {
        impl $app {
            /// The main port (gRPC, or HTTP for webhook-ingest); known before serving starts.
            pub fn port(&self) -> u16 {
                self.host.port()
            }
            /// The admin port: `/healthz`, `/readyz`, `/metrics`.
            pub fn admin_port(&self) -> u16 {
                self.host.admin_port()
            }
            /// Cancel it to stop the service gracefully.
            pub fn shutdown_token(&self) -> $crate::CancellationToken {
                self.host.shutdown_token()
            }
        }

        impl $crate::Service for $app {
            type Config = $config;
            const NAME: &'static str = $name;

            fn common(config: &$config) -> &$crate::CommonSettings {
                &config.common
            }
            async fn build(config: $config) -> Result<Self, $crate::BoxError> {
                Ok(<$app>::build(config).await?)
            }
            async fn build_with(
                config: $config,
                deps: $crate::Deps,
            ) -> Result<Self, $crate::BoxError> {
                Ok(<$app>::build_with(config, deps).await?)
            }
            fn port(&self) -> u16 {
                <$app>::port(self)
            }
            fn admin_port(&self) -> u16 {
                <$app>::admin_port(self)
            }
            fn shutdown_token(&self) -> $crate::CancellationToken {
                <$app>::shutdown_token(self)
            }
            async fn run_until_stopped(self) -> Result<(), $crate::BoxError> {
                Ok(<$app>::run_until_stopped(self).await?)
            }
        }
    };
}
