//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::directory::*;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::outbox::Effects;
use crate::users::{UpsertedUser, User, UserUpsert};
use alter_core::{AppId, ExternalGroupId, ExternalUserId, GroupId, IdpId, UserId, UserStatus};
use async_trait::async_trait;

#[async_trait]
impl DirectorySyncStore for SqliteStore {
    async fn users_by_external_ids(
        &self,
        app: AppId,
        idp: IdpId,
        ids: &[ExternalUserId],
    ) -> StoreResult<Vec<User>> {
        Err(StoreError::conflict(
            "DirectorySyncStore::users_by_external_ids is not implemented on SQLite yet",
        ))
    }
    async fn upsert_users_batch_with(
        &self,
        app: AppId,
        idp: IdpId,
        users: &[UserUpsert],
        effects: Effects<'_, [UpsertedUser]>,
    ) -> StoreResult<Vec<UpsertedUser>> {
        Err(StoreError::conflict(
            "DirectorySyncStore::upsert_users_batch_with is not implemented on SQLite yet",
        ))
    }
    async fn add_group_members_with(
        &self,
        app: AppId,
        idp: IdpId,
        group: GroupId,
        users: &[ExternalUserId],
        effects: Effects<'_, [UserId]>,
    ) -> StoreResult<Vec<UserId>> {
        Err(StoreError::conflict(
            "DirectorySyncStore::add_group_members_with is not implemented on SQLite yet",
        ))
    }
    async fn count_missing_members(
        &self,
        app: AppId,
        idp: IdpId,
        group: GroupId,
        users: &[ExternalUserId],
    ) -> StoreResult<i64> {
        Err(StoreError::conflict(
            "DirectorySyncStore::count_missing_members is not implemented on SQLite yet",
        ))
    }
    async fn page_idp_users(
        &self,
        app: AppId,
        idp: IdpId,
        after: Option<&ExternalUserId>,
        limit: u32,
    ) -> StoreResult<Vec<(ExternalUserId, UserStatus)>> {
        Err(StoreError::conflict(
            "DirectorySyncStore::page_idp_users is not implemented on SQLite yet",
        ))
    }
    async fn page_idp_memberships(
        &self,
        app: AppId,
        idp: IdpId,
        after: Option<(UserId, GroupId)>,
        limit: u32,
    ) -> StoreResult<Vec<IdpMembership>> {
        Err(StoreError::conflict(
            "DirectorySyncStore::page_idp_memberships is not implemented on SQLite yet",
        ))
    }
}
