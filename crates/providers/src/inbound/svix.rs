//! Clerk webhooks, delivered by Svix (R-HOOK-03): `svix-id`, `svix-timestamp` and
//! `svix-signature` headers, HMAC-SHA256 under the `whsec_` signing secret over
//! `{id}.{timestamp}.{raw body}`, timestamps within 5 minutes either way; one event envelope
//! `{type, object, timestamp, data}` per delivery, named by its `svix-id`.

use std::fmt;

use alter_core::provider_events::clerk_event_effect;
use alter_core::{EventEffect, IdpKind};
use alter_secrets::{SecretBytes, ct_eq, hmac_sha256};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use chrono::{DateTime, Utc};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::error::{AuthError, MalformedDelivery, RecordError, SecretFormatError};
use super::fields::{
    MAX_DISPLAY_NAME_BYTES, MAX_EMAIL_BYTES, event_id, group_id, invalid, object, opt_str,
    profile_text, str_field, user_id,
};
use super::{
    IgnoreReason, InboundChange, InboundEvent, InboundRequest, Outcome, ParsedDelivery,
    RecordContext, single_header,
};

/// How far `svix-timestamp` may be from the time of receipt, either way (R-HOOK-03).
pub const TIMESTAMP_TOLERANCE_SECS: i64 = 300;
/// Shortest decoded signing key accepted (Svix issues 24 bytes; 128 bits is the floor).
pub const MIN_KEY_BYTES: usize = 16;
/// Longest decoded signing key accepted.
pub const MAX_KEY_BYTES: usize = 64;

const PREFIX: &str = "whsec_";
const ID: &str = "svix-id";
const TIMESTAMP: &str = "svix-timestamp";
const SIGNATURE: &str = "svix-signature";
/// Bytes of an HMAC-SHA256 tag.
const TAG_BYTES: usize = 32;

/// Standard base64, padding optional (Svix secrets and signatures are standard base64).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A Clerk (Svix) signing key, decoded from its `whsec_…` form; held in zeroised memory and
/// never printed.
#[derive(Clone)]
pub struct SvixSecret {
    key: SecretBytes,
}

impl fmt::Debug for SvixSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SvixSecret([redacted])")
    }
}

/// Validates a Clerk signing secret as an admin pastes it (R-HOOK-01): `whsec_` then
/// standard base64 of a 16-to-64-byte key. Surrounding whitespace (a pasted newline) is
/// ignored; store the trimmed value.
pub fn parse_svix_secret(input: &str) -> Result<SvixSecret, SecretFormatError> {
    let input = input.trim();
    if input.is_empty() {
        return Err(SecretFormatError::Empty);
    }
    let encoded = input
        .strip_prefix(PREFIX)
        .ok_or(SecretFormatError::MissingWhsecPrefix)?;
    let key = BASE64
        .decode(encoded)
        .map_err(|e| SecretFormatError::NotBase64 {
            reason: base64_reason(&e),
        })?;
    if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
        return Err(SecretFormatError::BadKeyLength { len: key.len() });
    }
    Ok(SvixSecret { key: key.into() })
}

/// A base64 error without the offending byte (it is part of a secret).
fn base64_reason(e: &base64::DecodeError) -> String {
    match e {
        base64::DecodeError::InvalidByte(offset, _) => {
            format!("a character outside the base64 alphabet at offset {offset}")
        }
        base64::DecodeError::InvalidLength(_) => "its length is not that of base64".to_owned(),
        base64::DecodeError::InvalidLastSymbol(..) => "its last character is not valid".to_owned(),
        base64::DecodeError::InvalidPadding => "its padding is not valid".to_owned(),
    }
}

