//! Applying lifecycle events: each effect in one transaction with its outbox messages, once
//! per event however late it is redelivered (R-HOOK-06), never an older event over a newer
//! one, tombstones for users and groups never seen, and nothing across apps.

use std::sync::atomic::{AtomicUsize, Ordering};

use alter_core::{
    AppId, EventId, EventSource, ExternalUserId, GrantId, GroupId, IdpKind, LifecycleEvent,
    LifecycleKind, Principal, UserId, UserRef, UserStatus,
};
use alter_store::{
    Applied, LifecycleChange, MembershipDiff, NewGrant, OutboxMessage, OutboxTopic, StoreError,
    UserUpsert, event_state_version, revocation_cause,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use uuid::Uuid;

use crate::support::{TestStore, contract_tests, ext_group, ext_user};

const CONSUMER: &str = "grant-revoker";

/// 2026-01-01T00:00:00Z plus `secs`.
fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap() + Duration::seconds(secs)
}

fn user_ref(external: &str) -> UserRef {
    UserRef {
        external_id: ext_user(external),
        user_id: None,
    }
}

fn event(app: AppId, occurred_at: DateTime<Utc>, kind: LifecycleKind) -> LifecycleEvent {
    LifecycleEvent {
        event_id: EventId::new(),
        provider_event_id: Some(format!("evt_{}", Uuid::new_v4().simple())),
        app_id: app,
        source: EventSource::Webhook,
        occurred_at,
        kind,
    }
}

fn deprovisioned(app: AppId, secs: i64, user: &str) -> LifecycleEvent {
    event(
        app,
        at(secs),
        LifecycleKind::UserDeprovisioned {
            user: user_ref(user),
        },
    )
}

fn suspended(app: AppId, secs: i64, user: &str) -> LifecycleEvent {
    event(
        app,
        at(secs),
        LifecycleKind::UserSuspended {
            user: user_ref(user),
        },
    )
}

fn reactivated(app: AppId, secs: i64, user: &str) -> LifecycleEvent {
    event(
        app,
        at(secs),
        LifecycleKind::UserReactivated {
            user: user_ref(user),
        },
    )
}

fn grant(credential: &str, principal: Principal) -> NewGrant {
    NewGrant {
        credential_ref: credential.to_owned(),
        principal,
        expires_at: None,
    }
}

/// Effects that write one audit message per applied change (ID = the event's) and count how
/// often they were computed.
struct Recorder {
    event_id: std::sync::Mutex<Uuid>,
    calls: AtomicUsize,
}

impl Recorder {
    fn new() -> Self {
        Self {
            event_id: std::sync::Mutex::new(Uuid::nil()),
            calls: AtomicUsize::new(0),
        }
    }

