//! The JetStream adapter: one NATS connection, the two streams created at start, durable
//! pull consumers per service, and core-NATS invalidations.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use alter_core::{AppId, FieldError, LifecycleEvent};
use async_nats::jetstream::{self, AckKind, consumer::pull, context::PublishAckFuture, stream};
use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesOrdered;

use crate::audit::{AuditRecord, decode_audit};
use crate::codec::decode_lifecycle;
use crate::delivery::{AckHandle, Deliveries, Delivery};
use crate::envelope::{Headers, inject_current_trace};
use crate::error::BusError;
use crate::event_bus::{EventBus, Invalidations, PublishReceipt};
use crate::invalidation::{Invalidation, InvalidationNotice, decode_invalidation};
use crate::names::{BusNames, StreamKind, validate_durable_name};
use crate::outgoing::Outgoing;

/// Durable consumer names, one per consuming service.
pub mod consumers {
    /// grant-revoker consumes `ALTER_LIFECYCLE`.
    pub const GRANT_REVOKER: &str = "grant-revoker";
    /// audit-writer consumes `ALTER_AUDIT`.
    pub const AUDIT_WRITER: &str = "audit-writer";
}

/// Acks a batch publish keeps in flight (PERFORMANCE-NOTES: ~140k msg/s at 256 vs ~7k at 1).
pub const BATCH_ACKS_IN_FLIGHT: usize = 256;

/// How to reach NATS and how the streams and consumers are set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusConfig {
    /// `nats://host:port` (or `tls://`).
    pub url: String,
    /// Subject/stream prefix; empty in production (see [`BusNames`]).
    pub prefix: String,
    /// Connection name shown by the server's monitoring (e.g. the service name).
    pub name: Option<String>,
    /// Window in which JetStream drops a second publish with the same event ID.
    pub duplicate_window: Duration,
    /// How long the streams keep messages.
    pub max_age: Duration,
    /// How long a consumer waits for an ack before redelivering.
    pub ack_wait: Duration,
    /// Deliveries of one message before the consumer gives up on it.
    pub max_deliver: i64,
    /// Copies of each stream in a JetStream cluster (`nats.stream_replicas`): 3 on the
    /// three-node cluster production runs, 1 on a single server.
    pub replicas: usize,
}

impl BusConfig {
    /// Defaults: 2 min duplicate window, 7 days retention, 30 s ack wait, 20 deliveries.
    pub fn new(url: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            prefix: prefix.into(),
            name: None,
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            ack_wait: Duration::from_secs(30),
            max_deliver: 20,
            replicas: 1,
        }
    }

    /// Sets the number of stream replicas.
    pub fn with_replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// Sets the connection name.
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// The JetStream bus. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    names: BusNames,
    config: BusConfig,
    /// Bumped whenever core-NATS messages may have been lost (see [`gap_reason`]).
    gaps: Arc<tokio::sync::watch::Sender<Gap>>,
}

/// How many times, and lately why, core-NATS messages may have been lost.
#[derive(Clone, Debug, Default)]
struct Gap {
    count: u64,
    reason: &'static str,
    /// The connection is down now (until the next `Connected`).
    disconnected: bool,
}

/// Whether a connection event means core-NATS messages may have been lost: the server dropped
/// messages for a slow subscriber, or the connection went down (nothing is delivered to a
/// disconnected subscriber) or came back after that (what was published meanwhile is gone).
/// The first `Connected` of a client is not a gap.
fn gap_reason(event: &async_nats::Event, was_disconnected: &AtomicBool) -> Option<&'static str> {
    match event {
        async_nats::Event::SlowConsumer(_) => {
            Some("the server dropped messages for a slow subscriber")
        }
        async_nats::Event::Disconnected => {
            was_disconnected.store(true, Ordering::Release);
            Some("the connection to NATS was lost")
        }
        async_nats::Event::Connected if was_disconnected.swap(false, Ordering::AcqRel) => {
            Some("the connection to NATS was re-established")
        }
        _ => None,
    }
}

