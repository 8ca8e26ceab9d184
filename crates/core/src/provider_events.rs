//! What each provider's webhook events and directory statuses mean to us, as data tables
//! (R-HOOK-02..05, R-DIR-02). Parsing the payloads lives in `providers`; this module only
//! decides the effect, so every service agrees on it.

use serde::{Deserialize, Serialize};

use crate::model::UserStatus;

/// What a provider event does to our state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventEffect {
    /// The user is gone: deprovision and revoke their grants (R-REV-02).
    Deprovision,
    /// The user may not act for now: hide their grants (R-REV-03).
    Suspend,
    /// A suspended user may act again.
    Reactivate,
    /// Sync the user's email and display name.
    UpdateProfile,
    /// A user left a group (R-REV-04).
    RemoveMembership,
    /// A group was deleted; its group grants are revoked (R-REV-05).
    DeleteGroup,
    /// Acknowledged and otherwise ignored.
    Ignore,
}

/// R-HOOK-02: the effect of an Auth0 log-stream record, by its `data.type` code. Only
/// `sdu` (user deleted) and `ublkdu` (a block on the user was released) act; every other
/// code, including `sul` and the legacy `du`, is acknowledged and ignored. Codes are
/// case-sensitive, as Auth0 sends them.
pub fn auth0_log_effect(code: &str) -> EventEffect {
    match code {
        "sdu" => EventEffect::Deprovision,
        "ublkdu" => EventEffect::Reactivate,
        _ => EventEffect::Ignore,
    }
}

/// R-HOOK-03: the effect of a Clerk (Svix) webhook, by its envelope `type`.
pub fn clerk_event_effect(event_type: &str) -> EventEffect {
    match event_type {
        "user.deleted" => EventEffect::Deprovision,
        "user.updated" => EventEffect::UpdateProfile,
        "organizationMembership.deleted" => EventEffect::RemoveMembership,
        "organization.deleted" => EventEffect::DeleteGroup,
        _ => EventEffect::Ignore,
    }
}

/// R-HOOK-04: the effect of an Okta event-hook event, by its `eventType`. Deletion
/// (`delete.completed` is not hook-eligible, so `delete.initiated`) and deactivation
/// deprovision; the three restoring events reactivate a suspended user.
pub fn okta_event_effect(event_type: &str) -> EventEffect {
    match event_type {
        "user.lifecycle.delete.initiated" | "user.lifecycle.deactivate" => EventEffect::Deprovision,
        "user.lifecycle.suspend" => EventEffect::Suspend,
        "user.lifecycle.unsuspend" | "user.lifecycle.reactivate" | "user.lifecycle.activate" => {
            EventEffect::Reactivate
        }
        "group.user_membership.remove" => EventEffect::RemoveMembership,
        "group.lifecycle.delete" => EventEffect::DeleteGroup,
        _ => EventEffect::Ignore,
    }
}

/// R-HOOK-05: the effect of an event in our own custom-OIDC webhook payload, by its `type`
/// (the format is documented in `docs/webhooks-custom-oidc.md`). Unknown types are
/// acknowledged and ignored, so senders may emit more types than we act on.
pub fn custom_oidc_event_effect(event_type: &str) -> EventEffect {
    match event_type {
        "user.deprovisioned" => EventEffect::Deprovision,
        "user.suspended" => EventEffect::Suspend,
        "user.reactivated" => EventEffect::Reactivate,
        "user.updated" => EventEffect::UpdateProfile,
        "membership.removed" => EventEffect::RemoveMembership,
        "group.deleted" => EventEffect::DeleteGroup,
        _ => EventEffect::Ignore,
    }
}

/// R-DIR-02: an Auth0 user's status from the Management API's `blocked` flag.
pub const fn auth0_user_status(blocked: bool) -> UserStatus {
    if blocked {
        UserStatus::Suspended
    } else {
        UserStatus::Active
    }
}

/// R-DIR-02: a Clerk user's status from `banned`. `locked` (a temporary lockout after
/// failed sign-ins) is not a suspension and is not an input here.
pub const fn clerk_user_status(banned: bool) -> UserStatus {
    if banned {
        UserStatus::Suspended
    } else {
        UserStatus::Active
    }
}

/// R-DIR-02: an Okta user's status (§4.4 of the wire-format reference).
///
/// `SUSPENDED` → suspended and `DEPROVISIONED` → deprovisioned, as the rule says. Every
/// other documented status is still an entitled person whom Okta itself gates at sign-in,
/// so it maps to active: `STAGED`/`PROVISIONED`/`ACTIVATING` have not finished activation
/// (imported so group grants can be assigned before their first sign-in), `RECOVERY` and
/// `PASSWORD_EXPIRED` must reset a password, `LOCKED_OUT` is a temporary lockout whose
/// release (`user.account.unlock`) we do not receive — treating it as a suspension would
/// leave grants hidden until the next run. An undocumented status gives `None`, so the
/// caller leaves the user as it is and records the error instead of guessing.
pub fn okta_user_status(status: &str) -> Option<UserStatus> {
    match status {
        "SUSPENDED" => Some(UserStatus::Suspended),
        "DEPROVISIONED" => Some(UserStatus::Deprovisioned),
        "ACTIVE" | "PROVISIONED" | "STAGED" | "ACTIVATING" | "RECOVERY" | "LOCKED_OUT"
        | "PASSWORD_EXPIRED" => Some(UserStatus::Active),
        _ => None,
    }
}

