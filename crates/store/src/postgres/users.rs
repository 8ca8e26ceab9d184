//! Users over PostgreSQL: batched upserts with UNNEST that write only changed rows, and
//! versioned status changes.

use std::collections::HashMap;

use alter_core::{AppId, ExternalUserId, IdpId, UserId, UserStatus};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use super::{PgStore, dedupe_last_wins, page_limit, parse_status};
use crate::error::{StoreError, StoreResult};
use crate::outbox::Effects;
use crate::user_columns;
use crate::users::{
    StatusChange, UpsertedUser, User, UserKey, UserStore, UserUpsert, user_write_error,
};

/// A user from a row of [`crate::user_columns!`].
pub(crate) fn user_from_row(row: &PgRow) -> StoreResult<User> {
    crate::users::user_from_row(row)
}

/// The user, locked for update until the end of the caller's transaction; `None` when the
/// app has no such user.
pub(crate) async fn lock_user_on(
    conn: &mut PgConnection,
    app: AppId,
    key: UserKey<'_>,
) -> StoreResult<Option<User>> {
    let query = match key {
        UserKey::Id(id) => sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE app_id = $1 AND id = $2 FOR NO KEY UPDATE"
        ))
        .bind(app.as_uuid())
        .bind(id.as_uuid()),
        UserKey::External(external_id) => sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE app_id = $1 AND external_id = $2 FOR NO KEY UPDATE"
        ))
        .bind(app.as_uuid())
        .bind(external_id.as_str()),
    };
    let row = query.fetch_optional(&mut *conn).await?;
    row.as_ref().map(user_from_row).transpose()
}

/// The user by external ID, read on `conn` (no lock).
async fn user_by_external_id_on(
    conn: &mut PgConnection,
    app: AppId,
    external_id: &ExternalUserId,
) -> StoreResult<Option<User>> {
    let row = sqlx::query(concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE app_id = $1 AND external_id = $2"
    ))
    .bind(app.as_uuid())
    .bind(external_id.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Stores a status and its version (the caller has checked the order); returns the user.
pub(crate) async fn set_status_on(
    conn: &mut PgConnection,
    app: AppId,
    user: UserId,
    status: UserStatus,
    state_version: i64,
) -> StoreResult<User> {
    let row = sqlx::query(concat!(
        "UPDATE users SET status = $3, state_version = $4, \
         updated_at = CASE WHEN status <> $3 THEN now() ELSE updated_at END \
         WHERE app_id = $1 AND id = $2 RETURNING ",
        user_columns!()
    ))
    .bind(app.as_uuid())
    .bind(user.as_uuid())
    .bind(status.as_str())
    .bind(state_version)
    .fetch_one(&mut *conn)
    .await?;
    user_from_row(&row)
}

/// Creates the user unless the app already has one with that external ID (then `None`: a
/// concurrent writer created it; lock it and apply the change to it instead).
pub(crate) async fn insert_user_on(
    conn: &mut PgConnection,
    app: AppId,
    idp: IdpId,
    user: &UserUpsert,
) -> StoreResult<Option<User>> {
    let row = sqlx::query(concat!(
        "INSERT INTO users (id, app_id, idp_id, external_id, email, display_name, status, state_version) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (app_id, external_id) DO NOTHING RETURNING ",
        user_columns!()
    ))
    .bind(UserId::new().as_uuid())
    .bind(app.as_uuid())
    .bind(idp.as_uuid())
    .bind(user.external_id.as_str())
    .bind(user.email.as_deref())
    .bind(user.display_name.as_deref())
    .bind(user.status.as_str())
    .bind(user.state_version)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| user_write_error(app, idp, e))?;
    row.as_ref().map(user_from_row).transpose()
}

