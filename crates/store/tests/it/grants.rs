//! Grants: resolution for the verify path (R-JWT-09) and revocation with its cause (R-REV).

use alter_core::{EventSource, GrantId, GroupId, IdpKind, Principal, UserId};
use alter_store::{GrantStore, NewGrant, RevokedBy, StoreError};
use chrono::{Duration, Utc};

use crate::support::{TestStore, contract_tests};

fn grant(credential: &str, principal: Principal) -> NewGrant {
    NewGrant {
        credential_ref: credential.to_owned(),
        principal,
        expires_at: None,
    }
}

async fn active_refs(
    store: &dyn GrantStore,
    app: alter_core::AppId,
    user: UserId,
    groups: bool,
) -> Vec<String> {
    let mut refs: Vec<String> = store
        .list_active_grants_for_user(app, user, groups)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.credential_ref)
        .collect();
    refs.sort();
    refs
}

async fn r_jwt_09_active_grants_are_the_users_their_groups_and_the_apps_never_revoked_or_expired(
    t: TestStore,
) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let ann = t.user(app, idp, "user_ann").await;
    let bob = t.user(app, idp, "user_bob").await;
    let team = t.group(app, "org_team").await;
    let other_team = t.group(app, "org_other").await;
    let deleted_team = t.group(app, "org_deleted").await;
    t.store
        .add_membership(app, ann, team, EventSource::Jwt)
        .await
        .unwrap();
    t.store
        .add_membership(app, ann, deleted_team, EventSource::Jwt)
        .await
        .unwrap();
    t.store
        .add_membership(app, bob, other_team, EventSource::Jwt)
        .await
        .unwrap();

    let s = &t.store;
    s.create_grant(app, &grant("ann-direct", Principal::User(ann)))
        .await
        .unwrap();
    s.create_grant(app, &grant("team", Principal::Group(team)))
        .await
        .unwrap();
    s.create_grant(app, &grant("system", Principal::System))
        .await
        .unwrap();
    s.create_grant(app, &grant("bob-direct", Principal::User(bob)))
        .await
        .unwrap();
    s.create_grant(app, &grant("other-team", Principal::Group(other_team)))
        .await
        .unwrap();
    s.create_grant(app, &grant("deleted-team", Principal::Group(deleted_team)))
        .await
        .unwrap();
    let future = NewGrant {
        expires_at: Some(Utc::now() + Duration::hours(1)),
        ..grant("ann-expiring-later", Principal::User(ann))
    };
    s.create_grant(app, &future).await.unwrap();
    let expired = NewGrant {
        expires_at: Some(Utc::now() - Duration::seconds(1)),
        ..grant("ann-expired", Principal::User(ann))
    };
    s.create_grant(app, &expired).await.unwrap();
    let revoked = s
        .create_grant(app, &grant("ann-revoked", Principal::User(ann)))
        .await
        .unwrap();
    let revoked_system = s
        .create_grant(app, &grant("system-revoked", Principal::System))
        .await
        .unwrap();
    let by = RevokedBy::new(EventSource::Admin, "admin:ops@example.com");
    s.revoke_grant(app, revoked.id, &by).await.unwrap().unwrap();
    s.revoke_grant(app, revoked_system.id, &by)
        .await
        .unwrap()
        .unwrap();
    s.mark_group_deleted(app, deleted_team).await.unwrap();

    assert_eq!(
        active_refs(s.as_ref(), app, ann, true).await,
        vec!["ann-direct", "ann-expiring-later", "system", "team"]
    );
    assert_eq!(
        active_refs(s.as_ref(), app, bob, true).await,
        vec!["bob-direct", "other-team", "system"]
    );
    t.finish().await;
}

