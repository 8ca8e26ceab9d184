//! Why `jwt-verifier` could not start or stopped.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] alter_runtime::HostError),
    #[error(transparent)]
    Connect(#[from] alter_runtime::ConnectError),
}
