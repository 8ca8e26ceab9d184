//! Groups and memberships over SQLite. What PostgreSQL does in one statement with `UNNEST`,
//! `= ANY` or a data-modifying CTE is a short sequence of statements in one `BEGIN
//! IMMEDIATE` transaction here: read what is stored, then write what differs. The results,
//! their order and "write only on change" are PostgreSQL's.

use std::collections::BTreeSet;

use alter_core::{AppId, EventSource, ExternalGroupId, GroupId, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;
use uuid::Uuid;

use super::{SqliteStore, now};
use crate::audit_chain::to_stored_precision;
use crate::common::{dedupe_last_wins, not_found_if_fk, page_limit};
use crate::error::{StoreError, StoreResult};
use crate::groups::{
    Group, GroupDeletion, GroupStore, GroupUpsert, Membership, MembershipDiff, group_columns,
    group_from_row, membership_from_row,
};
use crate::outbox::Effects;

/// The group by external ID, read on `conn` (inside the caller's transaction).
pub(crate) async fn group_by_external_id_on(
    conn: &mut SqliteConnection,
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
/// that external ID (then `None`).
pub(crate) async fn insert_deleted_group_on(
    conn: &mut SqliteConnection,
    app: AppId,
    external_id: &ExternalGroupId,
) -> StoreResult<Option<Group>> {
    let row = sqlx::query(concat!(
        "INSERT INTO groups (id, app_id, external_id, deleted_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4, $4) ON CONFLICT (app_id, external_id) DO NOTHING RETURNING ",
        group_columns!()
    ))
    .bind(GroupId::new().as_uuid())
    .bind(app.as_uuid())
    .bind(external_id.as_str())
    .bind(now())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| not_found_if_fk(e, || format!("app {app}")))?;
    row.as_ref().map(group_from_row).transpose()
}

/// Marks the group deleted (keeping the first deletion time) and removes all its memberships;
/// `None` when the app has no such group. `conn` must be a write transaction: the members
/// are read before they are deleted (SQLite's `RETURNING` cannot join their external IDs).
pub(crate) async fn mark_group_deleted_on(
    conn: &mut SqliteConnection,
    app: AppId,
    group: GroupId,
) -> StoreResult<Option<GroupDeletion>> {
    let was_deleted: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT deleted_at FROM groups WHERE app_id = $1 AND id = $2")
            .bind(app.as_uuid())
            .bind(group.as_uuid())
            .fetch_optional(&mut *conn)
            .await?;
    let Some(was_deleted) = was_deleted else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE groups SET deleted_at = COALESCE(deleted_at, $3), updated_at = $3 \
         WHERE app_id = $1 AND id = $2",
    )
    .bind(app.as_uuid())
    .bind(group.as_uuid())
    .bind(now())
    .execute(&mut *conn)
    .await?;
    let removed: Vec<(Uuid, String)> = sqlx::query_as(
        "SELECT m.user_id, u.external_id FROM memberships m \
         JOIN users u ON u.app_id = m.app_id AND u.id = m.user_id \
         WHERE m.app_id = $1 AND m.group_id = $2 ORDER BY m.user_id",
    )
    .bind(app.as_uuid())
    .bind(group.as_uuid())
    .fetch_all(&mut *conn)
    .await?;
    sqlx::query("DELETE FROM memberships WHERE app_id = $1 AND group_id = $2")
        .bind(app.as_uuid())
        .bind(group.as_uuid())
        .execute(&mut *conn)
        .await?;
    GroupDeletion::from_stored(was_deleted.is_none(), removed).map(Some)
}

