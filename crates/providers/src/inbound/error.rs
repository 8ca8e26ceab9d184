//! Why a webhook delivery, one of its records, a configured secret or an Okta challenge was
//! refused. Each message says what was wrong and what to do; none ever carries a secret.
//!
//! The HTTP layer maps a whole-delivery error with [`InboundError::status`] (413, 401, 400,
//! R-HOOK-07) and logs or returns [`InboundError::code`] and the message.

use alter_core::IdpKind;
use http::StatusCode;
use thiserror::Error;

/// Why a whole delivery was refused. Nothing of a refused delivery may change any state.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum InboundError {
    /// The body is larger than the configured limit (413).
    #[error(
        "the body is {size} bytes, over the limit of {limit} bytes for a webhook delivery: send smaller batches"
    )]
    TooLarge { size: usize, limit: usize },
    /// The delivery could not be authenticated (401).
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// The delivery is authentic but its body is not in the provider's format at all (400).
    #[error(transparent)]
    Malformed(#[from] MalformedDelivery),
}

impl InboundError {
    /// The HTTP status to answer with (R-HOOK-07).
    pub const fn status(&self) -> StatusCode {
        match self {
            InboundError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            InboundError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            InboundError::Malformed(_) => StatusCode::BAD_REQUEST,
        }
    }

    /// A stable snake_case code for response bodies, the delivery log and metrics.
    pub const fn code(&self) -> &'static str {
        match self {
            InboundError::TooLarge { .. } => "body_too_large",
            InboundError::Unauthenticated(e) => e.code(),
            InboundError::Malformed(e) => e.code(),
        }
    }
}

/// Why a delivery is not authentic (401). Secrets are never part of the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthError {
    /// A required header is absent.
    #[error("the {header} header is missing: {}", missing_hint(header))]
    MissingHeader { header: &'static str },
    /// A header that must appear once appears several times.
    #[error("the {header} header appears more than once: send it exactly once")]
    RepeatedHeader { header: &'static str },
    /// A header is present but cannot be read.
    #[error("the {header} header is malformed: {reason}")]
    MalformedHeader {
        header: &'static str,
        reason: String,
    },
    /// The `Authorization` value matches none of the currently valid secrets.
    #[error("{}", wrong_secret_message(*provider))]
    WrongSecret { provider: IdpKind },
    /// `svix-signature` holds only signature versions other than `v1` (e.g. `v1a`).
    #[error(
        "the svix-signature header carries no v1 signature (versions seen: {versions}): only v1 (HMAC-SHA256) signatures are accepted"
    )]
    NoV1Signature { versions: String },
    /// No `v1` signature matches any currently valid signing secret.
    #[error(
        "none of the {v1_signatures} v1 signature(s) in svix-signature matches the body under the configured signing secret: check that the whsec_ secret pasted here is this endpoint's current signing secret in Clerk, and that the body reaches us unmodified"
    )]
    SignatureMismatch { v1_signatures: usize },
    /// `svix-timestamp` is too far in the past (a replay, or a clock behind).
    #[error(
        "svix-timestamp is {seconds} s before the time of receipt; deliveries older than {tolerance} s are refused (a replayed delivery, or the sender's clock is behind)",
        tolerance = crate::inbound::svix::TIMESTAMP_TOLERANCE_SECS
    )]
    TimestampStale { seconds: i64 },
    /// `svix-timestamp` is too far in the future (a clock ahead).
    #[error(
        "svix-timestamp is {seconds} s after the time of receipt; deliveries more than {tolerance} s in the future are refused (the sender's clock, or this server's, is off)",
        tolerance = crate::inbound::svix::TIMESTAMP_TOLERANCE_SECS
    )]
    TimestampInFuture { seconds: i64 },
}

impl AuthError {
    /// A stable snake_case code for response bodies, the delivery log and metrics.
    pub const fn code(&self) -> &'static str {
        match self {
            AuthError::MissingHeader { .. } => "missing_header",
            AuthError::RepeatedHeader { .. } => "repeated_header",
            AuthError::MalformedHeader { .. } => "malformed_header",
            AuthError::WrongSecret { .. } => "wrong_secret",
            AuthError::NoV1Signature { .. } => "no_v1_signature",
            AuthError::SignatureMismatch { .. } => "signature_mismatch",
            AuthError::TimestampStale { .. } => "timestamp_stale",
            AuthError::TimestampInFuture { .. } => "timestamp_in_future",
        }
    }
}

fn missing_hint(header: &str) -> &'static str {
    match header {
        "authorization" => {
            "the identity provider must send the webhook secret in Authorization (configure it on the provider's side)"
        }
        _ => "Clerk (Svix) deliveries carry svix-id, svix-timestamp and svix-signature",
    }
}

fn wrong_secret_message(provider: IdpKind) -> String {
    let hint = match provider {
        IdpKind::Auth0 => {
            "the Auth0 log stream's Authorization must be the secret shown when webhooks were enabled, bare or as `Bearer <secret>`"
        }
        IdpKind::Okta => {
            "the Okta event hook's Authorization header value must equal the secret configured here, exactly"
        }
        IdpKind::CustomOidc => {
            "send the secret shown when webhooks were enabled as `Authorization: Bearer <secret>`"
        }
        IdpKind::Clerk => "Clerk deliveries are authenticated by their Svix signature",
    };
    format!(
        "the Authorization header does not match this identity provider's current webhook secret: {hint}; after a rotation, only the new secret (and the previous one during its grace period) is accepted"
    )
}

