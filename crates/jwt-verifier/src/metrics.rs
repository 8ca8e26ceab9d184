//! The verifier's metrics, registered once so the hot path only bumps atomics:
//! `alter_verify_total{outcome}`, `alter_verify_cache_total{cache,result}`,
//! `alter_verify_seconds`, `alter_verify_refusals_total{reason}`.

use std::time::Duration;

use metrics::{Counter, Histogram, counter, histogram};

use crate::error::{VerifyError, reason_label};

pub(crate) struct Metrics {
    ok: Counter,
    pub(crate) token_hit: Counter,
    pub(crate) token_miss: Counter,
    pub(crate) user_hit: Counter,
    pub(crate) user_miss: Counter,
    pub(crate) idp_hit: Counter,
    pub(crate) idp_miss: Counter,
    seconds: Histogram,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        // Installs the process-wide recorder first, so the handles below are live.
        let _ = alter_telemetry::prometheus();
        let cache = |cache: &'static str, result: &'static str| counter!("alter_verify_cache_total", "cache" => cache, "result" => result);
        Self {
            ok: counter!("alter_verify_total", "outcome" => "ok"),
            token_hit: cache("token", "hit"),
            token_miss: cache("token", "miss"),
            user_hit: cache("user", "hit"),
            user_miss: cache("user", "miss"),
            idp_hit: cache("idp", "hit"),
            idp_miss: cache("idp", "miss"),
            seconds: histogram!("alter_verify_seconds"),
        }
    }

    pub(crate) fn record<T>(&self, result: &Result<T, VerifyError>, elapsed: Duration) {
        self.seconds.record(elapsed.as_secs_f64());
        match result {
            Ok(_) => self.ok.increment(1),
            Err(error) => {
                counter!("alter_verify_total", "outcome" => error.outcome()).increment(1);
                if let Some(reason) = error.reason() {
                    counter!("alter_verify_refusals_total", "reason" => reason_label(reason))
                        .increment(1);
                }
            }
        }
    }
}
