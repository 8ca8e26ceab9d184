//! The seams the lifecycle builds on: caches that are really used (and bypassed when they
//! cannot be trusted), a maximum age behind event invalidation, invalidations that travel
//! with the change through the outbox, and grant changes that never cost the IDP's keys.

use std::sync::Arc;
use std::time::Duration;

use alter_bus::{EventBus, Invalidation};
use alter_core::EventSource;
use alter_core::{Principal, UserId};
use alter_idp_sim::{Fault, TenantKind};
use alter_runtime::outbox::{OutboxRelay, RelaySettings, invalidation_message};
use alter_store::{GrantStore, NewGrant, OutboxStore, OutboxTopic, RevokedBy, Store};
use serde_json::json;

use crate::support::{Harness, mappings};

fn user_of(answer: &alter_proto::identity::v1::VerifyResponse) -> UserId {
    UserId::parse("id", &answer.user.as_ref().expect("user").id).expect("user id")
}

fn system_grant(credential: &str) -> NewGrant {
    NewGrant {
        credential_ref: credential.to_owned(),
        principal: Principal::System,
        expires_at: None,
    }
}

fn credentials(answer: &alter_proto::identity::v1::VerifyResponse) -> Vec<String> {
    answer
        .grants
        .iter()
        .map(|g| g.credential_ref.clone())
        .collect()
}

