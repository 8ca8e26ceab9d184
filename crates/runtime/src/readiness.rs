//! Readiness: a service is ready when every dependency it needs answers. `/readyz` runs the
//! checks and says which one failed; Kubernetes stops routing traffic to it meanwhile.

use async_trait::async_trait;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// One dependency check, e.g. "postgres" or "nats".
#[async_trait]
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &'static str;
    /// `Err` carries a message for operators (never a secret).
    async fn check(&self) -> Result<(), String>;
}

/// The set of checks of one service, shared by the admin server and the service itself.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<RwLock<Vec<Arc<dyn ReadinessCheck>>>>,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness").finish_non_exhaustive()
    }
}

impl Readiness {
    pub fn add(&self, check: impl ReadinessCheck + 'static) {
        self.add_shared(Arc::new(check));
    }

    /// Adds a check shared with other services of the process (one pool, one connection).
    pub fn add_shared(&self, check: Arc<dyn ReadinessCheck>) {
        if let Ok(mut checks) = self.checks.write() {
            checks.push(check);
        }
    }

    /// Runs every check (each bounded by two seconds); returns (name, error) for each failure.
    pub async fn failures(&self) -> Vec<(&'static str, String)> {
        let checks: Vec<_> = self.checks.read().map(|c| c.clone()).unwrap_or_default();
        let mut failures = vec![];
        for check in checks {
            match tokio::time::timeout(Duration::from_secs(2), check.check()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push((check.name(), e)),
                Err(_) => failures.push((check.name(), "did not answer within 2 s".to_owned())),
            }
        }
        failures
    }
}

/// PostgreSQL answers `SELECT 1`.
pub struct PostgresReadiness(pub sqlx::PgPool);

#[async_trait]
impl ReadinessCheck for PostgresReadiness {
    fn name(&self) -> &'static str {
        "postgres"
    }
    async fn check(&self) -> Result<(), String> {
        sqlx::query("SELECT 1")
            .execute(&self.0)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// The NATS connection is up.
pub struct NatsReadiness(pub async_nats::Client);

#[async_trait]
impl ReadinessCheck for NatsReadiness {
    fn name(&self) -> &'static str {
        "nats"
    }
    async fn check(&self) -> Result<(), String> {
        match self.0.connection_state() {
            async_nats::connection::State::Connected => Ok(()),
            other => Err(format!("connection is {other:?}")),
        }
    }
}
