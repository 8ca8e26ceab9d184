//! Conversions between the domain's [`LifecycleEvent`] and its protobuf form
//! (`alter.events.v1.LifecycleEvent`), the payload of every lifecycle message.
//!
//! Decoding treats the payload as untrusted: every error names the protobuf field path
//! (`kind.user_suspended.user.external_id`). Proto3 cannot tell an empty string from an
//! absent one, so optional strings (`email`, `display_name`, `provider_event_id`,
//! `user_id`) encode `None` as `""` and decode `""` as `None`.

use alter_core::{
    AppId, EventId, EventSource, ExternalGroupId, ExternalUserId, FieldError, LifecycleEvent,
    LifecycleKind, UserId, UserRef,
};
use alter_proto::events::v1 as pb;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use pb::lifecycle_event::Kind as PbKind;
use prost::Message as _;

/// Encodes an event as the protobuf bytes published on the bus.
pub fn encode_lifecycle(event: &LifecycleEvent) -> Bytes {
    Bytes::from(lifecycle_to_proto(event).encode_to_vec())
}

/// Decodes protobuf bytes from the bus into a validated event.
pub fn decode_lifecycle(payload: &[u8]) -> Result<LifecycleEvent, FieldError> {
    let message = pb::LifecycleEvent::decode(payload).map_err(|e| {
        FieldError::new(
            "payload",
            format!("is not an alter.events.v1.LifecycleEvent: {e}"),
        )
    })?;
    lifecycle_from_proto(message)
}

/// The protobuf form of a domain event.
pub fn lifecycle_to_proto(event: &LifecycleEvent) -> pb::LifecycleEvent {
    let kind = match &event.kind {
        LifecycleKind::UserProvisioned {
            user,
            email,
            display_name,
        } => PbKind::UserProvisioned(pb::UserProvisioned {
            user: Some(user_to_proto(user)),
            email: email.clone().unwrap_or_default(),
            display_name: display_name.clone().unwrap_or_default(),
        }),
        LifecycleKind::UserUpdated {
            user,
            email,
            display_name,
        } => PbKind::UserUpdated(pb::UserUpdated {
            user: Some(user_to_proto(user)),
            email: email.clone().unwrap_or_default(),
            display_name: display_name.clone().unwrap_or_default(),
        }),
        LifecycleKind::UserSuspended { user } => PbKind::UserSuspended(pb::UserSuspended {
            user: Some(user_to_proto(user)),
        }),
        LifecycleKind::UserReactivated { user } => PbKind::UserReactivated(pb::UserReactivated {
            user: Some(user_to_proto(user)),
        }),
        LifecycleKind::UserDeprovisioned { user } => {
            PbKind::UserDeprovisioned(pb::UserDeprovisioned {
                user: Some(user_to_proto(user)),
            })
        }
        LifecycleKind::MembershipAdded { user, group } => {
            PbKind::MembershipAdded(pb::MembershipAdded {
                user: Some(user_to_proto(user)),
                group_external_id: group.as_str().to_owned(),
            })
        }
        LifecycleKind::MembershipRemoved { user, group } => {
            PbKind::MembershipRemoved(pb::MembershipRemoved {
                user: Some(user_to_proto(user)),
                group_external_id: group.as_str().to_owned(),
            })
        }
        LifecycleKind::GroupDeleted { group } => PbKind::GroupDeleted(pb::GroupDeleted {
            group_external_id: group.as_str().to_owned(),
        }),
    };
    pb::LifecycleEvent {
        event_id: event.event_id.to_string(),
        app_id: event.app_id.to_string(),
        source: event.source.as_str().to_owned(),
        occurred_at: event
            .occurred_at
            .to_rfc3339_opts(SecondsFormat::AutoSi, true),
        provider_event_id: event.provider_event_id.clone().unwrap_or_default(),
        kind: Some(kind),
    }
}

