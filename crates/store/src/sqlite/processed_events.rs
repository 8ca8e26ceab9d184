//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::processed_events::*;
use alter_core::{AppId, EventId};
use async_trait::async_trait;

#[async_trait]
impl ProcessedEvents for SqliteStore {
    async fn mark_processed(
        &self,
        app: AppId,
        consumer: &str,
        event: EventId,
    ) -> StoreResult<bool> {
        Err(StoreError::conflict(
            "ProcessedEvents::mark_processed is not implemented on SQLite yet",
        ))
    }
    async fn is_processed(&self, app: AppId, consumer: &str, event: EventId) -> StoreResult<bool> {
        Err(StoreError::conflict(
            "ProcessedEvents::is_processed is not implemented on SQLite yet",
        ))
    }
}
