//! Applying one lifecycle event (a provider's deprovision, suspension, profile update, removed
//! membership or deleted group) to user, group and grant state in one transaction, with the
//! event's side effects, so a consumer can apply each event exactly once in effect however
//! often it is delivered and in whatever order (docs/adr/0009-lifecycle-apply.md).
//!
//! - **Idempotent for ever**: the event's ID is recorded per consumer in the same
//!   transaction, so a redelivery days later (Svix retries for ~27 h, Auth0 for days;
//!   R-HOOK-06) changes nothing and is reported [`Applied::Duplicate`].
//! - **Order-safe**: the event's `occurred_at` (in microseconds) is its state version; an
//!   event older than the user's stored `state_version` changes nothing
//!   ([`Applied::Stale`]). What a status effect does from the current status is
//!   [`alter_core::transitions::apply`]'s.
//! - **Never dropped**: an event about a user or group never seen is kept as a tombstone (a
//!   user row with the event's status and version, a deleted group row), so a later
//!   just-in-time sign-in finds a deprovisioned user and stays refused.

pub(crate) mod apply;

use alter_core::{ExternalGroupId, ExternalUserId, GroupId, LifecycleEvent, UserId, UserStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreResult;
use crate::grants::{Grant, RevokedBy};
use crate::outbox::Effects;

/// What applying an event did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Applied {
    /// This consumer had already applied the event: nothing was done and no effects were
    /// written.
    Duplicate,
    /// The event is older than the state stored for its user: it was recorded as processed
    /// and changed nothing.
    Stale {
        user_id: UserId,
        /// The user's stored state version (microseconds), newer than the event's.
        stored_version: i64,
        /// The event's state version (its `occurred_at` in microseconds).
        event_version: i64,
    },
    /// The event was applied; what it changed, possibly nothing (an effect the state already
    /// had). The effects were computed from it and written when it changed something.
    Done(LifecycleChange),
}

impl Applied {
    /// What the event changed, when it was applied.
    pub fn change(&self) -> Option<&LifecycleChange> {
        match self {
            Applied::Done(change) => Some(change),
            Applied::Duplicate | Applied::Stale { .. } => None,
        }
    }
}

/// What one applied event changed. `user` and `group` name the event's subjects whenever they
/// exist (or were created by it), whether or not they changed; the flags and lists say what
/// did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LifecycleChange {
    pub user: Option<UserChange>,
    pub group: Option<GroupChange>,
    /// Memberships the event removed: one for a removed membership (R-REV-04), every member's
    /// for a deleted group (R-REV-05).
    pub memberships_removed: Vec<RemovedMembership>,
    /// Grants the event revoked, in ID order: the user's on deprovisioning (R-REV-02), the
    /// group's on deletion (R-REV-05), each with [`revocation_cause`] (R-REV-06).
    pub revoked: Vec<Grant>,
}

impl LifecycleChange {
    /// Whether nothing changed (no effects are written then).
    pub fn is_empty(&self) -> bool {
        self.user.as_ref().is_none_or(|u| !u.changed())
            && self.group.as_ref().is_none_or(|g| !g.changed())
            && self.memberships_removed.is_empty()
            && self.revoked.is_empty()
    }

    /// Whether the event created a row for a user or group never seen before.
    pub fn created_tombstone(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.created)
            || self.group.as_ref().is_some_and(|g| g.created)
    }
}

/// The event's user as the event left them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserChange {
    pub user_id: UserId,
    pub external_id: ExternalUserId,
    /// The status before the event; `None` when the event created the user.
    pub previous_status: Option<UserStatus>,
    /// The status after the event.
    pub status: UserStatus,
    /// The user's state version after the event (microseconds).
    pub state_version: i64,
    /// The email or display name changed.
    pub profile_changed: bool,
    /// The user was never seen and the event created them (a tombstone for a status event).
    pub created: bool,
}

impl UserChange {
    /// Whether the status changed (a created user counts as changed).
    pub fn status_changed(&self) -> bool {
        self.previous_status != Some(self.status)
    }

    /// Whether anything of the user changed.
    pub fn changed(&self) -> bool {
        self.created || self.profile_changed || self.status_changed()
    }
}

/// The event's group as the event left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupChange {
    pub group_id: GroupId,
    pub external_id: ExternalGroupId,
    /// The group was never seen and the event created it (a deleted group: a tombstone).
    pub created: bool,
    /// The event marked the group deleted (it was not before).
    pub deleted: bool,
}

impl GroupChange {
    pub fn changed(&self) -> bool {
        self.created || self.deleted
    }
}

/// One membership an event removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemovedMembership {
    pub user_id: UserId,
    pub external_user_id: ExternalUserId,
    pub group_id: GroupId,
    pub external_group_id: ExternalGroupId,
}

/// The state version of an event: its `occurred_at` in microseconds since the epoch (what
/// `users.state_version` stores).
pub fn event_state_version(occurred_at: DateTime<Utc>) -> i64 {
    occurred_at.timestamp_micros()
}

/// Who revoked what an event revoked (R-REV-06): the event's source, and its ID with the
/// provider's own event ID when there is one (`event 0193… (provider event msg_2x…)`).
pub fn revocation_cause(event: &LifecycleEvent) -> RevokedBy {
    let cause = match &event.provider_event_id {
        Some(provider) => format!("event {} (provider event {provider})", event.event_id),
        None => format!("event {}", event.event_id),
    };
    RevokedBy::new(event.source, cause)
}

/// Persistence of lifecycle events, for the consumer that applies them (grant-revoker).
#[async_trait]
pub trait LifecycleStore: Send + Sync {
    /// Applies `event` for `consumer` in one transaction: records it as processed, changes
    /// what its kind says (see the module docs), and writes `effects` of the change with it
    /// when it changed something. Duplicate and stale events, and events that changed nothing,
    /// write no effects (`effects` is not called). The event's user and group are found by
    /// their external IDs (the provider's) within the event's app.
    ///
    /// - user suspended / reactivated / deprovisioned: the status as
    ///   [`alter_core::transitions::apply`] says, the version stored when newer; a
    ///   deprovisioning revokes every grant bound to the user (R-REV-02), a suspension keeps
    ///   them (R-REV-03).
    /// - user updated / provisioned: email and display name (those given).
    /// - membership removed: the membership (R-REV-04); the group's grants stay.
    /// - group deleted: the group marked deleted, its memberships removed, its group grants
    ///   revoked (R-REV-05).
    /// - membership added: recorded, nothing changed (memberships come from sign-ins and
    ///   directory sync, which carry the provider's current state; an unordered event could
    ///   re-add what a later removal took away).
    ///
    /// `NotFound` when the app has no identity provider and the event would create a user;
    /// `Database` errors leave nothing applied (retry).
    async fn apply_lifecycle(
        &self,
        event: &LifecycleEvent,
        consumer: &str,
        effects: Effects<'_, LifecycleChange>,
    ) -> StoreResult<Applied>;
}
