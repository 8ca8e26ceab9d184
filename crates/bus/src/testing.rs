//! Test kit: a [`Bus`] on a fresh random prefix against the local NATS server, so tests run
//! in parallel on one server without seeing each other. Enabled by the `testing` feature.

use std::ops::Deref;

use crate::error::BusError;
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
        let config = BusConfig::new(test_nats_url(), prefix).with_name("alter-bus-test");
        Ok(Self {
            bus: Bus::connect(config).await?,
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
