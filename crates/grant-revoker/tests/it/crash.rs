//! Crashes: the consumer — and, downstream of it, the audit-writer — is killed at random
//! points while about a thousand events flow, and between a commit and its ack; every event
//! still takes effect exactly once, every audit record is written to the outbox once and
//! lands in the trail once, with the chain intact (R-HOOK-06, R-AUD-01/02).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alter_audit_writer::AuditWriter;
use alter_bus::{Bus, BusConfig, EventBus};
use alter_core::{
    EventId, GrantId, GroupId, IdpKind, LifecycleEvent, LifecycleKind, Principal, UserId,
    UserStatus,
};
use alter_grant_revoker::{Outcome, Revoker, Settings, Tally, derived_record_id};
use alter_runtime::CancellationToken;
use alter_runtime::outbox::{OutboxRelay, RelaySettings};
use alter_store::{
    Applied, AuditStore, ChainVerification, Effects, GrantStore, GroupStore, LifecycleChange,
    LifecycleStore, PgStore, ProcessedEvents, StoreResult, UserStore, revocation_cause,
};
use alter_testkit::test_nats_url;
use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use uuid::Uuid;

use crate::support::{Kit, ext_group, lifecycle_store, processed, user_ref, wait_settled};

/// A bus on the kit's prefix whose consumer redelivers an unacked event after 1 s, so the
/// events a killed consumer held come back quickly.
async fn quick_redelivery_bus(kit: &Kit) -> Arc<dyn EventBus> {
    let config = BusConfig {
        ack_wait: Duration::from_secs(1),
        ..BusConfig::new(test_nats_url(), kit.env.bus.names().prefix()).with_name("crash-test")
    };
    Arc::new(Bus::connect(config).await.unwrap())
}

/// A revoker running on its own task, to be killed (aborted) or stopped.
struct Running {
    task: tokio::task::JoinHandle<()>,
    shutdown: CancellationToken,
    tally: Tally,
}

async fn run(store: Arc<dyn LifecycleStore>, bus: &Arc<dyn EventBus>) -> Running {
    let revoker = Revoker::new(store, &Settings::default());
    let tally = revoker.tally();
    let deliveries = Revoker::open(bus.as_ref()).await.unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(revoker.run(bus.clone(), deliveries, shutdown.clone()));
    Running {
        task,
        shutdown,
        tally,
    }
}

/// An audit-writer on its own task, reading what the outbox relay publishes.
struct RunningWriter {
    task: tokio::task::JoinHandle<()>,
}

async fn run_writer(kit: &Kit, bus: &Arc<dyn EventBus>) -> RunningWriter {
    let writer = AuditWriter::new(
        Arc::new(kit.store.clone()),
        &alter_audit_writer::Settings::default(),
    );
    let deliveries = AuditWriter::open(bus.as_ref()).await.unwrap();
    let task = tokio::spawn(writer.run(bus.clone(), deliveries, CancellationToken::new()));
    RunningWriter { task }
}

impl RunningWriter {
    async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

async fn trail_rows(kit: &Kit) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE app_id = $1")
        .bind(kit.app.as_uuid())
        .fetch_one(kit.env.db.pool())
        .await
        .unwrap()
}

impl Running {
    /// Kills it wherever it is: mid-transaction, between commit and ack, between two events.
    async fn kill(self) -> Tally {
        self.task.abort();
        let _ = self.task.await;
        self.tally
    }

    async fn stop(self) -> Tally {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
        self.tally
    }
}

/// Outbox messages of `topic`, counted by ID.
async fn outbox_ids(kit: &Kit, topic: &str) -> BTreeMap<Uuid, i64> {
    let rows: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT id, count(*) FROM outbox WHERE topic = $1 GROUP BY id")
            .bind(topic)
            .fetch_all(kit.env.db.pool())
            .await
            .unwrap();
    rows.into_iter().collect()
}

async fn outbox_count(kit: &Kit, topic: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = $1")
        .bind(topic)
        .fetch_one(kit.env.db.pool())
        .await
        .unwrap()
}

const USERS: usize = 20;
const UPDATES_PER_USER: usize = 45;
/// Users 0..10 are deprovisioned (two grants each), 10..15 suspended.
const DEPROVISIONED: std::ops::Range<usize> = 0..10;
const SUSPENDED: std::ops::Range<usize> = 10..15;
const GROUPS: usize = 10;
/// Groups 0..5 are deleted (two grants each); the members of 5..10 are removed one by one.
const DELETED_GROUPS: std::ops::Range<usize> = 0..5;
const MEMBERS_PER_GROUP: usize = 4;
const TOMBSTONES: usize = 50;
/// Times the consumer is killed while it works.
const KILLS: usize = 15;

