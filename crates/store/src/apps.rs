//! Apps: the tenants. Every other aggregate hangs off an app and is isolated by it.

use alter_core::AppId;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreResult;
use crate::outbox::{Effects, RequestKey, no_effects};

/// A stored app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct App {
    pub id: AppId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// Persistence of apps.
#[async_trait]
pub trait AppStore: Send + Sync {
    /// Creates an app with a new ID. `name` must be 1..=200 characters.
    async fn create_app(&self, name: &str) -> StoreResult<App> {
        self.create_app_with(name, None, &no_effects).await
    }
    /// [`AppStore::create_app`] with its side effects in the same transaction; with a
    /// request key, a retried call returns the app the first call created.
    async fn create_app_with(
        &self,
        name: &str,
        key: Option<&RequestKey>,
        effects: Effects<'_, App>,
    ) -> StoreResult<App>;
    /// The app, or `None` when it does not exist.
    async fn get_app(&self, app: AppId) -> StoreResult<Option<App>>;
    /// Apps in ID (creation) order, `limit` at a time, starting after `after`.
    async fn list_apps(&self, after: Option<AppId>, limit: u32) -> StoreResult<Vec<App>>;
}
