//! The consumer loop: pulls lifecycle events from `ALTER_LIFECYCLE` (durable consumer
//! `grant-revoker`), applies each one with [`LifecycleStore::apply_lifecycle`] — the change,
//! its invalidation and audit records in one transaction — and acks it only after the commit.
//! A redelivery (a crash between commit and ack, a provider's retry days later) is then a
//! duplicate that changes nothing.
//!
//! Events are spread over lanes by the user or group they are about, so events about one
//! subject are applied one after the other in delivery order while others run alongside.
//! When the database fails, the lane keeps its event and tries again with a growing wait,
//! telling JetStream it is still at work so the event is neither redelivered nor counted
//! against its delivery limit; the lanes fill up and the stream is no longer read until the
//! database is back. An event that can never be applied is terminated and counted.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use alter_bus::consumers::GRANT_REVOKER;
use alter_bus::{BusError, Deliveries, Delivery, EventBus};
use alter_core::{LifecycleEvent, LifecycleKind};
use alter_runtime::CancellationToken;
use alter_store::{Applied, LifecycleChange, LifecycleStore, StoreError};
use futures::StreamExt;
use futures::future::join_all;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::config::Settings;
use crate::effects;
use crate::metrics::{Metrics, Outcome, Tally};

/// How long to wait before re-opening the consumer after its stream ended or failed to open.
const REOPEN_AFTER: Duration = Duration::from_millis(500);

/// Deliveries waiting per lane: a few, so a lane held up by the database stops the reading
/// of the stream quickly.
const LANE_QUEUE: usize = 4;

/// Applies lifecycle events from the bus; see the module docs.
pub struct Revoker {
    store: Arc<dyn LifecycleStore>,
    lanes: usize,
    retry_delay: Duration,
    max_retry_delay: Duration,
    metrics: Metrics,
}

impl std::fmt::Debug for Revoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revoker")
            .field("lanes", &self.lanes)
            .field("retry_delay", &self.retry_delay)
            .field("max_retry_delay", &self.max_retry_delay)
            .finish_non_exhaustive()
    }
}

/// Why a failed apply failed, which decides what happens to the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    /// The database is unreachable, overloaded or restarting, or the transaction lost a
    /// deadlock: the same event will apply once it is back. Kept and tried again.
    Transient,
    /// Something unforeseen: handed back for redelivery after a delay, so JetStream's
    /// delivery limit ends it if it never succeeds.
    Unexpected,
    /// The event can never apply as it is (its app or identity provider does not exist, a
    /// stored row is unreadable): terminated.
    Poison,
}

impl Revoker {
    /// A revoker applying events to `store`, with `settings`' lanes and retry waits.
    pub fn new(store: Arc<dyn LifecycleStore>, settings: &Settings) -> Self {
        Self {
            store,
            lanes: settings.lanes.max(1),
            retry_delay: settings.retry_delay(),
            max_retry_delay: settings.max_retry_delay(),
            metrics: Metrics::new(),
        }
    }

    /// This revoker's outcome counts.
    pub fn tally(&self) -> Tally {
        self.metrics.tally()
    }

    /// Opens the durable `grant-revoker` consumer; call it before [`run`](Self::run) so
    /// start-up fails when the consumer cannot be created.
    pub async fn open(bus: &dyn EventBus) -> Result<Deliveries<LifecycleEvent>, BusError> {
        bus.lifecycle_consumer(GRANT_REVOKER).await
    }

