//! Why `jwt-verifier` could not start, and why a Verify call was refused, with the one
//! conversion of a refusal into a `tonic::Status` in the standard gRPC error model
//! (R-JWT-12), so any gRPC client library can read it by machine.

use alter_proto::identity::v1::{RefusalDetail, RefusalReason};
use alter_providers::Refusal;
use prost::Message;
use tonic::metadata::MetadataValue;
use tonic_types::{ErrorDetails, StatusExt};

/// Why the service could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Host(#[from] alter_runtime::HostError),
    #[error(transparent)]
    Connect(#[from] alter_runtime::ConnectError),
    #[error("cannot build the HTTP client for JWKS fetches: {0}")]
    HttpClient(#[source] alter_providers::ProviderError),
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
    /// The call was refused for a machine-readable reason: a token refused (R-JWT-01..05),
    /// claims that cannot be read, a user who may not sign in (R-JWT-08), or an identity
    /// provider whose keys cannot be had (R-JWT-11). The gRPC code comes from `REFUSALS`.
    #[error("{message}")]
    Refused {
        reason: RefusalReason,
        message: String,
    },
    /// A dependency (database, bus) failed; retrying may help.
    #[error("{0}; retry shortly")]
    Unavailable(String),
}

/// One refusal Verify can answer with: its wire reason, its label (the `x-alter-refusal`
/// metadata value and the `reason` of `alter_verify_refusals_total`), its gRPC code, and
/// the token refusal of `alter-providers` it stands for, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RefusalKind {
    pub(crate) reason: RefusalReason,
    pub(crate) label: &'static str,
    pub(crate) code: tonic::Code,
    pub(crate) refusal: Option<Refusal>,
}

impl RefusalKind {
    /// A token refusal: its label is the provider's spelling, [`Refusal::as_str`].
    const fn token(refusal: Refusal, reason: RefusalReason, code: tonic::Code) -> Self {
        Self {
            reason,
            label: refusal.as_str(),
            code,
            refusal: Some(refusal),
        }
    }

    /// A refusal of the user rather than the token (R-JWT-08).
    const fn user(label: &'static str, reason: RefusalReason) -> Self {
        Self {
            reason,
            label,
            code: tonic::Code::PermissionDenied,
            refusal: None,
        }
    }

    /// The entry for a wire reason (`None` only for `REFUSAL_REASON_UNSPECIFIED`).
    pub(crate) fn of_reason(reason: RefusalReason) -> Option<&'static RefusalKind> {
        REFUSALS.iter().find(|k| k.reason == reason)
    }

    /// The entry for a token refusal of `alter-providers`.
    pub(crate) fn of_refusal(refusal: Refusal) -> Option<&'static RefusalKind> {
        REFUSALS.iter().find(|k| k.refusal == Some(refusal))
    }
}

/// The one table of refusals: every reason Verify refuses with, and what it is called and
/// answered with. Everything else (the provider-to-wire mapping, the metadata, the metric
/// label, the gRPC code) is read from here; tests check it covers every `RefusalReason`
/// and every [`Refusal`] exactly once.
pub(crate) const REFUSALS: [RefusalKind; 15] = {
    use RefusalReason as R;
    use tonic::Code::Unauthenticated;
    [
        RefusalKind::token(Refusal::Expired, R::Expired, Unauthenticated),
        RefusalKind::token(Refusal::NotYetValid, R::NotYetValid, Unauthenticated),
        RefusalKind::token(Refusal::BadSignature, R::BadSignature, Unauthenticated),
        RefusalKind::token(Refusal::UnknownKid, R::UnknownKid, Unauthenticated),
        RefusalKind::token(Refusal::WrongIssuer, R::WrongIssuer, Unauthenticated),
        RefusalKind::token(Refusal::WrongAudience, R::WrongAudience, Unauthenticated),
        RefusalKind::token(
            Refusal::AlgorithmNotAllowed,
            R::AlgorithmNotAllowed,
            Unauthenticated,
        ),
        RefusalKind::token(Refusal::Malformed, R::Malformed, Unauthenticated),
        RefusalKind::token(Refusal::MissingClaim, R::MissingClaim, Unauthenticated),
        // R-JWT-11: an outage of the IDP's JWKS is retryable, never a bad token.
        RefusalKind::token(
            Refusal::IdpUnavailable,
            R::IdpUnavailable,
            tonic::Code::Unavailable,
        ),
        // R-OIDC-01: ID tokens of a sign-in only.
        RefusalKind::token(Refusal::WrongNonce, R::WrongNonce, Unauthenticated),
        RefusalKind::token(
            Refusal::WrongAuthorizedParty,
            R::WrongAuthorizedParty,
            Unauthenticated,
        ),
        RefusalKind::token(
            Refusal::AccessTokenHashMismatch,
            R::AccessTokenHashMismatch,
            Unauthenticated,
        ),
        RefusalKind::user("user_suspended", R::UserSuspended),
        RefusalKind::user("user_deprovisioned", R::UserDeprovisioned),
    ]
};

