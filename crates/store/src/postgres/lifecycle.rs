//! Lifecycle events over PostgreSQL: one transaction per event that records it as processed
//! first (a concurrent redelivery waits on that row and then finds it), locks the user or
//! group it is about, applies the change with the per-aggregate statements, and writes the
//! change's effects before the commit.

use alter_core::transitions::{self, GrantAction, StateVersion};
use alter_core::{
    EventEffect, ExternalGroupId, LifecycleEvent, LifecycleKind, UserRef, UserStatus,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::PgStore;
use super::grants::{RevokeAll, revoke_all_on};
use super::groups::{
    group_by_external_id_on, insert_deleted_group_on, mark_group_deleted_on,
    record_membership_removal_on, remove_membership_on,
};
use super::idps::idp_for_app_on;
use super::processed_events::mark_processed_on;
use super::users::{UserKey, insert_user_on, lock_user_on, set_status_on, update_profile_on};
use crate::error::{StoreError, StoreResult};
use crate::lifecycle::{
    Applied, GroupChange, LifecycleChange, LifecycleStore, RemovedMembership, UserChange,
    event_state_version, revocation_cause,
};
use crate::outbox::Effects;
use crate::users::{User, UserUpsert};

#[async_trait]
impl LifecycleStore for PgStore {
    async fn apply_lifecycle(
        &self,
        event: &LifecycleEvent,
        consumer: &str,
        effects: Effects<'_, LifecycleChange>,
    ) -> StoreResult<Applied> {
        let mut tx = self.pool.begin().await?;
        if !mark_processed_on(&mut tx, event.app_id, consumer, event.event_id).await? {
            tx.rollback().await?;
            return Ok(Applied::Duplicate);
        }
        let applied = apply_on(&mut tx, event).await?;
        match &applied {
            Applied::Done(change) if !change.is_empty() => {
                self.commit_with(tx, effects(change)).await?;
            }
            // Recorded as processed, nothing else to write.
            Applied::Done(_) | Applied::Stale { .. } | Applied::Duplicate => tx.commit().await?,
        }
        Ok(applied)
    }
}

/// Applies the event's kind inside the transaction.
async fn apply_on(conn: &mut PgConnection, event: &LifecycleEvent) -> StoreResult<Applied> {
    match &event.kind {
        LifecycleKind::UserSuspended { user } => {
            user_status(conn, event, user, EventEffect::Suspend).await
        }
        LifecycleKind::UserReactivated { user } => {
            user_status(conn, event, user, EventEffect::Reactivate).await
        }
        LifecycleKind::UserDeprovisioned { user } => {
            user_status(conn, event, user, EventEffect::Deprovision).await
        }
        LifecycleKind::UserUpdated {
            user,
            email,
            display_name,
        }
        | LifecycleKind::UserProvisioned {
            user,
            email,
            display_name,
        } => user_profile(conn, event, user, email.as_deref(), display_name.as_deref()).await,
        LifecycleKind::MembershipRemoved { user, group } => {
            membership_removed(conn, event, user, group).await
        }
        LifecycleKind::GroupDeleted { group } => group_deleted(conn, event, group).await,
        // Memberships are added by sign-ins and directory sync from the provider's current
        // state; an event (unordered) could re-add what a later removal took away.
        LifecycleKind::MembershipAdded { .. } => Ok(Applied::Done(LifecycleChange::default())),
    }
}

/// How often a lookup is retried after a concurrent writer created the row this event was
/// about to create (once is enough: rows are never deleted).
const ATTEMPTS: usize = 2;

fn created_concurrently(what: &str) -> StoreError {
    StoreError::conflict(format!(
        "{what} was created concurrently and then could not be found; retry the event"
    ))
}

/// `None` when the stored version says nothing was ever versioned (0: just-in-time users).
fn stored_version(micros: i64) -> Option<StateVersion> {
    (micros > 0).then(|| version_at(micros))
}

fn version_at(micros: i64) -> StateVersion {
    StateVersion::at(DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MIN_UTC))
}

