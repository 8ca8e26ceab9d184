//! The provisioning audit trail as written from the bus: every record lands with its source and
//! event ID (R-AUD-01), once (R-AUD-02), in its own app's chain, and nothing is acked unwritten.

use std::sync::Arc;
use std::time::Duration;

use alter_audit_writer::{Application, AuditWriter, Config, Settings};
use alter_bus::consumers::AUDIT_WRITER;
use alter_bus::{AuditKind, AuditRecord, Bus, BusConfig, StreamKind};
use alter_core::{
    AppId, EventId, EventSource, ExternalGroupId, ExternalUserId, LifecycleKind, UserId, UserRef,
};
use alter_store::{AppStore, AuditEvent, AuditQuery, AuditStore, ChainVerification, PgStore};
use alter_testkit::{Spawned, TestEnv, eventually, spawn, test_nats_url};
use async_nats::jetstream::consumer::Info as ConsumerInfo;
use chrono::Utc;

const DEADLINE: Duration = Duration::from_secs(15);

async fn start(env: &TestEnv) -> Spawned {
    spawn::<Application>(Config::for_tests(env.common())).await
}

fn provisioned(app_id: AppId, user_id: UserId) -> AuditRecord {
    AuditRecord {
        event_id: EventId::new(),
        app_id,
        source: EventSource::Jwt,
        occurred_at: Utc::now(),
        kind: AuditKind::Lifecycle(LifecycleKind::UserProvisioned {
            user: UserRef {
                external_id: ExternalUserId::parse("sub", &format!("auth0|{user_id}")).unwrap(),
                user_id: Some(user_id),
            },
            email: Some("ada@example.com".to_owned()),
            display_name: Some("Ada".to_owned()),
        }),
        cause: None,
    }
}

fn membership_added(app_id: AppId, user_id: UserId) -> AuditRecord {
    AuditRecord {
        kind: AuditKind::Lifecycle(LifecycleKind::MembershipAdded {
            user: UserRef {
                external_id: ExternalUserId::parse("sub", &format!("auth0|{user_id}")).unwrap(),
                user_id: Some(user_id),
            },
            group: ExternalGroupId::parse("group", "admins").unwrap(),
        }),
        source: EventSource::DirectorySync,
        ..provisioned(app_id, user_id)
    }
}

