//! Users: upsert by external ID writes only on change; status changes obey state_version.

use alter_core::{IdpKind, UserId, UserStatus};
use alter_store::{StoreError, UserUpsert};

use crate::support::{TestStore, contract_tests, ext_user};

pub fn upsert(external: &str, email: Option<&str>, status: UserStatus, version: i64) -> UserUpsert {
    UserUpsert {
        external_id: ext_user(external),
        email: email.map(str::to_owned),
        display_name: None,
        status,
        state_version: version,
    }
}

async fn r_jwt_06_upsert_creates_once_then_reports_unchanged_without_writing(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Auth0).await;
    let jit = UserUpsert::jit(
        ext_user("auth0|1"),
        Some("a@example.com".into()),
        Some("Ann".into()),
    );

    let first = t.store.upsert_user(app, idp, &jit).await.unwrap();
    assert!(first.created && first.changed);
    assert_eq!(first.previous_status, None);
    assert_eq!(first.user.status, UserStatus::Active);
    assert_eq!(first.user.email.as_deref(), Some("a@example.com"));

    let again = t.store.upsert_user(app, idp, &jit).await.unwrap();
    assert!(!again.created && !again.changed, "{again:?}");
    assert_eq!(again.user.id, first.user.id);
    assert_eq!(
        again.user.updated_at, first.user.updated_at,
        "an unchanged upsert must not write"
    );

    let by_ext = t
        .store
        .get_user_by_external_id(app, &ext_user("auth0|1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_ext, first.user);
    assert_eq!(
        t.store.get_user(app, first.user.id).await.unwrap(),
        Some(first.user.clone())
    );
    assert_eq!(t.store.get_user(app, UserId::new()).await.unwrap(), None);
    t.finish().await;
}

async fn upsert_updates_a_changed_profile_and_keeps_fields_it_does_not_know(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let created = t
        .store
        .upsert_user(
            app,
            idp,
            &UserUpsert::jit(
                ext_user("user_1"),
                Some("old@x.io".into()),
                Some("Old".into()),
            ),
        )
        .await
        .unwrap();

    let changed = t
        .store
        .upsert_user(
            app,
            idp,
            &UserUpsert::jit(ext_user("user_1"), Some("new@x.io".into()), None),
        )
        .await
        .unwrap();
    assert!(!changed.created && changed.changed);
    assert_eq!(changed.user.id, created.user.id);
    assert_eq!(changed.user.email.as_deref(), Some("new@x.io"));
    assert_eq!(
        changed.user.display_name.as_deref(),
        Some("Old"),
        "None keeps the stored display name"
    );
    assert!(changed.user.updated_at > created.user.updated_at);
    t.finish().await;
}

async fn state_version_an_older_status_change_never_overrides_a_newer_one(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let user = t.user(app, idp, "00u1").await;

    let suspended = t
        .store
        .set_user_status(app, user, UserStatus::Suspended, 10)
        .await
        .unwrap();
    assert!(suspended.applied);
    assert_eq!(suspended.previous_status, UserStatus::Active);
    assert_eq!(
        (suspended.user.status, suspended.user.state_version),
        (UserStatus::Suspended, 10)
    );

    // An older reactivation arrives late: ignored.
    let stale = t
        .store
        .set_user_status(app, user, UserStatus::Active, 5)
        .await
        .unwrap();
    assert!(!stale.applied);
    assert_eq!(
        (stale.user.status, stale.user.state_version),
        (UserStatus::Suspended, 10)
    );
    // A redelivery of the same version: ignored.
    assert!(
        !t.store
            .set_user_status(app, user, UserStatus::Active, 10)
            .await
            .unwrap()
            .applied
    );

    // A JIT upsert (version 0) never reactivates a suspended user.
    let jit = t
        .store
        .upsert_user(app, idp, &UserUpsert::jit(ext_user("00u1"), None, None))
        .await
        .unwrap();
    assert!(!jit.changed);
    assert_eq!(jit.user.status, UserStatus::Suspended);

    // A directory-sync upsert with an older version does not either; a newer one does.
    let old_sync = t
        .store
        .upsert_user(app, idp, &upsert("00u1", None, UserStatus::Active, 7))
        .await
        .unwrap();
    assert_eq!(
        (old_sync.changed, old_sync.user.status),
        (false, UserStatus::Suspended)
    );
    let new_sync = t
        .store
        .upsert_user(
            app,
            idp,
            &upsert("00u1", None, UserStatus::Deprovisioned, 12),
        )
        .await
        .unwrap();
    assert!(new_sync.changed);
    assert_eq!(new_sync.previous_status, Some(UserStatus::Suspended));
    assert_eq!(
        (new_sync.user.status, new_sync.user.state_version),
        (UserStatus::Deprovisioned, 12)
    );

    let newer = t
        .store
        .set_user_status(app, user, UserStatus::Active, 20)
        .await
        .unwrap();
    assert!(newer.applied);
    assert_eq!(newer.previous_status, UserStatus::Deprovisioned);

    let missing = t
        .store
        .set_user_status(app, UserId::new(), UserStatus::Active, 1)
        .await
        .unwrap_err();
    assert!(
        matches!(missing, StoreError::NotFound { .. }),
        "{missing:?}"
    );
    t.finish().await;
}

async fn upsert_users_batch_reports_created_updated_and_unchanged_in_input_order(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let first = t
        .store
        .upsert_users_batch(
            app,
            idp,
            &[
                upsert("00u-a", Some("a@x.io"), UserStatus::Active, 1),
                upsert("00u-b", Some("b@x.io"), UserStatus::Suspended, 1),
                upsert("00u-c", Some("c@x.io"), UserStatus::Active, 1),
            ],
        )
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|u| u.created && u.changed));
    assert_eq!(first[1].user.status, UserStatus::Suspended);

    let second = t
        .store
        .upsert_users_batch(
            app,
            idp,
            &[
                upsert("00u-d", Some("d@x.io"), UserStatus::Active, 2), // new
                upsert("00u-c", Some("c@x.io"), UserStatus::Active, 2), // unchanged
                upsert("00u-a", Some("a2@x.io"), UserStatus::Active, 2), // email changed
                upsert("00u-b", Some("b@x.io"), UserStatus::Active, 2), // reactivated (newer)
                upsert("00u-d", Some("d2@x.io"), UserStatus::Active, 2), // repeat: last wins
            ],
        )
        .await
        .unwrap();
    let summary: Vec<(&str, bool, bool)> = second
        .iter()
        .map(|u| (u.user.external_id.as_str(), u.created, u.changed))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("00u-d", true, true),
            ("00u-c", false, false),
            ("00u-a", false, true),
            ("00u-b", false, true)
        ]
    );
    assert_eq!(second[0].user.email.as_deref(), Some("d2@x.io"));
    assert_eq!(second[3].previous_status, Some(UserStatus::Suspended));
    assert_eq!(second[3].user.status, UserStatus::Active);
    assert_eq!(
        second[1].user.updated_at, first[2].user.updated_at,
        "unchanged row not written"
    );

    assert!(
        t.store
            .upsert_users_batch(app, idp, &[])
            .await
            .unwrap()
            .is_empty()
    );
    t.finish().await;
}

