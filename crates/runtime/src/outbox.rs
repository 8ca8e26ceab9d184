//! The outbox relay: publishes what state changes wrote to the store's outbox (audit
//! records, cache invalidations, lifecycle events) at least once, then marks it sent. One runs
//! in every process that writes the outbox; replicas share the work through leases.
//!
//! A change wakes the relay of its own process at once (the store's outbox signal), so a
//! revocation's invalidation is on the bus within a millisecond or so of its commit; a poll
//! picks up what other processes (or a crashed one) left behind. While the bus is down the
//! messages wait in the outbox and the backlog gauge grows; when it is back they drain.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alter_bus::{AuditRecord, EventBus, Invalidation};
use alter_core::{AppId, LifecycleEvent};
use alter_store::{OutboxMessage, OutboxTopic, PendingMessage, Store, StoreError};
use chrono::Utc;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

/// How the relay runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelaySettings {
    /// Messages leased and published per round.
    pub batch: u32,
    /// How long a leased message is left to one relay before another may take it.
    pub lease: Duration,
    /// How often the outbox is checked when nothing in this process woke the relay.
    pub poll: Duration,
    /// How long to wait before retrying after the bus or the store failed.
    pub retry: Duration,
    /// How long sent messages are kept (for inspection) before they are purged.
    pub retention: Duration,
}

impl RelaySettings {
    /// The relay as `[outbox]` configures it.
    pub fn from_config(settings: &alter_config::OutboxSettings) -> Self {
        Self {
            batch: settings.batch_size,
            poll: Duration::from_millis(settings.poll_ms),
            ..Self::default()
        }
    }
}

impl Default for RelaySettings {
    fn default() -> Self {
        Self {
            batch: 256,
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
            retry: Duration::from_millis(500),
            retention: Duration::from_secs(3600),
        }
    }
}

/// The audit record as an outbox message; its ID is the record's event ID (the bus message
/// ID and the audit-writer's idempotency key).
pub fn audit_message(record: &AuditRecord) -> OutboxMessage {
    OutboxMessage {
        id: record.event_id.as_uuid(),
        app_id: record.app_id,
        topic: OutboxTopic::Audit,
        // Serialising these plain types cannot fail; an empty payload would be refused
        // (and logged) by the relay rather than lost silently.
        payload: alter_bus::audit::encode_audit(record)
            .map(|b| b.to_vec())
            .unwrap_or_default(),
    }
}

/// A cache invalidation as an outbox message.
pub fn invalidation_message(app_id: AppId, invalidation: Invalidation) -> OutboxMessage {
    OutboxMessage {
        id: uuid::Uuid::now_v7(),
        app_id,
        topic: OutboxTopic::Invalidation,
        payload: serde_json::to_vec(&invalidation).unwrap_or_default(),
    }
}

/// A lifecycle event as an outbox message; its ID is the event's ID.
pub fn lifecycle_message(event: &LifecycleEvent) -> OutboxMessage {
    OutboxMessage {
        id: event.event_id.as_uuid(),
        app_id: event.app_id,
        topic: OutboxTopic::Lifecycle,
        payload: alter_bus::codec::encode_lifecycle(event).to_vec(),
    }
}

/// Why a round did not publish everything.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("cannot read the outbox: {0}")]
    Store(#[from] StoreError),
    #[error(
        "{failed} of {total} outbox messages could not be published ({first}); they stay pending and are retried"
    )]
    Publish {
        failed: usize,
        total: usize,
        first: String,
    },
}

/// How far this process's relay has got, so a caller that just committed a change can wait
/// (briefly) until its side effects are on the bus before it answers: a revocation's
/// invalidation then reaches the verifiers before the admin hears "done", as when it was
/// published inline — but a bus outage only bounds the wait, it never fails the call.
#[derive(Clone, Debug, Default)]
pub struct RelayProgress {
    inner: Arc<ProgressInner>,
}

