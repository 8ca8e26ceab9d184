//! What an applied lifecycle event tells other services, written to the outbox in the same
//! transaction as the change (ADR 0008): the cache invalidation every verifier replica needs
//! (R-JWT-10) and the audit records of the trail (R-AUD-01), each with an ID a retry
//! reproduces, so every record is stored once (R-AUD-02).

use alter_bus::{AuditKind, AuditRecord, Invalidation};
use alter_core::{EventId, LifecycleEvent, LifecycleKind, UserId, UserRef};
use alter_runtime::outbox::{audit_message, invalidation_message};
use alter_store::{LifecycleChange, OutboxMessage, RemovedMembership};
use uuid::Uuid;

/// The namespace of the UUIDv5 IDs of audit records derived from one event (a deleted
/// group's removed memberships): the same event and user always give the same ID.
const DERIVED_RECORDS: Uuid = Uuid::from_u128(0x6c1f_7d0e_2b1a_4c55_9a43_0d1e_5b7f_e8a2);

/// The outbox messages of `change`, which `event` made:
///
/// - the event's own audit record, its ID the event's, naming our user ID so the trail can be
///   read per user (R-AUD-03);
/// - one `grant_revoked` record per revoked grant (R-REV-06), its ID the grant's (a grant is
///   revoked once, so it is recorded once whatever revoked it; ADR 0006), caused by the event;
/// - for a deleted group, one `membership_removed` record per member, its ID derived from the
///   event and the user;
/// - the invalidation: the user's entries for a change to one user (status, profile, a
///   membership, their grants), every user's of the app for a deleted group (its grants
///   reached all its members).
pub fn messages(event: &LifecycleEvent, change: &LifecycleChange) -> Vec<OutboxMessage> {
    let mut out = Vec::with_capacity(2 + change.revoked.len() + change.memberships_removed.len());
    let user_id = change.user.as_ref().map(|u| u.user_id);
    let applied = LifecycleEvent {
        kind: with_user_id(&event.kind, user_id),
        ..event.clone()
    };
    out.push(audit_message(&AuditRecord::from_lifecycle(&applied)));
    for grant in &change.revoked {
        out.push(audit_message(&AuditRecord {
            event_id: EventId::from_uuid(grant.id.as_uuid()),
            app_id: event.app_id,
            source: event.source,
            occurred_at: grant.revoked_at.unwrap_or(event.occurred_at),
            kind: AuditKind::GrantRevoked {
                grant_id: grant.id,
                principal: grant.principal,
                caused_by: Some(event.event_id),
                actor: None,
            },
            cause: event.provider_event_id.clone(),
        }));
    }
    let group_deleted = matches!(event.kind, LifecycleKind::GroupDeleted { .. });
    if group_deleted {
        for removed in &change.memberships_removed {
            out.push(audit_message(&membership_removed(event, removed)));
        }
    }
    let invalidation = match user_id {
        Some(user_id) if !group_deleted => Invalidation::User { user_id },
        _ => Invalidation::AppGrants,
    };
    out.push(invalidation_message(event.app_id, invalidation));
    out
}

/// The ID of a record derived from `event` about `user`.
pub fn derived_record_id(event: EventId, user: UserId) -> EventId {
    let mut name = [0_u8; 32];
    name[..16].copy_from_slice(event.as_uuid().as_bytes());
    name[16..].copy_from_slice(user.as_uuid().as_bytes());
    EventId::from_uuid(Uuid::new_v5(&DERIVED_RECORDS, &name))
}

fn membership_removed(event: &LifecycleEvent, removed: &RemovedMembership) -> AuditRecord {
    AuditRecord {
        event_id: derived_record_id(event.event_id, removed.user_id),
        app_id: event.app_id,
        source: event.source,
        occurred_at: event.occurred_at,
        kind: AuditKind::Lifecycle(LifecycleKind::MembershipRemoved {
            user: UserRef {
                external_id: removed.external_user_id.clone(),
                user_id: Some(removed.user_id),
            },
            group: removed.external_group_id.clone(),
        }),
        cause: event.provider_event_id.clone(),
    }
}

