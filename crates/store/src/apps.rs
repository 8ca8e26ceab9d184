//! Apps: the tenants. Every other aggregate hangs off an app and is isolated by it.

use alter_core::{AppId, FieldError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::common::StoredRow;
use crate::error::{StoreError, StoreResult};
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

/// `Invalid` unless `name` is 1 to 200 characters long (what both schemas check).
pub(crate) fn check_app_name(name: &str) -> StoreResult<()> {
    let count = name.chars().count();
    if count == 0 || count > 200 {
        return Err(StoreError::Invalid(FieldError::new(
            "name",
            format!("must be 1 to 200 characters long; got {count}"),
        )));
    }
    Ok(())
}

/// An app from a row of `id, name, created_at` (either adapter).
pub(crate) fn app_from_row(row: &impl StoredRow) -> StoreResult<App> {
    Ok(App {
        id: AppId::from_uuid(row.get("id")?),
        name: row.get("name")?,
        created_at: row.get("created_at")?,
    })
}
