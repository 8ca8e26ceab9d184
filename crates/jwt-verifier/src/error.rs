//! Why `jwt-verifier` could not start, and why a Verify call was refused, with the one
//! conversion of a refusal into a `tonic::Status` callers can read by machine.

use alter_proto::identity::v1::{RefusalDetail, RefusalReason};
use prost::Message;
use tonic::metadata::MetadataValue;

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] alter_runtime::HostError),
    #[error(transparent)]
    Connect(#[from] alter_runtime::ConnectError),
    #[error("cannot build the HTTP client for JWKS fetches: {0}")]
    HttpClient(String),
}

/// The metadata key carrying the refusal reason in lower snake case (`expired`,
/// `wrong_issuer`, …), for clients that do not decode the status details.
pub const REFUSAL_METADATA_KEY: &str = "x-alter-refusal";

/// Why a Verify call did not answer a user.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// A request field is malformed (e.g. `app_id` is not a UUID, `token` is empty).
    #[error("{field} {message}")]
    InvalidArgument {
        field: &'static str,
        message: String,
    },
    /// The app does not exist or has no identity provider.
    #[error(
        "app_id {app_id} has no identity provider configured: add one with `alter idp create` (config-api) before verifying its tokens"
    )]
    NoIdentityProvider { app_id: String },
    /// The token was refused (R-JWT-01..05, or its claims could not be read).
    #[error("{message}")]
    Unauthenticated {
        reason: RefusalReason,
        message: String,
    },
    /// The token is valid but the user may not sign in (R-JWT-08).
    #[error("{message}")]
    PermissionDenied {
        reason: RefusalReason,
        message: String,
    },
    /// A dependency (database, bus) failed; retrying may help.
    #[error("{0}; retry shortly")]
    Unavailable(String),
}

impl VerifyError {
    /// The machine-readable reason, when the call was refused rather than failed.
    pub fn reason(&self) -> Option<RefusalReason> {
        match self {
            VerifyError::Unauthenticated { reason, .. }
            | VerifyError::PermissionDenied { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The outcome label for `alter_verify_total{outcome}`.
    pub(crate) fn outcome(&self) -> &'static str {
        match self {
            VerifyError::InvalidArgument { .. } => "invalid_argument",
            VerifyError::NoIdentityProvider { .. } => "not_found",
            VerifyError::Unauthenticated { .. } => "unauthenticated",
            VerifyError::PermissionDenied { .. } => "permission_denied",
            VerifyError::Unavailable(_) => "unavailable",
        }
    }
}

impl From<alter_store::StoreError> for VerifyError {
    fn from(e: alter_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure during verify");
        VerifyError::Unavailable("the user directory could not be read or written".to_owned())
    }
}

/// `expired` for `REFUSAL_REASON_EXPIRED`: the reason as the metadata value.
pub fn reason_label(reason: RefusalReason) -> String {
    reason
        .as_str_name()
        .trim_start_matches("REFUSAL_REASON_")
        .to_ascii_lowercase()
}

impl From<VerifyError> for tonic::Status {
    fn from(e: VerifyError) -> Self {
        let message = e.to_string();
        let (code, reason) = match &e {
            VerifyError::InvalidArgument { .. } => (tonic::Code::InvalidArgument, None),
            VerifyError::NoIdentityProvider { .. } => (tonic::Code::NotFound, None),
            VerifyError::Unauthenticated { reason, .. } => {
                (tonic::Code::Unauthenticated, Some(*reason))
            }
            VerifyError::PermissionDenied { reason, .. } => {
                (tonic::Code::PermissionDenied, Some(*reason))
            }
            VerifyError::Unavailable(_) => (tonic::Code::Unavailable, None),
        };
        let Some(reason) = reason else {
            return tonic::Status::new(code, message);
        };
        let detail = RefusalDetail {
            reason: reason as i32,
            message: message.clone(),
        };
        let mut status = tonic::Status::with_details(code, message, detail.encode_to_vec().into());
        if let Ok(value) = MetadataValue::try_from(reason_label(reason)) {
            status.metadata_mut().insert(REFUSAL_METADATA_KEY, value);
        }
        status
    }
}

/// The refusal carried by a status from Verify: the decoded details, if any.
pub fn refusal_of(status: &tonic::Status) -> Option<RefusalDetail> {
    RefusalDetail::decode(status.details())
        .ok()
        .filter(|d| d.reason != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_reason_in_details_and_metadata() {
        let status = tonic::Status::from(VerifyError::Unauthenticated {
            reason: RefusalReason::Expired,
            message: "token expired at 1".to_owned(),
        });
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
        assert_eq!(
            refusal_of(&status).map(|d| d.reason()),
            Some(RefusalReason::Expired)
        );
        assert_eq!(
            status
                .metadata()
                .get(REFUSAL_METADATA_KEY)
                .and_then(|v| v.to_str().ok()),
            Some("expired")
        );
        assert_eq!(
            reason_label(RefusalReason::AlgorithmNotAllowed),
            "algorithm_not_allowed"
        );
    }

    #[test]
    fn argument_errors_name_the_field_and_carry_no_refusal() {
        let status = tonic::Status::from(VerifyError::InvalidArgument {
            field: "app_id",
            message: "must be a UUID".to_owned(),
        });
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().starts_with("app_id "));
        assert!(refusal_of(&status).is_none());
    }
}