impl VerifyError {
    /// A refusal for a token refused by `alter-providers`, with the provider's message.
    pub fn refused(refusal: Refusal, message: impl Into<String>) -> Self {
        let reason = RefusalKind::of_refusal(refusal).map_or_else(
            || {
                tracing::error!(?refusal, "token refusal missing from the refusal table");
                RefusalReason::Malformed
            },
            |kind| kind.reason,
        );
        VerifyError::Refused {
            reason,
            message: message.into(),
        }
    }

    /// The machine-readable reason, when the call was refused rather than failed.
    pub fn reason(&self) -> Option<RefusalReason> {
        match self {
            VerifyError::Refused { reason, .. } => Some(*reason),
            _ => None,
        }
    }

    /// The gRPC code this error is answered with.
    pub fn code(&self) -> tonic::Code {
        match self {
            VerifyError::InvalidArgument { .. } => tonic::Code::InvalidArgument,
            VerifyError::NoIdentityProvider { .. } => tonic::Code::NotFound,
            VerifyError::Refused { reason, .. } => {
                RefusalKind::of_reason(*reason).map_or(tonic::Code::Unauthenticated, |k| k.code)
            }
            VerifyError::Unavailable(_) => tonic::Code::Unavailable,
        }
    }

    /// The outcome label for `alter_verify_total{outcome}`: the gRPC code in snake case.
    pub(crate) fn outcome(&self) -> &'static str {
        match self.code() {
            tonic::Code::InvalidArgument => "invalid_argument",
            tonic::Code::NotFound => "not_found",
            tonic::Code::Unauthenticated => "unauthenticated",
            tonic::Code::PermissionDenied => "permission_denied",
            tonic::Code::Unavailable => "unavailable",
            _ => "other",
        }
    }
}

impl From<alter_store::StoreError> for VerifyError {
    fn from(e: alter_store::StoreError) -> Self {
        tracing::error!(error = %e, "store failure during verify");
        VerifyError::Unavailable("the user directory could not be read or written".to_owned())
    }
}

/// `expired` for `REFUSAL_REASON_EXPIRED`: the reason's label, from [`REFUSALS`]
/// (`unspecified` for a reason outside the table).
pub fn reason_label(reason: RefusalReason) -> &'static str {
    RefusalKind::of_reason(reason).map_or("unspecified", |k| k.label)
}

/// The `google.protobuf.Any` type URL of a packed [`RefusalDetail`].
pub const REFUSAL_DETAIL_TYPE_URL: &str = "type.googleapis.com/alter.identity.v1.RefusalDetail";

