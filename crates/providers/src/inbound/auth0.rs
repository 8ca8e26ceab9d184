//! Auth0 log streams (custom webhook, R-HOOK-02): the secret in `Authorization`, bare or as
//! `Bearer <secret>`; bodies as a JSON array, JSON lines, or one JSON object of records
//! `{log_id, data: {type, user_id, date, …}}`. One unreadable record never fails its batch:
//! it is rejected with its reason and the others are parsed (R-HOOK-08).

use alter_core::IdpKind;
use alter_core::provider_events::auth0_log_effect;
use alter_secrets::TokenHash;
use serde_json::{Map, Value};

use super::error::{AuthError, MalformedDelivery, RecordError};
use super::fields::{event_id, object, opt_str, rfc3339, str_field, user_id};
use super::{
    IgnoreReason, InboundChange, InboundEvent, InboundRequest, Outcome, ParsedDelivery,
    RecordContext,
};

const EXPECTED: &str =
    "an Auth0 log-stream body (a JSON array of records, JSON lines, or one record object)";

/// Authenticates an Auth0 log-stream delivery: `Authorization` holds one of `secrets`,
/// with or without `Bearer `.
pub fn authenticate(request: &InboundRequest<'_>, secrets: &[TokenHash]) -> Result<(), AuthError> {
    super::authenticate_bearer(request, secrets, IdpKind::Auth0)
}

/// Parses an Auth0 log-stream body. Only a body that is in none of the three forms (or is
/// JSON but neither an array nor an object) is refused as a whole.
pub fn parse(request: &InboundRequest<'_>) -> Result<ParsedDelivery, MalformedDelivery> {
    let mut delivery = ParsedDelivery::new(IdpKind::Auth0, None);
    for (index, record) in records(request.body)?.into_iter().enumerate() {
        delivery.push(parse_record(index, record));
    }
    Ok(delivery)
}

