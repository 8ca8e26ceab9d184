//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::audit::*;
use crate::audit_chain::HashVersion;
use crate::error::StoreError;
use crate::error::StoreResult;
use alter_core::{AppId, EventId, EventSource, UserId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_audit_events(
        &self,
        app: AppId,
        events: &[NewAuditEvent],
    ) -> StoreResult<AppendOutcome> {
        Err(StoreError::conflict(
            "AuditStore::append_audit_events is not implemented on SQLite yet",
        ))
    }
    async fn list_audit_events(
        &self,
        app: AppId,
        query: &AuditQuery,
    ) -> StoreResult<Vec<AuditEvent>> {
        Err(StoreError::conflict(
            "AuditStore::list_audit_events is not implemented on SQLite yet",
        ))
    }
    async fn verify_audit_chain(&self, app: AppId) -> StoreResult<ChainVerification> {
        Err(StoreError::conflict(
            "AuditStore::verify_audit_chain is not implemented on SQLite yet",
        ))
    }
    async fn audit_kinds_for_events(
        &self,
        app: AppId,
        events: &[EventId],
    ) -> StoreResult<Vec<(EventId, String)>> {
        Err(StoreError::conflict(
            "AuditStore::audit_kinds_for_events is not implemented on SQLite yet",
        ))
    }
}