/// R-JWT-12: every error in the standard gRPC error model. `grpc-status-details-bin` holds a
/// `google.rpc.Status` with the same code and message; a refusal packs its
/// [`RefusalDetail`] in `details` (and its label in `x-alter-refusal`), a malformed request
/// field a `google.rpc.BadRequest` naming the field.
impl From<VerifyError> for tonic::Status {
    fn from(e: VerifyError) -> Self {
        let message = e.to_string();
        let code = e.code();
        match &e {
            VerifyError::Refused { reason, .. } => {
                let detail = RefusalDetail {
                    reason: *reason as i32,
                    message: message.clone(),
                };
                let packed = prost_types::Any {
                    type_url: REFUSAL_DETAIL_TYPE_URL.to_owned(),
                    value: detail.encode_to_vec(),
                };
                let details = tonic_types::Status {
                    code: code as i32,
                    message: message.clone(),
                    details: vec![packed],
                };
                let mut status =
                    tonic::Status::with_details(code, message, details.encode_to_vec().into());
                status.metadata_mut().insert(
                    REFUSAL_METADATA_KEY,
                    MetadataValue::from_static(reason_label(*reason)),
                );
                status
            }
            VerifyError::InvalidArgument {
                field,
                message: why,
            } => tonic::Status::with_error_details(
                code,
                message,
                ErrorDetails::with_bad_request_violation(*field, why.clone()),
            ),
            VerifyError::NoIdentityProvider { .. } | VerifyError::Unavailable(_) => {
                tonic::Status::new(code, message)
            }
        }
    }
}

/// The refusal carried by a status from Verify: the [`RefusalDetail`] packed in the
/// `google.rpc.Status` of its details, if there is one.
pub fn refusal_of(status: &tonic::Status) -> Option<RefusalDetail> {
    let standard = tonic_types::Status::decode(status.details()).ok()?;
    standard
        .details
        .iter()
        .filter(|any| any.type_url == REFUSAL_DETAIL_TYPE_URL)
        .find_map(|any| RefusalDetail::decode(any.value.as_slice()).ok())
        .filter(|d| d.reason != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_carry_the_reason_in_details_and_metadata() {
        let status =
            tonic::Status::from(VerifyError::refused(Refusal::Expired, "token expired at 1"));
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
        let violations = status
            .get_details_bad_request()
            .map(|b| b.field_violations)
            .unwrap_or_default();
        assert_eq!(violations.len(), 1);
        assert_eq!(
            (
                violations[0].field.as_str(),
                violations[0].description.as_str()
            ),
            ("app_id", "must be a UUID")
        );
    }

    #[test]
    fn the_refusal_table_covers_every_reason_and_every_provider_refusal_once() {
        let mut value = 1;
        while let Ok(reason) = RefusalReason::try_from(value) {
            let rows: Vec<_> = REFUSALS.iter().filter(|k| k.reason == reason).collect();
            assert_eq!(rows.len(), 1, "{reason:?} must have exactly one row");
            // The label is the wire name in lower snake case, so the two never drift.
            let wire = reason
                .as_str_name()
                .trim_start_matches("REFUSAL_REASON_")
                .to_ascii_lowercase();
            assert_eq!(rows[0].label, wire, "{reason:?}");
            value += 1;
        }
        assert_eq!(REFUSALS.len(), usize::try_from(value - 1).unwrap());
        for refusal in Refusal::ALL {
            let rows = REFUSALS
                .iter()
                .filter(|k| k.refusal == Some(refusal))
                .count();
            assert_eq!(rows, 1, "{refusal:?} must have exactly one row");
        }
        assert_eq!(reason_label(RefusalReason::Unspecified), "unspecified");
    }

    #[test]
    fn codes_come_from_the_table() {
        let code = |reason| {
            VerifyError::Refused {
                reason,
                message: String::new(),
            }
            .code()
        };
        assert_eq!(code(RefusalReason::Expired), tonic::Code::Unauthenticated);
        assert_eq!(
            code(RefusalReason::UserSuspended),
            tonic::Code::PermissionDenied
        );
        assert_eq!(
            code(RefusalReason::IdpUnavailable),
            tonic::Code::Unavailable
        );
        assert_eq!(
            VerifyError::refused(Refusal::WrongAudience, "x").reason(),
            Some(RefusalReason::WrongAudience)
        );
    }
}
