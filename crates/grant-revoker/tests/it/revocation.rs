//! Lifecycle events published on the bus, applied by the running service: state and grants
//! change as the rules say, the verifiers are told (R-JWT-10) and the audit trail receives
//! the event and every revocation with its cause (R-AUD-01, R-REV-06), once (R-HOOK-06).

use std::time::Duration;

use alter_bus::{AuditKind, Invalidation, StreamKind};
use alter_core::{IdpKind, LifecycleKind, Principal, UserStatus};
use alter_grant_revoker::Outcome;
use alter_store::{AppStore, GrantStore, GroupStore, UserStore, UserUpsert, revocation_cause};

use crate::support::{
    AuditTail, InvalidationTail, Kit, ext_group, ext_user, user_ref, wait_for, wait_settled,
};

#[tokio::test]
async fn r_rev_02_r_rev_06_a_deprovisioned_user_loses_every_grant_and_the_verifiers_and_trail_hear_of_it()
 {
    let kit = Kit::new(IdpKind::Okta).await;
    let ann = kit.user("00u_ann").await;
    let bob = kit.user("00u_bob").await;
    let g1 = kit.grant("ann-1", Principal::User(ann)).await;
    let g2 = kit.grant("ann-2", Principal::User(ann)).await;
    kit.grant("bob-1", Principal::User(bob)).await;
    let mut invalidations = InvalidationTail::open(&kit.env.bus).await;
    let mut audit = AuditTail::open(&kit.env.bus).await;
    let (service, _) = kit.start().await;

    let e = kit.event(
        10,
        LifecycleKind::UserDeprovisioned {
            user: user_ref("00u_ann"),
        },
    );
    kit.env.bus.publish_lifecycle(&e).await.unwrap();

    invalidations
        .expect(kit.app, Invalidation::User { user_id: ann })
        .await;
    let user = kit.store.get_user(kit.app, ann).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Deprovisioned);
    for grant in [&g1, &g2] {
        let stored = kit
            .store
            .get_grant(kit.app, grant.id)
            .await
            .unwrap()
            .unwrap();
        assert!(stored.revoked_at.is_some());
        assert_eq!(stored.revoked_by, Some(revocation_cause(&e)));
    }
    assert_eq!(
        kit.store
            .list_active_grants_for_user(kit.app, bob, false)
            .await
            .unwrap()
            .len(),
        1,
        "another user's grants stay"
    );

    let records = audit.until(3).await.to_vec();
    let lifecycle = records.iter().find(|r| r.event_id == e.event_id).unwrap();
    assert_eq!(
        lifecycle.kind,
        AuditKind::Lifecycle(LifecycleKind::UserDeprovisioned {
            user: alter_core::UserRef {
                external_id: ext_user("00u_ann"),
                user_id: Some(ann),
            },
        })
    );
    let mut revoked: Vec<_> = records
        .iter()
        .filter_map(|r| match &r.kind {
            AuditKind::GrantRevoked {
                grant_id,
                principal,
                caused_by,
                actor,
            } => {
                assert_eq!(*principal, Principal::User(ann));
                assert_eq!(*caused_by, Some(e.event_id));
                assert_eq!(*actor, None);
                assert_eq!(r.event_id.as_uuid(), grant_id.as_uuid());
                Some(*grant_id)
            }
            _ => None,
        })
        .collect();
    revoked.sort();
    let mut expected = vec![g1.id, g2.id];
    expected.sort();
    assert_eq!(revoked, expected);
    service.stop().await.unwrap();
    kit.finish().await;
}

#[tokio::test]
async fn r_rev_03_r_jwt_10_suspension_keeps_the_grants_and_reactivation_restores_the_user() {
    let kit = Kit::new(IdpKind::Okta).await;
    let ann = kit.user("00u_ann").await;
    kit.grant("ann-1", Principal::User(ann)).await;
    let mut invalidations = InvalidationTail::open(&kit.env.bus).await;
    let (service, tally) = kit.start().await;

    let suspend = kit.event(
        10,
        LifecycleKind::UserSuspended {
            user: user_ref("00u_ann"),
        },
    );
    kit.env.bus.publish_lifecycle(&suspend).await.unwrap();
    invalidations
        .expect(kit.app, Invalidation::User { user_id: ann })
        .await;
    let user = kit.store.get_user(kit.app, ann).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Suspended);
    let grants = kit
        .store
        .list_active_grants_for_user(kit.app, ann, false)
        .await
        .unwrap();
    assert_eq!(grants.len(), 1, "hidden by the status, not revoked");

    let unsuspend = kit.event(
        20,
        LifecycleKind::UserReactivated {
            user: user_ref("00u_ann"),
        },
    );
    kit.env.bus.publish_lifecycle(&unsuspend).await.unwrap();
    invalidations
        .expect(kit.app, Invalidation::User { user_id: ann })
        .await;
    let user = kit.store.get_user(kit.app, ann).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(tally.get(Outcome::Applied), 2);
    service.stop().await.unwrap();
    kit.finish().await;
}

