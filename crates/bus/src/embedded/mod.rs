//! The embedded adapter: the [`EventBus`] of `alter dev`, every service in one process with no
//! NATS installed. Lifecycle events and audit records are stored in one SQLite file, so they
//! survive a restart as they would in JetStream; invalidations fan out in process.
//!
//! It mirrors the JetStream adapter ([`Bus`](crate::Bus)) where services can tell:
//! - a publish returns once the message is committed; a second publish of the same event ID
//!   within `duplicate_window` is dropped and reports the original's sequence;
//! - durable consumers by name, created at the first message stored (`DeliverPolicy::All`);
//!   streams with the same name share the work; positions live in the file;
//! - at-least-once with explicit acks: an unacked delivery comes again after `ack_wait`,
//!   `nak` schedules it, `in_progress` restarts the timer, `term` ends it, and after
//!   `max_deliver` deliveries it is given up; a malformed message is terminated and surfaces
//!   as a [`BusError::Decode`] item;
//! - the same subjects and envelope headers (message ID, app, source, kind, trace context).
//!
//! Where it differs, deliberately:
//! - opening the file makes every delivery that was in flight due at once: its consumer was
//!   in the process that had the file before (so open the file once per process and clone
//!   the bus);
//! - messages every consumer of the stream has settled are deleted once older than the
//!   duplicate window (JetStream keeps them until `max_age`), so a consumer created later
//!   starts at the first message still stored, which may be later than on JetStream;
//! - invalidations are never lost to a disconnect (there is none); a subscriber that falls
//!   more than `invalidation_buffer` behind gets [`BusError::MessagesMayBeLost`].

mod store;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use alter_core::{AppId, FieldError, LifecycleEvent};
use async_trait::async_trait;
use futures::StreamExt;
use tokio::sync::{broadcast, watch};

use crate::audit::{AuditRecord, decode_audit};
use crate::codec::decode_lifecycle;
use crate::delivery::{AckHandle, Deliveries, Delivery};
use crate::envelope::Headers;
use crate::error::BusError;
use crate::event_bus::{EventBus, Invalidations, PublishReceipt};
use crate::invalidation::{Invalidation, InvalidationNotice};
use crate::names::{BusNames, StreamKind, validate_durable_name};
use crate::outgoing::Outgoing;
use store::{Fetch, Fetched, Redelivery, Store, millis, now_ms};

/// The largest invalidation buffer (each subscriber's backlog is allocated up front).
const MAX_INVALIDATION_BUFFER: usize = 1 << 20;

/// How long a consumer waits before retrying after the store failed.
const RETRY_AFTER_ERROR: Duration = Duration::from_millis(500);

/// Retention, deduplication and redelivery of the embedded bus; the same meaning and
/// defaults as the stream and consumer settings of [`BusConfig`](crate::BusConfig).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbeddedBusConfig {
    /// Window in which a second publish with the same event ID is dropped.
    pub duplicate_window: Duration,
    /// How long the streams keep messages.
    pub max_age: Duration,
    /// How long a consumer waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Deliveries of one message before the consumer gives up on it; below 1, no limit.
    pub max_deliver: i64,
    /// Invalidations a subscriber may fall behind by before it is told some were lost.
    pub invalidation_buffer: usize,
    /// How often stored messages are purged (see [`EmbeddedBus::purge`]).
    pub purge_interval: Duration,
    /// How often a waiting consumer looks for work it was not woken for: messages published
    /// by another process on the same file. Publishes and naks in this process, and this
    /// process's ack-wait timers, wake consumers at once whatever the interval.
    pub poll_interval: Duration,
}

impl Default for EmbeddedBusConfig {
    /// [`BusConfig`](crate::BusConfig)'s defaults (2 min duplicate window, 7 days retention,
    /// 30 s ack wait, 20 deliveries); a 4,096-invalidation buffer, a purge every minute and a
    /// 250 ms poll.
    fn default() -> Self {
        Self {
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            ack_wait: Duration::from_secs(30),
            max_deliver: 20,
            invalidation_buffer: 4096,
            purge_interval: Duration::from_secs(60),
            poll_interval: Duration::from_millis(250),
        }
    }
}

