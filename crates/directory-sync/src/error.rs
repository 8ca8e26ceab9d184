//! Why `directory-sync` could not start or stopped.

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] alter_runtime::HostError),
    #[error(transparent)]
    Connect(#[from] alter_runtime::ConnectError),
    #[error("cannot build the HTTP client for the providers' APIs: {0}")]
    Http(String),
}
