//! The provisioning audit trail (R-AUD): append-only, idempotent by event ID, and chained
//! per app (`hash = sha256(prev_hash || canonical(row))`, see [`crate::audit_chain`]) so
//! tampering is detectable.

use std::collections::HashSet;

use alter_core::{AppId, EventId, EventSource, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit_chain::HashVersion;
use crate::common::{StoredRow, parse_source};
use crate::error::{StoreError, StoreResult};

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

/// The columns [`audit_from_row`] reads, in table order.
#[macro_export]
#[doc(hidden)]
macro_rules! audit_columns {
    () => {
        "app_id, seq, event_id, kind, source, user_id, occurred_at, recorded_at, detail, prev_hash, hash, hash_version"
    };
}

/// A trail row as either adapter stores it ([`audit_columns!`](crate::audit_columns)).
pub(crate) fn audit_from_row(row: &impl StoredRow) -> StoreResult<AuditEvent> {
    let source: String = row.get("source")?;
    let user_id: Option<Uuid> = row.get("user_id")?;
    let version: i16 = row.get("hash_version")?;
    Ok(AuditEvent {
        app_id: AppId::from_uuid(row.get("app_id")?),
        seq: row.get("seq")?,
        event_id: EventId::from_uuid(row.get("event_id")?),
        kind: row.get("kind")?,
        source: parse_source("audit_events.source", &source)?,
        user_id: user_id.map(UserId::from_uuid),
        occurred_at: row.get("occurred_at")?,
        recorded_at: row.get("recorded_at")?,
        detail: row.get("detail")?,
        prev_hash: row.get("prev_hash")?,
        hash: row.get("hash")?,
        hash_version: HashVersion::from_number(version).ok_or_else(|| {
            StoreError::corrupt(
                "audit_events.hash_version",
                format!("{version} is not a hash version this release knows (1 or 2)"),
            )
        })?,
    })
}

/// The events of a batch that an append records, in order: the first occurrence of each
/// event ID (R-AUD-02), unless the app's trail already has it (`recorded`).
pub(crate) fn events_to_append<'a>(
    events: &'a [NewAuditEvent],
    recorded: &HashSet<EventId>,
) -> Vec<&'a NewAuditEvent> {
    let mut seen = HashSet::with_capacity(events.len());
    events
        .iter()
        .filter(|e| !recorded.contains(&e.event_id) && seen.insert(e.event_id))
        .collect()
}