    /// Applies `event` with these effects.
    async fn apply(&self, t: &TestStore, event: &LifecycleEvent) -> Applied {
        *self.event_id.lock().unwrap() = event.event_id.as_uuid();
        let app = event.app_id;
        let effects = |change: &LifecycleChange| {
            self.calls.fetch_add(1, Ordering::SeqCst);
            vec![OutboxMessage {
                id: *self.event_id.lock().unwrap(),
                app_id: app,
                topic: OutboxTopic::Audit,
                payload: format!("{change:?}").into_bytes(),
            }]
        };
        t.store
            .apply_lifecycle(event, CONSUMER, &effects)
            .await
            .unwrap()
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

/// Outbox rows written with the event's ID.
async fn outbox_rows(t: &TestStore, event: &LifecycleEvent) -> i64 {
    t.count(
        "SELECT count(*) FROM outbox WHERE id = $1",
        Some(event.event_id.as_uuid()),
    )
    .await
}

fn done(applied: Applied) -> LifecycleChange {
    match applied {
        Applied::Done(change) => change,
        other => panic!("expected the event to be applied, got {other:?}"),
    }
}

async fn status_of(t: &TestStore, app: AppId, user: &str) -> UserStatus {
    t.store
        .get_user_by_external_id(app, &ext_user(user))
        .await
        .unwrap()
        .unwrap()
        .status
}

async fn active_refs(t: &TestStore, app: AppId, user: UserId) -> Vec<String> {
    let mut refs: Vec<String> = t
        .store
        .list_active_grants_for_user(app, user, true)
        .await
        .unwrap()
        .into_iter()
        .map(|g| g.credential_ref)
        .collect();
    refs.sort();
    refs
}

/// A sign-in whose token (issued at `issued_at`) lists exactly `group`: what it changed.
async fn signed_in_with(
    t: &TestStore,
    app: AppId,
    user: UserId,
    group: GroupId,
    issued_at: DateTime<Utc>,
) -> MembershipDiff {
    t.store
        .replace_user_memberships_with(
            app,
            user,
            &[group],
            EventSource::Jwt,
            Some(issued_at),
            &alter_store::no_effects,
        )
        .await
        .unwrap()
}

async fn r_rev_02_r_rev_06_deprovisioning_revokes_every_user_grant_with_the_event_as_cause(
    t: TestStore,
) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let ann = t.user(app, idp, "00u_ann").await;
    let team = t.group(app, "00g_team").await;
    t.store
        .add_membership(app, ann, team, EventSource::Jwt)
        .await
        .unwrap();
    let g1 = t
        .store
        .create_grant(app, &grant("ann-1", Principal::User(ann)))
        .await
        .unwrap();
    let g2 = t
        .store
        .create_grant(app, &grant("ann-2", Principal::User(ann)))
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("team", Principal::Group(team)))
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("sys", Principal::System))
        .await
        .unwrap();

    let recorder = Recorder::new();
    let e = deprovisioned(app, 10, "00u_ann");
    let change = done(recorder.apply(&t, &e).await);

    let user = change.user.as_ref().unwrap();
    assert_eq!(user.user_id, ann);
    assert_eq!(user.previous_status, Some(UserStatus::Active));
    assert_eq!(user.status, UserStatus::Deprovisioned);
    assert_eq!(user.state_version, event_state_version(e.occurred_at));
    assert!(!user.created);
    assert_eq!(
        change
            .revoked
            .iter()
            .map(|g| g.id)
            .collect::<Vec<GrantId>>(),
        {
            let mut ids = vec![g1.id, g2.id];
            ids.sort();
            ids
        }
    );
    let cause = revocation_cause(&e);
    assert_eq!(cause.source, EventSource::Webhook);
    assert!(cause.cause.contains(&e.event_id.to_string()), "{cause:?}");
    assert!(
        cause
            .cause
            .contains(e.provider_event_id.as_deref().unwrap()),
        "{cause:?}"
    );
    let stored = t.store.get_grant(app, g1.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_by, Some(cause));
    // Group and system grants are not the user's: they stay (R-REV-02 is about the user's).
    let sys_and_team: Vec<String> = t
        .store
        .list_grants(app, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.revoked_at.is_none())
        .map(|g| g.credential_ref)
        .collect();
    assert_eq!(sys_and_team.len(), 2, "{sys_and_team:?}");
    assert_eq!(
        status_of(&t, app, "00u_ann").await,
        UserStatus::Deprovisioned
    );
    assert_eq!(recorder.calls(), 1);
    assert_eq!(outbox_rows(&t, &e).await, 1);
    t.finish().await;
}