/// Validates a protobuf event into the domain type; the error names the bad field.
pub fn lifecycle_from_proto(message: pb::LifecycleEvent) -> Result<LifecycleEvent, FieldError> {
    let occurred_at = DateTime::parse_from_rfc3339(&message.occurred_at)
        .map_err(|e| {
            FieldError::new(
                "occurred_at",
                format!(
                    "must be an RFC 3339 timestamp, got {:?}: {e}",
                    message.occurred_at
                ),
            )
        })?
        .with_timezone(&Utc);
    let kind = match message.kind {
        None => {
            return Err(FieldError::new(
                "kind",
                "is missing: the event must say what happened",
            ));
        }
        Some(PbKind::UserProvisioned(k)) => LifecycleKind::UserProvisioned {
            user: user_from_proto("kind.user_provisioned.user", k.user)?,
            email: non_empty(k.email),
            display_name: non_empty(k.display_name),
        },
        Some(PbKind::UserUpdated(k)) => LifecycleKind::UserUpdated {
            user: user_from_proto("kind.user_updated.user", k.user)?,
            email: non_empty(k.email),
            display_name: non_empty(k.display_name),
        },
        Some(PbKind::UserSuspended(k)) => LifecycleKind::UserSuspended {
            user: user_from_proto("kind.user_suspended.user", k.user)?,
        },
        Some(PbKind::UserReactivated(k)) => LifecycleKind::UserReactivated {
            user: user_from_proto("kind.user_reactivated.user", k.user)?,
        },
        Some(PbKind::UserDeprovisioned(k)) => LifecycleKind::UserDeprovisioned {
            user: user_from_proto("kind.user_deprovisioned.user", k.user)?,
        },
        Some(PbKind::MembershipAdded(k)) => LifecycleKind::MembershipAdded {
            user: user_from_proto("kind.membership_added.user", k.user)?,
            group: ExternalGroupId::parse(
                "kind.membership_added.group_external_id",
                &k.group_external_id,
            )?,
        },
        Some(PbKind::MembershipRemoved(k)) => LifecycleKind::MembershipRemoved {
            user: user_from_proto("kind.membership_removed.user", k.user)?,
            group: ExternalGroupId::parse(
                "kind.membership_removed.group_external_id",
                &k.group_external_id,
            )?,
        },
        Some(PbKind::GroupDeleted(k)) => LifecycleKind::GroupDeleted {
            group: ExternalGroupId::parse(
                "kind.group_deleted.group_external_id",
                &k.group_external_id,
            )?,
        },
    };
    Ok(LifecycleEvent {
        event_id: EventId::parse("event_id", &message.event_id)?,
        provider_event_id: non_empty(message.provider_event_id),
        app_id: AppId::parse("app_id", &message.app_id)?,
        source: EventSource::parse("source", &message.source)?,
        occurred_at,
        kind,
    })
}

fn user_to_proto(user: &UserRef) -> pb::UserRef {
    pb::UserRef {
        external_id: user.external_id.as_str().to_owned(),
        user_id: user.user_id.map(|id| id.to_string()).unwrap_or_default(),
    }
}

