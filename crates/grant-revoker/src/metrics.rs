//! What the revoker did, for `/metrics` and for tests:
//!
//! - `alter_revoker_events_total{kind, outcome}`: events by lifecycle kind (`user_deprovisioned`,
//!   …) and [`Outcome`];
//! - `alter_revoker_apply_seconds`: how long applying one event took (its transaction), failures
//!   included;
//! - `alter_revoker_lag_seconds`: now − the `occurred_at` of the event the revoker last took
//!   up (kept current while it retries one), 0 once nothing is in hand — how far behind the
//!   provider's clock the revoker is (runbook `revoker-lag.md`).
//!
//! [`Tally`] counts the same outcomes for one revoker instance (the metrics are process-wide).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use alter_core::LifecycleEvent;
use chrono::Utc;
use metrics::{Gauge, Histogram, counter, gauge, histogram};

/// How handling one delivery ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Applied and it changed something.
    Applied,
    /// Applied; the state already was what the event says (nothing written but the event ID).
    Unchanged,
    /// Already applied before (a redelivery, however late): nothing done.
    Duplicate,
    /// Older than the user's stored state: recorded, nothing changed.
    Stale,
    /// The event named a user or group never seen, who is now recorded (a tombstone).
    Tombstone,
    /// Applying failed (the database); the event is tried again.
    Failed,
    /// The event can never be applied (its app has no identity provider, …): terminated.
    Rejected,
}

impl Outcome {
    pub const ALL: [Outcome; 7] = [
        Outcome::Applied,
        Outcome::Unchanged,
        Outcome::Duplicate,
        Outcome::Stale,
        Outcome::Tombstone,
        Outcome::Failed,
        Outcome::Rejected,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Duplicate => "duplicate",
            Outcome::Stale => "stale",
            Outcome::Tombstone => "tombstone",
            Outcome::Failed => "failed",
            Outcome::Rejected => "rejected",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

/// Outcome counts of one revoker (cheap to clone; clones share the counts).
#[derive(Clone, Debug, Default)]
pub struct Tally {
    counts: Arc<[AtomicU64; Outcome::ALL.len()]>,
}

impl Tally {
    /// How many deliveries ended with `outcome` so far.
    pub fn get(&self, outcome: Outcome) -> u64 {
        self.counts
            .get(outcome.index())
            .map_or(0, |c| c.load(Ordering::Acquire))
    }

    fn bump(&self, outcome: Outcome) {
        if let Some(count) = self.counts.get(outcome.index()) {
            count.fetch_add(1, Ordering::AcqRel);
        }
    }
}

pub(crate) struct Metrics {
    apply_seconds: Histogram,
    lag_seconds: Gauge,
    /// Deliveries taken up and not yet settled; the lag reads 0 when none is.
    in_hand: AtomicUsize,
    tally: Tally,
}

/// One delivery in hand, from when a lane takes it up until it is settled (or dropped).
pub(crate) struct InHand<'a> {
    metrics: &'a Metrics,
}

impl Drop for InHand<'_> {
    fn drop(&mut self) {
        if self.metrics.in_hand.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.metrics.lag_seconds.set(0.0);
        }
    }
}

impl Metrics {
    pub(crate) fn new() -> Self {
        // Installs the process-wide recorder first, so the handles below are live.
        let _ = alter_telemetry::prometheus();
        Self {
            apply_seconds: histogram!("alter_revoker_apply_seconds"),
            lag_seconds: gauge!("alter_revoker_lag_seconds"),
            in_hand: AtomicUsize::new(0),
            tally: Tally::default(),
        }
    }

    pub(crate) fn tally(&self) -> Tally {
        self.tally.clone()
    }

    /// A lane took up `event`; the lag is its age until it is settled.
    pub(crate) fn in_hand(&self, event: &LifecycleEvent) -> InHand<'_> {
        self.in_hand.fetch_add(1, Ordering::AcqRel);
        self.lag(event);
        InHand { metrics: self }
    }

    /// One try of `event` ended with `outcome` after `elapsed` in the store.
    pub(crate) fn record(&self, event: &LifecycleEvent, outcome: Outcome, elapsed: Duration) {
        counter!(
            "alter_revoker_events_total",
            "kind" => event.kind.subject_token(),
            "outcome" => outcome.as_str()
        )
        .increment(1);
        self.apply_seconds.record(elapsed.as_secs_f64());
        self.tally.bump(outcome);
        self.lag(event);
    }

    /// Sets the lag from `event`'s time (also while it is being retried, so an outage shows).
    fn lag(&self, event: &LifecycleEvent) {
        let lag = (Utc::now() - event.occurred_at).as_seconds_f64().max(0.0);
        self.lag_seconds.set(lag);
    }
}
