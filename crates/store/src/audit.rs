//! The provisioning audit trail (R-AUD): append-only, idempotent by event ID, and chained
//! per app (`hash = sha256(prev_hash || canonical(row))`, see [`crate::audit_chain`]) so
//! tampering is detectable.

use alter_core::{AppId, EventId, EventSource, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::audit_chain::HashVersion;
use crate::error::StoreResult;

/// The `prev_hash` of an app's first row.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// An event to record.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAuditEvent {
    /// Idempotency key (R-AUD-02): a second event with the same ID in the app is dropped.
    pub event_id: EventId,
    /// What happened, e.g. `user_provisioned`, `membership_removed`, `grant_revoked`.
    pub kind: String,
    pub source: EventSource,
    pub user_id: Option<UserId>,
    pub occurred_at: DateTime<Utc>,
    pub detail: serde_json::Value,
}

/// A recorded event.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEvent {
    pub app_id: AppId,
    /// 1, 2, 3… per app, in append order.
    pub seq: i64,
    pub event_id: EventId,
    pub kind: String,
    pub source: EventSource,
    pub user_id: Option<UserId>,
    /// Stored with microsecond precision (truncated).
    pub occurred_at: DateTime<Utc>,
    /// When the store appended the row; microsecond precision.
    pub recorded_at: DateTime<Utc>,
    pub detail: serde_json::Value,
    pub prev_hash: Vec<u8>,
    pub hash: Vec<u8>,
    /// The formula `hash` was computed with (R-AUD-04).
    pub hash_version: HashVersion,
}

/// What an append did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppendOutcome {
    /// Rows written.
    pub appended: u64,
    /// Events dropped because their ID was already recorded (or repeated in the batch).
    pub duplicates: u64,
    /// The app's last sequence number after the call (0 when the trail is empty).
    pub last_seq: i64,
}

/// Filters for reading the trail (R-AUD-03); `None` means "any".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub user_id: Option<UserId>,
    pub kind: Option<String>,
    /// Only rows from this source (jwt, webhook, directory sync, admin).
    pub source: Option<EventSource>,
    /// Inclusive lower bound on `occurred_at`.
    pub since: Option<DateTime<Utc>>,
    /// Exclusive upper bound on `occurred_at`.
    pub until: Option<DateTime<Utc>>,
    /// Only rows with `seq` greater than this (paging).
    pub after_seq: Option<i64>,
    /// At most this many rows; 0 means 100.
    pub limit: u32,
}

/// The result of checking an app's chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainVerification {
    /// Every row's hash matches its content and its predecessor; `rows` were checked.
    Intact { rows: u64 },
    /// The first row (by `seq`) that does not match, and why.
    Broken { seq: i64, reason: String },
}

/// Persistence of the audit trail.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends events in order, skipping IDs already recorded, in one transaction holding
    /// the app's chain lock, so concurrent writers never fork the chain. Rows are numbered,
    /// linked and hashed by [`crate::audit_chain::chain_rows`].
    async fn append_audit_events(
        &self,
        app: AppId,
        events: &[NewAuditEvent],
    ) -> StoreResult<AppendOutcome>;
    /// Rows matching the query, in `seq` order.
    async fn list_audit_events(
        &self,
        app: AppId,
        query: &AuditQuery,
    ) -> StoreResult<Vec<AuditEvent>>;
    /// Recomputes the app's whole chain and reports the first break, through
    /// [`crate::audit_chain::ChainVerifier`].
    async fn verify_audit_chain(&self, app: AppId) -> StoreResult<ChainVerification>;
    /// What the trail says these events did: the kinds of the rows recorded under each event
    /// ID, and of the grant revocations each caused, as (event, kind) pairs in `seq` order.
    async fn audit_kinds_for_events(
        &self,
        app: AppId,
        events: &[EventId],
    ) -> StoreResult<Vec<(EventId, String)>>;
}