fn user_from_proto(field: &str, user: Option<pb::UserRef>) -> Result<UserRef, FieldError> {
    let user =
        user.ok_or_else(|| FieldError::new(field, "is missing: the event must name the user"))?;
    let external_id = ExternalUserId::parse(&format!("{field}.external_id"), &user.external_id)?;
    let user_id = if user.user_id.is_empty() {
        None
    } else {
        Some(UserId::parse(&format!("{field}.user_id"), &user.user_id)?)
    };
    Ok(UserRef {
        external_id,
        user_id,
    })
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(with_id: bool) -> UserRef {
        UserRef {
            external_id: ExternalUserId::parse("sub", "okta|00u1").unwrap(),
            user_id: with_id.then(UserId::new),
        }
    }

    fn group() -> ExternalGroupId {
        ExternalGroupId::parse("group", "00g42").unwrap()
    }

    /// One of every kind, with optional fields both set and unset.
    pub(crate) fn every_kind() -> Vec<LifecycleKind> {
        vec![
            LifecycleKind::UserProvisioned {
                user: user(true),
                email: Some("a@example.com".into()),
                display_name: Some("Ada".into()),
            },
            LifecycleKind::UserProvisioned {
                user: user(false),
                email: None,
                display_name: None,
            },
            LifecycleKind::UserUpdated {
                user: user(true),
                email: Some("b@example.com".into()),
                display_name: None,
            },
            LifecycleKind::UserUpdated {
                user: user(false),
                email: None,
                display_name: Some("Bo".into()),
            },
            LifecycleKind::UserSuspended { user: user(true) },
            LifecycleKind::UserReactivated { user: user(false) },
            LifecycleKind::UserDeprovisioned { user: user(true) },
            LifecycleKind::MembershipAdded {
                user: user(true),
                group: group(),
            },
            LifecycleKind::MembershipRemoved {
                user: user(false),
                group: group(),
            },
            LifecycleKind::GroupDeleted { group: group() },
        ]
    }

    fn event(kind: LifecycleKind, provider_event_id: Option<&str>) -> LifecycleEvent {
        LifecycleEvent {
            event_id: EventId::new(),
            provider_event_id: provider_event_id.map(str::to_owned),
            app_id: AppId::new(),
            source: EventSource::Webhook,
            occurred_at: DateTime::parse_from_rfc3339("2025-03-04T05:06:07.123456789Z")
                .unwrap()
                .with_timezone(&Utc),
            kind,
        }
    }

    #[test]
    fn every_lifecycle_kind_round_trips_through_protobuf() {
        let kinds = every_kind();
        let tokens: std::collections::BTreeSet<_> =
            kinds.iter().map(LifecycleKind::subject_token).collect();
        assert_eq!(tokens.len(), 8, "the table must cover all eight kinds");
        for (i, kind) in kinds.into_iter().enumerate() {
            let original = event(kind, (i % 2 == 0).then_some("svix_msg_1"));
            let decoded = decode_lifecycle(&encode_lifecycle(&original)).unwrap();
            assert_eq!(decoded, original);
        }
    }

    #[test]
    fn every_source_round_trips() {
        for source in [
            EventSource::Jwt,
            EventSource::Webhook,
            EventSource::DirectorySync,
            EventSource::Admin,
        ] {
            let mut original = event(LifecycleKind::GroupDeleted { group: group() }, None);
            original.source = source;
            assert_eq!(
                decode_lifecycle(&encode_lifecycle(&original)).unwrap(),
                original
            );
        }
    }

    fn proto() -> pb::LifecycleEvent {
        lifecycle_to_proto(&event(
            LifecycleKind::UserSuspended { user: user(true) },
            None,
        ))
    }

    fn field_of(message: pb::LifecycleEvent) -> String {
        lifecycle_from_proto(message).unwrap_err().field
    }

    #[test]
    fn bad_input_names_the_field() {
        assert_eq!(
            field_of(pb::LifecycleEvent {
                event_id: "x".into(),
                ..proto()
            }),
            "event_id"
        );
        assert_eq!(
            field_of(pb::LifecycleEvent {
                app_id: String::new(),
                ..proto()
            }),
            "app_id"
        );
        assert_eq!(
            field_of(pb::LifecycleEvent {
                source: "idp".into(),
                ..proto()
            }),
            "source"
        );
        assert_eq!(
            field_of(pb::LifecycleEvent {
                occurred_at: "yesterday".into(),
                ..proto()
            }),
            "occurred_at"
        );
        assert_eq!(
            field_of(pb::LifecycleEvent {
                kind: None,
                ..proto()
            }),
            "kind"
        );
        assert_eq!(
            field_of(pb::LifecycleEvent {
                kind: Some(PbKind::UserSuspended(pb::UserSuspended { user: None })),
                ..proto()
            }),
            "kind.user_suspended.user"
        );
        let bad_user = pb::UserRef {
            external_id: String::new(),
            user_id: String::new(),
        };
        assert_eq!(
            field_of(pb::LifecycleEvent {
                kind: Some(PbKind::UserDeprovisioned(pb::UserDeprovisioned {
                    user: Some(bad_user)
                })),
                ..proto()
            }),
            "kind.user_deprovisioned.user.external_id"
        );
        let bad_id = pb::UserRef {
            external_id: "u1".into(),
            user_id: "not-a-uuid".into(),
        };
        assert_eq!(
            field_of(pb::LifecycleEvent {
                kind: Some(PbKind::MembershipAdded(pb::MembershipAdded {
                    user: Some(bad_id),
                    group_external_id: "g".into()
                })),
                ..proto()
            }),
            "kind.membership_added.user.user_id"
        );
        assert_eq!(
            field_of(pb::LifecycleEvent {
                kind: Some(PbKind::GroupDeleted(pb::GroupDeleted {
                    group_external_id: String::new()
                })),
                ..proto()
            }),
            "kind.group_deleted.group_external_id"
        );
    }

    #[test]
    fn garbage_bytes_name_the_payload() {
        let err = decode_lifecycle(b"\xff\xff\xff").unwrap_err();
        assert_eq!(err.field, "payload");
    }
}
