//! Users over SQLite. PostgreSQL's one `UNNEST` statement becomes one upsert per user inside
//! a single `BEGIN IMMEDIATE` transaction, each preceded by a read of the stored row: that
//! read is how an insert is told from an update (PostgreSQL uses `xmax = 0`) and what the
//! previous status was. The upsert keeps PostgreSQL's `WHERE`, so an unchanged user is not
//! written. Writers are serialised, so no row can appear between the read and the write.

use alter_core::{AppId, ExternalUserId, IdpId, UserId, UserStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Sqlite, SqliteConnection};

use super::{SqliteStore, now};
use crate::common::{dedupe_last_wins, page_limit};
use crate::error::{StoreError, StoreResult};
use crate::outbox::Effects;
use crate::users::{
    StatusChange, UpsertedUser, User, UserKey, UserStore, UserUpsert, user_write_error,
};

/// The columns [`user_from_row`] reads (the same as PostgreSQL's [`crate::user_columns!`]).
macro_rules! sqlite_user_columns {
    () => {
        $crate::user_columns!()
    };
}
// For the other SQLite modules that read users (directory sync's).
#[allow(unused_imports)]
pub(crate) use sqlite_user_columns;

/// A user from a row of [`sqlite_user_columns!`].
pub(crate) fn user_from_row(row: &SqliteRow) -> StoreResult<User> {
    crate::users::user_from_row(row)
}

/// The user read on `conn`; `None` when the app has no such user. Inside a write
/// transaction this is PostgreSQL's `FOR NO KEY UPDATE`: the transaction holds SQLite's write
/// lock, so nobody changes the row before the commit.
pub(crate) async fn lock_user_on(
    conn: &mut SqliteConnection,
    app: AppId,
    key: UserKey<'_>,
) -> StoreResult<Option<User>> {
    let query = match key {
        UserKey::Id(id) => sqlx::query(concat!(
            "SELECT ",
            sqlite_user_columns!(),
            " FROM users WHERE app_id = $1 AND id = $2"
        ))
        .bind(app.as_uuid())
        .bind(id.as_uuid()),
        UserKey::External(external_id) => sqlx::query(concat!(
            "SELECT ",
            sqlite_user_columns!(),
            " FROM users WHERE app_id = $1 AND external_id = $2"
        ))
        .bind(app.as_uuid())
        .bind(external_id.as_str()),
    };
    let row = query.fetch_optional(&mut *conn).await?;
    row.as_ref().map(user_from_row).transpose()
}

/// Stores a status and its version (the caller has checked the order); returns the user.
pub(crate) async fn set_status_on(
    conn: &mut SqliteConnection,
    app: AppId,
    user: UserId,
    status: UserStatus,
    state_version: i64,
) -> StoreResult<User> {
    let row = sqlx::query(concat!(
        "UPDATE users SET status = $3, state_version = $4, \
         updated_at = CASE WHEN status <> $3 THEN $5 ELSE updated_at END \
         WHERE app_id = $1 AND id = $2 RETURNING ",
        sqlite_user_columns!()
    ))
    .bind(app.as_uuid())
    .bind(user.as_uuid())
    .bind(status.as_str())
    .bind(state_version)
    .bind(now())
    .fetch_one(&mut *conn)
    .await?;
    user_from_row(&row)
}

/// `sql` (an insert of one user: `$1` a new ID, then app, IDP, external ID, email, display
/// name, status, version, and `$9` the time) with the user's values bound.
fn bind_user<'q>(
    sql: &'static str,
    app: AppId,
    idp: IdpId,
    user: &'q UserUpsert,
    at: DateTime<Utc>,
) -> Query<'q, Sqlite, SqliteArguments> {
    sqlx::query(sql)
        .bind(UserId::new().as_uuid())
        .bind(app.as_uuid())
        .bind(idp.as_uuid())
        .bind(user.external_id.as_str())
        .bind(user.email.as_deref())
        .bind(user.display_name.as_deref())
        .bind(user.status.as_str())
        .bind(user.state_version)
        .bind(at)
}

/// Creates the user unless the app already has one with that external ID (then `None`; the
/// caller reads it and applies the change to it instead).
pub(crate) async fn insert_user_on(
    conn: &mut SqliteConnection,
    app: AppId,
    idp: IdpId,
    user: &UserUpsert,
) -> StoreResult<Option<User>> {
    let row = bind_user(INSERT_USER, app, idp, user, now())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| user_write_error(app, idp, e))?;
    row.as_ref().map(user_from_row).transpose()
}

const INSERT_USER: &str = concat!(
    "INSERT INTO users (id, app_id, idp_id, external_id, email, display_name, status, state_version, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
     ON CONFLICT (app_id, external_id) DO NOTHING RETURNING ",
    sqlite_user_columns!()
);

