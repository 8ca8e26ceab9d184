//! The small kit the tests set up through: an app with its IDP, users, groups and grants in a
//! fresh database; lifecycle events; the revoker spawned as a service; and what it wrote to
//! the outbox and published.

use std::sync::Arc;
use std::time::Duration;

use alter_bus::consumers::GRANT_REVOKER;
use alter_bus::{AuditRecord, Bus, Deliveries, Invalidation, Invalidations, StreamKind};
use alter_core::{
    AppId, ClaimMappings, EventId, EventSource, ExternalGroupId, ExternalUserId, GroupId, IdpId,
    IdpKind, LifecycleEvent, LifecycleKind, Principal, UserId, UserRef,
};
use alter_grant_revoker::{Application, Config, Tally};
use alter_store::{
    AppStore, Grant, GrantStore, GroupStore, GroupUpsert, IdpStore, NewGrant, NewIdp, PgStore,
    UserStore, UserUpsert,
};
use alter_testkit::{Spawned, TestEnv, eventually};
use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use uuid::Uuid;

/// How long any asynchronous outcome may take.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// One test's app, with an identity provider, in a fresh environment.
pub struct Kit {
    pub env: TestEnv,
    pub store: PgStore,
    pub app: AppId,
    pub idp: IdpId,
}

impl Kit {
    pub async fn new(kind: IdpKind) -> Self {
        let env = TestEnv::new().await;
        let store = env.db.store();
        let (app, idp) = app_with_idp(&store, kind).await;
        Self {
            env,
            store,
            app,
            idp,
        }
    }

    /// A user signed in just in time.
    pub async fn user(&self, external: &str) -> UserId {
        self.store
            .upsert_user(
                self.app,
                self.idp,
                &UserUpsert::jit(ext_user(external), None, None),
            )
            .await
            .unwrap()
            .user
            .id
    }

    pub async fn group(&self, external: &str) -> GroupId {
        self.store
            .upsert_groups(
                self.app,
                &[GroupUpsert {
                    external_id: ext_group(external),
                    name: None,
                }],
            )
            .await
            .unwrap()[0]
            .id
    }

    pub async fn member(&self, user: UserId, group: GroupId) {
        self.store
            .add_membership(self.app, user, group, EventSource::Jwt)
            .await
            .unwrap();
    }

    pub async fn grant(&self, credential: &str, principal: Principal) -> Grant {
        self.store
            .create_grant(
                self.app,
                &NewGrant {
                    credential_ref: credential.to_owned(),
                    principal,
                    expires_at: None,
                },
            )
            .await
            .unwrap()
    }

    /// An event of this app from a webhook, `secs` after 2026-01-01.
    pub fn event(&self, secs: i64, kind: LifecycleKind) -> LifecycleEvent {
        event(self.app, secs, kind)
    }

    /// The service, built and running, with its outcome counts.
    pub async fn start(&self) -> (Spawned, Tally) {
        let app = Application::build(Config::for_tests(self.env.common()))
            .await
            .unwrap();
        let tally = app.tally();
        (alter_testkit::run(app), tally)
    }

    /// Outbox messages of `topic` with `id`.
    pub async fn outbox_rows(&self, topic: &str, id: Uuid) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = $1 AND id = $2")
            .bind(topic)
            .bind(id)
            .fetch_one(self.env.db.pool())
            .await
            .unwrap()
    }

    pub async fn finish(self) {
        drop(self.store);
        self.env.cleanup().await;
    }
}

pub async fn app_with_idp(store: &PgStore, kind: IdpKind) -> (AppId, IdpId) {
    let app = store.create_app("revoker test").await.unwrap().id;
    let idp = store
        .create_idp(
            app,
            &NewIdp {
                kind,
                issuer: "https://tenant.example.com/".to_owned(),
                jwks_uri: "https://tenant.example.com/.well-known/jwks.json".to_owned(),
                audience: "https://api.example.com".to_owned(),
                claim_mappings: ClaimMappings::default(),
                sign_in: None,
            },
        )
        .await
        .unwrap()
        .id;
    (app, idp)
}

pub fn ext_user(id: &str) -> ExternalUserId {
    ExternalUserId::parse("sub", id).unwrap()
}

pub fn ext_group(id: &str) -> ExternalGroupId {
    ExternalGroupId::parse("group", id).unwrap()
}

pub fn user_ref(external: &str) -> UserRef {
    UserRef {
        external_id: ext_user(external),
        user_id: None,
    }
}

/// 2026-01-01T00:00:00Z plus `secs`.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().unwrap() + chrono::Duration::seconds(secs)
}

