//! Webhook settings and the delivery log over SQLite. A batch of delivery records is one
//! write transaction (one commit for all of them, as PostgreSQL's one statement). Times
//! are stored at microsecond precision, as PostgreSQL keeps them.

use alter_core::{AppId, IdpId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{SqliteStore, now};
use crate::audit_chain::to_stored_precision;
use crate::common::page_limit;
use crate::error::StoreResult;
use crate::idps::IdentityProvider;
use crate::outbox::Effects;
use crate::webhooks::{
    DeliveryRecord, LoggedDelivery, StoredWebhookSecret, WebhookSettings, WebhookStore,
    check_rotation, delivery_from_row, find_endpoint, settings_from_row, written_settings,
};

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
        check_rotation(current, previous)?;
        let (secret, nonce, key_id) = current.columns();
        let (p_secret, p_nonce, p_key_id) = StoredWebhookSecret::previous_columns(previous);
        let now = now();
        let mut tx = self.write_tx().await?;
        // `enabled_at` is set when the row is created and kept by a rotation.
        let result = sqlx::query(concat!(
            "INSERT INTO webhook_settings AS w (app_id, idp_id, enabled, secret_form, current_secret, \
                 current_nonce, current_key_id, previous_secret, previous_nonce, previous_key_id, \
                 previous_valid_until, rotated_at, enabled_at, updated_at) \
             VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $7 IS NULL THEN NULL ELSE $11 END, $11, $11) \
             ON CONFLICT (idp_id) DO UPDATE SET enabled = 1, secret_form = excluded.secret_form, \
                 current_secret = excluded.current_secret, current_nonce = excluded.current_nonce, \
                 current_key_id = excluded.current_key_id, previous_secret = excluded.previous_secret, \
                 previous_nonce = excluded.previous_nonce, previous_key_id = excluded.previous_key_id, \
                 previous_valid_until = excluded.previous_valid_until, \
                 rotated_at = excluded.rotated_at, updated_at = excluded.updated_at \
             WHERE w.app_id = excluded.app_id RETURNING ",
            crate::webhook_settings_columns!()
        ))
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(current.form())
        .bind(secret)
        .bind(nonce)
        .bind(key_id)
        .bind(p_secret)
        .bind(p_nonce)
        .bind(p_key_id)
        .bind(previous.map(|(_, until)| to_stored_precision(until)))
        .bind(now)
        .fetch_optional(&mut *tx)
        .await;
        let settings = written_settings(result, idp)?;
        self.commit_with(tx, effects(&settings)).await?;
        Ok(settings)
    }

    async fn disable_webhooks_with(
        &self,
        app: AppId,
        idp: IdpId,
        effects: Effects<'_, ()>,
    ) -> StoreResult<bool> {
        let mut tx = self.write_tx().await?;
        let done = sqlx::query("DELETE FROM webhook_settings WHERE app_id = $1 AND idp_id = $2")
            .bind(app.as_uuid())
            .bind(idp.as_uuid())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.commit_with(tx, effects(&())).await?;
        Ok(true)
    }

    async fn get_webhook_settings(
        &self,
        app: AppId,
        idp: IdpId,
    ) -> StoreResult<Option<WebhookSettings>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            crate::webhook_settings_columns!(),
            " FROM webhook_settings WHERE app_id = $1 AND idp_id = $2"
        ))
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(settings_from_row).transpose()
    }

    async fn find_webhook_endpoint(
        &self,
        idp: IdpId,
    ) -> StoreResult<Option<(IdentityProvider, Option<WebhookSettings>)>> {
        find_endpoint(self, idp).await
    }

    async fn record_deliveries(
        &self,
        records: &[(AppId, IdpId, DeliveryRecord)],
    ) -> StoreResult<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_tx().await?;
        for (app, idp, record) in records {
            sqlx::query(
                "INSERT INTO webhook_deliveries (app_id, idp_id, received_at, provider_event_id, \
                     event_type, event_id, outcome, reason) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(app.as_uuid())
            .bind(idp.as_uuid())
            .bind(to_stored_precision(record.received_at))
            .bind(record.provider_event_id.as_deref())
            .bind(record.event_type.as_deref())
            .bind(record.event_id.map(|e| e.as_uuid()))
            .bind(record.outcome.as_str())
            .bind(record.reason.as_deref())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn list_deliveries(
        &self,
        app: AppId,
        before_seq: Option<i64>,
        limit: u32,
    ) -> StoreResult<Vec<LoggedDelivery>> {
        let rows = sqlx::query(
            "SELECT seq, idp_id, received_at, provider_event_id, event_type, event_id, outcome, reason \
             FROM webhook_deliveries WHERE app_id = $1 AND ($2 IS NULL OR seq < $2) \
             ORDER BY seq DESC LIMIT $3",
        )
        .bind(app.as_uuid())
        .bind(before_seq)
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }
}