/// Verifies a Svix-signed delivery against `secrets` (any may match): the timestamp must be
/// within [`TIMESTAMP_TOLERANCE_SECS`] of `received_at`, and one `v1` signature of the
/// `svix-signature` list must be the HMAC-SHA256 of `{svix-id}.{svix-timestamp}.{body}`
/// (the header texts as received, the body as raw bytes). Other versions are skipped.
pub fn verify(request: &InboundRequest<'_>, secrets: &[SvixSecret]) -> Result<(), AuthError> {
    let id = header_text(request, ID)?;
    if let Err(e) = event_id(id, ID) {
        let reason = match e {
            RecordError::InvalidField { reason, .. } => reason,
            other => other.to_string(),
        };
        return Err(AuthError::MalformedHeader { header: ID, reason });
    }
    let timestamp_text = header_text(request, TIMESTAMP)?;
    let timestamp: i64 = timestamp_text
        .parse()
        .map_err(|_| AuthError::MalformedHeader {
            header: TIMESTAMP,
            reason: format!(
                "{} is not a whole number of seconds since the Unix epoch",
                super::fields::shorten(timestamp_text)
            ),
        })?;
    let age = request.received_at.timestamp().saturating_sub(timestamp);
    if age > TIMESTAMP_TOLERANCE_SECS {
        return Err(AuthError::TimestampStale { seconds: age });
    }
    if age < -TIMESTAMP_TOLERANCE_SECS {
        return Err(AuthError::TimestampInFuture {
            seconds: age.saturating_neg(),
        });
    }
    let signatures = v1_signatures(header_text(request, SIGNATURE)?)?;

    let mut signed = Vec::with_capacity(id.len() + timestamp_text.len() + 2 + request.body.len());
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp_text.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(request.body);
    // Every key against every signature, without stopping early.
    let matched = secrets.iter().fold(false, |found, secret| {
        let tag = hmac_sha256(secret.key.expose_secret(), &signed);
        signatures
            .iter()
            .fold(found, |found, sig| ct_eq(&tag, sig) | found)
    });
    if matched {
        Ok(())
    } else {
        Err(AuthError::SignatureMismatch {
            v1_signatures: signatures.len(),
        })
    }
}

/// The header as text; missing, repeated or not visible ASCII is an error.
fn header_text<'r>(request: &InboundRequest<'r>, name: &'static str) -> Result<&'r str, AuthError> {
    let value =
        single_header(request.headers, name)?.ok_or(AuthError::MissingHeader { header: name })?;
    value.to_str().map_err(|_| AuthError::MalformedHeader {
        header: name,
        reason: "it is not visible ASCII".to_owned(),
    })
}

/// The decoded `v1` signatures of a `svix-signature` value (`v1,<b64> v1,<b64> v1a,<b64>`).
/// Entries of other versions are skipped; a malformed `v1` entry is skipped too, but when
/// no well-formed `v1` entry remains the header is refused as malformed.
fn v1_signatures(header: &str) -> Result<Vec<[u8; TAG_BYTES]>, AuthError> {
    let mut signatures = Vec::new();
    let mut other_versions: Vec<&str> = Vec::new();
    let mut malformed: Option<String> = None;
    for (n, entry) in header.split(' ').filter(|e| !e.is_empty()).enumerate() {
        let Some((version, encoded)) = entry.split_once(',') else {
            malformed.get_or_insert_with(|| {
                format!(
                    "entry {} has no version: expected v1,<base64 signature>",
                    n + 1
                )
            });
            continue;
        };
        if version != "v1" {
            other_versions.push(version);
            continue;
        }
        match BASE64.decode(encoded) {
            Ok(bytes) => match <[u8; TAG_BYTES]>::try_from(bytes.as_slice()) {
                Ok(tag) => signatures.push(tag),
                Err(_) => {
                    malformed.get_or_insert_with(|| {
                        format!(
                            "the v1 signature in entry {} decodes to {} bytes; an HMAC-SHA256 signature has {TAG_BYTES} (truncated?)",
                            n + 1,
                            bytes.len()
                        )
                    });
                }
            },
            Err(_) => {
                malformed.get_or_insert_with(|| {
                    format!(
                        "the v1 signature in entry {} is not base64 (truncated?)",
                        n + 1
                    )
                });
            }
        }
    }
    if !signatures.is_empty() {
        return Ok(signatures);
    }
    if let Some(reason) = malformed {
        return Err(AuthError::MalformedHeader {
            header: SIGNATURE,
            reason,
        });
    }
    if other_versions.is_empty() {
        return Err(AuthError::MalformedHeader {
            header: SIGNATURE,
            reason: "it is empty: expected space-separated v1,<base64 signature> entries"
                .to_owned(),
        });
    }
    other_versions.sort_unstable();
    other_versions.dedup();
    Err(AuthError::NoV1Signature {
        versions: other_versions
            .iter()
            .map(|v| super::fields::shorten(v))
            .collect::<Vec<_>>()
            .join(", "),
    })
}

const EXPECTED: &str = "a Clerk webhook envelope (a JSON object with a string `type`)";

