//! What only the embedded adapter has: the file survives a restart and a crash, it is purged
//! so it does not grow without bound, waiting consumers are woken rather than polling, and
//! its settings are checked.

use std::time::Duration;

use alter_bus::testing::TestEmbeddedBus;
use alter_bus::{
    BusError, ConsumerState, EmbeddedBus, EmbeddedBusConfig, EventBus, StreamKind, StreamState,
    consumers,
};
use alter_core::AppId;
use futures::StreamExt;

use super::{ARRIVAL, next_delivery, suspended};

/// A config whose consumers are never woken by the poll within a test.
fn no_poll() -> EmbeddedBusConfig {
    EmbeddedBusConfig {
        poll_interval: Duration::from_secs(3600),
        ..EmbeddedBusConfig::default()
    }
}

#[tokio::test]
async fn acked_positions_and_the_duplicate_window_survive_a_restart() {
    let bus = TestEmbeddedBus::new().await;
    let app = AppId::new();
    let events = [suspended(app), suspended(app), suspended(app)];
    bus.publish_lifecycle_batch(&events).await.unwrap();
    let mut before = bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    next_delivery(&mut before).await.ack().await.unwrap();
    let unacked = next_delivery(&mut before).await;
    assert_eq!(unacked.event, events[1]);

    let bus = bus.restart().await.unwrap();
    let ended = tokio::time::timeout(ARRIVAL, before.next()).await;
    assert!(
        matches!(ended, Ok(None)),
        "closing the bus ends its consumer streams"
    );
    assert!(
        unacked.ack().await.is_err(),
        "a delivery of the closed bus cannot be settled"
    );
    let again = bus.publish_lifecycle(&events[0]).await.unwrap();
    assert!(
        again.duplicate && again.sequence == 1,
        "the restarted bus still knows the event ID: {again:?}"
    );
    let mut deliveries = bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    // The acked first event would come first if its ack had been lost. The unacked one
    // comes at once, not after the 30 s ack wait: its consumer died with the old process.
    let redelivered = next_delivery(&mut deliveries).await;
    assert_eq!(
        (&redelivered.event, redelivered.delivery_count()),
        (&events[1], 2)
    );
    redelivered.ack().await.unwrap();
    let fresh = next_delivery(&mut deliveries).await;
    assert_eq!((&fresh.event, fresh.delivery_count()), (&events[2], 1));
    fresh.ack().await.unwrap();
    assert_eq!(
        bus.consumer_state(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
            .await
            .unwrap(),
        Some(ConsumerState {
            delivered_sequence: 3,
            ack_pending: 0,
            undelivered: 0,
        })
    );
}

#[tokio::test]
async fn a_crash_keeps_what_was_published_and_redelivers_what_was_in_flight() {
    let bus = TestEmbeddedBus::new().await;
    let app = AppId::new();
    let (in_flight, queued) = (suspended(app), suspended(app));
    bus.publish_lifecycle(&in_flight).await.unwrap();
    let mut deliveries = bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let held = next_delivery(&mut deliveries).await;
    bus.publish_lifecycle(&queued).await.unwrap();
    // The process dies: nothing is settled, nothing is closed.
    drop((held, deliveries));

    let bus = bus.crash().await.unwrap();
    let mut deliveries = bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let again = next_delivery(&mut deliveries).await;
    assert_eq!((&again.event, again.delivery_count()), (&in_flight, 2));
    again.ack().await.unwrap();
    let then = next_delivery(&mut deliveries).await;
    assert_eq!((&then.event, then.delivery_count()), (&queued, 1));
    then.ack().await.unwrap();
}

#[tokio::test]
async fn a_waiting_consumer_is_woken_by_a_publish_not_by_polling() {
    let bus = TestEmbeddedBus::with_config(no_poll()).await.unwrap();
    let mut deliveries = bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let waiting = tokio::spawn(async move { next_delivery(&mut deliveries).await.event });
    // Let the consumer find nothing and start waiting.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let event = suspended(AppId::new());
    bus.publish_lifecycle(&event).await.unwrap();
    let received = tokio::time::timeout(ARRIVAL, waiting)
        .await
        .expect("woken by the publish")
        .unwrap();
    assert_eq!(received, event);
}

#[tokio::test]
async fn a_superseded_delivery_cannot_reschedule_the_redelivery() {
    let bus = TestEmbeddedBus::with_config(EmbeddedBusConfig {
        ack_wait: Duration::from_secs(1),
        ..no_poll()
    })
    .await
    .unwrap();
    let app = AppId::new();
    let (slow, later) = (suspended(app), suspended(app));
    bus.publish_lifecycle(&slow).await.unwrap();
    let mut deliveries = bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let stale = next_delivery(&mut deliveries).await;
    let current = next_delivery(&mut deliveries).await;
    assert_eq!(current.delivery_count(), 2);
    // The first handler wakes up late and naks: the redelivery others hold is not touched.
    stale.nak(None).await.unwrap();
    bus.publish_lifecycle(&later).await.unwrap();
    let next = next_delivery(&mut deliveries).await;
    assert_eq!(
        next.event, later,
        "a nak from the superseded delivery would have made the first event due at once"
    );
    next.ack().await.unwrap();
    current.ack().await.unwrap();
    let state = bus
        .consumer_state(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.ack_pending, 0);
}

#[tokio::test]
async fn settled_messages_are_purged_once_every_consumer_has_them_and_the_window_passed() {
    let window = Duration::from_millis(50);
    let bus = TestEmbeddedBus::with_config(EmbeddedBusConfig {
        duplicate_window: window,
        purge_interval: Duration::from_secs(3600),
        ..no_poll()
    })
    .await
    .unwrap();
    let app = AppId::new();
    let events = [suspended(app), suspended(app)];
    bus.publish_lifecycle_batch(&events).await.unwrap();
    let record = alter_bus::AuditRecord::from_lifecycle(&events[0]);
    bus.publish_audit(&record).await.unwrap();

    let mut first = bus.lifecycle_consumer("first").await.unwrap();
    let mut second = bus.lifecycle_consumer("second").await.unwrap();
    for _ in &events {
        next_delivery(&mut first).await.ack().await.unwrap();
    }
    next_delivery(&mut second).await.ack().await.unwrap();
    let _unsettled = next_delivery(&mut second).await;

    assert_eq!(
        bus.purge().await.unwrap(),
        0,
        "within the duplicate window the stream still needs every event ID"
    );
    tokio::time::sleep(window * 2).await;
    assert_eq!(bus.purge().await.unwrap(), 1);
    assert_eq!(
        bus.stream_state(StreamKind::Lifecycle).await.unwrap(),
        StreamState {
            messages: 1,
            first_sequence: 2,
            last_sequence: 2,
        },
        "the first event is settled everywhere; the second is pending for `second`"
    );
    assert_eq!(
        bus.stream_state(StreamKind::Audit).await.unwrap().messages,
        1,
        "a stream nobody consumes yet keeps its messages until max_age"
    );
}

#[tokio::test]
async fn messages_older_than_max_age_are_purged_and_sequences_are_not_reused() {
    let bus = TestEmbeddedBus::with_config(EmbeddedBusConfig {
        duplicate_window: Duration::from_millis(20),
        max_age: Duration::from_millis(100),
        purge_interval: Duration::from_secs(3600),
        ..no_poll()
    })
    .await
    .unwrap();
    let event = suspended(AppId::new());
    bus.publish_lifecycle(&event).await.unwrap();
    let mut deliveries = bus.lifecycle_consumer("slow").await.unwrap();
    let _never_acked = next_delivery(&mut deliveries).await;

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(bus.purge().await.unwrap(), 1);
    assert_eq!(
        bus.stream_state(StreamKind::Lifecycle).await.unwrap(),
        StreamState {
            messages: 0,
            first_sequence: 0,
            last_sequence: 1,
        }
    );
    let state = bus
        .consumer_state(StreamKind::Lifecycle, "slow")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(state.ack_pending, 0, "the aged-out delivery is dropped too");

    let again = bus.publish_lifecycle(&event).await.unwrap();
    assert!(!again.duplicate, "past the window the event ID is new");
    assert_eq!(again.sequence, 2);
}

#[tokio::test]
async fn the_purge_runs_on_its_own() {
    let bus = TestEmbeddedBus::with_config(EmbeddedBusConfig {
        duplicate_window: Duration::from_millis(10),
        max_age: Duration::from_millis(50),
        purge_interval: Duration::from_millis(20),
        ..no_poll()
    })
    .await
    .unwrap();
    bus.publish_lifecycle(&suspended(AppId::new()))
        .await
        .unwrap();
    tokio::time::timeout(ARRIVAL, async {
        while bus
            .stream_state(StreamKind::Lifecycle)
            .await
            .unwrap()
            .messages
            > 0
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the background purge removed the aged message");
}

#[tokio::test]
async fn invalid_settings_are_rejected_naming_the_setting() {
    let defaults = EmbeddedBusConfig::default;
    let cases = [
        (
            EmbeddedBusConfig {
                duplicate_window: Duration::from_secs(600),
                max_age: Duration::from_secs(60),
                ..defaults()
            },
            "embedded_bus.duplicate_window",
        ),
        (
            EmbeddedBusConfig {
                ack_wait: Duration::ZERO,
                ..defaults()
            },
            "embedded_bus.ack_wait",
        ),
        (
            EmbeddedBusConfig {
                invalidation_buffer: 0,
                ..defaults()
            },
            "embedded_bus.invalidation_buffer",
        ),
        (
            EmbeddedBusConfig {
                poll_interval: Duration::ZERO,
                ..defaults()
            },
            "embedded_bus.poll_interval",
        ),
    ];
    for (config, field) in cases {
        let err = TestEmbeddedBus::with_config(config).await.unwrap_err();
        assert!(
            matches!(&err, BusError::Config(e) if e.field == field),
            "{field}: {err}"
        );
    }
}

#[tokio::test]
async fn a_file_that_cannot_be_created_is_reported_with_its_path() {
    let bus = TestEmbeddedBus::new().await;
    let path = bus.file().with_file_name("no-such-dir").join("bus.sqlite");
    let err = EmbeddedBus::open(&path, EmbeddedBusConfig::default())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BusError::EmbeddedStore { path: p, .. } if *p == path.display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("writable"), "{err}");
}
