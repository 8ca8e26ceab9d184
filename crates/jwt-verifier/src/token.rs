//! The one place this service calls `alter-providers` to check a token (R-JWT-01..05), and
//! how the provider's refusals become the machine-readable reasons of the API.

use alter_core::{ClaimError, IdpId};
use alter_providers::{JwksCache, Refusal, TokenExpectations, TokenRefused, VerifiedToken};

use crate::error::VerifyError;

/// Verifies signature, algorithm, issuer, audience and times against the IDP's keys.
pub(crate) async fn verify(
    token: &str,
    expectations: &TokenExpectations,
    idp: IdpId,
    jwks_uri: &str,
    jwks: &JwksCache,
) -> Result<VerifiedToken, VerifyError> {
    alter_providers::verify_token(token, expectations, idp, jwks_uri, jwks)
        .await
        .map_err(refused)
}

fn refused(refusal: TokenRefused) -> VerifyError {
    VerifyError::refused(refusal.reason, refusal.message)
}

/// A verified token whose claims cannot be read through the claim mappings.
pub(crate) fn unreadable_claims(error: ClaimError) -> VerifyError {
    let refusal = match error {
        ClaimError::MissingUserId { .. } => Refusal::MissingClaim,
        ClaimError::WrongType { .. }
        | ClaimError::InvalidValue { .. }
        | ClaimError::TooManyEntries { .. } => Refusal::Malformed,
    };
    VerifyError::refused(refusal, error.to_string())
}
