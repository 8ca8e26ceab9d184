//! Reading fields of provider JSON defensively: every field a parser needs goes through one
//! of these, so a missing or odd value becomes a [`RecordError`] naming the field, never a
//! panic or a silently wrong event.

use alter_core::{ExternalGroupId, ExternalUserId};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::error::RecordError;

/// Longest provider event ID accepted (Svix message ID, Okta uuid, Auth0 log_id, ours).
pub const MAX_PROVIDER_EVENT_ID_BYTES: usize = 512;
/// Longest email address kept from a profile update (RFC 5321 path limit is 256; be lenient).
pub const MAX_EMAIL_BYTES: usize = 320;
/// Longest display name kept from a profile update.
pub const MAX_DISPLAY_NAME_BYTES: usize = 512;

/// The object at `key`, if it is one.
pub(crate) fn object<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Map<String, Value>> {
    map.get(key).and_then(Value::as_object)
}

/// The string at `key`; `None` when absent, null or not a string.
pub(crate) fn opt_str<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v str> {
    map.get(key).and_then(Value::as_str)
}

/// The string at `key`, or `MissingField` naming it as `field`.
pub(crate) fn str_field<'v>(
    map: &'v Map<String, Value>,
    key: &str,
    field: &'static str,
) -> Result<&'v str, RecordError> {
    opt_str(map, key).ok_or(RecordError::MissingField { field })
}

/// A provider event ID: non-empty, printable, bounded.
pub(crate) fn event_id(value: &str, field: &'static str) -> Result<String, RecordError> {
    if value.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    if value.len() > MAX_PROVIDER_EVENT_ID_BYTES {
        return Err(invalid(
            field,
            format!(
                "is {} bytes long, over the limit of {MAX_PROVIDER_EVENT_ID_BYTES}",
                value.len()
            ),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(value.to_owned())
}

/// An RFC 3339 timestamp (Auth0 `date`, Okta `published`, ours `occurred_at`).
pub(crate) fn rfc3339(value: &str, field: &'static str) -> Result<DateTime<Utc>, RecordError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            invalid(
                field,
                format!("is not an RFC 3339 timestamp ({e}): {}", shorten(value)),
            )
        })
}

/// A user's subject at the provider.
pub(crate) fn user_id(value: &str, field: &'static str) -> Result<ExternalUserId, RecordError> {
    ExternalUserId::parse(field, value).map_err(|e| invalid(field, e.message))
}

/// A group's ID at the provider.
pub(crate) fn group_id(value: &str, field: &'static str) -> Result<ExternalGroupId, RecordError> {
    ExternalGroupId::parse(field, value).map_err(|e| invalid(field, e.message))
}

/// An optional profile value (email, display name): trimmed, empty as `None`, bounded and
/// printable.
pub(crate) fn profile_text(
    value: Option<&str>,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, RecordError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if value.len() > max {
        return Err(invalid(
            field,
            format!("is {} bytes long, over the limit of {max}", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(Some(value.to_owned()))
}

pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> RecordError {
    RecordError::InvalidField {
        field,
        reason: reason.into(),
    }
}

/// At most 64 characters of a provider value, for messages.
pub(crate) fn shorten(value: &str) -> String {
    const MAX: usize = 64;
    match value.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn event_ids_are_non_empty_printable_and_bounded() {
        assert_eq!(event_id("msg_1", "svix-id").unwrap(), "msg_1");
        assert!(event_id("", "svix-id").is_err());
        assert!(event_id("a\u{0}b", "svix-id").is_err());
        let long = "x".repeat(MAX_PROVIDER_EVENT_ID_BYTES + 1);
        let err = event_id(&long, "log_id").unwrap_err();
        assert!(err.to_string().starts_with("log_id is 513 bytes"), "{err}");
    }

    #[test]
    fn timestamps_parse_rfc_3339_and_name_the_field() {
        let t = rfc3339("2025-03-01T12:00:00.123Z", "data.date").unwrap();
        assert_eq!(t.timestamp_millis(), 1_740_830_400_123);
        let err = rfc3339("yesterday", "data.date").unwrap_err();
        assert!(
            err.to_string().starts_with("data.date is not an RFC 3339"),
            "{err}"
        );
    }

    #[test]
    fn profile_text_trims_and_treats_blank_as_absent() {
        assert_eq!(
            profile_text(Some(" a "), "f", 8).unwrap().as_deref(),
            Some("a")
        );
        assert_eq!(profile_text(Some("  "), "f", 8).unwrap(), None);
        assert_eq!(profile_text(None, "f", 8).unwrap(), None);
        assert!(profile_text(Some("123456789"), "f", 8).is_err());
    }

    #[test]
    fn str_field_reports_missing_and_non_strings_alike() {
        let m = json!({"a": "x", "b": 1, "c": null});
        let m = m.as_object().unwrap();
        assert_eq!(str_field(m, "a", "a").unwrap(), "x");
        for key in ["b", "c", "d"] {
            assert_eq!(
                str_field(m, key, "field").unwrap_err(),
                RecordError::MissingField { field: "field" }
            );
        }
    }

    #[test]
    fn shorten_cuts_long_values_on_a_char_boundary() {
        assert_eq!(shorten("ab"), "\"ab\"");
        let long = "é".repeat(100);
        assert!(shorten(&long).ends_with('…'));
    }
}
