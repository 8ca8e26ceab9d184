//! Integration tests of both bus adapters. The contract cases (`publish`, `consume`,
//! `invalidation`) are written once against `Arc<dyn EventBus>` and run twice, as
//! `<module>::jetstream::<case>` against the real local NATS server (`scripts/services.sh up`;
//! `ALTER_TEST_NATS_URL`; each test on its own prefix) and as `<module>::embedded::<case>` on
//! a fresh SQLite file. `jetstream` and `embedded` hold what only one adapter has.

// Test helpers fail the test on unexpected results.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

/// Runs each named contract case, an `async fn case(adapter: Adapter)` of the invoking
/// module, once per adapter: as `jetstream::case` and as `embedded::case`.
macro_rules! contract {
    ($($case:ident),+ $(,)?) => {
        mod jetstream {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case($crate::harness::Adapter::JetStream).await;
                }
            )+
        }

        mod embedded {
            $(
                #[tokio::test]
                async fn $case() {
                    super::$case($crate::harness::Adapter::Embedded).await;
                }
            )+
        }
    };
}

mod consume;
mod embedded;
mod harness;
mod invalidation;
mod jetstream;
mod publish;

use std::time::Duration;

use alter_bus::{BusError, Deliveries, Delivery, StreamKind, testing::TestBus};
use alter_core::{
    AppId, EventId, EventSource, ExternalGroupId, ExternalUserId, LifecycleEvent, LifecycleKind,
    UserId, UserRef,
};
use async_nats::jetstream::consumer;
use futures::{Stream, StreamExt};

/// Upper bound on waiting for a message that must arrive; reaching it fails the test.
const ARRIVAL: Duration = Duration::from_secs(10);

fn user() -> UserRef {
    UserRef {
        external_id: ExternalUserId::parse("sub", "okta|00u1").unwrap(),
        user_id: Some(UserId::new()),
    }
}

fn suspended(app_id: AppId) -> LifecycleEvent {
    LifecycleEvent {
        event_id: EventId::new(),
        provider_event_id: Some("okta-evt-1".into()),
        app_id,
        source: EventSource::Webhook,
        occurred_at: chrono::Utc::now(),
        kind: LifecycleKind::UserSuspended { user: user() },
    }
}

fn membership_removed(app_id: AppId) -> LifecycleEvent {
    LifecycleEvent {
        event_id: EventId::new(),
        provider_event_id: None,
        app_id,
        source: EventSource::DirectorySync,
        occurred_at: chrono::Utc::now(),
        kind: LifecycleKind::MembershipRemoved {
            user: user(),
            group: ExternalGroupId::parse("g", "00g1").unwrap(),
        },
    }
}

/// The next item of a stream, failing the test if none arrives within [`ARRIVAL`].
async fn next<T>(stream: &mut (impl Stream<Item = T> + Unpin)) -> T {
    tokio::time::timeout(ARRIVAL, stream.next())
        .await
        .expect("no message arrived in time")
        .expect("stream ended")
}

/// The next successfully decoded delivery.
async fn next_delivery<T>(deliveries: &mut Deliveries<T>) -> Delivery<T> {
    next(deliveries).await.expect("delivery")
}

async fn consumer_info(bus: &TestBus, kind: StreamKind, durable: &str) -> consumer::Info {
    let stream = bus
        .jetstream()
        .get_stream(bus.names().stream(kind))
        .await
        .unwrap();
    stream.consumer_info(durable).await.unwrap()
}

fn is_decode_error(err: &BusError, field: &str) -> bool {
    matches!(err, BusError::Decode { error, .. } if error.field == field)
}
