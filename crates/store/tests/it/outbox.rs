//! The outbox: side effects are written with the change or not at all, relays lease them
//! without handing one message to two relays, and request keys make creates retry-safe.

use std::time::Duration;

use alter_core::{AppId, EventSource, IdpKind, Principal};
use alter_store::{
    MembershipDiff, NewGrant, OutboxMessage, OutboxTopic, RequestKey, RevokedBy, StoreError,
};
use uuid::Uuid;

use crate::support::{TestStore, contract_tests, ext_user};

fn message(app: AppId, topic: OutboxTopic, payload: &str) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        app_id: app,
        topic,
        payload: payload.as_bytes().to_vec(),
    }
}

fn system_grant(credential: &str) -> NewGrant {
    NewGrant {
        credential_ref: credential.to_owned(),
        principal: Principal::System,
        expires_at: None,
    }
}

const LEASE: Duration = Duration::from_secs(30);

async fn effects_are_written_with_the_change_and_only_when_it_changed_something(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let grant = t
        .store
        .create_grant_with(
            app,
            &system_grant("db:a"),
            None,
            &|g: &alter_store::Grant| vec![message(g.app_id, OutboxTopic::Invalidation, "created")],
        )
        .await
        .unwrap();
    let by = RevokedBy::new(EventSource::Admin, "admin");
    let effects = |g: &alter_store::Grant| vec![message(g.app_id, OutboxTopic::Audit, "revoked")];
    assert!(
        t.store
            .revoke_grant_with(app, grant.id, &by, &effects)
            .await
            .unwrap()
            .is_some()
    );
    // A second revocation changes nothing, so it writes nothing.
    assert!(
        t.store
            .revoke_grant_with(app, grant.id, &by, &effects)
            .await
            .unwrap()
            .is_none()
    );
    // A JIT upsert of a known user writes nothing; of a new one, its effects.
    let jit = alter_store::UserUpsert::jit(ext_user("u1"), None, None);
    let provisioned = |u: &alter_store::UpsertedUser| {
        if u.created {
            vec![message(u.user.app_id, OutboxTopic::Audit, "provisioned")]
        } else {
            Vec::new()
        }
    };
    t.store
        .upsert_user_with(app, idp, &jit, &provisioned)
        .await
        .unwrap();
    t.store
        .upsert_user_with(app, idp, &jit, &provisioned)
        .await
        .unwrap();
    // Memberships: effects only when the set changed.
    let user = t.user(app, idp, "u1").await;
    let group = t.group(app, "org_1").await;
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let membership = |d: &MembershipDiff| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        vec![message(
            app,
            OutboxTopic::Audit,
            &format!("+{} -{}", d.added.len(), d.removed.len()),
        )]
    };
    for _ in 0..2 {
        t.store
            .replace_user_memberships_with(app, user, &[group], EventSource::Jwt, None, &membership)
            .await
            .unwrap();
    }
    let removed = t
        .store
        .replace_user_memberships_with(app, user, &[], EventSource::Jwt, None, &membership)
        .await
        .unwrap();
    assert_eq!(removed.removed, [group]);
    assert_eq!(removed.removed_external_ids[0].as_str(), "org_1");
    assert_eq!(calls.load(std::sync::atomic::Ordering::Relaxed), 2);

    let pending = t.store.lease_outbox(100, LEASE).await.unwrap();
    let payloads: Vec<String> = pending
        .iter()
        .map(|p| String::from_utf8(p.message.payload.clone()).unwrap())
        .collect();
    assert_eq!(
        payloads,
        ["created", "revoked", "provisioned", "+1 -0", "+0 -1"]
    );
    assert!(
        pending.windows(2).all(|w| w[0].seq < w[1].seq),
        "in commit order"
    );
}

async fn a_change_that_fails_writes_no_effects(t: TestStore) {
    let (app, _) = t.app_with_idp(IdpKind::Clerk).await;
    let missing_user = NewGrant {
        principal: Principal::User(alter_core::UserId::new()),
        ..system_grant("db:x")
    };
    let result = t
        .store
        .create_grant_with(app, &missing_user, None, &|g: &alter_store::Grant| {
            vec![message(g.app_id, OutboxTopic::Audit, "never")]
        })
        .await;
    assert!(
        matches!(result, Err(StoreError::NotFound { .. })),
        "{result:?}"
    );
    assert_eq!(t.store.outbox_backlog().await.unwrap().pending, 0);
}