    /// Applies events from `first` until `shutdown`, re-opening the consumer whenever its
    /// stream ends. Events being applied when `shutdown` fires are finished and acked; those
    /// still waiting are handed back at once for another replica.
    pub async fn run(
        self,
        bus: Arc<dyn EventBus>,
        first: Deliveries<LifecycleEvent>,
        shutdown: CancellationToken,
    ) {
        let mut deliveries = Some(first);
        loop {
            if let Some(stream) = deliveries.take() {
                if self.drain(stream, &shutdown).await == Drained::Stopped {
                    return;
                }
                tracing::warn!("lifecycle consumer stream ended; re-opening it");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(REOPEN_AFTER) => {}
            }
            match Self::open(bus.as_ref()).await {
                Ok(stream) => deliveries = Some(stream),
                Err(error) => {
                    tracing::warn!(%error, "cannot open the lifecycle consumer; retrying");
                }
            }
        }
    }

    /// Reads `stream` into the lanes until it ends or `shutdown` fires, then lets the lanes
    /// finish.
    async fn drain(
        &self,
        stream: Deliveries<LifecycleEvent>,
        shutdown: &CancellationToken,
    ) -> Drained {
        let (senders, receivers): (Vec<_>, Vec<_>) =
            (0..self.lanes).map(|_| mpsc::channel(LANE_QUEUE)).unzip();
        let lanes = join_all(receivers.into_iter().map(|rx| self.lane(rx, shutdown)));
        let (drained, _) = tokio::join!(dispatch(stream, senders, shutdown), lanes);
        drained
    }

    /// Applies one lane's deliveries in order.
    async fn lane(
        &self,
        mut deliveries: mpsc::Receiver<Delivery<LifecycleEvent>>,
        shutdown: &CancellationToken,
    ) {
        while let Some(delivery) = deliveries.recv().await {
            if shutdown.is_cancelled() {
                hand_back(&delivery).await;
            } else {
                self.handle(&delivery, shutdown).await;
            }
        }
    }

    /// Applies one delivery and settles it: ack after the commit, keep and retry on a
    /// transient failure, nak an unexpected one, terminate a poison one.
    async fn handle(&self, delivery: &Delivery<LifecycleEvent>, shutdown: &CancellationToken) {
        use tracing::Instrument as _;
        // The event's trace continues here (its publisher's context came in the headers);
        // the transaction's outbox rows carry this span's context on to their consumers.
        let event = &delivery.event;
        let span = tracing::info_span!(
            "revoker.apply",
            event_id = %event.event_id,
            app_id = %event.app_id,
            kind = event.kind.subject_token(),
            delivery = delivery.delivery_count(),
        );
        alter_telemetry::trace::set_parent(&span, delivery.trace_context());
        self.handle_in_span(delivery, shutdown)
            .instrument(span)
            .await;
    }

