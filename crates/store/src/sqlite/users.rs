//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::outbox::{Effects, no_effects};
use crate::users::*;
use alter_core::{AppId, ExternalUserId, IdpId, UserId, UserStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl UserStore for SqliteStore {
    async fn upsert_user_with(
        &self,
        app: AppId,
        idp: IdpId,
        user: &UserUpsert,
        effects: Effects<'_, UpsertedUser>,
    ) -> StoreResult<UpsertedUser> {
        Err(StoreError::conflict(
            "UserStore::upsert_user_with is not implemented on SQLite yet",
        ))
    }
    async fn upsert_users_batch(
        &self,
        app: AppId,
        idp: IdpId,
        users: &[UserUpsert],
    ) -> StoreResult<Vec<UpsertedUser>> {
        Err(StoreError::conflict(
            "UserStore::upsert_users_batch is not implemented on SQLite yet",
        ))
    }
    async fn set_user_status(
        &self,
        app: AppId,
        user: UserId,
        status: UserStatus,
        state_version: i64,
    ) -> StoreResult<StatusChange> {
        Err(StoreError::conflict(
            "UserStore::set_user_status is not implemented on SQLite yet",
        ))
    }
    async fn get_user(&self, app: AppId, user: UserId) -> StoreResult<Option<User>> {
        Err(StoreError::conflict(
            "UserStore::get_user is not implemented on SQLite yet",
        ))
    }
    async fn get_user_by_external_id(
        &self,
        app: AppId,
        external_id: &ExternalUserId,
    ) -> StoreResult<Option<User>> {
        Err(StoreError::conflict(
            "UserStore::get_user_by_external_id is not implemented on SQLite yet",
        ))
    }
    async fn list_users(
        &self,
        app: AppId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        Err(StoreError::conflict(
            "UserStore::list_users is not implemented on SQLite yet",
        ))
    }
}