async fn relays_share_the_outbox_and_a_released_or_expired_lease_is_taken_again(t: TestStore) {
    let (app, _) = t.app_with_idp(IdpKind::Clerk).await;
    for i in 0..10 {
        t.store
            .create_grant_with(
                app,
                &system_grant(&format!("db:{i}")),
                None,
                &|g: &alter_store::Grant| {
                    vec![message(
                        g.app_id,
                        OutboxTopic::Invalidation,
                        &g.credential_ref,
                    )]
                },
            )
            .await
            .unwrap();
    }
    let backlog = t.store.outbox_backlog().await.unwrap();
    assert_eq!(backlog.pending, 10);
    assert!(backlog.oldest.is_some());

    // Two relays at once never get the same message.
    let (a, b) = tokio::join!(
        t.store.lease_outbox(6, LEASE),
        t.store.lease_outbox(6, LEASE)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut seqs: Vec<i64> = a.iter().chain(&b).map(|p| p.seq).collect();
    assert_eq!(seqs.len(), 10, "all leased between them");
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 10, "none twice");
    assert!(
        t.store.lease_outbox(10, LEASE).await.unwrap().is_empty(),
        "all leased"
    );

    // A published batch is done; a failed one is given back and taken again at once.
    let (sent, failed): (Vec<i64>, Vec<i64>) = (
        a.iter().map(|p| p.seq).collect(),
        b.iter().map(|p| p.seq).collect(),
    );
    t.store.mark_outbox_sent(&sent).await.unwrap();
    t.store.release_outbox(&failed).await.unwrap();
    let again = t
        .store
        .lease_outbox(10, Duration::from_millis(1))
        .await
        .unwrap();
    assert_eq!(again.iter().map(|p| p.seq).collect::<Vec<_>>(), failed);
    assert!(again.iter().all(|p| p.attempts == 2), "{again:?}");
    // A lease that ran out (its relay died) is taken again by another relay.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let taken = t.store.lease_outbox(10, LEASE).await.unwrap();
    assert_eq!(taken.len(), failed.len());
    t.store.mark_outbox_sent(&failed).await.unwrap();
    assert_eq!(t.store.outbox_backlog().await.unwrap().pending, 0);
    let purged = t
        .store
        .purge_outbox(chrono::Utc::now() + chrono::Duration::seconds(1))
        .await
        .unwrap();
    assert_eq!(purged, 10);
}

async fn a_request_key_returns_the_first_result_and_refuses_other_parameters(t: TestStore) {
    let (app, _) = t.app_with_idp(IdpKind::Clerk).await;
    let key = RequestKey::parse("request_id", "req-7", "fp-a")
        .unwrap()
        .unwrap();
    let effects = |g: &alter_store::Grant| vec![message(g.app_id, OutboxTopic::Audit, "once")];
    let first = t
        .store
        .create_grant_with(app, &system_grant("db:a"), Some(&key), &effects)
        .await
        .unwrap();
    let retry = t
        .store
        .create_grant_with(app, &system_grant("db:a"), Some(&key), &effects)
        .await
        .unwrap();
    assert_eq!(first, retry);
    assert_eq!(
        t.store.outbox_backlog().await.unwrap().pending,
        1,
        "effects once"
    );
    assert_eq!(
        t.store
            .find_request_key(Some(app), "CreateGrant", &key)
            .await
            .unwrap(),
        Some(first.id.as_uuid())
    );
    // The key is per app: another app may use the same ID.
    let (other, _) = t.app_with_idp(IdpKind::Clerk).await;
    let elsewhere = t
        .store
        .create_grant_with(other, &system_grant("db:a"), Some(&key), &effects)
        .await
        .unwrap();
    assert_ne!(elsewhere.id, first.id);

    let changed = RequestKey::parse("request_id", "req-7", "fp-b")
        .unwrap()
        .unwrap();
    let refused = t
        .store
        .create_grant_with(app, &system_grant("db:b"), Some(&changed), &effects)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, StoreError::Conflict { reason } if reason.contains("req-7")),
        "{refused:?}"
    );
    assert_eq!(RequestKey::parse("request_id", "  ", "fp").unwrap(), None);
    assert!(RequestKey::parse("request_id", "a b", "fp").is_err());
}

contract_tests!(
    effects_are_written_with_the_change_and_only_when_it_changed_something,
    a_change_that_fails_writes_no_effects,
    relays_share_the_outbox_and_a_released_or_expired_lease_is_taken_again,
    a_request_key_returns_the_first_result_and_refuses_other_parameters,
);
