//! How an event changes the state, written once for both adapters: the ordering rule, what
//! a status effect does, tombstones for subjects never seen, and what is reported. Each
//! adapter provides the statements ([`LifecycleTx`], on its open transaction) and the
//! transaction around them (recording the event as processed first, effects before the
//! commit).

use alter_core::transitions::{self, GrantAction, StateVersion};
use alter_core::{
    AppId, EventEffect, EventId, ExternalGroupId, ExternalUserId, GroupId, IdpId, LifecycleEvent,
    LifecycleKind, UserId, UserRef, UserStatus,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::{StoreError, StoreResult};
use crate::grants::{Grant, RevokeAll, RevokedBy};
use crate::groups::{Group, GroupDeletion};
use crate::lifecycle::{
    Applied, GroupChange, LifecycleChange, RemovedMembership, UserChange, event_state_version,
    revocation_cause,
};
use crate::outbox::{Effects, OutboxMessage};
use crate::users::{User, UserUpsert};

/// The statements applying an event needs, run on the adapter's transaction. A row read here
/// stays as read until the commit (PostgreSQL locks it; SQLite's writer holds the database).
#[async_trait]
pub(crate) trait LifecycleTx: Send {
    /// Records that `consumer` processed the event; `false` when it already had.
    async fn mark_processed(
        &mut self,
        app: AppId,
        consumer: &str,
        event: EventId,
    ) -> StoreResult<bool>;
    /// The ID of the app's identity provider, if it has one.
    async fn idp_for_app(&mut self, app: AppId) -> StoreResult<Option<IdpId>>;
    /// The user by external ID, kept from concurrent change until the commit.
    async fn lock_user(
        &mut self,
        app: AppId,
        external_id: &ExternalUserId,
    ) -> StoreResult<Option<User>>;
    /// Creates the user; `None` when the app already has one with that external ID.
    async fn insert_user(
        &mut self,
        app: AppId,
        idp: IdpId,
        user: &UserUpsert,
    ) -> StoreResult<Option<User>>;
    /// Stores the status and version (the order is checked already).
    async fn set_status(
        &mut self,
        app: AppId,
        user: UserId,
        status: UserStatus,
        state_version: i64,
    ) -> StoreResult<User>;
    /// Sets the given email and display name that differ; `None` when nothing changed.
    async fn update_profile(
        &mut self,
        app: AppId,
        user: UserId,
        email: Option<&str>,
        display_name: Option<&str>,
    ) -> StoreResult<Option<User>>;
    /// Revokes every active grant of `whom`; the revoked grants in ID order.
    async fn revoke_all(
        &mut self,
        app: AppId,
        whom: RevokeAll,
        by: &RevokedBy,
    ) -> StoreResult<Vec<Grant>>;
    async fn group_by_external_id(
        &mut self,
        app: AppId,
        external_id: &ExternalGroupId,
    ) -> StoreResult<Option<Group>>;
    /// Records a group never seen as deleted; `None` when the app already has it.
    async fn insert_deleted_group(
        &mut self,
        app: AppId,
        external_id: &ExternalGroupId,
    ) -> StoreResult<Option<Group>>;
    /// Marks the group deleted and removes its memberships; `None` when there is no such group.
    async fn mark_group_deleted(
        &mut self,
        app: AppId,
        group: GroupId,
    ) -> StoreResult<Option<GroupDeletion>>;
    /// Removes one membership; `false` when there was none.
    async fn remove_membership(
        &mut self,
        app: AppId,
        user: UserId,
        group: GroupId,
    ) -> StoreResult<bool>;
    /// Records when the provider removed the user from the group (the latest wins).
    async fn record_membership_removal(
        &mut self,
        app: AppId,
        user: UserId,
        group: GroupId,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// Implements [`LifecycleTx`] for an adapter's connection type with the adapter's own
/// per-aggregate statements. Invoked in `<adapter>/lifecycle.rs`: the sibling modules
/// `processed_events`, `idps`, `users`, `groups` and `grants` provide the `*_on` functions named here, which both adapters
/// define with the same signatures (over their own connection type).
macro_rules! lifecycle_tx_by_statements {
    ($conn:ty) => {
        #[async_trait::async_trait]
        impl $crate::lifecycle::apply::LifecycleTx for $conn {
            async fn mark_processed(
                &mut self,
                app: alter_core::AppId,
                consumer: &str,
                event: alter_core::EventId,
            ) -> $crate::error::StoreResult<bool> {
                super::processed_events::mark_processed_on(self, app, consumer, event).await
            }

            async fn idp_for_app(
                &mut self,
                app: alter_core::AppId,
            ) -> $crate::error::StoreResult<Option<alter_core::IdpId>> {
                Ok(super::idps::idp_for_app_on(self, app)
                    .await?
                    .map(|idp| idp.id))
            }

            async fn lock_user(
                &mut self,
                app: alter_core::AppId,
                external_id: &alter_core::ExternalUserId,
            ) -> $crate::error::StoreResult<Option<$crate::users::User>> {
                super::users::lock_user_on(self, app, $crate::users::UserKey::External(external_id))
                    .await
            }

            async fn insert_user(
                &mut self,
                app: alter_core::AppId,
                idp: alter_core::IdpId,
                user: &$crate::users::UserUpsert,
            ) -> $crate::error::StoreResult<Option<$crate::users::User>> {
                super::users::insert_user_on(self, app, idp, user).await
            }

            async fn set_status(
                &mut self,
                app: alter_core::AppId,
                user: alter_core::UserId,
                status: alter_core::UserStatus,
                state_version: i64,
            ) -> $crate::error::StoreResult<$crate::users::User> {
                super::users::set_status_on(self, app, user, status, state_version).await
            }

            async fn update_profile(
                &mut self,
                app: alter_core::AppId,
                user: alter_core::UserId,
                email: Option<&str>,
                display_name: Option<&str>,
            ) -> $crate::error::StoreResult<Option<$crate::users::User>> {
                super::users::update_profile_on(self, app, user, email, display_name).await
            }

            async fn revoke_all(
                &mut self,
                app: alter_core::AppId,
                whom: $crate::grants::RevokeAll,
                by: &$crate::grants::RevokedBy,
            ) -> $crate::error::StoreResult<Vec<$crate::grants::Grant>> {
                super::grants::revoke_all_on(self, app, whom, by).await
            }

            async fn group_by_external_id(
                &mut self,
                app: alter_core::AppId,
                external_id: &alter_core::ExternalGroupId,
            ) -> $crate::error::StoreResult<Option<$crate::groups::Group>> {
                super::groups::group_by_external_id_on(self, app, external_id).await
            }

            async fn insert_deleted_group(
                &mut self,
                app: alter_core::AppId,
                external_id: &alter_core::ExternalGroupId,
            ) -> $crate::error::StoreResult<Option<$crate::groups::Group>> {
                super::groups::insert_deleted_group_on(self, app, external_id).await
            }

            async fn mark_group_deleted(
                &mut self,
                app: alter_core::AppId,
                group: alter_core::GroupId,
            ) -> $crate::error::StoreResult<Option<$crate::groups::GroupDeletion>> {
                super::groups::mark_group_deleted_on(self, app, group).await
            }

            async fn remove_membership(
                &mut self,
                app: alter_core::AppId,
                user: alter_core::UserId,
                group: alter_core::GroupId,
            ) -> $crate::error::StoreResult<bool> {
                super::groups::remove_membership_on(self, app, user, group).await
            }

            async fn record_membership_removal(
                &mut self,
                app: alter_core::AppId,
                user: alter_core::UserId,
                group: alter_core::GroupId,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::error::StoreResult<()> {
                super::groups::record_membership_removal_on(self, app, user, group, at).await
            }
        }
    };
}
pub(crate) use lifecycle_tx_by_statements;

/// The messages to commit with an applied event: its effects when it changed something,
/// none for a duplicate, a stale event or one that changed nothing (`effects` is not called).
pub(crate) fn messages_for(
    applied: &Applied,
    effects: Effects<'_, LifecycleChange>,
) -> Vec<OutboxMessage> {
    match applied {
        Applied::Done(change) if !change.is_empty() => effects(change),
        Applied::Done(_) | Applied::Stale { .. } | Applied::Duplicate => Vec::new(),
    }
}

/// Records the event as processed by `consumer` and applies it, inside the adapter's
/// transaction; [`Applied::Duplicate`] (nothing written) when it was recorded already. The
/// adapter commits with [`messages_for`] the result.
pub(crate) async fn record_and_apply<C: LifecycleTx + ?Sized>(
    conn: &mut C,
    event: &LifecycleEvent,
    consumer: &str,
) -> StoreResult<Applied> {
    if !conn
        .mark_processed(event.app_id, consumer, event.event_id)
        .await?
    {
        return Ok(Applied::Duplicate);
    }
    apply_event(conn, event).await
}

/// Applies the event's kind inside the adapter's transaction (already recorded as processed).
async fn apply_event<C: LifecycleTx + ?Sized>(
    conn: &mut C,
    event: &LifecycleEvent,
) -> StoreResult<Applied> {
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

/// The event's user as found, or as this event created them.
enum Subject {
    Found(User),
    Created(User),
}

/// The event's user, created as `new` (on the app's identity provider) when the app has never
/// seen them. A concurrent writer that created them first is found at the next attempt.
async fn find_or_create_user<C: LifecycleTx + ?Sized>(
    conn: &mut C,
    event: &LifecycleEvent,
    user_ref: &UserRef,
    new: impl Fn() -> UserUpsert + Send,
) -> StoreResult<Subject> {
    let app = event.app_id;
    for _ in 0..ATTEMPTS {
        if let Some(user) = conn.lock_user(app, &user_ref.external_id).await? {
            return Ok(Subject::Found(user));
        }
        let idp = conn.idp_for_app(app).await?.ok_or_else(|| {
            StoreError::not_found(format!(
                "identity provider of app {app} (needed to record user {} named by event {})",
                user_ref.external_id, event.event_id
            ))
        })?;
        if let Some(created) = conn.insert_user(app, idp, &new()).await? {
            return Ok(Subject::Created(created));
        }
    }
    Err(created_concurrently(&format!(
        "user {}",
        user_ref.external_id
    )))
}

/// What an event did that created its user: recorded them, nothing else.
fn created(user: User) -> Applied {
    Applied::Done(LifecycleChange {
        user: Some(created_user(user)),
        ..LifecycleChange::default()
    })
}

/// Suspension, reactivation, deprovisioning: the state machine of `transitions`, ordered by
/// the state version.
async fn user_status<C: LifecycleTx + ?Sized>(
    conn: &mut C,
    event: &LifecycleEvent,
    user_ref: &UserRef,
    effect: EventEffect,
) -> StoreResult<Applied> {
    let app = event.app_id;
    let version = event_state_version(event.occurred_at);
    // Never seen: a tombstone with the status the effect gives a user presumed active, at the
    // event's version, so a later just-in-time sign-in (version 0) finds it.
    let tombstone = || UserUpsert {
        external_id: user_ref.external_id.clone(),
        email: None,
        display_name: None,
        status: transitions::apply(UserStatus::Active, effect).to,
        state_version: version,
    };
    let user = match find_or_create_user(conn, event, user_ref, tombstone).await? {
        Subject::Found(user) => user,
        Subject::Created(user) => return Ok(created(user)),
    };
    if let Some(stale) = stale(&user, version) {
        return Ok(stale);
    }
    let transition = transitions::apply(user.status, effect);
    // An unchanged status still records the newer version: an older event that arrives later
    // must not undo what this one says.
    let new_version = version.max(user.state_version);
    if transition.changed || new_version > user.state_version {
        conn.set_status(app, user.id, transition.to, new_version)
            .await?;
    }
    let revoked = if transition.grants == GrantAction::Revoke {
        conn.revoke_all(app, RevokeAll::User(user.id), &revocation_cause(event))
            .await?
    } else {
        Vec::new()
    };
    Ok(Applied::Done(LifecycleChange {
        user: Some(UserChange {
            status: transition.to,
            state_version: new_version,
            ..unchanged_user(user)
        }),
        revoked,
        ..LifecycleChange::default()
    }))
}

/// A profile update (or a provisioning event): the email and display name given. Ordered like
/// status events, but it does not move the version (it says nothing about the status).
async fn user_profile<C: LifecycleTx + ?Sized>(
    conn: &mut C,
    event: &LifecycleEvent,
    user_ref: &UserRef,
    email: Option<&str>,
    display_name: Option<&str>,
) -> StoreResult<Applied> {
    let version = event_state_version(event.occurred_at);
    // Never seen: recorded as a just-in-time sign-in would (active, version 0: it never
    // overrides a status event, whenever that arrives).
    let jit = || {
        UserUpsert::jit(
            user_ref.external_id.clone(),
            email.map(str::to_owned),
            display_name.map(str::to_owned),
        )
    };
    let user = match find_or_create_user(conn, event, user_ref, jit).await? {
        Subject::Found(user) => user,
        Subject::Created(user) => return Ok(created(user)),
    };
    if let Some(stale) = stale(&user, version) {
        return Ok(stale);
    }
    let updated = conn
        .update_profile(event.app_id, user.id, email, display_name)
        .await?;
    Ok(Applied::Done(LifecycleChange {
        user: Some(UserChange {
            profile_changed: updated.is_some(),
            ..unchanged_user(user)
        }),
        ..LifecycleChange::default()
    }))
}

/// R-REV-04: the membership goes; the group and its grants stay. Nothing to do when the user,
/// the group or the membership is unknown (there is no access to end).
async fn membership_removed<C: LifecycleTx + ?Sized>(
    conn: &mut C,
    event: &LifecycleEvent,
    user_ref: &UserRef,
    group_ref: &ExternalGroupId,
) -> StoreResult<Applied> {
    let app = event.app_id;
    // Serialises with a sign-in replacing the same user's memberships.
    let Some(user) = conn.lock_user(app, &user_ref.external_id).await? else {
        return Ok(Applied::Done(LifecycleChange::default()));
    };
    let Some(group) = conn.group_by_external_id(app, group_ref).await? else {
        return Ok(Applied::Done(LifecycleChange {
            user: Some(unchanged_user(user)),
            ..LifecycleChange::default()
        }));
    };
    let removed = conn.remove_membership(app, user.id, group.id).await?;
    conn.record_membership_removal(app, user.id, group.id, event.occurred_at)
        .await?;
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
async fn group_deleted<C: LifecycleTx + ?Sized>(
    conn: &mut C,
    event: &LifecycleEvent,
    group_ref: &ExternalGroupId,
) -> StoreResult<Applied> {
    let app = event.app_id;
    for _ in 0..ATTEMPTS {
        if let Some(group) = conn.group_by_external_id(app, group_ref).await? {
            let deletion = conn
                .mark_group_deleted(app, group.id)
                .await?
                .ok_or_else(|| created_concurrently(&format!("group {group_ref}")))?;
            let revoked = conn
                .revoke_all(app, RevokeAll::Group(group.id), &revocation_cause(event))
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
        if let Some(group) = conn.insert_deleted_group(app, group_ref).await? {
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