/// Sets the email and display name that are given and differ; returns the user when that
/// changed something, `None` when nothing was written.
pub(crate) async fn update_profile_on(
    conn: &mut PgConnection,
    app: AppId,
    user: UserId,
    email: Option<&str>,
    display_name: Option<&str>,
) -> StoreResult<Option<User>> {
    let row = sqlx::query(concat!(
        "UPDATE users SET email = COALESCE($3, email), display_name = COALESCE($4, display_name), \
         updated_at = now() \
         WHERE app_id = $1 AND id = $2 \
           AND (($3::text IS NOT NULL AND $3 IS DISTINCT FROM email) \
             OR ($4::text IS NOT NULL AND $4 IS DISTINCT FROM display_name)) RETURNING ",
        user_columns!()
    ))
    .bind(app.as_uuid())
    .bind(user.as_uuid())
    .bind(email)
    .bind(display_name)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// One statement: insert new users, update changed ones (status only when the version is
/// newer), and read back unchanged ones, all in input order.
const UPSERT_USERS: &str = "
WITH input AS (
    SELECT * FROM UNNEST($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int8[])
        WITH ORDINALITY AS t(id, external_id, email, display_name, status, state_version, ord)
),
old AS (
    SELECT u.external_id, u.status FROM users u JOIN input i ON u.external_id = i.external_id
    WHERE u.app_id = $1
),
up AS (
    INSERT INTO users AS u (id, app_id, idp_id, external_id, email, display_name, status, state_version)
    SELECT id, $1, $2, external_id, email, display_name, status, state_version FROM input ORDER BY ord
    ON CONFLICT (app_id, external_id) DO UPDATE SET
        idp_id = EXCLUDED.idp_id,
        email = COALESCE(EXCLUDED.email, u.email),
        display_name = COALESCE(EXCLUDED.display_name, u.display_name),
        status = CASE WHEN EXCLUDED.state_version > u.state_version THEN EXCLUDED.status ELSE u.status END,
        state_version = GREATEST(EXCLUDED.state_version, u.state_version),
        updated_at = now()
    WHERE u.idp_id <> EXCLUDED.idp_id
       OR (EXCLUDED.email IS NOT NULL AND EXCLUDED.email IS DISTINCT FROM u.email)
       OR (EXCLUDED.display_name IS NOT NULL AND EXCLUDED.display_name IS DISTINCT FROM u.display_name)
       OR (EXCLUDED.state_version > u.state_version AND EXCLUDED.status <> u.status)
    RETURNING u.id, u.app_id, u.idp_id, u.external_id, u.email, u.display_name, u.status,
              u.state_version, u.created_at, u.updated_at, (u.xmax = 0) AS created
)
SELECT up.id, up.app_id, up.idp_id, up.external_id, up.email, up.display_name, up.status,
       up.state_version, up.created_at, up.updated_at, up.created, true AS changed,
       old.status AS previous_status, i.ord
FROM up JOIN input i ON i.external_id = up.external_id LEFT JOIN old ON old.external_id = up.external_id
UNION ALL
SELECT u.id, u.app_id, u.idp_id, u.external_id, u.email, u.display_name, u.status,
       u.state_version, u.created_at, u.updated_at, false, false, u.status, i.ord
FROM users u JOIN input i ON u.external_id = i.external_id
WHERE u.app_id = $1 AND NOT EXISTS (SELECT 1 FROM up WHERE up.external_id = i.external_id)
ORDER BY ord";

fn upserted_from_row(row: &PgRow) -> StoreResult<UpsertedUser> {
    let previous: Option<String> = row.try_get("previous_status")?;
    let created: bool = row.try_get("created")?;
    Ok(UpsertedUser {
        user: user_from_row(row)?,
        created,
        changed: row.try_get("changed")?,
        previous_status: if created {
            None
        } else {
            previous.as_deref().map(parse_status).transpose()?
        },
    })
}

impl PgStore {
    /// The batched upsert on `conn` (a pooled connection or the caller's transaction).
    pub(crate) async fn upsert_users_on(
        &self,
        conn: &mut PgConnection,
        app: AppId,
        idp: IdpId,
        users: &[UserUpsert],
    ) -> StoreResult<Vec<UpsertedUser>> {
        let users = dedupe_last_wins(users, |u| u.external_id.as_str());
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<Uuid> = users.iter().map(|_| UserId::new().as_uuid()).collect();
        let external_ids: Vec<&str> = users.iter().map(|u| u.external_id.as_str()).collect();
        let emails: Vec<Option<&str>> = users.iter().map(|u| u.email.as_deref()).collect();
        let names: Vec<Option<&str>> = users.iter().map(|u| u.display_name.as_deref()).collect();
        let statuses: Vec<&str> = users.iter().map(|u| u.status.as_str()).collect();
        let versions: Vec<i64> = users.iter().map(|u| u.state_version).collect();
        let rows = sqlx::query(UPSERT_USERS)
            .bind(app.as_uuid())
            .bind(idp.as_uuid())
            .bind(&ids)
            .bind(&external_ids)
            .bind(&emails)
            .bind(&names)
            .bind(&statuses)
            .bind(&versions)
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| user_write_error(app, idp, e))?;
        let mut out = rows
            .iter()
            .map(upserted_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        if out.len() < users.len() {
            // A concurrent writer inserted some of these users after our snapshot and they
            // needed no change: read them now, in input order.
            let mut by_external: HashMap<String, UpsertedUser> = out
                .drain(..)
                .map(|u| (u.user.external_id.as_str().to_owned(), u))
                .collect();
            for user in &users {
                if let Some(found) = by_external.remove(user.external_id.as_str()) {
                    out.push(found);
                } else {
                    // Read on `conn`, which this call holds: a second connection could
                    // wait for ever on a pool its concurrent callers have filled.
                    let stored = user_by_external_id_on(conn, app, &user.external_id)
                        .await?
                        .ok_or_else(|| {
                            StoreError::not_found(format!("user {}", user.external_id))
                        })?;
                    out.push(UpsertedUser {
                        previous_status: Some(stored.status),
                        user: stored,
                        created: false,
                        changed: false,
                    });
                }
            }
        }
        Ok(out)
    }
}

#[async_trait]
impl UserStore for PgStore {
    async fn upsert_user_with(
        &self,
        app: AppId,
        idp: IdpId,
        user: &UserUpsert,
        effects: Effects<'_, UpsertedUser>,
    ) -> StoreResult<UpsertedUser> {
        let mut tx = self.pool.begin().await?;
        let upserted = self
            .upsert_users_on(&mut tx, app, idp, std::slice::from_ref(user))
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found(format!("user {}", user.external_id)))?;
        self.commit_with(tx, effects(&upserted)).await?;
        Ok(upserted)
    }

    async fn upsert_users_batch(
        &self,
        app: AppId,
        idp: IdpId,
        users: &[UserUpsert],
    ) -> StoreResult<Vec<UpsertedUser>> {
        let mut conn = self.pool.acquire().await?;
        self.upsert_users_on(&mut conn, app, idp, users).await
    }

    async fn set_user_status(
        &self,
        app: AppId,
        user: UserId,
        status: UserStatus,
        state_version: i64,
    ) -> StoreResult<StatusChange> {
        let mut tx = self.pool.begin().await?;
        let current = lock_user_on(&mut tx, app, UserKey::Id(user))
            .await?
            .ok_or_else(|| StoreError::not_found(format!("user {user}")))?;
        if state_version <= current.state_version {
            tx.commit().await?;
            return Ok(StatusChange {
                previous_status: current.status,
                user: current,
                applied: false,
            });
        }
        let updated = set_status_on(&mut tx, app, user, status, state_version).await?;
        tx.commit().await?;
        Ok(StatusChange {
            applied: current.status != status,
            previous_status: current.status,
            user: updated,
        })
    }

    async fn get_user(&self, app: AppId, user: UserId) -> StoreResult<Option<User>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE app_id = $1 AND id = $2"
        ))
        .bind(app.as_uuid())
        .bind(user.as_uuid())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    async fn get_user_by_external_id(
        &self,
        app: AppId,
        external_id: &ExternalUserId,
    ) -> StoreResult<Option<User>> {
        let mut conn = self.pool.acquire().await?;
        user_by_external_id_on(&mut conn, app, external_id).await
    }

    async fn list_users(
        &self,
        app: AppId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE app_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(app.as_uuid())
        .bind(after.map(|u| u.as_uuid()))
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }
}
