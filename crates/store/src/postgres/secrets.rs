//! Sealed secrets over PostgreSQL.

use alter_core::{AppId, IdpId};
use async_trait::async_trait;

use super::PgStore;
use crate::common::not_found_if_fk;
use crate::error::{StoreError, StoreResult};
use crate::outbox::OutboxMessage;
use crate::secrets::{
    SealedSecret, SecretPurpose, SecretStore, StoredSecret, stored_secret_from_row,
};

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
        // Of another app: the conflict's `WHERE` refuses a replacement, the foreign key an insert.
        let missing = || format!("identity provider {idp}");
        let done = result.map_err(|e| not_found_if_fk(e, missing))?;
        if done.rows_affected() != 1 {
            return Err(StoreError::not_found(missing()));
        }
        self.commit_with(tx, effects).await
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
        row.as_ref().map(stored_secret_from_row).transpose()
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
