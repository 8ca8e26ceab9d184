//! What directory sync reads and writes beyond single users and groups (R-DIR-02..04):
//! batched writes with their side effects, and the stored side of a listing paged in
//! external-ID order so a complete listing can be compared with it in flat memory.

use alter_core::{AppId, ExternalGroupId, ExternalUserId, GroupId, IdpId, UserId, UserStatus};
use async_trait::async_trait;

use crate::common::{StoredRow, corrupt, parse_status};
use crate::error::StoreResult;
use crate::outbox::Effects;
use crate::users::{UpsertedUser, User, UserUpsert};

/// A membership as directory sync compares it with a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdpMembership {
    pub user_id: UserId,
    pub group_id: GroupId,
    pub user: ExternalUserId,
    pub group: ExternalGroupId,
}

/// Directory sync's view of the store.
#[async_trait]
pub trait DirectorySyncStore: Send + Sync {
    /// The IDP's users among `ids` (those that exist), for a dry run.
    async fn users_by_external_ids(
        &self,
        app: AppId,
        idp: IdpId,
        ids: &[ExternalUserId],
    ) -> StoreResult<Vec<User>>;
    /// [`crate::UserStore::upsert_users_batch`] with its side effects (audit records,
    /// invalidations) in the same transaction; `effects` sees every result and is called
    /// once.
    async fn upsert_users_batch_with(
        &self,
        app: AppId,
        idp: IdpId,
        users: &[UserUpsert],
        effects: Effects<'_, [UpsertedUser]>,
    ) -> StoreResult<Vec<UpsertedUser>>;
    /// Adds the group's memberships of the listed users of the IDP (source
    /// `directory_sync`; unknown users are skipped), with side effects for the users added,
    /// in one transaction. Returns the users added.
    async fn add_group_members_with(
        &self,
        app: AppId,
        idp: IdpId,
        group: GroupId,
        users: &[ExternalUserId],
        effects: Effects<'_, [UserId]>,
    ) -> StoreResult<Vec<UserId>>;
    /// How many of the listed users of the IDP are not yet members of the group (a dry run).
    async fn count_missing_members(
        &self,
        app: AppId,
        idp: IdpId,
        group: GroupId,
        users: &[ExternalUserId],
    ) -> StoreResult<i64>;
    /// The IDP's users that are not deprovisioned, in external-ID order after `after`.
    async fn page_idp_users(
        &self,
        app: AppId,
        idp: IdpId,
        after: Option<&ExternalUserId>,
        limit: u32,
    ) -> StoreResult<Vec<(ExternalUserId, UserStatus)>>;
    /// The memberships of the IDP's users (not deprovisioned) in live groups, in
    /// (user ID, group ID) order after `after` — the memberships table's own key, so each
    /// page is an index range whatever the planner knows of the tables.
    async fn page_idp_memberships(
        &self,
        app: AppId,
        idp: IdpId,
        after: Option<(UserId, GroupId)>,
        limit: u32,
    ) -> StoreResult<Vec<IdpMembership>>;
}

/// A row of [`DirectorySyncStore::page_idp_users`] (columns `external_id`, `status`).
pub(crate) fn idp_user_from_row(row: &impl StoredRow) -> StoreResult<(ExternalUserId, UserStatus)> {
    let external: String = row.get("external_id")?;
    let status: String = row.get("status")?;
    Ok((
        ExternalUserId::parse("users.external_id", &external)
            .map_err(corrupt("user external ID"))?,
        parse_status(&status)?,
    ))
}

/// A row of [`DirectorySyncStore::page_idp_memberships`] (columns `user_id`, `group_id`,
/// `user_external_id`, `group_external_id`).
pub(crate) fn membership_from_row(row: &impl StoredRow) -> StoreResult<IdpMembership> {
    let user: String = row.get("user_external_id")?;
    let group: String = row.get("group_external_id")?;
    Ok(IdpMembership {
        user_id: UserId::from_uuid(row.get("user_id")?),
        group_id: GroupId::from_uuid(row.get("group_id")?),
        user: ExternalUserId::parse("users.external_id", &user)
            .map_err(corrupt("user external ID"))?,
        group: ExternalGroupId::parse("groups.external_id", &group)
            .map_err(corrupt("group external ID"))?,
    })
}
