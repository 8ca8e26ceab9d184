//! Directory sync's view of the store (R-DIR-02..04): batched upserts that say what they
//! created, updated or left alone and write their effects with them, memberships added once,
//! and the stored side of a listing paged by key — every live user and membership exactly
//! once, which is what absentees are counted against.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use alter_core::{AppId, ExternalUserId, IdpKind, UserId, UserStatus};
use alter_store::{IdpMembership, OutboxTopic, StoreError, UpsertedUser, UserUpsert, no_effects};
use uuid::Uuid;

use crate::support::{TestStore, contract_tests, effect, ext_user};
use crate::users::upsert;

/// (external ID, created, changed, previous status, status) of each result.
fn summary(upserted: &[UpsertedUser]) -> Vec<(&str, bool, bool, Option<UserStatus>, UserStatus)> {
    upserted
        .iter()
        .map(|u| {
            (
                u.user.external_id.as_str(),
                u.created,
                u.changed,
                u.previous_status,
                u.user.status,
            )
        })
        .collect()
}

async fn r_dir_02_a_batch_upsert_says_what_it_created_updated_or_left_unchanged(t: TestStore) {
    use UserStatus::{Active, Suspended};
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let calls = AtomicUsize::new(0);
    let written = effect(app, OutboxTopic::Audit);
    let effects = |users: &[UpsertedUser]| {
        calls.fetch_add(1, Ordering::SeqCst);
        if users.iter().any(|u| u.changed) {
            vec![written.clone()]
        } else {
            Vec::new()
        }
    };

    // The same user twice in a batch: the last entry wins, in first-seen order.
    let first = t
        .store
        .upsert_users_batch_with(
            app,
            idp,
            &[
                upsert("00u-ann", Some("ann@old.example"), Active, 1),
                upsert("00u-bob", None, Active, 1),
                upsert("00u-ann", Some("ann@example.com"), Active, 1),
            ],
            &effects,
        )
        .await
        .unwrap();
    assert_eq!(
        summary(&first),
        [
            ("00u-ann", true, true, None, Active),
            ("00u-bob", true, true, None, Active),
        ]
    );
    assert_eq!(first[0].user.email.as_deref(), Some("ann@example.com"));
    assert_eq!(t.outbox_rows(&written).await, 1, "with the change");

    let second = t
        .store
        .upsert_users_batch_with(
            app,
            idp,
            &[
                // Unknown email: keeps what is stored; same status: nothing to write.
                upsert("00u-ann", None, Active, 2),
                upsert("00u-bob", Some("bob@example.com"), Active, 1),
                upsert("00u-cid", None, Suspended, 3),
                upsert("00u-dan", None, Active, 1),
            ],
            &effects,
        )
        .await
        .unwrap();
    assert_eq!(
        summary(&second),
        [
            ("00u-ann", false, false, Some(Active), Active),
            ("00u-bob", false, true, Some(Active), Active),
            ("00u-cid", true, true, None, Suspended),
            ("00u-dan", true, true, None, Active),
        ]
    );
    assert_eq!(
        second[0].user, first[0].user,
        "an unchanged user is as stored"
    );
    assert_eq!(second[1].user.email.as_deref(), Some("bob@example.com"));

    // A newer status applies; an older one does not.
    let statuses = t
        .store
        .upsert_users_batch_with(
            app,
            idp,
            &[
                upsert("00u-ann", None, Suspended, 10),
                upsert("00u-cid", None, Active, 2),
            ],
            &effects,
        )
        .await
        .unwrap();
    assert_eq!(
        summary(&statuses),
        [
            ("00u-ann", false, true, Some(Active), Suspended),
            ("00u-cid", false, false, Some(Suspended), Suspended),
        ]
    );
    assert_eq!(statuses[0].user.state_version, 10);
    assert_eq!(calls.load(Ordering::SeqCst), 3, "effects once per call");

    // An IDP that is not the app's: nothing is written, effects included.
    let (other_app, _) = t.seed_app_with_idp(IdpKind::Okta).await;
    let refused_effect = effect(other_app, OutboxTopic::Audit);
    let refused = t
        .store
        .upsert_users_batch_with(
            other_app,
            idp,
            &[upsert("00u-eve", None, Active, 1)],
            &|_: &[UpsertedUser]| vec![refused_effect.clone()],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::NotFound { .. }),
        "{refused:?}"
    );
    assert_eq!(t.outbox_rows(&refused_effect).await, 0);

    let found = t
        .store
        .users_by_external_ids(
            app,
            idp,
            &[
                ext_user("00u-ann"),
                ext_user("00u-dan"),
                ext_user("00u-nobody"),
            ],
        )
        .await
        .unwrap();
    let found: HashSet<&str> = found.iter().map(|u| u.external_id.as_str()).collect();
    assert_eq!(found, HashSet::from(["00u-ann", "00u-dan"]));
    assert!(
        t.store
            .users_by_external_ids(other_app, idp, &[ext_user("00u-ann")])
            .await
            .unwrap()
            .is_empty(),
        "not through another app"
    );
    t.finish().await;
}