/// `kind` naming our user ID, once the event has been resolved to a user.
fn with_user_id(kind: &LifecycleKind, user_id: Option<UserId>) -> LifecycleKind {
    let mut kind = kind.clone();
    if let Some(id) = user_id {
        match &mut kind {
            LifecycleKind::UserProvisioned { user, .. }
            | LifecycleKind::UserUpdated { user, .. }
            | LifecycleKind::UserSuspended { user }
            | LifecycleKind::UserReactivated { user }
            | LifecycleKind::UserDeprovisioned { user }
            | LifecycleKind::MembershipAdded { user, .. }
            | LifecycleKind::MembershipRemoved { user, .. } => user.user_id = Some(id),
            LifecycleKind::GroupDeleted { .. } => {}
        }
    }
    kind
}

#[cfg(test)]
mod tests {
    use super::*;
    use alter_core::{
        AppId, EventSource, ExternalGroupId, ExternalUserId, GrantId, GroupId, Principal,
        UserStatus,
    };
    use alter_store::{Grant, GroupChange, OutboxTopic, RevokedBy, UserChange};
    use chrono::Utc;

    fn ext_user(id: &str) -> ExternalUserId {
        ExternalUserId::parse("sub", id).unwrap()
    }

    fn ext_group(id: &str) -> ExternalGroupId {
        ExternalGroupId::parse("group", id).unwrap()
    }

    fn event(kind: LifecycleKind) -> LifecycleEvent {
        LifecycleEvent {
            event_id: EventId::new(),
            provider_event_id: Some("msg_1".into()),
            app_id: AppId::new(),
            source: EventSource::Webhook,
            occurred_at: Utc::now(),
            kind,
        }
    }

    fn revoked(app: AppId, principal: Principal) -> Grant {
        Grant {
            id: GrantId::new(),
            app_id: app,
            credential_ref: "db".into(),
            principal,
            expires_at: None,
            revoked_at: Some(Utc::now()),
            revoked_by: Some(RevokedBy::new(EventSource::Webhook, "event")),
            created_at: Utc::now(),
        }
    }

    fn audit_records(messages: &[OutboxMessage]) -> Vec<AuditRecord> {
        messages
            .iter()
            .filter(|m| m.topic == OutboxTopic::Audit)
            .map(|m| alter_bus::audit::decode_audit(&m.payload).unwrap())
            .collect()
    }

    fn invalidations(messages: &[OutboxMessage]) -> Vec<Invalidation> {
        messages
            .iter()
            .filter(|m| m.topic == OutboxTopic::Invalidation)
            .map(|m| serde_json::from_slice(&m.payload).unwrap())
            .collect()
    }