/// The effect of a directory listing reporting a user in `status`, so imports go through
/// the same state machine as webhooks (see `transitions::apply`).
pub const fn directory_status_effect(status: UserStatus) -> EventEffect {
    match status {
        UserStatus::Active => EventEffect::Reactivate,
        UserStatus::Suspended => EventEffect::Suspend,
        UserStatus::Deprovisioned => EventEffect::Deprovision,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EventEffect::*;

    #[test]
    fn r_hook_02_auth0_log_code_table() {
        let rows = [
            ("sdu", Deprovision),
            ("ublkdu", Reactivate),
            ("sul", Ignore),
            ("limit_sul", Ignore),
            ("fdu", Ignore),
            ("du", Ignore),
            ("sapi", Ignore),
            ("limit_wc", Ignore),
            ("s", Ignore),
            ("SDU", Ignore),
            ("", Ignore),
        ];
        for (code, effect) in rows {
            assert_eq!(auth0_log_effect(code), effect, "{code}");
        }
    }

    #[test]
    fn r_hook_03_clerk_event_type_table() {
        let rows = [
            ("user.deleted", Deprovision),
            ("user.updated", UpdateProfile),
            ("organizationMembership.deleted", RemoveMembership),
            ("organization.deleted", DeleteGroup),
            ("user.created", Ignore),
            ("organizationMembership.created", Ignore),
            ("organization.updated", Ignore),
            ("session.created", Ignore),
            ("email.created", Ignore),
            ("User.Deleted", Ignore),
        ];
        for (event_type, effect) in rows {
            assert_eq!(clerk_event_effect(event_type), effect, "{event_type}");
        }
    }

    #[test]
    fn r_hook_04_okta_event_type_table() {
        let rows = [
            ("user.lifecycle.delete.initiated", Deprovision),
            ("user.lifecycle.deactivate", Deprovision),
            ("user.lifecycle.suspend", Suspend),
            ("user.lifecycle.unsuspend", Reactivate),
            ("user.lifecycle.reactivate", Reactivate),
            ("user.lifecycle.activate", Reactivate),
            ("group.user_membership.remove", RemoveMembership),
            ("group.lifecycle.delete", DeleteGroup),
            ("group.user_membership.add", Ignore),
            ("group.lifecycle.create", Ignore),
            ("user.lifecycle.create", Ignore),
            ("user.lifecycle.delete.completed", Ignore),
            ("user.account.lock", Ignore),
            ("user.session.start", Ignore),
        ];
        for (event_type, effect) in rows {
            assert_eq!(okta_event_effect(event_type), effect, "{event_type}");
        }
    }

    #[test]
    fn r_hook_05_custom_oidc_event_type_table() {
        let rows = [
            ("user.deprovisioned", Deprovision),
            ("user.suspended", Suspend),
            ("user.reactivated", Reactivate),
            ("user.updated", UpdateProfile),
            ("membership.removed", RemoveMembership),
            ("group.deleted", DeleteGroup),
            ("membership.added", Ignore),
            ("user.created", Ignore),
            ("User.Deprovisioned", Ignore),
            ("", Ignore),
        ];
        for (event_type, effect) in rows {
            assert_eq!(custom_oidc_event_effect(event_type), effect, "{event_type}");
        }
    }

    #[test]
    fn r_dir_02_auth0_blocked_users_import_as_suspended() {
        assert_eq!(auth0_user_status(true), UserStatus::Suspended);
        assert_eq!(auth0_user_status(false), UserStatus::Active);
    }

    #[test]
    fn r_dir_02_clerk_banned_users_import_as_suspended() {
        assert_eq!(clerk_user_status(true), UserStatus::Suspended);
        assert_eq!(clerk_user_status(false), UserStatus::Active);
    }

    #[test]
    fn r_dir_02_okta_status_table() {
        let rows = [
            ("SUSPENDED", Some(UserStatus::Suspended)),
            ("DEPROVISIONED", Some(UserStatus::Deprovisioned)),
            ("ACTIVE", Some(UserStatus::Active)),
            ("PROVISIONED", Some(UserStatus::Active)),
            ("STAGED", Some(UserStatus::Active)),
            ("ACTIVATING", Some(UserStatus::Active)),
            ("RECOVERY", Some(UserStatus::Active)),
            ("LOCKED_OUT", Some(UserStatus::Active)),
            ("PASSWORD_EXPIRED", Some(UserStatus::Active)),
            ("suspended", None),
            ("ARCHIVED", None),
            ("", None),
        ];
        for (status, expected) in rows {
            assert_eq!(okta_user_status(status), expected, "{status}");
        }
    }

    #[test]
    fn r_dir_02_directory_status_maps_to_state_machine_effects() {
        assert_eq!(directory_status_effect(UserStatus::Active), Reactivate);
        assert_eq!(directory_status_effect(UserStatus::Suspended), Suspend);
        assert_eq!(
            directory_status_effect(UserStatus::Deprovisioned),
            Deprovision
        );
    }
}
