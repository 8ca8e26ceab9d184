//! Directory-sync runs (R-DIR-05): one running per IDP, outcome and counts recorded.

use alter_core::{IdpKind, RunId};
use alter_store::{RunCounts, RunOutcome, RunState, StoreError};
use chrono::Duration;

use crate::support::TestStore;

#[tokio::test]
async fn r_dir_05_a_run_records_its_outcome_counts_and_error() {
    let t = TestStore::new().await;
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;

    let run = t
        .store
        .start_run(app, idp, Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((run.state, run.finished_at), (RunState::Running, None));
    let second = t
        .store
        .start_run(app, idp, Duration::hours(1))
        .await
        .unwrap_err();
    assert!(
        matches!(second, StoreError::Conflict { .. }),
        "one running run per IDP: {second:?}"
    );

    let progress = RunCounts {
        users_imported: 10,
        groups: 2,
        ..RunCounts::default()
    };
    t.store
        .update_run_counts(app, run.id, &progress)
        .await
        .unwrap();
    assert_eq!(
        t.store.get_run(app, run.id).await.unwrap().unwrap().counts,
        progress
    );

    let counts = RunCounts {
        users_imported: 10,
        users_updated: 3,
        users_suspended: 1,
        users_deprovisioned: 2,
        groups: 2,
        memberships: 15,
    };
    let done = t
        .store
        .finish_run(app, run.id, &RunOutcome::Succeeded, &counts)
        .await
        .unwrap();
    assert_eq!(
        (done.state, done.counts, done.last_error.clone()),
        (RunState::Succeeded, counts, None)
    );
    assert!(done.finished_at.is_some());
    let twice = t
        .store
        .finish_run(app, run.id, &RunOutcome::Succeeded, &counts)
        .await
        .unwrap_err();
    assert!(matches!(twice, StoreError::Conflict { .. }), "{twice:?}");
    assert!(matches!(
        t.store.update_run_counts(app, run.id, &counts).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        t.store.update_run_counts(app, RunId::new(), &counts).await,
        Err(StoreError::NotFound { .. })
    ));

    let failed = t
        .store
        .start_run(app, idp, Duration::hours(1))
        .await
        .unwrap();
    let outcome = RunOutcome::Failed {
        error: "okta returned 403: grant the app an admin role".into(),
    };
    let failed = t
        .store
        .finish_run(app, failed.id, &outcome, &RunCounts::default())
        .await
        .unwrap();
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("okta returned 403: grant the app an admin role")
    );

    let latest = t.store.list_runs(app, 10).await.unwrap();
    assert_eq!(
        latest.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![failed.id, run.id],
        "newest first"
    );
    t.finish().await;
}

#[tokio::test]
async fn a_run_abandoned_by_a_dead_worker_is_failed_when_the_next_one_starts() {
    let t = TestStore::new().await;
    let (app, idp) = t.app_with_idp(IdpKind::Okta).await;
    let abandoned = t
        .store
        .start_run(app, idp, Duration::hours(1))
        .await
        .unwrap();
    let next = t.store.start_run(app, idp, Duration::zero()).await.unwrap();
    assert_ne!(next.id, abandoned.id);
    let old = t.store.get_run(app, abandoned.id).await.unwrap().unwrap();
    assert_eq!(old.state, RunState::Failed);
    assert!(old.last_error.unwrap().contains("abandoned"));
    t.finish().await;
}