/// The event is older than the user's stored state (core's ordering rule).
fn stale(user: &User, event_version: i64) -> Option<Applied> {
    (!transitions::should_apply(
        stored_version(user.state_version),
        version_at(event_version),
    ))
    .then_some(Applied::Stale {
        user_id: user.id,
        stored_version: user.state_version,
        event_version,
    })
}

fn unchanged_user(user: User) -> UserChange {
    UserChange {
        user_id: user.id,
        previous_status: Some(user.status),
        status: user.status,
        state_version: user.state_version,
        external_id: user.external_id,
        profile_changed: false,
        created: false,
    }
}

fn created_user(user: User) -> UserChange {
    UserChange {
        previous_status: None,
        created: true,
        ..unchanged_user(user)
    }
}

/// Creates a user the app has never seen, on the app's identity provider; `None` when a
/// concurrent writer created them first.
async fn create_user(
    conn: &mut PgConnection,
    event: &LifecycleEvent,
    user: &UserUpsert,
) -> StoreResult<Option<User>> {
    let idp = idp_for_app_on(conn, event.app_id).await?.ok_or_else(|| {
        StoreError::not_found(format!(
            "identity provider of app {} (needed to record user {} named by event {})",
            event.app_id, user.external_id, event.event_id
        ))
    })?;
    insert_user_on(conn, event.app_id, idp.id, user).await
}

/// Suspension, reactivation, deprovisioning: the state machine of `transitions`, ordered by
/// the state version.
async fn user_status(
    conn: &mut PgConnection,
    event: &LifecycleEvent,
    user_ref: &UserRef,
    effect: EventEffect,
) -> StoreResult<Applied> {
    let app = event.app_id;
    let version = event_state_version(event.occurred_at);
    for _ in 0..ATTEMPTS {
        if let Some(user) =
            lock_user_on(conn, app, UserKey::External(&user_ref.external_id)).await?
        {
            if let Some(stale) = stale(&user, version) {
                return Ok(stale);
            }
            let transition = transitions::apply(user.status, effect);
            // An unchanged status still records the newer version: an older event that
            // arrives later must not undo what this one says.
            let new_version = version.max(user.state_version);
            if transition.changed || new_version > user.state_version {
                set_status_on(conn, app, user.id, transition.to, new_version).await?;
            }
            let revoked = if transition.grants == GrantAction::Revoke {
                revoke_all_on(
                    conn,
                    app,
                    RevokeAll::User(user.id),
                    &revocation_cause(event),
                )
                .await?
            } else {
                Vec::new()
            };
            return Ok(Applied::Done(LifecycleChange {
                user: Some(UserChange {
                    status: transition.to,
                    state_version: new_version,
                    ..unchanged_user(user)
                }),
                revoked,
                ..LifecycleChange::default()
            }));
        }
        // Never seen: a tombstone with the status the effect gives a user presumed active,
        // at the event's version, so a later just-in-time sign-in (version 0) finds it.
        let tombstone = UserUpsert {
            external_id: user_ref.external_id.clone(),
            email: None,
            display_name: None,
            status: transitions::apply(UserStatus::Active, effect).to,
            state_version: version,
        };
        if let Some(created) = create_user(conn, event, &tombstone).await? {
            return Ok(Applied::Done(LifecycleChange {
                user: Some(created_user(created)),
                ..LifecycleChange::default()
            }));
        }
    }
    Err(created_concurrently(&format!(
        "user {}",
        user_ref.external_id
    )))
}

/// A profile update (or a provisioning event): the email and display name given. Ordered like
/// status events, but it does not move the version (it says nothing about the status).
async fn user_profile(
    conn: &mut PgConnection,
    event: &LifecycleEvent,
    user_ref: &UserRef,
    email: Option<&str>,
    display_name: Option<&str>,
) -> StoreResult<Applied> {
    let app = event.app_id;
    let version = event_state_version(event.occurred_at);
    for _ in 0..ATTEMPTS {
        if let Some(user) =
            lock_user_on(conn, app, UserKey::External(&user_ref.external_id)).await?
        {
            if let Some(stale) = stale(&user, version) {
                return Ok(stale);
            }
            let updated = update_profile_on(conn, app, user.id, email, display_name).await?;
            return Ok(Applied::Done(LifecycleChange {
                user: Some(UserChange {
                    profile_changed: updated.is_some(),
                    ..unchanged_user(user)
                }),
                ..LifecycleChange::default()
            }));
        }
        // Never seen: recorded as a just-in-time sign-in would (active, version 0: it never
        // overrides a status event, whenever that arrives).
        let user = UserUpsert::jit(
            user_ref.external_id.clone(),
            email.map(str::to_owned),
            display_name.map(str::to_owned),
        );
        if let Some(created) = create_user(conn, event, &user).await? {
            return Ok(Applied::Done(LifecycleChange {
                user: Some(created_user(created)),
                ..LifecycleChange::default()
            }));
        }
    }
    Err(created_concurrently(&format!(
        "user {}",
        user_ref.external_id
    )))
}

