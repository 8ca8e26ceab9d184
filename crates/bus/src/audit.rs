//! Audit records: what the audit-writer appends to the provisioning trail (R-AUD-01).
//!
//! An audit record is either a lifecycle change that was applied or a grant revocation, so
//! the one stream `ALTER_AUDIT` carries everything the trail needs. Records travel as JSON
//! (there is no protobuf message for them yet); `event_id` is the message ID, so a record
//! published twice is stored once by JetStream and, past the window, deduplicated by the
//! writer (R-AUD-02).

use alter_core::{
    AppId, EventId, EventSource, FieldError, GrantId, LifecycleEvent, LifecycleKind, Principal,
    UserId,
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
    /// What caused it, when more than its source says: the provider's event ID (a webhook)
    /// or `directory run <run ID>` (directory sync, R-DIR-06).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
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
        /// The admin token that revoked it, for an admin revocation (R-AUD-05).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        actor: Option<String>,
    },
    /// An administrator changed the app's configuration (R-AUD-05).
    AdminChange {
        action: AdminAction,
        /// Which admin token made the change ([`admin_actor`]); never the token itself.
        actor: String,
        /// What was changed, e.g. `grant 0193…` or `identity provider 0193…`.
        target: String,
        /// The user the change concerns (a grant to a user), for filtering the trail.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<UserId>,
        /// The change's parameters as the admin gave them (never a secret).
        #[serde(default)]
        detail: serde_json::Value,
    },
}

/// The admin changes recorded in the trail (R-AUD-05). Revocations are
/// [`AuditKind::GrantRevoked`], whatever caused them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminAction {
    AppCreated,
    IdpCreated,
    ClaimMappingsChanged,
    SignInChanged,
    IdpDeleted,
    GrantCreated,
    WebhooksEnabled,
    WebhookSecretRotated,
    WebhooksDisabled,
    DirectoryCredentialSet,
    DirectoryImportRequested,
    DirectoryImportApproved,
    DirectoryImportRejected,
}

impl AdminAction {
    /// The trail's kind and the subject's last token.
    pub const fn as_str(self) -> &'static str {
        match self {
            AdminAction::AppCreated => "app_created",
            AdminAction::IdpCreated => "idp_created",
            AdminAction::ClaimMappingsChanged => "claim_mappings_changed",
            AdminAction::SignInChanged => "sign_in_changed",
            AdminAction::IdpDeleted => "idp_deleted",
            AdminAction::GrantCreated => "grant_created",
            AdminAction::WebhooksEnabled => "webhooks_enabled",
            AdminAction::WebhookSecretRotated => "webhook_secret_rotated",
            AdminAction::WebhooksDisabled => "webhooks_disabled",
            AdminAction::DirectoryCredentialSet => "directory_credential_set",
            AdminAction::DirectoryImportRequested => "directory_import_requested",
            AdminAction::DirectoryImportApproved => "directory_import_approved",
            AdminAction::DirectoryImportRejected => "directory_import_rejected",
        }
    }
}

/// How an admin token is named in the trail: the first 12 hex digits of its SHA-256, which
/// tells tokens apart (the configured hashes start with the same digits) without revealing
/// anything that would let the token be used.
pub fn admin_actor(token_sha256_hex: &str) -> String {
    let short: String = token_sha256_hex.chars().take(12).collect();
    format!("admin-token:sha256:{short}")
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
            cause: event.provider_event_id.clone(),
        }
    }

    /// The last token of the subject: the lifecycle kind's token, or `grant_revoked`.
    pub fn subject_token(&self) -> &'static str {
        match &self.kind {
            AuditKind::Lifecycle(kind) => kind.subject_token(),
            AuditKind::GrantRevoked { .. } => "grant_revoked",
            AuditKind::AdminChange { action, .. } => action.as_str(),
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
                actor: None,
            },
            event_id: EventId::new(),
            ..from_event.clone()
        };
        assert_eq!(revoked.subject_token(), "grant_revoked");
        let admin = AuditRecord {
            kind: AuditKind::AdminChange {
                action: AdminAction::GrantCreated,
                actor: admin_actor("0123456789abcdef0123"),
                target: "grant x".to_owned(),
                user_id: None,
                detail: serde_json::json!({"credential_ref": "db:orders"}),
            },
            event_id: EventId::new(),
            source: EventSource::Admin,
            ..revoked.clone()
        };
        assert_eq!(admin.subject_token(), "grant_created");
        for record in [from_event, revoked, admin] {
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