#[derive(Debug, Default)]
struct ProgressInner {
    running: std::sync::atomic::AtomicBool,
    /// The store's commit count seen at the start of the last finished round.
    covered: tokio::sync::watch::Sender<u64>,
}

impl RelayProgress {
    /// Waits until a relay round that began after `commits` commits with side effects (the
    /// store's [`OutboxSignal::commits`](alter_store::OutboxSignal::commits), read after the
    /// caller's own commit) has finished — so the caller's messages were leased and published,
    /// unless the bus failed or another replica's relay took them — for at most `limit`.
    /// Returns whether it got there; `true` at once when no relay runs in this process.
    pub async fn published(&self, commits: u64, limit: Duration) -> bool {
        if !self
            .inner
            .running
            .load(std::sync::atomic::Ordering::Acquire)
        {
            return true;
        }
        let mut covered = self.inner.covered.subscribe();
        tokio::time::timeout(limit, covered.wait_for(|seen| *seen >= commits))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    fn finished(&self, commits_at_start: u64) {
        self.inner.covered.send_if_modified(|seen| {
            let advanced = commits_at_start > *seen;
            if advanced {
                *seen = commits_at_start;
            }
            advanced
        });
    }
}

/// Publishes the outbox of one store to one bus.
pub struct OutboxRelay {
    store: Arc<dyn Store>,
    bus: Arc<dyn EventBus>,
    settings: RelaySettings,
    progress: RelayProgress,
}

impl std::fmt::Debug for OutboxRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl OutboxRelay {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn EventBus>, settings: RelaySettings) -> Self {
        Self {
            store,
            bus,
            settings,
            progress: RelayProgress::default(),
        }
    }

    /// Reports its rounds to `progress` (shared with the request handlers of the process).
    pub fn with_progress(mut self, progress: RelayProgress) -> Self {
        self.progress = progress;
        self
    }

    /// How far this relay has got.
    pub fn progress(&self) -> RelayProgress {
        self.progress.clone()
    }

    /// Runs the relay on a background task until `shutdown`; before it stops it makes one
    /// last round so a change made just before shutdown is not left for the next start.
    pub fn spawn(self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        self.progress
            .inner
            .running
            .store(true, std::sync::atomic::Ordering::Release);
        tokio::spawn(self.run(shutdown))
    }

    /// The process's relay as `[outbox]` configures it, reporting to `progress`: spawned
    /// unless `outbox.relay` is off.
    pub fn spawn_configured(
        store: Arc<dyn Store>,
        bus: Arc<dyn EventBus>,
        settings: &alter_config::OutboxSettings,
        progress: RelayProgress,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        if !settings.relay {
            tracing::info!(
                "outbox relay off (outbox.relay = false): another process publishes this database's outbox"
            );
            return tokio::spawn(async {});
        }
        Self::new(store, bus, RelaySettings::from_config(settings))
            .with_progress(progress)
            .spawn(shutdown)
    }

