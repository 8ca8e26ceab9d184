//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::idps::*;
use crate::outbox::{Effects, RequestKey, no_effects};
use alter_core::{AppId, ClaimMappings, IdpId, IdpKind};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl IdpStore for SqliteStore {
    async fn create_idp_with(
        &self,
        app: AppId,
        idp: &NewIdp,
        key: Option<&RequestKey>,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider> {
        Err(StoreError::conflict(
            "IdpStore::create_idp_with is not implemented on SQLite yet",
        ))
    }
    async fn get_idp_for_app(&self, app: AppId) -> StoreResult<Option<IdentityProvider>> {
        Err(StoreError::conflict(
            "IdpStore::get_idp_for_app is not implemented on SQLite yet",
        ))
    }
    async fn get_idp(&self, app: AppId, idp: IdpId) -> StoreResult<Option<IdentityProvider>> {
        Err(StoreError::conflict(
            "IdpStore::get_idp is not implemented on SQLite yet",
        ))
    }
    async fn find_idp_by_id(&self, idp: IdpId) -> StoreResult<Option<IdentityProvider>> {
        Err(StoreError::conflict(
            "IdpStore::find_idp_by_id is not implemented on SQLite yet",
        ))
    }
    async fn update_claim_mappings_with(
        &self,
        app: AppId,
        idp: IdpId,
        mappings: &ClaimMappings,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider> {
        Err(StoreError::conflict(
            "IdpStore::update_claim_mappings_with is not implemented on SQLite yet",
        ))
    }
    async fn lock_claim_mappings(&self, app: AppId, idp: IdpId) -> StoreResult<bool> {
        Err(StoreError::conflict(
            "IdpStore::lock_claim_mappings is not implemented on SQLite yet",
        ))
    }
    async fn delete_idp_with(
        &self,
        app: AppId,
        idp: IdpId,
        effects: Effects<'_, ()>,
    ) -> StoreResult<()> {
        Err(StoreError::conflict(
            "IdpStore::delete_idp_with is not implemented on SQLite yet",
        ))
    }
    async fn set_sign_in_with(
        &self,
        app: AppId,
        idp: IdpId,
        sign_in: Option<&SignInSettings>,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider> {
        Err(StoreError::conflict(
            "IdpStore::set_sign_in_with is not implemented on SQLite yet",
        ))
    }
}
