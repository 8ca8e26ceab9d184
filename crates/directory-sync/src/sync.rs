//! One directory run, from the claimed run to its outcome (R-DIR-02..08).
//!
//! Pages flow from the provider's reader into batched writes, each page one transaction with
//! its side effects (audit records of users imported or updated, invalidations, and the
//! lifecycle events of listed users whose status changed: the revoker applies those, so
//! grants are hidden or revoked and every verifier hears at once). Only what changed is
//! written. What was listed is remembered as 64-bit hashes (flat in the directory's size to
//! within 16 bytes a user). Only once the listing is complete are the stored users and
//! memberships the listing lacks compared against it: those removals go out as lifecycle
//! events in the same transaction that records the run's success — unless the safety valve
//! holds the run for approval. A run that fails part-way removes nobody.
//!
//! Metrics: `alter_directory_runs_total{outcome}`, `alter_directory_run_seconds`,
//! `alter_directory_users_total{change}`, `alter_directory_requests_total`.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alter_bus::{AuditRecord, Invalidation};
use alter_core::{
    AppId, EventId, EventSource, ExternalGroupId, ExternalUserId, GroupId, IdpId, LifecycleEvent,
    LifecycleKind, RunId, UserRef, UserStatus,
};
use alter_providers::directory::{
    DirectoryCredential, DirectoryError, DirectoryPage, DirectoryReader, DirectoryUser,
    RequestBudget, default_requests_per_minute,
};
use alter_runtime::outbox::{audit_message, invalidation_message, lifecycle_message};
use alter_secrets::Keyring;
use alter_store::{
    DirectoryRun, GroupUpsert, OutboxMessage, Removal, RunCounts, RunOutcome, SecretPurpose, Store,
    StoreError, UpsertedUser, UserUpsert,
};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::config::Settings;
use crate::credential::open_credential;

/// Namespace of the lifecycle event IDs a run derives (one per run and change, so a retried
/// publish is deduplicated).
const RUN_EVENTS: Uuid = Uuid::from_u128(0x6a1e_5c3d_2b4f_4e8a_9d71_0c2e_8f3a_b5d1);
/// How often a running run records its counts (and renews its heartbeat).
const HEARTBEAT: Duration = Duration::from_millis(500);
/// Stored rows compared per read when looking for absentees.
const ABSENTEE_PAGE: u32 = 5_000;

/// What a run needs, shared by the worker's runs.
pub struct Syncer {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) keyring: Option<Keyring>,
    pub(crate) http: reqwest::Client,
    pub(crate) settings: Settings,
    budgets: std::sync::Mutex<HashMap<IdpId, Arc<RequestBudget>>>,
}

/// Why a run failed, for its `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0}")]
    Setup(String),
    #[error("the identity provider's directory could not be read: {0}")]
    Provider(#[from] DirectoryError),
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    #[error("the run was taken over: {0}")]
    Lost(String),
}

