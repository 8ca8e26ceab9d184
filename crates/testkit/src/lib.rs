//! The test kit: a [`TestEnv`] is one fresh PostgreSQL database plus one unique NATS prefix on
//! the local servers (`scripts/services.sh up`); [`spawn`] runs any service in-process on
//! port 0 against it. Everything is removed by [`TestEnv::cleanup`]. [`eventually`] waits
//! for what happens asynchronously.

#![allow(
    clippy::panic,
    reason = "a test kit fails the test loudly, with a hint"
)]

use alter_bus::testing::TestBus;
use alter_config::{CommonSettings, DatabaseSettings, NatsSettings};
use alter_runtime::{CancellationToken, Service};
use alter_store::testing::TestDatabase;
use secrecy::SecretString;
use std::time::Duration;

mod eventually;
mod probes;
pub mod standard_status;

pub use alter_bus::testing::{test_nats_url, unique_prefix};
pub use eventually::{NothingYet, Observation, eventually};
pub use probes::{assert_serves_health, grpc_health};

/// One test's private slice of the shared servers.
pub struct TestEnv {
    pub db: TestDatabase,
    pub bus: TestBus,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("db", &self.db)
            .finish_non_exhaustive()
    }
}

impl TestEnv {
    /// A fresh migrated database and a unique NATS prefix with its streams created.
    pub async fn new() -> Self {
        let db = match TestDatabase::create().await {
            Ok(db) => db,
            Err(e) => {
                panic!("TestEnv: cannot create a test database: {e}; run `scripts/services.sh up`")
            }
        };
        let bus = TestBus::new().await;
        Self { db, bus }
    }

    /// The shared config sections pointing at this environment.
    pub fn common(&self) -> CommonSettings {
        CommonSettings {
            database: DatabaseSettings {
                url: SecretString::from(self.db.url().to_owned()),
                max_connections: 8,
                // Migrations were applied by TestDatabase.
                migrate: false,
                ..DatabaseSettings::default()
            },
            nats: NatsSettings {
                url: test_nats_url(),
                prefix: self.bus.names().prefix().to_owned(),
                stream_replicas: 1,
            },
            telemetry: Default::default(),
            outbox: Default::default(),
            secrets: Default::default(),
            public: Default::default(),
        }
    }

    /// Drops the database and deletes the prefix's streams.
    pub async fn cleanup(self) {
        if let Err(e) = self.bus.cleanup().await {
            tracing::warn!(error = %e, "test bus cleanup failed");
        }
        if let Err(e) = self.db.cleanup().await {
            tracing::warn!(error = %e, "test database cleanup failed");
        }
    }
}

/// A service running in-process on a background task.
#[derive(Debug)]
pub struct Spawned {
    pub port: u16,
    pub admin_port: u16,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), alter_runtime::BoxError>>,
}

impl Spawned {
    /// `http://127.0.0.1:<port>`: the main (gRPC or HTTP) endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<admin port>`: `/healthz`, `/readyz`, `/metrics`.
    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    /// Cancels the shutdown token and waits (at most 10 s) for the service to drain.
    pub async fn stop(self) -> Result<(), String> {
        self.shutdown.cancel();
        match tokio::time::timeout(Duration::from_secs(10), self.task).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(e))) => Err(format!("service stopped with an error: {e}")),
            Ok(Err(e)) => Err(format!("service task failed: {e}")),
            Err(_) => Err("service did not stop within 10 s of cancellation".to_owned()),
        }
    }
}

/// Builds `S` from `config` (its listeners already bound) and runs it on a background task.
pub async fn spawn<S: Service>(config: S::Config) -> Spawned {
    let service = match S::build(config).await {
        Ok(s) => s,
        Err(e) => panic!("spawn {}: build failed: {e}", S::NAME),
    };
    run(service)
}

/// Runs an already built service on a background task (to keep a handle on its insides).
pub fn run<S: Service>(service: S) -> Spawned {
    let (port, admin_port, shutdown) = (
        service.port(),
        service.admin_port(),
        service.shutdown_token(),
    );
    let task = tokio::spawn(service.run_until_stopped());
    Spawned {
        port,
        admin_port,
        shutdown,
        task,
    }
}

/// The start-up contract every service keeps: built from `config` on a fresh environment it
/// answers `/healthz`, `/readyz`, `/metrics` and gRPC health, and once its shutdown token is
/// cancelled it drains, returns, and its ports close.
pub async fn check_service_lifecycle<S: Service>(config: impl FnOnce(CommonSettings) -> S::Config) {
    let env = TestEnv::new().await;
    let service = spawn::<S>(config(env.common())).await;
    assert_serves_health(&service, S::NAME).await;
    let admin = service.admin_url();
    if let Err(e) = service.stop().await {
        panic!("{} did not stop cleanly: {e}", S::NAME);
    }
    assert!(
        reqwest::get(format!("{admin}/healthz")).await.is_err(),
        "{}: admin port still open after stop",
        S::NAME
    );
    env.cleanup().await;
}