#[tokio::test]
async fn r_rev_04_a_removed_member_loses_the_groups_grants_which_stay_for_the_others() {
    let kit = Kit::new(IdpKind::Clerk).await;
    let ann = kit.user("user_ann").await;
    let bob = kit.user("user_bob").await;
    let team = kit.group("org_team").await;
    kit.member(ann, team).await;
    kit.member(bob, team).await;
    let team_grant = kit.grant("team", Principal::Group(team)).await;
    let mut invalidations = InvalidationTail::open(&kit.env.bus).await;
    let mut audit = AuditTail::open(&kit.env.bus).await;
    let (service, _) = kit.start().await;

    let removal = kit.event(
        10,
        LifecycleKind::MembershipRemoved {
            user: user_ref("user_ann"),
            group: ext_group("org_team"),
        },
    );
    kit.env.bus.publish_lifecycle(&removal).await.unwrap();
    invalidations
        .expect(kit.app, Invalidation::User { user_id: ann })
        .await;
    let grants_of = |user| {
        let store = kit.store.clone();
        let app = kit.app;
        async move {
            store
                .list_active_grants_for_user(app, user, true)
                .await
                .unwrap()
                .into_iter()
                .map(|g| g.id)
                .collect::<Vec<_>>()
        }
    };
    assert!(grants_of(ann).await.is_empty());
    assert_eq!(grants_of(bob).await, [team_grant.id]);
    let records = audit.until(1).await;
    assert_eq!(records[0].event_id, removal.event_id);
    assert_eq!(records[0].subject_token(), "membership_removed");
    service.stop().await.unwrap();
    kit.finish().await;
}

#[tokio::test]
async fn r_rev_05_a_deleted_group_loses_its_members_and_its_grants_and_every_verifier_drops_the_apps_grants()
 {
    let kit = Kit::new(IdpKind::Clerk).await;
    let ann = kit.user("user_ann").await;
    let team = kit.group("org_team").await;
    kit.member(ann, team).await;
    let team_grant = kit.grant("team", Principal::Group(team)).await;
    let ann_grant = kit.grant("ann", Principal::User(ann)).await;
    let mut invalidations = InvalidationTail::open(&kit.env.bus).await;
    let mut audit = AuditTail::open(&kit.env.bus).await;
    let (service, _) = kit.start().await;

    let deletion = kit.event(
        10,
        LifecycleKind::GroupDeleted {
            group: ext_group("org_team"),
        },
    );
    kit.env.bus.publish_lifecycle(&deletion).await.unwrap();
    invalidations.expect(kit.app, Invalidation::AppGrants).await;
    let group = kit.store.get_group(kit.app, team).await.unwrap().unwrap();
    assert!(group.deleted_at.is_some());
    assert!(
        kit.store
            .list_group_members(kit.app, team)
            .await
            .unwrap()
            .is_empty()
    );
    let stored = kit
        .store
        .get_grant(kit.app, team_grant.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.revoked_by, Some(revocation_cause(&deletion)));
    let stored = kit
        .store
        .get_grant(kit.app, ann_grant.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked_at.is_none(), "the member's own grant stays");

    // The deletion, the group grant's revocation, and ann's removed membership.
    let records = audit.until(3).await.to_vec();
    let kinds: std::collections::BTreeSet<&str> =
        records.iter().map(|r| r.subject_token()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["grant_revoked", "group_deleted", "membership_removed"]
    );
    service.stop().await.unwrap();
    kit.finish().await;
}

#[tokio::test]
async fn r_hook_06_the_same_event_redelivered_after_the_buss_duplicate_window_has_no_second_effect()
{
    let kit = Kit::new(IdpKind::Clerk).await;
    let ann = kit.user("user_ann").await;
    kit.grant("ann-1", Principal::User(ann)).await;
    // Stands in for "minutes apart": JetStream forgets the event's ID after its window, as it
    // does after two minutes by default, while Svix retries for a day.
    let jetstream = kit.env.bus.jetstream();
    let name = kit.env.bus.names().stream(StreamKind::Lifecycle);
    let mut config = jetstream
        .get_stream(&name)
        .await
        .unwrap()
        .info()
        .await
        .unwrap()
        .config
        .clone();
    config.duplicate_window = Duration::from_millis(500);
    jetstream.update_stream(config).await.unwrap();
    let mut audit = AuditTail::open(&kit.env.bus).await;
    let (service, tally) = kit.start().await;

    let e = kit.event(
        10,
        LifecycleKind::UserDeprovisioned {
            user: user_ref("user_ann"),
        },
    );
    let first = kit.env.bus.publish_lifecycle(&e).await.unwrap();
    assert!(!first.duplicate);
    wait_for(&tally, Outcome::Applied, 1).await;
    // Meanwhile an admin grants the user something again; the redelivery must not revoke it.
    let regranted = kit.grant("ann-2", Principal::User(ann)).await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let second = kit.env.bus.publish_lifecycle(&e).await.unwrap();
    assert!(
        !second.duplicate,
        "beyond the window JetStream stores it again"
    );
    assert_ne!(second.sequence, first.sequence);
    wait_for(&tally, Outcome::Duplicate, 1).await;
    wait_settled(&kit.env.bus, Duration::from_secs(10)).await;

    assert_eq!(tally.get(Outcome::Applied), 1);
    let stored = kit
        .store
        .get_grant(kit.app, regranted.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked_at.is_none());
    assert_eq!(kit.outbox_rows("audit", e.event_id.as_uuid()).await, 1);
    // One lifecycle record and one revocation reach the trail's stream, nothing more.
    let records = audit.until(2).await;
    assert_eq!(records.len(), 2);
    let records = audit.settle(Duration::from_millis(500)).await;
    assert_eq!(records.len(), 2, "{records:?}");
    service.stop().await.unwrap();
    kit.finish().await;
}

