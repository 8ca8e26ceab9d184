//! `alter_audit_records_total{outcome=appended|duplicate|failed}`: records written, records
//! dropped as already recorded (R-AUD-02), and records not written (redelivered or dropped).

use metrics::{Counter, counter};

pub(crate) struct Metrics {
    pub(crate) appended: Counter,
    pub(crate) duplicate: Counter,
    pub(crate) failed: Counter,
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
        }
    }
}
