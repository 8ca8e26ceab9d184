//! `alter_audit_records_total{outcome=appended|duplicate|failed}`: records written, records
//! dropped as already recorded (R-AUD-02), and records not written (redelivered or dropped).
//! `alter_audit_lag_seconds`: for each record appended, how long after its change (the
//! event's `occurred_at`) it reached the trail — outbox, NATS and batching together.

use metrics::{Counter, Histogram, counter, histogram};

pub(crate) struct Metrics {
    pub(crate) appended: Counter,
    pub(crate) duplicate: Counter,
    pub(crate) failed: Counter,
    pub(crate) lag_seconds: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        // Installs the process-wide recorder first, so the handles below are live.
        let _ = alter_telemetry::prometheus();
        let records =
            |outcome: &'static str| counter!("alter_audit_records_total", "outcome" => outcome);
        Self {
            appended: records("appended"),
            duplicate: records("duplicate"),
            failed: records("failed"),
            lag_seconds: histogram!("alter_audit_lag_seconds"),
        }
    }
}
