//! Directory-sync runs (R-DIR-03..08): requested by an admin or the schedule, claimed by one
//! worker across replicas (one active run per IDP), kept alive by a heartbeat carrying the
//! counts so far, and ended succeeded, failed — or held awaiting approval with the list of
//! who would go, then approved (applied) or rejected.

use alter_core::{AppId, ExternalGroupId, ExternalUserId, IdpId, RunId};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use crate::common::{StoredRow, corrupt};
use crate::error::{StoreError, StoreResult};
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

impl RunOutcome {
    /// What the run's row records for this outcome: (state, last error, held reason).
    pub(crate) fn columns(&self) -> (RunState, Option<&str>, Option<&str>) {
        match self {
            RunOutcome::Succeeded => (RunState::Succeeded, None, None),
            RunOutcome::Failed { error } => (RunState::Failed, Some(error.as_str()), None),
            RunOutcome::Held { reason } => {
                (RunState::AwaitingApproval, None, Some(reason.as_str()))
            }
        }
    }
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

/// The columns [`run_from_row`] reads.
#[macro_export]
#[doc(hidden)]
macro_rules! directory_run_columns {
    () => {
        "id, app_id, idp_id, state, trigger, dry_run, requested_at, started_at, finished_at, \
         heartbeat_at, users_imported, users_updated, users_suspended, users_deprovisioned, \
         groups_imported, memberships_imported, memberships_removed, requests, last_error, \
         held_reason, decided_by"
    };
}

/// `$3..$10` as the counts, bound in this order by [`bind_counts`].
#[macro_export]
#[doc(hidden)]
macro_rules! directory_run_set_counts {
    () => {
        "users_imported = $3, users_updated = $4, users_suspended = $5, \
         users_deprovisioned = $6, groups_imported = $7, memberships_imported = $8, \
         memberships_removed = $9, requests = $10"
    };
}

/// Binds the counts as the next eight parameters
/// ([`directory_run_set_counts!`](crate::directory_run_set_counts)).
pub(crate) fn bind_counts<'q, DB>(
    query: sqlx::query::Query<'q, DB, DB::Arguments>,
    counts: &RunCounts,
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    DB: sqlx::Database,
    i64: for<'t> sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    query
        .bind(counts.users_imported)
        .bind(counts.users_updated)
        .bind(counts.users_suspended)
        .bind(counts.users_deprovisioned)
        .bind(counts.groups)
        .bind(counts.memberships)
        .bind(counts.memberships_removed)
        .bind(counts.requests)
}

/// A `directory_runs` row of either adapter
/// ([`directory_run_columns!`](crate::directory_run_columns)).
pub(crate) fn run_from_row(row: &impl StoredRow) -> StoreResult<DirectoryRun> {
    let state: String = row.get("state")?;
    let state = RunState::parse(&state).ok_or_else(|| {
        StoreError::corrupt("directory run state", format!("unknown state {state:?}"))
    })?;
    let trigger: String = row.get("trigger")?;
    let trigger = match trigger.as_str() {
        "schedule" => RunTrigger::Schedule,
        _ => RunTrigger::Admin,
    };
    Ok(DirectoryRun {
        id: RunId::from_uuid(row.get("id")?),
        app_id: AppId::from_uuid(row.get("app_id")?),
        idp_id: IdpId::from_uuid(row.get("idp_id")?),
        state,
        trigger,
        dry_run: row.get("dry_run")?,
        requested_at: row.get("requested_at")?,
        started_at: row.get("started_at")?,
        finished_at: row.get("finished_at")?,
        heartbeat_at: row.get("heartbeat_at")?,
        counts: RunCounts {
            users_imported: row.get("users_imported")?,
            users_updated: row.get("users_updated")?,
            users_suspended: row.get("users_suspended")?,
            users_deprovisioned: row.get("users_deprovisioned")?,
            groups: row.get("groups_imported")?,
            memberships: row.get("memberships_imported")?,
            memberships_removed: row.get("memberships_removed")?,
            requests: row.get("requests")?,
        },
        last_error: row.get("last_error")?,
        held_reason: row.get("held_reason")?,
        decided_by: row.get("decided_by")?,
    })
}

/// A held run's removal (columns `external_user_id`, `external_group_id`).
pub(crate) fn removal_from_row(row: &impl StoredRow) -> StoreResult<Removal> {
    let user: String = row.get("external_user_id")?;
    let group: Option<String> = row.get("external_group_id")?;
    Ok(Removal {
        user: ExternalUserId::parse("external_user_id", &user)
            .map_err(corrupt("held removal user"))?,
        group: group
            .map(|g| ExternalGroupId::parse("external_group_id", &g))
            .transpose()
            .map_err(corrupt("held removal group"))?,
    })
}

/// A schedule candidate (columns `app_id`, `idp_id`, `last_requested_at`).
pub(crate) fn candidate_from_row(row: &impl StoredRow) -> StoreResult<SyncCandidate> {
    Ok(SyncCandidate {
        app_id: AppId::from_uuid(row.get("app_id")?),
        idp_id: IdpId::from_uuid(row.get("idp_id")?),
        last_requested_at: row.get("last_requested_at")?,
    })
}

/// The `last_error` of a running run failed by [`DirectoryRunStore::claim_run`] because its
/// heartbeat is older than `stale_after`.
pub(crate) fn abandoned_error(stale_after: Duration) -> String {
    format!(
        "abandoned: no heartbeat for {} seconds (its worker stopped); the next run starts afresh",
        stale_after.num_seconds()
    )
}

/// Why a change to `run` that needs it `expected` (e.g. "running") was refused, from the run
/// as it is now: `NotFound` when the app has no such run, else `Conflict` naming its state.
/// The caller holds no transaction (this reads through the store).
pub(crate) async fn run_not_in<S: DirectoryRunStore + ?Sized>(
    store: &S,
    app: AppId,
    run: RunId,
    expected: &str,
) -> StoreError {
    match store.get_run(app, run).await {
        Ok(Some(found)) => StoreError::conflict(format!(
            "directory run {run} is {}, not {expected}",
            found.state.as_str()
        )),
        Ok(None) => StoreError::not_found(format!("directory run {run}")),
        Err(e) => e,
    }
}