impl Bus {
    /// Validates the config, connects, and creates both streams if they do not exist.
    pub async fn connect(config: BusConfig) -> Result<Self, BusError> {
        let names = BusNames::new(&config.prefix)?;
        if config.duplicate_window > config.max_age {
            return Err(BusError::Config(FieldError::new(
                "nats.duplicate_window",
                "must not be longer than the stream's max age",
            )));
        }
        let gaps = Arc::new(tokio::sync::watch::Sender::new(Gap::default()));
        let reporter = gaps.clone();
        let was_disconnected = Arc::new(AtomicBool::new(false));
        let mut options = async_nats::ConnectOptions::new().event_callback(move |event| {
            let reporter = reporter.clone();
            let was_disconnected = was_disconnected.clone();
            async move {
                if let Some(reason) = gap_reason(&event, &was_disconnected) {
                    tracing::warn!(%event, "NATS messages may have been lost");
                    let disconnected = matches!(event, async_nats::Event::Disconnected);
                    reporter.send_modify(|gap| {
                        gap.count += 1;
                        gap.reason = reason;
                        gap.disconnected = disconnected;
                    });
                }
            }
        });
        if let Some(name) = &config.name {
            options = options.name(name);
        }
        let client = options
            .connect(config.url.as_str())
            .await
            .map_err(|e| BusError::Connect {
                url: config.url.clone(),
                source: e.into(),
            })?;
        let jetstream = jetstream::new(client.clone());
        let bus = Self {
            client,
            jetstream,
            names,
            config,
            gaps,
        };
        bus.ensure_streams().await?;
        Ok(bus)
    }

