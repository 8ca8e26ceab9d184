//! Custom OIDC webhooks (R-HOOK-05): a payload format of ours, documented in
//! `docs/webhooks-custom-oidc.md`, authenticated like Auth0 (the secret in `Authorization`,
//! `Bearer ` optional).
//!
//! ```json
//! {"events": [{"id": "evt_1", "type": "user.deprovisioned",
//!              "occurred_at": "2025-03-01T12:00:00Z", "user_id": "<sub>"}]}
//! ```
//!
//! Types: `user.deprovisioned`, `user.suspended`, `user.reactivated`, `user.updated`
//! (`email`, `display_name`), `membership.removed` (`user_id`, `group_id`), `group.deleted`
//! (`group_id`). Other types are acknowledged and ignored; unknown fields are ignored.

use alter_core::provider_events::custom_oidc_event_effect;
use alter_core::{EventEffect, IdpKind};
use alter_secrets::TokenHash;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::error::{AuthError, MalformedDelivery, RecordError};
use super::fields::{
    MAX_DISPLAY_NAME_BYTES, MAX_EMAIL_BYTES, event_id, group_id, opt_str, profile_text, rfc3339,
    str_field, user_id,
};
use super::{
    IgnoreReason, InboundChange, InboundEvent, InboundRequest, Outcome, ParsedDelivery,
    RecordContext,
};

/// Authenticates a custom-OIDC delivery: `Authorization` holds one of `secrets`, with or
/// without `Bearer `.
pub fn authenticate(request: &InboundRequest<'_>, secrets: &[TokenHash]) -> Result<(), AuthError> {
    super::authenticate_bearer(request, secrets, IdpKind::CustomOidc)
}

const EXPECTED: &str = "an Alter custom-OIDC webhook body (a JSON object with an `events` array; see docs/webhooks-custom-oidc.md)";

/// Parses a custom-OIDC delivery. A body that is not a JSON object with an `events` array
/// is refused whole; each event is then read on its own.
pub fn parse(request: &InboundRequest<'_>) -> Result<ParsedDelivery, MalformedDelivery> {
    let body: Value =
        serde_json::from_slice(request.body).map_err(|e| MalformedDelivery::NotJson {
            expected: EXPECTED,
            reason: e.to_string(),
        })?;
    let events = body
        .as_object()
        .and_then(|b| b.get("events"))
        .and_then(Value::as_array)
        .ok_or_else(|| MalformedDelivery::WrongShape {
            expected: EXPECTED,
            reason: "`events` is missing or not an array".to_owned(),
        })?;
    let mut delivery = ParsedDelivery::new(IdpKind::CustomOidc, None);
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
    let id = match str_field(event, "id", "id").and_then(|id| event_id(id, "id")) {
        Ok(id) => id,
        Err(e) => return cx.reject(e),
    };
    cx.provider_event_id = Some(id.clone());
    let event_type = match str_field(event, "type", "type") {
        Ok(t) => t,
        Err(e) => return cx.reject(e),
    };
    cx.event_type = Some(event_type.to_owned());
    let effect = custom_oidc_event_effect(event_type);
    if effect == EventEffect::Ignore {
        return cx.ignore(event_type, IgnoreReason::NoEffect);
    }
    match change(effect, event) {
        Ok((change, occurred_at)) => Outcome::Event(InboundEvent {
            provider: IdpKind::CustomOidc,
            provider_event_id: id,
            event_type: event_type.to_owned(),
            occurred_at,
            change,
        }),
        Err(e) => cx.reject(e),
    }
}

