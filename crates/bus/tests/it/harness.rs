//! One harness over both adapters: a contract case gets the bus as `Arc<dyn EventBus>` and
//! the few adapter-specific operations (inspection, raw publish, cleanup) from [`Harness`].

use std::sync::Arc;
use std::time::Duration;

use alter_bus::testing::{TestBus, TestEmbeddedBus};
use alter_bus::{BusConfig, BusNames, EmbeddedBusConfig, EventBus, Invalidation, StreamKind};
use alter_core::AppId;

/// A poll interval no test outlives: embedded cases pass only if publishes, naks and ack-wait
/// timers wake the waiting consumer themselves.
const NO_POLL: Duration = Duration::from_secs(3600);

/// The embedded bus's invalidation buffer in tests: small, so that overwhelming a subscriber
/// is quick.
const INVALIDATION_BUFFER: usize = 64;

/// Which adapter a contract case runs against.
#[derive(Clone, Copy, Debug)]
pub enum Adapter {
    JetStream,
    Embedded,
}

/// The consumer settings a case needs; everything else keeps the adapters' defaults.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    pub ack_wait: Duration,
    pub max_deliver: i64,
}

impl Default for Settings {
    /// The production defaults: 30 s ack wait (longer than [`ARRIVAL`](super::ARRIVAL), so
    /// only a nak or a restart can bring a message back within a test), 20 deliveries.
    fn default() -> Self {
        Self {
            ack_wait: Duration::from_secs(30),
            max_deliver: 20,
        }
    }
}

impl Settings {
    /// A short ack wait, for cases about redelivery.
    pub fn ack_wait(ack_wait: Duration) -> Self {
        Self {
            ack_wait,
            ..Self::default()
        }
    }
}

/// A fresh bus of one adapter (its own NATS prefix, or its own file).
pub struct Harness {
    pub bus: Arc<dyn EventBus>,
    backend: Backend,
}

enum Backend {
    JetStream(TestBus),
    Embedded(TestEmbeddedBus),
}

impl Adapter {
    /// A bus with the default settings.
    pub async fn start(self) -> Harness {
        self.start_with(Settings::default()).await
    }

    /// A bus with `settings`.
    pub async fn start_with(self, settings: Settings) -> Harness {
        match self {
            Adapter::JetStream => {
                let bus = TestBus::with_config(|config| BusConfig {
                    ack_wait: settings.ack_wait,
                    max_deliver: settings.max_deliver,
                    ..config
                })
                .await
                .expect("NATS for the JetStream half of the suite (scripts/services.sh up)");
                Harness {
                    bus: Arc::new(bus.bus().clone()),
                    backend: Backend::JetStream(bus),
                }
            }
            Adapter::Embedded => {
                let bus = TestEmbeddedBus::with_config(EmbeddedBusConfig {
                    ack_wait: settings.ack_wait,
                    max_deliver: settings.max_deliver,
                    invalidation_buffer: INVALIDATION_BUFFER,
                    poll_interval: NO_POLL,
                    ..EmbeddedBusConfig::default()
                })
                .await
                .expect("embedded bus in a temporary directory");
                Harness {
                    bus: Arc::new(bus.bus().clone()),
                    backend: Backend::Embedded(bus),
                }
            }
        }
    }
}

impl Harness {
    /// Subject and stream names of this bus.
    pub fn names(&self) -> &BusNames {
        match &self.backend {
            Backend::JetStream(bus) => bus.names(),
            Backend::Embedded(bus) => bus.names(),
        }
    }

    /// Stores `payload` on `subject` of stream `kind` as it is, without envelope headers.
    pub async fn publish_raw(&self, kind: StreamKind, subject: String, payload: &'static [u8]) {
        match &self.backend {
            Backend::JetStream(bus) => {
                bus.jetstream()
                    .publish(subject, payload.into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
            }
            Backend::Embedded(bus) => {
                bus.publish_raw(kind, &subject, payload).await.unwrap();
            }
        }
    }

    /// Messages stored in stream `kind`.
    pub async fn stored_messages(&self, kind: StreamKind) -> u64 {
        match &self.backend {
            Backend::JetStream(bus) => {
                let mut stream = bus
                    .jetstream()
                    .get_stream(bus.names().stream(kind))
                    .await
                    .unwrap();
                stream.info().await.unwrap().state.messages
            }
            Backend::Embedded(bus) => bus.stream_state(kind).await.unwrap().messages,
        }
    }

    /// Deliveries of consumer `durable` not settled yet (in flight or awaiting redelivery).
    pub async fn ack_pending(&self, kind: StreamKind, durable: &str) -> u64 {
        match &self.backend {
            Backend::JetStream(bus) => {
                let info = super::consumer_info(bus, kind, durable).await;
                info.num_ack_pending as u64
            }
            Backend::Embedded(bus) => {
                let state = bus.consumer_state(kind, durable).await.unwrap();
                state.expect("the consumer exists").ack_pending
            }
        }
    }

    /// Publishes more invalidations of `app` than a subscriber buffers, so one that does not
    /// read meanwhile must lose some; returns how many were published.
    pub async fn overwhelm_invalidations(&self, app: AppId) -> usize {
        match &self.backend {
            Backend::JetStream(bus) => {
                // More than the client buffers for one subscription (65,536); raw publishes
                // without a flush each, or this would take minutes.
                let count = 100_000;
                let subject = bus.names().invalidation_subject(app);
                let payload = bytes::Bytes::from_static(br#"{"scope":"all"}"#);
                for _ in 0..count {
                    bus.client()
                        .publish(subject.clone(), payload.clone())
                        .await
                        .unwrap();
                }
                bus.client().flush().await.unwrap();
                count
            }
            Backend::Embedded(bus) => {
                let count = INVALIDATION_BUFFER * 4;
                for _ in 0..count {
                    bus.publish_invalidation(app, Invalidation::All)
                        .await
                        .unwrap();
                }
                count
            }
        }
    }

    /// Deletes what the bus left behind (the JetStream streams; the temporary directory).
    pub async fn cleanup(self) {
        match self.backend {
            Backend::JetStream(bus) => bus.cleanup().await.unwrap(),
            Backend::Embedded(bus) => bus.close().await,
        }
    }
}
