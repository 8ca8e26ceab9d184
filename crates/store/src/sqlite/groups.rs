//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::groups::*;
use crate::outbox::{Effects, no_effects};
use alter_core::{AppId, EventSource, ExternalGroupId, GroupId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl GroupStore for SqliteStore {
    async fn upsert_groups(&self, app: AppId, groups: &[GroupUpsert]) -> StoreResult<Vec<Group>> {
        Err(StoreError::conflict(
            "GroupStore::upsert_groups is not implemented on SQLite yet",
        ))
    }
    async fn get_group(&self, app: AppId, group: GroupId) -> StoreResult<Option<Group>> {
        Err(StoreError::conflict(
            "GroupStore::get_group is not implemented on SQLite yet",
        ))
    }
    async fn get_group_by_external_id(
        &self,
        app: AppId,
        external_id: &ExternalGroupId,
    ) -> StoreResult<Option<Group>> {
        Err(StoreError::conflict(
            "GroupStore::get_group_by_external_id is not implemented on SQLite yet",
        ))
    }
    async fn list_groups(
        &self,
        app: AppId,
        after: Option<GroupId>,
        limit: u32,
    ) -> StoreResult<Vec<Group>> {
        Err(StoreError::conflict(
            "GroupStore::list_groups is not implemented on SQLite yet",
        ))
    }
    async fn mark_group_deleted(&self, app: AppId, group: GroupId) -> StoreResult<Vec<UserId>> {
        Err(StoreError::conflict(
            "GroupStore::mark_group_deleted is not implemented on SQLite yet",
        ))
    }
    async fn add_membership(
        &self,
        app: AppId,
        user: UserId,
        group: GroupId,
        source: EventSource,
    ) -> StoreResult<bool> {
        Err(StoreError::conflict(
            "GroupStore::add_membership is not implemented on SQLite yet",
        ))
    }
    async fn remove_membership(
        &self,
        app: AppId,
        user: UserId,
        group: GroupId,
    ) -> StoreResult<bool> {
        Err(StoreError::conflict(
            "GroupStore::remove_membership is not implemented on SQLite yet",
        ))
    }
    async fn replace_user_memberships_with(
        &self,
        app: AppId,
        user: UserId,
        groups: &[GroupId],
        source: EventSource,
        issued_at: Option<DateTime<Utc>>,
        effects: Effects<'_, MembershipDiff>,
    ) -> StoreResult<MembershipDiff> {
        Err(StoreError::conflict(
            "GroupStore::replace_user_memberships_with is not implemented on SQLite yet",
        ))
    }
    async fn list_user_groups(&self, app: AppId, user: UserId) -> StoreResult<Vec<Group>> {
        Err(StoreError::conflict(
            "GroupStore::list_user_groups is not implemented on SQLite yet",
        ))
    }
    async fn list_group_members(&self, app: AppId, group: GroupId) -> StoreResult<Vec<Membership>> {
        Err(StoreError::conflict(
            "GroupStore::list_group_members is not implemented on SQLite yet",
        ))
    }
}
