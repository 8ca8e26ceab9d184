//! The admin endpoints every service serves on its admin port.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::readiness::Readiness;

#[derive(Clone)]
struct AdminState {
    service: &'static str,
    readiness: Readiness,
}

/// `/healthz` (the process is alive), `/readyz` (its dependencies answer) and `/metrics`
/// (Prometheus text format).
pub fn admin_router(service: &'static str, readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(AdminState { service, readiness })
}

async fn healthz(State(state): State<AdminState>) -> impl IntoResponse {
    Json(serde_json::json!({ "status": "ok", "service": state.service }))
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    let failures = state.readiness.failures().await;
    if failures.is_empty() {
        (
            StatusCode::OK,
            Json(serde_json::json!({ "status": "ready", "service": state.service })),
        )
    } else {
        let failing: serde_json::Map<String, serde_json::Value> = failures
            .into_iter()
            .map(|(name, err)| (name.to_owned(), err.into()))
            .collect();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(
                serde_json::json!({ "status": "not ready", "service": state.service, "failing": failing }),
            ),
        )
    }
}

async fn metrics() -> impl IntoResponse {
    let handle = alter_telemetry::prometheus();
    handle.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle.render(),
    )
}
