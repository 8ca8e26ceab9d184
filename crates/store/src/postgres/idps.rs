//! Identity providers over PostgreSQL.

use alter_core::{AppId, ClaimMappings, IdpId};
use async_trait::async_trait;
use sqlx::{PgConnection, Row};

use super::{PgStore, is_foreign_key_violation};
use crate::error::{StoreError, StoreResult};
use crate::idps::{
    IdentityProvider, IdpStore, NewIdp, SignInSettings, claim_mappings_not_updated,
    create_idp_error, delete_idp_error, idp_columns, idp_from_row, list_to_stored,
};
use crate::outbox::{Effects, RequestKey};
use crate::secrets::{SealedSecret, SecretPurpose};

/// The app's identity provider (R-CFG-01: at most one), read on `conn`.
pub(crate) async fn idp_for_app_on(
    conn: &mut PgConnection,
    app: AppId,
) -> StoreResult<Option<IdentityProvider>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        idp_columns!(),
        " FROM identity_providers WHERE app_id = $1"
    ))
    .bind(app.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(idp_from_row).transpose()
}

#[async_trait]
impl IdpStore for PgStore {
    async fn create_idp_with(
        &self,
        app: AppId,
        idp: &NewIdp,
        key: Option<&RequestKey>,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider> {
        let m = &idp.claim_mappings;
        let id = IdpId::new();
        let mut tx = self.pool.begin().await?;
        if let Some(key) = key {
            match Self::claim_request_key(&mut tx, Some(app), "CreateIdp", key, id.as_uuid()).await
            {
                Ok(None) => {}
                Ok(Some(first)) => {
                    drop(tx);
                    return self
                        .get_idp(app, IdpId::from_uuid(first))
                        .await?
                        .ok_or_else(|| {
                            StoreError::not_found(format!("identity provider {first}"))
                        });
                }
                // The key's app must exist: say so as the create itself would.
                Err(StoreError::Database(e)) if is_foreign_key_violation(&e) => {
                    return Err(StoreError::not_found(format!("app {app}")));
                }
                Err(e) => return Err(e),
            }
        }
        let result = sqlx::query(concat!(
            "INSERT INTO identity_providers (id, app_id, kind, issuer, jwks_uri, audience, user_id_claim, \
             group_claim, role_claim, email_claim, display_name_claim, group_claim_stable_ids, \
             sign_in_client_id, sign_in_return_urls, sign_in_scopes) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING ",
            idp_columns!()
        ))
            .bind(id.as_uuid())
            .bind(app.as_uuid())
            .bind(idp.kind.as_str())
            .bind(&idp.issuer)
            .bind(&idp.jwks_uri)
            .bind(&idp.audience)
            .bind(&m.user_id_claim)
            .bind(&m.group_claim)
            .bind(&m.role_claim)
            .bind(&m.email_claim)
            .bind(&m.display_name_claim)
            .bind(m.group_claim_stable_ids)
            .bind(idp.sign_in.as_ref().map(|s| s.client_id.as_str()))
            .bind(list_to_stored(idp.sign_in.as_ref().map_or(&[][..], |s| &s.return_urls)))
            .bind(list_to_stored(idp.sign_in.as_ref().map_or(&[][..], |s| &s.scopes)))
            .fetch_one(&mut *tx)
            .await;
        match result {
            Ok(row) => {
                let created = idp_from_row(&row)?;
                self.commit_with(tx, effects(&created)).await?;
                Ok(created)
            }
            Err(e) => Err(create_idp_error(app, e)),
        }
    }

    async fn get_idp_for_app(&self, app: AppId) -> StoreResult<Option<IdentityProvider>> {
        let mut conn = self.pool.acquire().await?;
        idp_for_app_on(&mut conn, app).await
    }

    async fn get_idp(&self, app: AppId, idp: IdpId) -> StoreResult<Option<IdentityProvider>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            idp_columns!(),
            " FROM identity_providers WHERE app_id = $1 AND id = $2"
        ))
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(idp_from_row).transpose()
    }

    async fn find_idp_by_id(&self, idp: IdpId) -> StoreResult<Option<IdentityProvider>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            idp_columns!(),
            " FROM identity_providers WHERE id = $1"
        ))
        .bind(idp.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(idp_from_row).transpose()
    }

    async fn update_claim_mappings_with(
        &self,
        app: AppId,
        idp: IdpId,
        mappings: &ClaimMappings,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE identity_providers SET user_id_claim = $3, group_claim = $4, role_claim = $5, \
             email_claim = $6, display_name_claim = $7, group_claim_stable_ids = $8 \
             WHERE app_id = $1 AND id = $2 AND claim_mappings_locked_at IS NULL RETURNING ",
            idp_columns!()
        ))
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(&mappings.user_id_claim)
        .bind(&mappings.group_claim)
        .bind(&mappings.role_claim)
        .bind(&mappings.email_claim)
        .bind(&mappings.display_name_claim)
        .bind(mappings.group_claim_stable_ids)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = row {
            let updated = idp_from_row(&row)?;
            self.commit_with(tx, effects(&updated)).await?;
            return Ok(updated);
        }
        drop(tx);
        Err(claim_mappings_not_updated(
            idp,
            self.get_idp(app, idp).await?,
        ))
    }

    async fn lock_claim_mappings(&self, app: AppId, idp: IdpId) -> StoreResult<bool> {
        let row = sqlx::query(
            "WITH locked AS (UPDATE identity_providers SET claim_mappings_locked_at = now() \
             WHERE app_id = $1 AND id = $2 AND claim_mappings_locked_at IS NULL RETURNING id) \
             SELECT EXISTS (SELECT 1 FROM locked) AS locked, \
                    EXISTS (SELECT 1 FROM identity_providers WHERE app_id = $1 AND id = $2) AS found",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .fetch_one(&self.pool)
        .await?;
        if !row.try_get::<bool, _>("found")? {
            return Err(StoreError::not_found(format!("identity provider {idp}")));
        }
        Ok(row.try_get("locked")?)
    }

    async fn delete_idp_with(
        &self,
        app: AppId,
        idp: IdpId,
        effects: Effects<'_, ()>,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        let result = sqlx::query("DELETE FROM identity_providers WHERE app_id = $1 AND id = $2")
            .bind(app.as_uuid())
            .bind(idp.as_uuid())
            .execute(&mut *tx)
            .await;
        match result {
            Ok(done) if done.rows_affected() == 0 => {
                Err(StoreError::not_found(format!("identity provider {idp}")))
            }
            Ok(_) => self.commit_with(tx, effects(&())).await,
            Err(e) => Err(delete_idp_error(idp, e)),
        }
    }

    async fn set_sign_in_with(
        &self,
        app: AppId,
        idp: IdpId,
        sign_in: Option<&SignInSettings>,
        client_secret: Option<&SealedSecret>,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE identity_providers SET sign_in_client_id = $3, sign_in_return_urls = $4, \
             sign_in_scopes = $5 WHERE app_id = $1 AND id = $2 RETURNING ",
            idp_columns!()
        ))
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(sign_in.map(|s| s.client_id.as_str()))
        .bind(list_to_stored(sign_in.map_or(&[][..], |s| &s.return_urls)))
        .bind(list_to_stored(sign_in.map_or(&[][..], |s| &s.scopes)))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::not_found(format!("identity provider {idp}")));
        };
        let updated = idp_from_row(&row)?;
        let purpose = SecretPurpose::ClientSecret.as_str();
        match (sign_in, client_secret) {
            (None, _) => {
                sqlx::query(
                    "DELETE FROM sealed_secrets WHERE app_id = $1 AND idp_id = $2 AND purpose = $3",
                )
                .bind(app.as_uuid())
                .bind(idp.as_uuid())
                .bind(purpose)
                .execute(&mut *tx)
                .await?;
            }
            (Some(_), Some(secret)) => {
                sqlx::query(
                    "INSERT INTO sealed_secrets (app_id, idp_id, purpose, ciphertext, nonce, key_id, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, now()) \
                     ON CONFLICT (idp_id, purpose) DO UPDATE SET ciphertext = excluded.ciphertext, \
                     nonce = excluded.nonce, key_id = excluded.key_id, created_at = excluded.created_at",
                )
                .bind(app.as_uuid())
                .bind(idp.as_uuid())
                .bind(purpose)
                .bind(&secret.ciphertext)
                .bind(&secret.nonce)
                .bind(&secret.key_id)
                .execute(&mut *tx)
                .await?;
            }
            (Some(_), None) => {}
        }
        self.commit_with(tx, effects(&updated)).await?;
        Ok(updated)
    }
}