async fn r_rev_03_suspension_keeps_the_grants_and_reactivation_restores_the_user(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let ann = t.user(app, idp, "00u_ann").await;
    t.store
        .create_grant(app, &grant("ann-1", Principal::User(ann)))
        .await
        .unwrap();
    let recorder = Recorder::new();

    let change = done(recorder.apply(&t, &suspended(app, 10, "00u_ann")).await);
    let user = change.user.unwrap();
    assert_eq!(
        (user.previous_status, user.status),
        (Some(UserStatus::Active), UserStatus::Suspended)
    );
    assert!(change.revoked.is_empty());
    assert_eq!(status_of(&t, app, "00u_ann").await, UserStatus::Suspended);
    // Hidden by the status (R-JWT-08), not revoked.
    assert_eq!(active_refs(&t, app, ann).await, ["ann-1"]);

    let change = done(recorder.apply(&t, &reactivated(app, 20, "00u_ann")).await);
    let user = change.user.unwrap();
    assert_eq!(
        (user.previous_status, user.status),
        (Some(UserStatus::Suspended), UserStatus::Active)
    );
    assert_eq!(status_of(&t, app, "00u_ann").await, UserStatus::Active);
    assert_eq!(active_refs(&t, app, ann).await, ["ann-1"]);
    assert_eq!(recorder.calls(), 2);
    t.finish().await;
}

async fn r_hook_03_user_updated_syncs_email_and_display_name_and_keeps_what_is_not_given(
    t: TestStore,
) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    t.store
        .upsert_user(
            app,
            idp,
            &UserUpsert::jit(
                ext_user("user_ann"),
                Some("old@example.com".into()),
                Some("Ann".into()),
            ),
        )
        .await
        .unwrap();
    let recorder = Recorder::new();
    let update = event(
        app,
        at(10),
        LifecycleKind::UserUpdated {
            user: user_ref("user_ann"),
            email: Some("ann@example.com".into()),
            display_name: None,
        },
    );
    let change = done(recorder.apply(&t, &update).await);
    assert!(change.user.as_ref().unwrap().profile_changed);
    let stored = t
        .store
        .get_user_by_external_id(app, &ext_user("user_ann"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.email.as_deref(), Some("ann@example.com"));
    assert_eq!(stored.display_name.as_deref(), Some("Ann"));
    // A profile update is not a status change: the version does not move.
    assert_eq!(stored.state_version, 0);

    // The same values again (another event) change nothing and write nothing.
    let same = event(app, at(11), update.kind.clone());
    let change = done(recorder.apply(&t, &same).await);
    assert!(change.is_empty(), "{change:?}");
    assert_eq!(recorder.calls(), 1);
    assert_eq!(outbox_rows(&t, &same).await, 0);
    t.finish().await;
}

async fn r_rev_04_a_removed_membership_ends_that_users_group_access_and_the_group_grant_stays(
    t: TestStore,
) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let ann = t.user(app, idp, "user_ann").await;
    let bob = t.user(app, idp, "user_bob").await;
    let team = t.group(app, "org_team").await;
    for user in [ann, bob] {
        t.store
            .add_membership(app, user, team, EventSource::Jwt)
            .await
            .unwrap();
    }
    let team_grant = t
        .store
        .create_grant(app, &grant("team", Principal::Group(team)))
        .await
        .unwrap();
    let recorder = Recorder::new();
    let removal = event(
        app,
        at(10),
        LifecycleKind::MembershipRemoved {
            user: user_ref("user_ann"),
            group: ext_group("org_team"),
        },
    );
    let change = done(recorder.apply(&t, &removal).await);
    assert_eq!(change.memberships_removed.len(), 1);
    let removed = &change.memberships_removed[0];
    assert_eq!((removed.user_id, removed.group_id), (ann, team));
    assert_eq!(removed.external_group_id.as_str(), "org_team");
    assert!(change.revoked.is_empty());
    assert!(!change.group.as_ref().unwrap().deleted);

    assert!(active_refs(&t, app, ann).await.is_empty());
    assert_eq!(active_refs(&t, app, bob).await, ["team"]);
    let stored = t
        .store
        .get_grant(app, team_grant.id)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.revoked_at.is_none());

    // Removing it again (another event) finds nothing to remove: no effects.
    let again = event(app, at(11), removal.kind.clone());
    assert!(done(recorder.apply(&t, &again).await).is_empty());
    // Nor for a user or group never seen.
    for (user, group) in [("user_nobody", "org_team"), ("user_bob", "org_nothing")] {
        let unknown = event(
            app,
            at(12),
            LifecycleKind::MembershipRemoved {
                user: user_ref(user),
                group: ext_group(group),
            },
        );
        assert!(done(recorder.apply(&t, &unknown).await).is_empty());
    }
    assert_eq!(recorder.calls(), 1);
    assert_eq!(active_refs(&t, app, bob).await, ["team"]);

    // A token issued before the removal still lists the group: it does not bring the
    // membership back. One issued after it (re-added upstream) does.
    let from_old_token = signed_in_with(&t, app, ann, team, at(9)).await;
    assert!(from_old_token.is_empty(), "{from_old_token:?}");
    assert!(active_refs(&t, app, ann).await.is_empty());
    let at_removal = signed_in_with(&t, app, ann, team, at(11)).await;
    assert!(at_removal.is_empty(), "the latest removal (11 s) wins");
    let from_new_token = signed_in_with(&t, app, ann, team, at(12)).await;
    assert_eq!(from_new_token.added, [team]);
    assert_eq!(active_refs(&t, app, ann).await, ["team"]);
    t.finish().await;
}

