//! One Prometheus recorder per process. Several services may run in one process (`alter dev`,
//! tests); they share it and tell their series apart by their metric names.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus handle, installing the recorder on first use.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05,
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Fails only when another recorder was installed first; then our handle renders an
        // empty registry, which the /metrics test would catch.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_show_up_in_the_rendered_registry() {
        let handle = super::prometheus();
        metrics::counter!("alter_telemetry_selftest_total").increment(3);
        let text = handle.render();
        assert!(text.contains("alter_telemetry_selftest_total 3"), "{text}");
    }
}
