//! The domain's value types: provider kinds, user status, principals, claim mappings,
//! and the lifecycle events that travel on the bus.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::FieldError;
use crate::ids::{AppId, EventId, ExternalGroupId, ExternalUserId, GroupId, UserId};

/// The kinds of identity provider (R-CFG-02).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdpKind {
    Auth0,
    Clerk,
    Okta,
    CustomOidc,
}

impl IdpKind {
    pub const ALL: [IdpKind; 4] = [
        IdpKind::Auth0,
        IdpKind::Clerk,
        IdpKind::Okta,
        IdpKind::CustomOidc,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            IdpKind::Auth0 => "auth0",
            IdpKind::Clerk => "clerk",
            IdpKind::Okta => "okta",
            IdpKind::CustomOidc => "custom_oidc",
        }
    }

    pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
        IdpKind::ALL
            .into_iter()
            .find(|k| k.as_str() == input)
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    format!("must be one of auth0, clerk, okta, custom_oidc; got {input:?}"),
                )
            })
    }
}

impl fmt::Display for IdpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An end user's state. Only `Active` users are answered by Verify (R-JWT-08).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Suspended,
    Deprovisioned,
}

impl UserStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
            UserStatus::Deprovisioned => "deprovisioned",
        }
    }

    pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
        match input {
            "active" => Ok(UserStatus::Active),
            "suspended" => Ok(UserStatus::Suspended),
            "deprovisioned" => Ok(UserStatus::Deprovisioned),
            other => Err(FieldError::new(
                field,
                format!("must be active, suspended or deprovisioned; got {other:?}"),
            )),
        }
    }
}

impl fmt::Display for UserStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who a grant is bound to (R-REV-01).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    User(UserId),
    Group(GroupId),
    /// The app itself.
    System,
}

/// Where a change came from, recorded on every audit row and revocation (R-AUD-01, R-REV-06).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventSource {
    Jwt,
    Webhook,
    DirectorySync,
    Admin,
}

impl EventSource {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventSource::Jwt => "jwt",
            EventSource::Webhook => "webhook",
            EventSource::DirectorySync => "directory_sync",
            EventSource::Admin => "admin",
        }
    }

    pub fn parse(field: &str, input: &str) -> Result<Self, FieldError> {
        match input {
            "jwt" => Ok(EventSource::Jwt),
            "webhook" => Ok(EventSource::Webhook),
            "directory_sync" => Ok(EventSource::DirectorySync),
            "admin" => Ok(EventSource::Admin),
            other => Err(FieldError::new(
                field,
                format!("must be jwt, webhook, directory_sync or admin; got {other:?}"),
            )),
        }
    }
}

/// How claims in the IDP's tokens map to our user fields (R-CFG-07). Claim names are
/// top-level keys and may contain dots and slashes; they are never split into paths.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimMappings {
    pub user_id_claim: String,
    pub group_claim: Option<String>,
    pub role_claim: Option<String>,
    pub email_claim: Option<String>,
    pub display_name_claim: Option<String>,
    /// The group claim carries stable group IDs (Okta `00g…`), not names.
    pub group_claim_stable_ids: bool,
}

impl Default for ClaimMappings {
    fn default() -> Self {
        Self {
            user_id_claim: "sub".to_owned(),
            group_claim: None,
            role_claim: None,
            email_claim: None,
            display_name_claim: None,
            group_claim_stable_ids: false,
        }
    }
}

/// A user or group lifecycle change, as published on `alter.lifecycle.<app>.<kind>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    /// Unique per provider event (Svix id, Okta uuid, Auth0 log_id, or ours); the bus uses it
    /// as the message ID so redeliveries are dropped.
    pub event_id: EventId,
    /// The provider's own event ID, when the event came from a provider.
    pub provider_event_id: Option<String>,
    pub app_id: AppId,
    pub source: EventSource,
    pub occurred_at: DateTime<Utc>,
    pub kind: LifecycleKind,
}

/// A user as named by an event: always by the provider's subject, and by our ID when known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub external_id: ExternalUserId,
    pub user_id: Option<UserId>,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LifecycleKind {
    UserProvisioned {
        user: UserRef,
        email: Option<String>,
        display_name: Option<String>,
    },
    UserUpdated {
        user: UserRef,
        email: Option<String>,
        display_name: Option<String>,
    },
    UserSuspended {
        user: UserRef,
    },
    UserReactivated {
        user: UserRef,
    },
    UserDeprovisioned {
        user: UserRef,
    },
    MembershipAdded {
        user: UserRef,
        group: ExternalGroupId,
    },
    MembershipRemoved {
        user: UserRef,
        group: ExternalGroupId,
    },
    GroupDeleted {
        group: ExternalGroupId,
    },
}

impl LifecycleKind {
    /// The last token of the subject the event is published on.
    pub const fn subject_token(&self) -> &'static str {
        match self {
            LifecycleKind::UserProvisioned { .. } => "user_provisioned",
            LifecycleKind::UserUpdated { .. } => "user_updated",
            LifecycleKind::UserSuspended { .. } => "user_suspended",
            LifecycleKind::UserReactivated { .. } => "user_reactivated",
            LifecycleKind::UserDeprovisioned { .. } => "user_deprovisioned",
            LifecycleKind::MembershipAdded { .. } => "membership_added",
            LifecycleKind::MembershipRemoved { .. } => "membership_removed",
            LifecycleKind::GroupDeleted { .. } => "group_deleted",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_cfg_02_the_four_idp_kinds_parse_and_nothing_else_does() {
        for (text, kind) in [
            ("auth0", IdpKind::Auth0),
            ("clerk", IdpKind::Clerk),
            ("okta", IdpKind::Okta),
            ("custom_oidc", IdpKind::CustomOidc),
        ] {
            assert_eq!(IdpKind::parse("kind", text).unwrap(), kind);
            assert_eq!(kind.as_str(), text);
        }
        for bad in ["keycloak", "Auth0", "oidc", ""] {
            let err = IdpKind::parse("kind", bad).unwrap_err();
            assert_eq!(err.field, "kind");
            assert!(
                err.message.contains("auth0, clerk, okta, custom_oidc"),
                "{err}"
            );
        }
    }
}
