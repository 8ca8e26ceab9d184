//! How an [`AuditRecord`] from the bus becomes a row of the trail: the kind token, the user it
//! concerns (when known) for filtering (R-AUD-03), and the whole record as detail so nothing
//! the publisher said is lost.

use alter_bus::audit::{AuditKind, AuditRecord};
use alter_core::{LifecycleKind, Principal, UserId};
use alter_store::NewAuditEvent;

/// The trail row for `record`; same event ID, source and time (R-AUD-01).
pub fn to_new_event(record: &AuditRecord) -> NewAuditEvent {
    NewAuditEvent {
        event_id: record.event_id,
        kind: record.subject_token().to_owned(),
        source: record.source,
        user_id: user_of(&record.kind),
        occurred_at: record.occurred_at,
        detail: serde_json::to_value(record).unwrap_or_else(|error| {
            // Unreachable for these types; keep the row rather than lose the event.
            serde_json::json!({ "unserialisable_record": error.to_string() })
        }),
    }
}

/// The Alter user the record concerns, when the publisher knew it.
fn user_of(kind: &AuditKind) -> Option<UserId> {
    match kind {
        AuditKind::Lifecycle(lifecycle) => match lifecycle {
            LifecycleKind::UserProvisioned { user, .. }
            | LifecycleKind::UserUpdated { user, .. }
            | LifecycleKind::UserSuspended { user }
            | LifecycleKind::UserReactivated { user }
            | LifecycleKind::UserDeprovisioned { user }
            | LifecycleKind::MembershipAdded { user, .. }
            | LifecycleKind::MembershipRemoved { user, .. } => user.user_id,
            LifecycleKind::GroupDeleted { .. } => None,
        },
        AuditKind::GrantRevoked { principal, .. } => match principal {
            Principal::User(user_id) => Some(*user_id),
            Principal::Group(_) | Principal::System => None,
        },
        AuditKind::AdminChange { user_id, .. } => *user_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alter_core::{
        AppId, EventId, EventSource, ExternalGroupId, ExternalUserId, GrantId, UserRef,
    };
    use chrono::Utc;

    fn record(kind: AuditKind) -> AuditRecord {
        AuditRecord {
            event_id: EventId::new(),
            app_id: AppId::new(),
            source: EventSource::Jwt,
            occurred_at: Utc::now(),
            kind,
            cause: None,
        }
    }

    fn user(user_id: Option<UserId>) -> UserRef {
        UserRef {
            external_id: ExternalUserId::parse("sub", "auth0|42").unwrap(),
            user_id,
        }
    }

    #[test]
    fn r_aud_01_provisioned_user_keeps_id_source_time_user_and_the_whole_record() {
        let user_id = UserId::new();
        let rec = record(AuditKind::Lifecycle(LifecycleKind::UserProvisioned {
            user: user(Some(user_id)),
            email: Some("ada@example.com".into()),
            display_name: None,
        }));
        let row = to_new_event(&rec);
        assert_eq!(row.event_id, rec.event_id);
        assert_eq!(row.kind, "user_provisioned");
        assert_eq!(row.source, EventSource::Jwt);
        assert_eq!(row.user_id, Some(user_id));
        assert_eq!(row.occurred_at, rec.occurred_at);
        let back: AuditRecord = serde_json::from_value(row.detail).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn user_is_taken_from_the_user_ref_or_user_principal_and_only_when_known() {
        let user_id = UserId::new();
        let group = ExternalGroupId::parse("group", "admins").unwrap();
        let cases = [
            (
                AuditKind::Lifecycle(LifecycleKind::MembershipAdded {
                    user: user(Some(user_id)),
                    group: group.clone(),
                }),
                "membership_added",
                Some(user_id),
            ),
            (
                AuditKind::Lifecycle(LifecycleKind::MembershipRemoved {
                    user: user(None),
                    group: group.clone(),
                }),
                "membership_removed",
                None,
            ),
            (
                AuditKind::Lifecycle(LifecycleKind::GroupDeleted { group }),
                "group_deleted",
                None,
            ),
            (
                AuditKind::GrantRevoked {
                    grant_id: GrantId::new(),
                    principal: Principal::User(user_id),
                    caused_by: None,
                    actor: None,
                },
                "grant_revoked",
                Some(user_id),
            ),
            (
                AuditKind::GrantRevoked {
                    grant_id: GrantId::new(),
                    principal: Principal::System,
                    caused_by: None,
                    actor: None,
                },
                "grant_revoked",
                None,
            ),
        ];
        for (kind, token, expected) in cases {
            let row = to_new_event(&record(kind));
            assert_eq!(row.kind, token);
            assert_eq!(row.user_id, expected, "{token}");
        }
    }
}
