//! Apps over SQLite: as on PostgreSQL, with `created_at` bound from Rust (the schema has no
//! time defaults) and the create in a `BEGIN IMMEDIATE` transaction.

use alter_core::AppId;
use async_trait::async_trait;

use super::{SqliteStore, now};
use crate::apps::{App, AppStore, app_from_row, check_app_name};
use crate::common::page_limit;
use crate::error::{StoreError, StoreResult};
use crate::outbox::{Effects, RequestKey};

#[async_trait]
impl AppStore for SqliteStore {
    async fn create_app_with(
        &self,
        name: &str,
        key: Option<&RequestKey>,
        effects: Effects<'_, App>,
    ) -> StoreResult<App> {
        check_app_name(name)?;
        let id = AppId::new();
        let mut tx = self.write_tx().await?;
        if let Some(key) = key
            && let Some(first) =
                Self::claim_request_key(&mut tx, None, "CreateApp", key, id.as_uuid()).await?
        {
            // Given back before the read: a second connection must never wait on this one.
            drop(tx);
            return self
                .get_app(AppId::from_uuid(first))
                .await?
                .ok_or_else(|| StoreError::not_found(format!("app {first}")));
        }
        let row = sqlx::query(
            "INSERT INTO apps (id, name, created_at) VALUES ($1, $2, $3) RETURNING id, name, created_at",
        )
        .bind(id.as_uuid())
        .bind(name)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        let app = app_from_row(&row)?;
        self.commit_with(tx, effects(&app)).await?;
        Ok(app)
    }

    async fn get_app(&self, app: AppId) -> StoreResult<Option<App>> {
        let row = sqlx::query("SELECT id, name, created_at FROM apps WHERE id = $1")
            .bind(app.as_uuid())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(app_from_row).transpose()
    }

    async fn list_apps(&self, after: Option<AppId>, limit: u32) -> StoreResult<Vec<App>> {
        let rows = sqlx::query(
            "SELECT id, name, created_at FROM apps WHERE ($1 IS NULL OR id > $1) ORDER BY id LIMIT $2",
        )
        .bind(after.map(|a| a.as_uuid()))
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(app_from_row).collect()
    }
}
