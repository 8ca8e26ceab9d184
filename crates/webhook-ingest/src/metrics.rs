//! `alter_webhook_events_total{provider,event_type,outcome}` (what became of each event),
//! `alter_webhook_refusals_total{provider,reason}` (deliveries refused as a whole) and
//! `alter_webhook_log_failures_total`.

use alter_store::DeliveryOutcome;
use metrics::{Counter, counter};

pub struct Metrics {
    pub log_failures: Counter,
}

impl Metrics {
    pub fn new() -> Self {
        // Installs the process-wide recorder first, so the handles below are live.
        let _ = alter_telemetry::prometheus();
        Self {
            log_failures: counter!("alter_webhook_log_failures_total"),
        }
    }

    pub fn event(&self, provider: &'static str, event_type: &str, outcome: DeliveryOutcome) {
        // Event types are the providers' fixed vocabularies; cap odd ones to keep labels few.
        let event_type = if event_type.len() <= 64 {
            event_type.to_owned()
        } else {
            "other".to_owned()
        };
        counter!("alter_webhook_events_total", "provider" => provider, "event_type" => event_type, "outcome" => outcome.as_str())
            .increment(1);
    }

    pub fn refused(&self, provider: &'static str, reason: &'static str) {
        counter!("alter_webhook_refusals_total", "provider" => provider, "reason" => reason)
            .increment(1);
    }
}