async fn r_cfg_09_group_grants_are_left_out_when_the_idp_is_not_eligible(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Auth0).await;
    let user = t.user(app, idp, "auth0|1").await;
    let group = t.group(app, "admins").await;
    t.store
        .add_membership(app, user, group, EventSource::Jwt)
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("direct", Principal::User(user)))
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("via-group", Principal::Group(group)))
        .await
        .unwrap();

    assert_eq!(
        active_refs(t.store.as_ref(), app, user, false).await,
        vec!["direct"]
    );
    assert_eq!(
        active_refs(t.store.as_ref(), app, user, true).await,
        vec!["direct", "via-group"]
    );
    t.finish().await;
}

async fn r_rev_04_removing_a_member_ends_their_group_access_only(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let ann = t.user(app, idp, "00u-ann").await;
    let bob = t.user(app, idp, "00u-bob").await;
    let group = t.group(app, "00g-team").await;
    t.store
        .add_membership(app, ann, group, EventSource::DirectorySync)
        .await
        .unwrap();
    t.store
        .add_membership(app, bob, group, EventSource::DirectorySync)
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("team", Principal::Group(group)))
        .await
        .unwrap();

    t.store.remove_membership(app, ann, group).await.unwrap();
    assert!(
        active_refs(t.store.as_ref(), app, ann, true)
            .await
            .is_empty()
    );
    assert_eq!(
        active_refs(t.store.as_ref(), app, bob, true).await,
        vec!["team"]
    );
    t.finish().await;
}

async fn r_rev_02_r_rev_06_deprovisioning_revokes_every_user_grant_and_records_the_cause(
    t: TestStore,
) {
    let (app, idp) = t.app_with_idp(IdpKind::Auth0).await;
    let ann = t.user(app, idp, "auth0|ann").await;
    let bob = t.user(app, idp, "auth0|bob").await;
    let g1 = t
        .store
        .create_grant(app, &grant("a1", Principal::User(ann)))
        .await
        .unwrap();
    let g2 = t
        .store
        .create_grant(app, &grant("a2", Principal::User(ann)))
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("b1", Principal::User(bob)))
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("sys", Principal::System))
        .await
        .unwrap();

    let by = RevokedBy::new(EventSource::Webhook, "evt_sdu_123");
    let revoked = t.store.revoke_all_for_user(app, ann, &by).await.unwrap();
    assert_eq!(
        revoked.iter().map(|g| g.id).collect::<Vec<_>>(),
        vec![g1.id, g2.id]
    );
    assert!(
        revoked
            .iter()
            .all(|g| g.revoked_by.as_ref() == Some(&by) && g.revoked_at.is_some())
    );
    let stored = t.store.get_grant(app, g1.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_by, Some(by.clone()));

    // Idempotent: nothing left to revoke, and the first cause is kept.
    let again = RevokedBy::new(EventSource::DirectorySync, "run-2");
    assert!(
        t.store
            .revoke_all_for_user(app, ann, &again)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        t.store.revoke_grant(app, g2.id, &again).await.unwrap(),
        None
    );
    assert_eq!(
        t.store
            .get_grant(app, g2.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_by,
        Some(by)
    );

    assert_eq!(
        active_refs(t.store.as_ref(), app, ann, true).await,
        vec!["sys"]
    );
    assert_eq!(
        active_refs(t.store.as_ref(), app, bob, true).await,
        vec!["b1", "sys"]
    );
    let missing = t
        .store
        .revoke_grant(app, GrantId::new(), &again)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { .. }),
        "{missing:?}"
    );
    t.finish().await;
}