/// Parses a Clerk (Svix) delivery: one envelope, named by its `svix-id`. A body that is not
/// a JSON object with a string `type` is refused whole; an envelope of a type we act on whose
/// `data` lacks what we need is kept as a rejected record.
pub fn parse(request: &InboundRequest<'_>) -> Result<ParsedDelivery, MalformedDelivery> {
    let svix_id = request
        .headers
        .get(ID)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| event_id(v, ID).ok())
        .ok_or(MalformedDelivery::MissingHeader { header: ID })?;
    let envelope: Value =
        serde_json::from_slice(request.body).map_err(|e| MalformedDelivery::NotJson {
            expected: EXPECTED,
            reason: e.to_string(),
        })?;
    let Some(envelope) = envelope.as_object() else {
        return Err(MalformedDelivery::WrongShape {
            expected: EXPECTED,
            reason: "it is not an object".to_owned(),
        });
    };
    let Some(event_type) = opt_str(envelope, "type") else {
        return Err(MalformedDelivery::WrongShape {
            expected: EXPECTED,
            reason: "`type` is missing or not a string".to_owned(),
        });
    };
    let mut delivery = ParsedDelivery::new(IdpKind::Clerk, Some(svix_id.clone()));
    let cx = RecordContext {
        index: 0,
        provider_event_id: Some(svix_id.clone()),
        event_type: Some(event_type.to_owned()),
    };
    let effect = clerk_event_effect(event_type);
    let outcome = if effect == EventEffect::Ignore {
        cx.ignore(event_type, IgnoreReason::NoEffect)
    } else {
        match change(effect, envelope) {
            Ok((change, occurred_at)) => Outcome::Event(InboundEvent {
                provider: IdpKind::Clerk,
                provider_event_id: svix_id,
                event_type: event_type.to_owned(),
                occurred_at,
                change,
            }),
            Err(e) => cx.reject(e),
        }
    };
    delivery.push(outcome);
    Ok(delivery)
}

/// The change an envelope of an acting type carries, and when it happened.
fn change(
    effect: EventEffect,
    envelope: &Map<String, Value>,
) -> Result<(InboundChange, DateTime<Utc>), RecordError> {
    let occurred_at = envelope_time(envelope)?;
    let data = object(envelope, "data").ok_or(RecordError::MissingField { field: "data" })?;
    let change = match effect {
        EventEffect::Deprovision => InboundChange::Deprovision {
            user: user_id(str_field(data, "id", "data.id")?, "data.id")?,
        },
        EventEffect::UpdateProfile => profile_update(data)?,
        EventEffect::RemoveMembership => {
            let org = object(data, "organization").ok_or(RecordError::MissingField {
                field: "data.organization",
            })?;
            let member = object(data, "public_user_data").ok_or(RecordError::MissingField {
                field: "data.public_user_data",
            })?;
            InboundChange::RemoveMembership {
                user: user_id(
                    str_field(member, "user_id", "data.public_user_data.user_id")?,
                    "data.public_user_data.user_id",
                )?,
                group: group_id(
                    str_field(org, "id", "data.organization.id")?,
                    "data.organization.id",
                )?,
            }
        }
        EventEffect::DeleteGroup => InboundChange::DeleteGroup {
            group: group_id(str_field(data, "id", "data.id")?, "data.id")?,
        },
        EventEffect::Suspend | EventEffect::Reactivate | EventEffect::Ignore => {
            return Err(invalid("type", "has an effect Clerk events cannot carry"));
        }
    };
    Ok((change, occurred_at))
}