async fn r_rev_05_a_deleted_group_is_marked_deleted_loses_its_members_and_its_grants(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let ann = t.user(app, idp, "user_ann").await;
    let bob = t.user(app, idp, "user_bob").await;
    let team = t.group(app, "org_team").await;
    let other = t.group(app, "org_other").await;
    for user in [ann, bob] {
        t.store
            .add_membership(app, user, team, EventSource::Jwt)
            .await
            .unwrap();
    }
    t.store
        .add_membership(app, bob, other, EventSource::Jwt)
        .await
        .unwrap();
    let g1 = t
        .store
        .create_grant(app, &grant("team-1", Principal::Group(team)))
        .await
        .unwrap();
    let g2 = t
        .store
        .create_grant(app, &grant("team-2", Principal::Group(team)))
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("other", Principal::Group(other)))
        .await
        .unwrap();
    t.store
        .create_grant(app, &grant("ann", Principal::User(ann)))
        .await
        .unwrap();

    let recorder = Recorder::new();
    let deletion = event(
        app,
        at(10),
        LifecycleKind::GroupDeleted {
            group: ext_group("org_team"),
        },
    );
    let change = done(recorder.apply(&t, &deletion).await);
    let group = change.group.as_ref().unwrap();
    assert_eq!(group.group_id, team);
    assert!(group.deleted && !group.created);
    let mut members: Vec<UserId> = change
        .memberships_removed
        .iter()
        .map(|m| m.user_id)
        .collect();
    members.sort();
    let mut expected = vec![ann, bob];
    expected.sort();
    assert_eq!(members, expected);
    let mut revoked: Vec<GrantId> = change.revoked.iter().map(|g| g.id).collect();
    revoked.sort();
    let mut expected = vec![g1.id, g2.id];
    expected.sort();
    assert_eq!(revoked, expected);
    assert_eq!(
        change.revoked[0].revoked_by,
        Some(revocation_cause(&deletion))
    );

    let stored = t.store.get_group(app, team).await.unwrap().unwrap();
    assert!(stored.deleted_at.is_some());
    assert!(
        t.store
            .list_group_members(app, team)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(active_refs(&t, app, ann).await, ["ann"]);
    assert_eq!(active_refs(&t, app, bob).await, ["other"]);

    // Deleting it again (another event) changes nothing.
    let again = event(app, at(11), deletion.kind.clone());
    let change = done(recorder.apply(&t, &again).await);
    assert!(change.is_empty(), "{change:?}");
    assert_eq!(recorder.calls(), 1);
    t.finish().await;
}