/// R-REV-04: the membership goes; the group and its grants stay. Nothing to do when the user,
/// the group or the membership is unknown (there is no access to end).
async fn membership_removed(
    conn: &mut PgConnection,
    event: &LifecycleEvent,
    user_ref: &UserRef,
    group_ref: &ExternalGroupId,
) -> StoreResult<Applied> {
    let app = event.app_id;
    // Serialises with a sign-in replacing the same user's memberships.
    let Some(user) = lock_user_on(conn, app, UserKey::External(&user_ref.external_id)).await?
    else {
        return Ok(Applied::Done(LifecycleChange::default()));
    };
    let Some(group) = group_by_external_id_on(conn, app, group_ref).await? else {
        return Ok(Applied::Done(LifecycleChange {
            user: Some(unchanged_user(user)),
            ..LifecycleChange::default()
        }));
    };
    let removed = remove_membership_on(conn, app, user.id, group.id).await?;
    record_membership_removal_on(conn, app, user.id, group.id, event.occurred_at).await?;
    let memberships_removed = if removed {
        vec![RemovedMembership {
            user_id: user.id,
            external_user_id: user.external_id.clone(),
            group_id: group.id,
            external_group_id: group.external_id.clone(),
        }]
    } else {
        Vec::new()
    };
    Ok(Applied::Done(LifecycleChange {
        user: Some(unchanged_user(user)),
        group: Some(GroupChange {
            group_id: group.id,
            external_id: group.external_id,
            created: false,
            deleted: false,
        }),
        memberships_removed,
        revoked: Vec::new(),
    }))
}

/// R-REV-05: the group is marked deleted, its memberships removed and its group grants
/// revoked; a group never seen is recorded as deleted (a tombstone).
async fn group_deleted(
    conn: &mut PgConnection,
    event: &LifecycleEvent,
    group_ref: &ExternalGroupId,
) -> StoreResult<Applied> {
    let app = event.app_id;
    for _ in 0..ATTEMPTS {
        if let Some(group) = group_by_external_id_on(conn, app, group_ref).await? {
            let deletion = mark_group_deleted_on(conn, app, group.id)
                .await?
                .ok_or_else(|| created_concurrently(&format!("group {group_ref}")))?;
            let revoked = revoke_all_on(
                conn,
                app,
                RevokeAll::Group(group.id),
                &revocation_cause(event),
            )
            .await?;
            let memberships_removed = deletion
                .members
                .into_iter()
                .map(|(user_id, external_user_id)| RemovedMembership {
                    user_id,
                    external_user_id,
                    group_id: group.id,
                    external_group_id: group.external_id.clone(),
                })
                .collect();
            return Ok(Applied::Done(LifecycleChange {
                user: None,
                group: Some(GroupChange {
                    group_id: group.id,
                    external_id: group.external_id,
                    created: false,
                    deleted: deletion.newly_deleted,
                }),
                memberships_removed,
                revoked,
            }));
        }
        if let Some(group) = insert_deleted_group_on(conn, app, group_ref).await? {
            return Ok(Applied::Done(LifecycleChange {
                group: Some(GroupChange {
                    group_id: group.id,
                    external_id: group.external_id,
                    created: true,
                    deleted: true,
                }),
                ..LifecycleChange::default()
            }));
        }
    }
    Err(created_concurrently(&format!("group {group_ref}")))
}
