//! Grants over SQLite: PostgreSQL's statements with the current time bound from Rust
//! ([`now`]) instead of the database's `now()`, and an expiry stored at microsecond
//! precision like PostgreSQL's (stored times compare as text).

use alter_core::{AppId, GrantId, GroupId, UserId};
use async_trait::async_trait;
use sqlx::SqliteConnection;

use super::{SqliteStore, now};
use crate::audit_chain::to_stored_precision;
use crate::common::{is_foreign_key_violation, page_limit};
use crate::error::{StoreError, StoreResult};
use crate::grants::{
    Grant, GrantStore, NewGrant, RevokeAll, RevokedBy, grant_columns, grant_from_row,
    missing_principal, principal_columns,
};
use crate::outbox::{Effects, RequestKey};

/// The user's grants, the app's and (when `$3`) their live groups'; `$4` is the current time.
const ACTIVE_FOR_USER: &str = concat!(
    "SELECT ",
    grant_columns!(),
    " FROM grants WHERE app_id = $1 AND principal_kind = 'user' AND principal_user_id = $2 \
       AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4) \
     UNION ALL SELECT ",
    grant_columns!(),
    " FROM grants WHERE app_id = $1 AND principal_kind = 'system' \
       AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4) \
     UNION ALL SELECT ",
    grant_columns!(),
    " FROM grants WHERE $3 AND app_id = $1 AND principal_kind = 'group' \
       AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $4) \
       AND principal_group_id IN (SELECT m.group_id FROM memberships m \
           JOIN groups g ON g.app_id = m.app_id AND g.id = m.group_id \
           WHERE m.app_id = $1 AND m.user_id = $2 AND g.deleted_at IS NULL) \
     ORDER BY id"
);

const REVOKE_FOR_USER: &str = concat!(
    "UPDATE grants SET revoked_at = $5, revoked_source = $3, revoked_by = $4 \
     WHERE app_id = $1 AND principal_kind = 'user' AND principal_user_id = $2 AND revoked_at IS NULL \
     RETURNING ",
    grant_columns!()
);

const REVOKE_FOR_GROUP: &str = concat!(
    "UPDATE grants SET revoked_at = $5, revoked_source = $3, revoked_by = $4 \
     WHERE app_id = $1 AND principal_kind = 'group' AND principal_group_id = $2 AND revoked_at IS NULL \
     RETURNING ",
    grant_columns!()
);

/// Revokes every active grant of `whom` on `conn` (a pooled connection or the caller's
/// transaction) and returns the revoked grants in ID order.
pub(crate) async fn revoke_all_on(
    conn: &mut SqliteConnection,
    app: AppId,
    whom: RevokeAll,
    by: &RevokedBy,
) -> StoreResult<Vec<Grant>> {
    let (sql, principal) = match whom {
        RevokeAll::User(user) => (REVOKE_FOR_USER, user.as_uuid()),
        RevokeAll::Group(group) => (REVOKE_FOR_GROUP, group.as_uuid()),
    };
    let rows = sqlx::query(sql)
        .bind(app.as_uuid())
        .bind(principal)
        .bind(by.source.as_str())
        .bind(&by.cause)
        .bind(now())
        .fetch_all(&mut *conn)
        .await?;
    let mut grants = rows
        .iter()
        .map(grant_from_row)
        .collect::<StoreResult<Vec<_>>>()?;
    grants.sort_by_key(|g| g.id);
    Ok(grants)
}

/// The grant by ID within the app, read on `conn`.
async fn grant_on(
    conn: &mut SqliteConnection,
    app: AppId,
    grant: GrantId,
) -> StoreResult<Option<Grant>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        grant_columns!(),
        " FROM grants WHERE app_id = $1 AND id = $2"
    ))
    .bind(app.as_uuid())
    .bind(grant.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(grant_from_row).transpose()
}