#[tokio::test]
async fn an_okta_suspend_delivered_after_the_newer_unsuspend_leaves_the_user_active() {
    let kit = Kit::new(IdpKind::Okta).await;
    let ann = kit.user("00u_ann").await;
    let (service, tally) = kit.start().await;
    let suspend = kit.event(
        10,
        LifecycleKind::UserSuspended {
            user: user_ref("00u_ann"),
        },
    );
    let unsuspend = kit.event(
        20,
        LifecycleKind::UserReactivated {
            user: user_ref("00u_ann"),
        },
    );
    // Okta retried the suspend (t1) and it arrives after the unsuspend (t2).
    kit.env.bus.publish_lifecycle(&unsuspend).await.unwrap();
    kit.env.bus.publish_lifecycle(&suspend).await.unwrap();
    wait_for(&tally, Outcome::Stale, 1).await;
    let user = kit.store.get_user(kit.app, ann).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(
        kit.outbox_rows("audit", suspend.event_id.as_uuid()).await,
        0
    );
    service.stop().await.unwrap();
    kit.finish().await;
}

#[tokio::test]
async fn r_jwt_08_a_user_deprovisioned_before_their_first_sign_in_is_kept_refused() {
    let kit = Kit::new(IdpKind::Auth0).await;
    let mut audit = AuditTail::open(&kit.env.bus).await;
    let (service, tally) = kit.start().await;
    let e = kit.event(
        10,
        LifecycleKind::UserDeprovisioned {
            user: user_ref("auth0|ghost"),
        },
    );
    kit.env.bus.publish_lifecycle(&e).await.unwrap();
    wait_for(&tally, Outcome::Tombstone, 1).await;

    // The sign-in with a token issued before the deletion: just-in-time provisioning finds
    // the user, deprovisioned.
    let jit = kit
        .store
        .upsert_user(
            kit.app,
            kit.idp,
            &UserUpsert::jit(ext_user("auth0|ghost"), None, None),
        )
        .await
        .unwrap();
    assert!(!jit.created);
    assert_eq!(jit.user.status, UserStatus::Deprovisioned);
    let records = audit.until(1).await;
    assert_eq!(records[0].event_id, e.event_id);
    service.stop().await.unwrap();
    kit.finish().await;
}

#[tokio::test]
async fn an_event_that_can_never_apply_is_terminated_counted_and_does_not_hold_up_the_others() {
    let kit = Kit::new(IdpKind::Okta).await;
    let ann = kit.user("00u_ann").await;
    // An app without identity provider: a user named by its event cannot be recorded.
    let orphan = kit.store.create_app("no idp").await.unwrap().id;
    let (service, tally) = kit.start().await;
    let poison = crate::support::event(
        orphan,
        10,
        LifecycleKind::UserDeprovisioned {
            user: user_ref("00u_x"),
        },
    );
    let fine = kit.event(
        10,
        LifecycleKind::UserSuspended {
            user: user_ref("00u_ann"),
        },
    );
    kit.env.bus.publish_lifecycle(&poison).await.unwrap();
    kit.env.bus.publish_lifecycle(&fine).await.unwrap();
    wait_for(&tally, Outcome::Rejected, 1).await;
    wait_for(&tally, Outcome::Applied, 1).await;
    wait_settled(&kit.env.bus, Duration::from_secs(10)).await;
    let user = kit.store.get_user(kit.app, ann).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Suspended);
    // Terminated, not redelivered: one rejection only.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tally.get(Outcome::Rejected), 1);
    let admin = reqwest_metrics(&service).await;
    assert!(
        admin
            .lines()
            .any(|line| line.starts_with("alter_revoker_events_total{")
                && line.contains("kind=\"user_deprovisioned\"")
                && line.contains("outcome=\"rejected\"")),
        "{admin}"
    );
    assert!(admin.contains("alter_revoker_lag_seconds"), "{admin}");
    assert!(admin.contains("alter_revoker_apply_seconds"), "{admin}");
    service.stop().await.unwrap();
    kit.finish().await;
}

async fn reqwest_metrics(service: &alter_testkit::Spawned) -> String {
    reqwest::get(format!("{}/metrics", service.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}
