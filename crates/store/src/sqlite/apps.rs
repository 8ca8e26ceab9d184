//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::apps::*;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::outbox::{Effects, RequestKey, no_effects};
use alter_core::AppId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl AppStore for SqliteStore {
    async fn create_app_with(
        &self,
        name: &str,
        key: Option<&RequestKey>,
        effects: Effects<'_, App>,
    ) -> StoreResult<App> {
        Err(StoreError::conflict(
            "AppStore::create_app_with is not implemented on SQLite yet",
        ))
    }
    async fn get_app(&self, app: AppId) -> StoreResult<Option<App>> {
        Err(StoreError::conflict(
            "AppStore::get_app is not implemented on SQLite yet",
        ))
    }
    async fn list_apps(&self, after: Option<AppId>, limit: u32) -> StoreResult<Vec<App>> {
        Err(StoreError::conflict(
            "AppStore::list_apps is not implemented on SQLite yet",
        ))
    }
}