async fn r_hook_06_a_redelivery_however_late_changes_nothing_and_writes_no_effects(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Auth0).await;
    let ann = t.user(app, idp, "auth0|ann").await;
    t.store
        .create_grant(app, &grant("ann-1", Principal::User(ann)))
        .await
        .unwrap();
    let recorder = Recorder::new();
    let e = deprovisioned(app, 10, "auth0|ann");
    assert!(!done(recorder.apply(&t, &e).await).is_empty());
    // There is no time window in the database: the same event days later is the same event.
    // Meanwhile the user came back (an admin re-created their grant): the redelivery must not
    // revoke it again.
    t.store
        .create_grant(app, &grant("ann-2", Principal::User(ann)))
        .await
        .unwrap();
    for _ in 0..3 {
        assert_eq!(recorder.apply(&t, &e).await, Applied::Duplicate);
    }
    assert_eq!(recorder.calls(), 1);
    assert_eq!(outbox_rows(&t, &e).await, 1);
    let active: Vec<String> = t
        .store
        .list_grants(app, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.revoked_at.is_none())
        .map(|g| g.credential_ref)
        .collect();
    assert_eq!(active, ["ann-2"]);
    // Recorded per consumer: another consumer applies it for itself.
    assert!(
        t.store
            .is_processed(app, CONSUMER, e.event_id)
            .await
            .unwrap()
    );
    let other = t
        .store
        .apply_lifecycle(&e, "another-consumer", &|_: &LifecycleChange| Vec::new())
        .await
        .unwrap();
    assert_ne!(other, Applied::Duplicate);
    t.finish().await;
}

async fn r_hook_06_the_same_event_applied_concurrently_takes_effect_once(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let ann = t.user(app, idp, "00u_ann").await;
    for i in 0..3 {
        t.store
            .create_grant(app, &grant(&format!("ann-{i}"), Principal::User(ann)))
            .await
            .unwrap();
    }
    let e = deprovisioned(app, 10, "00u_ann");
    let calls = AtomicUsize::new(0);
    let effects = |_: &LifecycleChange| {
        calls.fetch_add(1, Ordering::SeqCst);
        Vec::new()
    };
    let results =
        futures::future::join_all((0..4).map(|_| t.store.apply_lifecycle(&e, CONSUMER, &effects)))
            .await;
    let results: Vec<Applied> = results.into_iter().map(Result::unwrap).collect();
    let applied: Vec<&Applied> = results
        .iter()
        .filter(|a| !matches!(a, Applied::Duplicate))
        .collect();
    assert_eq!(applied.len(), 1, "{results:?}");
    assert_eq!(applied[0].change().unwrap().revoked.len(), 3);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    t.finish().await;
}

async fn an_okta_suspend_delivered_after_a_newer_unsuspend_is_stale_and_leaves_the_user_active(
    t: TestStore,
) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let ann = t.user(app, idp, "00u_ann").await;
    let recorder = Recorder::new();
    // Suspended at t=5 (delivered in order).
    done(recorder.apply(&t, &suspended(app, 5, "00u_ann")).await);
    // Unsuspend at t=20 is delivered before the suspend at t=10 that preceded it.
    let unsuspend = reactivated(app, 20, "00u_ann");
    done(recorder.apply(&t, &unsuspend).await);
    let late = suspended(app, 10, "00u_ann");
    let applied = recorder.apply(&t, &late).await;
    assert_eq!(
        applied,
        Applied::Stale {
            user_id: ann,
            stored_version: event_state_version(unsuspend.occurred_at),
            event_version: event_state_version(late.occurred_at),
        }
    );
    assert_eq!(status_of(&t, app, "00u_ann").await, UserStatus::Active);
    assert_eq!(outbox_rows(&t, &late).await, 0);
    assert_eq!(recorder.calls(), 2);
    // A stale event is still recorded: its redelivery is a duplicate.
    assert_eq!(recorder.apply(&t, &late).await, Applied::Duplicate);
    // An older deprovisioning, too, is stale (a newer state is known); a newer one applies.
    assert!(matches!(
        recorder.apply(&t, &deprovisioned(app, 15, "00u_ann")).await,
        Applied::Stale { .. }
    ));
    // A reactivation of an active user changes nothing but records its version.
    let noop = reactivated(app, 30, "00u_ann");
    let change = done(recorder.apply(&t, &noop).await);
    assert!(change.is_empty(), "{change:?}");
    assert_eq!(
        change.user.unwrap().state_version,
        event_state_version(noop.occurred_at)
    );
    assert!(matches!(
        recorder.apply(&t, &suspended(app, 25, "00u_ann")).await,
        Applied::Stale { .. }
    ));
    // Events of the same instant apply in delivery order (core's rule).
    let change = done(recorder.apply(&t, &suspended(app, 30, "00u_ann")).await);
    assert_eq!(change.user.unwrap().status, UserStatus::Suspended);
    t.finish().await;
}

