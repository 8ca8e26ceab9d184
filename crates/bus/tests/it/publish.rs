//! Publishing stores the event before returning, dedupes by event ID, and carries the envelope.

use alter_bus::{Invalidation, StreamKind, consumers, envelope};
use alter_core::AppId;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

use super::harness::Adapter;
use super::{membership_removed, next, next_delivery, suspended};

contract!(
    r_hook_06_redelivered_event_id_is_reported_duplicate_and_delivered_once,
    batch_publish_returns_receipts_in_order_and_dedupes_a_retry,
    headers_carry_the_envelope_and_trace_context_round_trips,
    two_buses_are_isolated_from_each_other,
);

async fn r_hook_06_redelivered_event_id_is_reported_duplicate_and_delivered_once(adapter: Adapter) {
    let h = adapter.start().await;
    let first = suspended(AppId::new());

    let receipt = h.bus.publish_lifecycle(&first).await.unwrap();
    assert!(!receipt.duplicate);
    assert_eq!(receipt.stream, h.names().stream(StreamKind::Lifecycle));
    assert_eq!(receipt.sequence, 1);

    // The provider retries: same event ID, within the duplicate window.
    let again = h.bus.publish_lifecycle(&first).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(
        again.sequence, 1,
        "a duplicate reports the original's sequence"
    );
    assert_eq!(h.stored_messages(StreamKind::Lifecycle).await, 1);

    let second = membership_removed(first.app_id);
    assert_eq!(h.bus.publish_lifecycle(&second).await.unwrap().sequence, 2);

    let mut deliveries = h
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let d1 = next_delivery(&mut deliveries).await;
    assert_eq!(d1.event, first);
    d1.ack().await.unwrap();
    let d2 = next_delivery(&mut deliveries).await;
    assert_eq!(
        d2.event, second,
        "the duplicate must not be delivered a second time"
    );
    d2.ack().await.unwrap();

    h.cleanup().await;
}

async fn batch_publish_returns_receipts_in_order_and_dedupes_a_retry(adapter: Adapter) {
    let h = adapter.start().await;
    let app = AppId::new();
    let events: Vec<_> = (0..600)
        .map(|i| {
            if i % 2 == 0 {
                suspended(app)
            } else {
                membership_removed(app)
            }
        })
        .collect();

    let receipts = h.bus.publish_lifecycle_batch(&events).await.unwrap();
    assert_eq!(receipts.len(), 600);
    for (i, receipt) in receipts.iter().enumerate() {
        assert_eq!(receipt.sequence, i as u64 + 1);
        assert!(!receipt.duplicate);
    }

    let retry = h.bus.publish_lifecycle_batch(&events).await.unwrap();
    assert!(retry.iter().all(|r| r.duplicate));
    assert_eq!(
        retry.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        receipts.iter().map(|r| r.sequence).collect::<Vec<_>>(),
        "each duplicate reports its original"
    );
    assert_eq!(h.stored_messages(StreamKind::Lifecycle).await, 600);

    // The same event twice in one batch: stored once.
    let new = suspended(app);
    let twice = h
        .bus
        .publish_lifecycle_batch(&[new.clone(), new])
        .await
        .unwrap();
    assert_eq!(
        twice
            .iter()
            .map(|r| (r.sequence, r.duplicate))
            .collect::<Vec<_>>(),
        [(601, false), (601, true)]
    );
    assert!(h.bus.publish_lifecycle_batch(&[]).await.unwrap().is_empty());

    h.cleanup().await;
}

async fn headers_carry_the_envelope_and_trace_context_round_trips(adapter: Adapter) {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let h = adapter.start().await;
    let event = suspended(AppId::new());

    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
    let span_id = SpanId::from_hex("00f067aa0ba902b7").unwrap();
    let trace_state: TraceState = "vendor=abc".parse().unwrap();
    let parent = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::SAMPLED,
        true,
        trace_state.clone(),
    );
    let cx = Context::current().with_remote_span_context(parent);
    h.bus
        .publish_lifecycle(&event)
        .with_context(cx)
        .await
        .unwrap();

    let mut deliveries = h.bus.lifecycle_consumer("header-check").await.unwrap();
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(
        delivery.subject(),
        h.names().lifecycle_subject(event.app_id, "user_suspended")
    );
    let event_id = event.event_id.to_string();
    let app_id = event.app_id.to_string();
    assert_eq!(delivery.message_id(), Some(event_id.as_str()));
    let headers = delivery.headers();
    assert_eq!(headers.get(envelope::MSG_ID), Some(event_id.as_str()));
    assert_eq!(headers.get(envelope::APP_ID), Some(app_id.as_str()));
    assert_eq!(headers.get(envelope::SOURCE), Some("webhook"));
    assert_eq!(headers.get(envelope::EVENT_KIND), Some("user_suspended"));
    assert_eq!(
        headers.get(envelope::TRACEPARENT),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert_eq!(headers.get(envelope::TRACESTATE), Some("vendor=abc"));
    let received = delivery.trace_context();
    let received = received.span().span_context().clone();
    assert_eq!(received.trace_id(), trace_id);
    assert_eq!(received.span_id(), span_id);
    assert!(received.is_remote() && received.is_sampled());
    assert_eq!(received.trace_state(), &trace_state);
    delivery.ack().await.unwrap();

    h.cleanup().await;
}

async fn two_buses_are_isolated_from_each_other(adapter: Adapter) {
    let a = adapter.start().await;
    let b = adapter.start().await;
    let app = AppId::new();
    let for_a = suspended(app);
    let for_b = suspended(app);

    a.bus.publish_lifecycle(&for_a).await.unwrap();
    assert_eq!(b.stored_messages(StreamKind::Lifecycle).await, 0);
    b.bus.publish_lifecycle(&for_b).await.unwrap();

    let mut on_b = b
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let got = next_delivery(&mut on_b).await;
    assert_eq!(got.event, for_b);
    got.ack().await.unwrap();
    let mut on_a = a
        .bus
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let got = next_delivery(&mut on_a).await;
    assert_eq!(got.event, for_a);
    got.ack().await.unwrap();
    assert_eq!(a.stored_messages(StreamKind::Lifecycle).await, 1);
    assert_eq!(b.stored_messages(StreamKind::Lifecycle).await, 1);

    // Invalidations too: b's subscriber sees b's notice first, never a's.
    let mut b_invalidations = b.bus.subscribe_invalidations().await.unwrap();
    a.bus
        .publish_invalidation(app, Invalidation::All)
        .await
        .unwrap();
    let other = AppId::new();
    b.bus
        .publish_invalidation(other, Invalidation::All)
        .await
        .unwrap();
    assert_eq!(next(&mut b_invalidations).await.unwrap().app_id, other);

    a.cleanup().await;
    b.cleanup().await;
}