    async fn handle_in_span(
        &self,
        delivery: &Delivery<LifecycleEvent>,
        shutdown: &CancellationToken,
    ) {
        let event = &delivery.event;
        let _in_hand = self.metrics.in_hand(event);
        let effects = |change: &LifecycleChange| effects::messages(event, change);
        let mut wait = self.retry_delay;
        loop {
            let started = Instant::now();
            let result = self
                .store
                .apply_lifecycle(event, GRANT_REVOKER, &effects)
                .await;
            let elapsed = started.elapsed();
            let error = match result {
                Ok(applied) => {
                    let outcome = outcome_of(&applied);
                    self.metrics.record(event, outcome, elapsed);
                    tracing::debug!(
                        event_id = %event.event_id,
                        app_id = %event.app_id,
                        kind = event.kind.subject_token(),
                        outcome = outcome.as_str(),
                        "lifecycle event handled"
                    );
                    if let Err(error) = delivery.ack().await {
                        // Applied already: the redelivery this causes is a duplicate.
                        tracing::warn!(event_id = %event.event_id, %error, "could not ack an applied lifecycle event");
                    }
                    return;
                }
                Err(error) => error,
            };
            match classify(&error) {
                Failure::Transient => {
                    self.metrics.record(event, Outcome::Failed, elapsed);
                    tracing::warn!(
                        event_id = %event.event_id,
                        app_id = %event.app_id,
                        %error,
                        retry_in_ms = wait.as_millis() as u64,
                        "cannot apply a lifecycle event now; keeping it and trying again"
                    );
                    // Keeps JetStream from redelivering it while this lane still holds it.
                    if let Err(error) = delivery.in_progress().await {
                        tracing::debug!(%error, "could not extend the ack wait");
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => {
                            settle(delivery.nak(Some(self.retry_delay)).await, event, "hand back");
                            return;
                        }
                        () = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(self.max_retry_delay);
                }
                Failure::Unexpected => {
                    self.metrics.record(event, Outcome::Failed, elapsed);
                    let delay = self.redelivery_delay(delivery.delivery_count());
                    tracing::error!(
                        event_id = %event.event_id,
                        app_id = %event.app_id,
                        delivery = delivery.delivery_count(),
                        %error,
                        retry_in_ms = delay.as_millis() as u64,
                        "could not apply a lifecycle event; it will be redelivered"
                    );
                    settle(delivery.nak(Some(delay)).await, event, "nak");
                    return;
                }
                Failure::Poison => {
                    self.metrics.record(event, Outcome::Rejected, elapsed);
                    tracing::error!(
                        event_id = %event.event_id,
                        app_id = %event.app_id,
                        kind = event.kind.subject_token(),
                        %error,
                        "dropping a lifecycle event that can never be applied"
                    );
                    settle(delivery.term().await, event, "terminate");
                    return;
                }
            }
        }
    }

    /// The wait before an unexpected failure's redelivery: doubles with each delivery.
    fn redelivery_delay(&self, delivery_count: u64) -> Duration {
        let doublings = u32::try_from(delivery_count.saturating_sub(1).min(16)).unwrap_or(16);
        self.retry_delay
            .saturating_mul(2_u32.saturating_pow(doublings))
            .min(self.max_retry_delay)
    }
}

/// Reads deliveries into the lanes by subject. Waits while a lane is full (the database is
/// slow or down): the stream is not read meanwhile.
async fn dispatch(
    mut stream: Deliveries<LifecycleEvent>,
    lanes: Vec<mpsc::Sender<Delivery<LifecycleEvent>>>,
    shutdown: &CancellationToken,
) -> Drained {
    loop {
        let delivery = tokio::select! {
            () = shutdown.cancelled() => return Drained::Stopped,
            item = stream.next() => match item {
                None => return Drained::Ended,
                Some(Err(error)) => {
                    tracing::warn!(%error, "skipping an unreadable lifecycle delivery");
                    continue;
                }
                Some(Ok(delivery)) => delivery,
            },
        };
        let Some(lane) = lanes.get(lane_of(&delivery.event, lanes.len())) else {
            hand_back(&delivery).await;
            return Drained::Stopped;
        };
        let permit = tokio::select! {
            () = shutdown.cancelled() => {
                hand_back(&delivery).await;
                return Drained::Stopped;
            }
            permit = lane.reserve() => permit,
        };
        match permit {
            Ok(permit) => permit.send(delivery),
            Err(_) => {
                hand_back(&delivery).await;
                return Drained::Stopped;
            }
        }
    }
}

/// The lane of an event: by app and the user (or, for a deleted group, the group) it is about.
fn lane_of(event: &LifecycleEvent, lanes: usize) -> usize {
    let mut hasher = DefaultHasher::new();
    event.app_id.hash(&mut hasher);
    match &event.kind {
        LifecycleKind::UserProvisioned { user, .. }
        | LifecycleKind::UserUpdated { user, .. }
        | LifecycleKind::UserSuspended { user }
        | LifecycleKind::UserReactivated { user }
        | LifecycleKind::UserDeprovisioned { user }
        | LifecycleKind::MembershipAdded { user, .. }
        | LifecycleKind::MembershipRemoved { user, .. } => {
            ("user", user.external_id.as_str()).hash(&mut hasher);
        }
        LifecycleKind::GroupDeleted { group } => ("group", group.as_str()).hash(&mut hasher),
    }
    let lanes = u64::try_from(lanes.max(1)).unwrap_or(1);
    usize::try_from(hasher.finish() % lanes).unwrap_or(0)
}

/// The metric outcome of an apply that succeeded.
fn outcome_of(applied: &Applied) -> Outcome {
    match applied {
        Applied::Duplicate => Outcome::Duplicate,
        Applied::Stale { .. } => Outcome::Stale,
        Applied::Done(change) if change.created_tombstone() => Outcome::Tombstone,
        Applied::Done(change) if change.is_empty() => Outcome::Unchanged,
        Applied::Done(_) => Outcome::Applied,
    }
}

/// What a failed apply means for its event.
fn classify(error: &StoreError) -> Failure {
    match error {
        StoreError::Database(error) => classify_database(error),
        StoreError::NotFound { .. }
        | StoreError::Invalid(_)
        | StoreError::Corrupt { .. }
        | StoreError::AlreadyExists { .. } => Failure::Poison,
        StoreError::Conflict { .. } | StoreError::Migrate(_) => Failure::Unexpected,
    }
}

fn classify_database(error: &sqlx::Error) -> Failure {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Failure::Transient,
        sqlx::Error::Database(db) => match db.code() {
            Some(code) if is_transient_sqlstate(&code) => Failure::Transient,
            _ => Failure::Unexpected,
        },
        _ => Failure::Unexpected,
    }
}