impl EmbeddedBusConfig {
    /// Checks the settings; the error names `embedded_bus.<field>`.
    pub fn validate(&self) -> Result<(), BusError> {
        let positive = [
            ("max_age", self.max_age),
            ("ack_wait", self.ack_wait),
            ("purge_interval", self.purge_interval),
            ("poll_interval", self.poll_interval),
        ];
        for (field, value) in positive {
            if value < Duration::from_millis(1) {
                return Err(invalid(
                    field,
                    format!("must be at least 1 ms; got {value:?}"),
                ));
            }
        }
        if self.duplicate_window > self.max_age {
            return Err(invalid(
                "duplicate_window",
                format!(
                    "must not be longer than max_age ({:?}); got {:?}",
                    self.max_age, self.duplicate_window
                ),
            ));
        }
        if !(1..=MAX_INVALIDATION_BUFFER).contains(&self.invalidation_buffer) {
            return Err(invalid(
                "invalidation_buffer",
                format!(
                    "must be 1 to {MAX_INVALIDATION_BUFFER}; got {}",
                    self.invalidation_buffer
                ),
            ));
        }
        Ok(())
    }
}

fn invalid(field: &str, message: String) -> BusError {
    BusError::Config(FieldError::new(format!("embedded_bus.{field}"), message))
}

/// What a stream holds ([`EmbeddedBus::stream_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamState {
    /// Messages stored now.
    pub messages: u64,
    /// The lowest stored sequence; 0 when the stream is empty.
    pub first_sequence: u64,
    /// The last sequence ever assigned (sequences are not reused after a purge).
    pub last_sequence: u64,
}

/// Where a durable consumer is ([`EmbeddedBus::consumer_state`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumerState {
    /// The highest stream sequence handed out to it (0: none yet).
    pub delivered_sequence: u64,
    /// Delivered but not settled: in flight or waiting for redelivery.
    pub ack_pending: u64,
    /// Stored messages not yet delivered to it.
    pub undelivered: u64,
}

/// The embedded bus. Cheap to clone; clones share the file, the wake-ups and the
/// invalidation fan-out. Open the file once per process.
#[derive(Clone, Debug)]
pub struct EmbeddedBus {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Store,
    names: BusNames,
    config: EmbeddedBusConfig,
    /// Bumped after every commit that may give a waiting consumer work, per stream
    /// ([`slot`]): a publish or a nak.
    arrivals: [watch::Sender<u64>; 2],
    invalidations: broadcast::Sender<InvalidationNotice>,
}

fn slot(kind: StreamKind) -> usize {
    match kind {
        StreamKind::Lifecycle => 0,
        StreamKind::Audit => 1,
    }
}

impl Shared {
    fn wake(&self, kind: StreamKind) {
        self.arrivals[slot(kind)].send_modify(|n| *n = n.wrapping_add(1));
    }

    fn redelivery(&self) -> Redelivery {
        Redelivery {
            ack_wait: self.config.ack_wait,
            max_deliver: self.config.max_deliver,
        }
    }
}

impl EmbeddedBus {
    /// Validates the config, opens (creating if missing) the SQLite file at `path`, applies
    /// its migrations, makes the deliveries a previous process left in flight due, and starts
    /// the periodic purge (which stops when the last clone is dropped or the bus is closed).
    pub async fn open(path: &Path, config: EmbeddedBusConfig) -> Result<Self, BusError> {
        config.validate()?;
        let names = BusNames::new("")?;
        let store = Store::open(path).await?;
        let released = store.release_in_flight(now_ms()).await?;
        if released > 0 {
            tracing::info!(
                path = store.path(),
                released,
                "redelivering what the previous process had in flight"
            );
        }
        let shared = Arc::new(Shared {
            store,
            names,
            arrivals: [watch::Sender::new(0), watch::Sender::new(0)],
            invalidations: broadcast::Sender::new(config.invalidation_buffer),
            config,
        });
        tokio::spawn(purge_periodically(Arc::downgrade(&shared)));
        Ok(Self { shared })
    }

    /// The names in use: the production subjects and stream names (no prefix; the file
    /// isolates).
    pub fn names(&self) -> &BusNames {
        &self.shared.names
    }

    /// The config the bus was opened with.
    pub fn config(&self) -> &EmbeddedBusConfig {
        &self.shared.config
    }

    /// The file's path as given to [`open`](Self::open).
    pub fn path(&self) -> &str {
        self.shared.store.path()
    }

    /// Closes the file for every clone: consumer streams end, publishes and acks fail. What
    /// is in flight is redelivered when the file is opened again.
    pub async fn close(&self) {
        self.shared.store.close().await;
        for kind in StreamKind::ALL {
            self.shared.wake(kind);
        }
    }

