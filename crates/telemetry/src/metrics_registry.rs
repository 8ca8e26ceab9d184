//! One Prometheus recorder per process, installed here and nowhere else. Several services may
//! run in one process (`alter serve`, tests); they share it and tell their series apart by
//! their metric names.

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// Histogram buckets in seconds, from 50 µs (a warm verify) to 10 s.
const BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process-wide Prometheus handle, installing the global recorder on first use.
///
/// This is the only place in the workspace that installs a `metrics` recorder: every service
/// calls it before it creates metric handles (a handle made before any recorder exists records
/// nothing), and the admin port renders `/metrics` from the handle it returns.
pub fn prometheus() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        if let Err(error) = metrics::set_global_recorder(recorder) {
            // Only possible when code outside this function installed a recorder first, which
            // the guard test below forbids; /metrics would then render an empty registry.
            tracing::error!(%error, "another metrics recorder was installed first; /metrics will be empty");
        }
        handle
    })
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    #[test]
    fn counters_show_up_in_the_rendered_registry() {
        let handle = super::prometheus();
        metrics::counter!("alter_telemetry_selftest_total").increment(3);
        let text = handle.render();
        assert!(text.contains("alter_telemetry_selftest_total 3"), "{text}");
    }

    fn rust_and_manifest_files(dir: &Path, found: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() {
                if name != "target" && !name.to_string_lossy().starts_with('.') {
                    rust_and_manifest_files(&path, found);
                }
            } else if path.extension().is_some_and(|e| e == "rs") || name == "Cargo.toml" {
                found.push(path);
            }
        }
    }

    /// Two recorders cannot both be global: a second install point would leave one of them
    /// (and the series its services record) silently empty.
    #[test]
    fn no_other_code_installs_a_metrics_recorder() {
        let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = crate_dir.join("../..");
        let mut files = Vec::new();
        for dir in ["crates", "tests"] {
            rust_and_manifest_files(&root.join(dir), &mut files);
        }
        assert!(
            files.len() > 50,
            "found only {} files under {root:?}",
            files.len()
        );
        let installs = [
            "set_global_recorder",
            "set_boxed_recorder",
            "install_recorder",
            "with_local_recorder",
            "PrometheusBuilder",
            "metrics-exporter-prometheus",
            "metrics_exporter_prometheus",
        ];
        let allowed: Vec<PathBuf> = ["src/metrics_registry.rs", "Cargo.toml"]
            .iter()
            .map(|f| crate_dir.join(f).canonicalize().unwrap())
            .collect();
        let mut offenders = Vec::new();
        for file in files {
            let file = file.canonicalize().unwrap_or(file);
            if allowed.contains(&file) {
                continue;
            }
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            for needle in installs.iter().filter(|n| text.contains(*n)) {
                offenders.push(format!("{} uses {needle}", file.display()));
            }
        }
        assert!(
            offenders.is_empty(),
            "install metrics only through alter_telemetry::prometheus(): {offenders:#?}"
        );
    }
}