/// Creates active users of the IDP; their IDs by external ID, in the given order.
async fn users(t: &TestStore, app: AppId, idp: alter_core::IdpId, ids: &[&str]) -> Vec<UserId> {
    let batch: Vec<UserUpsert> = ids
        .iter()
        .map(|id| UserUpsert::jit(ext_user(id), None, None))
        .collect();
    t.store
        .upsert_users_batch_with(app, idp, &batch, &no_effects)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.user.id)
        .collect()
}

async fn r_dir_04_a_groups_listed_members_are_added_once_and_the_missing_are_counted(t: TestStore) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let ids = users(&t, app, idp, &["00u-ann", "00u-bob", "00u-cid"]).await;
    let (ann, bob, cid) = (ids[0], ids[1], ids[2]);
    let group = t.seed_group(app, "00g-eng", false).await;
    let listing = [
        ext_user("00u-ann"),
        ext_user("00u-bob"),
        ext_user("00u-ghost"),
    ];
    assert_eq!(
        t.store
            .count_missing_members(app, idp, group, &listing)
            .await
            .unwrap(),
        2,
        "unknown users are not counted"
    );

    let calls = AtomicUsize::new(0);
    let written = effect(app, OutboxTopic::Audit);
    let effects = |added: &[UserId]| {
        calls.fetch_add(1, Ordering::SeqCst);
        assert!(!added.is_empty());
        vec![written.clone()]
    };
    let added = t
        .store
        .add_group_members_with(app, idp, group, &listing, &effects)
        .await
        .unwrap();
    assert_eq!(
        HashSet::<UserId>::from_iter(added),
        HashSet::from([ann, bob])
    );
    assert_eq!(t.outbox_rows(&written).await, 1);

    let again = t
        .store
        .add_group_members_with(app, idp, group, &listing, &effects)
        .await
        .unwrap();
    assert!(again.is_empty(), "added once");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "no effects when nothing was added"
    );
    assert_eq!(t.outbox_rows(&written).await, 1);
    assert_eq!(
        t.store
            .count_missing_members(app, idp, group, &listing)
            .await
            .unwrap(),
        0
    );
    let more = [ext_user("00u-ann"), ext_user("00u-cid")];
    assert_eq!(
        t.store
            .count_missing_members(app, idp, group, &more)
            .await
            .unwrap(),
        1
    );
    let added = t
        .store
        .add_group_members_with(app, idp, group, &more, &effects)
        .await
        .unwrap();
    assert_eq!(added, [cid]);

    // Another app's users of the same external IDs are never touched.
    let (other, other_idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    users(&t, other, other_idp, &["00u-dan"]).await;
    let elsewhere = t
        .store
        .add_group_members_with(app, idp, group, &[ext_user("00u-dan")], &effects)
        .await
        .unwrap();
    assert!(elsewhere.is_empty());
    let members = t
        .count(
            "SELECT count(*) FROM memberships WHERE group_id = $1",
            Some(group.as_uuid()),
        )
        .await;
    assert_eq!(members, 3);
    t.finish().await;
}