/// The records of a body: the elements of an array, the object itself, or the non-blank
/// lines of JSON lines (each line parsed on its own; a line that is not JSON is kept as a
/// rejected record, as long as at least one line is a JSON object).
fn records(body: &[u8]) -> Result<Vec<Result<Value, RecordError>>, MalformedDelivery> {
    let whole_error = match serde_json::from_slice::<Value>(body) {
        Ok(Value::Array(items)) => return Ok(items.into_iter().map(Ok).collect()),
        Ok(record @ Value::Object(_)) => return Ok(vec![Ok(record)]),
        Ok(other) => {
            return Err(MalformedDelivery::WrongShape {
                expected: EXPECTED,
                reason: format!("it is a JSON {}", json_type(&other)),
            });
        }
        Err(e) => e,
    };
    let lines: Vec<Result<Value, RecordError>> = body
        .split(|b| *b == b'\n')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice::<Value>(line).map_err(|e| RecordError::NotJson {
                reason: e.to_string(),
            })
        })
        .collect();
    if lines.iter().any(|l| matches!(l, Ok(Value::Object(_)))) {
        Ok(lines)
    } else {
        Err(MalformedDelivery::NotJson {
            expected: EXPECTED,
            reason: whole_error.to_string(),
        })
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn parse_record(index: usize, record: Result<Value, RecordError>) -> Outcome {
    let mut cx = RecordContext::at(index);
    let record = match record {
        Ok(Value::Object(map)) => map,
        Ok(_) => return cx.reject(RecordError::NotAnObject),
        Err(e) => return cx.reject(e),
    };
    let data = object(&record, "data");
    // log_id is outside and inside data; the outer one is the documented key.
    let log_id = opt_str(&record, "log_id").or_else(|| data.and_then(|d| opt_str(d, "log_id")));
    match log_id.map(|id| event_id(id, "log_id")).transpose() {
        Ok(id) => cx.provider_event_id = id,
        Err(e) => return cx.reject(e),
    }
    let Some(data) = data else {
        return cx.reject(RecordError::MissingField { field: "data" });
    };
    let code = match str_field(data, "type", "data.type") {
        Ok(code) => code,
        Err(e) => return cx.reject(e),
    };
    cx.event_type = Some(code.to_owned());
    let effect = auth0_log_effect(code);
    let Some(provider_event_id) = cx.provider_event_id.clone() else {
        return if effect == alter_core::EventEffect::Ignore {
            cx.ignore(code, IgnoreReason::NoEffect)
        } else {
            cx.reject(RecordError::MissingField { field: "log_id" })
        };
    };
    match acting_change(effect, data) {
        Ok(None) => cx.ignore(code, IgnoreReason::NoEffect),
        Ok(Some((change, occurred_at))) => Outcome::Event(InboundEvent {
            provider: IdpKind::Auth0,
            provider_event_id,
            event_type: code.to_owned(),
            occurred_at,
            change,
        }),
        Err(e) => cx.reject(e),
    }
}

/// The change of an acting code (`sdu`, `ublkdu`): the user in `data.user_id` at
/// `data.date`. `None` for codes we ignore.
fn acting_change(
    effect: alter_core::EventEffect,
    data: &Map<String, Value>,
) -> Result<Option<(InboundChange, chrono::DateTime<chrono::Utc>)>, RecordError> {
    if effect == alter_core::EventEffect::Ignore {
        return Ok(None);
    }
    let user = user_id(str_field(data, "user_id", "data.user_id")?, "data.user_id")?;
    let occurred_at = rfc3339(str_field(data, "date", "data.date")?, "data.date")?;
    let change =
        InboundChange::for_user(effect, user).ok_or_else(|| RecordError::InvalidField {
            field: "data.type",
            reason: "has an effect Auth0 log records cannot carry".to_owned(),
        })?;
    Ok(Some((change, occurred_at)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn parse_body(body: &str) -> Result<ParsedDelivery, MalformedDelivery> {
        let headers = HeaderMap::new();
        parse(&InboundRequest::new(
            &headers,
            body.as_bytes(),
            chrono::Utc::now(),
        ))
    }

    const SDU: &str = r#"{"log_id":"900a","data":{"log_id":"900a","type":"sdu","user_id":"auth0|1","date":"2025-03-01T12:00:00.123Z"}}"#;

    #[test]
    fn r_hook_02_blank_lines_and_crlf_in_json_lines_are_tolerated() {
        let body = format!("\r\n{SDU}\r\n\r\n{SDU}\n");
        let d = parse_body(&body).unwrap();
        assert_eq!(d.events.len(), 2);
        assert!(d.rejected.is_empty());
    }

    #[test]
    fn r_hook_02_a_json_scalar_or_non_json_body_is_refused_whole() {
        for body in ["42", "\"sdu\"", "null"] {
            let err = parse_body(body).unwrap_err();
            assert_eq!(err.code(), "body_wrong_shape", "{body}");
        }
        for body in ["", "not json", "[1,2", "1\n2", "{\"log_id\":"] {
            let err = parse_body(body).unwrap_err();
            assert_eq!(err.code(), "body_not_json", "{body:?}");
        }
    }

    #[test]
    fn r_hook_08_an_empty_array_is_an_empty_delivery() {
        assert_eq!(parse_body("[]").unwrap().record_count(), 0);
    }

    #[test]
    fn r_hook_08_log_id_falls_back_to_the_inner_one_and_is_required_only_to_act() {
        let d = parse_body(
            r#"[{"data":{"log_id":"900b","type":"sdu","user_id":"auth0|1","date":"2025-03-01T12:00:00Z"}},
                {"data":{"type":"s"}},
                {"data":{"type":"sdu","user_id":"auth0|1","date":"2025-03-01T12:00:00Z"}}]"#,
        )
        .unwrap();
        assert_eq!(d.events[0].provider_event_id, "900b");
        assert_eq!(d.ignored[0].provider_event_id, None);
        assert_eq!(d.ignored[0].event_type, "s");
        assert_eq!(
            d.rejected[0].error,
            RecordError::MissingField { field: "log_id" }
        );
        assert_eq!(d.rejected[0].index, 2);
        assert_eq!(d.rejected[0].event_type.as_deref(), Some("sdu"));
    }
}
