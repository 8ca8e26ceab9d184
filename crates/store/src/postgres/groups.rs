//! Groups and memberships over PostgreSQL.

use alter_core::{AppId, EventSource, ExternalGroupId, GroupId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{PgStore, dedupe_last_wins, page_limit};
use crate::common::not_found_if_fk;
use crate::error::{StoreError, StoreResult};
use crate::groups::{
    Group, GroupDeletion, GroupStore, GroupUpsert, Membership, MembershipDiff, group_columns,
    group_from_row, membership_from_row,
};
use crate::outbox::Effects;

/// The group by external ID, read on `conn` (inside the caller's transaction).
pub(crate) async fn group_by_external_id_on(
    conn: &mut PgConnection,
    app: AppId,
    external_id: &ExternalGroupId,
) -> StoreResult<Option<Group>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        group_columns!(),
        " FROM groups WHERE app_id = $1 AND external_id = $2"
    ))
    .bind(app.as_uuid())
    .bind(external_id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(group_from_row).transpose()
}

/// Records a group never seen as deleted (a tombstone), unless the app already has one with
/// that external ID (then `None`: a concurrent writer created it).
pub(crate) async fn insert_deleted_group_on(
    conn: &mut PgConnection,
    app: AppId,
    external_id: &ExternalGroupId,
) -> StoreResult<Option<Group>> {
    let row = sqlx::query(concat!(
        "INSERT INTO groups (id, app_id, external_id, deleted_at) VALUES ($1, $2, $3, now()) \
         ON CONFLICT (app_id, external_id) DO NOTHING RETURNING ",
        group_columns!()
    ))
    .bind(GroupId::new().as_uuid())
    .bind(app.as_uuid())
    .bind(external_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| not_found_if_fk(e, || format!("app {app}")))?;
    row.as_ref().map(group_from_row).transpose()
}

