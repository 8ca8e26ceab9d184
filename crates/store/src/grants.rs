//! Grants: a credential reference bound to a user, a group or the app (R-REV-01), and their
//! revocation, which always records its cause (R-REV-06).

use alter_core::{AppId, EventSource, GrantId, GroupId, Principal, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreResult;
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
