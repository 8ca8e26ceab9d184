//! Consuming: ack settles, nak redelivers, a poison message is terminated once, audit flows.

use std::sync::Arc;

use alter_bus::testing::TestBus;
use alter_bus::{AuditKind, AuditRecord, EventBus, StreamKind, consumers};
use alter_core::{AppId, EventId, GrantId, Principal, UserId};

use super::{consumer_info, is_decode_error, next, next_delivery, suspended};

#[tokio::test]
async fn acked_delivery_is_settled_at_the_server() {
    let bus = TestBus::new().await;
    let event = suspended(AppId::new());
    bus.publish_lifecycle(&event).await.unwrap();

    let mut deliveries = bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.event, event);
    assert_eq!(delivery.delivery_count(), 1);
    delivery.ack().await.unwrap();

    let info = consumer_info(&bus, StreamKind::Lifecycle, consumers::GRANT_REVOKER).await;
    assert_eq!(info.num_ack_pending, 0);
    assert_eq!(info.ack_floor.stream_sequence, 1);
    assert_eq!(info.num_redelivered, 0);

    bus.cleanup().await.unwrap();
}

#[tokio::test]
async fn nak_redelivers_the_same_event() {
    let bus = TestBus::new().await;
    let event = suspended(AppId::new());
    bus.publish_lifecycle(&event).await.unwrap();

    let mut deliveries = bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let first = next_delivery(&mut deliveries).await;
    assert_eq!(first.delivery_count(), 1);
    first.nak(None).await.unwrap();

    let again = next_delivery(&mut deliveries).await;
    assert_eq!(again.event, event);
    assert_eq!(again.delivery_count(), 2);
    assert_eq!(again.message_id(), first.message_id());
    again.ack().await.unwrap();

    let info = consumer_info(&bus, StreamKind::Lifecycle, consumers::GRANT_REVOKER).await;
    assert_eq!(info.num_ack_pending, 0);
    bus.cleanup().await.unwrap();
}

#[tokio::test]
async fn poison_message_is_surfaced_and_terminated_not_redelivered() {
    let bus = TestBus::new().await;
    let app = AppId::new();
    let subject = bus.names().lifecycle_subject(app, "user_suspended");
    bus.jetstream()
        .publish(subject, "not protobuf \u{ff}".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let good = suspended(app);
    bus.publish_lifecycle(&good).await.unwrap();

    let mut deliveries = bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let poison = next(&mut deliveries).await.unwrap_err();
    assert!(is_decode_error(&poison, "payload"), "{poison}");
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(
        delivery.event, good,
        "the stream keeps going after a malformed message"
    );
    delivery.ack().await.unwrap();

    let info = consumer_info(&bus, StreamKind::Lifecycle, consumers::GRANT_REVOKER).await;
    assert_eq!(
        info.num_ack_pending, 0,
        "the poison message is terminated, not waiting for redelivery"
    );
    assert_eq!(info.ack_floor.stream_sequence, 2);
    bus.cleanup().await.unwrap();
}

#[tokio::test]
async fn audit_records_flow_to_the_audit_writer_through_the_trait() {
    let test_bus = TestBus::new().await;
    let bus: Arc<dyn EventBus> = Arc::new(test_bus.bus().clone());
    let event = suspended(AppId::new());
    let applied = AuditRecord::from_lifecycle(&event);
    let revoked = AuditRecord {
        event_id: EventId::new(),
        kind: AuditKind::GrantRevoked {
            grant_id: GrantId::new(),
            principal: Principal::User(UserId::new()),
            caused_by: Some(event.event_id),
            actor: None,
        },
        ..applied.clone()
    };
    assert!(!bus.publish_audit(&applied).await.unwrap().duplicate);
    assert!(!bus.publish_audit(&revoked).await.unwrap().duplicate);
    assert!(bus.publish_audit(&applied).await.unwrap().duplicate);

    let mut records = bus.audit_consumer(consumers::AUDIT_WRITER).await.unwrap();
    let first = next_delivery(&mut records).await;
    assert_eq!(first.event, applied);
    assert_eq!(
        first.subject(),
        test_bus
            .names()
            .audit_subject(event.app_id, "user_suspended")
    );
    first.ack().await.unwrap();
    let second = next_delivery(&mut records).await;
    assert_eq!(second.event, revoked);
    assert_eq!(
        second.subject(),
        test_bus
            .names()
            .audit_subject(event.app_id, "grant_revoked")
    );
    second.ack().await.unwrap();

    test_bus.cleanup().await.unwrap();
}
