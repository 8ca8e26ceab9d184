//! App isolation: nothing of app A is visible or reachable through app B.

use alter_core::{EventId, EventSource, IdpKind, Principal};
use alter_store::{
    AuditQuery, NewAuditEvent, NewGrant, RevokedBy, SealedSecret, SecretPurpose, StoreError,
};
use chrono::Utc;

use crate::support::{TestStore, contract_tests, ext_group, ext_user};

async fn app_isolation_rows_of_app_a_are_never_returned_or_touched_through_app_b(t: TestStore) {
    let s = &t.store;
    let (a, idp_a) = t.app_with_idp(IdpKind::Clerk).await;
    let (b, idp_b) = t.app_with_idp(IdpKind::Clerk).await;

    // The same external IDs exist in both apps as different users and groups.
    let user_a = t.user(a, idp_a, "user_same").await;
    let user_b = t.user(b, idp_b, "user_same").await;
    assert_ne!(user_a, user_b);
    let group_a = t.group(a, "org_same").await;
    let group_b = t.group(b, "org_same").await;
    assert_ne!(group_a, group_b);
    s.add_membership(a, user_a, group_a, EventSource::Jwt)
        .await
        .unwrap();
    let grant_a = s
        .create_grant(
            a,
            &NewGrant {
                credential_ref: "a".into(),
                principal: Principal::User(user_a),
                expires_at: None,
            },
        )
        .await
        .unwrap();
    s.create_grant(
        a,
        &NewGrant {
            credential_ref: "a-sys".into(),
            principal: Principal::System,
            expires_at: None,
        },
    )
    .await
    .unwrap();
    s.create_grant(
        a,
        &NewGrant {
            credential_ref: "a-grp".into(),
            principal: Principal::Group(group_a),
            expires_at: None,
        },
    )
    .await
    .unwrap();
    let secret = SealedSecret {
        ciphertext: vec![1],
        nonce: vec![2],
        key_id: "k".into(),
    };
    s.put_secret(a, idp_a, SecretPurpose::WebhookSecret, &secret)
        .await
        .unwrap();
    let run_a = s
        .request_run(a, idp_a, alter_store::RunTrigger::Admin, false)
        .await
        .unwrap()
        .0;
    s.append_audit_events(
        a,
        &[NewAuditEvent {
            event_id: EventId::new(),
            kind: "user_provisioned".into(),
            source: EventSource::Jwt,
            user_id: Some(user_a),
            occurred_at: Utc::now(),
            detail: serde_json::json!({}),
        }],
    )
    .await
    .unwrap();

    // Reads through B see nothing of A.
    assert_eq!(s.get_user(b, user_a).await.unwrap(), None);
    assert_eq!(
        s.get_user_by_external_id(b, &ext_user("user_same"))
            .await
            .unwrap()
            .unwrap()
            .id,
        user_b
    );
    assert_eq!(
        s.list_users(b, None, 100)
            .await
            .unwrap()
            .iter()
            .map(|u| u.id)
            .collect::<Vec<_>>(),
        vec![user_b]
    );
    assert_eq!(s.get_group(b, group_a).await.unwrap(), None);
    assert_eq!(
        s.get_group_by_external_id(b, &ext_group("org_same"))
            .await
            .unwrap()
            .unwrap()
            .id,
        group_b
    );
    assert_eq!(s.list_groups(b, None, 100).await.unwrap().len(), 1);
    assert!(s.list_user_groups(b, user_a).await.unwrap().is_empty());
    assert!(s.list_group_members(b, group_a).await.unwrap().is_empty());
    assert_eq!(s.get_grant(b, grant_a.id).await.unwrap(), None);
    assert!(s.list_grants(b, None, 100).await.unwrap().is_empty());
    assert!(
        s.list_active_grants_for_user(b, user_a, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.list_active_grants_for_user(b, user_b, true)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.get_idp(b, idp_a).await.unwrap(), None);
    assert_eq!(
        s.get_secret(b, idp_a, SecretPurpose::WebhookSecret)
            .await
            .unwrap(),
        None
    );
    assert_eq!(s.get_run(b, run_a.id).await.unwrap(), None);
    assert!(s.list_runs(b, 10).await.unwrap().is_empty());
    assert!(
        s.list_audit_events(b, &AuditQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    // Writes through B cannot reach A's rows.
    let by = RevokedBy::new(EventSource::Admin, "admin:b");
    assert!(matches!(
        s.revoke_grant(b, grant_a.id, &by).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        s.revoke_all_for_user(b, user_a, &by)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        s.revoke_all_for_group(b, group_a, &by)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        s.set_user_status(b, user_a, alter_core::UserStatus::Suspended, 99)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.mark_group_deleted(b, group_a).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(!s.remove_membership(b, user_a, group_a).await.unwrap());
    assert!(
        !s.delete_secret(b, idp_a, SecretPurpose::WebhookSecret)
            .await
            .unwrap()
    );
    assert!(matches!(
        s.put_secret(b, idp_a, SecretPurpose::ClientSecret, &secret)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.lock_claim_mappings(b, idp_a).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.request_run(b, idp_a, alter_store::RunTrigger::Admin, false)
            .await,
        Err(StoreError::NotFound { .. })
    ));
    // B cannot upsert users under A's IDP, nor bind B's grants or memberships to A's rows.
    assert!(matches!(
        s.upsert_user(
            b,
            idp_a,
            &alter_store::UserUpsert::jit(ext_user("x"), None, None)
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.add_membership(b, user_b, group_a, EventSource::Jwt).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.add_membership(b, user_a, group_b, EventSource::Jwt).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.create_grant(
            b,
            &NewGrant {
                credential_ref: "x".into(),
                principal: Principal::User(user_a),
                expires_at: None
            }
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.replace_user_memberships(b, user_b, &[group_a], EventSource::Jwt)
            .await,
        Err(StoreError::NotFound { .. })
    ));

    // And A is intact.
    let a_grants = s
        .list_active_grants_for_user(a, user_a, true)
        .await
        .unwrap();
    assert_eq!(a_grants.len(), 3);
    assert_eq!(
        s.get_secret(a, idp_a, SecretPurpose::WebhookSecret)
            .await
            .unwrap()
            .unwrap()
            .sealed,
        secret
    );
    assert_eq!(s.list_user_groups(a, user_a).await.unwrap().len(), 1);
    t.finish().await;
}

contract_tests!(app_isolation_rows_of_app_a_are_never_returned_or_touched_through_app_b,);
