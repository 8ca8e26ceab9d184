//! Streams and consumers are created at start, idempotently, with the settings the design asks for.

use std::time::Duration;

use alter_bus::testing::{TestBus, test_nats_url};
use alter_bus::{Bus, BusConfig, BusError, StreamKind, consumers};
use async_nats::jetstream::{consumer::AckPolicy, stream::StorageType};

#[tokio::test]
async fn streams_and_consumers_are_created_idempotently() {
    let bus = TestBus::new().await;
    // A second start on the same prefix (another replica, a restart) finds them and succeeds.
    bus.ensure_streams().await.unwrap();
    let again = Bus::connect(BusConfig::new(test_nats_url(), bus.names().prefix()))
        .await
        .unwrap();
    again.ensure_streams().await.unwrap();

    for kind in StreamKind::ALL {
        let mut stream = bus
            .jetstream()
            .get_stream(bus.names().stream(kind))
            .await
            .unwrap();
        let info = stream.info().await.unwrap();
        assert_eq!(info.config.storage, StorageType::File);
        assert_eq!(info.config.duplicate_window, Duration::from_secs(120));
        assert_eq!(
            info.config.subjects,
            vec![bus.names().stream_subjects(kind)]
        );
    }

    bus.ensure_consumer(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
        .await
        .unwrap();
    again
        .ensure_consumer(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
        .await
        .unwrap();
    bus.ensure_consumer(StreamKind::Audit, consumers::AUDIT_WRITER)
        .await
        .unwrap();
    let info = super::consumer_info(&bus, StreamKind::Lifecycle, consumers::GRANT_REVOKER).await;
    assert_eq!(
        info.config.durable_name.as_deref(),
        Some(consumers::GRANT_REVOKER)
    );
    assert_eq!(info.config.ack_policy, AckPolicy::Explicit);
    assert_eq!(info.config.ack_wait, Duration::from_secs(30));
    assert_eq!(info.config.max_deliver, 20);

    bus.cleanup().await.unwrap();
}

#[tokio::test]
async fn invalid_prefix_and_consumer_name_are_rejected_before_sending() {
    let err = Bus::connect(BusConfig::new(test_nats_url(), "bad prefix"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BusError::Config(e) if e.field == "nats.prefix"),
        "{err}"
    );

    let bus = TestBus::new().await;
    let err = bus
        .ensure_consumer(StreamKind::Lifecycle, "grant.revoker")
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BusError::Config(e) if e.field == "durable_name"),
        "{err}"
    );
    bus.cleanup().await.unwrap();
}

#[tokio::test]
async fn unreachable_server_names_the_url() {
    let err = Bus::connect(BusConfig::new("nats://127.0.0.1:1", ""))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BusError::Connect { url, .. } if url == "nats://127.0.0.1:1"),
        "{err}"
    );
}
