//! Consuming: at-least-once delivery to durable consumers. Ack settles, an unsettled delivery
//! comes back after the ack wait, nak schedules it, `in_progress` holds it, term and
//! `max_deliver` end it, a poison message is terminated once; consumers with one name share
//! the work and each name gets everything.
//!
//! Cases that prove a message did *not* come back do so by order, not by waiting: a second
//! message is nak'd with a delay longer than the first one's redelivery would take, so if the
//! first came back it would arrive before the second.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use alter_bus::{AuditKind, AuditRecord, BusError, StreamKind, consumers};
use alter_core::{AppId, EventId, GrantId, Principal, UserId};
use futures::StreamExt;

use super::harness::{Adapter, Settings};
use super::{is_decode_error, next, next_delivery, suspended};

/// The ack wait of the redelivery cases.
const ACK_WAIT: Duration = Duration::from_millis(500);

contract!(
    acked_delivery_is_settled,
    nak_redelivers_the_same_event_at_once,
    nak_with_a_delay_redelivers_after_the_delay,
    an_unacked_delivery_is_redelivered_after_the_ack_wait,
    in_progress_restarts_the_ack_wait,
    a_terminated_message_is_never_redelivered,
    a_message_is_given_up_after_max_deliver_deliveries,
    poison_message_is_surfaced_and_terminated_not_redelivered,
    consumers_with_the_same_durable_name_share_the_work,
    each_durable_name_gets_every_message,
    a_consumer_created_later_starts_at_the_first_stored_message,
    audit_records_flow_to_the_audit_writer,
    an_invalid_durable_name_is_rejected,
);

/// Elapsed time that shows a timer ran (not less than 90% of it: clocks differ a little).
fn at_least(elapsed: Duration, timer: Duration) -> bool {
    elapsed >= timer.mul_f64(0.9)
}

