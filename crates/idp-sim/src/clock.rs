//! Simulated wall clock: real time plus a test-controlled offset, so token lifetimes,
//! rate-limit resets and webhook timestamps can be moved forward without sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

/// Wall clock with an adjustable offset in milliseconds.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Current simulated time in milliseconds since the Unix epoch.
    pub(crate) fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.offset_ms.load(Ordering::SeqCst)
    }

    /// Current simulated time in whole seconds since the Unix epoch.
    pub(crate) fn now_s(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Moves the clock forward (or back, if negative).
    pub(crate) fn advance_ms(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

/// ISO-8601 UTC with milliseconds and `Z`, as Auth0 and Okta write timestamps.
pub(crate) fn iso_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Parses an ISO-8601 timestamp to epoch milliseconds.
pub(crate) fn parse_iso_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.timestamp_millis())
}