    #[test]
    fn r_aud_01_r_rev_06_a_deprovisioning_is_recorded_with_our_user_id_and_each_revocation_with_its_cause()
     {
        let e = event(LifecycleKind::UserDeprovisioned {
            user: UserRef {
                external_id: ext_user("00u1"),
                user_id: None,
            },
        });
        let user_id = UserId::new();
        let grants = [
            revoked(e.app_id, Principal::User(user_id)),
            revoked(e.app_id, Principal::User(user_id)),
        ];
        let change = LifecycleChange {
            user: Some(UserChange {
                user_id,
                external_id: ext_user("00u1"),
                previous_status: Some(UserStatus::Active),
                status: UserStatus::Deprovisioned,
                state_version: 1,
                profile_changed: false,
                created: false,
            }),
            revoked: grants.to_vec(),
            ..LifecycleChange::default()
        };
        let messages = messages(&e, &change);
        assert!(messages.iter().all(|m| m.app_id == e.app_id));
        let records = audit_records(&messages);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].event_id, e.event_id);
        assert_eq!(
            records[0].kind,
            AuditKind::Lifecycle(LifecycleKind::UserDeprovisioned {
                user: UserRef {
                    external_id: ext_user("00u1"),
                    user_id: Some(user_id),
                },
            })
        );
        for (record, grant) in records[1..].iter().zip(&grants) {
            assert_eq!(record.event_id.as_uuid(), grant.id.as_uuid());
            assert_eq!(
                record.kind,
                AuditKind::GrantRevoked {
                    grant_id: grant.id,
                    principal: grant.principal,
                    caused_by: Some(e.event_id),
                    actor: None,
                }
            );
            assert_eq!(record.source, EventSource::Webhook);
        }
        assert_eq!(invalidations(&messages), [Invalidation::User { user_id }]);
        // The same change gives the same records (a retried transaction writes the same IDs).
        let again: Vec<EventId> = audit_records(&super::messages(&e, &change))
            .iter()
            .map(|r| r.event_id)
            .collect();
        assert_eq!(
            again,
            records.iter().map(|r| r.event_id).collect::<Vec<_>>()
        );
    }

    #[test]
    fn r_rev_05_a_deleted_group_invalidates_the_apps_grants_and_records_each_removed_membership() {
        let e = event(LifecycleKind::GroupDeleted {
            group: ext_group("org_1"),
        });
        let group_id = GroupId::new();
        let members = [UserId::new(), UserId::new()];
        let change = LifecycleChange {
            group: Some(GroupChange {
                group_id,
                external_id: ext_group("org_1"),
                created: false,
                deleted: true,
            }),
            memberships_removed: members
                .iter()
                .enumerate()
                .map(|(i, &user_id)| RemovedMembership {
                    user_id,
                    external_user_id: ext_user(&format!("user_{i}")),
                    group_id,
                    external_group_id: ext_group("org_1"),
                })
                .collect(),
            revoked: vec![revoked(e.app_id, Principal::Group(group_id))],
            user: None,
        };
        let messages = messages(&e, &change);
        let records = audit_records(&messages);
        assert_eq!(records.len(), 1 + 1 + 2);
        assert_eq!(records[0].subject_token(), "group_deleted");
        assert_eq!(records[1].subject_token(), "grant_revoked");
        for (record, user_id) in records[2..].iter().zip(members) {
            assert_eq!(record.event_id, derived_record_id(e.event_id, user_id));
            assert_eq!(record.subject_token(), "membership_removed");
        }
        let mut ids: Vec<EventId> = records.iter().map(|r| r.event_id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), records.len(), "IDs are distinct");
        assert_eq!(invalidations(&messages), [Invalidation::AppGrants]);
    }

    #[test]
    fn r_rev_04_a_removed_membership_invalidates_only_that_user() {
        let e = event(LifecycleKind::MembershipRemoved {
            user: UserRef {
                external_id: ext_user("user_1"),
                user_id: None,
            },
            group: ext_group("org_1"),
        });
        let user_id = UserId::new();
        let change = LifecycleChange {
            user: Some(UserChange {
                user_id,
                external_id: ext_user("user_1"),
                previous_status: Some(UserStatus::Active),
                status: UserStatus::Active,
                state_version: 0,
                profile_changed: false,
                created: false,
            }),
            memberships_removed: vec![RemovedMembership {
                user_id,
                external_user_id: ext_user("user_1"),
                group_id: GroupId::new(),
                external_group_id: ext_group("org_1"),
            }],
            ..LifecycleChange::default()
        };
        let messages = messages(&e, &change);
        assert_eq!(audit_records(&messages).len(), 1);
        assert_eq!(invalidations(&messages), [Invalidation::User { user_id }]);
    }

    #[test]
    fn derived_ids_depend_on_the_event_and_the_user_only() {
        let (e, u) = (EventId::new(), UserId::new());
        assert_eq!(derived_record_id(e, u), derived_record_id(e, u));
        assert_ne!(derived_record_id(e, u), derived_record_id(e, UserId::new()));
        assert_ne!(
            derived_record_id(e, u),
            derived_record_id(EventId::new(), u)
        );
        assert_ne!(derived_record_id(e, u), e);
    }
}
