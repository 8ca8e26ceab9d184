//! Logs, traces and metrics for every service: JSON logs through `tracing`, OTLP trace export
//! when an endpoint is configured, W3C trace-context propagation, and one process-wide
//! Prometheus registry rendered on each service's `/metrics`.

mod logging;
mod metrics_registry;
pub mod trace;

pub use logging::{HOT_TARGET, TelemetryError, TelemetryGuard, init, init_with_provider};
pub use metrics_registry::prometheus;