#[tokio::test]
async fn r_jwt_10_warm_calls_are_answered_from_the_caches_without_database_reads() {
    let h = Harness::start().await;
    let app = h.app("warm", TenantKind::Clerk, mappings()).await;
    let token = h.mint(&app, "user_warm", &[]);
    h.verify(app.id, &token).await.expect("first call");
    let cold = h.verifier.cache_stats();
    assert_eq!((cold.user_reads, cold.token_hits), (1, 0), "{cold:?}");

    for _ in 0..5 {
        h.verify(app.id, &token).await.expect("warm call");
    }
    let warm = h.verifier.cache_stats();
    assert_eq!(warm.token_hits, 5, "{warm:?}");
    assert_eq!(
        warm.user_reads, 1,
        "no warm call read the database: {warm:?}"
    );
    assert_eq!(warm.idp_reads, 1, "{warm:?}");

    // Another token of the same user: verified again, but the user comes from memory.
    let second = h.mint(&app, "user_warm", &[("jti", json!("second"))]);
    h.verify(app.id, &second).await.expect("second token");
    let shared = h.verifier.cache_stats();
    assert_eq!((shared.user_hits, shared.user_reads), (1, 1), "{shared:?}");
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_10_while_invalidations_are_not_received_every_call_reads_the_database() {
    let h = Harness::start().await;
    let app = h.app("notlive", TenantKind::Clerk, mappings()).await;
    let token = h.mint(&app, "user_nl", &[]);
    h.verify(app.id, &token).await.expect("first call");
    assert!(h.verifier.is_live());

    h.verifier.set_live(false);
    let before = h.verifier.cache_stats();
    for _ in 0..3 {
        h.verify(app.id, &token)
            .await
            .expect("answered from the database");
    }
    let after = h.verifier.cache_stats();
    assert_eq!(after.token_hits, before.token_hits, "{after:?}");
    assert_eq!(after.user_hits, before.user_hits, "{after:?}");
    assert_eq!(after.user_reads, before.user_reads + 3, "{after:?}");
    assert_eq!(after.idp_reads, before.idp_reads + 3, "{after:?}");

    // A grant made without any invalidation shows at once: nothing stale is served.
    h.store()
        .create_grant(app.id, &system_grant("db:not-live"))
        .await
        .unwrap();
    let answer = h.verify(app.id, &token).await.unwrap();
    assert_eq!(credentials(&answer), ["db:not-live"]);
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_10_a_cached_user_older_than_the_maximum_age_is_read_again() {
    let h = Harness::start_with(|c| c.jwt_verifier.cache_max_age_secs = 1).await;
    let app = h.app("maxage", TenantKind::Clerk, mappings()).await;
    let token = h.mint(&app, "user_age", &[]);
    assert!(credentials(&h.verify(app.id, &token).await.unwrap()).is_empty());

    // A change whose invalidation was lost: only the maximum age can bring it in.
    h.store()
        .create_grant(app.id, &system_grant("db:late"))
        .await
        .unwrap();
    let cached = h.verify(app.id, &token).await.unwrap();
    assert!(credentials(&cached).is_empty(), "still the cached answer");
    assert_eq!(h.verifier.cache_stats().user_reads, 1);

    // The maximum age itself is what is tested here: wait past it.
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let fresh = h.verify(app.id, &token).await.unwrap();
    assert_eq!(credentials(&fresh), ["db:late"]);
    assert_eq!(h.verifier.cache_stats().user_reads, 2);
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_05_a_grant_change_while_the_jwks_is_down_leaves_tokens_verifying() {
    let h = Harness::start().await;
    let app = h.app("keys", TenantKind::Clerk, mappings()).await;
    h.verify(app.id, &h.mint(&app, "user_k", &[]))
        .await
        .expect("keys fetched");
    h.sim
        .inject_fault(&app.tenant, Fault::JwksDown { down: true })
        .unwrap();

    // What config-api sends for a group or system grant: the keys stay.
    h.invalidate(app.id, Invalidation::AppGrants).await;
    let fresh = h.mint(&app, "user_k", &[("jti", json!("after-grant-change"))]);
    h.verify(app.id, &fresh)
        .await
        .expect("a new token still verifies with the cached keys");

    // Only a configuration change forgets them, and with the JWKS down that is felt.
    h.invalidate(app.id, Invalidation::IdpConfig).await;
    let after_config = h.mint(&app, "user_k", &[("jti", json!("after-config-change"))]);
    assert!(h.verify(app.id, &after_config).await.is_err());
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_10_an_invalidation_left_in_the_outbox_reaches_the_verifier_once_a_relay_runs() {
    // No relay in the verifier: the state after a writer committed and died before publishing.
    let h = Harness::start_with(|c| c.common.outbox.relay = false).await;
    let app = h.app("outbox", TenantKind::Clerk, mappings()).await;
    let token = h.mint(&app, "user_ob", &[]);
    let user = user_of(&h.verify(app.id, &token).await.unwrap());
    let store = h.store();
    let grant = store
        .create_grant(
            app.id,
            &NewGrant {
                credential_ref: "db:orders".into(),
                principal: Principal::User(user),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    h.invalidate(app.id, Invalidation::User { user_id: user })
        .await;
    assert_eq!(
        credentials(&h.verify(app.id, &token).await.unwrap()),
        ["db:orders"]
    );

    // The first sign-in's audit record waits there too (no relay in this process).
    let waiting = store.outbox_backlog().await.unwrap().pending;
    let by = RevokedBy::new(EventSource::Admin, "admin");
    store
        .revoke_grant_with(app.id, grant.id, &by, &|g: &alter_store::Grant| {
            vec![invalidation_message(
                g.app_id,
                Invalidation::User { user_id: user },
            )]
        })
        .await
        .unwrap()
        .expect("revoked");
    assert_eq!(store.outbox_backlog().await.unwrap().pending, waiting + 1);
    assert_eq!(
        credentials(&h.verify(app.id, &token).await.unwrap()),
        ["db:orders"],
        "nothing was published yet: the cached answer stands"
    );

    let mut applied = h.verifier.invalidations_applied();
    let before = *applied.borrow_and_update();
    let store: Arc<dyn Store> = Arc::new(store);
    let bus: Arc<dyn EventBus> = Arc::new(h.env.bus.bus().clone());
    let relay = OutboxRelay::new(store.clone(), bus, RelaySettings::default());
    assert_eq!(relay.publish_pending().await.unwrap() as i64, waiting + 1);
    tokio::time::timeout(Duration::from_secs(5), applied.wait_for(|n| *n > before))
        .await
        .expect("the invalidation arrives")
        .unwrap();
    assert!(credentials(&h.verify(app.id, &token).await.unwrap()).is_empty());
    assert_eq!(store.outbox_backlog().await.unwrap().pending, 0);
    assert_eq!(relay.publish_pending().await.unwrap(), 0, "published once");
    h.stop().await;
}

#[tokio::test]
async fn r_jwt_06_a_first_sign_in_writes_its_audit_record_in_the_same_transaction() {
    let h = Harness::start_with(|c| c.common.outbox.relay = false).await;
    let app = h.app("jitaudit", TenantKind::Clerk, mappings()).await;
    let token = h.mint(&app, "user_jit", &[]);
    let user = user_of(&h.verify(app.id, &token).await.unwrap());
    // A second token of the same user provisions nothing new.
    h.verify(
        app.id,
        &h.mint(&app, "user_jit", &[("jti", json!("again"))]),
    )
    .await
    .unwrap();
    let store = h.store();
    let pending = store
        .lease_outbox(100, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let message = &pending[0].message;
    assert_eq!(
        (message.topic, message.app_id),
        (OutboxTopic::Audit, app.id)
    );
    let record = alter_bus::audit::decode_audit(&message.payload).unwrap();
    assert_eq!(record.subject_token(), "user_provisioned");
    assert_eq!(record.source, EventSource::Jwt);
    match record.kind {
        alter_bus::AuditKind::Lifecycle(alter_core::LifecycleKind::UserProvisioned {
            user: provisioned,
            ..
        }) => assert_eq!(provisioned.user_id, Some(user)),
        other => panic!("expected user_provisioned, got {other:?}"),
    }
    h.stop().await;
}
