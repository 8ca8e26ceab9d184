//! Audit records: what the audit-writer appends to the provisioning trail (R-AUD-01).
//!
//! An audit record is either a lifecycle change that was applied or a grant revocation, so
//! the one stream `ALTER_AUDIT` carries everything the trail needs. Records travel as JSON
//! (there is no protobuf message for them yet); `event_id` is the message ID, so a record
//! published twice is stored once by JetStream and, past the window, deduplicated by the
//! writer (R-AUD-02).

use alter_core::{
    AppId, EventId, EventSource, FieldError, GrantId, LifecycleEvent, LifecycleKind, Principal,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One entry for the provisioning audit trail.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Unique per record; the dedupe key on the bus and in the trail.
    pub event_id: EventId,
    pub app_id: AppId,
    pub source: EventSource,
    pub occurred_at: DateTime<Utc>,
    pub kind: AuditKind,
}

/// What the record is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditKind {
    /// A user or group lifecycle change was applied.
    Lifecycle(LifecycleKind),
    /// A grant was revoked (R-REV-06); `caused_by` is the event that caused it, if any.
    GrantRevoked {
        grant_id: GrantId,
        principal: Principal,
        caused_by: Option<EventId>,
    },
}

impl AuditRecord {
    /// The audit record of an applied lifecycle event: same ID, app, source and time.
    pub fn from_lifecycle(event: &LifecycleEvent) -> Self {
        Self {
            event_id: event.event_id,
            app_id: event.app_id,
            source: event.source,
            occurred_at: event.occurred_at,
            kind: AuditKind::Lifecycle(event.kind.clone()),
        }
    }

    /// The last token of the subject: the lifecycle kind's token, or `grant_revoked`.
    pub fn subject_token(&self) -> &'static str {
        match &self.kind {
            AuditKind::Lifecycle(kind) => kind.subject_token(),
            AuditKind::GrantRevoked { .. } => "grant_revoked",
        }
    }
}

/// Encodes a record as the JSON published on the bus.
pub fn encode_audit(record: &AuditRecord) -> Result<Bytes, serde_json::Error> {
    serde_json::to_vec(record).map(Bytes::from)
}

/// Decodes a record from the bus; the error names the field serde reports (`payload` plus
/// its path and position).
pub fn decode_audit(payload: &[u8]) -> Result<AuditRecord, FieldError> {
    serde_json::from_slice(payload)
        .map_err(|e| FieldError::new("payload", format!("is not a JSON audit record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alter_core::{ExternalUserId, UserId, UserRef};

    #[test]
    fn audit_records_round_trip_through_json() {
        let lifecycle = LifecycleEvent {
            event_id: EventId::new(),
            provider_event_id: None,
            app_id: AppId::new(),
            source: EventSource::DirectorySync,
            occurred_at: Utc::now(),
            kind: LifecycleKind::UserDeprovisioned {
                user: UserRef {
                    external_id: ExternalUserId::parse("sub", "00u1").unwrap(),
                    user_id: Some(UserId::new()),
                },
            },
        };
        let from_event = AuditRecord::from_lifecycle(&lifecycle);
        assert_eq!(from_event.subject_token(), "user_deprovisioned");
        let revoked = AuditRecord {
            kind: AuditKind::GrantRevoked {
                grant_id: GrantId::new(),
                principal: Principal::User(UserId::new()),
                caused_by: Some(lifecycle.event_id),
            },
            event_id: EventId::new(),
            ..from_event.clone()
        };
        assert_eq!(revoked.subject_token(), "grant_revoked");
        for record in [from_event, revoked] {
            assert_eq!(
                decode_audit(&encode_audit(&record).unwrap()).unwrap(),
                record
            );
        }
        assert_eq!(
            decode_audit(b"{\"event_id\": 3}").unwrap_err().field,
            "payload"
        );
    }
}
