//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::grants::*;
use crate::outbox::{Effects, RequestKey, no_effects};
use alter_core::{AppId, EventSource, GrantId, GroupId, Principal, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl GrantStore for SqliteStore {
    async fn create_grant_with(
        &self,
        app: AppId,
        grant: &NewGrant,
        key: Option<&RequestKey>,
        effects: Effects<'_, Grant>,
    ) -> StoreResult<Grant> {
        Err(StoreError::conflict(
            "GrantStore::create_grant_with is not implemented on SQLite yet",
        ))
    }
    async fn get_grant(&self, app: AppId, grant: GrantId) -> StoreResult<Option<Grant>> {
        Err(StoreError::conflict(
            "GrantStore::get_grant is not implemented on SQLite yet",
        ))
    }
    async fn list_grants(
        &self,
        app: AppId,
        after: Option<GrantId>,
        limit: u32,
    ) -> StoreResult<Vec<Grant>> {
        Err(StoreError::conflict(
            "GrantStore::list_grants is not implemented on SQLite yet",
        ))
    }
    async fn list_active_grants_for_user(
        &self,
        app: AppId,
        user: UserId,
        include_group_grants: bool,
    ) -> StoreResult<Vec<Grant>> {
        Err(StoreError::conflict(
            "GrantStore::list_active_grants_for_user is not implemented on SQLite yet",
        ))
    }
    async fn revoke_grant_with(
        &self,
        app: AppId,
        grant: GrantId,
        by: &RevokedBy,
        effects: Effects<'_, Grant>,
    ) -> StoreResult<Option<Grant>> {
        Err(StoreError::conflict(
            "GrantStore::revoke_grant_with is not implemented on SQLite yet",
        ))
    }
    async fn revoke_all_for_user(
        &self,
        app: AppId,
        user: UserId,
        by: &RevokedBy,
    ) -> StoreResult<Vec<Grant>> {
        Err(StoreError::conflict(
            "GrantStore::revoke_all_for_user is not implemented on SQLite yet",
        ))
    }
    async fn revoke_all_for_group(
        &self,
        app: AppId,
        group: GroupId,
        by: &RevokedBy,
    ) -> StoreResult<Vec<Grant>> {
        Err(StoreError::conflict(
            "GrantStore::revoke_all_for_group is not implemented on SQLite yet",
        ))
    }
}
