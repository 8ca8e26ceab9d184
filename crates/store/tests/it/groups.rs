//! Groups and memberships: upserts, the membership diff, and group deletion.

use alter_core::{AppId, EventSource, GroupId, IdpKind, UserId};
use alter_store::{GroupUpsert, StoreError};

use crate::support::{TestStore, contract_tests, ext_group};

/// The user's groups as stored, in ID order.
async fn user_group_ids(t: &TestStore, app: AppId, user: UserId) -> Vec<GroupId> {
    t.store
        .list_user_groups(app, user)
        .await
        .unwrap()
        .iter()
        .map(|g| g.id)
        .collect()
}

async fn replacing_a_users_memberships_reports_exactly_what_changed(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let user = t.user(app, idp, "user_1").await;
    let a = t.group(app, "org_a").await;
    let b = t.group(app, "org_b").await;
    let c = t.group(app, "org_c").await;

    let first = t
        .store
        .replace_user_memberships(app, user, &[a, b], EventSource::Jwt)
        .await
        .unwrap();
    let mut expected = vec![a, b];
    expected.sort();
    assert_eq!((first.added, first.removed), (expected, vec![]));

    let second = t
        .store
        .replace_user_memberships(app, user, &[b, c], EventSource::DirectorySync)
        .await
        .unwrap();
    assert_eq!((second.added, second.removed), (vec![c], vec![a]));

    let same = t
        .store
        .replace_user_memberships(app, user, &[c, b], EventSource::Jwt)
        .await
        .unwrap();
    assert!(same.is_empty(), "{same:?}");

    let groups = user_group_ids(&t, app, user).await;
    let mut bc = vec![b, c];
    bc.sort();
    assert_eq!(groups, bc);
    // The source of the kept row is the one that first recorded it.
    let members = t.store.list_group_members(app, b).await.unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].source, EventSource::Jwt);

    let cleared = t
        .store
        .replace_user_memberships(app, user, &[], EventSource::Jwt)
        .await
        .unwrap();
    assert_eq!(cleared.removed, bc);
    assert!(
        t.store
            .list_user_groups(app, user)
            .await
            .unwrap()
            .is_empty()
    );

    let unknown = t
        .store
        .replace_user_memberships(app, user, &[GroupId::new()], EventSource::Jwt)
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, StoreError::NotFound { .. }),
        "{unknown:?}"
    );
    t.finish().await;
}

async fn adding_and_removing_a_membership_says_whether_it_changed_anything(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let user = t.user(app, idp, "00u1").await;
    let group = t.group(app, "00g1").await;

    assert!(
        t.store
            .add_membership(app, user, group, EventSource::Webhook)
            .await
            .unwrap()
    );
    assert!(
        !t.store
            .add_membership(app, user, group, EventSource::Webhook)
            .await
            .unwrap()
    );
    assert!(t.store.remove_membership(app, user, group).await.unwrap());
    assert!(!t.store.remove_membership(app, user, group).await.unwrap());
    let err = t
        .store
        .add_membership(app, user, GroupId::new(), EventSource::Webhook)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    t.finish().await;
}

async fn deleting_a_group_removes_its_members_and_a_returning_group_is_undeleted(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let u1 = t.user(app, idp, "user_1").await;
    let u2 = t.user(app, idp, "user_2").await;
    let group = t.group(app, "org_x").await;
    t.store
        .add_membership(app, u1, group, EventSource::DirectorySync)
        .await
        .unwrap();
    t.store
        .add_membership(app, u2, group, EventSource::DirectorySync)
        .await
        .unwrap();

    let mut removed = t.store.mark_group_deleted(app, group).await.unwrap();
    removed.sort();
    let mut both = vec![u1, u2];
    both.sort();
    assert_eq!(removed, both);
    assert!(
        t.store
            .get_group(app, group)
            .await
            .unwrap()
            .unwrap()
            .deleted_at
            .is_some()
    );
    assert!(t.store.list_user_groups(app, u1).await.unwrap().is_empty());
    assert!(
        t.store
            .list_group_members(app, group)
            .await
            .unwrap()
            .is_empty()
    );

    let back = t
        .store
        .upsert_groups(
            app,
            &[GroupUpsert {
                external_id: ext_group("org_x"),
                name: None,
            }],
        )
        .await
        .unwrap();
    assert_eq!(back[0].id, group, "same canonical ID");
    assert_eq!(back[0].deleted_at, None);
    assert_eq!(
        back[0].name.as_deref(),
        Some("org_x"),
        "None keeps the stored name"
    );

    let err = t
        .store
        .mark_group_deleted(app, GroupId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    t.finish().await;
}

async fn upsert_groups_batches_renames_and_keeps_first_seen_order(t: TestStore) {
    let app = t.store.create_app("groups").await.unwrap().id;
    let up = |id: &str, name: &str| GroupUpsert {
        external_id: ext_group(id),
        name: Some(name.to_owned()),
    };
    let first = t
        .store
        .upsert_groups(app, &[up("g1", "One"), up("g2", "Two")])
        .await
        .unwrap();
    let second = t
        .store
        .upsert_groups(
            app,
            &[
                up("g3", "Three"),
                up("g2", "Two"),
                up("g1", "Uno"),
                up("g3", "Tres"),
            ],
        )
        .await
        .unwrap();
    let names: Vec<(&str, Option<&str>)> = second
        .iter()
        .map(|g| (g.external_id.as_str(), g.name.as_deref()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("g3", Some("Tres")),
            ("g2", Some("Two")),
            ("g1", Some("Uno"))
        ]
    );
    assert_eq!(second[2].id, first[0].id);
    assert_eq!(t.store.list_groups(app, None, 10).await.unwrap().len(), 3);
    assert_eq!(
        t.store
            .get_group_by_external_id(app, &ext_group("g2"))
            .await
            .unwrap()
            .unwrap()
            .id,
        first[1].id
    );
    t.finish().await;
}

async fn concurrent_replacements_of_a_users_memberships_all_succeed_and_one_list_stays(
    t: TestStore,
) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let user = t.user(app, idp, "user_1").await;
    let mut groups = Vec::new();
    for i in 0..4 {
        groups.push(t.group(app, &format!("org_{i}")).await);
    }
    // Sign-ins of the same user at once with different claims (more than the pooled
    // connections): each replacement runs whole, one after the other.
    let lists: Vec<Vec<GroupId>> = (0..12)
        .map(|i| groups.iter().copied().skip(i % 4).collect())
        .collect();
    let results = futures::future::join_all(lists.iter().map(|list| {
        t.store
            .replace_user_memberships(app, user, list, EventSource::Jwt)
    }))
    .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let stored = user_group_ids(&t, app, user).await;
    assert!(
        lists.iter().any(|list| {
            let mut list = list.clone();
            list.sort();
            list == stored
        }),
        "{stored:?}"
    );
    t.finish().await;
}

contract_tests!(
    replacing_a_users_memberships_reports_exactly_what_changed,
    adding_and_removing_a_membership_says_whether_it_changed_anything,
    deleting_a_group_removes_its_members_and_a_returning_group_is_undeleted,
    upsert_groups_batches_renames_and_keeps_first_seen_order,
    concurrent_replacements_of_a_users_memberships_all_succeed_and_one_list_stays,
);
