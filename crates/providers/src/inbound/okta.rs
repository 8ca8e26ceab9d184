//! Okta event hooks (R-HOOK-04): the one-time verification GET, answered by echoing its
//! challenge; deliveries carrying the configured `Authorization` value verbatim, each a
//! batch of System Log events in `data.events[]`, deduplicated by each event's `uuid`.

use alter_core::provider_events::okta_event_effect;
use alter_core::{EventEffect, IdpKind};
use alter_secrets::TokenHash;
use chrono::{DateTime, Utc};
use http::HeaderMap;
use serde_json::{Map, Value};

use super::error::{AuthError, ChallengeError, MalformedDelivery, RecordError};
use super::fields::{event_id, group_id, opt_str, rfc3339, str_field, user_id};
use super::{
    IgnoreReason, InboundChange, InboundEvent, InboundRequest, Outcome, ParsedDelivery,
    RecordContext,
};

/// The header of Okta's verification GET.
pub const CHALLENGE_HEADER: &str = "x-okta-verification-challenge";
/// Longest challenge answered; Okta's are a few dozen characters.
pub const MAX_CHALLENGE_BYTES: usize = 1024;

/// The verification challenge of a request, if it carries one. Webhook-ingest answers a GET
/// carrying it with [`okta_challenge_response`], whether or not webhooks are enabled yet.
pub fn verification_challenge(headers: &HeaderMap) -> Result<Option<&str>, ChallengeError> {
    let mut values = headers.get_all(CHALLENGE_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ChallengeError::Repeated);
    }
    let text = std::str::from_utf8(value.as_bytes()).map_err(|_| ChallengeError::NotText)?;
    check_challenge(text)?;
    Ok(Some(text))
}

/// The body answering a verification challenge: `{"verification":"<challenge>"}`, the
/// value JSON-escaped (quotes, backslashes, control characters), so any challenge gives
/// well-formed JSON. Serve it with `200` and `Content-Type: application/json`.
pub fn okta_challenge_response(challenge: &str) -> Result<String, ChallengeError> {
    check_challenge(challenge)?;
    Ok(serde_json::json!({ "verification": challenge }).to_string())
}

fn check_challenge(challenge: &str) -> Result<(), ChallengeError> {
    if challenge.is_empty() {
        return Err(ChallengeError::Empty);
    }
    if challenge.len() > MAX_CHALLENGE_BYTES {
        return Err(ChallengeError::TooLong {
            len: challenge.len(),
            max: MAX_CHALLENGE_BYTES,
        });
    }
    Ok(())
}

/// Authenticates an Okta event-hook delivery: `Authorization` equals one of `secrets`
/// exactly (Okta sends the configured value verbatim; no `Bearer` handling).
pub fn authenticate(request: &InboundRequest<'_>, secrets: &[TokenHash]) -> Result<(), AuthError> {
    let value = super::authorization(request.headers)?;
    if super::matches_any(value, secrets) {
        Ok(())
    } else {
        Err(AuthError::WrongSecret {
            provider: IdpKind::Okta,
        })
    }
}

const EXPECTED: &str = "an Okta event-hook body (a JSON object with a `data.events` array)";

/// Parses an Okta event-hook body. A body that is not a JSON object with a `data.events`
/// array is refused whole; each event is then read on its own.
pub fn parse(request: &InboundRequest<'_>) -> Result<ParsedDelivery, MalformedDelivery> {
    let body: Value =
        serde_json::from_slice(request.body).map_err(|e| MalformedDelivery::NotJson {
            expected: EXPECTED,
            reason: e.to_string(),
        })?;
    let wrong = |reason: &str| MalformedDelivery::WrongShape {
        expected: EXPECTED,
        reason: reason.to_owned(),
    };
    let body = body
        .as_object()
        .ok_or_else(|| wrong("it is not an object"))?;
    let events = body
        .get("data")
        .and_then(Value::as_object)
        .ok_or_else(|| wrong("`data` is missing or not an object"))?
        .get("events")
        .and_then(Value::as_array)
        .ok_or_else(|| wrong("`data.events` is missing or not an array"))?;
    let delivery_id = opt_str(body, "eventId").and_then(|id| event_id(id, "eventId").ok());
    let mut delivery = ParsedDelivery::new(IdpKind::Okta, delivery_id);
    for (index, event) in events.iter().enumerate() {
        delivery.push(parse_event(index, event));
    }
    Ok(delivery)
}

