//! Directory-sync runs (R-DIR-03..08): requested by an admin or the schedule, claimed by one
//! worker across replicas (one active run per IDP), kept alive by a heartbeat carrying the
//! counts so far, and ended succeeded, failed — or held awaiting approval with the list of
//! who would go, then approved (applied) or rejected.

use alter_core::{AppId, ExternalGroupId, ExternalUserId, IdpId, RunId};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::error::StoreResult;
use crate::outbox::OutboxMessage;

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunState {
    /// Requested, not yet claimed by a worker.
    Pending,
    Running,
    /// Held by the safety valve: it would deprovision too much (R-DIR-08).
    AwaitingApproval,
    Succeeded,
    Failed,
    /// Held, then rejected by an admin: nothing was removed.
    Rejected,
}

impl RunState {
    pub const fn as_str(self) -> &'static str {
        match self {
            RunState::Pending => "pending",
            RunState::Running => "running",
            RunState::AwaitingApproval => "awaiting_approval",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Rejected => "rejected",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "pending" => RunState::Pending,
            "running" => RunState::Running,
            "awaiting_approval" => RunState::AwaitingApproval,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "rejected" => RunState::Rejected,
            _ => return None,
        })
    }

    /// Still to be decided: a second trigger gets this run rather than a new one.
    pub const fn is_active(self) -> bool {
        matches!(
            self,
            RunState::Pending | RunState::Running | RunState::AwaitingApproval
        )
    }
}

/// Who asked for a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RunTrigger {
    Admin,
    Schedule,
}

impl RunTrigger {
    pub const fn as_str(self) -> &'static str {
        match self {
            RunTrigger::Admin => "admin",
            RunTrigger::Schedule => "schedule",
        }
    }
}

/// The counts R-DIR-05 asks for. In a dry run they say what a run would do.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Users created.
    pub users_imported: i64,
    /// Users whose email or display name changed.
    pub users_updated: i64,
    pub users_suspended: i64,
    pub users_deprovisioned: i64,
    /// Groups listed.
    pub groups: i64,
    /// Memberships added.
    pub memberships: i64,
    pub memberships_removed: i64,
    /// Requests sent to the provider.
    pub requests: i64,
}

/// How a running run ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    Succeeded,
    Failed {
        error: String,
    },
    /// Held by the safety valve, `reason` saying why; `removals` are kept for the decision.
    Held {
        reason: String,
    },
}

/// One removal a complete listing implies (R-DIR-04): a user deprovisioned, or one of their
/// memberships removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Removal {
    pub user: ExternalUserId,
    /// `None`: the user is deprovisioned.
    pub group: Option<ExternalGroupId>,
}

/// A stored run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirectoryRun {
    pub id: RunId,
    pub app_id: AppId,
    pub idp_id: IdpId,
    pub state: RunState,
    pub trigger: RunTrigger,
    pub dry_run: bool,
    pub requested_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub counts: RunCounts,
    pub last_error: Option<String>,
    pub held_reason: Option<String>,
    /// Who approved or rejected a held run.
    pub decided_by: Option<String>,
}

/// An IDP with a directory credential and no active run, with when its last run was
/// requested (the schedule's input).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncCandidate {
    pub app_id: AppId,
    pub idp_id: IdpId,
    pub last_requested_at: Option<DateTime<Utc>>,
}

/// Persistence of directory-sync runs.
#[async_trait]
pub trait DirectoryRunStore: Send + Sync {
    /// Requests a run: a new pending one, or — when the IDP already has an active run
    /// (pending, running or awaiting approval) — that one, with `false`. `NotFound` when
    /// the IDP is not in the app.
    async fn request_run(
        &self,
        app: AppId,
        idp: IdpId,
        trigger: RunTrigger,
        dry_run: bool,
    ) -> StoreResult<(DirectoryRun, bool)>;
    /// Claims the oldest pending run of any app for this worker (it becomes running, with a
    /// heartbeat). Running runs whose heartbeat is older than `stale_after` are first failed
    /// as abandoned (their worker stopped), so their IDP can be synced again.
    async fn claim_run(&self, stale_after: Duration) -> StoreResult<Option<DirectoryRun>>;
    /// Records the counts so far and renews the heartbeat. `Conflict` when the run is no
    /// longer running (abandoned and failed by another worker: stop).
    async fn heartbeat_run(&self, app: AppId, run: RunId, counts: &RunCounts) -> StoreResult<()>;
    /// Ends a running run with its final counts. Succeeded: `effects` (the removals'
    /// lifecycle events) are written to the outbox in the same transaction. Held: `removals`
    /// are recorded for the decision and nothing else happens. `Conflict` when it is no
    /// longer running.
    async fn finish_run(
        &self,
        app: AppId,
        run: RunId,
        outcome: &RunOutcome,
        counts: &RunCounts,
        removals: &[Removal],
        effects: &[OutboxMessage],
    ) -> StoreResult<DirectoryRun>;
    /// The removals recorded for a held run, in order, `limit` from `offset`.
    async fn run_removals(
        &self,
        app: AppId,
        run: RunId,
        offset: i64,
        limit: u32,
    ) -> StoreResult<Vec<Removal>>;
    /// Decides a held run: approved, it succeeds and `effects` (the removals' lifecycle
    /// events, built by the caller from [`DirectoryRunStore::run_removals`]) go to the
    /// outbox in the same transaction; rejected, it ends with nothing removed. `Conflict`
    /// when it is not awaiting approval.
    async fn decide_run(
        &self,
        app: AppId,
        run: RunId,
        approve: bool,
        decided_by: &str,
        effects: &[OutboxMessage],
    ) -> StoreResult<DirectoryRun>;
    async fn get_run(&self, app: AppId, run: RunId) -> StoreResult<Option<DirectoryRun>>;
    /// The latest runs of the app, newest first.
    async fn list_runs(&self, app: AppId, limit: u32) -> StoreResult<Vec<DirectoryRun>>;
    /// IDPs with a directory credential and no active run (up to `limit`), for the schedule.
    async fn sync_candidates(&self, limit: u32) -> StoreResult<Vec<SyncCandidate>>;
}
