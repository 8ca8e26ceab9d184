//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::grants::{Grant, RevokedBy};
use crate::lifecycle::*;
use crate::outbox::Effects;
use alter_core::{ExternalGroupId, ExternalUserId, GroupId, LifecycleEvent, UserId, UserStatus};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl LifecycleStore for SqliteStore {
    async fn apply_lifecycle(
        &self,
        event: &LifecycleEvent,
        consumer: &str,
        effects: Effects<'_, LifecycleChange>,
    ) -> StoreResult<Applied> {
        Err(StoreError::conflict(
            "LifecycleStore::apply_lifecycle is not implemented on SQLite yet",
        ))
    }
}