impl Syncer {
    pub fn new(
        store: Arc<dyn Store>,
        keyring: Option<Keyring>,
        http: reqwest::Client,
        settings: Settings,
    ) -> Self {
        Self {
            store,
            keyring,
            http,
            settings,
            budgets: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// One request budget per IDP for the life of the process (R-DIR-09).
    fn budget(&self, idp: IdpId, credential: &DirectoryCredential) -> Arc<RequestBudget> {
        let per_minute = match self.settings.requests_per_minute {
            0 => default_requests_per_minute(credential.kind()),
            n => n,
        };
        let mut budgets = self
            .budgets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        budgets
            .entry(idp)
            .or_insert_with(|| Arc::new(RequestBudget::per_minute(per_minute)))
            .clone()
    }

    /// Executes a claimed run to its outcome, which is recorded whatever happens.
    pub async fn execute(&self, run: DirectoryRun) -> DirectoryRun {
        let started = Instant::now();
        let mut state = RunProgress::new(&run);
        let result = self.execute_inner(&run, &mut state).await;
        let (outcome, removals, effects) = match result {
            Ok(Finish::Done(effects)) => (RunOutcome::Succeeded, Vec::new(), effects),
            Ok(Finish::Held { reason, removals }) => {
                (RunOutcome::Held { reason }, removals, Vec::new())
            }
            Err(error) => {
                tracing::warn!(run = %run.id, app = %run.app_id, %error, "directory run failed");
                (
                    RunOutcome::Failed {
                        error: error.to_string(),
                    },
                    Vec::new(),
                    Vec::new(),
                )
            }
        };
        let finished = self
            .store
            .finish_run(
                run.app_id,
                run.id,
                &outcome,
                &state.counts,
                &removals,
                &effects,
            )
            .await;
        let label = match &outcome {
            RunOutcome::Succeeded => "succeeded",
            RunOutcome::Failed { .. } => "failed",
            RunOutcome::Held { .. } => "held",
        };
        metrics::counter!("alter_directory_runs_total", "outcome" => label).increment(1);
        metrics::histogram!("alter_directory_run_seconds").record(started.elapsed().as_secs_f64());
        for (what, n) in [
            ("imported", state.counts.users_imported),
            ("updated", state.counts.users_updated),
            ("suspended", state.counts.users_suspended),
            ("deprovisioned", state.counts.users_deprovisioned),
        ] {
            metrics::counter!("alter_directory_users_total", "change" => what)
                .increment(u64::try_from(n).unwrap_or_default());
        }
        metrics::counter!("alter_directory_requests_total")
            .increment(u64::try_from(state.counts.requests).unwrap_or_default());
        tracing::info!(
            run = %run.id,
            app = %run.app_id,
            outcome = ?outcome,
            seconds = started.elapsed().as_secs_f64(),
            counts = ?state.counts,
            "directory run ended"
        );
        match finished {
            Ok(done) => done,
            Err(error) => {
                tracing::error!(run = %run.id, %error, "the directory run's outcome could not be recorded");
                DirectoryRun {
                    last_error: Some(error.to_string()),
                    ..run
                }
            }
        }
    }

    async fn execute_inner(
        &self,
        run: &DirectoryRun,
        progress: &mut RunProgress,
    ) -> Result<Finish, RunError> {
        let (app, idp_id) = (run.app_id, run.idp_id);
        let Some(keyring) = &self.keyring else {
            return Err(RunError::Setup(format!(
                "no master key is configured ({}), so the directory credential cannot be opened; give directory-sync the same master key as config-api",
                alter_secrets::MASTER_KEY_CONFIG_KEY
            )));
        };
        let Some(secret) = self
            .store
            .get_secret(app, idp_id, SecretPurpose::DirectoryCredential)
            .await?
        else {
            return Err(RunError::Setup(
                "no directory credential is set for this identity provider: set one with `alter directory credential set`".to_owned(),
            ));
        };
        let credential =
            open_credential(keyring, idp_id, &secret.sealed).map_err(RunError::Setup)?;
        let budget = self.budget(idp_id, &credential);
        let reader = DirectoryReader::open(self.http.clone(), &credential, budget).await?;
        // The next pages are read while this one is written: the import approaches the
        // slower of reading and writing, not their sum. A few pages ahead at most, so memory
        // stays flat.
        let (pages, mut incoming) = tokio::sync::mpsc::channel(READ_AHEAD);
        let reading = tokio::spawn(read_ahead(reader, pages));
        let mut last_beat = Instant::now();
        while let Some(item) = incoming.recv().await {
            let (page, requests) = item?;
            match page {
                DirectoryPage::Users(users) => self.users(run, progress, users).await?,
                DirectoryPage::Groups(groups) => self.groups(run, progress, groups).await?,
                DirectoryPage::Members { group, users } => {
                    self.members(run, progress, group, users).await?;
                }
            }
            progress.counts.requests = i64::try_from(requests).unwrap_or(i64::MAX);
            if last_beat.elapsed() >= HEARTBEAT {
                self.beat(run, progress).await?;
                last_beat = Instant::now();
            }
        }
        let mut reader = reading
            .await
            .map_err(|e| RunError::Setup(format!("the directory reader stopped: {e}")))?;
        progress.counts.requests = i64::try_from(reader.stats().requests).unwrap_or(i64::MAX);
        self.beat(run, progress).await?;
        // The listing is complete: what the store has and the listing lacks is gone upstream.
        let lists_groups = credential.kind() != alter_core::IdpKind::Auth0;
        let (mut removals, existing) = self.absentees(run, progress, lists_groups).await?;
        let share = self.settings.max_deprovision_share;
        let floor = self.settings.deprovision_floor;
        let held = |n: u64| n > floor && n as f64 > share * existing as f64;
        let mut deprovisions = removals.iter().filter(|r| r.group.is_none()).count() as u64;
        if !held(deprovisions) {
            // Offset-paged listings can skip a row when a user is deleted mid-listing: ask
            // the provider about each absentee before anyone is removed. (A held run is
            // reviewed by an admin instead; its list is what the listing lacked.)
            removals = confirmed(&mut reader, removals).await?;
            deprovisions = removals.iter().filter(|r| r.group.is_none()).count() as u64;
            progress.counts.requests = i64::try_from(reader.stats().requests).unwrap_or(i64::MAX);
        }
        progress.counts.users_deprovisioned += deprovisions as i64;
        progress.counts.memberships_removed += (removals.len() as u64 - deprovisions) as i64;
        if run.dry_run {
            return Ok(Finish::Done(Vec::new()));
        }
        if held(deprovisions) {
            let percent = if existing == 0 {
                100.0
            } else {
                100.0 * deprovisions as f64 / existing as f64
            };
            return Ok(Finish::Held {
                reason: format!(
                    "the run would deprovision {deprovisions} of {existing} users ({percent:.1} %), over the limit of {:.1} % and {} users: review who would go (`alter directory import show {}`), then `alter directory import approve` or `reject` it",
                    share * 100.0,
                    self.settings.deprovision_floor,
                    run.id
                ),
                removals,
            });
        }
        Ok(Finish::Done(removal_messages(
            app,
            run.id,
            removal_time(run),
            &removals,
        )))
    }

    async fn beat(&self, run: &DirectoryRun, progress: &RunProgress) -> Result<(), RunError> {
        match self
            .store
            .heartbeat_run(run.app_id, run.id, &progress.counts)
            .await
        {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict { reason }) => Err(RunError::Lost(reason)),
            Err(error) => Err(error.into()),
        }
    }

    async fn users(
        &self,
        run: &DirectoryRun,
        progress: &mut RunProgress,
        users: Vec<DirectoryUser>,
    ) -> Result<(), RunError> {
        let (app, idp) = (run.app_id, run.idp_id);
        for user in &users {
            progress
                .seen_users
                .insert(progress.hash_user(&user.external_id));
        }
        let listed: HashMap<&str, UserStatus> = users
            .iter()
            .map(|u| (u.external_id.as_str(), u.status))
            .collect();
        let upserts: Vec<UserUpsert> = users
            .iter()
            .map(|u| UserUpsert {
                external_id: u.external_id.clone(),
                email: u.email.clone(),
                display_name: u.display_name.clone(),
                // Applied only to users created here; a listed status that differs from a
                // stored user's travels as a lifecycle event (below) through the revoker.
                status: u.status,
                state_version: 0,
            })
            .collect();
        if run.dry_run {
            let ids: Vec<ExternalUserId> = users.iter().map(|u| u.external_id.clone()).collect();
            let stored: HashMap<String, alter_store::User> = self
                .store
                .users_by_external_ids(app, idp, &ids)
                .await?
                .into_iter()
                .map(|u| (u.external_id.as_str().to_owned(), u))
                .collect();
            for user in &users {
                match stored.get(user.external_id.as_str()) {
                    None => {
                        progress.counts.users_imported += 1;
                        progress.count_status(None, user.status);
                    }
                    Some(existing) => {
                        if existing.email != user.email
                            || existing.display_name != user.display_name
                        {
                            progress.counts.users_updated += 1;
                        }
                        progress.count_status(Some(existing.status), user.status);
                    }
                }
            }
            return Ok(());
        }
        let occurred_at = removal_time(run);
        let run_id = run.id;
        let effects = |results: &[UpsertedUser]| {
            let mut out = Vec::new();
            for result in results {
                let user = UserRef {
                    external_id: result.user.external_id.clone(),
                    user_id: Some(result.user.id),
                };
                let listed_status = listed.get(result.user.external_id.as_str()).copied();
                if result.created {
                    out.push(audit_message(&sync_record(
                        app,
                        run_id,
                        occurred_at,
                        "provisioned",
                        LifecycleKind::UserProvisioned {
                            user: user.clone(),
                            email: result.user.email.clone(),
                            display_name: result.user.display_name.clone(),
                        },
                    )));
                } else if result.changed {
                    out.push(audit_message(&sync_record(
                        app,
                        run_id,
                        occurred_at,
                        "updated",
                        LifecycleKind::UserUpdated {
                            user: user.clone(),
                            email: result.user.email.clone(),
                            display_name: result.user.display_name.clone(),
                        },
                    )));
                    out.push(invalidation_message(
                        app,
                        Invalidation::User {
                            user_id: result.user.id,
                        },
                    ));
                }
                if let Some(status) = listed_status
                    && !result.created
                    && status != result.user.status
                    && result.user.status != UserStatus::Deprovisioned
                {
                    let kind = match status {
                        UserStatus::Active => LifecycleKind::UserReactivated { user },
                        UserStatus::Suspended => LifecycleKind::UserSuspended { user },
                        UserStatus::Deprovisioned => LifecycleKind::UserDeprovisioned { user },
                    };
                    out.push(lifecycle_message(&run_event(
                        app,
                        run_id,
                        occurred_at,
                        kind,
                    )));
                }
            }
            out
        };
        let results = self
            .store
            .upsert_users_batch_with(app, idp, &upserts, &effects)
            .await?;
        for result in &results {
            if result.created {
                progress.counts.users_imported += 1;
                progress.count_status(None, result.user.status);
            } else {
                if result.changed {
                    progress.counts.users_updated += 1;
                }
                if let Some(status) = listed.get(result.user.external_id.as_str()) {
                    progress.count_status(Some(result.user.status), *status);
                }
            }
        }
        Ok(())
    }

    async fn groups(
        &self,
        run: &DirectoryRun,
        progress: &mut RunProgress,
        groups: Vec<alter_providers::directory::DirectoryGroup>,
    ) -> Result<(), RunError> {
        progress.counts.groups += groups.len() as i64;
        if run.dry_run {
            for group in groups {
                if let Some(found) = self
                    .store
                    .get_group_by_external_id(run.app_id, &group.external_id)
                    .await?
                {
                    progress.groups.insert(group.external_id, found.id);
                }
            }
            return Ok(());
        }
        let upserts: Vec<GroupUpsert> = groups
            .into_iter()
            .map(|g| GroupUpsert {
                external_id: g.external_id,
                name: g.name,
            })
            .collect();
        for stored in self.store.upsert_groups(run.app_id, &upserts).await? {
            progress.groups.insert(stored.external_id, stored.id);
        }
        Ok(())
    }

    async fn members(
        &self,
        run: &DirectoryRun,
        progress: &mut RunProgress,
        group: ExternalGroupId,
        users: Vec<ExternalUserId>,
    ) -> Result<(), RunError> {
        for user in &users {
            progress
                .seen_memberships
                .insert(progress.hash_membership(user, &group));
        }
        // A group created upstream between the reader's two passes: its members come next run.
        let Some(group_id) = progress.groups.get(&group).copied() else {
            return Ok(());
        };
        if users.is_empty() {
            return Ok(());
        }
        let (app, idp) = (run.app_id, run.idp_id);
        if run.dry_run {
            progress.counts.memberships += self
                .store
                .count_missing_members(app, idp, group_id, &users)
                .await?;
            return Ok(());
        }
        let added = self
            .store
            .add_group_members_with(app, idp, group_id, &users, &|_| {
                // New memberships can bring group grants: the app's resolved users go.
                vec![invalidation_message(app, Invalidation::AppGrants)]
            })
            .await?;
        progress.counts.memberships += added.len() as i64;
        Ok(())
    }

    /// The stored users and memberships of the IDP that the complete listing lacks, and how
    /// many users the IDP had (not deprovisioned) before the run.
    async fn absentees(
        &self,
        run: &DirectoryRun,
        progress: &RunProgress,
        lists_groups: bool,
    ) -> Result<(Vec<Removal>, u64), RunError> {
        let (app, idp) = (run.app_id, run.idp_id);
        let mut removals = Vec::new();
        let mut absent_users: HashSet<u64> = HashSet::new();
        let mut existing = 0u64;
        let mut after: Option<ExternalUserId> = None;
        loop {
            let page = self
                .store
                .page_idp_users(app, idp, after.as_ref(), ABSENTEE_PAGE)
                .await?;
            let Some((last, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            for (user, _) in page {
                let hash = progress.hash_user(&user);
                if !progress.seen_users.contains(&hash) {
                    absent_users.insert(hash);
                    removals.push(Removal { user, group: None });
                } else {
                    existing += 1;
                }
            }
        }
        existing += absent_users.len() as u64;
        // Only a directory that lists groups is the authority on memberships (Auth0's lists
        // none; its memberships come from tokens). One that lists none now had all its
        // groups deleted: their memberships go.
        if lists_groups {
            let mut after: Option<(alter_core::UserId, GroupId)> = None;
            loop {
                let page = self
                    .store
                    .page_idp_memberships(app, idp, after, ABSENTEE_PAGE)
                    .await?;
                let Some(last) = page.last() else {
                    break;
                };
                after = Some((last.user_id, last.group_id));
                for membership in page {
                    if absent_users.contains(&progress.hash_user(&membership.user)) {
                        continue; // deprovisioned anyway
                    }
                    let hash = progress.hash_membership(&membership.user, &membership.group);
                    if !progress.seen_memberships.contains(&hash) {
                        removals.push(Removal {
                            user: membership.user,
                            group: Some(membership.group),
                        });
                    }
                }
            }
        }
        Ok((removals, existing))
    }
}

/// Pages read ahead of the writes.
const READ_AHEAD: usize = 4;

type ReadItem = Result<(DirectoryPage, u64), DirectoryError>;

/// Reads the listing to its end (or its first error) into `pages`, then hands the reader
/// back (for the absentees' confirmation). Stops early when the writer stopped listening.
async fn read_ahead(
    mut reader: DirectoryReader,
    pages: tokio::sync::mpsc::Sender<ReadItem>,
) -> DirectoryReader {
    loop {
        let item = match reader.next_page().await {
            Ok(Some(page)) => Ok((page, reader.stats().requests)),
            Ok(None) => return reader,
            Err(error) => Err(error),
        };
        let failed = item.is_err();
        if pages.send(item).await.is_err() || failed {
            return reader;
        }
    }
}

/// The removals whose users the provider confirms gone; a user it still has keeps their
/// memberships too (the listing skipped them, R-DIR-04).
async fn confirmed(
    reader: &mut DirectoryReader,
    removals: Vec<Removal>,
) -> Result<Vec<Removal>, RunError> {
    let mut present: HashSet<ExternalUserId> = HashSet::new();
    let mut out = Vec::with_capacity(removals.len());
    for removal in removals {
        if removal.group.is_none() {
            let gone = reader.confirm_absent(&removal.user).await?;
            if !gone {
                tracing::warn!(user = %removal.user, "the listing skipped a user the provider still has; keeping them");
                present.insert(removal.user);
                continue;
            }
        } else if present.contains(&removal.user) {
            continue;
        }
        out.push(removal);
    }
    Ok(out)
}

enum Finish {
    /// Succeeded: the removals' lifecycle events, to be written with the outcome.
    Done(Vec<OutboxMessage>),
    Held {
        reason: String,
        removals: Vec<Removal>,
    },
}

/// What a run has seen so far.
struct RunProgress {
    counts: RunCounts,
    hasher: std::hash::RandomState,
    seen_users: HashSet<u64>,
    seen_memberships: HashSet<u64>,
    groups: HashMap<ExternalGroupId, GroupId>,
}

impl RunProgress {
    fn new(run: &DirectoryRun) -> Self {
        tracing::debug!(run = %run.id, "directory run starting");
        Self {
            counts: RunCounts::default(),
            hasher: std::hash::RandomState::new(),
            seen_users: HashSet::new(),
            seen_memberships: HashSet::new(),
            groups: HashMap::new(),
        }
    }

    fn hash_user(&self, user: &ExternalUserId) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(user.as_str().as_bytes());
        h.finish()
    }

    fn hash_membership(&self, user: &ExternalUserId, group: &ExternalGroupId) -> u64 {
        let mut h = self.hasher.build_hasher();
        h.write(user.as_str().as_bytes());
        h.write_u8(0xff);
        h.write(group.as_str().as_bytes());
        h.finish()
    }

    /// Counts a user's status as listed against what was stored (`None`: a new user).
    fn count_status(&mut self, stored: Option<UserStatus>, listed: UserStatus) {
        // Deprovisioned is terminal (core::transitions): nothing a listing says changes it.
        if stored == Some(listed) || stored == Some(UserStatus::Deprovisioned) {
            return;
        }
        match listed {
            UserStatus::Suspended => self.counts.users_suspended += 1,
            UserStatus::Deprovisioned => self.counts.users_deprovisioned += 1,
            UserStatus::Active => {}
        }
    }
}

/// When a run's changes happened, for the revoker's ordering: the moment the run began
/// reading (what it lists is the provider's state from then on).
fn removal_time(run: &DirectoryRun) -> DateTime<Utc> {
    run.started_at.unwrap_or(run.requested_at)
}

/// The `directory run <ID>` every change of the run carries (R-DIR-06, R-REV-06).
pub fn run_cause(run: RunId) -> String {
    format!("directory run {run}")
}

fn run_event(
    app: AppId,
    run: RunId,
    occurred_at: DateTime<Utc>,
    kind: LifecycleKind,
) -> LifecycleEvent {
    let name = format!("{run}:{}:{}", kind.subject_token(), subject_of(&kind));
    LifecycleEvent {
        event_id: EventId::from_uuid(Uuid::new_v5(&RUN_EVENTS, name.as_bytes())),
        provider_event_id: Some(run_cause(run)),
        app_id: app,
        source: EventSource::DirectorySync,
        occurred_at,
        kind,
    }
}

fn subject_of(kind: &LifecycleKind) -> String {
    match kind {
        LifecycleKind::UserProvisioned { user, .. }
        | LifecycleKind::UserUpdated { user, .. }
        | LifecycleKind::UserSuspended { user }
        | LifecycleKind::UserReactivated { user }
        | LifecycleKind::UserDeprovisioned { user } => user.external_id.as_str().to_owned(),
        LifecycleKind::MembershipAdded { user, group }
        | LifecycleKind::MembershipRemoved { user, group } => {
            format!("{}:{}", user.external_id.as_str(), group.as_str())
        }
        LifecycleKind::GroupDeleted { group } => group.as_str().to_owned(),
    }
}

fn sync_record(
    app: AppId,
    run: RunId,
    occurred_at: DateTime<Utc>,
    what: &str,
    kind: LifecycleKind,
) -> AuditRecord {
    let event = run_event(app, run, occurred_at, kind);
    tracing::trace!(%run, what, "directory change");
    AuditRecord::from_lifecycle(&event)
}

/// The lifecycle events of a run's removals (R-DIR-04), each with an ID derived from the run
/// and the removal: for the run's success, or its approval.
pub fn removal_messages(
    app: AppId,
    run: RunId,
    occurred_at: DateTime<Utc>,
    removals: &[Removal],
) -> Vec<OutboxMessage> {
    removals
        .iter()
        .map(|removal| {
            let user = UserRef {
                external_id: removal.user.clone(),
                user_id: None,
            };
            let kind = match &removal.group {
                None => LifecycleKind::UserDeprovisioned { user },
                Some(group) => LifecycleKind::MembershipRemoved {
                    user,
                    group: group.clone(),
                },
            };
            lifecycle_message(&run_event(app, run, occurred_at, kind))
        })
        .collect()
}

/// The time a held run's removals are applied with: when it began reading.
pub fn held_removal_time(run: &DirectoryRun) -> DateTime<Utc> {
    removal_time(run)
}
