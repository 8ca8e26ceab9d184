//! Cache invalidations reach every subscriber for every app; malformed ones are surfaced.

use alter_bus::Invalidation;
use alter_bus::testing::TestBus;
use alter_core::{AppId, UserId};

use super::{is_decode_error, next};

#[tokio::test]
async fn r_jwt_10_invalidations_reach_subscribers_for_every_app() {
    let bus = TestBus::new().await;
    let mut first = bus.subscribe_invalidations().await.unwrap();
    let mut second = bus.subscribe_invalidations().await.unwrap();
    let (app1, app2, user_id) = (AppId::new(), AppId::new(), UserId::new());

    bus.publish_invalidation(app1, Invalidation::User { user_id })
        .await
        .unwrap();
    bus.publish_invalidation(app2, Invalidation::All)
        .await
        .unwrap();

    for subscriber in [&mut first, &mut second] {
        let notice = next(subscriber).await.unwrap();
        assert_eq!(
            (notice.app_id, notice.invalidation),
            (app1, Invalidation::User { user_id })
        );
        let notice = next(subscriber).await.unwrap();
        assert_eq!(
            (notice.app_id, notice.invalidation),
            (app2, Invalidation::All)
        );
    }
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

/// A subscriber that falls behind loses core-NATS messages; the stream must say so, so the
/// verifier resynchronises instead of serving answers an invalidation it never saw would have
/// dropped (R-JWT-10).
#[tokio::test]
async fn r_jwt_10_a_slow_subscriber_is_told_that_invalidations_may_have_been_lost() {
    use futures::StreamExt;
    let bus = TestBus::new().await;
    let mut stream = bus.subscribe_invalidations().await.unwrap();
    let app = AppId::new();
    let subject = bus.names().invalidation_subject(app);
    let payload = bytes::Bytes::from_static(br#"{"scope":"all"}"#);
    // More than the client buffers for one subscription (65,536) while nobody reads.
    for _ in 0..100_000 {
        bus.client()
            .publish(subject.clone(), payload.clone())
            .await
            .unwrap();
    }
    bus.client().flush().await.unwrap();

    let mut delivered = 0usize;
    let lost = loop {
        let item = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
            .await
            .expect("the stream keeps yielding")
            .expect("the stream does not end");
        match item {
            Ok(_) => delivered += 1,
            Err(alter_bus::BusError::MessagesMayBeLost { reason }) => break reason,
            Err(other) => panic!("unexpected error: {other}"),
        }
        assert!(
            delivered <= 100_000,
            "all messages delivered and no loss reported"
        );
    };
    assert!(lost.contains("slow subscriber"), "{lost}");
    bus.cleanup().await.unwrap();
}