#[async_trait]
impl GrantStore for SqliteStore {
    async fn create_grant_with(
        &self,
        app: AppId,
        grant: &NewGrant,
        key: Option<&RequestKey>,
        effects: Effects<'_, Grant>,
    ) -> StoreResult<Grant> {
        let id = GrantId::new();
        let mut tx = self.write_tx().await?;
        if let Some(key) = key
            && let Some(first) =
                Self::claim_request_key(&mut tx, Some(app), "CreateGrant", key, id.as_uuid())
                    .await?
        {
            // The first call's grant, read in this transaction (no second connection).
            return grant_on(&mut tx, app, GrantId::from_uuid(first))
                .await?
                .ok_or_else(|| StoreError::not_found(format!("grant {first}")));
        }
        let (kind, user, group) = principal_columns(grant.principal);
        let result = sqlx::query(concat!(
            "INSERT INTO grants (id, app_id, credential_ref, principal_kind, principal_user_id, \
             principal_group_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ",
            grant_columns!()
        ))
        .bind(id.as_uuid())
        .bind(app.as_uuid())
        .bind(&grant.credential_ref)
        .bind(kind)
        .bind(user)
        .bind(group)
        .bind(grant.expires_at.map(to_stored_precision))
        .bind(now())
        .fetch_one(&mut *tx)
        .await;
        match result {
            Ok(row) => {
                let created = grant_from_row(&row)?;
                self.commit_with(tx, effects(&created)).await?;
                Ok(created)
            }
            Err(e) if is_foreign_key_violation(&e) => Err(missing_principal(app, grant.principal)),
            Err(e) => Err(e.into()),
        }
    }

    async fn get_grant(&self, app: AppId, grant: GrantId) -> StoreResult<Option<Grant>> {
        let mut conn = self.pool.acquire().await?;
        grant_on(&mut conn, app, grant).await
    }

    async fn list_grants(
        &self,
        app: AppId,
        after: Option<GrantId>,
        limit: u32,
    ) -> StoreResult<Vec<Grant>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            grant_columns!(),
            " FROM grants WHERE app_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(app.as_uuid())
        .bind(after.map(|g| g.as_uuid()))
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn list_active_grants_for_user(
        &self,
        app: AppId,
        user: UserId,
        include_group_grants: bool,
    ) -> StoreResult<Vec<Grant>> {
        let rows = sqlx::query(ACTIVE_FOR_USER)
            .bind(app.as_uuid())
            .bind(user.as_uuid())
            .bind(include_group_grants)
            .bind(now())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(grant_from_row).collect()
    }

    async fn revoke_grant_with(
        &self,
        app: AppId,
        grant: GrantId,
        by: &RevokedBy,
        effects: Effects<'_, Grant>,
    ) -> StoreResult<Option<Grant>> {
        let mut tx = self.write_tx().await?;
        let row = sqlx::query(concat!(
            "UPDATE grants SET revoked_at = $5, revoked_source = $3, revoked_by = $4 \
             WHERE app_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING ",
            grant_columns!()
        ))
        .bind(app.as_uuid())
        .bind(grant.as_uuid())
        .bind(by.source.as_str())
        .bind(&by.cause)
        .bind(now())
        .fetch_optional(&mut *tx)
        .await?;
        match row {
            Some(row) => {
                let revoked = grant_from_row(&row)?;
                self.commit_with(tx, effects(&revoked)).await?;
                Ok(Some(revoked))
            }
            // Already revoked (the first cause stays) or not in the app: asked on this
            // transaction, never on a second connection while it holds the write lock.
            None if grant_on(&mut tx, app, grant).await?.is_some() => Ok(None),
            None => Err(StoreError::not_found(format!("grant {grant}"))),
        }
    }

    async fn revoke_all_for_user(
        &self,
        app: AppId,
        user: UserId,
        by: &RevokedBy,
    ) -> StoreResult<Vec<Grant>> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        revoke_all_on(&mut conn, app, RevokeAll::User(user), by).await
    }

    async fn revoke_all_for_group(
        &self,
        app: AppId,
        group: GroupId,
        by: &RevokedBy,
    ) -> StoreResult<Vec<Grant>> {
        let _turn = self.write_turn().await;
        let mut conn = self.pool.acquire().await?;
        revoke_all_on(&mut conn, app, RevokeAll::Group(group), by).await
    }
}
