//! The audit trail: idempotent (R-AUD-02), append-only and filterable (R-AUD-03), and
//! hash-chained per app so tampering is detected (R-AUD-04; the hash itself in
//! `audit_chain.rs`).

use alter_core::{AppId, EventId, EventSource, IdpKind, UserId};
use alter_store::{AuditQuery, ChainVerification, GENESIS_HASH, NewAuditEvent};
use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::support::{TestBackend, TestStore, contract_tests};

fn event(kind: &str, user: Option<UserId>, at: DateTime<Utc>) -> NewAuditEvent {
    NewAuditEvent {
        event_id: EventId::new(),
        kind: kind.to_owned(),
        source: EventSource::Webhook,
        user_id: user,
        occurred_at: at,
        detail: serde_json::json!({ "provider_event_id": "evt_1", "nested": { "b": 2, "a": [1, 2.5, "x"] } }),
    }
}

fn base_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap() + Duration::nanoseconds(123_456_789)
}

async fn r_aud_02_an_event_delivered_twice_is_recorded_once(t: TestStore) {
    let app = t.seed_app("audit").await;
    let e1 = event("user_provisioned", None, base_time());
    let e2 = event("user_suspended", None, base_time());

    // A batch that repeats an event ID keeps its first occurrence.
    let mut repeat = e1.clone();
    repeat.kind = "user_updated".into();
    let first = t
        .store
        .append_audit_events(app, &[e1.clone(), e2.clone(), repeat])
        .await
        .unwrap();
    assert_eq!(
        (first.appended, first.duplicates, first.last_seq),
        (2, 1, 2)
    );

    let e3 = event("user_reactivated", None, base_time());
    let second = t
        .store
        .append_audit_events(app, &[e2.clone(), e1.clone(), e3.clone()])
        .await
        .unwrap();
    assert_eq!(
        (second.appended, second.duplicates, second.last_seq),
        (1, 2, 3)
    );
    let nothing = t.store.append_audit_events(app, &[e3]).await.unwrap();
    assert_eq!(
        (nothing.appended, nothing.duplicates, nothing.last_seq),
        (0, 1, 3)
    );

    let rows = t
        .store
        .list_audit_events(app, &AuditQuery::default())
        .await
        .unwrap();
    let kinds: Vec<(i64, &str)> = rows.iter().map(|r| (r.seq, r.kind.as_str())).collect();
    assert_eq!(
        kinds,
        vec![
            (1, "user_provisioned"),
            (2, "user_suspended"),
            (3, "user_reactivated")
        ]
    );
    assert_eq!(rows[0].event_id, e1.event_id);
    assert_eq!(rows[0].detail, e1.detail);
    assert_eq!(
        rows[0].occurred_at,
        Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap() + Duration::microseconds(123_456)
    );
    t.finish().await;
}