    /// Deletes the messages older than `max_age`, and those every consumer of their stream
    /// has settled once they are older than the duplicate window; returns how many. Runs
    /// every `purge_interval` on its own; call it to purge now.
    pub async fn purge(&self) -> Result<u64, BusError> {
        let config = &self.shared.config;
        self.shared
            .store
            .purge(now_ms(), config.max_age, config.duplicate_window)
            .await
    }

    /// What a stream holds now.
    pub async fn stream_state(&self, kind: StreamKind) -> Result<StreamState, BusError> {
        let counts = self.shared.store.stream_counts(kind).await?;
        Ok(StreamState {
            messages: counts.messages.unsigned_abs(),
            first_sequence: counts.first_sequence.unwrap_or(0).unsigned_abs(),
            last_sequence: counts.last_sequence.unsigned_abs(),
        })
    }

    /// Where durable consumer `durable_name` is, or `None` if it was never created.
    pub async fn consumer_state(
        &self,
        kind: StreamKind,
        durable_name: &str,
    ) -> Result<Option<ConsumerState>, BusError> {
        let counts = self
            .shared
            .store
            .consumer_counts(kind, durable_name)
            .await?;
        Ok(counts.map(|counts| ConsumerState {
            delivered_sequence: counts.next_sequence.saturating_sub(1).unsigned_abs(),
            ack_pending: counts.ack_pending.unsigned_abs(),
            undelivered: counts.undelivered.unsigned_abs(),
        }))
    }

    /// Stores one message as given, e.g. a malformed payload without headers (tests).
    #[cfg(feature = "testing")]
    pub(crate) async fn publish_raw(
        &self,
        kind: StreamKind,
        subject: &str,
        payload: &[u8],
    ) -> Result<PublishReceipt, BusError> {
        let message = Outgoing {
            subject: subject.to_owned(),
            headers: Headers::default(),
            payload: bytes::Bytes::copy_from_slice(payload),
        };
        self.publish_one(kind, message).await
    }

    async fn publish(
        &self,
        kind: StreamKind,
        messages: Vec<Outgoing>,
    ) -> Result<Vec<PublishReceipt>, BusError> {
        let appended = self
            .shared
            .store
            .append(
                kind,
                messages,
                now_ms(),
                self.shared.config.duplicate_window,
            )
            .await?;
        if appended.iter().any(|&(_, duplicate)| !duplicate) {
            self.shared.wake(kind);
        }
        let stream = self.shared.names.stream(kind);
        Ok(appended
            .into_iter()
            .map(|(sequence, duplicate)| PublishReceipt {
                stream: stream.clone(),
                sequence,
                duplicate,
            })
            .collect())
    }

    async fn publish_one(
        &self,
        kind: StreamKind,
        message: Outgoing,
    ) -> Result<PublishReceipt, BusError> {
        let subject = message.subject.clone();
        self.publish(kind, vec![message])
            .await?
            .pop()
            .ok_or_else(|| BusError::Publish {
                subject,
                source: "the store returned no receipt".into(),
            })
    }

    async fn deliveries<T: Send + 'static>(
        &self,
        kind: StreamKind,
        durable_name: &str,
        decode: fn(&[u8]) -> Result<T, FieldError>,
    ) -> Result<Deliveries<T>, BusError> {
        validate_durable_name(durable_name)?;
        self.shared
            .store
            .ensure_consumer(kind, durable_name, now_ms())
            .await?;
        let cursor = Cursor {
            arrivals: self.shared.arrivals[slot(kind)].subscribe(),
            shared: self.shared.clone(),
            kind,
            consumer: durable_name.to_owned(),
            decode,
            failed: false,
        };
        Ok(futures::stream::unfold(cursor, |mut cursor| async move {
            let item = cursor.next().await?;
            Some((item, cursor))
        })
        .boxed())
    }
}

/// Runs [`EmbeddedBus::purge`] every `purge_interval` (the first at once) while the bus is
/// alive and open.
async fn purge_periodically(bus: std::sync::Weak<Shared>) {
    let Some(interval) = bus.upgrade().map(|s| s.config.purge_interval) else {
        return;
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(shared) = bus.upgrade() else {
            return;
        };
        if shared.store.is_closed() {
            return;
        }
        let config = &shared.config;
        match shared
            .store
            .purge(now_ms(), config.max_age, config.duplicate_window)
            .await
        {
            Ok(0) => {}
            Ok(deleted) => tracing::debug!(deleted, "purged old and fully acked messages"),
            Err(error) => tracing::warn!(%error, "purging the embedded bus failed; retrying later"),
        }
    }
}

