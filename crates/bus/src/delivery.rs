//! A received event and the means to settle it. Adapter-independent: the JetStream adapter
//! (and later an in-process one) supplies the [`AckHandle`] behind it.

use std::time::Duration;

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::envelope::Headers;
use crate::error::BusError;

/// The stream of deliveries a consumer yields. An `Err` item (a malformed message, which has
/// already been terminated, or a transient receive error) does not end the stream: log it and
/// keep polling.
pub type Deliveries<T> = BoxStream<'static, Result<Delivery<T>, BusError>>;

/// How an adapter settles one message.
#[async_trait]
pub trait AckHandle: Send + Sync {
    /// Processed: never deliver again. Returns once the server has recorded it.
    async fn ack(&self) -> Result<(), BusError>;
    /// Processed, without waiting for the server to confirm it recorded the ack. By default
    /// the same as [`ack`](Self::ack).
    async fn ack_unconfirmed(&self) -> Result<(), BusError> {
        self.ack().await
    }
    /// Not processed: deliver again after `delay` (at once when `None`).
    async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError>;
    /// Never deliver again although not processed (a message that can never succeed).
    async fn term(&self) -> Result<(), BusError>;
    /// Still working: restart the ack-wait timer.
    async fn in_progress(&self) -> Result<(), BusError>;
}

/// One delivered event with its envelope. Settle it with exactly one of [`ack`](Self::ack),
/// [`nak`](Self::nak) or [`term`](Self::term); an unsettled delivery is redelivered after the
/// consumer's ack wait.
pub struct Delivery<T> {
    /// The decoded event.
    pub event: T,
    subject: String,
    headers: Headers,
    delivery_count: u64,
    acker: Box<dyn AckHandle>,
}

impl<T> std::fmt::Debug for Delivery<T>
where
    T: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("event", &self.event)
            .field("subject", &self.subject)
            .field("headers", &self.headers)
            .field("delivery_count", &self.delivery_count)
            .finish_non_exhaustive()
    }
}

impl<T> Delivery<T> {
    /// Assembles a delivery; for bus adapters.
    pub fn new(
        event: T,
        subject: String,
        headers: Headers,
        delivery_count: u64,
        acker: Box<dyn AckHandle>,
    ) -> Self {
        Self {
            event,
            subject,
            headers,
            delivery_count,
            acker,
        }
    }

    /// The subject the event was published on.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The envelope headers (`Nats-Msg-Id`, `Alter-App-Id`, `Alter-Source`, …).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The message ID (the event ID) the publisher set.
    pub fn message_id(&self) -> Option<&str> {
        self.headers.message_id()
    }

    /// 1 on first delivery, 2 on the first redelivery, and so on.
    pub fn delivery_count(&self) -> u64 {
        self.delivery_count
    }

    /// The publisher's trace context; use it as the parent of the span that handles the event.
    pub fn trace_context(&self) -> opentelemetry::Context {
        self.headers.trace_context()
    }

    /// Marks the event processed; returns once the server has recorded the ack.
    pub async fn ack(&self) -> Result<(), BusError> {
        self.acker.ack().await
    }

    /// Marks the event processed without waiting for the server's confirmation: for
    /// consumers whose effect is idempotent by event ID, where a lost ack costs only a
    /// redelivery that changes nothing (the audit trail drops a record it already holds).
    pub async fn ack_unconfirmed(&self) -> Result<(), BusError> {
        self.acker.ack_unconfirmed().await
    }

    /// Asks for redelivery after `delay` (at once when `None`), e.g. when the database is down.
    pub async fn nak(&self, delay: Option<Duration>) -> Result<(), BusError> {
        self.acker.nak(delay).await
    }

    /// Stops redelivery of an event that can never be processed.
    pub async fn term(&self) -> Result<(), BusError> {
        self.acker.term().await
    }

    /// Extends the ack wait while a long piece of work is still going.
    pub async fn in_progress(&self) -> Result<(), BusError> {
        self.acker.in_progress().await
    }
}
