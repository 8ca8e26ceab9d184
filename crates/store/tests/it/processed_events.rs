//! Processed event IDs make consumers idempotent.

use alter_core::EventId;

use crate::support::{TestStore, contract_tests};

async fn r_hook_06_an_event_is_processed_once_per_consumer(t: TestStore) {
    let app = t.store.create_app("consumers").await.unwrap().id;
    let other_app = t.store.create_app("other").await.unwrap().id;
    let event = EventId::new();

    assert!(
        !t.store
            .is_processed(app, "grant-revoker", event)
            .await
            .unwrap()
    );
    assert!(
        t.store
            .mark_processed(app, "grant-revoker", event)
            .await
            .unwrap(),
        "first delivery"
    );
    assert!(
        !t.store
            .mark_processed(app, "grant-revoker", event)
            .await
            .unwrap(),
        "redelivery is seen"
    );
    assert!(
        t.store
            .is_processed(app, "grant-revoker", event)
            .await
            .unwrap()
    );
    // Each consumer and each app keeps its own record.
    assert!(
        t.store
            .mark_processed(app, "audit-writer", event)
            .await
            .unwrap()
    );
    assert!(
        !t.store
            .is_processed(other_app, "grant-revoker", event)
            .await
            .unwrap()
    );
    t.finish().await;
}

contract_tests!(r_hook_06_an_event_is_processed_once_per_consumer,);