/// Why an authentic delivery's body is not in the provider's format at all (400). A body
/// that is in the format but has records we cannot read is not refused: those records are
/// kept as [`RejectedRecord`](crate::inbound::RejectedRecord)s (R-HOOK-08).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MalformedDelivery {
    /// The body is not JSON (for Auth0: not a JSON array, JSON lines or one JSON object).
    #[error("the body is not {expected}: {reason}")]
    NotJson {
        expected: &'static str,
        reason: String,
    },
    /// The body is JSON but not in the provider's envelope.
    #[error("the body is JSON but not {expected}: {reason}")]
    WrongShape {
        expected: &'static str,
        reason: String,
    },
    /// A header the body is read with (the Svix message ID) is missing or unreadable.
    #[error("the {header} header is missing or unreadable: it names the event")]
    MissingHeader { header: &'static str },
}

impl MalformedDelivery {
    /// A stable snake_case code for response bodies, the delivery log and metrics.
    pub const fn code(&self) -> &'static str {
        match self {
            MalformedDelivery::NotJson { .. } => "body_not_json",
            MalformedDelivery::WrongShape { .. } => "body_wrong_shape",
            MalformedDelivery::MissingHeader { .. } => "missing_header",
        }
    }
}

/// Why one record (an Auth0 log record, an Okta event, a Clerk event, one of our custom
/// events) of an authentic delivery could not be read. The record is kept as rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    /// A JSON-lines line is not JSON.
    #[error("the record is not JSON: {reason}")]
    NotJson { reason: String },
    /// The record is JSON but not an object.
    #[error("the record is not a JSON object")]
    NotAnObject,
    /// A field the event needs is absent, null or of the wrong JSON type.
    #[error("{field} is missing (or not a string)")]
    MissingField { field: &'static str },
    /// A field is present but its value is unusable.
    #[error("{field} {reason}")]
    InvalidField { field: &'static str, reason: String },
}

impl RecordError {
    /// A stable snake_case code for the delivery log and metrics.
    pub const fn code(&self) -> &'static str {
        match self {
            RecordError::NotJson { .. } => "not_json",
            RecordError::NotAnObject => "not_an_object",
            RecordError::MissingField { .. } => "missing_field",
            RecordError::InvalidField { .. } => "invalid_field",
        }
    }
}

/// Why a webhook secret cannot be used (when an admin pastes one, or when a verifier is
/// built from the stored ones). The secret itself is never part of the message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SecretFormatError {
    /// No secret is currently valid: webhooks are not enabled.
    #[error(
        "no webhook secret is currently valid for this identity provider: enable webhooks first"
    )]
    NoSecrets,
    /// The secret is empty.
    #[error("the webhook secret is empty")]
    Empty,
    /// A Clerk signing secret without its `whsec_` prefix.
    #[error(
        "the Clerk signing secret must start with whsec_: copy it whole from the Clerk dashboard (Webhooks → your endpoint → Signing Secret)"
    )]
    MissingWhsecPrefix,
    /// The part after `whsec_` is not standard base64.
    #[error(
        "the Clerk signing secret is not whsec_ followed by base64 ({reason}): copy it again from the Clerk dashboard, whole"
    )]
    NotBase64 { reason: String },
    /// The decoded key has an implausible length.
    #[error(
        "the Clerk signing secret decodes to {len} bytes; Svix signing keys are {min} to {max} bytes: copy it again from the Clerk dashboard, whole",
        min = crate::inbound::svix::MIN_KEY_BYTES,
        max = crate::inbound::svix::MAX_KEY_BYTES
    )]
    BadKeyLength { len: usize },
}

/// Why an Okta verification challenge cannot be answered (400).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ChallengeError {
    /// The challenge header appears more than once.
    #[error("the x-okta-verification-challenge header appears more than once")]
    Repeated,
    /// The challenge is empty.
    #[error("the x-okta-verification-challenge header is empty")]
    Empty,
    /// The challenge is not text.
    #[error("the x-okta-verification-challenge header is not UTF-8 text")]
    NotText,
    /// The challenge is longer than any Okta sends.
    #[error(
        "the x-okta-verification-challenge header is {len} bytes, over the limit of {max} bytes"
    )]
    TooLong { len: usize, max: usize },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_hook_07_statuses_per_error_class() {
        let too_large = InboundError::TooLarge { size: 2, limit: 1 };
        assert_eq!(too_large.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(too_large.code(), "body_too_large");
        let auth: InboundError = AuthError::TimestampStale { seconds: 301 }.into();
        assert_eq!(auth.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(auth.code(), "timestamp_stale");
        assert!(auth.to_string().contains("301 s before"), "{auth}");
        let bad: InboundError = MalformedDelivery::NotJson {
            expected: "JSON",
            reason: "x".into(),
        }
        .into();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(bad.code(), "body_not_json");
    }

    #[test]
    fn wrong_secret_message_names_the_provider_setting() {
        let e = AuthError::WrongSecret {
            provider: IdpKind::Auth0,
        };
        assert!(e.to_string().contains("Auth0 log stream"), "{e}");
        let e = AuthError::MissingHeader {
            header: "svix-signature",
        };
        assert!(e.to_string().contains("svix-signature header is missing"));
    }
}