fn user_name(i: usize) -> String {
    format!("user_{i:02}")
}

fn members_of(group: usize) -> Vec<usize> {
    (0..MEMBERS_PER_GROUP)
        .map(|k| (group * 2 + k) % USERS)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn r_hook_06_r_aud_02_killed_at_random_points_every_event_takes_effect_once_and_every_record_is_written_once()
 {
    let kit = Kit::new(IdpKind::Clerk).await;
    let seed: u64 = rand::rng().random();
    let mut rng = StdRng::seed_from_u64(seed);

    // The population: users with grants, groups with members and grants.
    let mut users: Vec<UserId> = Vec::new();
    for i in 0..USERS {
        users.push(kit.user(&user_name(i)).await);
    }
    let mut user_grants: BTreeMap<usize, Vec<GrantId>> = BTreeMap::new();
    for i in DEPROVISIONED {
        for k in 0..2 {
            let grant = kit
                .grant(&format!("u{i}-{k}"), Principal::User(users[i]))
                .await;
            user_grants.entry(i).or_default().push(grant.id);
        }
    }
    let mut groups: Vec<GroupId> = Vec::new();
    let mut group_grants: BTreeMap<usize, Vec<GrantId>> = BTreeMap::new();
    for g in 0..GROUPS {
        let group = kit.group(&format!("org_{g}")).await;
        for m in members_of(g) {
            kit.member(users[m], group).await;
        }
        if DELETED_GROUPS.contains(&g) {
            for k in 0..2 {
                let grant = kit
                    .grant(&format!("g{g}-{k}"), Principal::Group(group))
                    .await;
                group_grants.entry(g).or_default().push(grant.id);
            }
        }
        groups.push(group);
    }

    // The events. Each changes something whatever order they are applied in: profile updates
    // carry unique emails and are newer than every status event (and do not move the
    // version), status events are one per user, memberships and groups one event each.
    let mut events: Vec<LifecycleEvent> = Vec::new();
    for i in 0..USERS {
        for n in 0..UPDATES_PER_USER {
            events.push(kit.event(
                100 + n as i64,
                LifecycleKind::UserUpdated {
                    user: user_ref(&user_name(i)),
                    email: Some(format!("{}-{n}@example.com", user_name(i))),
                    display_name: None,
                },
            ));
        }
    }
    let mut deprovisions: BTreeMap<usize, LifecycleEvent> = BTreeMap::new();
    for i in DEPROVISIONED {
        let e = kit.event(
            10,
            LifecycleKind::UserDeprovisioned {
                user: user_ref(&user_name(i)),
            },
        );
        deprovisions.insert(i, e.clone());
        events.push(e);
    }
    for i in SUSPENDED {
        events.push(kit.event(
            10,
            LifecycleKind::UserSuspended {
                user: user_ref(&user_name(i)),
            },
        ));
    }
    let mut deletions: BTreeMap<usize, LifecycleEvent> = BTreeMap::new();
    for g in 0..GROUPS {
        if DELETED_GROUPS.contains(&g) {
            let e = kit.event(
                20,
                LifecycleKind::GroupDeleted {
                    group: ext_group(&format!("org_{g}")),
                },
            );
            deletions.insert(g, e.clone());
            events.push(e);
        } else {
            for m in members_of(g) {
                events.push(kit.event(
                    20,
                    LifecycleKind::MembershipRemoved {
                        user: user_ref(&user_name(m)),
                        group: ext_group(&format!("org_{g}")),
                    },
                ));
            }
        }
    }
    for t in 0..TOMBSTONES {
        events.push(kit.event(
            30,
            LifecycleKind::UserDeprovisioned {
                user: user_ref(&format!("ghost_{t:02}")),
            },
        ));
    }
    events.shuffle(&mut rng);
    let total = events.len() as i64;
    let started = Instant::now();
    kit.env.bus.publish_lifecycle_batch(&events).await.unwrap();

    // Kill the consumer at random points while the events flow, restarting it each time;
    // the outbox relay puts its audit records on the bus, where an audit-writer killed at
    // other random points appends them to the trail.
    let bus = quick_redelivery_bus(&kit).await;
    let relay_shutdown = CancellationToken::new();
    let relay = OutboxRelay::new(
        Arc::new(kit.store.clone()),
        bus.clone(),
        RelaySettings::default(),
    )
    .spawn(relay_shutdown.clone());
    let mut writer = run_writer(&kit, &bus).await;
    let mut writer_kills = 0;
    let mut tallies = Vec::new();
    let mut kills = 0;
    let mut processed_at_kill = Vec::new();
    while kills < KILLS && processed(&kit.store).await < total {
        let before = processed(&kit.store).await;
        if rng.random_bool(0.6) {
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..20))).await;
            writer.kill().await;
            writer_kills += 1;
            writer = run_writer(&kit, &bus).await;
        }
        let running = run(lifecycle_store(&kit.store), &bus).await;
        // Kill it while it works: once it has applied something (the events a killed
        // consumer held come back after the ack wait), a few milliseconds later.
        let waiting = Instant::now();
        while processed(&kit.store).await == before && waiting.elapsed() < Duration::from_secs(5) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..40))).await;
        tallies.push(running.kill().await);
        kills += 1;
        processed_at_kill.push(processed(&kit.store).await);
    }
    // Then let one finish.
    let last = run(lifecycle_store(&kit.store), &bus).await;
    crate::support::wait_processed(&kit.store, total).await;
    wait_settled(&kit.env.bus, Duration::from_secs(30)).await;
    tallies.push(last.stop().await);
    // One more kill of the writer mid-stream, then let it drain the trail.
    writer.kill().await;
    writer_kills += 1;
    let writer = run_writer(&kit, &bus).await;
    let elapsed = started.elapsed();
    let sum = |outcome| tallies.iter().map(|t| t.get(outcome)).sum::<u64>();
    eprintln!(
        "crash test (seed {seed}): {total} events, {kills} kills of grant-revoker (processed at each: {processed_at_kill:?}), \
         {writer_kills} of audit-writer, \
         {:.1} s; outcomes over all runs: applied {}, tombstone {}, duplicate {}, stale {}, unchanged {}, failed {}, rejected {}",
        elapsed.as_secs_f64(),
        sum(Outcome::Applied),
        sum(Outcome::Tombstone),
        sum(Outcome::Duplicate),
        sum(Outcome::Stale),
        sum(Outcome::Unchanged),
        sum(Outcome::Failed),
        sum(Outcome::Rejected),
    );

    assert_eq!(kills, KILLS, "every kill hit a consumer at work");
    // Every event recorded once, and each took effect once: one lifecycle audit record and
    // one invalidation per event, nothing stale or unchanged (no effect was applied twice).
    // (A consumer killed while awaiting its COMMIT's answer never counts the event it
    // committed; the redelivery counts it as a duplicate.)
    assert_eq!(processed(&kit.store).await, total);
    let applied = sum(Outcome::Applied) + sum(Outcome::Tombstone);
    assert!(applied <= total as u64, "{applied} applied of {total}");
    assert!(applied + sum(Outcome::Duplicate) >= total as u64);
    assert_eq!(sum(Outcome::Stale) + sum(Outcome::Unchanged), 0);
    let audit = outbox_ids(&kit, "audit").await;
    let twice: Vec<_> = audit.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "audit records written twice: {twice:?}");
    let mut expected: BTreeSet<Uuid> = events.iter().map(|e| e.event_id.as_uuid()).collect();
    for grants in user_grants.values().chain(group_grants.values()) {
        expected.extend(grants.iter().map(|g| g.as_uuid()));
    }
    for (g, e) in &deletions {
        for m in members_of(*g) {
            expected.insert(derived_record_id(e.event_id, users[m]).as_uuid());
        }
    }
    let written: BTreeSet<Uuid> = audit.keys().copied().collect();
    assert_eq!(written, expected, "audit records in the outbox");
    assert_eq!(outbox_count(&kit, "invalidation").await, total);

    // The trail holds every record once (its unique key refuses a second), chained.
    let want = expected.len() as i64;
    alter_testkit::eventually(
        "every audit record in the trail",
        Duration::from_secs(60),
        || async {
            let rows = trail_rows(&kit).await;
            if rows >= want { Ok(rows) } else { Err(rows) }
        },
    )
    .await;
    let in_trail: Vec<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM audit_events WHERE app_id = $1")
            .bind(kit.app.as_uuid())
            .fetch_all(kit.env.db.pool())
            .await
            .unwrap();
    assert_eq!(in_trail.len() as i64, want);
    assert_eq!(in_trail.into_iter().collect::<BTreeSet<_>>(), expected);
    assert_eq!(
        kit.store.verify_audit_chain(kit.app).await.unwrap(),
        ChainVerification::Intact { rows: want as u64 }
    );
    writer.kill().await;
    relay_shutdown.cancel();
    relay.await.unwrap();

    // And the state is what the events say.
    for (i, user) in users.iter().enumerate() {
        let stored = kit.store.get_user(kit.app, *user).await.unwrap().unwrap();
        let expected = if DEPROVISIONED.contains(&i) {
            UserStatus::Deprovisioned
        } else if SUSPENDED.contains(&i) {
            UserStatus::Suspended
        } else {
            UserStatus::Active
        };
        assert_eq!(stored.status, expected, "{}", user_name(i));
        assert!(stored.email.is_some());
    }
    for (i, grants) in &user_grants {
        for grant in grants {
            let stored = kit.store.get_grant(kit.app, *grant).await.unwrap().unwrap();
            assert_eq!(stored.revoked_by, Some(revocation_cause(&deprovisions[i])));
        }
    }
    for (g, grants) in &group_grants {
        for grant in grants {
            let stored = kit.store.get_grant(kit.app, *grant).await.unwrap().unwrap();
            assert_eq!(stored.revoked_by, Some(revocation_cause(&deletions[g])));
        }
    }
    for (g, group) in groups.iter().enumerate() {
        let stored = kit.store.get_group(kit.app, *group).await.unwrap().unwrap();
        assert_eq!(stored.deleted_at.is_some(), DELETED_GROUPS.contains(&g));
        assert!(
            kit.store
                .list_group_members(kit.app, *group)
                .await
                .unwrap()
                .is_empty()
        );
    }
    let tombstones: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE app_id = $1 AND external_id LIKE 'ghost_%' AND status = 'deprovisioned'",
    )
    .bind(kit.app.as_uuid())
    .fetch_one(kit.env.db.pool())
    .await
    .unwrap();
    assert_eq!(tombstones, TOMBSTONES as i64);
    kit.finish().await;
}

