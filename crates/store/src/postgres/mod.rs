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
mod users;
mod webhooks;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use alter_core::{EventSource, FieldError, UserStatus};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

use crate::error::{StoreError, StoreResult};

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

/// A page size between 1 and 1000; 0 asks for the default of 100.
pub(crate) fn page_limit(limit: u32) -> i64 {
    if limit == 0 {
        100
    } else {
        i64::from(limit.min(1000))
    }
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

pub(crate) fn is_foreign_key_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

pub(crate) fn corrupt(what: &str) -> impl FnOnce(FieldError) -> StoreError + '_ {
    move |err| StoreError::corrupt(what, err)
}

pub(crate) fn parse_status(value: &str) -> StoreResult<UserStatus> {
    UserStatus::parse("users.status", value).map_err(corrupt("user status"))
}

pub(crate) fn parse_source(column: &str, value: &str) -> StoreResult<EventSource> {
    EventSource::parse(column, value).map_err(corrupt("event source"))
}

/// The distinct items by `key`, in first-seen order, each replaced by its last occurrence
/// (a multi-row upsert may not touch the same row twice).
pub(crate) fn dedupe_last_wins<'a, T, K: Eq + Hash>(
    items: &'a [T],
    key: impl Fn(&'a T) -> K,
) -> Vec<&'a T> {
    let mut position: HashMap<K, usize> = HashMap::with_capacity(items.len());
    let mut out: Vec<&T> = Vec::with_capacity(items.len());
    for item in items {
        match position.get(&key(item)) {
            Some(&i) => {
                if let Some(slot) = out.get_mut(i) {
                    *slot = item;
                }
            }
            None => {
                position.insert(key(item), out.len());
                out.push(item);
            }
        }
    }
    out
}