async fn r_dir_04_the_stored_users_and_memberships_page_by_key_each_live_one_exactly_once(
    t: TestStore,
) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let names = ["00u-05", "00u-01", "00u-04", "00u-02", "00u-06", "00u-03"];
    let ids = users(&t, app, idp, &names).await;
    // 00u-06 leaves the directory (deprovisioned); 00u-03 is suspended.
    t.store
        .upsert_users_batch_with(
            app,
            idp,
            &[
                upsert("00u-06", None, UserStatus::Deprovisioned, 1),
                upsert("00u-03", None, UserStatus::Suspended, 1),
            ],
            &no_effects,
        )
        .await
        .unwrap();

    let mut pages = Vec::new();
    let mut after: Option<ExternalUserId> = None;
    loop {
        let page = t
            .store
            .page_idp_users(app, idp, after.as_ref(), 2)
            .await
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let listed: Vec<(String, UserStatus)> = pages
        .into_iter()
        .flatten()
        .map(|(id, status)| (id.as_str().to_owned(), status))
        .collect();
    assert_eq!(
        listed,
        [
            ("00u-01".to_owned(), UserStatus::Active),
            ("00u-02".to_owned(), UserStatus::Active),
            ("00u-03".to_owned(), UserStatus::Suspended),
            ("00u-04".to_owned(), UserStatus::Active),
            ("00u-05".to_owned(), UserStatus::Active),
        ],
        "in external-ID order, the deprovisioned user left out"
    );

    // Memberships: in live groups only, of users not deprovisioned, in key order.
    let eng = t.seed_group(app, "00g-eng", false).await;
    let ops = t.seed_group(app, "00g-ops", false).await;
    let gone = t.seed_group(app, "00g-gone", true).await;
    let everyone: Vec<ExternalUserId> = names.iter().map(|n| ext_user(n)).collect();
    for group in [eng, ops, gone] {
        t.store
            .add_group_members_with(app, idp, group, &everyone, &no_effects)
            .await
            .unwrap();
    }
    let mut memberships: Vec<IdpMembership> = Vec::new();
    let mut after = None;
    loop {
        let page = t
            .store
            .page_idp_memberships(app, idp, after, 3)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        assert!(page.len() <= 3);
        after = Some((last.user_id, last.group_id));
        memberships.extend(page);
    }
    let deprovisioned = ids[4];
    let mut expected: Vec<(Uuid, Uuid)> = ids
        .iter()
        .filter(|u| **u != deprovisioned)
        .flat_map(|u| [(u.as_uuid(), eng.as_uuid()), (u.as_uuid(), ops.as_uuid())])
        .collect();
    expected
        .sort_by(|a, b| (a.0.as_bytes(), a.1.as_bytes()).cmp(&(b.0.as_bytes(), b.1.as_bytes())));
    assert_eq!(
        memberships
            .iter()
            .map(|m| (m.user_id.as_uuid(), m.group_id.as_uuid()))
            .collect::<Vec<_>>(),
        expected,
        "each live membership once, in (user ID, group ID) order"
    );
    let by_id: std::collections::HashMap<UserId, &str> =
        ids.iter().copied().zip(names.iter().copied()).collect();
    assert!(memberships.iter().all(|m| {
        by_id.get(&m.user_id) == Some(&m.user.as_str())
            && [("00g-eng", eng), ("00g-ops", ops)].contains(&(m.group.as_str(), m.group_id))
    }));

    // Another app sees none of it.
    let (other, other_idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    assert!(
        t.store
            .page_idp_users(other, other_idp, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        t.store
            .page_idp_memberships(other, idp, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    t.finish().await;
}

contract_tests!(
    r_dir_02_a_batch_upsert_says_what_it_created_updated_or_left_unchanged,
    r_dir_04_a_groups_listed_members_are_added_once_and_the_missing_are_counted,
    r_dir_04_the_stored_users_and_memberships_page_by_key_each_live_one_exactly_once,
);
