//! Publishing waits for the stream's ack, dedupes by event ID, and carries the envelope.

use alter_bus::testing::TestBus;
use alter_bus::{StreamKind, consumers, envelope};
use alter_core::AppId;
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

use super::{membership_removed, next, next_delivery, stream_messages, suspended};

#[tokio::test]
async fn r_hook_06_redelivered_event_id_is_reported_duplicate_and_delivered_once() {
    let bus = TestBus::new().await;
    let first = suspended(AppId::new());

    let receipt = bus.publish_lifecycle(&first).await.unwrap();
    assert!(!receipt.duplicate);
    assert_eq!(receipt.stream, bus.names().stream(StreamKind::Lifecycle));
    assert_eq!(receipt.sequence, 1);

    // The provider retries: same event ID, within the duplicate window.
    let again = bus.publish_lifecycle(&first).await.unwrap();
    assert!(again.duplicate);
    assert_eq!(again.sequence, 1);
    assert_eq!(stream_messages(&bus, StreamKind::Lifecycle).await, 1);

    let second = membership_removed(first.app_id);
    assert_eq!(bus.publish_lifecycle(&second).await.unwrap().sequence, 2);

    let mut deliveries = bus
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

    bus.cleanup().await.unwrap();
}

#[tokio::test]
async fn batch_publish_returns_receipts_in_order_and_dedupes_a_retry() {
    let bus = TestBus::new().await;
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

    let receipts = bus.publish_lifecycle_batch(&events).await.unwrap();
    assert_eq!(receipts.len(), 600);
    for (i, receipt) in receipts.iter().enumerate() {
        assert_eq!(receipt.sequence, i as u64 + 1);
        assert!(!receipt.duplicate);
    }

    let retry = bus.publish_lifecycle_batch(&events).await.unwrap();
    assert!(retry.iter().all(|r| r.duplicate));
    assert_eq!(stream_messages(&bus, StreamKind::Lifecycle).await, 600);

    bus.cleanup().await.unwrap();
}

#[tokio::test]
async fn headers_carry_the_envelope_and_trace_context_round_trips() {
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    let bus = TestBus::new().await;
    let event = suspended(AppId::new());
    let subject = bus
        .names()
        .lifecycle_subject(event.app_id, "user_suspended");

    // A plain NATS subscriber sees exactly what went on the wire.
    let mut wire = bus.client().subscribe(subject.clone()).await.unwrap();
    bus.client().flush().await.unwrap();

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
    bus.publish_lifecycle(&event)
        .with_context(cx)
        .await
        .unwrap();

    let raw = next(&mut wire).await;
    let headers = raw.headers.expect("headers");
    let header = |name: &str| headers.get(name).map(|v| v.as_str().to_owned());
    let event_id = event.event_id.to_string();
    assert_eq!(header(envelope::MSG_ID).as_deref(), Some(event_id.as_str()));
    assert_eq!(header(envelope::APP_ID), Some(event.app_id.to_string()));
    assert_eq!(header(envelope::SOURCE).as_deref(), Some("webhook"));
    assert_eq!(
        header(envelope::EVENT_KIND).as_deref(),
        Some("user_suspended")
    );
    assert_eq!(
        header(envelope::TRACEPARENT).as_deref(),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    );
    assert_eq!(header(envelope::TRACESTATE).as_deref(), Some("vendor=abc"));

    let mut deliveries = bus.lifecycle_consumer("header-check").await.unwrap();
    let delivery = next_delivery(&mut deliveries).await;
    assert_eq!(delivery.subject(), subject);
    assert_eq!(delivery.message_id(), Some(event_id.as_str()));
    assert_eq!(delivery.headers().get(envelope::SOURCE), Some("webhook"));
    let received = delivery.trace_context();
    let received = received.span().span_context().clone();
    assert_eq!(received.trace_id(), trace_id);
    assert_eq!(received.span_id(), span_id);
    assert!(received.is_remote() && received.is_sampled());
    assert_eq!(received.trace_state(), &trace_state);
    delivery.ack().await.unwrap();

    bus.cleanup().await.unwrap();
}

#[tokio::test]
async fn two_prefixes_are_isolated_from_each_other() {
    let a = TestBus::new().await;
    let b = TestBus::new().await;
    assert_ne!(
        a.names().stream(StreamKind::Lifecycle),
        b.names().stream(StreamKind::Lifecycle)
    );
    let app = AppId::new();
    let for_a = suspended(app);
    let for_b = suspended(app);

    a.publish_lifecycle(&for_a).await.unwrap();
    assert_eq!(stream_messages(&b, StreamKind::Lifecycle).await, 0);
    b.publish_lifecycle(&for_b).await.unwrap();

    let mut on_b = b
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let got = next_delivery(&mut on_b).await;
    assert_eq!(got.event, for_b);
    got.ack().await.unwrap();
    let mut on_a = a
        .lifecycle_consumer(consumers::GRANT_REVOKER)
        .await
        .unwrap();
    let got = next_delivery(&mut on_a).await;
    assert_eq!(got.event, for_a);
    got.ack().await.unwrap();
    assert_eq!(stream_messages(&a, StreamKind::Lifecycle).await, 1);
    assert_eq!(stream_messages(&b, StreamKind::Lifecycle).await, 1);

    // Invalidations too: b's subscriber sees b's notice first, never a's.
    let mut b_invalidations = b.subscribe_invalidations().await.unwrap();
    a.publish_invalidation(app, alter_bus::Invalidation::All)
        .await
        .unwrap();
    let other = AppId::new();
    b.publish_invalidation(other, alter_bus::Invalidation::All)
        .await
        .unwrap();
    assert_eq!(next(&mut b_invalidations).await.unwrap().app_id, other);

    a.cleanup().await.unwrap();
    b.cleanup().await.unwrap();
}