/// SQLSTATEs after which the same transaction succeeds later: connection exceptions (08),
/// serialization failures and deadlocks (40), insufficient resources (53), operator
/// intervention such as a server shutting down (57), system errors (58), a lock not available
/// (55P03) and a read-only transaction on a standby during fail-over (25006).
fn is_transient_sqlstate(code: &str) -> bool {
    matches!(code.get(..2), Some("08" | "40" | "53" | "57" | "58"))
        || code == "55P03"
        || code == "25006"
}

/// Hands a delivery back for immediate redelivery (to another replica, or this one later).
async fn hand_back(delivery: &Delivery<LifecycleEvent>) {
    settle(delivery.nak(None).await, &delivery.event, "hand back");
}

fn settle(result: Result<(), BusError>, event: &LifecycleEvent, what: &str) {
    if let Err(error) = result {
        // Unsettled, it is redelivered after the ack wait anyway.
        tracing::warn!(event_id = %event.event_id, %error, "could not {what} a lifecycle delivery");
    }
}

/// Why [`Revoker::drain`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drained {
    Stopped,
    Ended,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alter_core::{AppId, EventId, EventSource, ExternalGroupId, ExternalUserId, UserRef};
    use chrono::Utc;

    fn event(kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent {
            event_id: EventId::new(),
            provider_event_id: None,
            app_id: AppId::from_uuid(uuid::Uuid::from_u128(7)),
            source: EventSource::Webhook,
            occurred_at: Utc::now(),
            kind,
        }
    }

    fn user(id: &str) -> UserRef {
        UserRef {
            external_id: ExternalUserId::parse("sub", id).unwrap(),
            user_id: None,
        }
    }

    #[test]
    fn events_about_one_user_share_a_lane_whatever_their_kind() {
        let kinds = [
            LifecycleKind::UserSuspended { user: user("00u1") },
            LifecycleKind::UserReactivated { user: user("00u1") },
            LifecycleKind::UserDeprovisioned { user: user("00u1") },
            LifecycleKind::MembershipRemoved {
                user: user("00u1"),
                group: ExternalGroupId::parse("group", "00g1").unwrap(),
            },
        ];
        let lanes: Vec<usize> = kinds.into_iter().map(|k| lane_of(&event(k), 8)).collect();
        assert!(lanes.windows(2).all(|w| w[0] == w[1]), "{lanes:?}");
        assert!(lanes[0] < 8);
        // Many users spread over the lanes.
        let mut used = std::collections::HashSet::new();
        for i in 0..200 {
            used.insert(lane_of(
                &event(LifecycleKind::UserSuspended {
                    user: user(&format!("00u{i}")),
                }),
                8,
            ));
        }
        assert_eq!(used.len(), 8);
        assert_eq!(
            lane_of(&event(LifecycleKind::UserSuspended { user: user("x") }), 1),
            0
        );
    }

    #[test]
    fn database_outages_are_retried_and_impossible_events_are_poison() {
        for transient in [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::WorkerCrashed,
            sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)),
        ] {
            assert_eq!(
                classify(&StoreError::Database(transient)),
                Failure::Transient
            );
        }
        assert_eq!(
            classify(&StoreError::Database(sqlx::Error::RowNotFound)),
            Failure::Unexpected
        );
        assert_eq!(
            classify(&StoreError::NotFound {
                what: "identity provider of app x".into()
            }),
            Failure::Poison
        );
        assert_eq!(
            classify(&StoreError::Corrupt {
                what: "user status".into(),
                reason: "bad".into()
            }),
            Failure::Poison
        );
        assert_eq!(
            classify(&StoreError::Conflict {
                reason: "created concurrently".into()
            }),
            Failure::Unexpected
        );
        for code in [
            "08006", "40001", "40P01", "53300", "57P01", "58030", "55P03", "25006",
        ] {
            assert!(is_transient_sqlstate(code), "{code}");
        }
        for code in ["23505", "23503", "42501", "22P02", "XX000", ""] {
            assert!(!is_transient_sqlstate(code), "{code}");
        }
    }

    #[test]
    fn outcomes_say_what_an_apply_did() {
        use alter_store::{GroupChange, UserChange};
        assert_eq!(outcome_of(&Applied::Duplicate), Outcome::Duplicate);
        assert_eq!(
            outcome_of(&Applied::Stale {
                user_id: alter_core::UserId::new(),
                stored_version: 2,
                event_version: 1
            }),
            Outcome::Stale
        );
        assert_eq!(
            outcome_of(&Applied::Done(LifecycleChange::default())),
            Outcome::Unchanged
        );
        let user = UserChange {
            user_id: alter_core::UserId::new(),
            external_id: ExternalUserId::parse("sub", "u").unwrap(),
            previous_status: Some(alter_core::UserStatus::Active),
            status: alter_core::UserStatus::Suspended,
            state_version: 1,
            profile_changed: false,
            created: false,
        };
        assert_eq!(
            outcome_of(&Applied::Done(LifecycleChange {
                user: Some(user.clone()),
                ..LifecycleChange::default()
            })),
            Outcome::Applied
        );
        assert_eq!(
            outcome_of(&Applied::Done(LifecycleChange {
                group: Some(GroupChange {
                    group_id: alter_core::GroupId::new(),
                    external_id: ExternalGroupId::parse("group", "g").unwrap(),
                    created: true,
                    deleted: true,
                }),
                ..LifecycleChange::default()
            })),
            Outcome::Tombstone
        );
    }

    #[test]
    fn unexpected_failures_wait_longer_with_each_delivery_up_to_the_cap() {
        struct Nothing;
        #[async_trait::async_trait]
        impl LifecycleStore for Nothing {
            async fn apply_lifecycle(
                &self,
                _: &LifecycleEvent,
                _: &str,
                _: alter_store::Effects<'_, LifecycleChange>,
            ) -> alter_store::StoreResult<Applied> {
                Ok(Applied::Duplicate)
            }
        }
        let revoker = Revoker::new(
            Arc::new(Nothing),
            &Settings {
                retry_delay_ms: 100,
                max_retry_delay_ms: 1_000,
                ..Settings::default()
            },
        );
        let delays: Vec<u128> = [1, 2, 3, 4, 5, 100]
            .into_iter()
            .map(|n| revoker.redelivery_delay(n).as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1_000, 1_000]);
    }
}
