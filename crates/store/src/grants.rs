//! Grants: a credential reference bound to a user, a group or the app (R-REV-01), and their
//! revocation, which always records its cause (R-REV-06).

use alter_core::{AppId, EventSource, GrantId, GroupId, Principal, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::common::{StoredRow, parse_source};
use crate::error::{StoreError, StoreResult};
use crate::outbox::{Effects, RequestKey, no_effects};

/// What to create. Eligibility of group grants (R-CFG-09) is checked by the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewGrant {
    pub credential_ref: String,
    pub principal: Principal,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who or what caused a revocation (R-REV-06): the source and the event ID, run ID or
/// admin identity behind it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevokedBy {
    pub source: EventSource,
    pub cause: String,
}

impl RevokedBy {
    pub fn new(source: EventSource, cause: impl Into<String>) -> Self {
        Self {
            source,
            cause: cause.into(),
        }
    }
}

/// A stored grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub id: GrantId,
    pub app_id: AppId,
    pub credential_ref: String,
    pub principal: Principal,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub revoked_by: Option<RevokedBy>,
    pub created_at: DateTime<Utc>,
}

/// Persistence of grants.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Creates a grant. `NotFound` when the principal user or group is not in the app.
    async fn create_grant(&self, app: AppId, grant: &NewGrant) -> StoreResult<Grant> {
        self.create_grant_with(app, grant, None, &no_effects).await
    }
    /// [`GrantStore::create_grant`] with its side effects in the same transaction; with a
    /// request key, a retried call returns the grant the first call created.
    async fn create_grant_with(
        &self,
        app: AppId,
        grant: &NewGrant,
        key: Option<&RequestKey>,
        effects: Effects<'_, Grant>,
    ) -> StoreResult<Grant>;
    async fn get_grant(&self, app: AppId, grant: GrantId) -> StoreResult<Option<Grant>>;
    /// Grants of the app (revoked ones included) in ID order, `limit` at a time.
    async fn list_grants(
        &self,
        app: AppId,
        after: Option<GrantId>,
        limit: u32,
    ) -> StoreResult<Vec<Grant>>;
    /// The user's active grants (R-JWT-09): bound to the user, to the app (system), and —
    /// when `include_group_grants` (R-CFG-09 allows it) — to non-deleted groups the user
    /// belongs to. Revoked and expired grants are never returned. Does not check the user's
    /// status (R-JWT-08 is the caller's). Ordered by ID.
    async fn list_active_grants_for_user(
        &self,
        app: AppId,
        user: UserId,
        include_group_grants: bool,
    ) -> StoreResult<Vec<Grant>>;
    /// Revokes one grant. Returns the revoked grant, or `None` when it was already revoked
    /// (the first cause is kept). `NotFound` when it is not in the app.
    async fn revoke_grant(
        &self,
        app: AppId,
        grant: GrantId,
        by: &RevokedBy,
    ) -> StoreResult<Option<Grant>> {
        self.revoke_grant_with(app, grant, by, &no_effects).await
    }
    /// [`GrantStore::revoke_grant`] with its side effects in the same transaction; they are
    /// computed (and written) only when this call revoked the grant.
    async fn revoke_grant_with(
        &self,
        app: AppId,
        grant: GrantId,
        by: &RevokedBy,
        effects: Effects<'_, Grant>,
    ) -> StoreResult<Option<Grant>>;
    /// Revokes every active grant bound to the user (R-REV-02); returns those it revoked.
    async fn revoke_all_for_user(
        &self,
        app: AppId,
        user: UserId,
        by: &RevokedBy,
    ) -> StoreResult<Vec<Grant>>;
    /// Revokes every active grant bound to the group (R-REV-05); returns those it revoked.
    async fn revoke_all_for_group(
        &self,
        app: AppId,
        group: GroupId,
        by: &RevokedBy,
    ) -> StoreResult<Vec<Grant>>;
}

/// The columns [`grant_from_row`] reads, in both schemas.
macro_rules! grant_columns {
    () => {
        "id, app_id, credential_ref, principal_kind, principal_user_id, principal_group_id, \
         expires_at, revoked_at, revoked_source, revoked_by, created_at"
    };
}
pub(crate) use grant_columns;

/// A grant from a row of [`grant_columns!`] (either adapter).
pub(crate) fn grant_from_row(row: &impl StoredRow) -> StoreResult<Grant> {
    let kind: String = row.get("principal_kind")?;
    let user: Option<Uuid> = row.get("principal_user_id")?;
    let group: Option<Uuid> = row.get("principal_group_id")?;
    let principal = match (kind.as_str(), user, group) {
        ("user", Some(user), None) => Principal::User(UserId::from_uuid(user)),
        ("group", None, Some(group)) => Principal::Group(GroupId::from_uuid(group)),
        ("system", None, None) => Principal::System,
        _ => {
            return Err(StoreError::corrupt(
                "grant principal",
                format!("kind {kind:?} with mismatched IDs"),
            ));
        }
    };
    let source: Option<String> = row.get("revoked_source")?;
    let cause: Option<String> = row.get("revoked_by")?;
    let revoked_by = match (source, cause) {
        (Some(source), Some(cause)) => Some(RevokedBy {
            source: parse_source("grants.revoked_source", &source)?,
            cause,
        }),
        _ => None,
    };
    Ok(Grant {
        id: GrantId::from_uuid(row.get("id")?),
        app_id: AppId::from_uuid(row.get("app_id")?),
        credential_ref: row.get("credential_ref")?,
        principal,
        expires_at: row.get("expires_at")?,
        revoked_at: row.get("revoked_at")?,
        revoked_by,
        created_at: row.get("created_at")?,
    })
}

/// The principal as stored: `principal_kind`, `principal_user_id`, `principal_group_id`.
pub(crate) fn principal_columns(
    principal: Principal,
) -> (&'static str, Option<Uuid>, Option<Uuid>) {
    match principal {
        Principal::User(user) => ("user", Some(user.as_uuid()), None),
        Principal::Group(group) => ("group", None, Some(group.as_uuid())),
        Principal::System => ("system", None, None),
    }
}

/// What a grant's foreign-key violation means: its principal (or its app) is not in the app.
pub(crate) fn missing_principal(app: AppId, principal: Principal) -> StoreError {
    StoreError::not_found(match principal {
        Principal::User(user) => format!("user {user} (the grant's principal)"),
        Principal::Group(group) => format!("group {group} (the grant's principal)"),
        Principal::System => format!("app {app}"),
    })
}

/// Whose grants a revoke-all call revokes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RevokeAll {
    /// Every grant bound to the user (R-REV-02).
    User(UserId),
    /// Every grant bound to the group (R-REV-05).
    Group(GroupId),
}