    async fn run(self, shutdown: CancellationToken) {
        let signal = self.store.outbox_signal();
        let mut last_purge = Instant::now();
        loop {
            let commits = signal.commits();
            let outcome = self.publish_pending().await;
            self.progress.finished(commits);
            let wait = match &outcome {
                // A full batch: more may be waiting.
                Ok(n) if *n >= self.settings.batch as usize => Duration::ZERO,
                Ok(_) => self.settings.poll,
                Err(error) => {
                    tracing::warn!(%error, "outbox relay round failed");
                    self.settings.retry
                }
            };
            if outcome.as_ref().map_or(true, |n| *n == 0) {
                self.report_backlog().await;
            }
            if last_purge.elapsed() >= self.settings.retention.min(Duration::from_secs(600)) {
                self.purge().await;
                last_purge = Instant::now();
            }
            if wait.is_zero() {
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => {
                    let commits = signal.commits();
                    if let Err(error) = self.publish_pending().await {
                        tracing::warn!(%error, "outbox relay: the last round before shutdown failed; the rest is published at the next start");
                    }
                    self.progress.finished(commits);
                    self.progress.inner.running.store(false, std::sync::atomic::Ordering::Release);
                    return;
                }
                () = signal.notified() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One round: leases a batch, publishes it (many at once), marks what was published as
    /// sent and gives the rest back. Returns how many were published.
    pub async fn publish_pending(&self) -> Result<usize, RelayError> {
        let pending = self
            .store
            .lease_outbox(self.settings.batch, self.settings.lease)
            .await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let total = pending.len();
        let results: Vec<(i64, Result<(), String>)> = futures::stream::iter(pending)
            .map(|message| async move {
                let seq = message.seq;
                (seq, self.publish(&message).await)
            })
            .buffer_unordered(64)
            .collect()
            .await;
        let mut sent = Vec::with_capacity(total);
        let mut failed = Vec::new();
        let mut first = None;
        for (seq, result) in results {
            match result {
                Ok(()) => sent.push(seq),
                Err(error) => {
                    failed.push(seq);
                    first.get_or_insert(error);
                }
            }
        }
        self.store.mark_outbox_sent(&sent).await?;
        metrics::counter!("alter_outbox_published_total").increment(sent.len() as u64);
        if let Some(first) = first {
            metrics::counter!("alter_outbox_publish_failures_total").increment(failed.len() as u64);
            self.store.release_outbox(&failed).await?;
            return Err(RelayError::Publish {
                failed: failed.len(),
                total,
                first,
            });
        }
        Ok(sent.len())
    }

    async fn publish(&self, pending: &PendingMessage) -> Result<(), String> {
        use tracing::Instrument as _;
        // Published in the trace of the change that wrote it (its stored context).
        let span = tracing::info_span!(
            "outbox.publish",
            topic = pending.message.topic.as_str(),
            seq = pending.seq
        );
        if let Some(text) = &pending.trace_context {
            alter_telemetry::trace::set_parent(
                &span,
                alter_telemetry::trace::context_from_traceparent(text),
            );
        }
        self.publish_in_span(pending).instrument(span).await
    }

    async fn publish_in_span(&self, pending: &PendingMessage) -> Result<(), String> {
        let message = &pending.message;
        let result = match message.topic {
            OutboxTopic::Audit => {
                let record = alter_bus::audit::decode_audit(&message.payload)
                    .map_err(|e| format!("outbox message {} is unreadable: {e}", pending.seq))?;
                self.bus.publish_audit(&record).await.map(|_| ())
            }
            OutboxTopic::Invalidation => {
                let invalidation: Invalidation = serde_json::from_slice(&message.payload)
                    .map_err(|e| format!("outbox message {} is unreadable: {e}", pending.seq))?;
                self.bus
                    .publish_invalidation(message.app_id, invalidation)
                    .await
            }
            OutboxTopic::Lifecycle => {
                let event = alter_bus::codec::decode_lifecycle(&message.payload)
                    .map_err(|e| format!("outbox message {} is unreadable: {e}", pending.seq))?;
                self.bus.publish_lifecycle(&event).await.map(|_| ())
            }
        };
        result.map_err(|e| e.to_string())
    }

    /// Sets `alter_outbox_backlog` and `alter_outbox_oldest_pending_seconds`.
    async fn report_backlog(&self) {
        match self.store.outbox_backlog().await {
            Ok(backlog) => {
                metrics::gauge!("alter_outbox_backlog").set(backlog.pending as f64);
                let age = backlog
                    .oldest
                    .map_or(0.0, |t| (Utc::now() - t).as_seconds_f64().max(0.0));
                metrics::gauge!("alter_outbox_oldest_pending_seconds").set(age);
            }
            Err(error) => tracing::warn!(%error, "cannot read the outbox backlog"),
        }
    }

    async fn purge(&self) {
        let Ok(retention) = chrono::Duration::from_std(self.settings.retention) else {
            return;
        };
        match self.store.purge_outbox(Utc::now() - retention).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(purged = n, "purged sent outbox messages"),
            Err(error) => tracing::warn!(%error, "cannot purge sent outbox messages"),
        }
    }
}
