//! The directory-sync worker: mirrors each identity provider's whole directory every six hours
//! (with per-IDP jitter) and on demand (R-DIR-03). Runs are requested through config-api (or
//! the schedule) as `pending` rows; every replica polls for them and claims one at a time with
//! `SKIP LOCKED`, so one run per IDP happens at a time across replicas. See `sync` for what a
//! run does.

mod config;
pub mod credential;
mod error;
pub mod sync;

pub use config::{Config, Settings};
pub use error::Error;
pub use sync::{Syncer, held_removal_time, removal_messages, run_cause};

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use alter_runtime::{CancellationToken, Deps, Service, ServiceHost};
use alter_store::{RunTrigger, Store, SyncCandidate};
use chrono::Utc;

/// The running service: listeners bound, dependencies connected.
pub struct Application {
    host: ServiceHost,
    syncer: Arc<Syncer>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("host", &self.host)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Connects its own PostgreSQL pool and NATS connection, then builds.
    pub async fn build(config: Config) -> Result<Self, Error> {
        let deps = Deps::connect(Self::NAME, &config.common).await?;
        Self::build_with(config, deps).await
    }

    /// Binds its listeners over the given adapters (shared with other services of the process).
    pub async fn build_with(config: Config, deps: Deps) -> Result<Self, Error> {
        let host = ServiceHost::bind(
            Self::NAME,
            "directory_sync",
            &config.directory_sync.listen(),
        )
        .await?;
        deps.register(&host);
        // Installs the process-wide recorder, so the run metrics are served on /metrics.
        let _ = alter_telemetry::prometheus();
        let http = reqwest::Client::builder()
            .user_agent(concat!("alter-identity/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Http(e.to_string()))?;
        let syncer = Arc::new(Syncer::new(
            deps.store,
            config.common.secrets.keyring(),
            http,
            config.directory_sync.clone(),
        ));
        Ok(Self { host, syncer })
    }

    pub async fn run_until_stopped(self) -> Result<(), Error> {
        let worker = tokio::spawn(work(self.syncer.clone(), self.host.shutdown_token()));
        self.host.serve_grpc(|routes| routes).await?;
        let _ = worker.await;
        Ok(())
    }
}

/// Claims and executes pending runs, and requests scheduled ones, until `shutdown`. A run
/// in progress when shutdown comes is recorded as failed (nobody is removed by a run that
/// did not finish), so the IDP can be imported again at once.
async fn work(syncer: Arc<Syncer>, shutdown: CancellationToken) {
    let settings = syncer.settings.clone();
    let stale_after =
        chrono::Duration::seconds(i64::try_from(settings.stale_after_secs).unwrap_or(120));
    loop {
        if let Some(interval) = settings.schedule() {
            schedule(syncer.store.as_ref(), interval, &settings).await;
        }
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match syncer.store.claim_run(stale_after).await {
                Ok(Some(run)) => {
                    let (app, id) = (run.app_id, run.id);
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            // Stopped mid-import: say so now rather than leave the IDP
                            // blocked until the heartbeat goes stale. Nobody was removed.
                            let outcome = alter_store::RunOutcome::Failed {
                                error: "directory-sync stopped during the import (shutdown); nobody was removed, the next import starts afresh".to_owned(),
                            };
                            let counts = syncer
                                .store
                                .get_run(app, id)
                                .await
                                .ok()
                                .flatten()
                                .map(|r| r.counts)
                                .unwrap_or_default();
                            if let Err(error) = syncer.store.finish_run(app, id, &outcome, &counts, &[], &[]).await {
                                tracing::warn!(%error, run = %id, "could not record the interrupted import");
                            }
                            return;
                        }
                        _ = syncer.execute(run) => {}
                    }
                }
                Ok(None) => break,
                Err(error) => {
                    tracing::warn!(%error, "cannot claim a directory run; retrying");
                    break;
                }
            }
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(settings.poll()) => {}
        }
    }
}

/// Requests a run for every IDP whose interval (plus its jitter) has passed (R-DIR-03).
async fn schedule(store: &dyn Store, interval: Duration, settings: &Settings) {
    let candidates = match store.sync_candidates(1_000).await {
        Ok(candidates) => candidates,
        Err(error) => {
            tracing::warn!(%error, "cannot read the IDPs due for a directory run");
            return;
        }
    };
    let now = Utc::now();
    for SyncCandidate {
        app_id,
        idp_id,
        last_requested_at,
    } in candidates
    {
        let due = match last_requested_at {
            None => true,
            Some(last) => {
                let wait = interval + jitter(idp_id, settings.schedule_jitter_minutes);
                let wait = chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX);
                now >= last + wait
            }
        };
        if due
            && let Err(error) = store
                .request_run(app_id, idp_id, RunTrigger::Schedule, false)
                .await
        {
            tracing::warn!(%error, app = %app_id, idp = %idp_id, "cannot request a scheduled directory run");
        }
    }
}

/// The same offset for an IDP every time, up to `max_minutes`.
fn jitter(idp: alter_core::IdpId, max_minutes: u64) -> Duration {
    if max_minutes == 0 {
        return Duration::ZERO;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    idp.hash(&mut hasher);
    Duration::from_secs(hasher.finish() % (max_minutes * 60))
}

alter_runtime::impl_service!(Application, Config, "directory-sync");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_dir_03_each_idp_gets_the_same_jitter_every_time_within_the_bound() {
        let idp = alter_core::IdpId::new();
        assert_eq!(jitter(idp, 30), jitter(idp, 30));
        assert_eq!(jitter(idp, 0), Duration::ZERO);
        let spread: std::collections::HashSet<Duration> = (0..50)
            .map(|_| jitter(alter_core::IdpId::new(), 30))
            .inspect(|j| assert!(*j < Duration::from_secs(30 * 60)))
            .collect();
        assert!(spread.len() > 40, "IDPs are spread over the window");
    }
}
