//! Why `audit-writer` could not start or stopped.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] alter_runtime::HostError),
    #[error(transparent)]
    Connect(#[from] alter_runtime::ConnectError),
    /// The durable `audit-writer` consumer on `ALTER_AUDIT` could not be opened.
    #[error(
        "cannot open the audit-writer consumer on the audit stream: {0}; check nats.url, nats.prefix and that JetStream is enabled"
    )]
    Consumer(#[source] alter_bus::BusError),
}
