//! Webhook settings and the delivery log over PostgreSQL.

use alter_core::{AppId, IdpId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{PgStore, page_limit};
use crate::error::StoreResult;
use crate::idps::IdentityProvider;
use crate::outbox::Effects;
use crate::webhooks::{
    DeliveryRecord, LoggedDelivery, StoredWebhookSecret, WebhookSettings, WebhookStore,
    check_rotation, delivery_from_row, find_endpoint, settings_from_row, written_settings,
};

#[async_trait]
impl WebhookStore for PgStore {
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
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(concat!(
            "INSERT INTO webhook_settings AS w (app_id, idp_id, enabled, secret_form, current_secret, \
                 current_nonce, current_key_id, previous_secret, previous_nonce, previous_key_id, \
                 previous_valid_until, rotated_at) \
             VALUES ($1, $2, true, $3, $4, $5, $6, $7, $8, $9, $10, CASE WHEN $7::bytea IS NULL THEN NULL ELSE now() END) \
             ON CONFLICT (idp_id) DO UPDATE SET enabled = true, secret_form = EXCLUDED.secret_form, \
                 current_secret = EXCLUDED.current_secret, current_nonce = EXCLUDED.current_nonce, \
                 current_key_id = EXCLUDED.current_key_id, previous_secret = EXCLUDED.previous_secret, \
                 previous_nonce = EXCLUDED.previous_nonce, previous_key_id = EXCLUDED.previous_key_id, \
                 previous_valid_until = EXCLUDED.previous_valid_until, \
                 rotated_at = EXCLUDED.rotated_at, updated_at = now() \
             WHERE w.app_id = EXCLUDED.app_id RETURNING ",
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
        .bind(previous.map(|(_, until)| until))
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
        let mut tx = self.pool.begin().await?;
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
        let apps: Vec<Uuid> = records.iter().map(|(app, _, _)| app.as_uuid()).collect();
        let idps: Vec<Uuid> = records.iter().map(|(_, idp, _)| idp.as_uuid()).collect();
        let received: Vec<DateTime<Utc>> = records.iter().map(|(_, _, r)| r.received_at).collect();
        let provider_ids: Vec<Option<&str>> = records
            .iter()
            .map(|(_, _, r)| r.provider_event_id.as_deref())
            .collect();
        let types: Vec<Option<&str>> = records
            .iter()
            .map(|(_, _, r)| r.event_type.as_deref())
            .collect();
        let event_ids: Vec<Option<Uuid>> = records
            .iter()
            .map(|(_, _, r)| r.event_id.map(|e| e.as_uuid()))
            .collect();
        let outcomes: Vec<&str> = records.iter().map(|(_, _, r)| r.outcome.as_str()).collect();
        let reasons: Vec<Option<&str>> = records
            .iter()
            .map(|(_, _, r)| r.reason.as_deref())
            .collect();
        sqlx::query(
            "INSERT INTO webhook_deliveries (app_id, idp_id, received_at, provider_event_id, \
                 event_type, event_id, outcome, reason) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], \
                 $5::text[], $6::uuid[], $7::text[], $8::text[])",
        )
        .bind(apps)
        .bind(idps)
        .bind(received)
        .bind(provider_ids)
        .bind(types)
        .bind(event_ids)
        .bind(outcomes)
        .bind(reasons)
        .execute(&self.pool)
        .await?;
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
             FROM webhook_deliveries WHERE app_id = $1 AND ($2::int8 IS NULL OR seq < $2) \
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