/// The real store, except that after committing `target` it never returns: the consumer is
/// then stuck between the commit and the ack until it is killed.
struct StallAfterCommit {
    inner: PgStore,
    target: EventId,
    committed: tokio::sync::Notify,
}

#[async_trait]
impl LifecycleStore for StallAfterCommit {
    async fn apply_lifecycle(
        &self,
        event: &LifecycleEvent,
        consumer: &str,
        effects: Effects<'_, LifecycleChange>,
    ) -> StoreResult<Applied> {
        let applied = self.inner.apply_lifecycle(event, consumer, effects).await?;
        if event.event_id == self.target {
            self.committed.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(applied)
    }
}

#[tokio::test]
async fn r_hook_06_killed_between_commit_and_ack_the_redelivery_is_a_duplicate_with_no_second_effect()
 {
    let kit = Kit::new(IdpKind::Okta).await;
    let ann = kit.user("00u_ann").await;
    let mut grants = Vec::new();
    for k in 0..3 {
        grants.push(
            kit.grant(&format!("ann-{k}"), Principal::User(ann))
                .await
                .id,
        );
    }
    kit.user("00u_bob").await;
    let target = kit.event(
        10,
        LifecycleKind::UserDeprovisioned {
            user: user_ref("00u_ann"),
        },
    );
    let other = kit.event(
        10,
        LifecycleKind::UserSuspended {
            user: user_ref("00u_bob"),
        },
    );
    let bus = quick_redelivery_bus(&kit).await;
    let stalling = Arc::new(StallAfterCommit {
        inner: kit.store.clone(),
        target: target.event_id,
        committed: tokio::sync::Notify::new(),
    });
    let running = run(stalling.clone(), &bus).await;
    // One event goes through as usual: applied and acked.
    kit.env.bus.publish_lifecycle(&other).await.unwrap();
    crate::support::wait_for(&running.tally, Outcome::Applied, 1).await;
    wait_settled(&kit.env.bus, Duration::from_secs(10)).await;
    kit.env.bus.publish_lifecycle(&target).await.unwrap();
    tokio::time::timeout(crate::support::DEADLINE, stalling.committed.notified())
        .await
        .unwrap();
    // The next is committed, not acked: kill the consumer there.
    let first = running.kill().await;
    assert!(
        kit.store
            .is_processed(
                kit.app,
                alter_bus::consumers::GRANT_REVOKER,
                target.event_id
            )
            .await
            .unwrap()
    );
    let user = kit.store.get_user(kit.app, ann).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Deprovisioned);

    // The restarted consumer gets the event again and finds it applied.
    let restarted = run(lifecycle_store(&kit.store), &bus).await;
    crate::support::wait_for(&restarted.tally, Outcome::Duplicate, 1).await;
    wait_settled(&kit.env.bus, Duration::from_secs(15)).await;
    let second = restarted.stop().await;
    assert_eq!(first.get(Outcome::Applied), 1, "the first event");
    assert_eq!(second.get(Outcome::Applied), 0, "nothing applied twice");

    assert_eq!(kit.outbox_rows("audit", target.event_id.as_uuid()).await, 1);
    for grant in &grants {
        assert_eq!(kit.outbox_rows("audit", grant.as_uuid()).await, 1);
        let stored = kit.store.get_grant(kit.app, *grant).await.unwrap().unwrap();
        assert_eq!(stored.revoked_by, Some(revocation_cause(&target)));
    }
    assert_eq!(outbox_count(&kit, "invalidation").await, 2);
    kit.finish().await;
}
