//! Users: our canonical UUID plus the IDP's subject, never keyed by email. Status changes
//! are ordered by `state_version` so an older event never overrides a newer one.

use alter_core::{AppId, ExternalUserId, IdpId, UserId, UserStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::common::{StoredRow, corrupt, not_found_if_fk, parse_status};
use crate::error::{StoreError, StoreResult};
use crate::outbox::{Effects, no_effects};

/// A stored user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub app_id: AppId,
    pub idp_id: IdpId,
    pub external_id: ExternalUserId,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub status: UserStatus,
    /// Ordering key of the last status change (e.g. the event's time in microseconds).
    pub state_version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user as a provider sees it, to be created or brought up to date.
///
/// `email` / `display_name` of `None` mean "unknown here" and keep what is stored.
/// `status` is applied on creation, and on an existing user only when `state_version` is
/// greater than the stored one and the status differs (then the version is stored too).
/// Just-in-time provisioning passes `Active` with version 0, which never overrides anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserUpsert {
    pub external_id: ExternalUserId,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub status: UserStatus,
    pub state_version: i64,
}

impl UserUpsert {
    /// A just-in-time provisioned user (R-JWT-06): active, version 0.
    pub fn jit(
        external_id: ExternalUserId,
        email: Option<String>,
        display_name: Option<String>,
    ) -> Self {
        Self {
            external_id,
            email,
            display_name,
            status: UserStatus::Active,
            state_version: 0,
        }
    }
}

/// What an upsert did to one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpsertedUser {
    /// The user as stored after the call.
    pub user: User,
    /// The user did not exist and was created.
    pub created: bool,
    /// The row was written (created, or some field changed). `false` means nothing changed
    /// and nothing was written.
    pub changed: bool,
    /// The status before the call (`None` when created); compare with `user.status` to see
    /// whether the status changed (R-DIR-05 counts).
    pub previous_status: Option<UserStatus>,
}

/// The result of a versioned status change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusChange {
    /// The user as stored after the call.
    pub user: User,
    pub previous_status: UserStatus,
    /// `true` when the status changed; `false` when it already had it or the change was
    /// older than the stored state (ignored).
    pub applied: bool,
}

/// Persistence of users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Creates or updates one user by external ID, writing only when something changed.
    /// `NotFound` when the IDP is not this app's.
    async fn upsert_user(
        &self,
        app: AppId,
        idp: IdpId,
        user: &UserUpsert,
    ) -> StoreResult<UpsertedUser> {
        self.upsert_user_with(app, idp, user, &no_effects).await
    }
    /// [`UserStore::upsert_user`] with its side effects (e.g. the just-in-time provisioning
    /// audit record) in the same transaction.
    async fn upsert_user_with(
        &self,
        app: AppId,
        idp: IdpId,
        user: &UserUpsert,
        effects: Effects<'_, UpsertedUser>,
    ) -> StoreResult<UpsertedUser>;
    /// The batched form for directory sync: one statement (UNNEST) per call. When the same
    /// external ID appears twice the last entry wins; results come in first-seen order of
    /// the distinct external IDs.
    async fn upsert_users_batch(
        &self,
        app: AppId,
        idp: IdpId,
        users: &[UserUpsert],
    ) -> StoreResult<Vec<UpsertedUser>>;
    /// Sets the status if `state_version` is greater than the stored one ("older never
    /// overrides newer"); the version is stored when it is newer even if the status is
    /// unchanged. `NotFound` when the user is not in the app.
    async fn set_user_status(
        &self,
        app: AppId,
        user: UserId,
        status: UserStatus,
        state_version: i64,
    ) -> StoreResult<StatusChange>;
    async fn get_user(&self, app: AppId, user: UserId) -> StoreResult<Option<User>>;
    async fn get_user_by_external_id(
        &self,
        app: AppId,
        external_id: &ExternalUserId,
    ) -> StoreResult<Option<User>>;
    /// Users in ID order, `limit` at a time, starting after `after`.
    async fn list_users(
        &self,
        app: AppId,
        after: Option<UserId>,
        limit: u32,
    ) -> StoreResult<Vec<User>>;
}

/// The columns [`user_from_row`] reads, in both schemas.
#[macro_export]
#[doc(hidden)]
macro_rules! user_columns {
    () => {
        "id, app_id, idp_id, external_id, email, display_name, status, state_version, created_at, updated_at"
    };
}

/// A user from a row of [`user_columns!`] (either adapter).
pub(crate) fn user_from_row(row: &impl StoredRow) -> StoreResult<User> {
    let external_id: String = row.get("external_id")?;
    let status: String = row.get("status")?;
    Ok(User {
        id: UserId::from_uuid(row.get("id")?),
        app_id: AppId::from_uuid(row.get("app_id")?),
        idp_id: IdpId::from_uuid(row.get("idp_id")?),
        external_id: ExternalUserId::parse("users.external_id", &external_id)
            .map_err(corrupt("user external ID"))?,
        email: row.get("email")?,
        display_name: row.get("display_name")?,
        status: parse_status(&status)?,
        state_version: row.get("state_version")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// How a user is looked up for a change.
#[derive(Clone, Copy, Debug)]
pub(crate) enum UserKey<'a> {
    Id(UserId),
    External(&'a ExternalUserId),
}

/// What a refused write of a user means: the identity provider is not this app's.
pub(crate) fn user_write_error(app: AppId, idp: IdpId, err: sqlx::Error) -> StoreError {
    not_found_if_fk(err, || format!("identity provider {idp} of app {app}"))
}