async fn all_rows(store: &PgStore, app: AppId) -> Vec<AuditEvent> {
    store
        .list_audit_events(
            app,
            &AuditQuery {
                limit: 1000,
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap()
}

/// The app's trail once it holds at least `n` rows; fails after [`DEADLINE`].
async fn wait_for_rows(store: &PgStore, app: AppId, n: usize) -> Vec<AuditEvent> {
    eventually(
        &format!("{n} audit rows of app {app}"),
        DEADLINE,
        || async {
            let rows = all_rows(store, app).await;
            if rows.len() >= n {
                Ok(rows)
            } else {
                Err(format!("{} rows", rows.len()))
            }
        },
    )
    .await
}

/// Waits until the consumer's state satisfies `done`; fails after [`DEADLINE`].
async fn wait_for_consumer(
    bus: &Bus,
    what: &str,
    done: impl Fn(&ConsumerInfo) -> bool,
) -> ConsumerInfo {
    let stream = bus
        .jetstream()
        .get_stream(bus.names().stream(StreamKind::Audit))
        .await
        .unwrap();
    let done = &done;
    let stream = &stream;
    eventually(
        &format!("consumer state: {what}"),
        DEADLINE,
        move || async move {
            let info = stream.consumer_info(AUDIT_WRITER).await.unwrap();
            if done(&info) {
                Ok(info)
            } else {
                Err(format!(
                    "delivered {:?}, ack pending {}, redelivered {}, pending {}",
                    info.delivered.consumer_sequence,
                    info.num_ack_pending,
                    info.num_redelivered,
                    info.num_pending
                ))
            }
        },
    )
    .await
}

fn every_record_settled(info: &ConsumerInfo) -> bool {
    info.num_pending == 0 && info.num_ack_pending == 0
}

#[tokio::test]
async fn r_aud_01_jit_provisioned_user_is_recorded_with_source_and_event_id() {
    let env = TestEnv::new().await;
    let store = env.db.store();
    let app = store.create_app("aud-01").await.unwrap().id;
    let service = start(&env).await;

    let user = UserId::new();
    let record = provisioned(app, user);
    env.bus.publish_audit(&record).await.unwrap();

    let rows = wait_for_rows(&store, app, 1).await;
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.event_id, record.event_id);
    assert_eq!(row.kind, "user_provisioned");
    assert_eq!(row.source, EventSource::Jwt);
    assert_eq!(row.user_id, Some(user));
    let detail: AuditRecord = serde_json::from_value(row.detail.clone()).unwrap();
    assert_eq!(detail.event_id, record.event_id);
    assert_eq!(detail.kind, record.kind);
    // Readable per user and kind (R-AUD-03).
    let by_user = store
        .list_audit_events(
            app,
            &AuditQuery {
                user_id: Some(user),
                kind: Some("user_provisioned".to_owned()),
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_user.len(), 1);
    wait_for_consumer(&env.bus, "record acked", every_record_settled).await;
    let metrics = reqwest::get(format!("{}/metrics", service.admin_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"alter_audit_records_total{outcome="appended"}"#),
        "{metrics}"
    );

    service.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn r_aud_02_event_published_twice_is_recorded_once() {
    let env = TestEnv::new().await;
    let store = env.db.store();
    let app = store.create_app("aud-02-bus").await.unwrap().id;
    let service = start(&env).await;

    let record = provisioned(app, UserId::new());
    env.bus.publish_audit(&record).await.unwrap();
    let again = env.bus.publish_audit(&record).await.unwrap();
    assert!(again.duplicate, "JetStream should drop the second publish");
    let marker = membership_added(app, UserId::new());
    env.bus.publish_audit(&marker).await.unwrap();

    let rows = wait_for_rows(&store, app, 2).await;
    let ids: Vec<_> = rows.iter().map(|r| r.event_id).collect();
    assert_eq!(ids, [record.event_id, marker.event_id]);
    wait_for_consumer(&env.bus, "both records acked", every_record_settled).await;
    assert_eq!(all_rows(&store, app).await.len(), 2);

    service.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn r_aud_02_redelivered_event_already_in_the_trail_is_acked_and_not_recorded_again() {
    let env = TestEnv::new().await;
    let store = env.db.store();
    let app = store.create_app("aud-02-redelivery").await.unwrap().id;
    // The record was written before (e.g. the ack was lost), then arrives again.
    let record = provisioned(app, UserId::new());
    let direct = store
        .append_audit_events(app, &[alter_audit_writer::to_new_event(&record)])
        .await
        .unwrap();
    assert_eq!(direct.appended, 1);
    let service = start(&env).await;

    env.bus.publish_audit(&record).await.unwrap();
    let marker = membership_added(app, UserId::new());
    env.bus.publish_audit(&marker).await.unwrap();

    let rows = wait_for_rows(&store, app, 2).await;
    let ids: Vec<_> = rows.iter().map(|r| r.event_id).collect();
    assert_eq!(ids, [record.event_id, marker.event_id]);
    // The duplicate was acked, not left to be redelivered forever.
    wait_for_consumer(&env.bus, "duplicate acked", every_record_settled).await;
    assert_eq!(all_rows(&store, app).await.len(), 2);
    assert_eq!(
        store.verify_audit_chain(app).await.unwrap(),
        ChainVerification::Intact { rows: 2 }
    );

    service.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn records_of_two_apps_land_in_their_own_apps_chained_trail() {
    let env = TestEnv::new().await;
    let store = env.db.store();
    let a = store.create_app("aud-a").await.unwrap().id;
    let b = store.create_app("aud-b").await.unwrap().id;
    let service = start(&env).await;

    let mut expected_a = vec![];
    let mut expected_b = vec![];
    for _ in 0..5 {
        let ra = provisioned(a, UserId::new());
        let rb = membership_added(b, UserId::new());
        env.bus.publish_audit(&ra).await.unwrap();
        env.bus.publish_audit(&rb).await.unwrap();
        expected_a.push(ra.event_id);
        expected_b.push(rb.event_id);
    }

    for (app, expected, kind) in [
        (a, &expected_a, "user_provisioned"),
        (b, &expected_b, "membership_added"),
    ] {
        let rows = wait_for_rows(&store, app, expected.len()).await;
        let ids: Vec<_> = rows.iter().map(|r| r.event_id).collect();
        assert_eq!(
            &ids, expected,
            "app {app} holds exactly its own records, in order"
        );
        assert!(rows.iter().all(|r| r.kind == kind && r.app_id == app));
        let seqs: Vec<_> = rows.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, [1, 2, 3, 4, 5]);
        assert_eq!(
            store.verify_audit_chain(app).await.unwrap(),
            ChainVerification::Intact { rows: 5 }
        );
    }
    assert_eq!(
        all_rows(&store, b)
            .await
            .iter()
            .filter(|r| r.source == EventSource::DirectorySync)
            .count(),
        5
    );

    service.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn record_for_an_unknown_app_is_dropped_without_blocking_other_apps() {
    let env = TestEnv::new().await;
    let store = env.db.store();
    let app = store.create_app("aud-known").await.unwrap().id;
    let service = start(&env).await;

    let unknown = AppId::new();
    env.bus
        .publish_audit(&provisioned(unknown, UserId::new()))
        .await
        .unwrap();
    let record = provisioned(app, UserId::new());
    env.bus.publish_audit(&record).await.unwrap();

    let rows = wait_for_rows(&store, app, 1).await;
    assert_eq!(rows[0].event_id, record.event_id);
    let info = wait_for_consumer(&env.bus, "both records settled", every_record_settled).await;
    assert_eq!(info.num_redelivered, 0, "an unknown app is not retried");
    assert!(all_rows(&store, unknown).await.is_empty());

    service.stop().await.unwrap();
    env.cleanup().await;
}

#[tokio::test]
async fn store_failure_naks_for_redelivery_and_the_record_lands_once_the_store_is_back() {
    let env = TestEnv::new().await;
    let store = env.db.store();
    let app = store.create_app("aud-outage").await.unwrap().id;
    let record = provisioned(app, UserId::new());
    env.bus.publish_audit(&record).await.unwrap();

    // A writer whose database is unreachable: every append fails.
    let unreachable = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_millis(200))
        .connect_lazy("postgres://alter:alter@127.0.0.1:1/unreachable")
        .unwrap();
    let settings = Settings {
        batch_wait_ms: 5,
        retry_delay_ms: 50,
        ..Settings::default()
    };
    let bus: Arc<dyn alter_bus::EventBus> = Arc::new(
        Bus::connect(BusConfig::new(test_nats_url(), env.bus.names().prefix()))
            .await
            .unwrap(),
    );
    let deliveries = AuditWriter::open(bus.as_ref()).await.unwrap();
    let writer = AuditWriter::new(Arc::new(PgStore::new(unreachable)), &settings);
    let shutdown = alter_runtime::CancellationToken::new();
    let failing = tokio::spawn(writer.run(bus.clone(), deliveries, shutdown.clone()));

    // Naked, not acked: JetStream delivers it again.
    wait_for_consumer(&env.bus, "record redelivered", |info| {
        info.num_redelivered >= 1 && info.delivered.consumer_sequence >= 2
    })
    .await;
    shutdown.cancel();
    tokio::time::timeout(DEADLINE, failing)
        .await
        .unwrap()
        .unwrap();
    assert!(all_rows(&store, app).await.is_empty());

    // With the database back, the same record is written exactly once.
    let service = start(&env).await;
    let rows = wait_for_rows(&store, app, 1).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].event_id, record.event_id);
    wait_for_consumer(&env.bus, "record acked", every_record_settled).await;
    assert_eq!(all_rows(&store, app).await.len(), 1);

    service.stop().await.unwrap();
    env.cleanup().await;
}
