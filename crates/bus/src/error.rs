//! The bus's one error type. Each variant says what failed (which stream, subject or field)
//! and what to do about it; async-nats and sqlx errors are kept as the source.

use alter_core::FieldError;

/// A boxed error from the transport (the NATS client, or SQLite for the embedded bus), kept
/// as the source of a [`BusError`].
pub type NatsError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything the bus can fail with.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A setting or argument is invalid (`field` names it); nothing was sent.
    #[error("bus setting {0}")]
    Config(FieldError),

    /// The NATS server could not be reached.
    #[error(
        "cannot connect to NATS at {url}: {source}; is the server running (scripts/services.sh up)?"
    )]
    Connect { url: String, source: NatsError },

    /// Creating or looking up a stream or consumer failed.
    #[error("cannot set up {what}: {source}; check that JetStream is enabled on the server")]
    Setup { what: String, source: NatsError },

    /// A publish was not accepted (no stream for the subject, timeout waiting for the ack, …).
    #[error("publish to {subject} failed: {source}; the event was not durably accepted, retry it")]
    Publish { subject: String, source: NatsError },

    /// A message payload could not be encoded.
    #[error("cannot encode the message for {subject}: {message}")]
    Encode { subject: String, message: String },

    /// A received message could not be decoded; for JetStream it has been terminated
    /// (never redelivered). `error.field` names the bad field.
    #[error("message on {subject} is malformed and was dropped: {error}")]
    Decode { subject: String, error: FieldError },

    /// Receiving from a consumer or subscription failed; the stream keeps going.
    #[error("receiving from {what} failed: {source}")]
    Receive { what: String, source: NatsError },

    /// Core-NATS messages (cache invalidations) may have been lost: the server dropped
    /// messages for a slow subscriber, or the connection was interrupted. A subscriber that
    /// caches must resynchronise (drop everything) when it sees this.
    #[error("cache invalidations may have been lost ({reason}); resynchronise")]
    MessagesMayBeLost { reason: String },

    /// The connection to NATS is down: nothing published now reaches this subscriber, so
    /// caches must not be trusted until the connection is back (a `MessagesMayBeLost` item
    /// follows the reconnect).
    #[error(
        "the connection to NATS is down ({reason}); cache invalidations are not being received"
    )]
    Disconnected { reason: String },

    /// The embedded bus's SQLite file could not be opened, migrated, read or written (`what`
    /// says which step). Publishes that fail this way report [`BusError::Publish`] instead.
    #[error(
        "embedded bus store {path}: {what} failed: {source}; check that the file's directory exists and is writable, that the disk is not full, and that no other program holds the file locked"
    )]
    EmbeddedStore {
        path: String,
        what: String,
        source: NatsError,
    },

    /// Acknowledging (ack, nak, term) a delivery failed; the server will redeliver it after
    /// the ack wait.
    #[error("acknowledging message {message_id} failed: {source}")]
    Ack {
        message_id: String,
        source: NatsError,
    },
}

impl BusError {
    pub(crate) fn setup(what: impl Into<String>, source: impl Into<NatsError>) -> Self {
        BusError::Setup {
            what: what.into(),
            source: source.into(),
        }
    }

    pub(crate) fn publish(subject: impl Into<String>, source: impl Into<NatsError>) -> Self {
        BusError::Publish {
            subject: subject.into(),
            source: source.into(),
        }
    }
}
