//! The transactional outbox: whatever a state change must tell other services (audit
//! records, cache invalidations, lifecycle events) is written in the same transaction as the
//! change, so a crash or a bus outage between the commit and the publish loses nothing. A
//! relay in each process (`alter_runtime::outbox`) publishes the pending messages at least
//! once and marks them sent; consumers are idempotent by message ID.
//!
//! Every mutating store call that has side effects takes an [`Effects`] closure: given what
//! the change did, it returns the messages to write with it. The closure runs inside the
//! transaction, after the change and before the commit, so the messages can name what the
//! change created (a grant's ID, a just-provisioned user) and are written only when the change
//! is. Any adapter runs it the same way.

use std::sync::Arc;
use std::time::Duration;

use alter_core::{AppId, FieldError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::StoreResult;

/// Where a message is published.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutboxTopic {
    /// An audit record for `ALTER_AUDIT` (JSON, `alter_bus::AuditRecord`).
    Audit,
    /// A cache invalidation on `alter.invalidate.<app>` (JSON, `alter_bus::Invalidation`).
    Invalidation,
    /// A lifecycle event for `ALTER_LIFECYCLE` (protobuf `alter.events.v1.LifecycleEvent`).
    Lifecycle,
}

impl OutboxTopic {
    pub const ALL: [OutboxTopic; 3] = [
        OutboxTopic::Audit,
        OutboxTopic::Invalidation,
        OutboxTopic::Lifecycle,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            OutboxTopic::Audit => "audit",
            OutboxTopic::Invalidation => "invalidation",
            OutboxTopic::Lifecycle => "lifecycle",
        }
    }

    pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == input)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!("must be audit, invalidation or lifecycle; got {input:?}"),
                )
            })
    }
}

/// One message to publish after the change that wrote it commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The message's own ID: the bus message ID (JetStream dedupe) and the consumers'
    /// idempotency key. Not unique in the outbox: the same event may be written twice.
    pub id: Uuid,
    pub app_id: AppId,
    pub topic: OutboxTopic,
    /// The encoded message, exactly as it is to be published.
    pub payload: Vec<u8>,
}

/// A message waiting in the outbox, leased to one relay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingMessage {
    /// Position in the outbox (publication order).
    pub seq: i64,
    pub message: OutboxMessage,
    pub created_at: DateTime<Utc>,
    /// How many times a relay has taken it (1 on the first try).
    pub attempts: i32,
    /// The trace context of the transaction that wrote it (W3C `traceparent`, with
    /// `;tracestate`), if that transaction ran in a trace.
    pub trace_context: Option<String>,
}

/// How much is waiting: the backlog metric and its alert.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    pub pending: i64,
    /// When the oldest pending message was written.
    pub oldest: Option<DateTime<Utc>>,
}

/// The side effects of a change, computed from its result inside the change's transaction.
pub type Effects<'a, T> = &'a (dyn Fn(&T) -> Vec<OutboxMessage> + Send + Sync);

/// No side effects: `&no_effects` where an [`Effects`] is asked for.
pub fn no_effects<T: ?Sized>(_: &T) -> Vec<OutboxMessage> {
    Vec::new()
}

/// A client's request ID for a create call, so that a retried call (after a timeout, say)
/// returns the first call's result instead of creating a second thing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestKey {
    /// The client's ID, unique per app and operation; 1..=128 printable ASCII characters.
    pub request_id: String,
    /// A digest of the request's parameters: the same ID with other parameters is refused.
    pub fingerprint: String,
}

impl RequestKey {
    /// Whether this key may answer with what its first use created: only when it comes with
    /// the same parameters (`stored_fingerprint`); else `Conflict`, saying what to do.
    pub(crate) fn check_reuse(&self, stored_fingerprint: &str, operation: &str) -> StoreResult<()> {
        if stored_fingerprint != self.fingerprint {
            return Err(crate::error::StoreError::conflict(format!(
                "request_id {:?} was already used for a different {operation} request; \
                 use a new request_id for a new request, and the same one only to retry the same request",
                self.request_id
            )));
        }
        Ok(())
    }

    /// Parses the client's `request_id`; `None` when it is empty (no idempotency asked).
    pub fn parse(
        field: &str,
        request_id: &str,
        fingerprint: impl Into<String>,
    ) -> Result<Option<Self>, FieldError> {
        let request_id = request_id.trim();
        if request_id.is_empty() {
            return Ok(None);
        }
        if request_id.len() > 128 || !request_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(FieldError::new(
                field,
                "must be 1 to 128 printable ASCII characters without spaces (a UUID is a good choice); \
                 send the same value when you retry the same call",
            ));
        }
        Ok(Some(Self {
            request_id: request_id.to_owned(),
            fingerprint: fingerprint.into(),
        }))
    }
}

/// How a store tells the relay of its process that a change with side effects committed: a
/// wake-up, and a count of such commits so a caller can wait for a relay round that began
/// after its own commit (and so saw its messages).
#[derive(Debug, Default)]
pub struct OutboxSignal {
    notify: tokio::sync::Notify,
    commits: std::sync::atomic::AtomicU64,
}

impl OutboxSignal {
    /// Called by the adapter after a commit that wrote messages.
    pub fn committed(&self) {
        self.commits
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.notify.notify_one();
    }

    /// How many commits with messages this process has made so far.
    pub fn commits(&self) -> u64 {
        self.commits.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits for the next commit with messages (returns at once if one happened since the
    /// last wait).
    pub async fn notified(&self) {
        self.notify.notified().await;
    }
}

/// Persistence of the outbox, for the relay.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` pending messages, oldest first, for `lease`; another relay takes
    /// them only once the lease has run out (a relay that died mid-publish). Concurrent relays
    /// never get the same message while its lease holds.
    async fn lease_outbox(&self, limit: u32, lease: Duration) -> StoreResult<Vec<PendingMessage>>;
    /// Marks messages published; they are no longer leased or counted as backlog.
    async fn mark_outbox_sent(&self, seqs: &[i64]) -> StoreResult<()>;
    /// Gives leased messages back (the publish failed) so the next attempt takes them at once.
    async fn release_outbox(&self, seqs: &[i64]) -> StoreResult<()>;
    /// How many messages wait, and since when.
    async fn outbox_backlog(&self) -> StoreResult<OutboxBacklog>;
    /// Deletes sent messages older than `sent_before`; returns how many.
    async fn purge_outbox(&self, sent_before: DateTime<Utc>) -> StoreResult<u64>;
    /// What a request key was used for: the resource the first call created, or `None` when
    /// the key is unused. `Conflict` when it was used with other parameters.
    async fn find_request_key(
        &self,
        app: Option<AppId>,
        operation: &str,
        key: &RequestKey,
    ) -> StoreResult<Option<Uuid>>;
    /// Rung whenever a change with side effects commits in this process, so the relay
    /// publishes at once instead of at its next poll.
    fn outbox_signal(&self) -> Arc<OutboxSignal>;
}
