//! Cache invalidations reach every subscriber for every app; a subscriber that falls behind
//! is told it may have missed some (R-JWT-10).

use alter_bus::{BusError, Invalidation};
use alter_core::{AppId, UserId};

use super::harness::Adapter;
use super::next;

contract!(
    r_jwt_10_invalidations_reach_subscribers_for_every_app,
    r_jwt_10_a_slow_subscriber_is_told_that_invalidations_may_have_been_lost,
);

async fn r_jwt_10_invalidations_reach_subscribers_for_every_app(adapter: Adapter) {
    let h = adapter.start().await;
    let mut first = h.bus.subscribe_invalidations().await.unwrap();
    let mut second = h.bus.subscribe_invalidations().await.unwrap();
    let (app1, app2, user_id) = (AppId::new(), AppId::new(), UserId::new());

    h.bus
        .publish_invalidation(app1, Invalidation::User { user_id })
        .await
        .unwrap();
    h.bus
        .publish_invalidation(app2, Invalidation::All)
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
    h.cleanup().await;
}

/// A subscriber that falls behind loses invalidations; the stream must say so, so the
/// verifier resynchronises instead of serving answers an invalidation it never saw would have
/// dropped, and then go on.
async fn r_jwt_10_a_slow_subscriber_is_told_that_invalidations_may_have_been_lost(
    adapter: Adapter,
) {
    let h = adapter.start().await;
    let mut stream = h.bus.subscribe_invalidations().await.unwrap();
    let published = h.overwhelm_invalidations(AppId::new()).await;

    let mut delivered = 0usize;
    let lost = loop {
        match next(&mut stream).await {
            Ok(_) => delivered += 1,
            Err(BusError::MessagesMayBeLost { reason }) => break reason,
            Err(other) => panic!("unexpected error: {other}"),
        }
        assert!(
            delivered < published,
            "all messages delivered and no loss reported"
        );
    };
    assert!(lost.contains("slow subscriber"), "{lost}");
    assert!(
        next(&mut stream).await.is_ok(),
        "the stream goes on with what it still holds"
    );
    h.cleanup().await;
}