/// Removes one membership; `false` when there was none.
pub(crate) async fn remove_membership_on(
    conn: &mut SqliteConnection,
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
    conn: &mut SqliteConnection,
    app: AppId,
    user: UserId,
    group: GroupId,
    at: DateTime<Utc>,
) -> StoreResult<()> {
    // `max` of two stored times is the later one: text order is time order (see the schema).
    sqlx::query(
        "INSERT INTO membership_removals (app_id, user_id, group_id, removed_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (app_id, user_id, group_id) \
         DO UPDATE SET removed_at = max(membership_removals.removed_at, excluded.removed_at)",
    )
    .bind(app.as_uuid())
    .bind(user.as_uuid())
    .bind(group.as_uuid())
    .bind(to_stored_precision(at))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One group's upsert: inserts a new group; renames or undeletes a known one only when that
/// changes it, else writes nothing (and returns no row).
const UPSERT_GROUP: &str = concat!(
    "INSERT INTO groups AS g (id, app_id, external_id, name, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $5) \
     ON CONFLICT (app_id, external_id) DO UPDATE SET \
         name = COALESCE(excluded.name, g.name), deleted_at = NULL, updated_at = excluded.updated_at \
     WHERE g.deleted_at IS NOT NULL OR (excluded.name IS NOT NULL AND excluded.name IS NOT g.name) \
     RETURNING ",
    group_columns!()
);

#[async_trait]
impl GroupStore for SqliteStore {
    async fn upsert_groups(&self, app: AppId, groups: &[GroupUpsert]) -> StoreResult<Vec<Group>> {
        let distinct = dedupe_last_wins(groups, |g| g.external_id.as_str());
        if distinct.is_empty() {
            return Ok(Vec::new());
        }
        let updated_at = now();
        let mut tx = self.write_tx().await?;
        let mut out = Vec::with_capacity(distinct.len());
        for wanted in distinct {
            let written = sqlx::query(UPSERT_GROUP)
                .bind(GroupId::new().as_uuid())
                .bind(app.as_uuid())
                .bind(wanted.external_id.as_str())
                .bind(wanted.name.as_deref())
                .bind(updated_at)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| not_found_if_fk(e, || format!("app {app}")))?;
            let group = match written {
                Some(row) => group_from_row(&row)?,
                // Unchanged: as stored.
                None => group_by_external_id_on(&mut tx, app, &wanted.external_id)
                    .await?
                    .ok_or_else(|| {
                        StoreError::not_found(format!("group {}", wanted.external_id))
                    })?,
            };
            out.push(group);
        }
        tx.commit().await?;
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
            " FROM groups WHERE app_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(app.as_uuid())
        .bind(after.map(|g| g.as_uuid()))
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(group_from_row).collect()
    }

    async fn mark_group_deleted(&self, app: AppId, group: GroupId) -> StoreResult<Vec<UserId>> {
        let mut tx = self.write_tx().await?;
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
        let _turn = self.write_turn().await;
        let result = sqlx::query(
            "INSERT INTO memberships (app_id, user_id, group_id, source, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(app.as_uuid())
        .bind(user.as_uuid())
        .bind(group.as_uuid())
        .bind(source.as_str())
        .bind(now())
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
        let _turn = self.write_turn().await;
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
        let wanted: BTreeSet<Uuid> = groups.iter().map(|g| g.as_uuid()).collect();
        let issued_at = issued_at.map(to_stored_precision);
        // Serialises concurrent replacements (the write lock is taken at BEGIN).
        let mut tx = self.write_tx().await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE app_id = $1 AND id = $2)")
                .bind(app.as_uuid())
                .bind(user.as_uuid())
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            return Err(StoreError::not_found(format!("user {user}")));
        }
        let current: Vec<(Uuid, String)> = sqlx::query_as(
            "SELECT m.group_id, g.external_id FROM memberships m \
             JOIN groups g ON g.app_id = m.app_id AND g.id = m.group_id \
             WHERE m.app_id = $1 AND m.user_id = $2 ORDER BY m.group_id",
        )
        .bind(app.as_uuid())
        .bind(user.as_uuid())
        .fetch_all(&mut *tx)
        .await?;
        let (kept, removed): (Vec<_>, Vec<_>) = current
            .into_iter()
            .partition(|(group, _)| wanted.contains(group));
        for (group, _) in &removed {
            remove_membership_on(&mut tx, app, user, GroupId::from_uuid(*group)).await?;
        }
        let kept: BTreeSet<Uuid> = kept.into_iter().map(|(group, _)| group).collect();
        let created_at = now();
        let mut added = Vec::new();
        for group in wanted.difference(&kept) {
            // Not when the provider removed the user from the group after the list was true.
            let inserted = sqlx::query(
                "INSERT INTO memberships (app_id, user_id, group_id, source, created_at) \
                 SELECT $1, $2, $3, $4, $5 \
                 WHERE $6 IS NULL OR NOT EXISTS (SELECT 1 FROM membership_removals r \
                     WHERE r.app_id = $1 AND r.user_id = $2 AND r.group_id = $3 AND r.removed_at >= $6) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(app.as_uuid())
            .bind(user.as_uuid())
            .bind(group)
            .bind(source.as_str())
            .bind(created_at)
            .bind(issued_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| not_found_if_fk(e, || format!("one of the groups given for user {user}")))?;
            if inserted.rows_affected() == 1 {
                added.push(*group);
            }
        }
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
