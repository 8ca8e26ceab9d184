//! Directory-sync runs (R-DIR-03..08): one active run per IDP (a second trigger gets it),
//! claimed by one worker, kept alive by a heartbeat, ended with its outcome and counts —
//! or held with the list of who would go, then approved (its effects written in the same
//! transaction) or rejected.

use alter_core::{ExternalGroupId, ExternalUserId, IdpKind, RunId};
use alter_store::{
    OutboxMessage, OutboxTopic, Removal, RunCounts, RunOutcome, RunState, RunTrigger, SealedSecret,
    StoreError,
};
use chrono::Duration;
use uuid::Uuid;

use crate::support::{TestStore, contract_tests};

fn lifecycle(app: alter_core::AppId) -> OutboxMessage {
    OutboxMessage {
        id: Uuid::now_v7(),
        app_id: app,
        topic: OutboxTopic::Lifecycle,
        payload: vec![1, 2, 3],
    }
}

async fn outbox_rows(t: &TestStore, id: Uuid) -> i64 {
    t.count("SELECT count(*) FROM outbox WHERE id = $1", Some(id))
        .await
}

async fn r_dir_03_r_dir_05_a_run_is_requested_once_claimed_once_and_records_its_outcome(
    t: TestStore,
) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let (run, created) = t
        .store
        .request_run(app, idp, RunTrigger::Admin, false)
        .await
        .unwrap();
    assert!(created);
    assert_eq!((run.state, run.started_at), (RunState::Pending, None));
    let (again, created) = t
        .store
        .request_run(app, idp, RunTrigger::Schedule, true)
        .await
        .unwrap();
    assert_eq!(
        (again.id, created),
        (run.id, false),
        "a second trigger gets the active run"
    );

    let claimed = t
        .store
        .claim_run(Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((claimed.id, claimed.state), (run.id, RunState::Running));
    assert!(claimed.started_at.is_some() && claimed.heartbeat_at.is_some());
    assert_eq!(
        t.store.claim_run(Duration::minutes(5)).await.unwrap(),
        None,
        "claimed once"
    );

    let progress = RunCounts {
        users_imported: 10,
        groups: 2,
        requests: 4,
        ..RunCounts::default()
    };
    t.store.heartbeat_run(app, run.id, &progress).await.unwrap();
    assert_eq!(
        t.store.get_run(app, run.id).await.unwrap().unwrap().counts,
        progress
    );

    let counts = RunCounts {
        users_deprovisioned: 2,
        memberships: 15,
        memberships_removed: 1,
        ..progress
    };
    let effect = lifecycle(app);
    let done = t
        .store
        .finish_run(
            app,
            run.id,
            &RunOutcome::Succeeded,
            &counts,
            &[],
            std::slice::from_ref(&effect),
        )
        .await
        .unwrap();
    assert_eq!(
        (done.state, done.counts, done.last_error.clone()),
        (RunState::Succeeded, counts, None)
    );
    assert!(done.finished_at.is_some());
    assert_eq!(
        outbox_rows(&t, effect.id).await,
        1,
        "the removals' events, with the outcome"
    );
    let twice = t
        .store
        .finish_run(app, run.id, &RunOutcome::Succeeded, &counts, &[], &[])
        .await
        .unwrap_err();
    assert!(matches!(twice, StoreError::Conflict { .. }), "{twice:?}");
    assert!(matches!(
        t.store.heartbeat_run(app, run.id, &counts).await,
        Err(StoreError::Conflict { .. })
    ));
    assert!(matches!(
        t.store.heartbeat_run(app, RunId::new(), &counts).await,
        Err(StoreError::NotFound { .. })
    ));

    // A failed run records its error and writes no effect.
    let (failing, _) = t
        .store
        .request_run(app, idp, RunTrigger::Admin, false)
        .await
        .unwrap();
    t.store
        .claim_run(Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    let outcome = RunOutcome::Failed {
        error: "okta returned 403: grant the app an admin role".into(),
    };
    let ignored = lifecycle(app);
    let failed = t
        .store
        .finish_run(
            app,
            failing.id,
            &outcome,
            &RunCounts::default(),
            &[],
            std::slice::from_ref(&ignored),
        )
        .await
        .unwrap();
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(
        failed.last_error.as_deref(),
        Some("okta returned 403: grant the app an admin role")
    );
    assert_eq!(outbox_rows(&t, ignored.id).await, 0);
    let latest = t.store.list_runs(app, 10).await.unwrap();
    assert_eq!(
        latest.iter().map(|r| r.id).collect::<Vec<_>>(),
        vec![failed.id, run.id],
        "newest first"
    );
    let (other, _) = t.seed_app_with_idp(IdpKind::Okta).await;
    let elsewhere = t
        .store
        .request_run(other, idp, RunTrigger::Admin, false)
        .await
        .unwrap_err();
    assert!(
        matches!(elsewhere, StoreError::NotFound { .. }),
        "not another app's IDP: {elsewhere:?}"
    );
    t.finish().await;
}

async fn r_dir_08_a_held_run_keeps_who_would_go_and_only_approval_applies_it(t: TestStore) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let removals: Vec<Removal> = (0..3)
        .map(|i| Removal {
            user: ExternalUserId::parse("u", &format!("00u{i}")).unwrap(),
            group: (i == 2).then(|| ExternalGroupId::parse("g", "00g_eng").unwrap()),
        })
        .collect();
    for approve in [true, false] {
        let (run, _) = t
            .store
            .request_run(app, idp, RunTrigger::Schedule, false)
            .await
            .unwrap();
        t.store
            .claim_run(Duration::minutes(5))
            .await
            .unwrap()
            .unwrap();
        let held = t
            .store
            .finish_run(
                app,
                run.id,
                &RunOutcome::Held {
                    reason: "would deprovision 2 of 3 users (66 %)".into(),
                },
                &RunCounts::default(),
                &removals,
                &[lifecycle(app)],
            )
            .await
            .unwrap();
        assert_eq!(
            (held.state, held.finished_at),
            (RunState::AwaitingApproval, None)
        );
        assert_eq!(
            held.held_reason.as_deref(),
            Some("would deprovision 2 of 3 users (66 %)")
        );
        let (blocked, created) = t
            .store
            .request_run(app, idp, RunTrigger::Schedule, false)
            .await
            .unwrap();
        assert_eq!(
            (blocked.id, created),
            (run.id, false),
            "no new run while one is held"
        );
        assert_eq!(
            t.store.run_removals(app, run.id, 0, 100).await.unwrap(),
            removals
        );
        assert_eq!(
            t.store.run_removals(app, run.id, 2, 100).await.unwrap(),
            removals[2..]
        );
        let effect = lifecycle(app);
        let decided = t
            .store
            .decide_run(
                app,
                run.id,
                approve,
                "admin-token:sha256:abc",
                std::slice::from_ref(&effect),
            )
            .await
            .unwrap();
        let (state, rows) = if approve {
            (RunState::Succeeded, 1)
        } else {
            (RunState::Rejected, 0)
        };
        assert_eq!(decided.state, state);
        assert_eq!(
            decided.decided_by.as_deref(),
            Some("admin-token:sha256:abc")
        );
        assert_eq!(outbox_rows(&t, effect.id).await, rows);
        assert!(matches!(
            t.store.decide_run(app, run.id, approve, "x", &[]).await,
            Err(StoreError::Conflict { .. })
        ));
    }
    t.finish().await;
}

