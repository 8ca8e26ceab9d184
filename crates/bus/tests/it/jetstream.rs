//! What only the JetStream adapter has: streams and consumers created at start, idempotently,
//! with the settings the design asks for; the envelope as NATS headers on the wire; payloads
//! of invalidations, which only NATS carries as bytes.

use std::time::Duration;

use alter_bus::testing::{TestBus, test_nats_url};
use alter_bus::{Bus, BusConfig, BusError, Invalidation, StreamKind, consumers, envelope};
use alter_core::AppId;
use async_nats::jetstream::{consumer::AckPolicy, stream::StorageType};
use opentelemetry::Context;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

use super::{is_decode_error, next, suspended};

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
async fn stream_replicas_are_asked_of_the_server_and_a_single_server_refusal_names_the_setting() {
    let bus = TestBus::new().await;
    let stream = bus
        .jetstream()
        .get_stream(bus.names().stream(StreamKind::Lifecycle))
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .config
        .clone();
    assert_eq!(stream.num_replicas, 1, "one copy by default");
    // A single nats-server cannot hold three copies: the start fails saying which setting.
    let err = Bus::connect(
        BusConfig::new(test_nats_url(), alter_bus::testing::unique_prefix()).with_replicas(3),
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(message.contains("nats.stream_replicas"), "{message}");
    assert!(message.contains("3 replicas"), "{message}");
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

#[tokio::test]
async fn streams_of_two_prefixes_have_different_names() {
    let a = TestBus::new().await;
    let b = TestBus::new().await;
    assert_ne!(
        a.names().stream(StreamKind::Lifecycle),
        b.names().stream(StreamKind::Lifecycle)
    );
    a.cleanup().await.unwrap();
    b.cleanup().await.unwrap();
}

#[tokio::test]
async fn the_envelope_travels_as_nats_headers() {
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

    let parent = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        "vendor=abc".parse::<TraceState>().unwrap(),
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
    bus.cleanup().await.unwrap();
}

#[tokio::test]
async fn malformed_invalidation_is_surfaced_and_the_stream_continues() {
    let bus = TestBus::new().await;
    let mut notices = bus.subscribe_invalidations().await.unwrap();
    let app = AppId::new();
    bus.client()
        .publish(
            bus.names().invalidation_subject(app),
            "{\"scope\":\"everything\"}".into(),
        )
        .await
        .unwrap();
    bus.publish_invalidation(app, Invalidation::All)
        .await
        .unwrap();

    let err = next(&mut notices).await.unwrap_err();
    assert!(is_decode_error(&err, "payload"), "{err}");
    assert_eq!(
        next(&mut notices).await.unwrap().invalidation,
        Invalidation::All
    );
    bus.cleanup().await.unwrap();
}