async fn r_jwt_08_an_unknown_user_deprovisioned_is_kept_as_a_tombstone_and_a_later_sign_in_is_refused(
    t: TestStore,
) {
    let (app, idp) = t.app_with_idp(IdpKind::Auth0).await;
    let recorder = Recorder::new();
    let e = deprovisioned(app, 10, "auth0|ghost");
    let change = done(recorder.apply(&t, &e).await);
    assert!(change.created_tombstone());
    let user = change.user.unwrap();
    assert!(user.created);
    assert_eq!(user.previous_status, None);
    assert_eq!(user.status, UserStatus::Deprovisioned);
    assert_eq!(recorder.calls(), 1, "a tombstone is a change");

    let stored = t
        .store
        .get_user_by_external_id(app, &ext_user("auth0|ghost"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, user.user_id);
    assert_eq!(stored.idp_id, idp);
    assert_eq!(stored.status, UserStatus::Deprovisioned);
    assert_eq!(stored.state_version, event_state_version(e.occurred_at));

    // The user signs in later with a token issued before the deletion: the just-in-time
    // upsert (version 0) finds the tombstone and the status stays deprovisioned.
    let jit = t
        .store
        .upsert_user(
            app,
            idp,
            &UserUpsert::jit(
                ext_user("auth0|ghost"),
                Some("ghost@example.com".into()),
                None,
            ),
        )
        .await
        .unwrap();
    assert!(!jit.created);
    assert_eq!(jit.user.id, user.user_id);
    assert_eq!(jit.user.status, UserStatus::Deprovisioned);

    // A suspended tombstone likewise; a reactivated one is active at its version, so an
    // older suspension arriving later is stale.
    let change = done(recorder.apply(&t, &suspended(app, 10, "auth0|sus")).await);
    assert_eq!(change.user.unwrap().status, UserStatus::Suspended);
    let change = done(
        recorder
            .apply(&t, &reactivated(app, 20, "auth0|back"))
            .await,
    );
    assert_eq!(change.user.unwrap().status, UserStatus::Active);
    assert!(matches!(
        recorder.apply(&t, &suspended(app, 15, "auth0|back")).await,
        Applied::Stale { .. }
    ));
    // A profile update of an unknown user records them as a sign-in would (version 0).
    let update = event(
        app,
        at(30),
        LifecycleKind::UserUpdated {
            user: user_ref("user_new"),
            email: Some("new@example.com".into()),
            display_name: Some("New".into()),
        },
    );
    let change = done(recorder.apply(&t, &update).await);
    let created = change.user.unwrap();
    assert!(created.created);
    assert_eq!(
        (created.status, created.state_version),
        (UserStatus::Active, 0)
    );
    t.finish().await;
}

async fn r_rev_05_an_unknown_group_deleted_is_kept_as_a_deleted_group(t: TestStore) {
    let (app, _) = t.app_with_idp(IdpKind::Clerk).await;
    let recorder = Recorder::new();
    let deletion = event(
        app,
        at(10),
        LifecycleKind::GroupDeleted {
            group: ext_group("org_ghost"),
        },
    );
    let change = done(recorder.apply(&t, &deletion).await);
    let group = change.group.unwrap();
    assert!(group.created && group.deleted);
    let stored = t
        .store
        .get_group_by_external_id(app, &ext_group("org_ghost"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.id, group.group_id);
    assert!(stored.deleted_at.is_some());
    assert_eq!(recorder.calls(), 1);
    t.finish().await;
}

async fn an_event_for_an_app_without_identity_provider_that_would_create_a_user_is_refused_and_not_recorded(
    t: TestStore,
) {
    let app = t.store.create_app("no idp").await.unwrap().id;
    let e = deprovisioned(app, 10, "auth0|ghost");
    let result = t
        .store
        .apply_lifecycle(&e, CONSUMER, &|_: &LifecycleChange| Vec::new())
        .await;
    assert!(
        matches!(&result, Err(StoreError::NotFound { what }) if what.contains("identity provider")),
        "{result:?}"
    );
    assert!(
        !t.store
            .is_processed(app, CONSUMER, e.event_id)
            .await
            .unwrap()
    );
    t.finish().await;
}

async fn effects_are_written_only_when_the_event_changed_something(t: TestStore) {
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    t.user(app, idp, "00u_ann").await;
    let recorder = Recorder::new();
    let first = deprovisioned(app, 10, "00u_ann");
    done(recorder.apply(&t, &first).await);
    // Deprovisioned again by a later event (directory sync, then a webhook): no grants left,
    // no status change, nothing written.
    let second = deprovisioned(app, 20, "00u_ann");
    let change = done(recorder.apply(&t, &second).await);
    assert!(change.is_empty(), "{change:?}");
    // Deprovisioned is terminal: neither a reactivation nor a suspension changes it.
    for e in [
        reactivated(app, 30, "00u_ann"),
        suspended(app, 40, "00u_ann"),
    ] {
        assert!(done(recorder.apply(&t, &e).await).is_empty());
    }
    assert_eq!(
        status_of(&t, app, "00u_ann").await,
        UserStatus::Deprovisioned
    );
    // A membership added by an event changes nothing (memberships come from sign-ins and
    // directory sync).
    let added = event(
        app,
        at(50),
        LifecycleKind::MembershipAdded {
            user: user_ref("00u_ann"),
            group: ext_group("00g_x"),
        },
    );
    assert!(done(recorder.apply(&t, &added).await).is_empty());
    assert_eq!(recorder.calls(), 1);
    let rows: i64 = t.count("SELECT count(*) FROM outbox", None).await;
    assert_eq!(rows, 1);
    t.finish().await;
}

async fn app_isolation_an_event_changes_only_its_own_apps_user_group_and_grants(t: TestStore) {
    let (a, idp_a) = t.app_with_idp(IdpKind::Clerk).await;
    let (b, idp_b) = t.app_with_idp(IdpKind::Clerk).await;
    let ann_a = t.user(a, idp_a, "user_same").await;
    let ann_b = t.user(b, idp_b, "user_same").await;
    let team_a = t.group(a, "org_same").await;
    let team_b = t.group(b, "org_same").await;
    t.store
        .add_membership(a, ann_a, team_a, EventSource::Jwt)
        .await
        .unwrap();
    t.store
        .add_membership(b, ann_b, team_b, EventSource::Jwt)
        .await
        .unwrap();
    for (app, user, team) in [(a, ann_a, team_a), (b, ann_b, team_b)] {
        t.store
            .create_grant(app, &grant("user", Principal::User(user)))
            .await
            .unwrap();
        t.store
            .create_grant(app, &grant("team", Principal::Group(team)))
            .await
            .unwrap();
    }
    let recorder = Recorder::new();
    done(recorder.apply(&t, &deprovisioned(a, 10, "user_same")).await);
    done(
        recorder
            .apply(
                &t,
                &event(
                    a,
                    at(11),
                    LifecycleKind::GroupDeleted {
                        group: ext_group("org_same"),
                    },
                ),
            )
            .await,
    );
    // A tombstone in app A for an external ID app B does not know.
    done(
        recorder
            .apply(&t, &deprovisioned(a, 12, "user_only_b"))
            .await,
    );

    assert_eq!(
        status_of(&t, a, "user_same").await,
        UserStatus::Deprovisioned
    );
    assert_eq!(status_of(&t, b, "user_same").await, UserStatus::Active);
    assert!(
        t.store
            .get_group(b, team_b)
            .await
            .unwrap()
            .unwrap()
            .deleted_at
            .is_none()
    );
    assert_eq!(
        t.store.list_group_members(b, team_b).await.unwrap().len(),
        1
    );
    assert_eq!(active_refs(&t, b, ann_b).await, ["team", "user"]);
    assert!(active_refs(&t, a, ann_a).await.is_empty());
    assert!(
        t.store
            .get_user_by_external_id(b, &ExternalUserId::parse("sub", "user_only_b").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    // The same event ID in another app is another app's event.
    let shared = EventId::new();
    let mut in_a = deprovisioned(a, 10, "user_same");
    in_a.event_id = shared;
    let mut in_b = deprovisioned(b, 10, "user_same");
    in_b.event_id = shared;
    done(recorder.apply(&t, &in_a).await);
    let change = done(recorder.apply(&t, &in_b).await);
    assert_eq!(change.user.unwrap().user_id, ann_b);
    assert_eq!(
        status_of(&t, b, "user_same").await,
        UserStatus::Deprovisioned
    );
    t.finish().await;
}

async fn r_rev_04_a_removal_and_a_token_of_the_same_second_are_ordered_by_the_fraction(
    t: TestStore,
) {
    let (app, idp) = t.app_with_idp(IdpKind::Clerk).await;
    let ann = t.user(app, idp, "user_ann").await;
    let team = t.group(app, "org_team").await;
    t.store
        .add_membership(app, ann, team, EventSource::Jwt)
        .await
        .unwrap();
    let removed_at = at(10) + Duration::milliseconds(500);
    let removal = event(
        app,
        removed_at,
        LifecycleKind::MembershipRemoved {
            user: user_ref("user_ann"),
            group: ext_group("org_team"),
        },
    );
    assert_eq!(
        done(Recorder::new().apply(&t, &removal).await)
            .memberships_removed
            .len(),
        1
    );
    // Tokens issued at the whole second and a quarter second later predate the removal;
    // one issued a microsecond after it does not.
    for issued_at in [at(10), at(10) + Duration::milliseconds(250), removed_at] {
        let diff = signed_in_with(&t, app, ann, team, issued_at).await;
        assert!(diff.is_empty(), "issued at {issued_at}: {diff:?}");
    }
    let later = signed_in_with(&t, app, ann, team, removed_at + Duration::microseconds(1)).await;
    assert_eq!(later.added, [team]);
    t.finish().await;
}

contract_tests!(
    r_rev_02_r_rev_06_deprovisioning_revokes_every_user_grant_with_the_event_as_cause,
    r_rev_03_suspension_keeps_the_grants_and_reactivation_restores_the_user,
    r_hook_03_user_updated_syncs_email_and_display_name_and_keeps_what_is_not_given,
    r_rev_04_a_removed_membership_ends_that_users_group_access_and_the_group_grant_stays,
    r_rev_05_a_deleted_group_is_marked_deleted_loses_its_members_and_its_grants,
    r_hook_06_a_redelivery_however_late_changes_nothing_and_writes_no_effects,
    r_hook_06_the_same_event_applied_concurrently_takes_effect_once,
    an_okta_suspend_delivered_after_a_newer_unsuspend_is_stale_and_leaves_the_user_active,
    r_rev_05_an_unknown_group_deleted_is_kept_as_a_deleted_group,
    effects_are_written_only_when_the_event_changed_something,
    app_isolation_an_event_changes_only_its_own_apps_user_group_and_grants,
    r_jwt_08_an_unknown_user_deprovisioned_is_kept_as_a_tombstone_and_a_later_sign_in_is_refused,
    an_event_for_an_app_without_identity_provider_that_would_create_a_user_is_refused_and_not_recorded,
    r_rev_04_a_removal_and_a_token_of_the_same_second_are_ordered_by_the_fraction,
);