async fn r_aud_04_the_chain_links_every_row_to_its_predecessor_per_app_and_verifies_intact(
    t: TestStore,
) {
    let a = t.seed_app("a").await;
    let b = t.seed_app("b").await;
    assert_eq!(
        t.store.verify_audit_chain(a).await.unwrap(),
        ChainVerification::Intact { rows: 0 }
    );
    for i in 0..3 {
        t.store
            .append_audit_events(
                a,
                &[event(
                    "user_updated",
                    None,
                    base_time() + Duration::seconds(i),
                )],
            )
            .await
            .unwrap();
    }
    t.store
        .append_audit_events(b, &[event("user_updated", None, base_time())])
        .await
        .unwrap();

    let rows = t
        .store
        .list_audit_events(a, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(rows[0].prev_hash, GENESIS_HASH.to_vec());
    assert_eq!(rows[1].prev_hash, rows[0].hash);
    assert_eq!(rows[2].prev_hash, rows[1].hash);
    assert!(rows.iter().all(|r| r.hash.len() == 32));
    let b_rows = t
        .store
        .list_audit_events(b, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(
        (b_rows[0].seq, b_rows[0].prev_hash.clone()),
        (1, GENESIS_HASH.to_vec()),
        "each app has its own chain"
    );

    assert_eq!(
        t.store.verify_audit_chain(a).await.unwrap(),
        ChainVerification::Intact { rows: 3 }
    );
    assert_eq!(
        t.store.verify_audit_chain(b).await.unwrap(),
        ChainVerification::Intact { rows: 1 }
    );
    t.finish().await;
}

async fn r_aud_03_the_trail_is_append_only_update_and_delete_fail(t: TestStore) {
    let app = t.seed_app("append-only").await;
    t.store
        .append_audit_events(app, &[event("user_deprovisioned", None, base_time())])
        .await
        .unwrap();

    let update = t
        .execute(
            "UPDATE audit_events SET kind = 'nothing' WHERE app_id = $1",
            &[app.as_uuid()],
        )
        .await
        .unwrap_err();
    assert!(update.to_string().contains("append-only"), "{update}");
    let delete = t
        .execute(
            "DELETE FROM audit_events WHERE app_id = $1",
            &[app.as_uuid()],
        )
        .await
        .unwrap_err();
    assert!(delete.to_string().contains("append-only"), "{delete}");

    let rows = t
        .store
        .list_audit_events(app, &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].kind, "user_deprovisioned");
    t.finish().await;
}

/// SQLite has no TRUNCATE (a `DELETE` without `WHERE` is refused above).
#[tokio::test]
async fn r_aud_03_the_trail_cannot_be_truncated() {
    let t = TestStore::new().await;
    let app = t.seed_app("append-only").await;
    t.store
        .append_audit_events(app, &[event("user_deprovisioned", None, base_time())])
        .await
        .unwrap();
    let truncate = sqlx::query("TRUNCATE audit_events")
        .execute(t.pg().pool())
        .await
        .unwrap_err();
    assert!(truncate.to_string().contains("append-only"), "{truncate}");
    assert_eq!(
        t.store
            .list_audit_events(app, &AuditQuery::default())
            .await
            .unwrap()
            .len(),
        1
    );
    t.finish().await;
}

/// Edits a row behind the append-only trigger's back, as someone with the database owner's
/// rights could: PostgreSQL disables the trigger, SQLite (which cannot) drops the triggers
/// and recreates them as they were, and ignores CHECK constraints meanwhile — all in one
/// transaction.
pub async fn tamper(t: &TestStore, sql: &'static str, app: AppId) {
    match &t.backend {
        TestBackend::Postgres(db) => {
            let mut tx = db.pool().begin().await.unwrap();
            sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete")
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query(sql)
                .bind(app.as_uuid())
                .execute(&mut *tx)
                .await
                .unwrap();
            sqlx::query("ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }
        TestBackend::Sqlite(db) => {
            let store = db.store();
            let mut tx = store.pool().begin_with("BEGIN IMMEDIATE").await.unwrap();
            let triggers: Vec<(String, String)> = sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_events'",
            )
            .fetch_all(&mut *tx)
            .await
            .unwrap();
            assert_eq!(triggers.len(), 2, "the UPDATE and DELETE triggers");
            for (name, _) in &triggers {
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER {name}")))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            sqlx::query("PRAGMA ignore_check_constraints = ON")
                .execute(&mut *tx)
                .await
                .unwrap();
            let edited = sqlx::query(sql).bind(app.as_uuid()).execute(&mut *tx).await;
            sqlx::query("PRAGMA ignore_check_constraints = OFF")
                .execute(&mut *tx)
                .await
                .unwrap();
            edited.unwrap();
            for (_, create) in triggers {
                sqlx::query(sqlx::AssertSqlSafe(create))
                    .execute(&mut *tx)
                    .await
                    .unwrap();
            }
            tx.commit().await.unwrap();
        }
    }
}

async fn r_aud_04_verification_finds_the_first_changed_or_removed_row(t: TestStore) {
    let app = t.seed_app("tamper").await;
    let events: Vec<NewAuditEvent> = (0..5)
        .map(|i| event("user_updated", None, base_time() + Duration::seconds(i)))
        .collect();
    t.store.append_audit_events(app, &events).await.unwrap();
    assert_eq!(
        t.store.verify_audit_chain(app).await.unwrap(),
        ChainVerification::Intact { rows: 5 }
    );

    tamper(
        &t,
        "UPDATE audit_events SET detail = '{\"forged\": true}' WHERE app_id = $1 AND seq = 3",
        app,
    )
    .await;
    match t.store.verify_audit_chain(app).await.unwrap() {
        ChainVerification::Broken { seq, reason } => {
            assert_eq!(seq, 3);
            assert!(reason.contains("changed"), "{reason}");
        }
        other => panic!("tampering not detected: {other:?}"),
    }

    let other = t.seed_app("tamper-delete").await;
    t.store
        .append_audit_events(
            other,
            &(0..4)
                .map(|_| event("user_updated", None, base_time()))
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    tamper(
        &t,
        "DELETE FROM audit_events WHERE app_id = $1 AND seq = 2",
        other,
    )
    .await;
    match t.store.verify_audit_chain(other).await.unwrap() {
        ChainVerification::Broken { seq, reason } => {
            assert_eq!(seq, 3);
            assert!(reason.contains("removed"), "{reason}");
        }
        other => panic!("deletion not detected: {other:?}"),
    }
    // The triggers are back: the owner's edit did not leave the trail open.
    assert!(
        t.execute(
            "DELETE FROM audit_events WHERE app_id = $1",
            &[app.as_uuid()]
        )
        .await
        .is_err()
    );
    t.finish().await;
}

async fn r_aud_04_concurrent_appends_never_fork_the_chain(t: TestStore) {
    let app = t.seed_app("concurrent").await;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let store = t.store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let batch: Vec<NewAuditEvent> = (0..5)
                    .map(|_| event("membership_added", None, base_time()))
                    .collect();
                store.append_audit_events(app, &batch).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let rows = t
        .store
        .list_audit_events(
            app,
            &AuditQuery {
                limit: 1000,
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        rows.iter().map(|r| r.seq).collect::<Vec<_>>(),
        (1..=100).collect::<Vec<i64>>()
    );
    assert_eq!(
        t.store.verify_audit_chain(app).await.unwrap(),
        ChainVerification::Intact { rows: 100 }
    );
    t.finish().await;
}

/// The concurrent case on both adapters, with appenders on several threads.
mod multi_thread {
    mod postgres {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn r_aud_04_concurrent_appends_never_fork_the_chain() {
            let t = crate::support::TestStore::postgres().await;
            super::super::r_aud_04_concurrent_appends_never_fork_the_chain(t).await;
        }
    }
    mod sqlite {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn r_aud_04_concurrent_appends_never_fork_the_chain() {
            let t = crate::support::TestStore::sqlite().await;
            super::super::r_aud_04_concurrent_appends_never_fork_the_chain(t).await;
        }
    }
}

async fn r_aud_04_the_kinds_an_event_caused_are_found_by_its_id(t: TestStore) {
    let app = t.seed_app("kinds").await;
    let provisioned = event("user_provisioned", None, base_time());
    let deprovisioned = event("user_deprovisioned", None, base_time());
    let revoked = |cause: EventId| NewAuditEvent {
        detail: serde_json::json!({ "kind": { "grant_revoked": { "caused_by": cause.to_string(), "grant_id": "g" } } }),
        ..event("grant_revoked", None, base_time())
    };
    let unrelated = event("user_updated", None, base_time());
    t.store
        .append_audit_events(
            app,
            &[
                provisioned.clone(),
                deprovisioned.clone(),
                revoked(deprovisioned.event_id),
                unrelated.clone(),
                revoked(deprovisioned.event_id),
                revoked(unrelated.event_id),
            ],
        )
        .await
        .unwrap();
    let other = t.seed_app("other").await;
    t.store
        .append_audit_events(other, &[revoked(deprovisioned.event_id)])
        .await
        .unwrap();

    let kinds = t
        .store
        .audit_kinds_for_events(app, &[deprovisioned.event_id, provisioned.event_id])
        .await
        .unwrap();
    assert_eq!(
        kinds,
        vec![
            (provisioned.event_id, "user_provisioned".to_owned()),
            (deprovisioned.event_id, "user_deprovisioned".to_owned()),
            (deprovisioned.event_id, "grant_revoked".to_owned()),
            (deprovisioned.event_id, "grant_revoked".to_owned()),
        ],
        "in seq order, this app's rows only"
    );
    assert!(
        t.store
            .audit_kinds_for_events(app, &[EventId::new()])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        t.store
            .audit_kinds_for_events(app, &[])
            .await
            .unwrap()
            .is_empty()
    );
    t.finish().await;
}

async fn r_aud_03_the_trail_is_filtered_by_user_kind_and_time_and_pages_by_seq(t: TestStore) {
    let (app, idp) = t.seed_app_with_idp(IdpKind::Okta).await;
    let ann = t.seed_user(app, idp, "00u-ann").await;
    let bob = t.seed_user(app, idp, "00u-bob").await;
    let t0 = base_time();
    t.store
        .append_audit_events(
            app,
            &[
                event("user_provisioned", Some(ann), t0),
                event("user_provisioned", Some(bob), t0 + Duration::minutes(1)),
                event("user_suspended", Some(ann), t0 + Duration::minutes(2)),
                event("grant_revoked", Some(ann), t0 + Duration::minutes(3)),
                event("group_deleted", None, t0 + Duration::minutes(4)),
            ],
        )
        .await
        .unwrap();
    let seqs = |rows: Vec<alter_store::AuditEvent>| rows.iter().map(|r| r.seq).collect::<Vec<_>>();

    let by_user = t
        .store
        .list_audit_events(
            app,
            &AuditQuery {
                user_id: Some(ann),
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(by_user), vec![1, 3, 4]);
    let by_kind = t
        .store
        .list_audit_events(
            app,
            &AuditQuery {
                kind: Some("user_provisioned".into()),
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(seqs(by_kind), vec![1, 2]);
    let window = AuditQuery {
        since: Some(t0 + Duration::minutes(1)),
        until: Some(t0 + Duration::minutes(3)),
        ..AuditQuery::default()
    };
    assert_eq!(
        seqs(t.store.list_audit_events(app, &window).await.unwrap()),
        vec![2, 3]
    );
    let combined = AuditQuery {
        user_id: Some(ann),
        kind: Some("user_suspended".into()),
        ..window
    };
    assert_eq!(
        seqs(t.store.list_audit_events(app, &combined).await.unwrap()),
        vec![3]
    );
    let page = AuditQuery {
        after_seq: Some(2),
        limit: 2,
        ..AuditQuery::default()
    };
    assert_eq!(
        seqs(t.store.list_audit_events(app, &page).await.unwrap()),
        vec![3, 4]
    );
    t.finish().await;
}

contract_tests!(
    r_aud_02_an_event_delivered_twice_is_recorded_once,
    r_aud_04_the_chain_links_every_row_to_its_predecessor_per_app_and_verifies_intact,
    r_aud_03_the_trail_is_append_only_update_and_delete_fail,
    r_aud_04_verification_finds_the_first_changed_or_removed_row,
    r_aud_03_the_trail_is_filtered_by_user_kind_and_time_and_pages_by_seq,
    r_aud_04_the_kinds_an_event_caused_are_found_by_its_id,
);