/// `user.updated`: the user's ID, primary email (the `email_addresses` element whose `id` is
/// `primary_email_address_id`) and display name (first and last name).
fn profile_update(data: &Map<String, Value>) -> Result<InboundChange, RecordError> {
    let user = user_id(str_field(data, "id", "data.id")?, "data.id")?;
    let email = match opt_str(data, "primary_email_address_id") {
        None => None,
        Some(primary) => {
            let address = data
                .get("email_addresses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .find(|e| opt_str(e, "id") == Some(primary))
                .and_then(|e| opt_str(e, "email_address"));
            profile_text(
                address,
                "data.email_addresses[].email_address",
                MAX_EMAIL_BYTES,
            )?
        }
    };
    let name = [opt_str(data, "first_name"), opt_str(data, "last_name")]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let display_name = profile_text(
        Some(&name),
        "data.first_name/last_name",
        MAX_DISPLAY_NAME_BYTES,
    )?;
    Ok(InboundChange::UpdateProfile {
        user,
        email,
        display_name,
    })
}

/// The envelope's `timestamp`: documented as Unix milliseconds, but read values below
/// 10^11 as seconds (some of Clerk's examples carry seconds; 10^11 ms is in 1973).
fn envelope_time(envelope: &Map<String, Value>) -> Result<DateTime<Utc>, RecordError> {
    const FIELD: &str = "timestamp";
    let value = envelope
        .get(FIELD)
        .and_then(Value::as_i64)
        .ok_or(RecordError::MissingField { field: FIELD })?;
    let millis = if value.abs() < 100_000_000_000 {
        value.saturating_mul(1000)
    } else {
        value
    };
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| invalid(FIELD, format!("{value} is out of range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_hook_03_clerk_signing_secrets_need_whsec_base64_and_a_sane_length() {
        assert!(parse_svix_secret("whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=").is_ok());
        assert!(parse_svix_secret("  whsec_qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n").is_ok());
        // Unpadded base64 is accepted too.
        assert!(parse_svix_secret("whsec_AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA").is_ok());
        let rows = [
            ("", SecretFormatError::Empty),
            (
                "qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq",
                SecretFormatError::MissingWhsecPrefix,
            ),
            (
                "sk_test_qqqqqqqqqqqqqqqqqqqqqqqq",
                SecretFormatError::MissingWhsecPrefix,
            ),
            ("whsec_qqqq", SecretFormatError::BadKeyLength { len: 3 }),
            ("whsec_", SecretFormatError::BadKeyLength { len: 0 }),
        ];
        for (input, expected) in rows {
            assert_eq!(parse_svix_secret(input).unwrap_err(), expected, "{input:?}");
        }
        let err = parse_svix_secret("whsec_qqqq!qqqqqqqqqqqqqqqqqqqqqqqqqqq").unwrap_err();
        assert!(
            matches!(err, SecretFormatError::NotBase64 { .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains("qqqq"), "{err}");
        let long = format!("whsec_{}", "q".repeat(88));
        assert_eq!(
            parse_svix_secret(&long).unwrap_err(),
            SecretFormatError::BadKeyLength { len: 66 }
        );
    }

    #[test]
    fn svix_secret_debug_is_redacted() {
        let s = parse_svix_secret("whsec_qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq").unwrap();
        assert_eq!(format!("{s:?}"), "SvixSecret([redacted])");
    }

    #[test]
    fn r_hook_03_signature_list_parsing() {
        let sig = "a696llH9/U32cMsMouAH9BL+DJE/3oyVfme7yDzy8Hk=";
        assert_eq!(v1_signatures(&format!("v1,{sig}")).unwrap().len(), 1);
        assert_eq!(
            v1_signatures(&format!("v1a,xyz  v1,{sig} v2,abc v1,{sig}"))
                .unwrap()
                .len(),
            2
        );
        // A malformed entry next to a good one does not hide the good one.
        assert_eq!(
            v1_signatures(&format!("garbage v1,{sig}")).unwrap().len(),
            1
        );
        let cases = [
            ("", "malformed_header"),
            ("   ", "malformed_header"),
            ("garbage", "malformed_header"),
            ("v1,a696llH9/U32cMsMouAH9BL", "malformed_header"),
            ("v1,!!!!", "malformed_header"),
            ("v1a,abc v2,def", "no_v1_signature"),
        ];
        for (header, code) in cases {
            assert_eq!(
                v1_signatures(header).unwrap_err().code(),
                code,
                "{header:?}"
            );
        }
        let err = v1_signatures("v1a,abc v2,def v1a,x").unwrap_err();
        assert_eq!(
            err,
            AuthError::NoV1Signature {
                versions: "\"v1a\", \"v2\"".to_owned()
            }
        );
    }

    #[test]
    fn envelope_timestamps_in_ms_or_seconds() {
        let map = |v: Value| v.as_object().cloned().unwrap();
        let ms = envelope_time(&map(
            serde_json::json!({"timestamp": 1_760_000_000_123_i64}),
        ))
        .unwrap();
        assert_eq!(ms.timestamp_millis(), 1_760_000_000_123);
        let s = envelope_time(&map(serde_json::json!({"timestamp": 1_760_000_000}))).unwrap();
        assert_eq!(s.timestamp_millis(), 1_760_000_000_000);
        assert!(envelope_time(&map(serde_json::json!({"timestamp": "1"}))).is_err());
        assert!(envelope_time(&map(serde_json::json!({}))).is_err());
    }
}
