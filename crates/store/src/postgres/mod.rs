//! The PostgreSQL adapter: every aggregate trait implemented over one `sqlx` pool with
//! runtime-checked queries (no database is needed to build).

mod apps;
mod audit;
mod directory;
mod directory_runs;
mod grants;
mod groups;
mod idps;
mod lifecycle;
mod outbox;
mod processed_events;
mod secrets;
mod signin;
mod users;
mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

pub(crate) use crate::common::{
    corrupt, dedupe_last_wins, is_foreign_key_violation, is_unique_violation, page_limit,
    parse_status,
};
use crate::error::StoreResult;

/// The embedded schema migrations (`crates/store/migrations`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The PostgreSQL implementation of every store trait. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    /// Wakes this process's outbox relay after a commit that wrote messages.
    signal: Arc<crate::outbox::OutboxSignal>,
}

impl PgStore {
    /// Wraps an existing pool.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            signal: Arc::default(),
        }
    }

    /// Connects a pool of at most `max_connections` to `url`. Connections are not pinged on
    /// every acquire (`test_before_acquire(false)`), which nearly doubles small-query rates.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        let pool = pool_options(max_connections).connect(url).await?;
        Ok(Self::new(pool))
    }

    /// Applies any migrations not yet applied.
    pub async fn migrate(&self) -> StoreResult<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The underlying pool (for health checks and tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// The pool settings every Alter service uses.
pub(crate) fn pool_options(max_connections: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
}