async fn r_dir_03_a_run_without_heartbeat_is_failed_as_abandoned_and_the_schedule_sees_credentials(
    t: TestStore,
) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    assert!(
        t.store.sync_candidates(10).await.unwrap().is_empty(),
        "no credential yet"
    );
    let sealed = SealedSecret {
        ciphertext: vec![1],
        nonce: vec![2; 12],
        key_id: "k".into(),
    };
    t.seed_directory_credential(app, idp, &sealed).await;
    let candidates = t.store.sync_candidates(10).await.unwrap();
    assert_eq!(candidates.len(), 1);
    assert_eq!(
        (candidates[0].idp_id, candidates[0].last_requested_at),
        (idp, None)
    );

    let (abandoned, _) = t
        .store
        .request_run(app, idp, RunTrigger::Schedule, false)
        .await
        .unwrap();
    t.store
        .claim_run(Duration::minutes(5))
        .await
        .unwrap()
        .unwrap();
    assert!(
        t.store.sync_candidates(10).await.unwrap().is_empty(),
        "one is active"
    );
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert_eq!(
        t.store.claim_run(Duration::milliseconds(10)).await.unwrap(),
        None
    );
    let old = t.store.get_run(app, abandoned.id).await.unwrap().unwrap();
    assert_eq!(old.state, RunState::Failed);
    assert!(old.last_error.unwrap().contains("abandoned"));
    let candidates = t.store.sync_candidates(10).await.unwrap();
    assert_eq!(
        candidates[0].last_requested_at,
        Some(abandoned.requested_at)
    );
    t.finish().await;
}

async fn r_dir_03_workers_claiming_at_once_never_take_the_same_run(t: TestStore) {
    let mut requested = Vec::new();
    for _ in 0..2 {
        let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
        let (run, _) = t
            .store
            .request_run(app, idp, RunTrigger::Schedule, false)
            .await
            .unwrap();
        requested.push(run.id);
    }
    let stale = Duration::minutes(5);
    let (a, b, c) = tokio::join!(
        t.store.claim_run(stale),
        t.store.claim_run(stale),
        t.store.claim_run(stale)
    );
    let mut claimed: Vec<RunId> = [a, b, c]
        .into_iter()
        .filter_map(|claim| claim.unwrap().map(|run| run.id))
        .collect();
    // A worker that lost a race may find nothing this round (PostgreSQL's SKIP LOCKED can
    // skip a row another claim just took); the next round takes what is left.
    while let Some(run) = t.store.claim_run(stale).await.unwrap() {
        claimed.push(run.id);
    }
    claimed.sort();
    requested.sort();
    assert_eq!(claimed, requested, "each run claimed exactly once");
    t.finish().await;
}

contract_tests!(
    r_dir_03_r_dir_05_a_run_is_requested_once_claimed_once_and_records_its_outcome,
    r_dir_03_workers_claiming_at_once_never_take_the_same_run,
    r_dir_08_a_held_run_keeps_who_would_go_and_only_approval_applies_it,
    r_dir_03_a_run_without_heartbeat_is_failed_as_abandoned_and_the_schedule_sees_credentials,
);
