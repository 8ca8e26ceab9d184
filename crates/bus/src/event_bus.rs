//! The bus as services see it: publish and consume, independent of the transport, so the
//! all-in-one binary can swap JetStream for an in-process adapter without touching callers.

use alter_core::{AppId, LifecycleEvent};
use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::audit::AuditRecord;
use crate::delivery::Deliveries;
use crate::error::BusError;
use crate::invalidation::{Invalidation, InvalidationNotice};

/// What the stream said about a publish it accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishReceipt {
    /// The stream that stored the event.
    pub stream: String,
    /// Its sequence in the stream (for a duplicate: the sequence of the original).
    pub sequence: u64,
    /// The event ID was already stored within the duplicate window: this publish was dropped.
    pub duplicate: bool,
}

/// Invalidations for every app, as they arrive. `Err` items do not end the stream: a
/// malformed message (`Decode`), a gap (`MessagesMayBeLost`: drop every cache), or the
/// connection going down (`Disconnected`: trust no cache until a `MessagesMayBeLost` says it
/// is back).
pub type Invalidations = BoxStream<'static, Result<InvalidationNotice, BusError>>;

/// Publishing and consuming lifecycle events, audit records and cache invalidations.
#[async_trait]
pub trait EventBus: Send + Sync {
    /// Publishes one lifecycle event and returns once the stream has durably accepted it.
    async fn publish_lifecycle(&self, event: &LifecycleEvent) -> Result<PublishReceipt, BusError>;

    /// Publishes many events with many acks in flight; receipts are in input order. On error
    /// some events may already be stored: retry the whole batch (duplicates are dropped).
    async fn publish_lifecycle_batch(
        &self,
        events: &[LifecycleEvent],
    ) -> Result<Vec<PublishReceipt>, BusError>;

    /// Publishes one audit record and returns once the stream has durably accepted it.
    async fn publish_audit(&self, record: &AuditRecord) -> Result<PublishReceipt, BusError>;

    /// Tells every verifier replica to drop cached state; returns once sent (not stored).
    async fn publish_invalidation(
        &self,
        app_id: AppId,
        invalidation: Invalidation,
    ) -> Result<(), BusError>;

    /// The lifecycle events for the durable consumer `durable_name` (e.g. `grant-revoker`),
    /// created if missing. Replicas using the same name share the work.
    async fn lifecycle_consumer(
        &self,
        durable_name: &str,
    ) -> Result<Deliveries<LifecycleEvent>, BusError>;

    /// The audit records for the durable consumer `durable_name` (e.g. `audit-writer`).
    async fn audit_consumer(&self, durable_name: &str)
    -> Result<Deliveries<AuditRecord>, BusError>;

    /// Every app's invalidations from now on; the subscription is active when this returns.
    async fn subscribe_invalidations(&self) -> Result<Invalidations, BusError>;
}
