//! Test kit: a [`Bus`] on a fresh random prefix against the local NATS server, so tests run
//! in parallel on one server without seeing each other, and an [`EmbeddedBus`] in its own
//! temporary directory. Enabled by the `testing` feature.

use std::ops::Deref;
use std::path::PathBuf;

use crate::embedded::{EmbeddedBus, EmbeddedBusConfig};
use crate::error::BusError;
use crate::event_bus::PublishReceipt;
use crate::jetstream::{Bus, BusConfig};
use crate::names::StreamKind;

/// The NATS URL tests use: `ALTER_TEST_NATS_URL`, default `nats://127.0.0.1:4222`.
pub fn test_nats_url() -> String {
    std::env::var("ALTER_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned())
}

/// A fresh prefix such as `t3f9a0c1d2e4b.`: unique per call.
pub fn unique_prefix() -> String {
    let id = uuid::Uuid::new_v4().simple().to_string();
    format!("t{}.", &id[..12])
}

/// A connected bus on its own prefix; derefs to [`Bus`]. Call [`cleanup`](Self::cleanup) at
/// the end of the test to delete its streams.
#[derive(Debug)]
pub struct TestBus {
    bus: Bus,
}

impl TestBus {
    /// Connects on a unique prefix and creates its streams. Panics with a hint when the
    /// server is not running: a test kit fails loudly.
    #[allow(
        clippy::panic,
        reason = "test kit: a missing server must fail the test with a clear hint"
    )]
    pub async fn new() -> Self {
        match Self::try_new().await {
            Ok(bus) => bus,
            Err(e) => panic!("TestBus: {e} (ALTER_TEST_NATS_URL={})", test_nats_url()),
        }
    }

    /// Like [`new`](Self::new), returning the error instead of panicking.
    pub async fn try_new() -> Result<Self, BusError> {
        Self::with_prefix(&unique_prefix()).await
    }

    /// A test bus on a given prefix (e.g. a second handle on another bus's prefix).
    pub async fn with_prefix(prefix: &str) -> Result<Self, BusError> {
        Ok(Self {
            bus: Bus::connect(test_config(prefix)).await?,
        })
    }

    /// A test bus on a unique prefix with settings changed by `configure` (e.g. a short
    /// `ack_wait` for a redelivery test).
    pub async fn with_config(
        configure: impl FnOnce(BusConfig) -> BusConfig,
    ) -> Result<Self, BusError> {
        Ok(Self {
            bus: Bus::connect(configure(test_config(&unique_prefix()))).await?,
        })
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// Deletes this prefix's streams (and so their consumers).
    pub async fn cleanup(self) -> Result<(), BusError> {
        for kind in StreamKind::ALL {
            let name = self.bus.names().stream(kind);
            self.bus
                .jetstream()
                .delete_stream(&name)
                .await
                .map_err(|e| BusError::Setup {
                    what: format!("deleting stream {name}"),
                    source: e.into(),
                })?;
        }
        Ok(())
    }
}

impl Deref for TestBus {
    type Target = Bus;

    fn deref(&self) -> &Bus {
        &self.bus
    }
}

fn test_config(prefix: &str) -> BusConfig {
    BusConfig::new(test_nats_url(), prefix).with_name("alter-bus-test")
}

/// An [`EmbeddedBus`] on a file in a fresh temporary directory, deleted when this is dropped;
/// derefs to the bus. [`restart`](Self::restart) and [`crash`](Self::crash) reopen the same
/// file.
#[derive(Debug)]
pub struct TestEmbeddedBus {
    bus: EmbeddedBus,
    config: EmbeddedBusConfig,
    // Dropped last: the directory outlives the bus.
    dir: tempfile::TempDir,
}

impl TestEmbeddedBus {
    /// A bus with the default settings. Panics when the temporary file cannot be created: a
    /// test kit fails loudly.
    #[allow(
        clippy::panic,
        reason = "test kit: a failed setup must fail the test with the reason"
    )]
    pub async fn new() -> Self {
        match Self::with_config(EmbeddedBusConfig::default()).await {
            Ok(bus) => bus,
            Err(e) => panic!("TestEmbeddedBus: {e}"),
        }
    }

    /// A bus with the given settings.
    pub async fn with_config(config: EmbeddedBusConfig) -> Result<Self, BusError> {
        let dir = tempfile::Builder::new()
            .prefix("alter-bus-")
            .tempdir()
            .map_err(|e| BusError::EmbeddedStore {
                path: std::env::temp_dir().display().to_string(),
                what: "creating a temporary directory".to_owned(),
                source: e.into(),
            })?;
        let bus = EmbeddedBus::open(&dir.path().join(FILE_NAME), config.clone()).await?;
        Ok(Self { bus, config, dir })
    }

    /// The bus.
    pub fn bus(&self) -> &EmbeddedBus {
        &self.bus
    }

    /// The SQLite file.
    pub fn file(&self) -> PathBuf {
        self.dir.path().join(FILE_NAME)
    }

    /// A clean restart: closes the file (what is in flight stays unacked) and opens it again.
    /// Streams and deliveries from before fail from now on.
    pub async fn restart(self) -> Result<Self, BusError> {
        self.bus.close().await;
        self.reopen().await
    }

    /// A crash: drops this handle without closing anything and opens the file again. Drop
    /// every stream and delivery of the old bus first, as a crash would.
    pub async fn crash(self) -> Result<Self, BusError> {
        self.reopen().await
    }

    async fn reopen(self) -> Result<Self, BusError> {
        let Self { bus, config, dir } = self;
        drop(bus);
        let bus = EmbeddedBus::open(&dir.path().join(FILE_NAME), config.clone()).await?;
        Ok(Self { bus, config, dir })
    }

    /// Stores a message as given, without envelope headers (e.g. a malformed payload).
    pub async fn publish_raw(
        &self,
        kind: StreamKind,
        subject: &str,
        payload: &[u8],
    ) -> Result<PublishReceipt, BusError> {
        self.bus.publish_raw(kind, subject, payload).await
    }
}

impl Deref for TestEmbeddedBus {
    type Target = EmbeddedBus;

    fn deref(&self) -> &EmbeddedBus {
        &self.bus
    }
}

const FILE_NAME: &str = "bus.sqlite";