/// Sets the email and display name that are given and differ; returns the user when that
/// changed something, `None` when nothing was written.
pub(crate) async fn update_profile_on(
    conn: &mut SqliteConnection,
    app: AppId,
    user: UserId,
    email: Option<&str>,
    display_name: Option<&str>,
) -> StoreResult<Option<User>> {
    let row = sqlx::query(concat!(
        "UPDATE users SET email = COALESCE($3, email), display_name = COALESCE($4, display_name), \
         updated_at = $5 \
         WHERE app_id = $1 AND id = $2 \
           AND (($3 IS NOT NULL AND $3 IS NOT email) \
             OR ($4 IS NOT NULL AND $4 IS NOT display_name)) RETURNING ",
        sqlite_user_columns!()
    ))
    .bind(app.as_uuid())
    .bind(user.as_uuid())
    .bind(email)
    .bind(display_name)
    .bind(now())
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(user_from_row).transpose()
}

/// One user's upsert: PostgreSQL's, row by row. Inserts a new user; updates a known one only
/// when something differs (status only when the version is newer), else writes nothing.
const UPSERT_USER: &str = concat!(
    "INSERT INTO users AS u (id, app_id, idp_id, external_id, email, display_name, status, \
     state_version, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
     ON CONFLICT (app_id, external_id) DO UPDATE SET \
         idp_id = excluded.idp_id, \
         email = COALESCE(excluded.email, u.email), \
         display_name = COALESCE(excluded.display_name, u.display_name), \
         status = CASE WHEN excluded.state_version > u.state_version THEN excluded.status ELSE u.status END, \
         state_version = max(excluded.state_version, u.state_version), \
         updated_at = excluded.updated_at \
     WHERE u.idp_id <> excluded.idp_id \
        OR (excluded.email IS NOT NULL AND excluded.email IS NOT u.email) \
        OR (excluded.display_name IS NOT NULL AND excluded.display_name IS NOT u.display_name) \
        OR (excluded.state_version > u.state_version AND excluded.status <> u.status) \
     RETURNING ",
    sqlite_user_columns!()
);

impl SqliteStore {
    /// The batched upsert on `conn`, which must be a write transaction (the caller's, so
    /// that its effects commit with it).
    pub(crate) async fn upsert_users_on(
        &self,
        conn: &mut SqliteConnection,
        app: AppId,
        idp: IdpId,
        users: &[UserUpsert],
    ) -> StoreResult<Vec<UpsertedUser>> {
        let users = dedupe_last_wins(users, |u| u.external_id.as_str());
        let updated_at = now();
        let mut out = Vec::with_capacity(users.len());
        for user in users {
            let stored = lock_user_on(conn, app, UserKey::External(&user.external_id)).await?;
            let written = bind_user(UPSERT_USER, app, idp, user, updated_at)
                .fetch_optional(&mut *conn)
                .await
                .map_err(|e| user_write_error(app, idp, e))?
                .as_ref()
                .map(user_from_row)
                .transpose()?;
            out.push(match (stored, written) {
                (None, Some(user)) => UpsertedUser {
                    user,
                    created: true,
                    changed: true,
                    previous_status: None,
                },
                (Some(old), Some(user)) => UpsertedUser {
                    user,
                    created: false,
                    changed: true,
                    previous_status: Some(old.status),
                },
                (Some(old), None) => UpsertedUser {
                    previous_status: Some(old.status),
                    user: old,
                    created: false,
                    changed: false,
                },
                // Read and written in one write transaction: a user that was not there was
                // inserted, so this cannot happen unless the database misbehaves.
                (None, None) => {
                    return Err(StoreError::conflict(format!(
                        "user {} was neither found nor created; retry",
                        user.external_id
                    )));
                }
            });
        }
        Ok(out)
    }
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn upsert_user_with(
        &self,
        app: AppId,
        idp: IdpId,
        user: &UserUpsert,
        effects: Effects<'_, UpsertedUser>,
    ) -> StoreResult<UpsertedUser> {
        let mut tx = self.write_tx().await?;
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
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let mut tx = self.write_tx().await?;
        let upserted = self.upsert_users_on(&mut tx, app, idp, users).await?;
        tx.commit().await?;
        Ok(upserted)
    }

    async fn set_user_status(
        &self,
        app: AppId,
        user: UserId,
        status: UserStatus,
        state_version: i64,
    ) -> StoreResult<StatusChange> {
        let mut tx = self.write_tx().await?;
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
        let mut conn = self.pool.acquire().await?;
        lock_user_on(&mut conn, app, UserKey::Id(user)).await
    }

    async fn get_user_by_external_id(
        &self,
        app: AppId,
        external_id: &ExternalUserId,
    ) -> StoreResult<Option<User>> {
        let mut conn = self.pool.acquire().await?;
        lock_user_on(&mut conn, app, UserKey::External(external_id)).await
    }

    async fn list_users(
        &self,
        app: AppId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            sqlite_user_columns!(),
            " FROM users WHERE app_id = $1 AND ($2 IS NULL OR id > $2) ORDER BY id LIMIT $3"
        ))
        .bind(app.as_uuid())
        .bind(after.map(|u| u.as_uuid()))
        .bind(page_limit(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(user_from_row).collect()
    }
}
