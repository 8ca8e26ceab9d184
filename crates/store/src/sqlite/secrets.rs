//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::secrets::*;
use alter_core::{AppId, IdpId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret_with(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
        secret: &SealedSecret,
        effects: Vec<crate::outbox::OutboxMessage>,
    ) -> StoreResult<()> {
        Err(StoreError::conflict(
            "SecretStore::put_secret_with is not implemented on SQLite yet",
        ))
    }
    async fn get_secret(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
    ) -> StoreResult<Option<StoredSecret>> {
        Err(StoreError::conflict(
            "SecretStore::get_secret is not implemented on SQLite yet",
        ))
    }
    async fn delete_secret(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
    ) -> StoreResult<bool> {
        Err(StoreError::conflict(
            "SecretStore::delete_secret is not implemented on SQLite yet",
        ))
    }
}
