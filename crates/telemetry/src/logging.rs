//! Structured logging and tracing setup. Safe to call more than once per process (tests and
//! `alter dev` start several services): only the first call installs the subscriber.

use alter_config::{LogFormat, TelemetrySettings};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::sync::OnceLock;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error(
        "telemetry.log_level {0:?} is not a valid filter directive: {1} (use e.g. \"info\" or \"info,alter_jwt_verifier=debug\")"
    )]
    Filter(String, #[source] tracing_subscriber::filter::ParseError),
    #[error("telemetry.otlp_endpoint could not be used: {0}")]
    Otlp(#[source] opentelemetry_otlp::ExporterBuildError),
}

/// Flushes and shuts down trace export when dropped.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            let _ = provider.shutdown();
        }
    }
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// The `tracing` target of spans on hot paths, exported as traces but never logged.
pub const HOT_TARGET: &str = "alter_hot";

fn with_directive(level: &str, directive: &str) -> Result<EnvFilter, TelemetryError> {
    let combined = format!("{level},{directive}");
    EnvFilter::try_new(&combined).map_err(|e| TelemetryError::Filter(level.to_owned(), e))
}

/// Installs the global subscriber for `service` (JSON or pretty logs, optional OTLP traces)
/// and the W3C trace-context propagator.
pub fn init(
    service: &'static str,
    settings: &TelemetrySettings,
) -> Result<TelemetryGuard, TelemetryError> {
    let provider = match &settings.otlp_endpoint {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(endpoint.clone())
                .build()
                .map_err(TelemetryError::Otlp)?;
            Some(
                SdkTracerProvider::builder()
                    .with_batch_exporter(exporter)
                    .with_resource(
                        opentelemetry_sdk::Resource::builder()
                            .with_service_name(service)
                            .build(),
                    )
                    .build(),
            )
        }
        None => None,
    };
    install(service, settings, provider)
}

/// [`init`] with spans exported through `provider` instead of OTLP (tests use an in-memory
/// exporter; an embedding program its own pipeline).
pub fn init_with_provider(
    service: &'static str,
    settings: &TelemetrySettings,
    provider: SdkTracerProvider,
) -> Result<TelemetryGuard, TelemetryError> {
    install(service, settings, Some(provider))
}

/// What traces export: Alter's own spans at `info` (hot-path ones included), others' from
/// `warn` up. Independent of `telemetry.log_level`, which is about logs.
const TRACE_FILTER: &str = "warn,alter=info";

fn install(
    service: &'static str,
    settings: &TelemetrySettings,
    provider: Option<SdkTracerProvider>,
) -> Result<TelemetryGuard, TelemetryError> {
    // Hot-path spans (target `alter_hot`: Verify) go to traces only, never to logs, so they
    // cost nothing unless traces are exported.
    let log_filter = with_directive(&settings.log_level, &format!("{HOT_TARGET}=off"))?;
    if INSTALLED.get().is_some() {
        return Ok(TelemetryGuard::default());
    }
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );

    let mut guard = TelemetryGuard::default();
    let otel_layer = match provider {
        Some(provider) => {
            let tracer = provider.tracer(service);
            opentelemetry::global::set_tracer_provider(provider.clone());
            guard.provider = Some(provider);
            Some(
                tracing_opentelemetry::layer()
                    .with_tracer(tracer)
                    .with_filter(EnvFilter::new(TRACE_FILTER)),
            )
        }
        None => None,
    };

    let fmt_layer = match settings.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .boxed(),
    };

    let installed = tracing_subscriber::registry()
        .with(fmt_layer.with_filter(log_filter))
        .with(otel_layer)
        .try_init();
    if installed.is_ok() {
        let _ = INSTALLED.set(());
    }
    Ok(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_filter_names_the_key() {
        let settings = TelemetrySettings {
            log_level: "info,[".into(),
            ..Default::default()
        };
        let err = init("test", &settings).unwrap_err();
        assert!(err.to_string().contains("telemetry.log_level"), "{err}");
    }
}