async fn users_page_in_id_order(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Auth0).await;
    let batch: Vec<UserUpsert> = (0..5)
        .map(|i| upsert(&format!("auth0|{i}"), None, UserStatus::Active, 0))
        .collect();
    t.store.upsert_users_batch(app, idp, &batch).await.unwrap();

    let page1 = t.store.list_users(app, None, 3).await.unwrap();
    let page2 = t.store.list_users(app, Some(page1[2].id), 3).await.unwrap();
    assert_eq!((page1.len(), page2.len()), (3, 2));
    let mut all: Vec<UserId> = page1.iter().chain(&page2).map(|u| u.id).collect();
    let listed = all.clone();
    all.sort();
    assert_eq!(listed, all);
    t.finish().await;
}

async fn concurrent_writers_of_one_user_all_succeed_and_the_newest_version_wins(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    // Sign-ins of a user never seen, at once (more than the pooled connections): one creates
    // the user, every other finds it; nobody fails on a lock or a duplicate.
    let jit = UserUpsert::jit(ext_user("00u1"), Some("a@x.io".into()), None);
    let signed_in = futures::future::join_all((0..12).map(|_| t.store.upsert_user(app, idp, &jit)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect::<Vec<_>>();
    assert_eq!(signed_in.iter().filter(|u| u.created).count(), 1);
    let id = signed_in[0].user.id;
    assert!(signed_in.iter().all(|u| u.user.id == id));

    // Status changes of that user at once, in any order: the newest version is what stays.
    let changes = futures::future::join_all((1..=12).map(|version| {
        let status = if version % 2 == 0 {
            UserStatus::Suspended
        } else {
            UserStatus::Active
        };
        t.store.set_user_status(app, id, status, version)
    }))
    .await;
    assert!(changes.iter().all(Result::is_ok), "{changes:?}");
    let stored = t.store.get_user(app, id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.state_version),
        (UserStatus::Suspended, 12)
    );
    t.finish().await;
}

contract_tests!(
    r_jwt_06_upsert_creates_once_then_reports_unchanged_without_writing,
    upsert_updates_a_changed_profile_and_keeps_fields_it_does_not_know,
    state_version_an_older_status_change_never_overrides_a_newer_one,
    upsert_users_batch_reports_created_updated_and_unchanged_in_input_order,
    users_page_in_id_order,
    concurrent_writers_of_one_user_all_succeed_and_the_newest_version_wins,
);
