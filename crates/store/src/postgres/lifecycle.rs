//! Lifecycle events over PostgreSQL: one transaction per event that records it as processed
//! first (a concurrent redelivery waits on that row and then finds it), then applies it with
//! [`crate::lifecycle::apply`] over this adapter's statements (each user or group it is about
//! locked `FOR NO KEY UPDATE`), and writes the change's effects before the commit.

use alter_core::LifecycleEvent;
use async_trait::async_trait;
use sqlx::PgConnection;

use super::PgStore;
use crate::error::StoreResult;
use crate::lifecycle::apply::{lifecycle_tx_by_statements, messages_for, record_and_apply};
use crate::lifecycle::{Applied, LifecycleChange, LifecycleStore};
use crate::outbox::Effects;

lifecycle_tx_by_statements!(PgConnection);

#[async_trait]
impl LifecycleStore for PgStore {
    async fn apply_lifecycle(
        &self,
        event: &LifecycleEvent,
        consumer: &str,
        effects: Effects<'_, LifecycleChange>,
    ) -> StoreResult<Applied> {
        let mut tx = self.pool.begin().await?;
        let applied = record_and_apply(&mut *tx, event, consumer).await?;
        // Recorded as processed (or found so); effects only when the event changed something.
        self.commit_with(tx, messages_for(&applied, effects))
            .await?;
        Ok(applied)
    }
}