fn parse_event(index: usize, event: &Value) -> Outcome {
    let mut cx = RecordContext::at(index);
    let Some(event) = event.as_object() else {
        return cx.reject(RecordError::NotAnObject);
    };
    match opt_str(event, "uuid")
        .map(|id| event_id(id, "uuid"))
        .transpose()
    {
        Ok(id) => cx.provider_event_id = id,
        Err(e) => return cx.reject(e),
    }
    let event_type = match str_field(event, "eventType", "eventType") {
        Ok(t) => t,
        Err(e) => return cx.reject(e),
    };
    cx.event_type = Some(event_type.to_owned());
    let effect = okta_event_effect(event_type);
    if effect == EventEffect::Ignore {
        return cx.ignore(event_type, IgnoreReason::NoEffect);
    }
    // A System Log event also records failed attempts; only a successful one changed state.
    if let Some(result) = event
        .get("outcome")
        .and_then(Value::as_object)
        .and_then(|o| opt_str(o, "result"))
        .filter(|r| *r != "SUCCESS")
    {
        return cx.ignore(
            event_type,
            IgnoreReason::Unsuccessful {
                outcome: result.to_owned(),
            },
        );
    }
    let Some(provider_event_id) = cx.provider_event_id.clone() else {
        return cx.reject(RecordError::MissingField { field: "uuid" });
    };
    match change(effect, event) {
        Ok((change, occurred_at)) => Outcome::Event(InboundEvent {
            provider: IdpKind::Okta,
            provider_event_id,
            event_type: event_type.to_owned(),
            occurred_at,
            change,
        }),
        Err(e) => cx.reject(e),
    }
}

const USER_TARGET: &str = "target[type=User].id";
const GROUP_TARGET: &str = "target[type=UserGroup].id";

fn change(
    effect: EventEffect,
    event: &Map<String, Value>,
) -> Result<(InboundChange, DateTime<Utc>), RecordError> {
    let occurred_at = rfc3339(str_field(event, "published", "published")?, "published")?;
    let user = || -> Result<_, RecordError> {
        let id =
            target_id(event, "User").ok_or(RecordError::MissingField { field: USER_TARGET })?;
        user_id(id, USER_TARGET)
    };
    let group = || -> Result<_, RecordError> {
        let id = target_id(event, "UserGroup").ok_or(RecordError::MissingField {
            field: GROUP_TARGET,
        })?;
        group_id(id, GROUP_TARGET)
    };
    let change = match effect {
        EventEffect::RemoveMembership => InboundChange::RemoveMembership {
            user: user()?,
            group: group()?,
        },
        EventEffect::DeleteGroup => InboundChange::DeleteGroup { group: group()? },
        other => InboundChange::for_user(other, user()?).ok_or(RecordError::InvalidField {
            field: "eventType",
            reason: "has an effect Okta events cannot carry".to_owned(),
        })?,
    };
    Ok((change, occurred_at))
}

/// The `id` of the first target of `kind` (`User`, `UserGroup`).
fn target_id<'e>(event: &'e Map<String, Value>, kind: &str) -> Option<&'e str> {
    event
        .get("target")?
        .as_array()?
        .iter()
        .filter_map(Value::as_object)
        .find(|t| opt_str(t, "type") == Some(kind))
        .and_then(|t| opt_str(t, "id"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn r_hook_04_challenge_is_echoed_as_well_formed_json() {
        let body = okta_challenge_response("3xQ9abc").unwrap();
        assert_eq!(body, r#"{"verification":"3xQ9abc"}"#);
        for hostile in ["a\"b", "a\\b", "a\u{0}b\n\t", "\"}, \"x\": \"y", "é✓"] {
            let body = okta_challenge_response(hostile).unwrap();
            let back: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(back["verification"], hostile);
            assert_eq!(back.as_object().unwrap().len(), 1, "{body}");
        }
        assert_eq!(
            okta_challenge_response("").unwrap_err(),
            ChallengeError::Empty
        );
        let long = "x".repeat(MAX_CHALLENGE_BYTES + 1);
        assert_eq!(
            okta_challenge_response(&long).unwrap_err(),
            ChallengeError::TooLong {
                len: 1025,
                max: 1024
            }
        );
        assert!(okta_challenge_response(&"x".repeat(MAX_CHALLENGE_BYTES)).is_ok());
    }

    #[test]
    fn r_hook_04_challenge_header_is_read_once() {
        let mut headers = HeaderMap::new();
        assert_eq!(verification_challenge(&headers).unwrap(), None);
        headers.insert(CHALLENGE_HEADER, HeaderValue::from_static("abc"));
        assert_eq!(verification_challenge(&headers).unwrap(), Some("abc"));
        headers.append(CHALLENGE_HEADER, HeaderValue::from_static("def"));
        assert_eq!(
            verification_challenge(&headers).unwrap_err(),
            ChallengeError::Repeated
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            CHALLENGE_HEADER,
            HeaderValue::from_bytes(b"\xff\xfe").unwrap(),
        );
        assert_eq!(
            verification_challenge(&headers).unwrap_err(),
            ChallengeError::NotText
        );
    }
}
