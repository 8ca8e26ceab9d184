//! Processed event IDs, so at-least-once consumers (grant-revoker, audit-writer) apply each
//! event once.

use alter_core::{AppId, EventId};
use async_trait::async_trait;

use crate::error::StoreResult;

/// Persistence of processed event IDs per consumer.
#[async_trait]
pub trait ProcessedEvents: Send + Sync {
    /// Records that `consumer` processed the event. Returns `false` when it already had.
    async fn mark_processed(&self, app: AppId, consumer: &str, event: EventId)
    -> StoreResult<bool>;
    /// Whether `consumer` already processed the event.
    async fn is_processed(&self, app: AppId, consumer: &str, event: EventId) -> StoreResult<bool>;
}
