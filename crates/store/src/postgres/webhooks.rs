//! Webhook settings and the delivery log over PostgreSQL.

use alter_core::{AppId, EventId, IdpId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::postgres::PgRow;
use uuid::Uuid;

use super::{PgStore, is_foreign_key_violation, page_limit};
use crate::error::{StoreError, StoreResult};
use crate::idps::{IdentityProvider, IdpStore};
use crate::outbox::Effects;
use crate::secrets::SealedSecret;
use crate::webhooks::{
    DeliveryOutcome, DeliveryRecord, LoggedDelivery, StoredWebhookSecret, WebhookSettings,
    WebhookStore,
};

macro_rules! settings_columns {
    () => {
        "app_id, idp_id, enabled, secret_form, current_secret, current_nonce, current_key_id, \
         previous_secret, previous_nonce, previous_key_id, previous_valid_until, enabled_at, rotated_at"
    };
}

/// The secret's columns: (secret, nonce, key ID).
fn columns(secret: &StoredWebhookSecret) -> (&[u8], Option<&[u8]>, Option<&str>) {
    match secret {
        StoredWebhookSecret::Hash(hash) => (hash.as_slice(), None, None),
        StoredWebhookSecret::Sealed(s) => (
            s.ciphertext.as_slice(),
            Some(s.nonce.as_slice()),
            Some(s.key_id.as_str()),
        ),
    }
}

fn form(secret: &StoredWebhookSecret) -> &'static str {
    match secret {
        StoredWebhookSecret::Hash(_) => "hash",
        StoredWebhookSecret::Sealed(_) => "sealed",
    }
}

fn secret_from(
    form: &str,
    secret: Vec<u8>,
    nonce: Option<Vec<u8>>,
    key_id: Option<String>,
) -> StoreResult<StoredWebhookSecret> {
    match (form, nonce, key_id) {
        ("hash", _, _) => Ok(StoredWebhookSecret::Hash(secret)),
        ("sealed", Some(nonce), Some(key_id)) => Ok(StoredWebhookSecret::Sealed(SealedSecret {
            ciphertext: secret,
            nonce,
            key_id,
        })),
        _ => Err(StoreError::corrupt(
            "webhook secret",
            format!("form {form:?} without its nonce and key ID"),
        )),
    }
}

fn settings_from_row(row: &PgRow) -> StoreResult<WebhookSettings> {
    let form: String = row.try_get("secret_form")?;
    let current = secret_from(
        &form,
        row.try_get("current_secret")?,
        row.try_get("current_nonce")?,
        row.try_get("current_key_id")?,
    )?;
    let previous = match row.try_get::<Option<Vec<u8>>, _>("previous_secret")? {
        Some(secret) => Some(secret_from(
            &form,
            secret,
            row.try_get("previous_nonce")?,
            row.try_get("previous_key_id")?,
        )?),
        None => None,
    };
    Ok(WebhookSettings {
        app_id: AppId::from_uuid(row.try_get("app_id")?),
        idp_id: IdpId::from_uuid(row.try_get("idp_id")?),
        enabled: row.try_get("enabled")?,
        current,
        previous,
        previous_valid_until: row.try_get("previous_valid_until")?,
        enabled_at: row.try_get("enabled_at")?,
        rotated_at: row.try_get("rotated_at")?,
    })
}

fn parse_outcome(value: &str) -> StoreResult<DeliveryOutcome> {
    DeliveryOutcome::ALL
        .into_iter()
        .find(|o| o.as_str() == value)
        .ok_or_else(|| StoreError::corrupt("delivery outcome", format!("{value:?}")))
}

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
        if let Some((previous, _)) = previous
            && form(previous) != form(current)
        {
            return Err(StoreError::conflict(
                "a rotation keeps the secret's form (hashed or sealed); disable and enable webhooks to change it",
            ));
        }
        let (secret, nonce, key_id) = columns(current);
        let (p_secret, p_nonce, p_key_id) = previous.map_or((None, None, None), |(p, _)| {
            let (s, n, k) = columns(p);
            (Some(s), n, k)
        });
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
            settings_columns!()
        ))
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(form(current))
        .bind(secret)
        .bind(nonce)
        .bind(key_id)
        .bind(p_secret)
        .bind(p_nonce)
        .bind(p_key_id)
        .bind(previous.map(|(_, until)| until))
        .fetch_optional(&mut *tx)
        .await;
        let row = match result {
            Ok(Some(row)) => row,
            Ok(None) => return Err(StoreError::not_found(format!("identity provider {idp}"))),
            Err(e) if is_foreign_key_violation(&e) => {
                return Err(StoreError::not_found(format!("identity provider {idp}")));
            }
            Err(e) => return Err(e.into()),
        };
        let settings = settings_from_row(&row)?;
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
            settings_columns!(),
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
        let Some(found) = self.find_idp_by_id(idp).await? else {
            return Ok(None);
        };
        let settings = self.get_webhook_settings(found.app_id, idp).await?;
        Ok(Some((found, settings)))
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
        rows.iter()
            .map(|row| {
                let outcome: String = row.try_get("outcome")?;
                Ok(LoggedDelivery {
                    seq: row.try_get("seq")?,
                    idp_id: IdpId::from_uuid(row.try_get("idp_id")?),
                    record: DeliveryRecord {
                        received_at: row.try_get("received_at")?,
                        provider_event_id: row.try_get("provider_event_id")?,
                        event_type: row.try_get("event_type")?,
                        event_id: row
                            .try_get::<Option<Uuid>, _>("event_id")?
                            .map(EventId::from_uuid),
                        outcome: parse_outcome(&outcome)?,
                        reason: row.try_get("reason")?,
                    },
                })
            })
            .collect()
    }
}
