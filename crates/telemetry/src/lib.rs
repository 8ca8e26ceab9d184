//! alter-telemetry
