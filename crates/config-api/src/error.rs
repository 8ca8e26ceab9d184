//! Why `config-api` could not start, and why an admin call failed: one enum, one conversion
//! to `tonic::Status`, so every caller-visible message names the field or thing and the fix.

use alter_config::ConfigIssue;
use alter_core::FieldError;
use alter_store::StoreError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] alter_runtime::HostError),
    #[error(transparent)]
    Connect(#[from] alter_runtime::ConnectError),
    /// The configuration given to `Application::build` is invalid.
    #[error("configuration is invalid: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Config(Vec<ConfigIssue>),
    /// The outbound HTTP client for discovery could not be built.
    #[error("the HTTP client for OIDC discovery could not be built: {0}")]
    HttpClient(#[source] alter_providers::ProviderError),

    /// No or a wrong admin bearer token.
    #[error("{0}")]
    Unauthenticated(String),
    /// A request field is invalid; the message names it and the fix.
    #[error("{0}")]
    Invalid(#[from] FieldError),
    /// The thing asked for is not in this app; the message names it and how to find it.
    #[error("{0}")]
    NotFound(String),
    /// Creating it would break a uniqueness rule (R-CFG-01).
    #[error("{0}")]
    AlreadyExists(String),
    /// Well-formed but not allowed in the current state (locked mappings, ineligible IDP).
    #[error("{0}")]
    FailedPrecondition(String),
    /// OIDC discovery of the issuer failed (R-CFG-03); nothing was saved.
    #[error(transparent)]
    Discovery(#[from] alter_providers::DiscoveryError),
    /// An outside dependency (the identity provider) could not be reached; retry.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cache invalidation could not be published: {0}")]
    Bus(#[from] alter_bus::BusError),
    #[error("the audit record could not be queued: {0}")]
    Audit(alter_bus::BusError),
}

impl Error {
    /// The gRPC code this error is answered with.
    pub fn code(&self) -> Code {
        use alter_providers::DiscoveryError as D;
        match self {
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::Invalid(_) => Code::InvalidArgument,
            Error::NotFound(_) => Code::NotFound,
            Error::AlreadyExists(_) => Code::AlreadyExists,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::Unavailable(_) => Code::Unavailable,
            Error::Discovery(D::IssuerMismatch { .. }) => Code::InvalidArgument,
            Error::Discovery(_) => Code::FailedPrecondition,
            Error::Store(StoreError::NotFound { .. }) => Code::NotFound,
            Error::Store(StoreError::AlreadyExists { .. }) => Code::AlreadyExists,
            Error::Store(StoreError::Conflict { .. }) => Code::FailedPrecondition,
            Error::Store(StoreError::Invalid(_)) => Code::InvalidArgument,
            Error::Store(_) | Error::Bus(_) | Error::Audit(_) => Code::Unavailable,
            Error::Host(_) | Error::Connect(_) | Error::Config(_) | Error::HttpClient(_) => {
                Code::Internal
            }
        }
    }

    /// The request field at fault, with why, when the error is about one field.
    fn field_violation(&self) -> Option<(String, String)> {
        match self {
            Error::Invalid(e) | Error::Store(StoreError::Invalid(e)) => {
                Some((e.field.clone(), e.message.clone()))
            }
            Error::Discovery(e @ alter_providers::DiscoveryError::IssuerMismatch { .. }) => {
                Some(("issuer".to_owned(), e.to_string()))
            }
            _ => None,
        }
    }
}

/// Every error in the standard gRPC error model (R-JWT-12's rule, applied to the admin API
/// too): an invalid argument carries a `google.rpc.BadRequest` in `grpc-status-details-bin`
/// whose field violation names the request field and says why, so a client can point at it.
impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = error.code();
        let message = match &error {
            // Infrastructure details stay in the log; the caller learns what to do.
            Error::Store(
                StoreError::Database(_) | StoreError::Migrate(_) | StoreError::Corrupt { .. },
            ) => {
                tracing::error!(error = %error, "admin call failed on the database");
                "the database could not answer; try again, and check config-api's log if it persists".to_owned()
            }
            Error::Audit(_) => {
                tracing::error!(error = %error, "admin call could not queue its audit record");
                "the change was saved but its audit record could not be queued; retry the call (it is idempotent)".to_owned()
            }
            Error::Bus(_) => {
                tracing::error!(error = %error, "admin call could not publish an invalidation");
                "the change was saved but verifier caches could not be told; retry the call or restart the verifiers".to_owned()
            }
            _ => error.to_string(),
        };
        match error.field_violation() {
            Some((field, description)) if code == Code::InvalidArgument => {
                Status::with_error_details(
                    code,
                    message,
                    ErrorDetails::with_bad_request_violation(field, description),
                )
            }
            _ => Status::new(code, message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_are_invalid_argument_naming_the_field() {
        let status = Status::from(Error::from(FieldError::new(
            "audience",
            "is required: give it",
        )));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "audience is required: give it");
        let violations = status
            .get_details_bad_request()
            .map(|b| b.field_violations)
            .unwrap_or_default();
        assert_eq!(violations.len(), 1);
        assert_eq!(violations[0].field, "audience");
        assert_eq!(violations[0].description, "is required: give it");
    }

    #[test]
    fn errors_about_no_single_field_carry_no_bad_request() {
        let s = Status::from(Error::NotFound("app 1 was not found".into()));
        assert_eq!(s.code(), Code::NotFound);
        assert!(s.get_details_bad_request().is_none());
        let s = Status::from(Error::Discovery(
            alter_providers::DiscoveryError::IssuerMismatch {
                configured: "https://a.test".into(),
                found: "https://a.test/".into(),
            },
        ));
        assert_eq!(s.code(), Code::InvalidArgument);
        let violations = s.get_details_bad_request().unwrap().field_violations;
        assert_eq!(violations[0].field, "issuer");
        assert!(violations[0].description.contains("https://a.test/"));
    }

    #[test]
    fn store_errors_keep_their_meaning() {
        let s = Status::from(Error::from(StoreError::Conflict {
            reason: "locked".into(),
        }));
        assert_eq!(
            (s.code(), s.message()),
            (Code::FailedPrecondition, "locked")
        );
        let s = Status::from(Error::from(StoreError::NotFound {
            what: "grant 1".into(),
        }));
        assert_eq!(s.code(), Code::NotFound);
        assert!(
            s.message().starts_with("grant 1 was not found"),
            "{}",
            s.message()
        );
    }
}
