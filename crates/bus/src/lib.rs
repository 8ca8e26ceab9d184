//! The message bus: lifecycle events and audit records on JetStream streams (durable, deduped
//! by event ID, trace context in headers) and cache invalidations on core NATS, all under a
//! configurable prefix. Services program against [`EventBus`]; [`Bus`] is the JetStream adapter,
//! [`EmbeddedBus`] the in-process one of `alter dev` (one SQLite file, no NATS).
//!
//! Names: see [`names`]. Headers: see [`envelope`]. Payloads: lifecycle events are protobuf
//! `alter.events.v1.LifecycleEvent` ([`codec`]); audit records and invalidations are JSON.

pub mod audit;
pub mod codec;
pub mod delivery;
pub mod embedded;
pub mod envelope;
pub mod error;
pub mod event_bus;
pub mod invalidation;
pub mod jetstream;
pub mod names;
mod outgoing;
#[cfg(feature = "testing")]
pub mod testing;

pub use audit::{AdminAction, AuditKind, AuditRecord, admin_actor};
pub use delivery::{AckHandle, Deliveries, Delivery};
pub use embedded::{ConsumerState, EmbeddedBus, EmbeddedBusConfig, StreamState};
pub use envelope::Headers;
pub use error::BusError;
pub use event_bus::{EventBus, Invalidations, PublishReceipt};
pub use invalidation::{Invalidation, InvalidationNotice};
pub use jetstream::{BATCH_ACKS_IN_FLIGHT, Bus, BusConfig, consumers};
pub use names::{BusNames, StreamKind};
