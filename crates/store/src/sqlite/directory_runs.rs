//! PENDING: not yet implemented on SQLite (placeholder so the adapter compiles while it is written).

#![allow(unused_imports, unused_variables)]

use super::SqliteStore;
use crate::directory_runs::*;
use crate::error::StoreError;
use crate::error::StoreResult;
use crate::outbox::OutboxMessage;
use alter_core::{AppId, ExternalGroupId, ExternalUserId, IdpId, RunId};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

#[async_trait]
impl DirectoryRunStore for SqliteStore {
    async fn request_run(
        &self,
        app: AppId,
        idp: IdpId,
        trigger: RunTrigger,
        dry_run: bool,
    ) -> StoreResult<(DirectoryRun, bool)> {
        Err(StoreError::conflict(
            "DirectoryRunStore::request_run is not implemented on SQLite yet",
        ))
    }
    async fn claim_run(&self, stale_after: Duration) -> StoreResult<Option<DirectoryRun>> {
        Err(StoreError::conflict(
            "DirectoryRunStore::claim_run is not implemented on SQLite yet",
        ))
    }
    async fn heartbeat_run(&self, app: AppId, run: RunId, counts: &RunCounts) -> StoreResult<()> {
        Err(StoreError::conflict(
            "DirectoryRunStore::heartbeat_run is not implemented on SQLite yet",
        ))
    }
    async fn finish_run(
        &self,
        app: AppId,
        run: RunId,
        outcome: &RunOutcome,
        counts: &RunCounts,
        removals: &[Removal],
        effects: &[OutboxMessage],
    ) -> StoreResult<DirectoryRun> {
        Err(StoreError::conflict(
            "DirectoryRunStore::finish_run is not implemented on SQLite yet",
        ))
    }
    async fn run_removals(
        &self,
        app: AppId,
        run: RunId,
        offset: i64,
        limit: u32,
    ) -> StoreResult<Vec<Removal>> {
        Err(StoreError::conflict(
            "DirectoryRunStore::run_removals is not implemented on SQLite yet",
        ))
    }
    async fn decide_run(
        &self,
        app: AppId,
        run: RunId,
        approve: bool,
        decided_by: &str,
        effects: &[OutboxMessage],
    ) -> StoreResult<DirectoryRun> {
        Err(StoreError::conflict(
            "DirectoryRunStore::decide_run is not implemented on SQLite yet",
        ))
    }
    async fn get_run(&self, app: AppId, run: RunId) -> StoreResult<Option<DirectoryRun>> {
        Err(StoreError::conflict(
            "DirectoryRunStore::get_run is not implemented on SQLite yet",
        ))
    }
    async fn list_runs(&self, app: AppId, limit: u32) -> StoreResult<Vec<DirectoryRun>> {
        Err(StoreError::conflict(
            "DirectoryRunStore::list_runs is not implemented on SQLite yet",
        ))
    }
    async fn sync_candidates(&self, limit: u32) -> StoreResult<Vec<SyncCandidate>> {
        Err(StoreError::conflict(
            "DirectoryRunStore::sync_candidates is not implemented on SQLite yet",
        ))
    }
}
