//! Directory sync's batched writes and ordered reads over SQLite. Lists of external IDs are
//! bound as one JSON array (`IN (SELECT value FROM json_each(…))`), PostgreSQL's `= ANY`;
//! each batched write is one `BEGIN IMMEDIATE` transaction with its effects.

use alter_core::{AppId, ExternalUserId, GroupId, IdpId, UserId, UserStatus};
use async_trait::async_trait;
use uuid::Uuid;

use super::outbox::json_list;
use super::users::user_from_row;
use super::{SqliteStore, now};
use crate::common::page_limit;
use crate::directory::{DirectorySyncStore, IdpMembership, idp_user_from_row, membership_from_row};
use crate::error::StoreResult;
use crate::outbox::Effects;
use crate::users::{UpsertedUser, User, UserUpsert};

/// The external IDs as a JSON array of strings.
fn external_ids(ids: &[ExternalUserId]) -> StoreResult<String> {
    let ids: Vec<&str> = ids.iter().map(ExternalUserId::as_str).collect();
    json_list(&ids)
}

#[async_trait]
impl DirectorySyncStore for SqliteStore {
    async fn users_by_external_ids(
        &self,
        app: AppId,
        idp: IdpId,
        ids: &[ExternalUserId],
    ) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            crate::user_columns!(),
            " FROM users WHERE app_id = $1 AND idp_id = $2 \
             AND external_id IN (SELECT value FROM json_each($3))"
        ))
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(external_ids(ids)?)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }

    async fn upsert_users_batch_with(
        &self,
        app: AppId,
        idp: IdpId,
        users: &[UserUpsert],
        effects: Effects<'_, [UpsertedUser]>,
    ) -> StoreResult<Vec<UpsertedUser>> {
        let mut tx = self.write_tx().await?;
        let upserted = self.upsert_users_on(&mut tx, app, idp, users).await?;
        let messages = effects(&upserted);
        self.commit_with(tx, messages).await?;
        Ok(upserted)
    }

    async fn add_group_members_with(
        &self,
        app: AppId,
        idp: IdpId,
        group: GroupId,
        users: &[ExternalUserId],
        effects: Effects<'_, [UserId]>,
    ) -> StoreResult<Vec<UserId>> {
        let mut tx = self.write_tx().await?;
        let added: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO memberships (app_id, user_id, group_id, source, created_at) \
             SELECT $1, u.id, $3, 'directory_sync', $5 FROM users u \
             WHERE u.app_id = $1 AND u.idp_id = $2 \
             AND u.external_id IN (SELECT value FROM json_each($4)) \
             ON CONFLICT DO NOTHING RETURNING user_id",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(group.as_uuid())
        .bind(external_ids(users)?)
        .bind(now())
        .fetch_all(&mut *tx)
        .await?;
        let added: Vec<UserId> = added.into_iter().map(UserId::from_uuid).collect();
        let messages = if added.is_empty() {
            Vec::new()
        } else {
            effects(&added)
        };
        self.commit_with(tx, messages).await?;
        Ok(added)
    }

    async fn count_missing_members(
        &self,
        app: AppId,
        idp: IdpId,
        group: GroupId,
        users: &[ExternalUserId],
    ) -> StoreResult<i64> {
        let missing: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM users u WHERE u.app_id = $1 AND u.idp_id = $2 \
             AND u.external_id IN (SELECT value FROM json_each($4)) \
             AND NOT EXISTS (SELECT 1 FROM memberships m \
                 WHERE m.app_id = $1 AND m.user_id = u.id AND m.group_id = $3)",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(group.as_uuid())
        .bind(external_ids(users)?)
        .fetch_one(&self.pool)
        .await?;
        Ok(missing)
    }

    async fn page_idp_users(
        &self,
        app: AppId,
        idp: IdpId,
        after: Option<&ExternalUserId>,
        limit: u32,
    ) -> StoreResult<Vec<(ExternalUserId, UserStatus)>> {
        let rows = sqlx::query(
            "SELECT external_id, status FROM users WHERE app_id = $1 AND idp_id = $2 \
             AND status <> 'deprovisioned' AND ($3 IS NULL OR external_id > $3) \
             ORDER BY external_id LIMIT $4",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(after.map(ExternalUserId::as_str))
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(idp_user_from_row).collect()
    }

    async fn page_idp_memberships(
        &self,
        app: AppId,
        idp: IdpId,
        after: Option<(UserId, GroupId)>,
        limit: u32,
    ) -> StoreResult<Vec<IdpMembership>> {
        // UUIDs are BLOBs compared byte by byte, PostgreSQL's uuid order.
        let rows = sqlx::query(
            "SELECT m.user_id, m.group_id, u.external_id AS user_external_id, \
                 g.external_id AS group_external_id FROM memberships m \
             JOIN users u ON u.app_id = m.app_id AND u.id = m.user_id \
             JOIN groups g ON g.app_id = m.app_id AND g.id = m.group_id \
             WHERE m.app_id = $1 AND u.idp_id = $2 AND g.deleted_at IS NULL \
             AND u.status <> 'deprovisioned' \
             AND ($3 IS NULL OR (m.user_id, m.group_id) > ($3, $4)) \
             ORDER BY m.user_id, m.group_id LIMIT $5",
        )
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(after.map(|(u, _)| u.as_uuid()))
        .bind(after.map(|(_, g)| g.as_uuid()))
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(membership_from_row).collect()
    }
}
