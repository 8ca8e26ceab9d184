//! How a sign-in step is refused: an HTTP status, a stable code and a message saying what
//! was wrong and what to do. Nothing is created by a refused step.

use axum::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] alter_runtime::HostError),
    #[error(transparent)]
    Connect(#[from] alter_runtime::ConnectError),
    #[error(transparent)]
    Verifier(#[from] alter_jwt_verifier::Error),
    #[error("configuration is invalid: {0}")]
    Config(String),
    #[error("the HTTP client for the identity provider could not be built: {0}")]
    HttpClient(#[source] alter_providers::ProviderError),
}

/// A refused sign-in step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    /// Stable, snake_case: `unknown_state`, `browser_mismatch`, `wrong_issuer`, …
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

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 503: a dependency (database, identity provider) failed; trying again may work.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    pub fn is_unavailable(&self) -> bool {
        self.status == StatusCode::SERVICE_UNAVAILABLE
    }
}

impl From<alter_store::StoreError> for Refusal {
    fn from(e: alter_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure during sign-in");
        Refusal::unavailable("the database could not be reached; nothing was changed, try again")
    }
}

/// The refusal of a Verify error met at sign-in (the ID token or its user).
pub(crate) fn from_verify(e: alter_jwt_verifier::VerifyError) -> Refusal {
    use alter_jwt_verifier::VerifyError as V;
    match &e {
        V::Unavailable(_) => Refusal::unavailable(format!("{e}; try again")),
        V::Refused { reason, .. } => {
            let code = match alter_jwt_verifier::reason_label(*reason) {
                "user_suspended" => "user_suspended",
                "user_deprovisioned" => "user_deprovisioned",
                "idp_unavailable" => {
                    return Refusal::unavailable(format!("{e}; try again"));
                }
                _ => "invalid_id_token",
            };
            let status = if code == "invalid_id_token" {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::FORBIDDEN
            };
            Refusal::new(status, code, e.to_string())
        }
        V::InvalidArgument { .. } => Refusal::bad_request("invalid_request", e.to_string()),
        V::NoIdentityProvider { .. } => {
            Refusal::new(StatusCode::NOT_FOUND, "no_identity_provider", e.to_string())
        }
    }
}