fn change(
    effect: EventEffect,
    event: &Map<String, Value>,
) -> Result<(InboundChange, DateTime<Utc>), RecordError> {
    let occurred_at = rfc3339(
        str_field(event, "occurred_at", "occurred_at")?,
        "occurred_at",
    )?;
    let user = || user_id(str_field(event, "user_id", "user_id")?, "user_id");
    let group = || group_id(str_field(event, "group_id", "group_id")?, "group_id");
    let change = match effect {
        EventEffect::UpdateProfile => InboundChange::UpdateProfile {
            user: user()?,
            email: profile_text(opt_str(event, "email"), "email", MAX_EMAIL_BYTES)?,
            display_name: profile_text(
                opt_str(event, "display_name"),
                "display_name",
                MAX_DISPLAY_NAME_BYTES,
            )?,
        },
        EventEffect::RemoveMembership => InboundChange::RemoveMembership {
            user: user()?,
            group: group()?,
        },
        EventEffect::DeleteGroup => InboundChange::DeleteGroup { group: group()? },
        other => InboundChange::for_user(other, user()?).ok_or(RecordError::InvalidField {
            field: "type",
            reason: "has no effect on a user".to_owned(),
        })?,
    };
    Ok((change, occurred_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    fn parse_body(body: &str) -> Result<ParsedDelivery, MalformedDelivery> {
        let headers = HeaderMap::new();
        parse(&InboundRequest::new(&headers, body.as_bytes(), Utc::now()))
    }

    #[test]
    fn r_hook_05_each_documented_type_maps_to_its_change() {
        let d = parse_body(
            r#"{"events":[
              {"id":"e1","type":"user.deprovisioned","occurred_at":"2025-03-01T12:00:00Z","user_id":"u1"},
              {"id":"e2","type":"user.suspended","occurred_at":"2025-03-01T12:00:01Z","user_id":"u1"},
              {"id":"e3","type":"user.reactivated","occurred_at":"2025-03-01T12:00:02+01:00","user_id":"u1"},
              {"id":"e4","type":"user.updated","occurred_at":"2025-03-01T12:00:03Z","user_id":"u1","email":"a@b.c","display_name":"Dana Q"},
              {"id":"e5","type":"membership.removed","occurred_at":"2025-03-01T12:00:04Z","user_id":"u1","group_id":"g1"},
              {"id":"e6","type":"group.deleted","occurred_at":"2025-03-01T12:00:05Z","group_id":"g1"},
              {"id":"e7","type":"user.created","occurred_at":"2025-03-01T12:00:06Z","user_id":"u2"}
            ]}"#,
        )
        .unwrap();
        let effects: Vec<_> = d.events.iter().map(InboundEvent::effect).collect();
        assert_eq!(
            effects,
            [
                EventEffect::Deprovision,
                EventEffect::Suspend,
                EventEffect::Reactivate,
                EventEffect::UpdateProfile,
                EventEffect::RemoveMembership,
                EventEffect::DeleteGroup
            ]
        );
        assert_eq!(
            d.events[2].occurred_at.to_rfc3339(),
            "2025-03-01T11:00:02+00:00"
        );
        assert_eq!(d.ignored.len(), 1);
        assert_eq!(d.ignored[0].provider_event_id.as_deref(), Some("e7"));
    }

    #[test]
    fn r_hook_08_custom_events_missing_their_subject_are_rejected_by_field() {
        let d = parse_body(
            r#"{"events":[
              {"id":"e1","type":"membership.removed","occurred_at":"2025-03-01T12:00:00Z","user_id":"u1"},
              {"type":"user.suspended"},
              {"id":"e3","type":"user.suspended","occurred_at":"soon","user_id":"u1"},
              "e4"
            ]}"#,
        )
        .unwrap();
        let errors: Vec<String> = d.rejected.iter().map(ToString::to_string).collect();
        assert_eq!(d.rejected.len(), 4, "{errors:?}");
        assert_eq!(
            d.rejected[0].error,
            RecordError::MissingField { field: "group_id" }
        );
        assert_eq!(
            d.rejected[1].error,
            RecordError::MissingField { field: "id" }
        );
        assert!(
            errors[2].starts_with("record 2 (e3): occurred_at is not an RFC 3339"),
            "{}",
            errors[2]
        );
        assert_eq!(d.rejected[3].error, RecordError::NotAnObject);
    }

    #[test]
    fn r_hook_07_custom_body_without_events_is_refused() {
        for body in ["[]", "{}", r#"{"events":{}}"#] {
            assert_eq!(parse_body(body).unwrap_err().code(), "body_wrong_shape");
        }
        assert_eq!(parse_body("{").unwrap_err().code(), "body_not_json");
    }
}
