//! Why `webhook-ingest` could not start, and how a refused delivery is answered: a status
//! and a JSON body `{"error": "<code>", "message": "<what was wrong and what to do>"}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] alter_runtime::HostError),
    #[error(transparent)]
    Connect(#[from] alter_runtime::ConnectError),
}

/// A delivery answered with anything but 2xx. Nothing was changed by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 404: no such endpoint (an unknown or malformed IDP ID, or an unknown path).
    pub fn unknown_endpoint() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "unknown_endpoint",
            "no webhook endpoint here: the URL must be <base>/v1/webhooks/<idp_id> exactly as `alter webhooks status` prints it",
        )
    }

    /// 503: a dependency failed; the provider should retry (nothing was acknowledged).
    pub fn unavailable(what: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{what}; nothing was accepted, retry the delivery"),
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}
