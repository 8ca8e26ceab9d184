//! Why `grant-revoker` could not start or stopped.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] alter_runtime::HostError),
    #[error(transparent)]
    Connect(#[from] alter_runtime::ConnectError),
    /// The durable `grant-revoker` consumer on `ALTER_LIFECYCLE` could not be opened.
    #[error(
        "cannot open the grant-revoker consumer on the lifecycle stream: {0}; check nats.url, nats.prefix and that JetStream is enabled"
    )]
    Consumer(#[source] alter_bus::BusError),
}