    /// Creates the lifecycle and audit streams unless they exist, with `replicas` copies; an
    /// existing stream with fewer copies is scaled up (never down), otherwise left as it is.
    /// Safe to call any number of times, from any number of replicas.
    pub async fn ensure_streams(&self) -> Result<(), BusError> {
        let replicas = self.config.replicas.max(1);
        for kind in StreamKind::ALL {
            let name = self.names.stream(kind);
            let what = || {
                if replicas > 1 {
                    format!(
                        "stream {name} with {replicas} replicas (nats.stream_replicas; a single nats-server holds 1)"
                    )
                } else {
                    format!("stream {name}")
                }
            };
            let mut stream = self
                .jetstream
                .get_or_create_stream(stream::Config {
                    name: name.clone(),
                    subjects: vec![self.names.stream_subjects(kind)],
                    storage: stream::StorageType::File,
                    retention: stream::RetentionPolicy::Limits,
                    duplicate_window: self.config.duplicate_window,
                    max_age: self.config.max_age,
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .map_err(|e| BusError::setup(what(), e))?;
            let info = stream
                .info()
                .await
                .map_err(|e| BusError::setup(what(), e))?;
            if info.config.num_replicas < replicas {
                let mut config = info.config.clone();
                config.num_replicas = replicas;
                self.jetstream
                    .update_stream(config)
                    .await
                    .map_err(|e| BusError::setup(what(), e))?;
                tracing::info!(stream = %name, replicas, "stream scaled up to the configured replicas");
            }
        }
        Ok(())
    }

    /// Creates the durable pull consumer `durable_name` on a stream unless it exists.
    pub async fn ensure_consumer(
        &self,
        kind: StreamKind,
        durable_name: &str,
    ) -> Result<jetstream::consumer::PullConsumer, BusError> {
        validate_durable_name(durable_name)?;
        let stream_name = self.names.stream(kind);
        let what = format!("consumer {durable_name} on stream {stream_name}");
        let stream = self
            .jetstream
            .get_stream(&stream_name)
            .await
            .map_err(|e| BusError::setup(what.clone(), e))?;
        stream
            .get_or_create_consumer(
                durable_name,
                pull::Config {
                    durable_name: Some(durable_name.to_owned()),
                    ack_policy: jetstream::consumer::AckPolicy::Explicit,
                    ack_wait: self.config.ack_wait,
                    max_deliver: self.config.max_deliver,
                    deliver_policy: jetstream::consumer::DeliverPolicy::All,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BusError::setup(what, e))
    }

    /// The names in use.
    pub fn names(&self) -> &BusNames {
        &self.names
    }

    /// The config the bus was built from.
    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// The underlying NATS client.
    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    /// The underlying JetStream context (stream inspection, tests).
    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Publishes one lifecycle event on `<p>alter.lifecycle.<app>.<kind>` and waits for the ack.
    pub async fn publish_lifecycle(
        &self,
        event: &LifecycleEvent,
    ) -> Result<PublishReceipt, BusError> {
        let (subject, pending) = self.send_lifecycle(event).await?;
        await_ack(subject, pending).await
    }

    /// Publishes events keeping up to [`BATCH_ACKS_IN_FLIGHT`] acks in flight; receipts in
    /// input order. On error, retry the whole batch: what was stored is dropped as duplicate.
    pub async fn publish_lifecycle_batch(
        &self,
        events: &[LifecycleEvent],
    ) -> Result<Vec<PublishReceipt>, BusError> {
        let mut receipts = Vec::with_capacity(events.len());
        let mut in_flight = FuturesOrdered::new();
        for event in events {
            if in_flight.len() >= BATCH_ACKS_IN_FLIGHT
                && let Some(receipt) = in_flight.next().await
            {
                receipts.push(receipt?);
            }
            let (subject, pending) = self.send_lifecycle(event).await?;
            in_flight.push_back(await_ack(subject, pending));
        }
        while let Some(receipt) = in_flight.next().await {
            receipts.push(receipt?);
        }
        Ok(receipts)
    }

    /// Publishes one audit record on `<p>alter.audit.<app>.<kind>` and waits for the ack.
    pub async fn publish_audit(&self, record: &AuditRecord) -> Result<PublishReceipt, BusError> {
        let message = Outgoing::audit(&self.names, record)?;
        let pending = self.send(&message).await?;
        await_ack(message.subject, pending).await
    }

    /// Publishes an invalidation on `<p>alter.invalidate.<app>` and flushes it to the server,
    /// so it is on its way before the caller acks the event that caused it.
    pub async fn publish_invalidation(
        &self,
        app_id: AppId,
        invalidation: Invalidation,
    ) -> Result<(), BusError> {
        let subject = self.names.invalidation_subject(app_id);
        let payload = serde_json::to_vec(&invalidation).map_err(|e| BusError::Encode {
            subject: subject.clone(),
            message: e.to_string(),
        })?;
        let mut headers = Headers::default();
        inject_current_trace(&mut headers);
        self.client
            .publish_with_headers(subject.clone(), headers.to_nats(), payload.into())
            .await
            .map_err(|e| BusError::publish(subject.clone(), e))?;
        self.client
            .flush()
            .await
            .map_err(|e| BusError::publish(subject, e))
    }

    /// The lifecycle stream for durable consumer `durable_name`, created if missing.
    pub async fn lifecycle_consumer(
        &self,
        durable_name: &str,
    ) -> Result<Deliveries<LifecycleEvent>, BusError> {
        self.deliveries(StreamKind::Lifecycle, durable_name, decode_lifecycle)
            .await
    }

    /// The audit stream for durable consumer `durable_name`, created if missing.
    pub async fn audit_consumer(
        &self,
        durable_name: &str,
    ) -> Result<Deliveries<AuditRecord>, BusError> {
        self.deliveries(StreamKind::Audit, durable_name, decode_audit)
            .await
    }

    /// Every app's invalidations (`<p>alter.invalidate.*`); active at the server on return.
    pub async fn subscribe_invalidations(&self) -> Result<Invalidations, BusError> {
        let wildcard = self.names.invalidation_wildcard();
        let subscriber = self
            .client
            .subscribe(wildcard.clone())
            .await
            .map_err(|e| BusError::setup(format!("subscription {wildcard}"), e))?;
        self.client
            .flush()
            .await
            .map_err(|e| BusError::setup(format!("subscription {wildcard}"), e))?;
        let names = self.names.clone();
        // Gaps after this point surface as `Disconnected` (the connection is down) or
        // `MessagesMayBeLost` (messages may have been dropped) items in the same stream.
        let mut gap_watch = self.gaps.subscribe();
        gap_watch.mark_unchanged();
        let gaps = futures::stream::unfold(gap_watch, |mut watch| async move {
            watch.changed().await.ok()?;
            let (reason, disconnected) = {
                let gap = watch.borrow_and_update();
                (gap.reason.to_owned(), gap.disconnected)
            };
            let item = if disconnected {
                BusError::Disconnected { reason }
            } else {
                BusError::MessagesMayBeLost { reason }
            };
            Some((Err(item), watch))
        });
        let messages = subscriber.map(move |message| {
            let subject = message.subject.to_string();
            let notice = names
                .app_of_invalidation_subject(&subject)
                .and_then(|app_id| {
                    decode_invalidation(&message.payload).map(|invalidation| InvalidationNotice {
                        app_id,
                        invalidation,
                    })
                });
            notice.map_err(|error| {
                tracing::warn!(subject, %error, "dropping malformed cache invalidation");
                BusError::Decode { subject, error }
            })
        });
        // Ends when the subscription ends (the gap side alone never ends it).
        Ok(futures::stream::select(
            messages
                .map(Some)
                .chain(futures::stream::once(async { None })),
            gaps.map(Some),
        )
        .take_while(|item| futures::future::ready(item.is_some()))
        .filter_map(futures::future::ready)
        .boxed())
    }

    async fn send_lifecycle(
        &self,
        event: &LifecycleEvent,
    ) -> Result<(String, PublishAckFuture), BusError> {
        let message = Outgoing::lifecycle(&self.names, event);
        let pending = self.send(&message).await?;
        Ok((message.subject, pending))
    }

    async fn send(&self, message: &Outgoing) -> Result<PublishAckFuture, BusError> {
        self.jetstream
            .publish_with_headers(
                message.subject.clone(),
                message.headers.to_nats(),
                message.payload.clone(),
            )
            .await
            .map_err(|e| BusError::publish(message.subject.as_str(), e))
    }

    async fn deliveries<T: Send + 'static>(
        &self,
        kind: StreamKind,
        durable_name: &str,
        decode: fn(&[u8]) -> Result<T, FieldError>,
    ) -> Result<Deliveries<T>, BusError> {
        let consumer = self.ensure_consumer(kind, durable_name).await?;
        let what = format!(
            "consumer {durable_name} on stream {}",
            self.names.stream(kind)
        );
        let messages = consumer
            .messages()
            .await
            .map_err(|e| BusError::setup(what.clone(), e))?;
        Ok(messages
            .then(move |item| {
                let what = what.clone();
                async move {
                    match item {
                        Ok(message) => into_delivery(message, decode).await,
                        Err(e) => Err(BusError::Receive {
                            what,
                            source: e.into(),
                        }),
                    }
                }
            })
            .boxed())
    }
}

async fn await_ack(subject: String, pending: PublishAckFuture) -> Result<PublishReceipt, BusError> {
    let ack = pending.await.map_err(|e| BusError::publish(subject, e))?;
    Ok(PublishReceipt {
        stream: ack.stream,
        sequence: ack.sequence,
        duplicate: ack.duplicate,
    })
}

/// Decodes a JetStream message; a malformed one is terminated (never redelivered) and
/// reported as [`BusError::Decode`].
async fn into_delivery<T>(
    message: jetstream::Message,
    decode: fn(&[u8]) -> Result<T, FieldError>,
) -> Result<Delivery<T>, BusError> {
    let subject = message.subject.to_string();
    let headers = Headers::from_nats(message.headers.as_ref());
    let delivery_count = message
        .info()
        .map(|info| info.delivered.max(1).unsigned_abs())
        .unwrap_or(1);
    let message_id = headers.message_id().unwrap_or("(none)").to_owned();
    match decode(&message.payload) {
        Ok(event) => Ok(Delivery::new(
            event,
            subject,
            headers,
            delivery_count,
            Box::new(JetStreamAck {
                message,
                message_id,
            }),
        )),
        Err(error) => {
            tracing::warn!(subject, message_id, %error, "terminating malformed message: it will not be redelivered");
            if let Err(e) = message.ack_with(AckKind::Term).await {
                tracing::warn!(subject, message_id, error = %e, "could not terminate malformed message");
            }
            Err(BusError::Decode { subject, error })
        }
    }
}

struct JetStreamAck {
    message: jetstream::Message,
    message_id: String,
}

impl JetStreamAck {
    fn err(&self, source: async_nats::Error) -> BusError {
        BusError::Ack {
            message_id: self.message_id.clone(),
            source,
        }
    }
}

#[async_trait]
impl AckHandle for JetStreamAck {
    async fn ack(&self) -> Result<(), BusError> {
        self.message.double_ack().await.map_err(|e| self.err(e))
    }

    async fn ack_unconfirmed(&self) -> Result<(), BusError> {
        self.message.ack().await.map_err(|e| self.err(e))
    }

    async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Nak(delay))
            .await
            .map_err(|e| self.err(e))
    }