/// Marks the group deleted (keeping the first deletion time) and removes all its memberships;
/// `None` when the app has no such group.
pub(crate) async fn mark_group_deleted_on(
    conn: &mut PgConnection,
    app: AppId,
    group: GroupId,
) -> StoreResult<Option<GroupDeletion>> {
    let newly_deleted: Option<bool> = sqlx::query_scalar(
        "WITH old AS (SELECT id, deleted_at FROM groups WHERE app_id = $1 AND id = $2 FOR NO KEY UPDATE) \
         UPDATE groups g SET deleted_at = COALESCE(g.deleted_at, now()), updated_at = now() \
         FROM old WHERE g.app_id = $1 AND g.id = old.id RETURNING (old.deleted_at IS NULL)",
    )
    .bind(app.as_uuid())
    .bind(group.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    let Some(newly_deleted) = newly_deleted else {
        return Ok(None);
    };
    let removed: Vec<(Uuid, String)> = sqlx::query_as(
        "WITH gone AS (DELETE FROM memberships WHERE app_id = $1 AND group_id = $2 RETURNING user_id) \
         SELECT gone.user_id, u.external_id FROM gone \
         JOIN users u ON u.app_id = $1 AND u.id = gone.user_id ORDER BY gone.user_id",
    )
    .bind(app.as_uuid())
    .bind(group.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    GroupDeletion::from_stored(newly_deleted, removed).map(Some)
}

/// Removes one membership; `false` when there was none.
pub(crate) async fn remove_membership_on(
    conn: &mut PgConnection,
    app: AppId,
    user: UserId,
    group: GroupId,
) -> StoreResult<bool> {
    let done =
        sqlx::query("DELETE FROM memberships WHERE app_id = $1 AND user_id = $2 AND group_id = $3")
            .bind(app.as_uuid())
            .bind(user.as_uuid())
            .bind(group.as_uuid())
            .execute(&mut *conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Records that the provider removed the user from the group at `at` (the latest removal
/// wins), so claims issued before it cannot add the membership back.
pub(crate) async fn record_membership_removal_on(
    conn: &mut PgConnection,
    app: AppId,
    user: UserId,
    group: GroupId,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO membership_removals (app_id, user_id, group_id, removed_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (app_id, user_id, group_id) \
         DO UPDATE SET removed_at = GREATEST(membership_removals.removed_at, EXCLUDED.removed_at)",
    )
    .bind(app.as_uuid())
    .bind(user.as_uuid())
    .bind(group.as_uuid())
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const UPSERT_GROUPS: &str = "
WITH input AS (
    SELECT * FROM UNNEST($2::uuid[], $3::text[], $4::text[]) WITH ORDINALITY AS t(id, external_id, name, ord)
),
up AS (
    INSERT INTO groups AS g (id, app_id, external_id, name)
    SELECT id, $1, external_id, name FROM input ORDER BY ord
    ON CONFLICT (app_id, external_id) DO UPDATE SET
        name = COALESCE(EXCLUDED.name, g.name), deleted_at = NULL, updated_at = now()
    WHERE g.deleted_at IS NOT NULL OR (EXCLUDED.name IS NOT NULL AND EXCLUDED.name IS DISTINCT FROM g.name)
    RETURNING g.id, g.app_id, g.external_id, g.name, g.deleted_at, g.created_at
)
SELECT up.id, up.app_id, up.external_id, up.name, up.deleted_at, up.created_at, i.ord
FROM up JOIN input i ON i.external_id = up.external_id
UNION ALL
SELECT g.id, g.app_id, g.external_id, g.name, g.deleted_at, g.created_at, i.ord
FROM groups g JOIN input i ON g.external_id = i.external_id
WHERE g.app_id = $1 AND NOT EXISTS (SELECT 1 FROM up WHERE up.external_id = i.external_id)
ORDER BY ord";

#[async_trait]
impl GroupStore for PgStore {
    async fn upsert_groups(&self, app: AppId, groups: &[GroupUpsert]) -> StoreResult<Vec<Group>> {
        let distinct = dedupe_last_wins(groups, |g| g.external_id.as_str());
        if distinct.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = distinct.iter().map(|_| GroupId::new().as_uuid()).collect();
        let external_ids: Vec<&str> = distinct.iter().map(|g| g.external_id.as_str()).collect();
        let names: Vec<Option<&str>> = distinct.iter().map(|g| g.name.as_deref()).collect();
        let rows = sqlx::query(UPSERT_GROUPS)
            .bind(app.as_uuid())
            .bind(&ids)
            .bind(&external_ids)
            .bind(&names)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| not_found_if_fk(e, || format!("app {app}")))?;
        let mut out = rows
            .iter()
            .map(group_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        if out.len() < distinct.len() {
            // Some were inserted concurrently after our snapshot and needed no change.
            let mut complete = Vec::with_capacity(distinct.len());
            for wanted in &distinct {
                let found = match out.iter().position(|g| g.external_id == wanted.external_id) {
                    Some(i) => out.swap_remove(i),
                    None => self
                        .get_group_by_external_id(app, &wanted.external_id)
                        .await?
                        .ok_or_else(|| {
                            StoreError::not_found(format!("group {}", wanted.external_id))
                        })?,
                };
                complete.push(found);
            }
            out = complete;
        }
        Ok(out)
    }

    async fn get_group(&self, app: AppId, group: GroupId) -> StoreResult<Option<Group>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            group_columns!(),
            " FROM groups WHERE app_id = $1 AND id = $2"
        ))
        .bind(app.as_uuid())
        .bind(group.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(group_from_row).transpose()
    }

    async fn get_group_by_external_id(
        &self,
        app: AppId,
        external_id: &ExternalGroupId,
    ) -> StoreResult<Option<Group>> {
        let mut conn = self.pool.acquire().await?;
        group_by_external_id_on(&mut conn, app, external_id).await
    }

    async fn list_groups(
        &self,
        app: AppId,
        after: Option<GroupId>,
        limit: u32,
    ) -> StoreResult<Vec<Group>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            group_columns!(),
            " FROM groups WHERE app_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(app.as_uuid())
        .bind(after.map(|g| g.as_uuid()))
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    async fn mark_group_deleted(&self, app: AppId, group: GroupId) -> StoreResult<Vec<UserId>> {
        let mut tx = self.pool.begin().await?;
        let deletion = mark_group_deleted_on(&mut tx, app, group)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("group {group}")))?;
        tx.commit().await?;
        Ok(deletion.members.into_iter().map(|(user, _)| user).collect())
    }

    async fn add_membership(
        &self,
        app: AppId,
        user: UserId,
        group: GroupId,
        source: EventSource,
    ) -> StoreResult<bool> {
        let result = sqlx::query(
            "INSERT INTO memberships (app_id, user_id, group_id, source) VALUES ($1, $2, $3, $4) \
             ON CONFLICT DO NOTHING",
        )
        .bind(app.as_uuid())
        .bind(user.as_uuid())
        .bind(group.as_uuid())
        .bind(source.as_str())
        .execute(&self.pool)
        .await;
        let done =
            result.map_err(|e| not_found_if_fk(e, || format!("user {user} or group {group}")))?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_membership(
        &self,
        app: AppId,
        user: UserId,
        group: GroupId,
    ) -> StoreResult<bool> {
        let mut conn = self.pool.acquire().await?;
        remove_membership_on(&mut conn, app, user, group).await
    }

    async fn replace_user_memberships_with(
        &self,
        app: AppId,
        user: UserId,
        groups: &[GroupId],
        source: EventSource,
        issued_at: Option<DateTime<Utc>>,
        effects: Effects<'_, MembershipDiff>,
    ) -> StoreResult<MembershipDiff> {
        let wanted: Vec<Uuid> = groups.iter().map(|g| g.as_uuid()).collect();
        let mut tx = self.pool.begin().await?;
        // Serialises concurrent replacements for the same user (and proves the user exists).
        let locked =
            sqlx::query("SELECT 1 FROM users WHERE app_id = $1 AND id = $2 FOR NO KEY UPDATE")
                .bind(app.as_uuid())
                .bind(user.as_uuid())
                .fetch_optional(&mut *tx)
                .await?;
        if locked.is_none() {
            return Err(StoreError::not_found(format!("user {user}")));
        }
        let removed: Vec<(Uuid, String)> = sqlx::query_as(
            "WITH gone AS (DELETE FROM memberships WHERE app_id = $1 AND user_id = $2 \
                 AND NOT (group_id = ANY($3::uuid[])) RETURNING group_id) \
             SELECT gone.group_id, g.external_id FROM gone \
             JOIN groups g ON g.app_id = $1 AND g.id = gone.group_id ORDER BY gone.group_id",
        )
        .bind(app.as_uuid())
        .bind(user.as_uuid())
        .bind(&wanted)
        .fetch_all(&mut *tx)
        .await?;
        let added: Vec<Uuid> = sqlx::query_scalar(
            "INSERT INTO memberships (app_id, user_id, group_id, source) \
             SELECT $1, $2, g, $4 FROM UNNEST($3::uuid[]) AS g \
             WHERE $5::timestamptz IS NULL OR NOT EXISTS (SELECT 1 FROM membership_removals r \
                 WHERE r.app_id = $1 AND r.user_id = $2 AND r.group_id = g AND r.removed_at >= $5) \
             ON CONFLICT DO NOTHING RETURNING group_id",
        )
        .bind(app.as_uuid())
        .bind(user.as_uuid())
        .bind(&wanted)
        .bind(source.as_str())
        .bind(issued_at)
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| not_found_if_fk(e, || format!("one of the groups given for user {user}")))?;
        let diff = MembershipDiff::from_stored(added, removed)?;
        let messages = if diff.is_empty() {
            Vec::new()
        } else {
            effects(&diff)
        };
        self.commit_with(tx, messages).await?;
        Ok(diff)
    }

    async fn list_user_groups(&self, app: AppId, user: UserId) -> StoreResult<Vec<Group>> {
        let rows = sqlx::query(
            "SELECT g.id, g.app_id, g.external_id, g.name, g.deleted_at, g.created_at \
             FROM memberships m JOIN groups g ON g.app_id = m.app_id AND g.id = m.group_id \
             WHERE m.app_id = $1 AND m.user_id = $2 AND g.deleted_at IS NULL ORDER BY g.id",
        )
        .bind(app.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    async fn list_group_members(&self, app: AppId, group: GroupId) -> StoreResult<Vec<Membership>> {
        let rows = sqlx::query(
            "SELECT user_id, group_id, source, created_at FROM memberships \
             WHERE app_id = $1 AND group_id = $2 ORDER BY user_id",
        )
        .bind(app.as_uuid())
        .bind(group.as_uuid())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(membership_from_row).collect()
    }
}
