//! Failures of the database: an outage holds the event and applies it once the database is
//! back, without a redelivery; any other failure hands it back for a delayed redelivery.
//! Nothing is lost, nothing is applied twice.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alter_bus::consumers::GRANT_REVOKER;
use alter_bus::{EventBus, StreamKind};
use alter_core::{IdpKind, LifecycleEvent, LifecycleKind, Principal, UserStatus};
use alter_grant_revoker::{Outcome, Revoker, Settings};
use alter_runtime::CancellationToken;
use alter_store::{
    Applied, Effects, GrantStore, LifecycleChange, LifecycleStore, PgStore, StoreError,
    StoreResult, UserStore,
};
use async_trait::async_trait;

use crate::support::{Kit, user_ref, wait_for, wait_settled};

/// The real store behind `failures` failures made by `error`.
struct FailingFirst {
    inner: PgStore,
    failures: AtomicUsize,
    error: fn() -> StoreError,
    calls: AtomicUsize,
}

#[async_trait]
impl LifecycleStore for FailingFirst {
    async fn apply_lifecycle(
        &self,
        event: &LifecycleEvent,
        consumer: &str,
        effects: Effects<'_, LifecycleChange>,
    ) -> StoreResult<Applied> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err((self.error)());
        }
        self.inner.apply_lifecycle(event, consumer, effects).await
    }
}

/// How many deliveries the consumer has made (a redelivery counts again).
async fn deliveries(kit: &Kit) -> u64 {
    let bus = &kit.env.bus;
    let stream = bus
        .jetstream()
        .get_stream(bus.names().stream(StreamKind::Lifecycle))
        .await
        .unwrap();
    stream
        .consumer_info(GRANT_REVOKER)
        .await
        .unwrap()
        .delivered
        .consumer_sequence
}

async fn deprovision_through(kit: &Kit, store: Arc<FailingFirst>) -> alter_grant_revoker::Tally {
    let ann = kit.user("00u_ann").await;
    let grant = kit.grant("ann-1", Principal::User(ann)).await;
    let bus: Arc<dyn EventBus> = Arc::new(kit.env.bus.bus().clone());
    let revoker = Revoker::new(
        store,
        &Settings {
            retry_delay_ms: 20,
            max_retry_delay_ms: 100,
            ..Settings::default()
        },
    );
    let tally = revoker.tally();
    let deliveries = Revoker::open(bus.as_ref()).await.unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(revoker.run(bus, deliveries, shutdown.clone()));
    let e = kit.event(
        10,
        LifecycleKind::UserDeprovisioned {
            user: user_ref("00u_ann"),
        },
    );
    kit.env.bus.publish_lifecycle(&e).await.unwrap();
    wait_for(&tally, Outcome::Applied, 1).await;
    wait_settled(&kit.env.bus, Duration::from_secs(10)).await;
    shutdown.cancel();
    task.await.unwrap();
    let user = kit.store.get_user(kit.app, ann).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Deprovisioned);
    let stored = kit
        .store
        .get_grant(kit.app, grant.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked_at.is_some());
    assert_eq!(kit.outbox_rows("audit", e.event_id.as_uuid()).await, 1);
    tally
}

#[tokio::test]
async fn a_database_outage_holds_the_event_and_applies_it_once_the_database_is_back() {
    let kit = Kit::new(IdpKind::Okta).await;
    let store = Arc::new(FailingFirst {
        inner: kit.store.clone(),
        failures: AtomicUsize::new(5),
        error: || StoreError::Database(sqlx::Error::PoolTimedOut),
        calls: AtomicUsize::new(0),
    });
    let tally = deprovision_through(&kit, store.clone()).await;
    assert_eq!(tally.get(Outcome::Failed), 5);
    assert_eq!(tally.get(Outcome::Applied), 1);
    assert_eq!(store.calls.load(Ordering::SeqCst), 6);
    assert_eq!(deliveries(&kit).await, 1, "kept, not redelivered");
    kit.finish().await;
}

#[tokio::test]
async fn an_unexpected_failure_hands_the_event_back_and_its_redelivery_applies_it() {
    let kit = Kit::new(IdpKind::Okta).await;
    // Neither an outage nor an impossible event: something unforeseen.
    let store = Arc::new(FailingFirst {
        inner: kit.store.clone(),
        failures: AtomicUsize::new(1),
        error: || StoreError::Database(sqlx::Error::RowNotFound),
        calls: AtomicUsize::new(0),
    });
    let tally = deprovision_through(&kit, store.clone()).await;
    assert_eq!(tally.get(Outcome::Failed), 1);
    assert_eq!(tally.get(Outcome::Applied), 1);
    assert_eq!(store.calls.load(Ordering::SeqCst), 2);
    assert_eq!(deliveries(&kit).await, 2, "handed back and redelivered");
    kit.finish().await;
}
