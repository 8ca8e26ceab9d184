//! Directory-sync runs (R-DIR-05): one running run per IDP across replicas, with its counts
//! and last error readable afterwards.

use alter_core::{AppId, IdpId, RunId};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::error::StoreResult;

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunState {
    Running,
    Succeeded,
    Failed,
}

impl RunState {
    pub const fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
        }
    }
}

/// The counts R-DIR-05 asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    pub users_imported: i64,
    pub users_updated: i64,
    pub users_suspended: i64,
    pub users_deprovisioned: i64,
    pub groups: i64,
    pub memberships: i64,
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded,
    Failed { error: String },
}

/// A stored run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryRun {
    pub id: RunId,
    pub app_id: AppId,
    pub idp_id: IdpId,
    pub state: RunState,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub counts: RunCounts,
    pub last_error: Option<String>,
}

/// Persistence of directory-sync runs.
#[async_trait]
pub trait DirectoryRunStore: Send + Sync {
    /// Starts a run. A run of the same IDP still `running` and started more than `stale_after`
    /// ago is first marked failed (its worker died); a younger one makes this `Conflict`.
    async fn start_run(
        &self,
        app: AppId,
        idp: IdpId,
        stale_after: Duration,
    ) -> StoreResult<DirectoryRun>;
    /// Records progress counts of a running run. `Conflict` when it is no longer running.
    async fn update_run_counts(
        &self,
        app: AppId,
        run: RunId,
        counts: &RunCounts,
    ) -> StoreResult<()>;
    /// Ends a running run with its final counts. `Conflict` when it already ended.
    async fn finish_run(
        &self,
        app: AppId,
        run: RunId,
        outcome: &RunOutcome,
        counts: &RunCounts,
    ) -> StoreResult<DirectoryRun>;
    async fn get_run(&self, app: AppId, run: RunId) -> StoreResult<Option<DirectoryRun>>;
    /// The latest runs of the app, newest first.
    async fn list_runs(&self, app: AppId, limit: u32) -> StoreResult<Vec<DirectoryRun>>;
}