async fn acked_delivery_is_settled(adapter: Adapter) {
    let h = adapter.start().await;
    let event = suspended(AppId::new());
    h.bus.publish_lifecycle(&event).await.unwrap();

    let mut deliveries = h
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.event, event);
    assert_eq!(delivery.delivery_count(), 1);
    assert_eq!(
        h.ack_pending(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
            .await,
        1
    );
    delivery.ack().await.unwrap();
    assert_eq!(
        h.ack_pending(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
            .await,
        0
    );
    h.cleanup().await;
}

async fn nak_redelivers_the_same_event_at_once(adapter: Adapter) {
    // The 30 s ack wait is longer than ARRIVAL: only the nak can bring it back in time.
    let h = adapter.start().await;
    let event = suspended(AppId::new());
    h.bus.publish_lifecycle(&event).await.unwrap();

    let mut deliveries = h
        .bus
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

    assert_eq!(
        h.ack_pending(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
            .await,
        0
    );
    h.cleanup().await;
}

async fn nak_with_a_delay_redelivers_after_the_delay(adapter: Adapter) {
    const DELAY: Duration = Duration::from_secs(1);
    let h = adapter.start().await;
    let app = AppId::new();
    let (a, b) = (suspended(app), suspended(app));
    h.bus
        .publish_lifecycle_batch(&[a.clone(), b.clone()])
        .await
        .unwrap();

    let mut deliveries = h
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let first = next_delivery(&mut deliveries).await;
    assert_eq!(first.event, a);
    let nakked = Instant::now();
    first.nak(Some(DELAY)).await.unwrap();

    let meanwhile = next_delivery(&mut deliveries).await;
    assert_eq!(
        meanwhile.event, b,
        "the delayed message waits; the next one does not"
    );
    meanwhile.ack().await.unwrap();

    let again = next_delivery(&mut deliveries).await;
    assert_eq!(again.event, a);
    assert_eq!(again.delivery_count(), 2);
    assert!(
        at_least(nakked.elapsed(), DELAY),
        "redelivered after {:?}, before the {DELAY:?} delay",
        nakked.elapsed()
    );
    again.ack().await.unwrap();
    h.cleanup().await;
}

async fn an_unacked_delivery_is_redelivered_after_the_ack_wait(adapter: Adapter) {
    let h = adapter.start_with(Settings::ack_wait(ACK_WAIT)).await;
    let event = suspended(AppId::new());
    h.bus.publish_lifecycle(&event).await.unwrap();

    let mut deliveries = h
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let first = next_delivery(&mut deliveries).await;
    let delivered = Instant::now();
    // Neither acked nor nak'd: the handler died, or is stuck.

    let again = next_delivery(&mut deliveries).await;
    assert_eq!(again.event, event);
    assert_eq!(again.delivery_count(), 2);
    assert_eq!(again.message_id(), first.message_id());
    assert!(
        at_least(delivered.elapsed(), ACK_WAIT),
        "redelivered after {:?}, before the ack wait",
        delivered.elapsed()
    );
    again.ack().await.unwrap();
    assert_eq!(
        h.ack_pending(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
            .await,
        0
    );
    h.cleanup().await;
}

async fn in_progress_restarts_the_ack_wait(adapter: Adapter) {
    let ack_wait = Duration::from_millis(800);
    let h = adapter.start_with(Settings::ack_wait(ack_wait)).await;
    let app = AppId::new();
    let (a, b) = (suspended(app), suspended(app));
    h.bus
        .publish_lifecycle_batch(&[a.clone(), b.clone()])
        .await
        .unwrap();

    let mut deliveries = h
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let working = next_delivery(&mut deliveries).await;
    assert_eq!(working.event, a);
    let abandoned = next_delivery(&mut deliveries).await;
    assert_eq!(abandoned.event, b);
    // Halfway through a's ack wait, its handler says it is still working: a's deadline moves
    // past b's, which was delivered just after a.
    tokio::time::sleep(ack_wait / 2).await;
    working.in_progress().await.unwrap();

    let first_back = next_delivery(&mut deliveries).await;
    assert_eq!(
        (first_back.event.event_id, first_back.delivery_count()),
        (b.event_id, 2),
        "b's ack wait ran out first: a's was restarted"
    );
    first_back.ack().await.unwrap();
    let second_back = next_delivery(&mut deliveries).await;
    assert_eq!(
        (second_back.event.event_id, second_back.delivery_count()),
        (a.event_id, 2),
        "in_progress does not settle the message"
    );
    second_back.ack().await.unwrap();
    h.cleanup().await;
}

async fn a_terminated_message_is_never_redelivered(adapter: Adapter) {
    let h = adapter.start_with(Settings::ack_wait(ACK_WAIT)).await;
    let app = AppId::new();
    let (a, b) = (suspended(app), suspended(app));
    h.bus
        .publish_lifecycle_batch(&[a.clone(), b.clone()])
        .await
        .unwrap();

    let mut deliveries = h
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let poison = next_delivery(&mut deliveries).await;
    assert_eq!(poison.event, a);
    poison.term().await.unwrap();
    let later = next_delivery(&mut deliveries).await;
    assert_eq!(later.event, b);
    later.nak(Some(ACK_WAIT * 3)).await.unwrap();

    let back = next_delivery(&mut deliveries).await;
    assert_eq!(
        (back.event.event_id, back.delivery_count()),
        (b.event_id, 2),
        "a terminated message would have come back one ack wait after its delivery, before b"
    );
    back.ack().await.unwrap();
    assert_eq!(
        h.ack_pending(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
            .await,
        0
    );
    h.cleanup().await;
}

async fn a_message_is_given_up_after_max_deliver_deliveries(adapter: Adapter) {
    let h = adapter
        .start_with(Settings {
            ack_wait: ACK_WAIT,
            max_deliver: 2,
        })
        .await;
    let app = AppId::new();
    let failing = suspended(app);
    h.bus.publish_lifecycle(&failing).await.unwrap();

    let mut deliveries = h
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let first = next_delivery(&mut deliveries).await;
    let second = next_delivery(&mut deliveries).await;
    assert_eq!(
        (first.event.event_id, first.delivery_count()),
        (failing.event_id, 1)
    );
    assert_eq!(
        (second.event.event_id, second.delivery_count()),
        (failing.event_id, 2)
    );
    // The second delivery's ack wait runs out too; a third must not follow.
    let later = suspended(app);
    h.bus.publish_lifecycle(&later).await.unwrap();
    let d = next_delivery(&mut deliveries).await;
    assert_eq!(d.event, later);
    d.nak(Some(ACK_WAIT * 3)).await.unwrap();

    let back = next_delivery(&mut deliveries).await;
    assert_eq!(
        (back.event.event_id, back.delivery_count()),
        (later.event_id, 2),
        "a third delivery of the failing message would have come first"
    );
    back.ack().await.unwrap();
    h.cleanup().await;
}

async fn poison_message_is_surfaced_and_terminated_not_redelivered(adapter: Adapter) {
    let h = adapter.start().await;
    let app = AppId::new();
    let subject = h.names().lifecycle_subject(app, "user_suspended");
    h.publish_raw(
        StreamKind::Lifecycle,
        subject,
        "not protobuf \u{ff}".as_bytes(),
    )
    .await;
    let good = suspended(app);
    h.bus.publish_lifecycle(&good).await.unwrap();

    let mut deliveries = h
        .bus
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

    assert_eq!(
        h.ack_pending(StreamKind::Lifecycle, consumers::GRANT_REVOKER)
            .await,
        0,
        "the poison message is terminated, not waiting for redelivery"
    );
    h.cleanup().await;
}

async fn consumers_with_the_same_durable_name_share_the_work(adapter: Adapter) {
    let h = adapter.start().await;
    let first = h.bus.lifecycle_consumer("shared").await.unwrap();
    let second = h.bus.lifecycle_consumer("shared").await.unwrap();
    let app = AppId::new();
    let events: Vec<_> = (0..40).map(|_| suspended(app)).collect();
    h.bus.publish_lifecycle_batch(&events).await.unwrap();

    let mut both = futures::stream::select(first.map(|d| (1, d)), second.map(|d| (2, d)));
    let mut seen = HashSet::new();
    let mut per_replica = [0usize; 2];
    while seen.len() < events.len() {
        let (replica, delivery) = next(&mut both).await;
        let delivery = delivery.unwrap();
        assert!(
            seen.insert(delivery.event.event_id),
            "{} was delivered twice (the second time to replica {replica})",
            delivery.event.event_id
        );
        assert_eq!(delivery.delivery_count(), 1);
        per_replica[replica - 1] += 1;
        delivery.ack().await.unwrap();
    }
    assert_eq!(per_replica.iter().sum::<usize>(), events.len());
    assert_eq!(h.ack_pending(StreamKind::Lifecycle, "shared").await, 0);
    h.cleanup().await;
}

async fn each_durable_name_gets_every_message(adapter: Adapter) {
    let h = adapter.start().await;
    let app = AppId::new();
    let events: Vec<_> = (0..5).map(|_| suspended(app)).collect();
    h.bus.publish_lifecycle_batch(&events).await.unwrap();

    for name in [consumers::GRANT_REVOKER, "another-service"] {
        let mut deliveries = h.bus.lifecycle_consumer(name).await.unwrap();
        for event in &events {
            let delivery = next_delivery(&mut deliveries).await;
            assert_eq!(&delivery.event, event, "consumer {name}");
            delivery.ack().await.unwrap();
        }
    }
    h.cleanup().await;
}

async fn a_consumer_created_later_starts_at_the_first_stored_message(adapter: Adapter) {
    let h = adapter.start().await;
    let app = AppId::new();
    let (early, late) = (suspended(app), suspended(app));
    h.bus.publish_lifecycle(&early).await.unwrap();
    let mut existing = h
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    next_delivery(&mut existing).await.ack().await.unwrap();
    h.bus.publish_lifecycle(&late).await.unwrap();

    let mut newcomer = h.bus.lifecycle_consumer("newcomer").await.unwrap();
    for event in [&early, &late] {
        let delivery = next_delivery(&mut newcomer).await;
        assert_eq!(&delivery.event, event);
        delivery.ack().await.unwrap();
    }
    h.cleanup().await;
}

async fn audit_records_flow_to_the_audit_writer(adapter: Adapter) {
    let h = adapter.start().await;
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
    let receipt = h.bus.publish_audit(&applied).await.unwrap();
    assert_eq!(receipt.stream, h.names().stream(StreamKind::Audit));
    assert!(!receipt.duplicate);
    assert!(!h.bus.publish_audit(&revoked).await.unwrap().duplicate);
    assert!(h.bus.publish_audit(&applied).await.unwrap().duplicate);
    assert_eq!(h.stored_messages(StreamKind::Audit).await, 2);
    assert_eq!(
        h.stored_messages(StreamKind::Lifecycle).await,
        0,
        "audit records have their own stream"
    );

    let mut records = h.bus.audit_consumer(consumers::AUDIT_WRITER).await.unwrap();
    let first = next_delivery(&mut records).await;
    assert_eq!(first.event, applied);
    assert_eq!(
        first.subject(),
        h.names().audit_subject(event.app_id, "user_suspended")
    );
    first.ack().await.unwrap();
    let second = next_delivery(&mut records).await;
    assert_eq!(second.event, revoked);
    assert_eq!(
        second.subject(),
        h.names().audit_subject(event.app_id, "grant_revoked")
    );
    second.ack().await.unwrap();
    assert_eq!(
        h.ack_pending(StreamKind::Audit, consumers::AUDIT_WRITER)
            .await,
        0
    );

    h.cleanup().await;
}

async fn an_invalid_durable_name_is_rejected(adapter: Adapter) {
    let h = adapter.start().await;
    for bad in ["grant.revoker", "", "a b"] {
        let Err(err) = h.bus.lifecycle_consumer(bad).await else {
            panic!("{bad:?} was accepted");
        };
        assert!(
            matches!(&err, BusError::Config(e) if e.field == "durable_name"),
            "{bad:?}: {err}"
        );
    }
    h.cleanup().await;
}
