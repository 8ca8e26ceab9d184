//! Lifecycle events over SQLite: one `BEGIN IMMEDIATE` transaction per event, which records
//! it as processed first, applies it with [`crate::lifecycle::apply`] over this adapter's
//! statements and writes the change's effects before the commit. Where PostgreSQL locks the
//! event's user or group row, the transaction here holds SQLite's write lock from its first
//! read: a concurrent delivery of the same event waits at `BEGIN`, then finds it recorded.

use alter_core::LifecycleEvent;
use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::SqliteStore;
use crate::error::StoreResult;
use crate::lifecycle::apply::{lifecycle_tx_by_statements, messages_for, record_and_apply};
use crate::lifecycle::{Applied, LifecycleChange, LifecycleStore};
use crate::outbox::Effects;

lifecycle_tx_by_statements!(SqliteConnection);

#[async_trait]
impl LifecycleStore for SqliteStore {
    async fn apply_lifecycle(
        &self,
        event: &LifecycleEvent,
        consumer: &str,
        effects: Effects<'_, LifecycleChange>,
    ) -> StoreResult<Applied> {
        let mut tx = self.write_tx().await?;
        let applied = record_and_apply(&mut *tx, event, consumer).await?;
        // Recorded as processed (or found so); effects only when the event changed something.
        self.commit_with(tx, messages_for(&applied, effects))
            .await?;
        Ok(applied)
    }
}