/// One consumer stream's state between items.
struct Cursor<T> {
    shared: Arc<Shared>,
    kind: StreamKind,
    consumer: String,
    decode: fn(&[u8]) -> Result<T, FieldError>,
    arrivals: watch::Receiver<u64>,
    /// The last fetch failed: wait before the next.
    failed: bool,
}

impl<T> Cursor<T> {
    /// The next delivery, waiting until there is one; `None` once the bus is closed.
    async fn next(&mut self) -> Option<Result<Delivery<T>, BusError>> {
        loop {
            if std::mem::take(&mut self.failed) {
                tokio::time::sleep(RETRY_AFTER_ERROR).await;
            }
            if self.shared.store.is_closed() {
                return None;
            }
            // Seen before looking, so a publish committed after the look wakes the wait.
            self.arrivals.borrow_and_update();
            let fetched = self.fetch().await;
            match fetched {
                Ok(Fetch::Message(message)) => return Some(self.deliver(message).await),
                Ok(Fetch::Idle { next_due }) => self.wait(next_due).await,
                Err(_) if self.shared.store.is_closed() => return None,
                Err(error) => {
                    self.failed = true;
                    return Some(Err(error));
                }
            }
        }
    }

    /// Fetches in a task of its own (see [`store`]); a message fetched for a stream that was
    /// dropped meanwhile is made due again at once rather than after its ack wait.
    async fn fetch(&self) -> Result<Fetch, BusError> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let shared = self.shared.clone();
        let (kind, consumer) = (self.kind, self.consumer.clone());
        tokio::spawn(async move {
            let fetched = shared
                .store
                .fetch(kind, &consumer, now_ms(), shared.redelivery())
                .await;
            if let Err(Ok(Fetch::Message(orphan))) = sender.send(fetched) {
                let released = shared
                    .store
                    .nak(
                        kind,
                        &consumer,
                        orphan.sequence,
                        orphan.delivery_count,
                        now_ms(),
                    )
                    .await;
                match released {
                    Ok(_) => shared.wake(kind),
                    Err(error) => tracing::warn!(
                        %error,
                        sequence = orphan.sequence,
                        "could not hand back a message fetched for a dropped consumer; it is redelivered after the ack wait"
                    ),
                }
            }
        });
        receiver.await.unwrap_or_else(|_| {
            Err(BusError::EmbeddedStore {
                path: self.shared.store.path().to_owned(),
                what: format!("fetching for consumer {}", self.consumer),
                source: "the fetch task was cancelled (is the runtime shutting down?)".into(),
            })
        })
    }

    /// Waits for a wake-up, the next ack-wait or nak timer, or the poll interval.
    async fn wait(&mut self, next_due: Option<i64>) {
        let mut wait = self.shared.config.poll_interval;
        if let Some(due) = next_due {
            let until_due = due.saturating_sub(now_ms()).max(1).unsigned_abs();
            wait = wait.min(Duration::from_millis(until_due));
        }
        tokio::select! {
            changed = self.arrivals.changed() => {
                if changed.is_err() {
                    tokio::time::sleep(wait).await;
                }
            }
            () = tokio::time::sleep(wait) => {}
        }
    }

    /// Decodes a fetched message; a malformed one is terminated (never redelivered) and
    /// reported as [`BusError::Decode`], as the JetStream adapter does.
    async fn deliver(&self, message: Fetched) -> Result<Delivery<T>, BusError> {
        let headers = Headers::from_json(&message.headers);
        let acker = EmbeddedAck {
            shared: self.shared.clone(),
            kind: self.kind,
            consumer: self.consumer.clone(),
            sequence: message.sequence,
            attempt: message.delivery_count,
            message_id: headers
                .as_ref()
                .ok()
                .and_then(Headers::message_id)
                .unwrap_or("(none)")
                .to_owned(),
        };
        let decoded =
            headers.and_then(|headers| (self.decode)(&message.payload).map(|e| (headers, e)));
        match decoded {
            Ok((headers, event)) => Ok(Delivery::new(
                event,
                message.subject,
                headers,
                message.delivery_count.unsigned_abs(),
                Box::new(acker),
            )),
            Err(error) => {
                let subject = message.subject;
                let message_id = &acker.message_id;
                tracing::warn!(subject, message_id, %error, "terminating malformed message: it will not be redelivered");
                if let Err(e) = acker.term().await {
                    tracing::warn!(subject, message_id, error = %e, "could not terminate malformed message");
                }
                Err(BusError::Decode { subject, error })
            }
        }
    }
}