pub fn event(app: AppId, secs: i64, kind: LifecycleKind) -> LifecycleEvent {
    let event_id = EventId::new();
    LifecycleEvent {
        event_id,
        provider_event_id: Some(format!("msg_{}", event_id.as_uuid().simple())),
        app_id: app,
        source: EventSource::Webhook,
        occurred_at: at(secs),
        kind,
    }
}

pub async fn processed(store: &PgStore) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE consumer = $1")
        .bind(GRANT_REVOKER)
        .fetch_one(store.pool())
        .await
        .unwrap()
}

pub async fn wait_processed(store: &PgStore, n: i64) {
    eventually(
        &format!("{n} processed lifecycle events"),
        DEADLINE,
        || async {
            let seen = processed(store).await;
            if seen >= n { Ok(seen) } else { Err(seen) }
        },
    )
    .await;
}

/// Waits until the consumer has nothing pending and nothing unacked.
pub async fn wait_settled(bus: &Bus, timeout: Duration) {
    let stream = bus
        .jetstream()
        .get_stream(bus.names().stream(StreamKind::Lifecycle))
        .await
        .unwrap();
    let stream = &stream;
    eventually("every lifecycle event acked", timeout, move || async move {
        let info = stream.consumer_info(GRANT_REVOKER).await.unwrap();
        if info.num_pending == 0 && info.num_ack_pending == 0 {
            Ok(())
        } else {
            Err(format!(
                "pending {}, ack pending {}, redelivered {}",
                info.num_pending, info.num_ack_pending, info.num_redelivered
            ))
        }
    })
    .await;
}

/// Waits until `tally` counted at least `n` of `outcome`.
pub async fn wait_for(tally: &Tally, outcome: alter_grant_revoker::Outcome, n: u64) {
    eventually(
        &format!("{n} deliveries with outcome {}", outcome.as_str()),
        DEADLINE,
        || async {
            let seen = tally.get(outcome);
            if seen >= n { Ok(seen) } else { Err(seen) }
        },
    )
    .await;
}

/// The audit records the relay published, read from `ALTER_AUDIT` by a test consumer.
pub struct AuditTail {
    deliveries: Deliveries<AuditRecord>,
    pub seen: Vec<AuditRecord>,
}

impl AuditTail {
    pub async fn open(bus: &Bus) -> Self {
        Self {
            deliveries: bus.audit_consumer("revoker-test-audit").await.unwrap(),
            seen: Vec::new(),
        }
    }

    /// Reads until `n` records have been seen in all; fails after [`DEADLINE`].
    pub async fn until(&mut self, n: usize) -> &[AuditRecord] {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while self.seen.len() < n {
            let next = tokio::time::timeout_at(deadline, self.deliveries.next()).await;
            match next {
                Ok(Some(Ok(delivery))) => {
                    delivery.ack().await.unwrap();
                    self.seen.push(delivery.event);
                }
                Ok(Some(Err(error))) => panic!("unreadable audit delivery: {error}"),
                Ok(None) => panic!("audit stream ended"),
                Err(_) => panic!(
                    "timed out waiting for {n} audit records; saw {}: {:?}",
                    self.seen.len(),
                    self.seen
                ),
            }
        }
        &self.seen
    }

    /// Reads for `quiet` more and returns everything seen (to show nothing else came).
    pub async fn settle(&mut self, quiet: Duration) -> &[AuditRecord] {
        while let Ok(Some(Ok(delivery))) = tokio::time::timeout(quiet, self.deliveries.next()).await
        {
            delivery.ack().await.unwrap();
            self.seen.push(delivery.event);
        }
        &self.seen
    }
}

/// Invalidations as the verifiers receive them.
pub struct InvalidationTail {
    notices: Invalidations,
}

impl InvalidationTail {
    pub async fn open(bus: &Bus) -> Self {
        Self {
            notices: bus.subscribe_invalidations().await.unwrap(),
        }
    }

    /// Waits for `wanted` for `app` (skipping others); fails after [`DEADLINE`].
    pub async fn expect(&mut self, app: AppId, wanted: Invalidation) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let mut seen = Vec::new();
        loop {
            match tokio::time::timeout_at(deadline, self.notices.next()).await {
                Ok(Some(Ok(notice))) if notice.app_id == app && notice.invalidation == wanted => {
                    return;
                }
                Ok(Some(Ok(notice))) => seen.push(notice),
                Ok(Some(Err(_))) => {}
                Ok(None) => panic!("invalidation subscription ended"),
                Err(_) => panic!("timed out waiting for {wanted:?} of app {app}; saw {seen:?}"),
            }
        }
    }
}

/// A shared handle on the kit's store as the revoker's store.
pub fn lifecycle_store(store: &PgStore) -> Arc<dyn alter_store::LifecycleStore> {
    Arc::new(store.clone())
}
