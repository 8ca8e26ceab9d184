//! Sealed secrets over SQLite: the same upsert as on PostgreSQL (an IDP of another app
//! neither matches the conflict's `WHERE` nor passes the foreign key), with `created_at`
//! bound from Rust.

use alter_core::{AppId, IdpId};
use async_trait::async_trait;

use super::{SqliteStore, now};
use crate::common::not_found_if_fk;
use crate::error::{StoreError, StoreResult};
use crate::outbox::OutboxMessage;
use crate::secrets::{
    SealedSecret, SecretPurpose, SecretStore, StoredSecret, stored_secret_from_row,
};

#[async_trait]
impl SecretStore for SqliteStore {
    async fn put_secret_with(
        &self,
        app: AppId,
        idp: IdpId,
        purpose: SecretPurpose,
        secret: &SealedSecret,
        effects: Vec<OutboxMessage>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let result = sqlx::query(
            "INSERT INTO sealed_secrets (app_id, idp_id, purpose, ciphertext, nonce, key_id, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (idp_id, purpose) DO UPDATE SET ciphertext = excluded.ciphertext, \
             nonce = excluded.nonce, key_id = excluded.key_id, created_at = excluded.created_at \
             WHERE sealed_secrets.app_id = excluded.app_id",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(purpose.as_str())
        .bind(&secret.ciphertext)
        .bind(&secret.nonce)
        .bind(&secret.key_id)
        .bind(now())
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
        let _turn = self.write_turn().await;
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
