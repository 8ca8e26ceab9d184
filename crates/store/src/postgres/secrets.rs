//! Sealed secrets over PostgreSQL.

use alter_core::{AppId, IdpId};
use async_trait::async_trait;
use sqlx::Row;

use super::{PgStore, is_foreign_key_violation};
use crate::error::{StoreError, StoreResult};
use crate::outbox::OutboxMessage;
use crate::secrets::{SealedSecret, SecretPurpose, SecretStore, StoredSecret};

#[async_trait]
impl SecretStore for PgStore {
    async fn put_secret_with(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
        secret: &SealedSecret,
        effects: Vec<OutboxMessage>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query(
            "INSERT INTO sealed_secrets (app_id, idp_id, purpose, ciphertext, nonce, key_id) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (idp_id, purpose) DO UPDATE SET ciphertext = EXCLUDED.ciphertext, \
             nonce = EXCLUDED.nonce, key_id = EXCLUDED.key_id, created_at = now() \
             WHERE sealed_secrets.app_id = EXCLUDED.app_id",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(purpose.as_str())
        .bind(&secret.ciphertext)
        .bind(&secret.nonce)
        .bind(&secret.key_id)
        .execute(&mut *tx)
        .await;
        match result {
            Ok(done) if done.rows_affected() == 1 => self.commit_with(tx, effects).await,
            Ok(_) => Err(StoreError::not_found(format!("identity provider {idp}"))),
            Err(e) if is_foreign_key_violation(&e) => {
                Err(StoreError::not_found(format!("identity provider {idp}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn get_secret(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
    ) -> StoreResult<Option<StoredSecret>> {
        let row = sqlx::query(
            "SELECT ciphertext, nonce, key_id, created_at FROM sealed_secrets \
             WHERE app_id = $1 AND idp_id = $2 AND purpose = $3",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(StoredSecret {
            sealed: SealedSecret {
                ciphertext: row.try_get("ciphertext")?,
                nonce: row.try_get("nonce")?,
                key_id: row.try_get("key_id")?,
            },
            created_at: row.try_get("created_at")?,
        }))
    }

    async fn delete_secret(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "DELETE FROM sealed_secrets WHERE app_id = $1 AND idp_id = $2 AND purpose = $3",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(purpose.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
