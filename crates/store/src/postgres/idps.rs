//! Identity providers over PostgreSQL.

use alter_core::{AppId, ClaimMappings, IdpId, IdpKind};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use super::{PgStore, corrupt, is_foreign_key_violation, is_unique_violation};
use crate::error::{StoreError, StoreResult};
use crate::idps::{IdentityProvider, IdpStore, NewIdp, SignInSettings};
use crate::outbox::{Effects, RequestKey};

macro_rules! idp_columns {
    () => {
        "id, app_id, kind, issuer, jwks_uri, audience, user_id_claim, group_claim, role_claim, \
         email_claim, display_name_claim, group_claim_stable_ids, claim_mappings_locked_at, \
         sign_in_client_id, sign_in_wallet_logout_url, created_at"
    };
}

fn idp_from_row(row: &PgRow) -> StoreResult<IdentityProvider> {
    let kind: String = row.try_get("kind")?;
    let client_id: Option<String> = row.try_get("sign_in_client_id")?;
    let wallet_logout_url: Option<String> = row.try_get("sign_in_wallet_logout_url")?;
    Ok(IdentityProvider {
        id: IdpId::from_uuid(row.try_get("id")?),
        app_id: AppId::from_uuid(row.try_get("app_id")?),
        kind: IdpKind::parse("identity_providers.kind", &kind).map_err(corrupt("IDP kind"))?,
        issuer: row.try_get("issuer")?,
        jwks_uri: row.try_get("jwks_uri")?,
        audience: row.try_get("audience")?,
        claim_mappings: ClaimMappings {
            user_id_claim: row.try_get("user_id_claim")?,
            group_claim: row.try_get("group_claim")?,
            role_claim: row.try_get("role_claim")?,
            email_claim: row.try_get("email_claim")?,
            display_name_claim: row.try_get("display_name_claim")?,
            group_claim_stable_ids: row.try_get("group_claim_stable_ids")?,
        },
        claim_mappings_locked_at: row.try_get("claim_mappings_locked_at")?,
        sign_in: client_id.map(|client_id| SignInSettings {
            client_id,
            wallet_logout_url,
        }),
        created_at: row.try_get("created_at")?,
    })
}

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
             sign_in_client_id, sign_in_wallet_logout_url) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING ",
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
            .bind(idp.sign_in.as_ref().and_then(|s| s.wallet_logout_url.as_deref()))
            .fetch_one(&mut *tx)
            .await;
        match result {
            Ok(row) => {
                let created = idp_from_row(&row)?;
                self.commit_with(tx, effects(&created)).await?;
                Ok(created)
            }
            Err(e) if is_unique_violation(&e) => Err(StoreError::already_exists(format!(
                "an identity provider for app {app} (an app has at most one; update or delete the existing one)"
            ))),
            Err(e) if is_foreign_key_violation(&e) => {
                Err(StoreError::not_found(format!("app {app}")))
            }
            Err(e) => Err(e.into()),
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
        match self.get_idp(app, idp).await? {
            None => Err(StoreError::not_found(format!("identity provider {idp}"))),
            Some(current) => Err(StoreError::conflict(format!(
                "claim mappings of identity provider {idp} are locked since the first user signed in at {} \
                 (R-CFG-08); changing them now would re-key existing users — create a new app instead",
                current
                    .claim_mappings_locked_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default()
            ))),
        }
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
            Err(e) if is_foreign_key_violation(&e) => Err(StoreError::conflict(format!(
                "identity provider {idp} cannot be deleted: users have signed in through it and are \
                 keyed by its subjects; create a new app to connect a different identity provider"
            ))),
            Err(e) => Err(e.into()),
        }
    }

    async fn set_sign_in_with(
        &self,
        app: AppId,
        idp: IdpId,
        sign_in: Option<&SignInSettings>,
        effects: Effects<'_, IdentityProvider>,
    ) -> StoreResult<IdentityProvider> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(concat!(
            "UPDATE identity_providers SET sign_in_client_id = $3, sign_in_wallet_logout_url = $4 \
             WHERE app_id = $1 AND id = $2 RETURNING ",
            idp_columns!()
        ))
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(sign_in.map(|s| s.client_id.as_str()))
        .bind(sign_in.and_then(|s| s.wallet_logout_url.as_deref()))
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            Some(row) => {
                let updated = idp_from_row(&row)?;
                self.commit_with(tx, effects(&updated)).await?;
                Ok(updated)
            }
            None => Err(StoreError::not_found(format!("identity provider {idp}"))),
        }
    }
}
