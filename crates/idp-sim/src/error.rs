//! The simulator's one error type: what a caller of the handle or control API did wrong.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Errors returned by the Rust handle API and, as JSON, by the `/_control` HTTP API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No tenant with that name exists.
    #[error("tenant `{0}` does not exist: create it first (POST /_control/tenants)")]
    UnknownTenant(String),
    /// The tenant name is taken or malformed.
    #[error(
        "tenant name `{0}` is invalid or already used: use 1-63 chars [a-z0-9-], unique per simulator"
    )]
    BadTenantName(String),
    /// A user, group, key or client was not found.
    #[error("{what} `{id}` not found in tenant `{tenant}`")]
    NotFound {
        /// Tenant searched.
        tenant: String,
        /// Kind of object.
        what: &'static str,
        /// Id looked up.
        id: String,
    },
    /// A request field was invalid.
    #[error("field `{field}` is invalid: {reason}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// Why and what to do.
        reason: String,
    },
    /// Key generation or signing failed inside aws-lc-rs.
    #[error("crypto failure: {0}")]
    Crypto(String),
    /// Binding or serving failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl SimError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::UnknownTenant(_) | Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::BadTenantName(_) | Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Crypto(_) | Self::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.to_string() });
        (self.status(), axum::Json(body)).into_response()
    }
}