/// Settles one delivery: `attempt` is its delivery count, so that a delivery superseded by
/// a redelivery cannot nak, extend or terminate the newer one (its ack still counts: the
/// message was processed).
struct EmbeddedAck {
    shared: Arc<Shared>,
    kind: StreamKind,
    consumer: String,
    sequence: i64,
    attempt: i64,
    message_id: String,
}

impl EmbeddedAck {
    fn err(&self, source: sqlx::Error) -> BusError {
        BusError::Ack {
            message_id: self.message_id.clone(),
            source: source.into(),
        }
    }
}

#[async_trait]
impl AckHandle for EmbeddedAck {
    async fn ack(&self) -> Result<(), BusError> {
        self.shared
            .store
            .ack(self.kind, &self.consumer, self.sequence)
            .await
            .map_err(|e| self.err(e))
    }

    async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError> {
        let due_at = now_ms().saturating_add(delay.map_or(0, millis));
        let scheduled = self
            .shared
            .store
            .nak(
                self.kind,
                &self.consumer,
                self.sequence,
                self.attempt,
                due_at,
            )
            .await
            .map_err(|e| self.err(e))?;
        if scheduled {
            self.shared.wake(self.kind);
        }
        Ok(())
    }

    async fn term(&self) -> Result<(), BusError> {
        self.shared
            .store
            .term(self.kind, &self.consumer, self.sequence, self.attempt)
            .await
            .map_err(|e| self.err(e))
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        let due_at = now_ms().saturating_add(millis(self.shared.config.ack_wait));
        self.shared
            .store
            .extend(
                self.kind,
                &self.consumer,
                self.sequence,
                self.attempt,
                due_at,
            )
            .await
            .map_err(|e| self.err(e))
    }
}

#[async_trait]
impl EventBus for EmbeddedBus {
    async fn publish_lifecycle(&self, event: &LifecycleEvent) -> Result<PublishReceipt, BusError> {
        let message = Outgoing::lifecycle(&self.shared.names, event);
        self.publish_one(StreamKind::Lifecycle, message).await
    }

    /// One transaction for the whole batch: either every event is stored or none is.
    async fn publish_lifecycle_batch(
        &self,
        events: &[LifecycleEvent],
    ) -> Result<Vec<PublishReceipt>, BusError> {
        let messages: Vec<_> = events
            .iter()
            .map(|event| Outgoing::lifecycle(&self.shared.names, event))
            .collect();
        self.publish(StreamKind::Lifecycle, messages).await
    }

    async fn publish_audit(&self, record: &AuditRecord) -> Result<PublishReceipt, BusError> {
        let message = Outgoing::audit(&self.shared.names, record)?;
        self.publish_one(StreamKind::Audit, message).await
    }

    /// Sent to every current subscriber of this process; with none, dropped (as on NATS).
    async fn publish_invalidation(
        &self,
        app_id: AppId,
        invalidation: Invalidation,
    ) -> Result<(), BusError> {
        // An error only means nobody subscribes now.
        let _ = self.shared.invalidations.send(InvalidationNotice {
            app_id,
            invalidation,
        });
        Ok(())
    }

    async fn lifecycle_consumer(
        &self,
        durable_name: &str,
    ) -> Result<Deliveries<LifecycleEvent>, BusError> {
        self.deliveries(StreamKind::Lifecycle, durable_name, decode_lifecycle)
            .await
    }

    async fn audit_consumer(
        &self,
        durable_name: &str,
    ) -> Result<Deliveries<AuditRecord>, BusError> {
        self.deliveries(StreamKind::Audit, durable_name, decode_audit)
            .await
    }

    /// A subscriber that falls more than `invalidation_buffer` behind gets one
    /// [`BusError::MessagesMayBeLost`] and continues with the oldest it still has.
    async fn subscribe_invalidations(&self) -> Result<Invalidations, BusError> {
        let receiver = self.shared.invalidations.subscribe();
        Ok(futures::stream::unfold(receiver, |mut receiver| async move {
            let item = match receiver.recv().await {
                Ok(notice) => Ok(notice),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "cache invalidations dropped for a slow subscriber");
                    Err(BusError::MessagesMayBeLost {
                        reason: format!(
                            "a slow subscriber fell behind and {missed} invalidations were dropped"
                        ),
                    })
                }
                // Every clone of the bus is gone.
                Err(broadcast::error::RecvError::Closed) => return None,
            };
            Some((item, receiver))
        })
        .boxed())
    }
}