    async fn term(&self) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Term)
            .await
            .map_err(|e| self.err(e))
    }

    async fn in_progress(&self) -> Result<(), BusError> {
        self.message
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| self.err(e))
    }
}

#[async_trait]
impl EventBus for Bus {
    async fn publish_lifecycle(&self, event: &LifecycleEvent) -> Result<PublishReceipt, BusError> {
        Bus::publish_lifecycle(self, event).await
    }

    async fn publish_lifecycle_batch(
        &self,
        events: &[LifecycleEvent],
    ) -> Result<Vec<PublishReceipt>, BusError> {
        Bus::publish_lifecycle_batch(self, events).await
    }

    async fn publish_audit(&self, record: &AuditRecord) -> Result<PublishReceipt, BusError> {
        Bus::publish_audit(self, record).await
    }

    async fn publish_invalidation(
        &self,
        app_id: AppId,
        invalidation: Invalidation,
    ) -> Result<(), BusError> {
        Bus::publish_invalidation(self, app_id, invalidation).await
    }

    async fn lifecycle_consumer(
        &self,
        durable_name: &str,
    ) -> Result<Deliveries<LifecycleEvent>, BusError> {
        Bus::lifecycle_consumer(self, durable_name).await
    }

    async fn audit_consumer(
        &self,
        durable_name: &str,
    ) -> Result<Deliveries<AuditRecord>, BusError> {
        Bus::audit_consumer(self, durable_name).await
    }

    async fn subscribe_invalidations(&self) -> Result<Invalidations, BusError> {
        Bus::subscribe_invalidations(self).await
    }
}

#[cfg(test)]
mod gap_tests {
    use super::*;
    use async_nats::Event;

    #[test]
    fn slow_consumer_and_reconnects_are_gaps_but_the_first_connect_is_not() {
        let flag = AtomicBool::new(false);
        assert_eq!(
            gap_reason(&Event::Connected, &flag),
            None,
            "initial connect"
        );
        assert!(gap_reason(&Event::SlowConsumer(7), &flag).is_some());
        assert!(gap_reason(&Event::Disconnected, &flag).is_some());
        assert!(
            gap_reason(&Event::Connected, &flag).is_some(),
            "reconnect after a loss"
        );
        assert_eq!(
            gap_reason(&Event::Connected, &flag),
            None,
            "no second gap for one loss"
        );
        assert_eq!(gap_reason(&Event::LameDuckMode, &flag), None);
    }
}