async fn r_rev_05_deleting_a_group_revokes_its_group_grants_with_the_cause(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let user = t.user(app, idp, "user_1").await;
    let doomed = t.group(app, "org_doomed").await;
    let kept = t.group(app, "org_kept").await;
    t.store
        .add_membership(app, user, doomed, EventSource::Jwt)
        .await
        .unwrap();
    t.store
        .add_membership(app, user, kept, EventSource::Jwt)
        .await
        .unwrap();
    let d = t
        .store
        .create_grant(app, &grant("doomed", Principal::Group(doomed)))
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("kept", Principal::Group(kept)))
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("user", Principal::User(user)))
        .await
        .unwrap();

    let by = RevokedBy::new(EventSource::Webhook, "msg_organization_deleted");
    let revoked = t
        .store
        .revoke_all_for_group(app, doomed, &by)
        .await
        .unwrap();
    assert_eq!(revoked.len(), 1);
    assert_eq!(
        (revoked[0].id, revoked[0].revoked_by.clone()),
        (d.id, Some(by))
    );
    assert_eq!(
        active_refs(t.store.as_ref(), app, user, true).await,
        vec!["kept", "user"]
    );
    t.finish().await;
}

async fn r_rev_01_a_grant_names_exactly_one_principal(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let user = t.user(app, idp, "user_1").await;
    let group = t.group(app, "org_1").await;
    for principal in [
        Principal::User(user),
        Principal::Group(group),
        Principal::System,
    ] {
        let created = t
            .store
            .create_grant(app, &grant("c", principal))
            .await
            .unwrap();
        assert_eq!(created.principal, principal);
    }
    let missing_user = t
        .store
        .create_grant(app, &grant("c", Principal::User(UserId::new())))
        .await
        .unwrap_err();
    assert!(
        matches!(missing_user, StoreError::NotFound { .. }),
        "{missing_user:?}"
    );
    let missing_group = t
        .store
        .create_grant(app, &grant("c", Principal::Group(GroupId::new())))
        .await
        .unwrap_err();
    assert!(
        matches!(missing_group, StoreError::NotFound { .. }),
        "{missing_group:?}"
    );

    // The database itself refuses a row naming both a user and a group.
    let both = t
        .execute(
            "INSERT INTO grants (id, app_id, credential_ref, principal_kind, principal_user_id, \
             principal_group_id, created_at) VALUES ($1, $2, 'x', 'user', $3, $4, CURRENT_TIMESTAMP)",
            &[
                GrantId::new().as_uuid(),
                app.as_uuid(),
                user.as_uuid(),
                group.as_uuid(),
            ],
        )
        .await
        .unwrap_err();
    assert!(
        both.to_string().contains("grants_principal_columns"),
        "{both}"
    );
    let listed = t.store.list_grants(app, None, 10).await.unwrap();
    assert_eq!(listed.len(), 3);
    t.finish().await;
}

async fn concurrent_revocations_of_one_grant_revoke_it_once_and_none_fails(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let user = t.user(app, idp, "00u1").await;
    let created = t
        .store
        .create_grant(app, &grant("db:a", Principal::User(user)))
        .await
        .unwrap();
    // More callers than pooled connections: a revocation that finds the grant already
    // revoked must not wait for another connection while it holds its transaction.
    let results = futures::future::join_all((0..12).map(|i| {
        let by = RevokedBy::new(EventSource::Admin, format!("admin:{i}"));
        let store = t.store.clone();
        async move { store.revoke_grant(app, created.id, &by).await }
    }))
    .await;
    let revoked: Vec<_> = results.into_iter().filter_map(Result::unwrap).collect();
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    let stored = t.store.get_grant(app, created.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_by, revoked[0].revoked_by);
    t.finish().await;
}

contract_tests!(
    r_jwt_09_active_grants_are_the_users_their_groups_and_the_apps_never_revoked_or_expired,
    r_cfg_09_group_grants_are_left_out_when_the_idp_is_not_eligible,
    r_rev_04_removing_a_member_ends_their_group_access_only,
    r_rev_02_r_rev_06_deprovisioning_revokes_every_user_grant_and_records_the_cause,
    r_rev_05_deleting_a_group_revokes_its_group_grants_with_the_cause,
    r_rev_01_a_grant_names_exactly_one_principal,
    concurrent_revocations_of_one_grant_revoke_it_once_and_none_fails,
);
