//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::idps::IdentityProvider;
use crate::outbox::Effects;
use crate::secrets::SealedSecret;
use crate::webhooks::*;
use alter_core::{AppId, EventId, IdpId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn put_webhook_settings_with(
        &self,
        app: AppId,
        idp: IdpId,
        current: &StoredWebhookSecret,
        previous: Option<(&StoredWebhookSecret, DateTime<Utc>)>,
        effects: Effects<'_, WebhookSettings>,
    ) -> StoreResult<WebhookSettings> {
        Err(StoreError::conflict(
            "WebhookStore::put_webhook_settings_with is not implemented on SQLite yet",
        ))
    }
    async fn disable_webhooks_with(
        &self,
        app: AppId,
        idp: IdpId,
        effects: Effects<'_, ()>,
    ) -> StoreResult<bool> {
        Err(StoreError::conflict(
            "WebhookStore::disable_webhooks_with is not implemented on SQLite yet",
        ))
    }
    async fn get_webhook_settings(
        &self,
        app: AppId,
        idp: IdpId,
    ) -> StoreResult<Option<WebhookSettings>> {
        Err(StoreError::conflict(
            "WebhookStore::get_webhook_settings is not implemented on SQLite yet",
        ))
    }
    async fn find_webhook_endpoint(
        &self,
        idp: IdpId,
    ) -> StoreResult<Option<(IdentityProvider, Option<WebhookSettings>)>> {
        Err(StoreError::conflict(
            "WebhookStore::find_webhook_endpoint is not implemented on SQLite yet",
        ))
    }
    async fn record_deliveries(
        &self,
        records: &[(AppId, IdpId, DeliveryRecord)],
    ) -> StoreResult<()> {
        Err(StoreError::conflict(
            "WebhookStore::record_deliveries is not implemented on SQLite yet",
        ))
    }
    async fn list_deliveries(
        &self,
        app: AppId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<LoggedDelivery>> {
        Err(StoreError::conflict(
            "WebhookStore::list_deliveries is not implemented on SQLite yet",
        ))
    }
}
