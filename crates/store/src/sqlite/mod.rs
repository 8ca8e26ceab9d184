//! The embedded adapter: every aggregate trait over one SQLite file (`alter dev`, ADR 0011),
//! with the guarantees the services rely on from PostgreSQL — changes and their outbox
//! messages in one transaction, idempotent processed-event records, the append-only hash
//! chain, one active directory run per IDP.
//!
//! Concurrency: the file is in WAL mode (readers never wait for the writer) and every
//! transaction that writes starts with `BEGIN IMMEDIATE` ([`SqliteStore::write_tx`]), so
//! writers queue on SQLite's lock (up to the busy timeout) instead of failing when a read
//! lock cannot be upgraded. Writers are serialised, which is what `FOR UPDATE` and `SKIP
//! LOCKED` buy on PostgreSQL. Never acquire a second connection while holding a transaction.
//!
//! Types: UUIDs are 16-byte BLOBs, times are RFC 3339 TEXT bound from Rust at microsecond
//! precision ([`now`]), so that text order is time order (see the migration's header).

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

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use tokio::sync::OwnedMutexGuard;

use crate::error::StoreResult;

/// The embedded schema migrations (`crates/store/migrations-sqlite`).
pub static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations-sqlite");

/// How long a writer waits for another's transaction before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// The SQLite implementation of every store trait. Cheap to clone (the pool is shared).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Wakes this process's outbox relay after a commit that wrote messages.
    signal: Arc<crate::outbox::OutboxSignal>,
    /// One writer at a time in this process (SQLite allows one anyway).
    writers: Arc<tokio::sync::Mutex<()>>,
}

impl SqliteStore {
    /// Opens (creating it if missing) the database file at `path` and applies the embedded
    /// migrations. At most `max_connections` connections (readers; one writes at a time).
    pub async fn open(path: &Path, max_connections: u32) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL with NORMAL is durable against a crash of the process (what `alter dev`
            // must survive); FULL would also survive a power cut at a write's cost.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options)
            .await?;
        let store = Self {
            pool,
            signal: Arc::default(),
            writers: Arc::default(),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies any migrations not yet applied.
    pub async fn migrate(&self) -> StoreResult<()> {
        SQLITE_MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// The underlying pool (for health checks and tests).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Closes every connection (checkpointing the WAL), e.g. before a restart.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// A transaction that will write. It first waits its turn among this process's writers
    /// (an async queue, so a waiting writer is woken the moment the previous one ends rather
    /// than by SQLite's busy handler, which sleeps 1, 2, 5, 10, 15… ms between tries), then
    /// takes SQLite's write lock at `BEGIN`, so it cannot fail later on a lock upgrade.
    pub(crate) async fn write_tx(&self) -> StoreResult<WriteTx> {
        let turn = self.write_turn().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(WriteTx { tx, _turn: turn })
    }

    /// This process's turn to write, for a single statement that writes outside
    /// [`write_tx`](Self::write_tx). Held until dropped.
    pub(crate) async fn write_turn(&self) -> OwnedMutexGuard<()> {
        self.writers.clone().lock_owned().await
    }
}

/// A write transaction holding this process's writer turn (see [`SqliteStore::write_tx`]).
/// Derefs to the connection; commit with [`WriteTx::commit`], or drop to roll back.
pub(crate) struct WriteTx {
    tx: Transaction<'static, Sqlite>,
    _turn: OwnedMutexGuard<()>,
}

impl WriteTx {
    /// Commits, then gives the turn to the next writer.
    pub(crate) async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        &mut self.tx
    }
}

/// The current time at the precision both adapters store (microseconds).
pub(crate) fn now() -> DateTime<Utc> {
    crate::audit_chain::to_stored_precision(Utc::now())
}
