//! Groups (Okta groups, Clerk organizations) and which users belong to them. Membership
//! changes report exactly what changed so callers can audit and invalidate caches.

use alter_core::{AppId, EventSource, ExternalGroupId, ExternalUserId, GroupId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::common::{StoredRow, corrupt, parse_source};
use crate::error::StoreResult;
use crate::outbox::{Effects, no_effects};

/// A stored group. A deleted group keeps its row (for audit and grants history) with
/// `deleted_at` set and no members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub app_id: AppId,
    pub external_id: ExternalGroupId,
    pub name: Option<String>,
    pub deleted_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A group as the provider names it. `name: None` keeps the stored name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupUpsert {
    pub external_id: ExternalGroupId,
    pub name: Option<String>,
}

/// One user-in-group row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    pub user_id: UserId,
    pub group_id: GroupId,
    pub source: EventSource,
    pub created_at: DateTime<Utc>,
}

/// What replacing a user's memberships changed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipDiff {
    pub added: Vec<GroupId>,
    pub removed: Vec<GroupId>,
    /// The external IDs of the `removed` groups, in the same order (for the audit trail).
    pub removed_external_ids: Vec<ExternalGroupId>,
}

impl MembershipDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

/// Persistence of groups and memberships.
#[async_trait]
pub trait GroupStore: Send + Sync {
    /// Creates or updates groups by external ID in one statement; a deleted group that
    /// comes back is undeleted. Returns the stored groups in first-seen order of the
    /// distinct external IDs.
    async fn upsert_groups(&self, app: AppId, groups: &[GroupUpsert]) -> StoreResult<Vec<Group>>;
    async fn get_group(&self, app: AppId, group: GroupId) -> StoreResult<Option<Group>>;
    async fn get_group_by_external_id(
        &self,
        app: AppId,
        external_id: &ExternalGroupId,
    ) -> StoreResult<Option<Group>>;
    /// Groups (deleted ones included) in ID order, `limit` at a time, after `after`.
    async fn list_groups(
        &self,
        app: AppId,
        after: Option<GroupId>,
        limit: u32,
    ) -> StoreResult<Vec<Group>>;
    /// Marks the group deleted and removes all its memberships (R-HOOK-03/04). Returns the
    /// users who were members. Revoking its grants is [`crate::GrantStore::revoke_all_for_group`].
    async fn mark_group_deleted(&self, app: AppId, group: GroupId) -> StoreResult<Vec<UserId>>;
    /// Adds a membership. Returns `false` when it already existed. `NotFound` when the user
    /// or group is not in the app.
    async fn add_membership(
        &self,
        app: AppId,
        user: UserId,
        group: GroupId,
        source: EventSource,
    ) -> StoreResult<bool>;
    /// Removes a membership (R-REV-04). Returns `false` when there was none.
    async fn remove_membership(
        &self,
        app: AppId,
        user: UserId,
        group: GroupId,
    ) -> StoreResult<bool>;
    /// Makes the user's memberships exactly `groups` (whatever source recorded the old
    /// ones; new rows get `source`), in one transaction. Returns what changed.
    async fn replace_user_memberships(
        &self,
        app: AppId,
        user: UserId,
        groups: &[GroupId],
        source: EventSource,
    ) -> StoreResult<MembershipDiff> {
        self.replace_user_memberships_with(app, user, groups, source, None, &no_effects)
            .await
    }
    /// [`GroupStore::replace_user_memberships`] with its side effects (the membership audit
    /// records) in the same transaction; they are computed only when something changed.
    ///
    /// `issued_at` is when the list was true, for a list from a token's claims (its `iat`):
    /// a group the provider removed the user from at or after that moment is not added back
    /// (R-REV-04: the token predates the removal). `None` for a list that is the provider's
    /// current state.
    async fn replace_user_memberships_with(
        &self,
        app: AppId,
        user: UserId,
        groups: &[GroupId],
        source: EventSource,
        issued_at: Option<DateTime<Utc>>,
        effects: Effects<'_, MembershipDiff>,
    ) -> StoreResult<MembershipDiff>;
    /// The groups the user belongs to (never deleted ones), in ID order.
    async fn list_user_groups(&self, app: AppId, user: UserId) -> StoreResult<Vec<Group>>;
    /// The memberships of a group.
    async fn list_group_members(&self, app: AppId, group: GroupId) -> StoreResult<Vec<Membership>>;
}

/// The columns [`group_from_row`] reads, in both schemas.
macro_rules! group_columns {
    () => {
        "id, app_id, external_id, name, deleted_at, created_at"
    };
}
pub(crate) use group_columns;

/// A group from a row of [`group_columns!`] (either adapter).
pub(crate) fn group_from_row(row: &impl StoredRow) -> StoreResult<Group> {
    let external_id: String = row.get("external_id")?;
    Ok(Group {
        id: GroupId::from_uuid(row.get("id")?),
        app_id: AppId::from_uuid(row.get("app_id")?),
        external_id: ExternalGroupId::parse("groups.external_id", &external_id)
            .map_err(corrupt("group external ID"))?,
        name: row.get("name")?,
        deleted_at: row.get("deleted_at")?,
        created_at: row.get("created_at")?,
    })
}

/// A membership from a row of `user_id, group_id, source, created_at` (either adapter).
pub(crate) fn membership_from_row(row: &impl StoredRow) -> StoreResult<Membership> {
    let source: String = row.get("source")?;
    Ok(Membership {
        user_id: UserId::from_uuid(row.get("user_id")?),
        group_id: GroupId::from_uuid(row.get("group_id")?),
        source: parse_source("memberships.source", &source)?,
        created_at: row.get("created_at")?,
    })
}

impl MembershipDiff {
    /// The diff from the stored IDs: the groups added (any order) and the removed groups
    /// with their external IDs, in group-ID order.
    pub(crate) fn from_stored(added: Vec<Uuid>, removed: Vec<(Uuid, String)>) -> StoreResult<Self> {
        let mut diff = MembershipDiff {
            added: added.into_iter().map(GroupId::from_uuid).collect(),
            removed: Vec::with_capacity(removed.len()),
            removed_external_ids: Vec::with_capacity(removed.len()),
        };
        diff.added.sort();
        for (id, external_id) in removed {
            diff.removed.push(GroupId::from_uuid(id));
            diff.removed_external_ids.push(
                ExternalGroupId::parse("groups.external_id", &external_id)
                    .map_err(corrupt("group external ID"))?,
            );
        }
        Ok(diff)
    }
}

/// What marking a group deleted did.
#[derive(Debug)]
pub(crate) struct GroupDeletion {
    /// The group was not deleted before.
    pub(crate) newly_deleted: bool,
    /// The members whose memberships were removed, with their external IDs, in user-ID order.
    pub(crate) members: Vec<(UserId, ExternalUserId)>,
}

impl GroupDeletion {
    /// From the removed members' stored (user ID, external ID) pairs, in user-ID order.
    pub(crate) fn from_stored(
        newly_deleted: bool,
        removed: Vec<(Uuid, String)>,
    ) -> StoreResult<Self> {
        let members = removed
            .into_iter()
            .map(|(id, external_id)| {
                let external_id = ExternalUserId::parse("users.external_id", &external_id)
                    .map_err(corrupt("user external ID"))?;
                Ok((UserId::from_uuid(id), external_id))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Self {
            newly_deleted,
            members,
        })
    }
}
